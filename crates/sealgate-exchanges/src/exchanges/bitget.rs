//! Bitget API v2, "Signature" of the Bitget API docs (Common → Signature:
//! API Verification, Generate Signature, Sample Code; HMAC and RSA sample
//! code): headers `ACCESS-KEY`, `ACCESS-SIGN`, `ACCESS-TIMESTAMP` (Unix ms),
//! `ACCESS-PASSPHRASE`, `Content-Type: application/json` on every POST and
//! `locale: en-US`. `ACCESS-SIGN` is the base64 of HMAC-SHA256(secret, m)
//! (or, for an RSA key, of RSASSA-PKCS1-v1_5-SHA256(m)) with
//!
//! ```text
//! m = timestamp + METHOD + requestPath [+ "?" + queryString] + body
//! ```
//!
//! (`?queryString` only when there is a query). The docs require the query
//! string to be "sorted in ascending alphabetical order by key": since it is
//! signed and sent byte for byte, an unsorted query is refused rather than
//! re-ordered. Bitget's timestamp travels only in its header, so it always
//! comes from the clock.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::request::SigningKey;
use crate::{Context, Credential, Error, HeldKeyAlg, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "bitget",
    name: "Bitget (API v2)",
    key_types: &["hmac", "rsa"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: true,
        body: true,
        signs: "timestamp + METHOD + path?query + body",
    },
    plaintext_header: Some("ACCESS-PASSPHRASE"),
    answer,
    time: None,
    content_type,
    nonce_floor: super::no_nonce,
};

/// JSON on every `POST` (as [`sign`] sends it), and with any other body.
fn content_type(method: &str, body: &str) -> Option<&'static str> {
    (method == "POST" || !body.is_empty()).then_some(crate::send::JSON)
}

/// Bitget v2: `{"code":"40008","msg":"Request timestamp expired"}`.
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_str(body, "code", "40008") {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

/// The string Bitget signs.
fn message(ts: &str, req: &Request) -> String {
    let mut m = format!("{ts}{}{}", req.method, req.path);
    if !req.query.is_empty() {
        m.push('?');
        m.push_str(&req.query);
    }
    m.push_str(&req.body);
    m
}

/// Whether the query's keys are in ascending order (byte-wise).
fn sorted_by_key(query: &str) -> bool {
    let keys: Vec<&str> = query.split('&').map(|kv| kv.split('=').next().unwrap_or("")).collect();
    keys.windows(2).all(|w| w[0] <= w[1])
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    if !sorted_by_key(&req.query) {
        return Err(Error::BadRequest(
            "Bitget signs the query sorted by key: send its parameters in ascending key order",
        ));
    }
    let api_key = cred.api_key()?;
    let passphrase = cred.passphrase()?;
    let ts = ctx.clock.now_ms().to_string();
    let m = message(&ts, req);
    let signature = match cred.signing_key("give api_secret (HMAC) or private_key (RSA), not both")? {
        SigningKey::Hmac(secret) => sig::b64(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[m.as_bytes()]).as_ref()),
        SigningKey::Pem(pem) => sig::b64(&sig::rsa_pkcs1_sha256_sign(pem, m.as_bytes())?),
        SigningKey::Held(key) if key.alg() == HeldKeyAlg::RsaPkcs1Sha256 => sig::b64(&key.sign(m.as_bytes())?),
        SigningKey::Held(_) => return Err(Error::BadKey("Bitget takes RSA keys only")),
    };
    let mut out = SignedRequest::from_request(req)
        .header("ACCESS-KEY", api_key)
        .header("ACCESS-SIGN", signature)
        .header("ACCESS-TIMESTAMP", ts)
        .header("ACCESS-PASSPHRASE", passphrase);
    if req.method == "POST" {
        out = out.header("Content-Type", "application/json");
    }
    Ok(out.header("locale", "en-US"))
}

/// Private v2 endpoints (paths, any method).
const ROUTES: &[Route] = &[
    // Balances, bills, orders and fills, deposit/withdrawal records.
    ("/api/v2/common/trade-rate", Read),
    ("/api/v2/account/funding-assets", Read),
    ("/api/v2/account/bot-assets", Read),
    ("/api/v2/account/all-account-balance", Read),
    ("/api/v2/tax/spot-record", Read),
    ("/api/v2/tax/future-record", Read),
    ("/api/v2/tax/margin-record", Read),
    ("/api/v2/tax/p2p-record", Read),
    ("/api/v2/spot/account/info", Read),
    ("/api/v2/spot/account/assets", Read),
    ("/api/v2/spot/account/subaccount-assets", Read),
    ("/api/v2/spot/account/bills", Read),
    ("/api/v2/spot/account/sub-main-trans-record", Read),
    ("/api/v2/spot/account/transferRecords", Read),
    ("/api/v2/spot/account/deduct-info", Read),
    ("/api/v2/spot/account/upgrade-status", Read),
    ("/api/v2/spot/trade/orderInfo", Read),
    ("/api/v2/spot/trade/unfilled-orders", Read),
    ("/api/v2/spot/trade/history-orders", Read),
    ("/api/v2/spot/trade/fills", Read),
    ("/api/v2/spot/trade/current-plan-order", Read),
    ("/api/v2/spot/trade/plan-sub-order", Read),
    ("/api/v2/spot/trade/history-plan-order", Read),
    ("/api/v2/spot/wallet/transfer-coin-info", Read),
    ("/api/v2/spot/wallet/deposit-records", Read),
    ("/api/v2/spot/wallet/withdrawal-records", Read),
    ("/api/v2/spot/wallet/subaccount-deposit-records", Read),
    ("/api/v2/convert/currencies", Read),
    ("/api/v2/convert/quoted-price", Read),
    ("/api/v2/convert/convert-record", Read),
    ("/api/v2/convert/bgb-convert-coin-list", Read),
    ("/api/v2/convert/bgb-convert-records", Read),
    ("/api/v2/mix/account/account", Read),
    ("/api/v2/mix/account/accounts", Read),
    ("/api/v2/mix/account/sub-account-assets", Read),
    ("/api/v2/mix/account/interest-history", Read),
    ("/api/v2/mix/account/open-count", Read),
    ("/api/v2/mix/account/bill", Read),
    ("/api/v2/mix/account/transfer-limits", Read),
    ("/api/v2/mix/account/union-config", Read),
    ("/api/v2/mix/account/switch-union-usdt", Read),
    ("/api/v2/mix/account/max-open", Read),
    ("/api/v2/mix/account/liq-price", Read),
    ("/api/v2/mix/account/isolated-symbols", Read),
    ("/api/v2/mix/position/single-position", Read),
    ("/api/v2/mix/position/all-position", Read),
    ("/api/v2/mix/position/history-position", Read),
    ("/api/v2/mix/position/adlRank", Read),
    ("/api/v2/mix/order/detail", Read),
    ("/api/v2/mix/order/fills", Read),
    ("/api/v2/mix/order/fill-history", Read),
    ("/api/v2/mix/order/orders-pending", Read),
    ("/api/v2/mix/order/orders-history", Read),
    ("/api/v2/mix/order/plan-sub-order", Read),
    ("/api/v2/mix/order/orders-plan-pending", Read),
    ("/api/v2/mix/order/orders-plan-history", Read),
    ("/api/v2/margin/crossed/account/assets", Read),
    ("/api/v2/margin/crossed/account/risk-rate", Read),
    ("/api/v2/margin/crossed/account/max-borrowable-amount", Read),
    ("/api/v2/margin/crossed/account/max-transfer-out-amount", Read),
    ("/api/v2/margin/crossed/interest-rate-and-limit", Read),
    ("/api/v2/margin/crossed/tier-data", Read),
    ("/api/v2/margin/crossed/account/query-flash-repay-status", Read),
    ("/api/v2/margin/crossed/open-orders", Read),
    ("/api/v2/margin/crossed/history-orders", Read),
    ("/api/v2/margin/crossed/fills", Read),
    ("/api/v2/margin/crossed/liquidation-order", Read),
    ("/api/v2/margin/crossed/borrow-history", Read),
    ("/api/v2/margin/crossed/repay-history", Read),
    ("/api/v2/margin/crossed/interest-history", Read),
    ("/api/v2/margin/crossed/liquidation-history", Read),
    ("/api/v2/margin/crossed/financial-records", Read),
    ("/api/v2/margin/isolated/account/assets", Read),
    ("/api/v2/margin/isolated/account/risk-rate", Read),
    ("/api/v2/margin/isolated/account/max-borrowable-amount", Read),
    ("/api/v2/margin/isolated/account/max-transfer-out-amount", Read),
    ("/api/v2/margin/isolated/interest-rate-and-limit", Read),
    ("/api/v2/margin/isolated/tier-data", Read),
    ("/api/v2/margin/isolated/account/query-flash-repay-status", Read),
    ("/api/v2/margin/isolated/open-orders", Read),
    ("/api/v2/margin/isolated/history-orders", Read),
    ("/api/v2/margin/isolated/fills", Read),
    ("/api/v2/margin/isolated/liquidation-order", Read),
    ("/api/v2/margin/isolated/borrow-history", Read),
    ("/api/v2/margin/isolated/repay-history", Read),
    ("/api/v2/margin/isolated/interest-history", Read),
    ("/api/v2/margin/isolated/liquidation-history", Read),
    ("/api/v2/margin/isolated/financial-records", Read),
    // Orders (place, amend, cancel), futures position settings, borrowing,
    // conversions, fee-deduction and account-mode switches.
    ("/api/v2/spot/trade/place-order", Trade),
    ("/api/v2/spot/trade/cancel-replace-order", Trade),
    ("/api/v2/spot/trade/batch-cancel-replace-order", Trade),
    ("/api/v2/spot/trade/cancel-order", Trade),
    ("/api/v2/spot/trade/batch-orders", Trade),
    ("/api/v2/spot/trade/batch-cancel-order", Trade),
    ("/api/v2/spot/trade/cancel-symbol-order", Trade),
    ("/api/v2/spot/trade/place-plan-order", Trade),
    ("/api/v2/spot/trade/modify-plan-order", Trade),
    ("/api/v2/spot/trade/cancel-plan-order", Trade),
    ("/api/v2/spot/trade/batch-cancel-plan-order", Trade),
    ("/api/v2/spot/account/switch-deduct", Trade),
    ("/api/v2/spot/account/upgrade", Trade),
    ("/api/v2/convert/trade", Trade),
    ("/api/v2/convert/bgb-convert", Trade),
    ("/api/v2/mix/account/set-auto-margin", Trade),
    ("/api/v2/mix/account/set-leverage", Trade),
    ("/api/v2/mix/account/set-margin", Trade),
    ("/api/v2/mix/account/set-asset-mode", Trade),
    ("/api/v2/mix/account/set-margin-mode", Trade),
    ("/api/v2/mix/account/set-position-mode", Trade),
    ("/api/v2/mix/account/union-convert", Trade),
    ("/api/v2/mix/order/place-order", Trade),
    ("/api/v2/mix/order/click-backhand", Trade),
    ("/api/v2/mix/order/batch-place-order", Trade),
    ("/api/v2/mix/order/modify-order", Trade),
    ("/api/v2/mix/order/cancel-order", Trade),
    ("/api/v2/mix/order/batch-cancel-orders", Trade),
    ("/api/v2/mix/order/close-positions", Trade),
    ("/api/v2/mix/order/cancel-all-orders", Trade),
    ("/api/v2/mix/order/place-tpsl-order", Trade),
    ("/api/v2/mix/order/place-pos-tpsl", Trade),
    ("/api/v2/mix/order/place-plan-order", Trade),
    ("/api/v2/mix/order/modify-tpsl-order", Trade),
    ("/api/v2/mix/order/modify-plan-order", Trade),
    ("/api/v2/mix/order/cancel-plan-order", Trade),
    ("/api/v2/margin/crossed/account/borrow", Trade),
    ("/api/v2/margin/crossed/account/repay", Trade),
    ("/api/v2/margin/crossed/account/flash-repay", Trade),
    ("/api/v2/margin/crossed/place-order", Trade),
    ("/api/v2/margin/crossed/batch-place-order", Trade),
    ("/api/v2/margin/crossed/cancel-order", Trade),
    ("/api/v2/margin/crossed/batch-cancel-order", Trade),
    ("/api/v2/margin/isolated/account/borrow", Trade),
    ("/api/v2/margin/isolated/account/repay", Trade),
    ("/api/v2/margin/isolated/account/flash-repay", Trade),
    ("/api/v2/margin/isolated/place-order", Trade),
    ("/api/v2/margin/isolated/batch-place-order", Trade),
    ("/api/v2/margin/isolated/cancel-order", Trade),
    ("/api/v2/margin/isolated/batch-cancel-order", Trade),
    // Withdrawals (and their cancellation), transfers, deposit addresses
    // (which the endpoint creates when missing) and where deposits land.
    ("/api/v2/spot/wallet/withdrawal", Withdraw),
    ("/api/v2/spot/wallet/cancel-withdrawal", Withdraw),
    ("/api/v2/spot/wallet/transfer", Withdraw),
    ("/api/v2/spot/wallet/subaccount-transfer", Withdraw),
    ("/api/v2/spot/wallet/deposit-address", Withdraw),
    ("/api/v2/spot/wallet/subaccount-deposit-address", Withdraw),
    ("/api/v2/spot/wallet/modify-deposit-account", Withdraw),
    ("/api/v2/broker/account/subaccount-address", Withdraw),
    ("/api/v2/broker/account/subaccount-withdrawal", Withdraw),
    ("/api/v2/broker/account/set-subaccount-autotransfer", Withdraw),
    // Sub-accounts and their API keys.
    ("/api/v2/user/create-virtual-subaccount", Account),
    ("/api/v2/user/modify-virtual-subaccount", Account),
    ("/api/v2/user/batch-create-subaccount-and-apikey", Account),
    ("/api/v2/user/virtual-subaccount-list", Account),
    ("/api/v2/user/create-virtual-subaccount-apikey", Account),
    ("/api/v2/user/modify-virtual-subaccount-apikey", Account),
    ("/api/v2/user/virtual-subaccount-apikey-list", Account),
    ("/api/v2/user/create-agent-subaccount", Account),
    ("/api/v2/broker/account/create-subaccount", Account),
    ("/api/v2/broker/account/modify-subaccount", Account),
    ("/api/v2/broker/account/modify-subaccount-email", Account),
    ("/api/v2/broker/account/subaccount-list", Account),
    ("/api/v2/broker/manage/create-subaccount-apikey", Account),
    ("/api/v2/broker/manage/modify-subaccount-apikey", Account),
    ("/api/v2/broker/manage/delete-subaccount-apikey", Account),
    ("/api/v2/broker/manage/subaccount-apikey-list", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// "Sample Code" of the Signature page: timestamp 16273667805456.
    const TS: u64 = 16_273_667_805_456;
    const ORDER: &str = r#"{"productType":"usdt-futures","symbol":"BTCUSDT","size":"8","marginMode":"crossed","side":"buy","orderType":"limit","clientOid":"channel#123456"}"#;

    fn cred() -> Credential {
        Credential {
            api_key: Some("key".into()),
            api_secret: Some("secret".into()),
            passphrase: Some("pass".into()),
            ..Credential::default()
        }
    }

    fn sign_at(ms: u64, c: &Credential, r: &Request) -> Result<SignedRequest, Error> {
        sign(c, r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) })
    }

    /// The docs publish the strings to sign, not a key and signature: the
    /// signatures below are `openssl dgst -sha256 -hmac secret -binary |
    /// base64` of the documented strings.
    #[test]
    fn doc_example_get_depth() {
        let r = Request::new("GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT", "");
        assert_eq!(message(&TS.to_string(), &r), "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT");
        let s = sign_at(TS, &cred(), &r).expect("sign");
        assert_eq!(
            s.headers,
            [
                ("ACCESS-KEY".to_owned(), "key".to_owned()),
                ("ACCESS-SIGN".to_owned(), "RI9g5pCkEX/+tr0RueyMGckGzeuXz9BiN78aBgIEayo=".to_owned()),
                ("ACCESS-TIMESTAMP".to_owned(), "16273667805456".to_owned()),
                ("ACCESS-PASSPHRASE".to_owned(), "pass".to_owned()),
                ("locale".to_owned(), "en-US".to_owned()),
            ]
        );
        assert_eq!(s.query, "limit=20&symbol=BTCUSDT");
    }

    #[test]
    fn doc_example_post_place_order() {
        let r = Request::new("POST", "/api/v2/mix/order/place-order", "", ORDER);
        assert_eq!(message(&TS.to_string(), &r), format!("16273667805456POST/api/v2/mix/order/place-order{ORDER}"));
        let s = sign_at(TS, &cred(), &r).expect("sign");
        assert_eq!(s.header_value("ACCESS-SIGN"), Some("B+F/S8RrcaaWQf38DVONt9xA1CukVRwgy7IbzR8gytg="));
        assert_eq!(s.header_value("Content-Type"), Some("application/json"));
        assert_eq!(s.body, ORDER);
    }

    #[test]
    fn timestamp_comes_from_the_clock_in_ms() {
        let s = sign_at(1_700_000_000_123, &cred(), &Request::new("GET", "/api/v2/spot/account/assets", "", ""))
            .expect("sign");
        assert_eq!(s.header_value("ACCESS-TIMESTAMP"), Some("1700000000123"));
        assert_eq!(s.header_value("Content-Type"), None);
    }

    #[test]
    fn unsorted_query_is_refused() {
        let r = Request::new("GET", "/api/v2/mix/market/depth", "symbol=BTCUSDT&limit=20", "");
        assert!(matches!(sign_at(TS, &cred(), &r), Err(Error::BadRequest(_))));
    }

    #[test]
    fn rsa_key_signs_verifiably() {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        use base64::Engine as _;
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let der = rsa.as_der().expect("der");
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, der.as_ref()).expect("pem");
        let c = Credential {
            api_key: Some("key".into()),
            private_key: Some(pem.into()),
            passphrase: Some("pass".into()),
            ..Credential::default()
        };
        let r = Request::new("POST", "/api/v2/mix/order/place-order", "", ORDER);
        let s = sign_at(TS, &c, &r).expect("sign");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.header_value("ACCESS-SIGN").expect("sign"))
            .expect("b64");
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            rsa.public_key().as_ref(),
        )
        .verify(message(&TS.to_string(), &r).as_bytes(), &raw)
        .expect("verifies");
    }

    #[test]
    fn missing_fields() {
        let r = Request::new("GET", "/api/v2/spot/account/assets", "", "");
        let mut c = cred();
        c.passphrase = None;
        assert_eq!(sign_at(1, &c, &r).expect_err("no passphrase"), Error::MissingField("passphrase"));
        let mut c = cred();
        c.api_secret = None;
        assert_eq!(sign_at(1, &c, &r).expect_err("no secret"), Error::MissingField("api_secret"));
        let mut c = cred();
        c.api_key = None;
        assert_eq!(sign_at(1, &c, &r).expect_err("no key"), Error::MissingField("api_key"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/account/assets"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/trade/fills"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/trade/unfilled-orders"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/margin/isolated/account/assets"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/trade/place-order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/mix/order/cancel-order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/mix/order/modify-order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/margin/crossed/account/borrow"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/wallet/withdrawal"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/wallet/subaccount-transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/wallet/deposit-address"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/user/create-virtual-subaccount-apikey"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v2/spot/market/tickers"), Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v2/margin/other/place-order"), Unknown);
    }
}
