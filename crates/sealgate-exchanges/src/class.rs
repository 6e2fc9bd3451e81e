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
    // Specificity as a bit mask, the first segment the highest bit: no row of any table
    // has 64 segments, so a longer path matches none.
    if segs.len() > 64 {
        return EndpointClass::Unknown;
    }
    // Of the rows that match, the most specific wins whatever the order of
    // the table: a literal segment beats `{}` at the first segment where the
    // rows differ (KuCoin's `/api/v1/accounts/sub-transfer`, a transfer, is
    // not `/api/v1/accounts/{}`, a read). Equally specific rows: the first.
    // Every request is classified against hundreds of rows: nothing is allocated per row.
    let mut best: Option<(u64, EndpointClass)> = None;
    'rows: for (pattern, class) in table {
        let mut literal = 0u64;
        let mut n = 0;
        for p in pattern.split('/').skip(1) {
            let Some(s) = segs.get(n) else { continue 'rows };
            if p == "{}" {
                if s.is_empty() {
                    continue 'rows;
                }
            } else if p == *s {
                literal |= 1 << (63 - n);
            } else {
                continue 'rows;
            }
            n += 1;
        }
        if n == segs.len() && best.is_none_or(|(b, _)| literal > b) {
            best = Some((literal, *class));
        }
    }
    best.map_or(EndpointClass::Unknown, |(_, c)| c)
}

/// An exchange's table split once (the signer classifies every request): its rows grouped
/// by segment count, each row's segments (`None` for `{}`) in table order. Reads exactly as
/// [`classify_path`] does over the same table (the tests hold it to that).
pub(crate) struct Compiled {
    by_len: std::collections::HashMap<usize, Vec<CompiledRow>>,
}

/// A row's segments (`None` for `{}`) and its class.
type CompiledRow = (Vec<Option<&'static str>>, EndpointClass);

impl Compiled {
    fn new(table: &'static [Route]) -> Self {
        let mut by_len: std::collections::HashMap<usize, Vec<_>> = std::collections::HashMap::new();
        for (pattern, class) in table {
            let segs: Vec<Option<&'static str>> =
                pattern.split('/').skip(1).map(|p| (p != "{}").then_some(p)).collect();
            by_len.entry(segs.len()).or_default().push((segs, *class));
        }
        Self { by_len }
    }

    /// [`classify_path`] over the table this was made from.
    pub(crate) fn classify(&self, path: &str) -> EndpointClass {
        if crate::check_path(path).is_err() {
            return EndpointClass::Unknown;
        }
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        let Some(rows) = self.by_len.get(&segs.len()).filter(|_| segs.len() <= 64) else {
            return EndpointClass::Unknown;
        };
        let mut best: Option<(u64, EndpointClass)> = None;
        'rows: for (pattern, class) in rows {
            let mut literal = 0u64;
            for (n, (p, s)) in pattern.iter().zip(&segs).enumerate() {
                match p {
                    None if s.is_empty() => continue 'rows,
                    None => {}
                    Some(p) if p == s => literal |= 1 << (63 - n),
                    Some(_) => continue 'rows,
                }
            }
            if best.is_none_or(|(b, _)| literal > b) {
                best = Some((literal, *class));
            }
        }
        best.map_or(EndpointClass::Unknown, |(_, c)| c)
    }
}

/// The compiled table of every exchange in [`crate::ALL`], made on first use.
pub(crate) fn compiled(scheme: &'static crate::Scheme) -> &'static Compiled {
    static ALL: std::sync::OnceLock<Vec<(&'static str, Compiled)>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| crate::ALL.iter().map(|s| (s.id, Compiled::new(s.routes))).collect());
    match all.iter().find(|(id, _)| *id == scheme.id) {
        Some((_, c)) => c,
        // A scheme outside ALL (none today): compiled once and kept.
        None => Box::leak(Box::new(Compiled::new(scheme.routes))),
    }
}

#[cfg(test)]
mod tests {
    use super::EndpointClass::*;
    use super::*;

    const T: &[Route] = &[("/a/b", Read), ("/a/{}/c", Trade)];

    /// The reading before the allocation-free one (a segment list and a literal list per
    /// row, compared as vectors): the two must agree on every table and path.
    fn reference(table: &[Route], path: &str) -> EndpointClass {
        if crate::check_path(path).is_err() {
            return EndpointClass::Unknown;
        }
        let segs: Vec<&str> = path.split('/').skip(1).collect();
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

    #[test]
    fn agrees_with_the_reference_on_generated_tables() {
        // Patterns and paths of one to four segments over a small alphabet (so rows collide
        // and overlap), trailing `/` and empty segments included; tables from a fixed LCG.
        const SEGS: [&str; 4] = ["a", "b", "{}", ""];
        let mut words: Vec<String> = Vec::new();
        for len in 1..=4u32 {
            for i in 0..4usize.pow(len) {
                let mut w = String::new();
                let mut k = i;
                for _ in 0..len {
                    w.push('/');
                    w.push_str(SEGS[k % 4]);
                    k /= 4;
                }
                words.push(w);
            }
        }
        let classes = [Read, Trade, Withdraw, Account];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % m
        };
        let paths: Vec<&String> = words.iter().filter(|w| !w.contains("{}")).collect();
        for _ in 0..400 {
            let rows: Vec<Route> = (0..1 + next(12))
                .map(|_| {
                    let w: &'static str = Box::leak(words[next(words.len())].clone().into_boxed_str());
                    (w, classes[next(4)])
                })
                .collect();
            for path in &paths {
                assert_eq!(classify_path(&rows, path), reference(&rows, path), "{path} against {rows:?}");
            }
        }
    }

    #[test]
    fn a_path_of_more_than_64_segments_is_unknown() {
        let long = "/a".repeat(65);
        let table: &[Route] = &[("/a/b", Read)];
        assert_eq!(classify_path(table, &long), Unknown);
        assert_eq!(classify_path(table, "/a/b"), Read);
    }

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

    #[test]
    fn the_compiled_tables_read_as_the_tables_do() {
        // Every exchange's table, on paths made from its own rows: each pattern with its `{}`
        // filled by a value, by another row's literal at that place (overlaps), by nothing
        // (an empty segment); with and without a trailing `/`; and a few foreign paths.
        let mut checked = 0;
        for scheme in crate::ALL {
            let c = compiled(scheme);
            let literals: Vec<&str> = scheme.routes.iter().flat_map(|(p, _)| p.split('/')).collect();
            let mut paths = vec!["/".to_owned(), "/x".to_owned(), "//".to_owned(), "/a/../b".to_owned()];
            for (pattern, _) in scheme.routes {
                for fill in ["42", "", literals[checked % literals.len().max(1)]] {
                    let p = pattern.replace("{}", fill);
                    paths.push(format!("{p}/"));
                    paths.push(p.trim_end_matches('/').to_owned());
                    paths.push(p);
                    checked += 1;
                }
            }
            for p in &paths {
                assert_eq!(c.classify(p), classify_path(scheme.routes, p), "{} {p:?}", scheme.id);
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}
