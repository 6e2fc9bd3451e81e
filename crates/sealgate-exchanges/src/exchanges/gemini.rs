//! Gemini REST private API, "Private API Invocation" of the Gemini docs
//! (docs.gemini.com → Authentication → Private API invocation: Payload,
//! Headers and the worked example): the JSON payload, which holds the
//! `request` path and the `nonce`, is base64-encoded into
//! `X-GEMINI-PAYLOAD`; `X-GEMINI-SIGNATURE` is hex HMAC-SHA384(secret,
//! that base64 string); `X-GEMINI-APIKEY` is the key; the POST body is
//! empty (`Content-Length: 0`, `Content-Type: text/plain`,
//! `Cache-Control: no-cache`, as the docs' header table lists).
//!
//! `request.body` is the JSON payload text (empty means `{}`). Its members
//! are kept verbatim (the server hashes the base64 string, no
//! normalization); `"request"` (the path) and `"nonce"` are inserted first
//! only when absent. A `request` member naming another path than the one
//! sent is refused, so the path classified is the path signed. The nonce is
//! the credential's next nonce with the clock in milliseconds as floor (the
//! docs recommend millisecond or finer precision). A query string is
//! refused: it would not be covered by the signature.

use aws_lc_rs::hmac::HMAC_SHA384;
use serde_json::Value;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "gemini",
    name: "Gemini",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: true,
        query: false,
        body: true,
        signs: "the base64 JSON payload (the body, with `request` = path and `nonce`); no method, no query",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type,
    nonce_floor,
};

/// Gemini: `{"result":"error","reason":"InvalidNonce",…}` ("Error Codes").
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_str(body, "result", "error") && crate::send::top_str(body, "reason", "InvalidNonce") {
        return crate::Answer::NonceRejected;
    }
    crate::Answer::Other
}

/// `text/plain` always: the payload travels in `X-GEMINI-PAYLOAD` and the
/// body is empty, as the docs' example sends it.
fn content_type(_method: &str, _body: &str) -> Option<&'static str> {
    Some("text/plain")
}

/// `now_ms`, unless the payload carries its own nonce ([`payload`]).
fn nonce_floor(req: &Request, now_ms: u64) -> Option<u64> {
    let text = if req.body.trim().is_empty() { "{}" } else { req.body.as_str() };
    let own = serde_json::from_str::<serde_json::Map<String, Value>>(text).is_ok_and(|o| o.contains_key("nonce"));
    (!own).then_some(now_ms)
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    if !req.query.is_empty() {
        return Err(Error::BadRequest("Gemini private calls carry their parameters in the payload, not the query"));
    }
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let payload = payload(req, ctx)?;
    let b64 = sig::b64(payload.as_bytes());
    let signature = sig::hex(sig::hmac(HMAC_SHA384, secret.as_bytes(), &[b64.as_bytes()]).as_ref());
    let mut out = SignedRequest::from_request(req);
    out.body = String::new();
    Ok(out
        .header("Content-Type", "text/plain")
        .header("Content-Length", "0")
        .header("X-GEMINI-APIKEY", api_key)
        .header("X-GEMINI-PAYLOAD", b64)
        .header("X-GEMINI-SIGNATURE", signature)
        .header("Cache-Control", "no-cache"))
}

/// The payload text: the body verbatim, with `request` and `nonce`
/// inserted first when absent.
fn payload(req: &Request, ctx: &Context<'_>) -> Result<String, Error> {
    let text = if req.body.trim().is_empty() { "{}" } else { req.body.as_str() };
    let obj: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|_| Error::BadRequest("the Gemini payload must be a JSON object"))?;
    let mut insert = String::new();
    match obj.get("request") {
        Some(Value::String(p)) if *p == req.path => {}
        Some(_) => return Err(Error::BadRequest("the payload's request member must be the request path")),
        None => {
            let path =
                serde_json::to_string(&req.path).map_err(|_| Error::BadRequest("path is not valid JSON text"))?;
            insert.push_str(&format!("\"request\":{path},"));
        }
    }
    match obj.get("nonce") {
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(_) => return Err(Error::BadRequest("the payload's nonce member must be an unsigned integer")),
        None => insert.push_str(&format!("\"nonce\":{},", ctx.nonce.next_nonce(ctx.clock.now_ms()))),
    }
    if insert.is_empty() {
        return Ok(text.to_owned());
    }
    if obj.is_empty() {
        insert.pop(); // no member follows: drop the trailing comma
    }
    let open = text.find('{').ok_or(Error::BadRequest("the Gemini payload must be a JSON object"))?;
    let (head, rest) = text.split_at(open + 1);
    Ok(format!("{head}{insert}{rest}"))
}

/// Private REST endpoints (all POST; `{}` is a currency, network or symbol).
const ROUTES: &[Route] = &[
    // Orders, trades, balances, transfers history, account details.
    ("/v1/orders", Read),
    ("/v1/order/status", Read),
    ("/v1/orders/history", Read),
    ("/v1/mytrades", Read),
    ("/v1/tradevolume", Read),
    ("/v1/notionalvolume", Read),
    ("/v1/balances", Read),
    ("/v1/notionalbalances/{}", Read),
    ("/v1/transfers", Read),
    ("/v1/transactions", Read),
    ("/v1/custodyaccountfees", Read),
    ("/v1/addresses/{}", Read),
    ("/v1/approvedAddresses/account/{}", Read),
    ("/v1/withdraw/{}/feeEstimate", Read),
    ("/v1/payments/methods", Read),
    ("/v1/account", Read),
    ("/v1/roles", Read),
    ("/v1/heartbeat", Read),
    ("/v1/margin", Read),
    ("/v1/positions", Read),
    ("/v1/staking/balances", Read),
    ("/v1/staking/rates", Read),
    ("/v1/staking/rewards", Read),
    ("/v1/staking/history", Read),
    ("/v1/clearing/status", Read),
    ("/v1/clearing/list", Read),
    ("/v1/clearing/broker/list", Read),
    ("/v1/clearing/trades", Read),
    // Orders placed or cancelled.
    ("/v1/order/new", Trade),
    ("/v1/order/cancel", Trade),
    ("/v1/order/cancel/all", Trade),
    ("/v1/order/cancel/session", Trade),
    ("/v1/wrap/{}", Trade),
    ("/v1/clearing/new", Trade),
    ("/v1/clearing/broker/new", Trade),
    ("/v1/clearing/cancel", Trade),
    ("/v1/clearing/confirm", Trade),
    // Funds leaving the account or moving between accounts, deposit
    // addresses, and the withdrawal allow-list and bank accounts.
    ("/v1/withdraw/{}", Withdraw),
    ("/v1/deposit/{}/newAddress", Withdraw),
    ("/v1/account/transfer/{}", Withdraw),
    ("/v1/approvedAddresses/{}/request", Withdraw),
    ("/v1/approvedAddresses/{}/remove", Withdraw),
    ("/v1/payments/addbank", Withdraw),
    ("/v1/payments/addbank/cad", Withdraw),
    ("/v1/staking/stake", Withdraw),
    ("/v1/staking/unstake", Withdraw),
    // Accounts of a master group, OAuth tokens.
    ("/v1/account/create", Account),
    ("/v1/account/list", Account),
    ("/v1/account/rename", Account),
    ("/v1/oauth/revokeByToken", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::classify_path;
    use crate::{EndpointClass, FixedClock, FixedNonce};

    /// The worked example of "Private API invocation" (Gemini docs): the
    /// request JSON as the docs' heredoc gives it, the secret `1234abcd`.
    const DOC_PAYLOAD: &str =
        "{\n    \"request\": \"/v1/order/status\",\n    \"nonce\": 123456,\n\n    \"order_id\": 18834\n}\n";
    const DOC_B64: &str = "ewogICAgInJlcXVlc3QiOiAiL3YxL29yZGVyL3N0YXR1cyIsCiAgICAibm9uY2UiOiAxMjM0NTYsCgogICAgIm9yZGVyX2lkIjogMTg4MzQKfQo=";
    const DOC_SIG: &str =
        "337cc8b4ea692cfe65b4a85fcc9f042b2e3f702ac956fd098d600ab15705775017beae402be773ceee10719ff70d710f";

    fn cred() -> Credential {
        Credential { api_key: Some("mykey".into()), api_secret: Some("1234abcd".into()), ..Credential::default() }
    }

    fn req(path: &str, body: &str) -> Request {
        Request { method: "POST".into(), path: path.into(), query: String::new(), body: body.into() }
    }

    fn sign_at(r: &Request, nonce: u64) -> Result<SignedRequest, Error> {
        sign(&cred(), r, &Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(nonce) })
    }

    fn decoded_payload(s: &SignedRequest) -> String {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.header_value("X-GEMINI-PAYLOAD").expect("X-GEMINI-PAYLOAD"))
            .expect("b64");
        String::from_utf8(raw).expect("utf8")
    }

    #[test]
    fn doc_example_reproduces() {
        let s = sign_at(&req("/v1/order/status", DOC_PAYLOAD), 9).expect("sign");
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(
            s.headers,
            [
                h("Content-Type", "text/plain"),
                h("Content-Length", "0"),
                h("X-GEMINI-APIKEY", "mykey"),
                h("X-GEMINI-PAYLOAD", DOC_B64),
                h("X-GEMINI-SIGNATURE", DOC_SIG),
                h("Cache-Control", "no-cache"),
            ]
        );
        assert_eq!(s.body, "");
        assert_eq!((s.method.as_str(), s.path.as_str(), s.query.as_str()), ("POST", "/v1/order/status", ""));
    }

    #[test]
    fn request_and_nonce_are_inserted_when_absent() {
        let s = sign_at(&req("/v1/balances", ""), 1_700_000_000_123).expect("sign");
        assert_eq!(decoded_payload(&s), r#"{"request":"/v1/balances","nonce":1700000000123}"#);
        let s = sign_at(&req("/v1/order/status", "{ \"order_id\": 18834 }"), 7).expect("sign");
        assert_eq!(decoded_payload(&s), r#"{"request":"/v1/order/status","nonce":7, "order_id": 18834 }"#);
        let s = sign_at(&req("/v1/order/status", r#"{"order_id":1,"request":"/v1/order/status"}"#), 7).expect("sign");
        assert_eq!(decoded_payload(&s), r#"{"nonce":7,"order_id":1,"request":"/v1/order/status"}"#);
        let expected = sig::hex(
            sig::hmac(
                HMAC_SHA384,
                b"1234abcd",
                &[s.header_value("X-GEMINI-PAYLOAD").expect("X-GEMINI-PAYLOAD").as_bytes()],
            )
            .as_ref(),
        );
        assert_eq!(s.header_value("X-GEMINI-SIGNATURE").expect("X-GEMINI-SIGNATURE"), expected);
    }

    #[test]
    fn nonce_is_kept_when_present() {
        let body = r#"{"nonce":"42","request":"/v1/mytrades","symbol":"btcusd"}"#;
        let s = sign_at(&req("/v1/mytrades", body), 99).expect("sign");
        assert_eq!(decoded_payload(&s), body);
    }

    #[test]
    fn mismatched_or_malformed_payloads_are_refused() {
        let r = req("/v1/order/status", r#"{"request":"/v1/withdraw/btc"}"#);
        assert!(matches!(sign_at(&r, 1), Err(Error::BadRequest(_))));
        assert!(matches!(sign_at(&req("/v1/balances", "[]"), 1), Err(Error::BadRequest(_))));
        assert!(matches!(sign_at(&req("/v1/balances", r#"{"nonce":-1}"#), 1), Err(Error::BadRequest(_))));
        let mut q = req("/v1/balances", "");
        q.query = "account=primary".into();
        assert!(matches!(sign_at(&q, 1), Err(Error::BadRequest(_))));
    }

    #[test]
    fn missing_credentials() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = req("/v1/balances", "");
        let no_key = Credential { api_secret: Some("s".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
        let no_secret = Credential { api_key: Some("k".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/v1/balances"), Read);
        assert_eq!(classify_path(ROUTES, "/v1/mytrades"), Read);
        assert_eq!(classify_path(ROUTES, "/v1/withdraw/btc/feeEstimate"), Read);
        assert_eq!(classify_path(ROUTES, "/v1/order/new"), Trade);
        assert_eq!(classify_path(ROUTES, "/v1/order/cancel/all"), Trade);
        assert_eq!(classify_path(ROUTES, "/v1/withdraw/btc"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v1/deposit/bitcoin/newAddress"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v1/account/transfer/usd"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v1/account/create"), Account);
        assert_eq!(classify_path(ROUTES, "/v1/withdraw"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/v1/pubticker/btcusd"), EndpointClass::Unknown);
    }
}
