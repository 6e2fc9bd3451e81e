//! Kraken spot REST, "Spot REST Authentication" of the Kraken API docs
//! (docs.kraken.com → Guides → Spot REST Authentication, "Setting the
//! API-Sign Parameter" and its worked example):
//! - `API-Key`: the public API key;
//! - `API-Sign`: base64 of HMAC-SHA512(base64-decoded secret,
//!   URI path + SHA256(nonce + POST data)), the URI path being the part
//!   starting with `/0/private`;
//! - `nonce`: a payload parameter, always increasing (unsigned 64-bit).
//!
//! Every private call is a POST whose parameters are in the body: a form
//! body (`application/x-www-form-urlencoded`, as in the docs' example) or a
//! JSON object (`application/json`). When the body already carries
//! `nonce`, it is kept verbatim and in place; otherwise `nonce=N&` is put
//! first in a form body (as in the docs' example) and `"nonce":N,` first in
//! a JSON object, N from the credential's nonce source with the clock in
//! milliseconds as floor (the docs' example nonce is a millisecond time).
//! A query string is refused: it would not be covered by the signature.

use aws_lc_rs::digest::SHA256;
use aws_lc_rs::hmac::HMAC_SHA512;

use super::{Coverage, Scheme, params};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "kraken",
    name: "Kraken (spot)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: true,
        query: false,
        body: true,
        signs: "the path + SHA-256(nonce + body); a query is refused at signing and travels unsigned when added",
    },
    plaintext_header: None,
    answer,
    // https://docs.kraken.com/api/docs/rest-api/get-server-time (seconds)
    time: Some(crate::TimeEndpoint {
        path: "/0/public/Time",
        parse: |b| crate::send::num(crate::send::parse(b)?.pointer("/result/unixtime")?.clone())?.checked_mul(1000),
    }),
    content_type,
    nonce_floor,
};

/// Kraken: `{"error":["EAPI:Invalid nonce"]}` (an element of the top-level
/// `error` list, exactly; "Spot REST API → Errors").
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    let nonce = crate::send::top(body, "error")
        .and_then(|e| e.as_array().map(|a| a.iter().any(|x| x.as_str() == Some("EAPI:Invalid nonce"))));
    if nonce == Some(true) {
        return crate::Answer::NonceRejected;
    }
    crate::Answer::Other
}

/// A form body, or JSON when it starts with `{` (as [`sign`] decides).
fn content_type(_method: &str, body: &str) -> Option<&'static str> {
    if body.is_empty() {
        None
    } else if body.trim_start().starts_with('{') {
        Some(crate::send::JSON)
    } else {
        Some(crate::send::FORM)
    }
}

/// `now_ms`, unless the body carries its own nonce ([`form_nonce`], [`json_nonce`]).
fn nonce_floor(req: &Request, now_ms: u64) -> Option<u64> {
    let own = if req.body.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&req.body)
            .is_ok_and(|o| o.contains_key("nonce"))
    } else {
        params::has(&req.body, "nonce")
    };
    (!own).then_some(now_ms)
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    if !req.query.is_empty() {
        return Err(Error::BadRequest("Kraken private calls carry their parameters in the POST body, not the query"));
    }
    let api_key = cred.api_key()?;
    let secret = sig::b64_secret("api_secret", cred.api_secret()?)?;
    let mut out = SignedRequest::from_request(req);
    let is_json = out.body.trim_start().starts_with('{');
    let nonce = if is_json { json_nonce(&mut out.body, ctx)? } else { form_nonce(&mut out.body, ctx)? };
    let inner = sig::digest(&SHA256, &[nonce.as_bytes(), out.body.as_bytes()]);
    let mac = sig::hmac(HMAC_SHA512, &secret, &[out.path.as_bytes(), inner.as_ref()]);
    let content_type = if is_json { "application/json" } else { "application/x-www-form-urlencoded" };
    Ok(out.header("API-Key", api_key).header("API-Sign", sig::b64(mac.as_ref())).header("Content-Type", content_type))
}

/// The nonce of a form body, kept when present, else put first.
fn form_nonce(body: &mut String, ctx: &Context<'_>) -> Result<String, Error> {
    if params::has(body, "nonce") {
        let value = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("nonce="))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(Error::BadRequest("the nonce parameter must be an unsigned integer"))?;
        return Ok(value.to_owned());
    }
    let nonce = ctx.nonce.next_nonce(ctx.clock.now_ms()).to_string();
    let mut new = format!("nonce={nonce}");
    if !body.is_empty() {
        new.push('&');
        new.push_str(body);
    }
    *body = new;
    Ok(nonce)
}

/// The nonce of a JSON object body, kept when present, else inserted first.
fn json_nonce(body: &mut String, ctx: &Context<'_>) -> Result<String, Error> {
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(body).map_err(|_| Error::BadRequest("the JSON body must be an object"))?;
    if let Some(v) = obj.get("nonce") {
        return match v {
            serde_json::Value::Number(n) if n.is_u64() => Ok(n.to_string()),
            serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(s.clone()),
            _ => Err(Error::BadRequest("the nonce member must be an unsigned integer")),
        };
    }
    let nonce = ctx.nonce.next_nonce(ctx.clock.now_ms()).to_string();
    let open = body.find('{').ok_or(Error::BadRequest("the JSON body must be an object"))?;
    let (head, rest) = body.split_at(open + 1);
    let sep = if obj.is_empty() { "" } else { "," };
    *body = format!("{head}\"nonce\":{nonce}{sep}{rest}");
    Ok(nonce)
}

/// Spot private endpoints (every one is a POST under `/0/private/`).
const ROUTES: &[Route] = &[
    // Account data.
    ("/0/private/Balance", Read),
    ("/0/private/BalanceEx", Read),
    ("/0/private/CreditLines", Read),
    ("/0/private/TradeBalance", Read),
    ("/0/private/OpenOrders", Read),
    ("/0/private/ClosedOrders", Read),
    ("/0/private/QueryOrders", Read),
    ("/0/private/OrderAmends", Read),
    ("/0/private/TradesHistory", Read),
    ("/0/private/QueryTrades", Read),
    ("/0/private/OpenPositions", Read),
    ("/0/private/Ledgers", Read),
    ("/0/private/QueryLedgers", Read),
    ("/0/private/TradeVolume", Read),
    ("/0/private/AddExport", Read),
    ("/0/private/ExportStatus", Read),
    ("/0/private/RetrieveExport", Read),
    ("/0/private/RemoveExport", Read),
    // Funding reads (methods, history, fee and limit info: nothing moves).
    ("/0/private/DepositMethods", Read),
    ("/0/private/DepositStatus", Read),
    ("/0/private/WithdrawMethods", Read),
    ("/0/private/WithdrawAddresses", Read),
    ("/0/private/WithdrawInfo", Read),
    ("/0/private/WithdrawStatus", Read),
    // Earn and staking reads.
    ("/0/private/Earn/Strategies", Read),
    ("/0/private/Earn/Allocations", Read),
    ("/0/private/Earn/AllocateStatus", Read),
    ("/0/private/Earn/DeallocateStatus", Read),
    ("/0/private/Staking/Assets", Read),
    ("/0/private/Staking/Pending", Read),
    ("/0/private/Staking/Transactions", Read),
    // Trading.
    ("/0/private/AddOrder", Trade),
    ("/0/private/AddOrderBatch", Trade),
    ("/0/private/AmendOrder", Trade),
    ("/0/private/EditOrder", Trade),
    ("/0/private/CancelOrder", Trade),
    ("/0/private/CancelAll", Trade),
    ("/0/private/CancelAllOrdersAfter", Trade),
    ("/0/private/CancelOrderBatch", Trade),
    // Funds leaving the account or moving between wallets and accounts.
    // DepositAddresses both lists and (new=true) creates addresses.
    ("/0/private/DepositAddresses", Withdraw),
    ("/0/private/Withdraw", Withdraw),
    ("/0/private/WithdrawCancel", Withdraw),
    ("/0/private/WalletTransfer", Withdraw),
    ("/0/private/AccountTransfer", Withdraw),
    ("/0/private/Earn/Allocate", Withdraw),
    ("/0/private/Earn/Deallocate", Withdraw),
    ("/0/private/Stake", Withdraw),
    ("/0/private/Unstake", Withdraw),
    // Sub-accounts, and the token that opens the private WebSocket API
    // with this key's permissions.
    ("/0/private/CreateSubaccount", Account),
    ("/0/private/GetWebSocketsToken", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::classify_path;
    use crate::{EndpointClass, FixedClock, FixedNonce};

    /// The worked example of "Spot REST Authentication" (Kraken docs).
    const DOC_SECRET: &str = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
    const DOC_BODY: &str = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
    const DOC_SIGN: &str = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";

    fn cred() -> Credential {
        Credential { api_key: Some("KEY".into()), api_secret: Some(DOC_SECRET.into()), ..Credential::default() }
    }

    fn req(path: &str, body: &str) -> Request {
        Request { method: "POST".into(), path: path.into(), query: String::new(), body: body.into() }
    }

    fn sign_at(r: &Request, now_ms: u64, nonce: u64) -> Result<SignedRequest, Error> {
        sign(&cred(), r, &Context { clock: &FixedClock(now_ms), nonce: &FixedNonce(nonce) })
    }

    #[test]
    fn doc_example_reproduces() {
        let s = sign_at(&req("/0/private/AddOrder", DOC_BODY), 1, 1).expect("sign");
        assert_eq!(s.body, DOC_BODY);
        assert_eq!(
            s.headers,
            [
                ("API-Key".to_owned(), "KEY".to_owned()),
                ("API-Sign".to_owned(), DOC_SIGN.to_owned()),
                ("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()),
            ]
        );
    }

    #[test]
    fn nonce_is_put_first_when_absent() {
        let body = "ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
        let s = sign_at(&req("/0/private/AddOrder", body), 1_616_492_376_000, 1_616_492_376_594).expect("sign");
        assert_eq!(s.body, DOC_BODY);
        assert_eq!(s.header_value("API-Sign").expect("API-Sign"), DOC_SIGN);
        let s = sign_at(&req("/0/private/Balance", ""), 1, 42).expect("sign");
        assert_eq!(s.body, "nonce=42");
    }

    #[test]
    fn nonce_is_kept_in_place_when_present() {
        let body = "pair=XBTUSD&nonce=7&type=buy";
        let s = sign_at(&req("/0/private/AddOrder", body), 99, 99).expect("sign");
        assert_eq!(s.body, body);
        let inner = sig::digest(&SHA256, &[b"7", body.as_bytes()]);
        let secret = sig::b64_secret("api_secret", DOC_SECRET).expect("b64");
        let mac = sig::hmac(HMAC_SHA512, &secret, &[b"/0/private/AddOrder", inner.as_ref()]);
        assert_eq!(s.header_value("API-Sign").expect("API-Sign"), sig::b64(mac.as_ref()));
        assert!(sign_at(&req("/0/private/AddOrder", "nonce=abc"), 1, 1).is_err());
    }

    #[test]
    fn json_bodies() {
        let s = sign_at(&req("/0/private/AddOrder", r#"{"pair":"XBTUSD"}"#), 1, 5).expect("sign");
        assert_eq!(s.body, r#"{"nonce":5,"pair":"XBTUSD"}"#);
        assert_eq!(s.header_value("Content-Type").expect("Content-Type"), "application/json");
        let s = sign_at(&req("/0/private/Balance", "{}"), 1, 5).expect("sign");
        assert_eq!(s.body, r#"{"nonce":5}"#);
        let kept = r#"{ "pair": "XBTUSD", "nonce": "1616492376594" }"#;
        let s = sign_at(&req("/0/private/AddOrder", kept), 1, 5).expect("sign");
        assert_eq!(s.body, kept);
        let inner = sig::digest(&SHA256, &[b"1616492376594", kept.as_bytes()]);
        let secret = sig::b64_secret("api_secret", DOC_SECRET).expect("b64");
        let mac = sig::hmac(HMAC_SHA512, &secret, &[b"/0/private/AddOrder", inner.as_ref()]);
        assert_eq!(s.header_value("API-Sign").expect("API-Sign"), sig::b64(mac.as_ref()));
        assert!(sign_at(&req("/0/private/AddOrder", "{"), 1, 1).is_err());
    }

    #[test]
    fn query_is_refused() {
        let mut r = req("/0/private/Balance", "");
        r.query = "asset=XBT".into();
        assert!(matches!(sign_at(&r, 1, 1), Err(Error::BadRequest(_))));
    }

    #[test]
    fn missing_and_malformed_credentials() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = req("/0/private/Balance", "");
        let no_key = Credential { api_secret: Some(DOC_SECRET.into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
        let no_secret = Credential { api_key: Some("KEY".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
        let bad =
            Credential { api_key: Some("KEY".into()), api_secret: Some("SECRET!!".into()), ..Credential::default() };
        let e = sign(&bad, &r, &ctx).expect_err("bad secret");
        assert!(matches!(e, Error::MalformedField { field: "api_secret", .. }));
        assert!(!format!("{e} {e:?}").contains("SECRET!!"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/0/private/Balance"), Read);
        assert_eq!(classify_path(ROUTES, "/0/private/TradesHistory"), Read);
        assert_eq!(classify_path(ROUTES, "/0/private/AddOrder"), Trade);
        assert_eq!(classify_path(ROUTES, "/0/private/CancelAll"), Trade);
        assert_eq!(classify_path(ROUTES, "/0/private/Withdraw"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/0/private/DepositAddresses"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/0/private/AccountTransfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/0/private/CreateSubaccount"), Account);
        assert_eq!(classify_path(ROUTES, "/0/private/withdraw"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/0/public/Ticker"), EndpointClass::Unknown);
    }
}
