//! MEXC spot API v3, "SIGNED" of the MEXC Spot V3 API docs (General Info →
//! Header, SIGNED, Timing security, "SIGNED Endpoint Examples for POST
//! /api/v3/order"): the API key goes in `X-MEXC-APIKEY`; `signature` is the
//! lower-case hex of HMAC-SHA256(secret, totalParams), totalParams being the
//! query string concatenated with the body (no `&` between them), and is
//! sent as the last parameter (in the body when there is one, else in the
//! query), as in Binance.
//!
//! `timestamp` (Unix ms) is required; when the request already carries it,
//! it is kept verbatim and in place, else it is appended from the clock.
//! `recvWindow` is optional and only sent when the caller gives it.
//! Parameters are signed exactly as given: values the docs require to be
//! percent-encoded (commas in batch parameters, upper-case hex) must already
//! be encoded by the caller. A body must be form parameters
//! (`application/x-www-form-urlencoded`, as the docs' curl examples send):
//! a JSON body cannot carry `timestamp` and `signature` and is refused.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme, params};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "mexc",
    name: "MEXC (spot v3)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: false,
        query: true,
        body: true,
        signs: "the query string concatenated with the body (totalParams)",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type: crate::send::form_body,
    nonce_floor: super::no_nonce,
};

/// MEXC spot v3: `{"code":700003,"msg":"Timestamp for this request is
/// outside of the recvWindow."}` ("Error Code").
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_int(body, "code", 700_003) {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    if req.body.trim_start().starts_with(['{', '[']) {
        return Err(Error::BadRequest("MEXC signs form parameters: send them in the query or a form body, not JSON"));
    }
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let mut out = SignedRequest::from_request(req);
    let in_body = !out.body.is_empty();
    if !params::has(&out.query, "timestamp") && !params::has(&out.body, "timestamp") {
        let ts = ctx.clock.now_ms().to_string();
        params::append(if in_body { &mut out.body } else { &mut out.query }, "timestamp", &ts);
    }
    let signature =
        sig::hex(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[out.query.as_bytes(), out.body.as_bytes()]).as_ref());
    params::append(if in_body { &mut out.body } else { &mut out.query }, "signature", &signature);
    out = out.header("X-MEXC-APIKEY", api_key);
    if in_body {
        out = out.header("Content-Type", "application/x-www-form-urlencoded");
    }
    Ok(out)
}

/// Spot, wallet, sub-account and rebate endpoints (paths, any method).
const ROUTES: &[Route] = &[
    // Account and order reads.
    ("/api/v3/account", Read),
    ("/api/v3/myTrades", Read),
    ("/api/v3/allOrders", Read),
    ("/api/v3/tradeFee", Read),
    ("/api/v3/selfSymbols", Read),
    ("/api/v3/kyc/status", Read),
    ("/api/v3/uid", Read),
    ("/api/v3/capital/config/getall", Read),
    ("/api/v3/capital/deposit/hisrec", Read),
    ("/api/v3/capital/withdraw/history", Read),
    ("/api/v3/capital/withdraw/address", Read),
    ("/api/v3/capital/transfer/tranId", Read),
    ("/api/v3/capital/convert/list", Read),
    ("/api/v3/sub-account/asset", Read),
    ("/api/v3/rebate/taxQuery", Read),
    ("/api/v3/rebate/detail", Read),
    ("/api/v3/rebate/detail/kickback", Read),
    ("/api/v3/rebate/referCode", Read),
    ("/api/v3/rebate/affiliate/commission", Read),
    ("/api/v3/rebate/affiliate/commission/detail", Read),
    ("/api/v3/rebate/affiliate/withdraw", Read),
    ("/api/v3/rebate/affiliate/referral", Read),
    ("/api/v3/rebate/affiliate/subaffiliates", Read),
    // Orders: these paths also query and cancel, so the whole path is trade.
    ("/api/v3/order", Trade),
    ("/api/v3/order/test", Trade),
    ("/api/v3/batchOrders", Trade),
    ("/api/v3/openOrders", Trade),
    ("/api/v3/mxDeduct/enable", Trade),
    ("/api/v3/capital/convert", Trade),
    // Withdrawals (apply, cancel), transfers, deposit-address generation.
    ("/api/v3/capital/withdraw", Withdraw),
    ("/api/v3/capital/withdraw/apply", Withdraw),
    ("/api/v3/capital/deposit/address", Withdraw),
    ("/api/v3/capital/transfer", Withdraw),
    ("/api/v3/capital/transfer/internal", Withdraw),
    ("/api/v3/capital/sub-account/universalTransfer", Withdraw),
    // Sub-accounts, their API keys, user-data-stream listen keys.
    ("/api/v3/sub-account/virtualSubAccount", Account),
    ("/api/v3/sub-account/list", Account),
    ("/api/v3/sub-account/apiKey", Account),
    ("/api/v3/sub-account/futures", Account),
    ("/api/v3/sub-account/margin", Account),
    ("/api/v3/userDataStream", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// The example key and secret of the MEXC docs ("SIGNED Endpoint
    /// Examples for POST /api/v3/order").
    const KEY: &str = "mx0aBYs33eIilxBWC5";
    const SECRET: &str = "45d0b3c26f2644f19bfb98b07741b2f5";
    const PARAMS: &str =
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087";
    /// What the docs' `openssl dgst` command prints for PARAMS (Example 2).
    const DOC_SIG: &str = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a";

    fn cred() -> Credential {
        Credential { api_key: Some(KEY.into()), api_secret: Some(SECRET.into()), ..Credential::default() }
    }

    fn sign_at(ms: u64, r: &Request) -> Result<SignedRequest, Error> {
        sign(&cred(), r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) })
    }

    #[test]
    fn doc_example_2_query_string() {
        let s = sign_at(1, &Request::new("POST", "/api/v3/order", PARAMS, "")).expect("sign");
        assert_eq!(s.query, format!("{PARAMS}&signature={DOC_SIG}"));
        assert_eq!(s.headers, [("X-MEXC-APIKEY".to_owned(), KEY.to_owned())]);
        assert_eq!(s.body, "");
    }

    /// Example 1 sends the same parameters as the body. The docs print
    /// `323c96ab…` for it, but their own command (the same input as
    /// Example 2) prints `fd3e4e85…`: the signature depends only on
    /// totalParams, which is identical, so Example 2's value is the right one.
    #[test]
    fn doc_example_1_body() {
        let s = sign_at(1, &Request::new("POST", "/api/v3/order", "", PARAMS)).expect("sign");
        assert_eq!(s.body, format!("{PARAMS}&signature={DOC_SIG}"));
        assert_eq!(s.query, "");
        assert_eq!(
            s.headers,
            [
                ("X-MEXC-APIKEY".to_owned(), KEY.to_owned()),
                ("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
            ]
        );
    }

    #[test]
    fn doc_example_3_mixed() {
        let s = sign_at(
            1,
            &Request::new(
                "POST",
                "/api/v3/order",
                "symbol=BTCUSDT&side=BUY&type=LIMIT",
                "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087",
            ),
        )
        .expect("sign");
        assert_eq!(s.query, "symbol=BTCUSDT&side=BUY&type=LIMIT");
        assert_eq!(
            s.body,
            "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087\
             &signature=d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
        );
    }

    #[test]
    fn timestamp_is_added_when_absent_and_kept_when_present() {
        let s = sign_at(1_700_000_000_123, &Request::new("GET", "/api/v3/account", "", "")).expect("sign");
        assert!(s.query.starts_with("timestamp=1700000000123&signature="), "{}", s.query);
        let s =
            sign_at(1_700_000_000_123, &Request::new("GET", "/api/v3/myTrades", "symbol=MXUSDT", "")).expect("sign");
        assert!(s.query.starts_with("symbol=MXUSDT&timestamp=1700000000123&signature="), "{}", s.query);
        let s = sign_at(1_700_000_000_123, &Request::new("GET", "/api/v3/account", "timestamp=5&recvWindow=1", ""))
            .expect("sign");
        assert!(s.query.starts_with("timestamp=5&recvWindow=1&signature="), "{}", s.query);
    }

    #[test]
    fn json_body_is_refused() {
        let e = sign_at(1, &Request::new("POST", "/api/v3/order", "", r#"{"symbol":"BTCUSDT"}"#)).expect_err("json");
        assert!(matches!(e, Error::BadRequest(_)));
    }

    #[test]
    fn missing_fields() {
        let r = Request::new("GET", "/api/v3/account", "", "");
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let no_secret = Credential { api_key: Some(KEY.into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
        let no_key = Credential { api_secret: Some(SECRET.into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v3/account"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/myTrades"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/capital/withdraw/history"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/openOrders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/batchOrders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/capital/withdraw/apply"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v3/capital/withdraw"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v3/capital/deposit/address"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v3/capital/sub-account/universalTransfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v3/sub-account/apiKey"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v3/sub-account/virtualSubAccount"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v3/ticker/price"), Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v3/orders"), Unknown);
    }
}
