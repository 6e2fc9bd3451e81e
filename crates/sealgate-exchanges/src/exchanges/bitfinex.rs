//! Bitfinex API v2 authenticated endpoints, "Authenticated Endpoints" of
//! the Bitfinex docs (docs.bitfinex.com → REST Authenticated Endpoints →
//! Authentication, and its request examples): every call is a POST to
//! `/v2/auth/…` with a JSON body and the headers
//! - `bfx-nonce`: an increasing nonce (the docs' examples use
//!   `Date.now() * 1000`, so the floor here is the clock in microseconds);
//! - `bfx-apikey`: the key;
//! - `bfx-signature`: hex HMAC-SHA384(secret, `/api` + path + nonce + body),
//!   the path being `/v2/auth/…` as sent (the docs write
//!   `/api/${apiPath}${nonce}${body}` with `apiPath = v2/auth/…`).
//!
//! The body is signed and sent as given; an empty body is sent (and signed)
//! as `{}`, the docs' empty body. A query string is refused: it would not
//! be covered by the signature.

use aws_lc_rs::hmac::HMAC_SHA384;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "bitfinex",
    name: "Bitfinex (API v2)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: true,
        query: false,
        body: true,
        signs: "`/api` + path + nonce + body; a query is refused at signing and travels unsigned when added",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor,
};

/// Bitfinex v2: `["error",10114,"nonce: small"]` (error code 10114).
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    let v = crate::send::parse(body);
    let a = v.as_ref().and_then(|v| v.as_array());
    if a.is_some_and(|a| {
        a.first().and_then(|x| x.as_str()) == Some("error") && a.get(1).and_then(|x| x.as_i64()) == Some(10114)
    }) {
        return crate::Answer::NonceRejected;
    }
    crate::Answer::Other
}

/// Microseconds: every request draws one.
fn nonce_floor(_: &Request, now_ms: u64) -> Option<u64> {
    Some(now_ms.saturating_mul(1000))
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    if !req.query.is_empty() {
        return Err(Error::BadRequest(
            "Bitfinex authenticated calls carry their parameters in the body, not the query",
        ));
    }
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let mut out = SignedRequest::from_request(req);
    if out.body.is_empty() {
        out.body = "{}".to_owned();
    }
    let nonce = ctx.nonce.next_nonce(ctx.clock.now_ms().saturating_mul(1000)).to_string();
    let mac = sig::hmac(
        HMAC_SHA384,
        secret.as_bytes(),
        &[b"/api", out.path.as_bytes(), nonce.as_bytes(), out.body.as_bytes()],
    );
    Ok(out
        .header("Content-Type", "application/json")
        .header("bfx-nonce", nonce)
        .header("bfx-apikey", api_key)
        .header("bfx-signature", sig::hex(mac.as_ref())))
}

/// Authenticated endpoints (all POST; `{}` is a symbol, currency, key or
/// `SYMBOL:ORDER_ID`).
const ROUTES: &[Route] = &[
    // Wallets, orders, trades, ledgers, positions, funding, account info.
    ("/v2/auth/r/wallets", Read),
    ("/v2/auth/r/wallets/hist", Read),
    ("/v2/auth/r/orders", Read),
    ("/v2/auth/r/orders/{}", Read),
    ("/v2/auth/r/orders/hist", Read),
    ("/v2/auth/r/orders/{}/hist", Read),
    ("/v2/auth/r/order/{}/trades", Read),
    ("/v2/auth/r/trades/hist", Read),
    ("/v2/auth/r/trades/{}/hist", Read),
    ("/v2/auth/r/trades/calc", Read),
    ("/v2/auth/r/ledgers/hist", Read),
    ("/v2/auth/r/ledgers/{}/hist", Read),
    ("/v2/auth/r/positions", Read),
    ("/v2/auth/r/positions/hist", Read),
    ("/v2/auth/r/positions/snap", Read),
    ("/v2/auth/r/positions/audit", Read),
    ("/v2/auth/r/position/increase/info", Read),
    ("/v2/auth/r/info/margin/{}", Read),
    ("/v2/auth/r/info/funding/{}", Read),
    ("/v2/auth/r/info/user", Read),
    ("/v2/auth/r/funding/offers", Read),
    ("/v2/auth/r/funding/offers/{}", Read),
    ("/v2/auth/r/funding/offers/hist", Read),
    ("/v2/auth/r/funding/offers/{}/hist", Read),
    ("/v2/auth/r/funding/loans", Read),
    ("/v2/auth/r/funding/loans/{}", Read),
    ("/v2/auth/r/funding/loans/hist", Read),
    ("/v2/auth/r/funding/loans/{}/hist", Read),
    ("/v2/auth/r/funding/credits", Read),
    ("/v2/auth/r/funding/credits/{}", Read),
    ("/v2/auth/r/funding/credits/hist", Read),
    ("/v2/auth/r/funding/credits/{}/hist", Read),
    ("/v2/auth/r/funding/trades/hist", Read),
    ("/v2/auth/r/funding/trades/{}/hist", Read),
    ("/v2/auth/r/movements/hist", Read),
    ("/v2/auth/r/movements/{}/hist", Read),
    ("/v2/auth/r/movements/info", Read),
    ("/v2/auth/r/deposit/address/all", Read),
    ("/v2/auth/r/summary", Read),
    ("/v2/auth/r/logins/hist", Read),
    ("/v2/auth/r/audit/hist", Read),
    ("/v2/auth/r/permissions", Read),
    ("/v2/auth/r/settings", Read),
    ("/v2/auth/r/stats/perf:1D/hist", Read),
    ("/v2/auth/calc/order/avail", Read),
    // Orders and positions; margin funding offers (lending).
    ("/v2/auth/w/order/submit", Trade),
    ("/v2/auth/w/order/update", Trade),
    ("/v2/auth/w/order/cancel", Trade),
    ("/v2/auth/w/order/multi", Trade),
    ("/v2/auth/w/order/cancel/multi", Trade),
    ("/v2/auth/w/position/claim", Trade),
    ("/v2/auth/w/position/increase", Trade),
    ("/v2/auth/w/deriv/collateral/set", Trade),
    ("/v2/auth/w/funding/offer/submit", Trade),
    ("/v2/auth/w/funding/offer/cancel", Trade),
    ("/v2/auth/w/funding/offer/cancel/all", Trade),
    ("/v2/auth/w/funding/close", Trade),
    ("/v2/auth/w/funding/auto", Trade),
    ("/v2/auth/w/funding/keep", Trade),
    // Funds leaving the account or moving between wallets and accounts.
    // deposit/address both reads (op_renew=0) and creates (op_renew=1).
    ("/v2/auth/w/transfer", Withdraw),
    ("/v2/auth/w/withdraw", Withdraw),
    ("/v2/auth/w/deposit/address", Withdraw),
    ("/v2/auth/w/deposit/invoice", Withdraw),
    // Settings and auth tokens (a token acts with the key's permissions).
    ("/v2/auth/w/settings/set", Account),
    ("/v2/auth/w/settings/del", Account),
    ("/v2/auth/w/token", Account),
    ("/v2/auth/w/token/del", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::classify_path;
    use crate::{EndpointClass, FixedClock, FixedNonce, MonotonicNonce};

    fn cred() -> Credential {
        Credential { api_key: Some("KEY".into()), api_secret: Some("SECRET".into()), ..Credential::default() }
    }

    fn req(path: &str, body: &str) -> Request {
        Request { method: "POST".into(), path: path.into(), query: String::new(), body: body.into() }
    }

    /// The docs publish no signature value; this is their construction,
    /// `/api/${apiPath}${nonce}${JSON.stringify(body)}`, for the Submit
    /// Order example body, checked against an independent HMAC-SHA384 (the
    /// value `openssl dgst -sha384 -hmac SECRET` prints for the same text).
    #[test]
    fn documented_construction() {
        let body = r#"{"type":"LIMIT","symbol":"tBTCUSD","price":"15","amount":"0.001"}"#;
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1_700_000_000_000_000) };
        let s = sign(&cred(), &req("/v2/auth/w/order/submit", body), &ctx).expect("sign");
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        let text = format!("/api/v2/auth/w/order/submit1700000000000000{body}");
        assert_eq!(
            text,
            "/api/v2/auth/w/order/submit1700000000000000{\"type\":\"LIMIT\",\"symbol\":\"tBTCUSD\",\"price\":\"15\",\"amount\":\"0.001\"}"
        );
        assert_eq!(
            s.headers,
            [
                h("Content-Type", "application/json"),
                h("bfx-nonce", "1700000000000000"),
                h("bfx-apikey", "KEY"),
                h(
                    "bfx-signature",
                    "e54fd36e108b7f0141c82d05bf49da9113a9fdb8ae0fe31f26b0bf6a1ef79daef83fd2c655935006df4ac45a0c8885d7"
                ),
            ]
        );
        assert_eq!(s.body, body);
    }

    #[test]
    fn nonce_is_microseconds_and_increasing() {
        let n = MonotonicNonce::default();
        let ctx = Context { clock: &FixedClock(1_700_000_000_123), nonce: &n };
        let a = sign(&cred(), &req("/v2/auth/r/wallets", ""), &ctx).expect("sign");
        let b = sign(&cred(), &req("/v2/auth/r/wallets", ""), &ctx).expect("sign");
        assert_eq!(a.header_value("bfx-nonce").expect("bfx-nonce"), "1700000000123000");
        assert_eq!(b.header_value("bfx-nonce").expect("bfx-nonce"), "1700000000123001");
        assert_eq!(a.body, "{}");
        let mac = sig::hmac(HMAC_SHA384, b"SECRET", &[b"/api/v2/auth/r/wallets1700000000123000{}"]);
        assert_eq!(a.header_value("bfx-signature").expect("bfx-signature"), sig::hex(mac.as_ref()));
    }

    #[test]
    fn query_is_refused_and_credentials_required() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let mut r = req("/v2/auth/r/wallets", "");
        r.query = "a=1".into();
        assert!(matches!(sign(&cred(), &r, &ctx), Err(Error::BadRequest(_))));
        let r = req("/v2/auth/r/wallets", "");
        let no_key = Credential { api_secret: Some("s".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
        let no_secret = Credential { api_key: Some("k".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/v2/auth/r/wallets"), Read);
        assert_eq!(classify_path(ROUTES, "/v2/auth/r/trades/tBTCUSD/hist"), Read);
        assert_eq!(classify_path(ROUTES, "/v2/auth/r/order/tBTCUSD:123/trades"), Read);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/order/submit"), Trade);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/order/cancel/multi"), Trade);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/withdraw"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/deposit/address"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/token"), Account);
        assert_eq!(classify_path(ROUTES, "/v2/auth/w/alert/set"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/v2/ticker/tBTCUSD"), EndpointClass::Unknown);
    }
}
