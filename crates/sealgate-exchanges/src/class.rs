//! Endpoint classes, matched by path only (never by HTTP method: Kraken,
//! Bitfinex, Gemini and Bitstamp POST every call; Deribit withdraws with GET).

/// What an endpoint can do with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EndpointClass {
    /// Reads balances, orders, trades: nothing moves.
    Read,
    /// Places, amends or cancels orders.
    Trade,
    /// Moves funds out: withdrawals, transfers, sub-account moves,
    /// deposit-address creation.
    Withdraw,
    /// Manages keys and sub-accounts.
    Account,
    /// Not in the table: every policy denies it.
    Unknown,
}

impl EndpointClass {
    /// Its name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Withdraw => "withdraw",
            Self::Account => "account",
            Self::Unknown => "unknown",
        }
    }
}

/// One row of an exchange's table: a path pattern and its class. In a
/// pattern, a segment `{}` matches any one non-empty path segment.
pub type Route = (&'static str, EndpointClass);

/// Classify `path` against `table`. A path that matches no row is
/// [`EndpointClass::Unknown`], and so is every path the one path rule
/// ([`crate::check_path`]) refuses: a query or fragment (`?`, `#`), `\`,
/// `%`, `.`/`..` or empty segments, non-ASCII. Paths are compared segment by
/// segment, exactly (case-sensitive); a trailing `/` must be in the pattern
/// too (Bitstamp's paths end with `/`). A `{}` segment therefore only ever
/// matches one literal, non-empty segment that no URL library or server
/// rewrites.
pub fn classify_path(table: &[Route], path: &str) -> EndpointClass {
    if crate::check_path(path).is_err() {
        return EndpointClass::Unknown;
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    // Of the rows that match, the most specific wins whatever the order of
    // the table: a literal segment beats `{}` at the first segment where the
    // rows differ (KuCoin's `/api/v1/accounts/sub-transfer`, a transfer, is
    // not `/api/v1/accounts/{}`, a read). Equally specific rows: the first.
    let mut best: Option<(Vec<bool>, EndpointClass)> = None;
    for (pattern, class) in table {
        let pat: Vec<&str> = pattern.split('/').skip(1).collect();
        if pat.len() != segs.len() || !pat.iter().zip(&segs).all(|(p, s)| p == s || (*p == "{}" && !s.is_empty())) {
            continue;
        }
        let literal: Vec<bool> = pat.iter().map(|p| *p != "{}").collect();
        if best.as_ref().is_none_or(|(b, _)| literal > *b) {
            best = Some((literal, *class));
        }
    }
    best.map_or(EndpointClass::Unknown, |(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::EndpointClass::*;
    use super::*;

    const T: &[Route] = &[("/a/b", Read), ("/a/{}/c", Trade)];

    #[test]
    fn matches_exact_and_param_segments() {
        assert_eq!(classify_path(T, "/a/b"), Read);
        assert_eq!(classify_path(T, "/a/b?x=1"), Unknown, "a query is never part of the path");
        assert_eq!(classify_path(T, "/a/42/c"), Trade);
        assert_eq!(classify_path(T, "/a/b/"), Unknown);
        assert_eq!(classify_path(T, "/a//c"), Unknown);
        assert_eq!(classify_path(T, "/a/../c"), Unknown);
        assert_eq!(classify_path(T, "/A/b"), Unknown);
        assert_eq!(classify_path(T, "a/b"), Unknown);
    }

    #[test]
    fn the_most_specific_row_wins_whatever_the_order() {
        const O: &[Route] = &[("/a/{}", Read), ("/a/{}/{}", Read), ("/a/x", Withdraw), ("/a/{}/y", Trade)];
        assert_eq!(classify_path(O, "/a/x"), Withdraw);
        assert_eq!(classify_path(O, "/a/z"), Read);
        assert_eq!(classify_path(O, "/a/z/y"), Trade);
        assert_eq!(classify_path(O, "/a/z/w"), Read);
    }

    #[test]
    fn trailing_slash_must_be_in_the_pattern() {
        const S: &[Route] = &[("/x/y/", Read), ("/x/{}/z/", Trade)];
        assert_eq!(classify_path(S, "/x/y/"), Read);
        assert_eq!(classify_path(S, "/x/y"), Unknown);
        assert_eq!(classify_path(S, "/x/1/z/"), Trade);
        assert_eq!(classify_path(S, "/x//z/"), Unknown);
        assert_eq!(classify_path(S, "/x/y//"), Unknown);
        assert_eq!(classify_path(S, "/x/../y/"), Unknown);
        assert_eq!(classify_path(S, "/"), Unknown);
        assert_eq!(classify_path(&[("/{}", Read)], "/"), Unknown);
    }

    /// `{}` segments used to match `\`, `%`-encoded and non-ASCII text that
    /// the URL library or the exchange then normalised into other segments.
    #[test]
    fn param_segments_match_only_literal_segments() {
        const P: &[Route] = &[("/acc/{}/list", Read), ("/acc/{}", Read), ("/orders", Trade)];
        for bad in [
            "/acc/x\\..\\..\\orders/list",
            "/acc/x\\..\\..\\orders",
            "/acc/%2e%2e/list",
            "/acc/%2E%2E",
            "/acc/%2F/list",
            "/acc/a%00/list",
            "/acc/\u{0430}/list",
            "/acc/a;b/list",
            "/acc/./list",
            "/acc/a b/list",
            "/acc/a\tb/list",
        ] {
            assert_eq!(classify_path(P, bad), Unknown, "{bad:?}");
        }
        assert_eq!(classify_path(P, "/acc/A-1_b.c~d:e/list"), Read);
    }
}
