//! KuCoin (spot, margin and futures REST), "Authentication → Creating a
//! Request / Signing a Message" of the KuCoin API docs:
//! - `KC-API-KEY`: the API key;
//! - `KC-API-SIGN`: base64 of HMAC-SHA256(secret, timestamp + METHOD +
//!   endpoint + body), where endpoint carries the query string
//!   (`/api/v1/deposit-addresses?currency=XBT`) and body is the raw JSON
//!   body (empty when there is none). The docs sign the query *as not
//!   URL-encoded* (`passphrase=abc%21%40%2311` is signed as
//!   `passphrase=abc!@#11`): the query is sent as given and its
//!   percent-escapes are decoded in the signed text only;
//! - `KC-API-TIMESTAMP`: Unix milliseconds;
//! - `KC-API-PASSPHRASE`: in clear for key version 1; base64 of
//!   HMAC-SHA256(secret, passphrase) for versions 2 and 3;
//! - `KC-API-KEY-VERSION`: the key version.
//!
//! Key version: the credential has no field for it, so every key is signed
//! as version 2. Version 1 keys had to be replaced by May 2021; version 3
//! keys sign exactly like version 2 and differ only in the header value.
//! [`sign_version`] takes the version so that a `key_version` credential
//! field, when there is one, is a one-line change.
//!
//! The timestamp travels in a header only, so it always comes from the clock.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "kucoin",
    name: "KuCoin (API key version 2)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: false,
        body: true,
        signs: "timestamp + METHOD + path?query + body, the query percent-decoded (`%26` and `&` sign alike)",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// KuCoin: `{"code":"400002","msg":"KC-API-TIMESTAMP Invalid"}` (the
/// timestamp differs from the server's by more than 5 s).
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_str(body, "code", "400002") {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

/// The key version every credential is signed as (see the module doc).
const DEFAULT_KEY_VERSION: KeyVersion = KeyVersion::V2;

/// A KuCoin API key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyVersion {
    /// Passphrase in clear (keys created before 2021).
    #[cfg_attr(not(test), allow(dead_code))]
    V1,
    /// Passphrase HMAC'd with the secret.
    V2,
    /// As version 2, with header value `3`.
    #[cfg_attr(not(test), allow(dead_code))]
    V3,
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    sign_version(cred, req, ctx, DEFAULT_KEY_VERSION)
}

fn sign_version(cred: &Credential, req: &Request, ctx: &Context<'_>, v: KeyVersion) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?.as_bytes();
    let passphrase = cred.passphrase()?;
    let ts = ctx.clock.now_ms().to_string();
    let signature = sig::b64(sig::hmac(HMAC_SHA256, secret, &[prehash(&ts, req).as_slice()]).as_ref());
    let (passphrase, version) = match v {
        KeyVersion::V1 => (passphrase.to_owned(), "1"),
        KeyVersion::V2 => (sig::b64(sig::hmac(HMAC_SHA256, secret, &[passphrase.as_bytes()]).as_ref()), "2"),
        KeyVersion::V3 => (sig::b64(sig::hmac(HMAC_SHA256, secret, &[passphrase.as_bytes()]).as_ref()), "3"),
    };
    Ok(SignedRequest::from_request(req)
        .header("KC-API-KEY", api_key)
        .header("KC-API-SIGN", signature)
        .header("KC-API-TIMESTAMP", ts)
        .header("KC-API-PASSPHRASE", passphrase)
        .header("KC-API-KEY-VERSION", version))
}

/// `timestamp + METHOD + endpoint(?query, percent-decoded) + body`.
fn prehash(ts: &str, req: &Request) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(ts.len() + req.method.len() + req.path.len() + req.query.len() + req.body.len() + 1);
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(req.method.as_bytes());
    out.extend_from_slice(req.path.as_bytes());
    if !req.query.is_empty() {
        out.push(b'?');
        percent_decode_into(req.query.as_bytes(), &mut out);
    }
    out.extend_from_slice(req.body.as_bytes());
    out
}

/// Decode `%XX` escapes (a `%` not followed by two hex digits stays as is;
/// `+` is not a space here: KuCoin documents percent-encoding only).
fn percent_decode_into(s: &[u8], out: &mut Vec<u8>) {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(h), Some(l)) = (s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
}

/// Spot (classic and high-frequency), margin, funding, sub-account and
/// futures endpoints (paths, any method). Specific rows precede `{}` rows
/// with the same prefix: rows match in order.
const ROUTES: &[Route] = &[
    // Accounts, ledgers, fees, fills (reads).
    ("/api/v1/accounts", Read),
    ("/api/v1/accounts/ledgers", Read),
    ("/api/v1/accounts/transferable", Read),
    ("/api/v1/accounts/{}", Read),
    ("/api/v1/hf/accounts/ledgers", Read),
    ("/api/v1/user-info", Read),
    ("/api/v2/user-info", Read),
    ("/api/v1/user/api-key", Read),
    ("/api/v1/base-fee", Read),
    ("/api/v1/trade-fees", Read),
    ("/api/v1/fills", Read),
    // Public, and read by the importer for KuCoin's clock (its fills' windows).
    ("/api/v1/timestamp", Read),
    ("/api/v1/limit/fills", Read),
    ("/api/v1/limit/orders", Read),
    ("/api/v1/hf/fills", Read),
    ("/api/v1/hf/orders/active", Read),
    ("/api/v1/hf/orders/active/symbols", Read),
    ("/api/v1/hf/orders/done", Read),
    ("/api/v1/deposits", Read),
    ("/api/v1/hist-deposits", Read),
    ("/api/v1/hist-withdrawals", Read),
    ("/api/v1/withdrawals/quotas", Read),
    ("/api/v1/margin/account", Read),
    ("/api/v3/margin/accounts", Read),
    ("/api/v3/isolated/accounts", Read),
    ("/api/v3/margin/borrow-history", Read),
    ("/api/v3/margin/repay-history", Read),
    ("/api/v3/hf/margin/orders/active", Read),
    ("/api/v3/hf/margin/orders/done", Read),
    ("/api/v3/hf/margin/fills", Read),
    ("/api/v1/account-overview", Read),
    ("/api/v1/positions", Read),
    ("/api/v1/position", Read),
    ("/api/v1/recentFills", Read),
    ("/api/v1/funding-history", Read),
    // Orders. `/api/v1/orders` lists, places and cancels all; `…/{}` reads
    // and cancels one: the whole path is trade.
    ("/api/v1/orders", Trade),
    ("/api/v1/orders/test", Trade),
    ("/api/v1/orders/multi", Trade),
    ("/api/v1/orders/{}", Trade),
    ("/api/v1/order/client-order/{}", Trade),
    ("/api/v1/hf/orders", Trade),
    ("/api/v1/hf/orders/test", Trade),
    ("/api/v1/hf/orders/sync", Trade),
    ("/api/v1/hf/orders/multi", Trade),
    ("/api/v1/hf/orders/multi/sync", Trade),
    ("/api/v1/hf/orders/alter", Trade),
    ("/api/v1/hf/orders/cancelAll", Trade),
    ("/api/v1/hf/orders/dead-cancel-all", Trade),
    ("/api/v1/hf/orders/{}", Trade),
    ("/api/v1/hf/orders/sync/{}", Trade),
    ("/api/v1/hf/orders/client-order/{}", Trade),
    ("/api/v1/hf/orders/sync/client-order/{}", Trade),
    ("/api/v1/hf/orders/cancel/{}", Trade),
    ("/api/v1/stop-order", Trade),
    ("/api/v1/stop-order/cancel", Trade),
    ("/api/v1/stop-order/cancelOrderByClientOid", Trade),
    ("/api/v1/stop-order/{}", Trade),
    ("/api/v3/oco/order", Trade),
    ("/api/v3/oco/order/{}", Trade),
    ("/api/v3/oco/orders", Trade),
    ("/api/v3/hf/margin/order", Trade),
    ("/api/v3/hf/margin/order/test", Trade),
    ("/api/v3/hf/margin/orders/{}", Trade),
    ("/api/v3/margin/borrow", Trade),
    ("/api/v3/margin/repay", Trade),
    ("/api/v1/allOrders", Trade),
    ("/api/v1/position/margin/auto-deposit-status", Trade),
    ("/api/v1/position/margin/deposit-margin", Trade),
    // Funds leaving the account or moving between accounts; deposit
    // addresses are created by POST on the same paths that list them.
    ("/api/v1/withdrawals", Withdraw),
    ("/api/v3/withdrawals", Withdraw),
    ("/api/v1/withdrawals/{}", Withdraw),
    ("/api/v1/deposit-addresses", Withdraw),
    ("/api/v2/deposit-addresses", Withdraw),
    ("/api/v3/deposit-addresses", Withdraw),
    ("/api/v3/deposit-address/create", Withdraw),
    ("/api/v2/accounts/inner-transfer", Withdraw),
    ("/api/v3/accounts/universal-transfer", Withdraw),
    ("/api/v1/accounts/sub-transfer", Withdraw),
    ("/api/v2/accounts/sub-transfer", Withdraw),
    ("/api/v1/transfer-out", Withdraw),
    ("/api/v2/transfer-out", Withdraw),
    ("/api/v3/transfer-out", Withdraw),
    ("/api/v1/transfer-in", Withdraw),
    // Sub-accounts and their API keys.
    ("/api/v1/sub/user", Account),
    ("/api/v2/sub/user", Account),
    ("/api/v2/sub/user/created", Account),
    ("/api/v1/sub/api-key", Account),
    ("/api/v1/sub/api-key/update", Account),
    ("/api/v1/sub-accounts", Account),
    ("/api/v2/sub-accounts", Account),
    ("/api/v1/sub-accounts/{}", Account),
    ("/api/v3/sub/user/margin/enable", Account),
    ("/api/v3/sub/user/futures/enable", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// The placeholder secret and passphrase of the docs' Python example
    /// ("Signing a Message"); the docs publish no resulting signature, so the
    /// expected values were computed independently (Python `hmac`).
    const SECRET: &str = "api_secret";
    const PASSPHRASE: &str = "api_passphrase";
    const TS: u64 = 1_700_000_000_000;

    fn cred() -> Credential {
        Credential {
            api_key: Some("api_key".into()),
            api_secret: Some(SECRET.into()),
            passphrase: Some(PASSPHRASE.into()),
            ..Credential::default()
        }
    }

    fn at(r: &Request, v: KeyVersion) -> SignedRequest {
        sign_version(&cred(), r, &Context { clock: &FixedClock(TS), nonce: &FixedNonce(1) }, v).expect("sign")
    }

    const HMAC_PASSPHRASE: &str = "eNS/KpPhYZX0natiMyxtVdXb0JQDS0x+Eo1HCUkMkvM=";

    #[test]
    fn doc_example_get_accounts_version_2() {
        // Docs: str_to_sign = str(now) + 'GET' + '/api/v1/accounts'.
        let r = Request::new("GET", "/api/v1/accounts", "", "");
        let s = sign(&cred(), &r, &Context { clock: &FixedClock(TS), nonce: &FixedNonce(1) }).expect("sign");
        assert_eq!(
            s.headers,
            [
                ("KC-API-KEY".to_owned(), "api_key".to_owned()),
                ("KC-API-SIGN".to_owned(), "oBpwem5aQo1bcnFK8RE32BbchgdCP/4yMtK3QsuMlbc=".to_owned()),
                ("KC-API-TIMESTAMP".to_owned(), "1700000000000".to_owned()),
                ("KC-API-PASSPHRASE".to_owned(), HMAC_PASSPHRASE.to_owned()),
                ("KC-API-KEY-VERSION".to_owned(), "2".to_owned()),
            ]
        );
    }

    /// Key version 1 sends the passphrase in clear: the declaration follows
    /// the version every key is signed as.
    #[test]
    fn the_plaintext_declaration_follows_the_key_version() {
        assert_eq!(SCHEME.plaintext_header.is_some(), DEFAULT_KEY_VERSION == KeyVersion::V1);
        assert_eq!(SCHEME.plaintext_header, None);
    }

    #[test]
    fn versions_1_and_3() {
        let r = Request::new("GET", "/api/v1/accounts", "", "");
        let v1 = at(&r, KeyVersion::V1);
        assert_eq!(v1.header_value("KC-API-PASSPHRASE").expect("KC-API-PASSPHRASE"), PASSPHRASE);
        assert_eq!(v1.header_value("KC-API-KEY-VERSION").expect("KC-API-KEY-VERSION"), "1");
        let v3 = at(&r, KeyVersion::V3);
        assert_eq!(v3.header_value("KC-API-PASSPHRASE").expect("KC-API-PASSPHRASE"), HMAC_PASSPHRASE);
        assert_eq!(v3.header_value("KC-API-KEY-VERSION").expect("KC-API-KEY-VERSION"), "3");
        assert_eq!(
            v1.header_value("KC-API-SIGN").expect("KC-API-SIGN"),
            v3.header_value("KC-API-SIGN").expect("KC-API-SIGN")
        );
    }

    #[test]
    fn doc_example_query_is_signed_url_decoded_and_sent_as_given() {
        // Docs: for `/api/v1/sub/api-key?apiKey=67b3&subName=test&passphrase=abc%21%40%2311`
        // the signed URL is `/api/v1/sub/api-key?apiKey=67b3&subName=test&passphrase=abc!@#11`.
        let r = Request::new("GET", "/api/v1/sub/api-key", "apiKey=67b3&subName=test&passphrase=abc%21%40%2311", "");
        assert_eq!(
            prehash("1700000000000", &r),
            b"1700000000000GET/api/v1/sub/api-key?apiKey=67b3&subName=test&passphrase=abc!@#11"
        );
        let s = at(&r, KeyVersion::V2);
        assert_eq!(s.header_value("KC-API-SIGN").expect("KC-API-SIGN"), "6VlVZm8fra9JYyVs8+vAP/jyARG1W/vsQtWofReuBeQ=");
        assert_eq!(s.query, "apiKey=67b3&subName=test&passphrase=abc%21%40%2311");
    }

    #[test]
    fn post_body_is_signed_and_sent_verbatim() {
        let body = r#"{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"BTC-USDT","type":"limit","price":"10000","size":"0.001"}"#;
        let s = at(&Request::new("POST", "/api/v1/hf/orders", "", body), KeyVersion::V2);
        assert_eq!(s.header_value("KC-API-SIGN").expect("KC-API-SIGN"), "ChCR3G34Z5JN4lhQW23e/l2asu1boDLQREWfnWCvXxQ=");
        assert_eq!(s.body, body);
    }

    #[test]
    fn percent_decoding_edges() {
        let mut out = Vec::new();
        percent_decode_into(b"a%2Fb%zz%4+c%", &mut out);
        assert_eq!(out, b"a/b%zz%4+c%");
    }

    #[test]
    fn timestamp_comes_from_the_clock() {
        let s = sign(
            &cred(),
            &Request::new("GET", "/api/v1/accounts", "", ""),
            &Context { clock: &FixedClock(123), nonce: &FixedNonce(9) },
        )
        .expect("sign");
        assert_eq!(s.header_value("KC-API-TIMESTAMP").expect("KC-API-TIMESTAMP"), "123");
    }

    #[test]
    fn missing_fields() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request::new("GET", "/api/v1/accounts", "", "");
        let mut c = cred();
        c.passphrase = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("passphrase")));
        let mut c = cred();
        c.api_secret = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_secret")));
        let mut c = cred();
        c.api_key = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_key")));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v1/accounts"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v1/accounts/ledgers"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v1/hf/orders/active"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v1/hf/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v1/hf/orders/6717422bd51c29000775ea03"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v1/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v1/withdrawals"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v1/withdrawals/quotas"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v1/withdrawals/5bffb63303aa675e8bbe18f9"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v3/accounts/universal-transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v1/sub/api-key"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v2/sub/user/created"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v1/market/allTickers"), Unknown);
    }
}
