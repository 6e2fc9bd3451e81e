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
/// [`EndpointClass::Unknown`]. Paths are compared segment by segment,
/// exactly (case-sensitive); `.`/`..` segments and empty segments never match,
/// except a trailing `/`, which must be in the pattern too (Bitstamp's paths
/// end with `/`).
pub fn classify_path(table: &[Route], path: &str) -> EndpointClass {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let inner = match segs.split_last() {
        Some((last, rest)) if last.is_empty() && !rest.is_empty() => rest, // trailing `/`
        _ => &segs[..],
    };
    if !path.starts_with('/') || inner.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return EndpointClass::Unknown;
    }
    table
        .iter()
        .find(|(pattern, _)| {
            let pat: Vec<&str> = pattern.split('/').skip(1).collect();
            pat.len() == segs.len() && pat.iter().zip(&segs).all(|(p, s)| p == s || (*p == "{}" && !s.is_empty()))
        })
        .map_or(EndpointClass::Unknown, |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::EndpointClass::*;
    use super::*;

    const T: &[Route] = &[("/a/b", Read), ("/a/{}/c", Trade)];

    #[test]
    fn matches_exact_and_param_segments() {
        assert_eq!(classify_path(T, "/a/b"), Read);
        assert_eq!(classify_path(T, "/a/b?x=1"), Read);
        assert_eq!(classify_path(T, "/a/42/c"), Trade);
        assert_eq!(classify_path(T, "/a/b/"), Unknown);
        assert_eq!(classify_path(T, "/a//c"), Unknown);
        assert_eq!(classify_path(T, "/a/../c"), Unknown);
        assert_eq!(classify_path(T, "/A/b"), Unknown);
        assert_eq!(classify_path(T, "a/b"), Unknown);
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
}
