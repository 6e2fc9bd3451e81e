//! Poloniex spot (the current "v3" generation of the API at
//! `https://api.poloniex.com`, spot paths unversioned), "Authentication" of
//! the Poloniex spot API docs (API Signature Generation): headers `key`,
//! `signTimestamp` (Unix ms) and `signature`, the base64 of
//! HMAC-SHA256(secret, m) with
//!
//! ```text
//! m = METHOD "\n" path "\n" params
//! ```
//!
//! where `params` is
//! - with a body: `requestBody=<body>&signTimestamp=<ts>` (the body exactly
//!   as sent);
//! - else: the query's parameters plus `signTimestamp=<ts>`, sorted by key
//!   (ASCII) and joined with `&`, values as URL-encoded in the query (so
//!   `signTimestamp=<ts>` alone when there is no query).
//!
//! The query and body are sent exactly as given; only the string to sign is
//! ordered. When the query already carries `signTimestamp`, its value is
//! kept (in place) and used for the header, else it comes from the clock.
//! The optional `signatureMethod`/`signatureVersion`/`recvWindow` headers are
//! not sent. A body gets `Content-Type: application/json`.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "poloniex",
    name: "Poloniex (spot)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: false,
        body: true,
        signs: "METHOD + path + the query's parameters sorted by key, or the body and no query when there is a body",
    },
    plaintext_header: None,
    answer: crate::send::never,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// The value of parameter `name` in `query`, if present.
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// The string Poloniex signs.
fn message(req: &Request, ts: &str) -> String {
    let params = if !req.body.is_empty() {
        format!("requestBody={}&signTimestamp={ts}", req.body)
    } else {
        let mut pairs: Vec<&str> = req.query.split('&').filter(|kv| !kv.is_empty()).collect();
        let own = format!("signTimestamp={ts}");
        if param(&req.query, "signTimestamp").is_none() {
            pairs.push(&own);
        }
        // Stable sort by key: equal keys keep their order in the query.
        pairs.sort_by_key(|kv| kv.split('=').next().unwrap_or(""));
        pairs.join("&")
    };
    format!("{}\n{}\n{params}", req.method, req.path)
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let ts = match param(&req.query, "signTimestamp") {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.to_owned(),
        Some(_) => return Err(Error::BadRequest("signTimestamp in the query must be Unix milliseconds")),
        None => ctx.clock.now_ms().to_string(),
    };
    let m = message(req, &ts);
    let signature = sig::b64(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[m.as_bytes()]).as_ref());
    let mut out = SignedRequest::from_request(req)
        .header("key", api_key)
        .header("signTimestamp", ts)
        .header("signature", signature);
    if !req.body.is_empty() {
        out = out.header("Content-Type", "application/json");
    }
    Ok(out)
}

/// Private spot endpoints (paths, any method). Specific rows come before
/// the `{}` rows they would otherwise match.
const ROUTES: &[Route] = &[
    // Balances, activity, fees, order and trade history, wallet records.
    ("/accounts", Read),
    ("/accounts/balances", Read),
    ("/accounts/{}/balances", Read),
    ("/accounts/activity", Read),
    ("/accounts/transfer/{}", Read),
    ("/feeinfo", Read),
    ("/margin/accountMargin", Read),
    ("/margin/borrowStatus", Read),
    ("/margin/maxSize", Read),
    ("/orders/history", Read),
    ("/orders/killSwitchStatus", Read),
    ("/orders/{}/trades", Read),
    ("/trades", Read),
    ("/smartorders/history", Read),
    ("/wallets/addresses", Read),
    ("/wallets/activity", Read),
    ("/subaccounts/balances", Read),
    ("/subaccounts/{}/balances", Read),
    ("/subaccounts/transfer/{}", Read),
    // Orders: these paths also list, amend and cancel.
    ("/orders", Trade),
    ("/orders/batch", Trade),
    ("/orders/cancelByIds", Trade),
    ("/orders/killSwitch", Trade),
    ("/orders/{}", Trade),
    ("/smartorders", Trade),
    ("/smartorders/cancelByIds", Trade),
    ("/smartorders/{}", Trade),
    // Withdrawals, transfers between accounts and sub-accounts,
    // deposit-address creation.
    ("/wallets/withdraw", Withdraw),
    ("/v2/wallets/withdraw", Withdraw),
    ("/wallets/address", Withdraw),
    ("/accounts/transfer", Withdraw),
    ("/subaccounts/transfer", Withdraw),
    // Sub-accounts.
    ("/subaccounts", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    const TS: u64 = 1_659_259_836_247;

    fn cred() -> Credential {
        Credential { api_key: Some("key".into()), api_secret: Some("secret".into()), ..Credential::default() }
    }

    fn sign_at(ms: u64, r: &Request) -> Result<SignedRequest, Error> {
        sign(&cred(), r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) })
    }

    /// The docs' strings to sign (they publish no key and signature): GET
    /// with parameters, DELETE with a body, DELETE without one.
    #[test]
    fn doc_strings_to_sign() {
        let r = Request::new("GET", "/orders", "symbol=ETH_USDT&limit=5", "");
        assert_eq!(message(&r, "1659259836247"), "GET\n/orders\nlimit=5&signTimestamp=1659259836247&symbol=ETH_USDT");
        let body = r#"{"orderIds":["1234567890"],"clientOrderIds":["myId-1"]}"#;
        let r = Request::new("DELETE", "/orders/cancelByIds", "", body);
        assert_eq!(
            message(&r, "1631018760000"),
            format!("DELETE\n/orders/cancelByIds\nrequestBody={body}&signTimestamp=1631018760000")
        );
        let r = Request::new("DELETE", "/orders/1", "", "");
        assert_eq!(message(&r, "1631018760000"), "DELETE\n/orders/1\nsignTimestamp=1631018760000");
    }

    /// The signature is `printf '%s' "$m" | openssl dgst -sha256 -hmac
    /// secret -binary | base64` of the documented GET string.
    #[test]
    fn get_signature_and_headers() {
        let s = sign_at(TS, &Request::new("GET", "/orders", "symbol=ETH_USDT&limit=5", "")).expect("sign");
        assert_eq!(
            s.headers,
            [
                ("key".to_owned(), "key".to_owned()),
                ("signTimestamp".to_owned(), "1659259836247".to_owned()),
                ("signature".to_owned(), "VqCVSJhWryjrIdSvMXeiZ2AsWnlWNbe92ZvTKKM++4Y=".to_owned()),
            ]
        );
        assert_eq!(s.query, "symbol=ETH_USDT&limit=5", "query sent as given, not re-ordered");
    }

    #[test]
    fn post_body_signature() {
        let body = r#"{"symbol":"ETH_USDT","side":"BUY","type":"LIMIT","price":"1","quantity":"10"}"#;
        let s = sign_at(TS, &Request::new("POST", "/orders", "", body)).expect("sign");
        assert_eq!(s.header_value("signature"), Some("pXBeoqQlifGem0/d91Hn8lR5Wvuu7rWEIfQY2htxUTk="));
        assert_eq!(s.header_value("Content-Type"), Some("application/json"));
        assert_eq!(s.body, body);
    }

    #[test]
    fn timestamp_is_added_when_absent_and_kept_when_present() {
        let s = sign_at(1_700_000_000_123, &Request::new("GET", "/accounts/balances", "", "")).expect("sign");
        assert_eq!(s.header_value("signTimestamp"), Some("1700000000123"));
        assert_eq!(s.query, "");
        let r = Request::new("GET", "/orders", "symbol=ETH_USDT&signTimestamp=1659259836247&limit=5", "");
        let s = sign_at(1_700_000_000_123, &r).expect("sign");
        assert_eq!(s.header_value("signTimestamp"), Some("1659259836247"));
        assert_eq!(s.query, "symbol=ETH_USDT&signTimestamp=1659259836247&limit=5");
        assert_eq!(message(&r, "1659259836247"), "GET\n/orders\nlimit=5&signTimestamp=1659259836247&symbol=ETH_USDT");
        let bad = Request::new("GET", "/orders", "signTimestamp=soon", "");
        assert!(matches!(sign_at(1, &bad), Err(Error::BadRequest(_))));
    }

    #[test]
    fn missing_fields() {
        let r = Request::new("GET", "/accounts/balances", "", "");
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let no_secret = Credential { api_key: Some("key".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
        let no_key = Credential { api_secret: Some("secret".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/accounts/balances"), Read);
        assert_eq!(classify_path(ROUTES, "/orders/history"), Read);
        assert_eq!(classify_path(ROUTES, "/trades"), Read);
        assert_eq!(classify_path(ROUTES, "/orders/123/trades"), Read);
        assert_eq!(classify_path(ROUTES, "/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/orders/123"), Trade);
        assert_eq!(classify_path(ROUTES, "/orders/cancelByIds"), Trade);
        assert_eq!(classify_path(ROUTES, "/wallets/withdraw"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/wallets/withdraw"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/wallets/address"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/subaccounts/transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/subaccounts"), Account);
        assert_eq!(classify_path(ROUTES, "/markets/BTC_USDT/trades"), Unknown);
    }
}
