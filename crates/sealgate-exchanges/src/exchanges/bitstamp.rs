//! Bitstamp HTTP API v2, "Authentication" of the Bitstamp API docs
//! (bitstamp.net/api → Authentication, the `X-Auth` headers and the Python
//! example): the headers
//! - `X-Auth`: `BITSTAMP ` + API key;
//! - `X-Auth-Signature`: hex HMAC-SHA256(secret, message);
//! - `X-Auth-Nonce`: a lowercase 36-character string, used once within
//!   150 seconds;
//! - `X-Auth-Timestamp`: Unix milliseconds (within 150 s of the server);
//! - `X-Auth-Version`: `v2`;
//! - `Content-Type`: `application/x-www-form-urlencoded`, only when there is
//!   a body: with an empty body the header is not sent and the content type
//!   is left out of the message.
//!
//! message = `BITSTAMP ` + key + METHOD + `www.bitstamp.net` + path +
//! query (`?` + query when there is one, else nothing) + content type +
//! nonce + timestamp + `v2` + body, concatenated without separators.
//!
//! The nonce is the credential's next nonce (clock in milliseconds as
//! floor) written as 32 lowercase hex digits in the 8-4-4-4-12 UUID shape:
//! unique per credential, as the docs require, and reproducible from the
//! injected nonce source.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "bitstamp",
    name: "Bitstamp (API v2)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: true,
        path: true,
        query: true,
        body: true,
        signs: "key + METHOD + host + path + ?query + content type + nonce + timestamp + body",
    },
    plaintext_header: None,
    answer: crate::send::never,
    time: None,
    content_type: crate::send::form_body,
    nonce_floor,
};

const HOST: &str = "www.bitstamp.net";
const FORM: &str = "application/x-www-form-urlencoded";

/// Milliseconds: every request draws one.
fn nonce_floor(_: &Request, now_ms: u64) -> Option<u64> {
    Some(now_ms)
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let x_auth = format!("BITSTAMP {}", cred.api_key()?);
    let secret = cred.api_secret()?;
    let timestamp = ctx.clock.now_ms();
    let nonce = uuid_shape(ctx.nonce.next_nonce(timestamp));
    let timestamp = timestamp.to_string();
    let content_type = if req.body.is_empty() { "" } else { FORM };
    let query = if req.query.is_empty() { String::new() } else { format!("?{}", req.query) };
    let mac = sig::hmac(
        HMAC_SHA256,
        secret.as_bytes(),
        &[
            x_auth.as_bytes(),
            req.method.as_bytes(),
            HOST.as_bytes(),
            req.path.as_bytes(),
            query.as_bytes(),
            content_type.as_bytes(),
            nonce.as_bytes(),
            timestamp.as_bytes(),
            b"v2",
            req.body.as_bytes(),
        ],
    );
    let mut out = SignedRequest::from_request(req)
        .header("X-Auth", x_auth)
        .header("X-Auth-Signature", sig::hex(mac.as_ref()))
        .header("X-Auth-Nonce", nonce)
        .header("X-Auth-Timestamp", timestamp)
        .header("X-Auth-Version", "v2");
    if !content_type.is_empty() {
        out = out.header("Content-Type", content_type);
    }
    Ok(out)
}

/// `n` as 32 lowercase hex digits, grouped 8-4-4-4-12 (36 characters).
fn uuid_shape(n: u64) -> String {
    let h = format!("{:032x}", u128::from(n));
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The table, with a withdrawal and a deposit-address endpoint for each
/// listed currency (`/api/v2/{currency}_withdrawal/`,
/// `/api/v2/{currency}_address/`); a currency not listed is `unknown`.
macro_rules! routes {
    ([$($fixed:expr,)*] currencies [$($c:literal),* $(,)?]) => {
        &[
            $($fixed,)*
            $(
                (concat!("/api/v2/", $c, "_withdrawal/"), Withdraw),
                (concat!("/api/v2/", $c, "_address/"), Withdraw),
            )*
        ]
    };
}

/// Private endpoints (all POST, every path ends with `/`; `{}` is a market
/// such as `btcusd` or a currency).
const ROUTES: &[Route] = routes!(
    [
        // Balances, transactions, orders, fees.
        ("/api/v2/account_balances/", Read),
        ("/api/v2/account_balances/{}/", Read),
        ("/api/v2/balance/", Read),
        ("/api/v2/balance/{}/", Read),
        ("/api/v2/user_transactions/", Read),
        ("/api/v2/user_transactions/{}/", Read),
        ("/api/v2/crypto-transactions/", Read),
        ("/api/v2/open_orders/all/", Read),
        ("/api/v2/open_orders/{}/", Read),
        ("/api/v2/order_status/", Read),
        ("/api/v2/fees/trading/", Read),
        ("/api/v2/fees/trading/{}/", Read),
        ("/api/v2/fees/withdrawal/", Read),
        ("/api/v2/fees/withdrawal/{}/", Read),
        ("/api/v2/withdrawal-requests/", Read),
        ("/api/v2/withdrawal/status/", Read),
        ("/api/v2/my_markets/", Read),
        ("/api/v2/earn/subscriptions/", Read),
        ("/api/v2/earn/transactions/", Read),
        ("/api/v2/liquidation_address/info/", Read),
        ("/api/v2/travel_rule/vasps/", Read),
        // Orders.
        ("/api/v2/buy/{}/", Trade),
        ("/api/v2/sell/{}/", Trade),
        ("/api/v2/buy/market/{}/", Trade),
        ("/api/v2/sell/market/{}/", Trade),
        ("/api/v2/buy/instant/{}/", Trade),
        ("/api/v2/sell/instant/{}/", Trade),
        ("/api/v2/cancel_order/", Trade),
        ("/api/v2/cancel_all_orders/", Trade),
        ("/api/v2/cancel_all_orders/{}/", Trade),
        ("/api/v2/replace_order/", Trade),
        // Funds leaving the account or moving between accounts; addresses
        // that receive funds; travel-rule contacts (listed and created).
        ("/api/v2/withdrawal/open/", Withdraw),
        ("/api/v2/withdrawal/cancel/", Withdraw),
        ("/api/v2/transfer-to-main/", Withdraw),
        ("/api/v2/transfer-from-main/", Withdraw),
        ("/api/v2/earn/subscribe/", Withdraw),
        ("/api/v2/earn/unsubscribe/", Withdraw),
        ("/api/v2/liquidation_address/new/", Withdraw),
        ("/api/v2/ripple_withdrawal/", Withdraw),
        ("/api/v2/ripple_address/", Withdraw),
        ("/api/v2/travel_rule/contacts/", Withdraw),
        // The token that opens the private WebSocket channels.
        ("/api/v2/websockets_token/", Account),
    ]
    currencies [
        "btc", "eth", "ltc", "bch", "xrp", "xlm", "usdc", "usdt", "pax", "dai", "eurc", "link", "aave", "uni", "sol",
        "ada", "dot", "doge", "avax", "matic", "shib", "algo", "near", "hbar",
    ]
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::classify_path;
    use crate::{EndpointClass, FixedClock, FixedNonce};

    fn cred() -> Credential {
        Credential { api_key: Some("KEY".into()), api_secret: Some("SECRET".into()), ..Credential::default() }
    }

    fn sign_at(r: &Request) -> SignedRequest {
        let ctx = Context { clock: &FixedClock(1_700_000_000_123), nonce: &FixedNonce(1_700_000_000_124) };
        sign(&cred(), r, &ctx).expect("sign")
    }

    /// The docs' Python example (POST /api/v2/user_transactions/ with
    /// `offset=1`), with a fixed nonce and timestamp since the docs print no
    /// signature; checked against `openssl dgst -sha256 -hmac SECRET` of the
    /// same message.
    #[test]
    fn documented_example_construction() {
        let s = sign_at(&Request::new("POST", "/api/v2/user_transactions/", "", "offset=1"));
        let nonce = "00000000-0000-0000-0000-018bcfe5687c";
        let h = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        assert_eq!(
            s.headers,
            [
                h("X-Auth", "BITSTAMP KEY"),
                h("X-Auth-Signature", "d831b429bbe1fa9c2681d477353f1e5a7333276e91c84f3251a4090aca57782c"),
                h("X-Auth-Nonce", nonce),
                h("X-Auth-Timestamp", "1700000000123"),
                h("X-Auth-Version", "v2"),
                h("Content-Type", "application/x-www-form-urlencoded"),
            ]
        );
        assert_eq!(s.body, "offset=1");
    }

    #[test]
    fn empty_body_has_no_content_type() {
        let s = sign_at(&Request::new("POST", "/api/v2/account_balances/", "", ""));
        assert!(s.headers.iter().all(|(n, _)| n != "Content-Type"));
        let msg = "BITSTAMP KEYPOSTwww.bitstamp.net/api/v2/account_balances/00000000-0000-0000-0000-018bcfe5687c1700000000123v2";
        let mac = sig::hmac(HMAC_SHA256, b"SECRET", &[msg.as_bytes()]);
        assert_eq!(s.header_value("X-Auth-Signature").expect("X-Auth-Signature"), sig::hex(mac.as_ref()));
    }

    #[test]
    fn query_is_signed_with_its_question_mark() {
        let s = sign_at(&Request::new("GET", "/api/v2/user_transactions/", "limit=5", ""));
        let msg = "BITSTAMP KEYGETwww.bitstamp.net/api/v2/user_transactions/?limit=500000000-0000-0000-0000-018bcfe5687c1700000000123v2";
        let mac = sig::hmac(HMAC_SHA256, b"SECRET", &[msg.as_bytes()]);
        assert_eq!(s.header_value("X-Auth-Signature").expect("X-Auth-Signature"), sig::hex(mac.as_ref()));
        assert_eq!(s.query, "limit=5");
    }

    #[test]
    fn nonce_is_a_36_char_lowercase_string() {
        let n = uuid_shape(u64::MAX);
        assert_eq!(n, "00000000-0000-0000-ffff-ffffffffffff");
        assert_eq!(uuid_shape(0).len(), 36);
    }

    #[test]
    fn missing_credentials() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request::new("POST", "/api/v2/account_balances/", "", "");
        let no_key = Credential { api_secret: Some("s".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
        let no_secret = Credential { api_key: Some("k".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v2/account_balances/"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/user_transactions/btcusd/"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/buy/btcusd/"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/sell/market/btcusd/"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/cancel_all_orders/"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/btc_withdrawal/"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/eth_address/"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/transfer-from-main/"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/websockets_token/"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v2/account_balances"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v2/zzz_withdrawal/"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v2/ticker/btcusd/"), EndpointClass::Unknown);
    }
}
