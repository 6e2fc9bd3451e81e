//! The one path rule ([`sealgate_exchanges::check_path`]): classification
//! and signing see only paths that no URL library or server rewrites.
//! The attacks used `{}` segments of read routes to hide a path that
//! the URL library then normalised into a trade or withdraw endpoint.

use sealgate_exchanges::{
    ALL, Context, Credential, EndpointClass, Error, FixedClock, FixedNonce, Request, check_path, classify,
};

/// Each refused form and the precise reason given.
const REFUSED: &[(&str, &str)] = &[
    ("api/v3/account", "must start with /"),
    ("/api/v3\\account", "backslash"),
    ("/api/v3/%61ccount", "percent-encoding"),
    ("/api/v3/account%2F", "percent-encoding"),
    ("/api/v3/account?x=1", "? or #"),
    ("/api/v3/account#f", "? or #"),
    ("/api//v3/account", "empty segment"),
    ("//api/v3/account", "empty segment"),
    ("/api/v3/account//", "empty segment"),
    ("/api/./v3/account", ". or .. segment"),
    ("/api/v3/../account", ". or .. segment"),
    ("/api/v3/..", ". or .. segment"),
    ("/api/v3/\u{0430}ccount", "non-ASCII"),
    ("/api/v3/ac\u{301}count", "non-ASCII"),
    ("/api/v3/acc ount", "space or control"),
    ("/api/v3/acc\tount", "space or control"),
    ("/api/v3/acc\u{0}ount", "space or control"),
    ("/api/v3/acc;jsessionid=1", "outside A-Z"),
    ("/api/v3/acc+ount", "outside A-Z"),
    ("/", "names no endpoint"),
    ("", "must start with /"),
];

#[test]
fn each_refused_form_has_its_reason() {
    for (path, why) in REFUSED {
        let e = check_path(path).expect_err(path);
        assert!(matches!(&e, Error::BadRequest(m) if m.contains(why)), "{path:?}: {e}");
        let r = Request::new("GET", path, "", "");
        assert_eq!(r.validate(), Err(e.clone()), "{path:?}");
        for s in ALL {
            // Classification refuses the path outright, and so does every scheme.
            assert_eq!(classify(s.id, path), Err(e.clone()), "{} {path:?}", s.id);
            let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
            let cred = Credential {
                api_key: Some("k".into()),
                api_secret: Some("c2VjcmV0".into()),
                passphrase: Some("p".into()),
                ..Credential::default()
            };
            assert_eq!((s.sign)(&cred, &r, &ctx).map(|_| ()), Err(e.clone()), "{} {path:?}", s.id);
        }
    }
    let long = format!("/{}", "a".repeat(sealgate_exchanges::MAX_PATH));
    assert!(check_path(&long).is_err());
}

#[test]
fn documented_paths_pass() {
    for s in ALL {
        for (pattern, class) in s.routes {
            let path = pattern.replace("{}", "BTC-USD:1_a.b~c");
            check_path(&path).unwrap_or_else(|e| panic!("{} {path}: {e}", s.id));
            assert_eq!(classify(s.id, &path), Ok(*class), "{} {path}", s.id);
        }
    }
    // One trailing `/` is a path of its own: it matches only a pattern that has it.
    assert_eq!(classify("bitstamp", "/api/v2/balance/"), Ok(EndpointClass::Read));
    assert_eq!(classify("bitstamp", "/api/v2/balance"), Ok(EndpointClass::Unknown));
    assert_eq!(classify("binance", "/api/v3/account/"), Ok(EndpointClass::Unknown));
}

/// The attacks: each used to classify as read.
#[test]
fn hidden_trade_and_withdraw_paths_are_refused() {
    for (exchange, path) in [
        // An importer's order: normalised to /api/v3/brokerage/orders.
        ("coinbase", "/api/v3/brokerage/accounts/x\\..\\..\\orders"),
        // Send crypto: normalised to /v2/accounts/A/transactions.
        ("coinbase", "/v2/accounts/A/addresses/%2e%2e/transactions"),
        ("coinbase", "/v2/accounts/A/addresses/%2E%2E/transactions"),
        ("coinbase", "/v2/accounts/A/addresses/.%2e/transactions"),
        // Bitfinex withdrawal: normalised to /v2/auth/w/withdraw.
        ("bitfinex", "/v2/auth/r/orders/..\\..\\w\\withdraw"),
        ("bitfinex", "/v2/auth/r/orders/%2e%2e%2f%2e%2e%2fw%2fwithdraw"),
        ("bitfinex", "/v2/auth/r/orders/x/../../../w/withdraw/hist"),
    ] {
        let e = classify(exchange, path).expect_err(path);
        assert!(matches!(e, Error::BadRequest(_)), "{path}: {e}");
        assert!(Request::new("POST", path, "", "").validate().is_err(), "{path}");
    }
}

/// The query travels after the path's `?` and is never read as path: a
/// query cannot hold `#` (which would cut it), and a path cannot hold `?`
/// (which would make the rest query). Path-like text in the query stays
/// query text, so the class is the path's.
#[test]
fn path_like_query_text_does_not_reach_the_path() {
    let r = Request::new("GET", "/api/v3/account", "x=/../../sapi/v1/capital/withdraw/apply", "");
    r.validate().expect("a query may hold any parameter text");
    assert_eq!(r.path_and_query(), "/api/v3/account?x=/../../sapi/v1/capital/withdraw/apply");
    assert_eq!(classify("binance", &r.path), Ok(EndpointClass::Read));
    assert!(Request::new("GET", "/api/v3/account", "a=1#/../withdraw", "").validate().is_err());
    assert!(Request::new("GET", "/api/v3/account", "?a=1", "").validate().is_err());
    assert!(Request::new("GET", "/api/v3/account?/../../sapi/v1/capital/withdraw/apply", "", "").validate().is_err());
}
