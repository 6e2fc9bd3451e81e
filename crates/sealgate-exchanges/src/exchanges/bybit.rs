//! Bybit API v5, "Integration Guidance → Authentication → Parameters for
//! Authenticated Endpoints / Create A Request" of the Bybit v5 docs:
//! - `X-BAPI-API-KEY`: the API key;
//! - `X-BAPI-TIMESTAMP`: UTC Unix milliseconds;
//! - `X-BAPI-RECV-WINDOW`: validity in milliseconds (we send the documented
//!   default, 5000);
//! - `X-BAPI-SIGN`: over `timestamp + api_key + recv_window + payload`, where
//!   payload is the raw query string of a GET, the raw JSON body of a POST:
//!   - system-generated (HMAC) keys: lower-case hex of HMAC-SHA256(secret, …);
//!   - self-generated (RSA) keys: base64 of RSASSA-PKCS1-v1_5-SHA256(…) with
//!     the PEM private key (`private_key`).
//!
//! Only the payload of its method is signed, so a GET with a body or a POST
//! with a query string is refused (the extra part would travel unsigned).
//! The timestamp and window travel in headers only: they come from the clock.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::request::SigningKey;
use crate::{Context, Credential, Error, HeldKeyAlg, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "bybit",
    name: "Bybit (API v5)",
    key_types: &["hmac", "rsa"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: false,
        query: false,
        body: false,
        signs: "timestamp + api key + recv window + the query (GET) or the body (other methods)",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// Bybit v5: `"retCode":10002` ("The request time exceeds the time window
/// range"; "Error Codes → HTTP Code").
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_int(body, "retCode", 10002) {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

/// The documented default `X-BAPI-RECV-WINDOW`.
const RECV_WINDOW: &str = "5000";

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let payload = if req.method == "GET" {
        if !req.body.is_empty() {
            return Err(Error::BadRequest("Bybit signs a GET's query only: a body would go unsigned"));
        }
        &req.query
    } else {
        if !req.query.is_empty() {
            return Err(Error::BadRequest("Bybit signs a POST's body only: a query string would go unsigned"));
        }
        &req.body
    };
    let ts = ctx.clock.now_ms().to_string();
    let plain = prehash(&ts, api_key, RECV_WINDOW, payload);
    let signature = match cred.signing_key("give api_secret (HMAC) or private_key (RSA), not both")? {
        SigningKey::Hmac(secret) => sig::hex(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[plain.as_bytes()]).as_ref()),
        SigningKey::Pem(pem) => sig::b64(&sig::rsa_pkcs1_sha256_sign(pem, plain.as_bytes())?),
        SigningKey::Held(key) if key.alg() == HeldKeyAlg::RsaPkcs1Sha256 => sig::b64(&key.sign(plain.as_bytes())?),
        SigningKey::Held(_) => return Err(Error::BadKey("Bybit takes RSA keys only")),
    };
    Ok(SignedRequest::from_request(req)
        .header("X-BAPI-API-KEY", api_key)
        .header("X-BAPI-TIMESTAMP", ts)
        .header("X-BAPI-RECV-WINDOW", RECV_WINDOW)
        .header("X-BAPI-SIGN", signature))
}

/// `timestamp + api_key + recv_window + (queryString | jsonBodyString)`.
fn prehash(ts: &str, api_key: &str, recv_window: &str, payload: &str) -> String {
    format!("{ts}{api_key}{recv_window}{payload}")
}

/// Unified-account v5 endpoints (paths, any method).
const ROUTES: &[Route] = &[
    // Account, positions, orders and executions (reads).
    ("/v5/account/wallet-balance", Read),
    ("/v5/account/info", Read),
    ("/v5/account/fee-rate", Read),
    ("/v5/account/transaction-log", Read),
    ("/v5/account/contract-transaction-log", Read),
    ("/v5/account/borrow-history", Read),
    ("/v5/account/collateral-info", Read),
    ("/v5/account/mmp-state", Read),
    ("/v5/order/realtime", Read),
    ("/v5/order/history", Read),
    ("/v5/order/spot-borrow-check", Read),
    ("/v5/execution/list", Read),
    ("/v5/position/list", Read),
    ("/v5/position/closed-pnl", Read),
    ("/v5/asset/coin/query-info", Read),
    ("/v5/asset/transfer/query-asset-info", Read),
    ("/v5/asset/transfer/query-account-coins-balance", Read),
    ("/v5/asset/transfer/query-account-coin-balance", Read),
    ("/v5/asset/transfer/query-transfer-coin-list", Read),
    ("/v5/asset/transfer/query-inter-transfer-list", Read),
    ("/v5/asset/transfer/query-universal-transfer-list", Read),
    ("/v5/asset/deposit/query-record", Read),
    ("/v5/asset/deposit/query-sub-member-record", Read),
    ("/v5/asset/deposit/query-internal-record", Read),
    ("/v5/asset/withdraw/query-record", Read),
    ("/v5/asset/withdraw/withdrawable-amount", Read),
    ("/v5/asset/exchange/order-record", Read),
    ("/v5/asset/exchange/query-coin-list", Read),
    ("/v5/asset/exchange/convert-result-query", Read),
    ("/v5/asset/exchange/query-convert-history", Read),
    ("/v5/asset/delivery-record", Read),
    ("/v5/asset/settlement-record", Read),
    ("/v5/user/query-api", Read),
    ("/v5/user/get-member-type", Read),
    // Orders, positions and margin settings.
    ("/v5/order/create", Trade),
    ("/v5/order/amend", Trade),
    ("/v5/order/cancel", Trade),
    ("/v5/order/cancel-all", Trade),
    ("/v5/order/create-batch", Trade),
    ("/v5/order/amend-batch", Trade),
    ("/v5/order/cancel-batch", Trade),
    ("/v5/order/disconnected-cancel-all", Trade),
    ("/v5/position/set-leverage", Trade),
    ("/v5/position/switch-isolated", Trade),
    ("/v5/position/switch-mode", Trade),
    ("/v5/position/trading-stop", Trade),
    ("/v5/position/set-auto-add-margin", Trade),
    ("/v5/position/add-margin", Trade),
    ("/v5/position/set-tpsl-mode", Trade),
    ("/v5/position/set-risk-limit", Trade),
    ("/v5/account/set-margin-mode", Trade),
    ("/v5/account/set-collateral-switch", Trade),
    ("/v5/account/upgrade-to-uta", Trade),
    ("/v5/account/mmp-modify", Trade),
    ("/v5/account/mmp-reset", Trade),
    ("/v5/asset/exchange/quote-apply", Trade),
    ("/v5/asset/exchange/convert-execute", Trade),
    // Funds leaving the account or moving between accounts; querying a
    // deposit address may create one, so it is withdraw-class.
    ("/v5/asset/withdraw/create", Withdraw),
    ("/v5/asset/withdraw/cancel", Withdraw),
    ("/v5/asset/transfer/inter-transfer", Withdraw),
    ("/v5/asset/transfer/universal-transfer", Withdraw),
    ("/v5/asset/transfer/save-transfer-sub-member", Withdraw),
    ("/v5/asset/deposit/deposit-to-account", Withdraw),
    ("/v5/asset/deposit/query-address", Withdraw),
    ("/v5/asset/deposit/query-sub-member-address", Withdraw),
    // Sub-accounts and API keys.
    ("/v5/user/create-sub-member", Account),
    ("/v5/user/create-sub-api", Account),
    ("/v5/user/query-sub-members", Account),
    ("/v5/user/submembers", Account),
    ("/v5/user/frozen-sub-member", Account),
    ("/v5/user/del-submember", Account),
    ("/v5/user/sub-apikeys", Account),
    ("/v5/user/update-api", Account),
    ("/v5/user/update-sub-api", Account),
    ("/v5/user/delete-api", Account),
    ("/v5/user/delete-sub-api", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// The docs' placeholder API key ("Create A Request" examples).
    const KEY: &str = "XXXXXXXXXX";
    const SECRET: &str = "bybit-secret";

    fn cred() -> Credential {
        Credential { api_key: Some(KEY.into()), api_secret: Some(SECRET.into()), ..Credential::default() }
    }

    fn at(c: &Credential, r: &Request, ms: u64) -> Result<SignedRequest, Error> {
        sign(c, r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) })
    }

    // The docs print the plain text to sign (param_str) but no signature;
    // the expected HMACs were computed independently (Python `hmac`).

    #[test]
    fn doc_example_get() {
        let r = Request::new("GET", "/v5/order/realtime", "category=option&symbol=BTC-29JUL22-25000-C", "");
        assert_eq!(
            prehash("1658384314791", KEY, "5000", &r.query),
            "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
        );
        let s = at(&cred(), &r, 1_658_384_314_791).expect("sign");
        assert_eq!(
            s.headers,
            [
                ("X-BAPI-API-KEY".to_owned(), KEY.to_owned()),
                ("X-BAPI-TIMESTAMP".to_owned(), "1658384314791".to_owned()),
                ("X-BAPI-RECV-WINDOW".to_owned(), "5000".to_owned()),
                (
                    "X-BAPI-SIGN".to_owned(),
                    "974354a889c999f3d8371f5191422ce329641142fa1f23e55e749ce2e82999ae".to_owned()
                ),
            ]
        );
        assert_eq!(s.query, "category=option&symbol=BTC-29JUL22-25000-C");
    }

    #[test]
    fn doc_example_post_raw_body() {
        // The docs' raw body, newlines included, is signed and sent verbatim.
        let body = "{\n\"category\": \"option\"\n}";
        let r = Request::new("POST", "/v5/order/create", "", body);
        assert_eq!(prehash("1658385579423", KEY, "5000", body), format!("1658385579423XXXXXXXXXX5000{body}"));
        let s = at(&cred(), &r, 1_658_385_579_423).expect("sign");
        assert_eq!(
            s.header_value("X-BAPI-SIGN").expect("X-BAPI-SIGN"),
            "79596df7772535331fad3d12f85e82257115107d1e7c831444ab435966af65cc"
        );
        assert_eq!(s.body, body);
    }

    #[test]
    fn timestamp_comes_from_the_clock() {
        let s = at(&cred(), &Request::new("GET", "/v5/account/wallet-balance", "accountType=UNIFIED", ""), 42)
            .expect("sign");
        assert_eq!(s.header_value("X-BAPI-TIMESTAMP").expect("X-BAPI-TIMESTAMP"), "42");
    }

    #[test]
    fn unsigned_parts_are_refused() {
        let c = cred();
        assert!(matches!(at(&c, &Request::new("GET", "/v5/order/realtime", "", "{}"), 1), Err(Error::BadRequest(_))));
        assert!(matches!(at(&c, &Request::new("POST", "/v5/order/create", "a=1", "{}"), 1), Err(Error::BadRequest(_))));
    }

    #[test]
    fn rsa_key_signs_verifiably() {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        use base64::Engine as _;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let der = rsa.as_der().expect("der");
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der.as_ref()).expect("pem");
        let c = Credential { api_key: Some(KEY.into()), private_key: Some(pem.into()), ..Credential::default() };
        let body = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}"#;
        let s = at(&c, &Request::new("POST", "/v5/order/create", "", body), 1_700_000_000_000).expect("sign");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.header_value("X-BAPI-SIGN").expect("X-BAPI-SIGN"))
            .expect("base64");
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            rsa.public_key().as_ref(),
        )
        .verify(format!("1700000000000{KEY}5000{body}").as_bytes(), &raw)
        .expect("verifies");
    }

    #[test]
    fn missing_fields() {
        let r = Request::new("GET", "/v5/account/wallet-balance", "", "");
        let mut c = cred();
        c.api_key = None;
        assert_eq!(at(&c, &r, 1), Err(Error::MissingField("api_key")));
        let mut c = cred();
        c.api_secret = None;
        assert_eq!(at(&c, &r, 1), Err(Error::MissingField("api_secret")));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/v5/account/wallet-balance"), Read);
        assert_eq!(classify_path(ROUTES, "/v5/execution/list"), Read);
        assert_eq!(classify_path(ROUTES, "/v5/order/create"), Trade);
        assert_eq!(classify_path(ROUTES, "/v5/order/cancel-all"), Trade);
        assert_eq!(classify_path(ROUTES, "/v5/asset/withdraw/create"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v5/asset/transfer/universal-transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v5/user/create-sub-api"), Account);
        assert_eq!(classify_path(ROUTES, "/v5/user/delete-api"), Account);
        assert_eq!(classify_path(ROUTES, "/v5/market/tickers"), Unknown);
    }
}
