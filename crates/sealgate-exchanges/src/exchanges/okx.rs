//! OKX API v5, "REST Authentication → Making Requests" and "Signature" of
//! the OKX API v5 docs (Overview → REST Authentication):
//! - `OK-ACCESS-KEY`: the API key;
//! - `OK-ACCESS-TIMESTAMP`: UTC time in ISO 8601 with milliseconds
//!   (`2020-12-08T09:08:57.715Z`);
//! - `OK-ACCESS-SIGN`: base64 of HMAC-SHA256(secret, timestamp + METHOD +
//!   requestPath + body), where a GET's parameters belong to requestPath
//!   (`/api/v5/account/balance?ccy=BTC`) and body is the raw JSON body
//!   (empty when there is none);
//! - `OK-ACCESS-PASSPHRASE`: the passphrase chosen with the key, in clear.
//!
//! The secret is used as its UTF-8 text (not decoded). OKX carries the
//! timestamp in a header only, so it always comes from the clock: the
//! request has nowhere to carry one.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "okx",
    name: "OKX (API v5)",
    key_types: &["hmac"],
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
    plaintext_header: Some("OK-ACCESS-PASSPHRASE"),
    answer,
    // https://www.okx.com/docs-v5/en/#public-data-rest-api-get-system-time
    time: Some(crate::TimeEndpoint {
        path: "/api/v5/public/time",
        parse: |b| crate::send::num(crate::send::parse(b)?.pointer("/data/0/ts")?.clone()),
    }),
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// OKX v5: the top-level `"code":"50102"` ("Timestamp request expired", in
/// the REST error-code table). Order results carry their own `sCode`s and
/// the caller's `clOrdId` inside `data`: never read here.
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_str(body, "code", "50102") {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let passphrase = cred.passphrase()?;
    let ts = iso8601_ms(ctx.clock.now_ms());
    let signature = sig::b64(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[prehash(&ts, req).as_bytes()]).as_ref());
    Ok(SignedRequest::from_request(req)
        .header("OK-ACCESS-KEY", api_key)
        .header("OK-ACCESS-SIGN", signature)
        .header("OK-ACCESS-TIMESTAMP", ts)
        .header("OK-ACCESS-PASSPHRASE", passphrase))
}

/// `timestamp + METHOD + requestPath(?query) + body`.
fn prehash(ts: &str, req: &Request) -> String {
    format!("{ts}{}{}{}", req.method, req.path_and_query(), req.body)
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (proleptic Gregorian, UTC).
fn iso8601_ms(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, sod) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm), in
    // unsigned arithmetic: shift the epoch to 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

/// Trading-account, order, funding and sub-account endpoints (paths, any method).
const ROUTES: &[Route] = &[
    // Trading account reads.
    ("/api/v5/account/balance", Read),
    ("/api/v5/account/positions", Read),
    ("/api/v5/account/positions-history", Read),
    ("/api/v5/account/account-position-risk", Read),
    ("/api/v5/account/bills", Read),
    ("/api/v5/account/bills-archive", Read),
    ("/api/v5/account/config", Read),
    ("/api/v5/account/max-size", Read),
    ("/api/v5/account/max-avail-size", Read),
    ("/api/v5/account/leverage-info", Read),
    ("/api/v5/account/max-loan", Read),
    ("/api/v5/account/trade-fee", Read),
    ("/api/v5/account/interest-accrued", Read),
    ("/api/v5/account/interest-rate", Read),
    ("/api/v5/account/interest-limits", Read),
    ("/api/v5/account/max-withdrawal", Read),
    ("/api/v5/account/risk-state", Read),
    ("/api/v5/account/greeks", Read),
    ("/api/v5/account/position-tiers", Read),
    ("/api/v5/account/borrow-repay-history", Read),
    ("/api/v5/account/instruments", Read),
    // Order and fill reads.
    ("/api/v5/trade/orders-pending", Read),
    ("/api/v5/trade/orders-history", Read),
    ("/api/v5/trade/orders-history-archive", Read),
    ("/api/v5/trade/fills", Read),
    ("/api/v5/trade/fills-history", Read),
    ("/api/v5/trade/orders-algo-pending", Read),
    ("/api/v5/trade/orders-algo-history", Read),
    ("/api/v5/trade/easy-convert-currency-list", Read),
    ("/api/v5/trade/easy-convert-history", Read),
    ("/api/v5/trade/one-click-repay-currency-list", Read),
    ("/api/v5/trade/one-click-repay-history", Read),
    // Funding account reads.
    ("/api/v5/asset/balances", Read),
    ("/api/v5/asset/asset-valuation", Read),
    ("/api/v5/asset/bills", Read),
    ("/api/v5/asset/currencies", Read),
    ("/api/v5/asset/deposit-history", Read),
    ("/api/v5/asset/withdrawal-history", Read),
    ("/api/v5/asset/transfer-state", Read),
    ("/api/v5/asset/deposit-withdraw-status", Read),
    ("/api/v5/asset/non-tradable-assets", Read),
    ("/api/v5/asset/convert/currencies", Read),
    ("/api/v5/asset/convert/currency-pair", Read),
    ("/api/v5/asset/convert/history", Read),
    ("/api/v5/asset/subaccount/balances", Read),
    ("/api/v5/asset/subaccount/bills", Read),
    ("/api/v5/account/subaccount/balances", Read),
    // Orders: `/api/v5/trade/order` and `/order-algo` both query (GET) and
    // place (POST), so the whole path is trade.
    ("/api/v5/trade/order", Trade),
    ("/api/v5/trade/batch-orders", Trade),
    ("/api/v5/trade/cancel-order", Trade),
    ("/api/v5/trade/cancel-batch-orders", Trade),
    ("/api/v5/trade/amend-order", Trade),
    ("/api/v5/trade/amend-batch-orders", Trade),
    ("/api/v5/trade/close-position", Trade),
    ("/api/v5/trade/mass-cancel", Trade),
    ("/api/v5/trade/cancel-all-after", Trade),
    ("/api/v5/trade/order-precheck", Trade),
    ("/api/v5/trade/order-algo", Trade),
    ("/api/v5/trade/cancel-algos", Trade),
    ("/api/v5/trade/amend-algos", Trade),
    ("/api/v5/trade/cancel-advance-algos", Trade),
    ("/api/v5/trade/easy-convert", Trade),
    ("/api/v5/trade/one-click-repay", Trade),
    ("/api/v5/asset/convert/estimate-quote", Trade),
    ("/api/v5/asset/convert/trade", Trade),
    // Trading-account settings that change positions and margin.
    ("/api/v5/account/set-leverage", Trade),
    ("/api/v5/account/set-position-mode", Trade),
    ("/api/v5/account/position/margin-balance", Trade),
    ("/api/v5/account/set-greeks", Trade),
    ("/api/v5/account/set-isolated-mode", Trade),
    ("/api/v5/account/borrow-repay", Trade),
    ("/api/v5/account/set-auto-loan", Trade),
    // Funds leaving the account or moving between accounts. A deposit
    // address may be created on first query, so it is withdraw-class.
    ("/api/v5/asset/withdrawal", Withdraw),
    ("/api/v5/asset/withdrawal-lightning", Withdraw),
    ("/api/v5/asset/cancel-withdrawal", Withdraw),
    ("/api/v5/asset/transfer", Withdraw),
    ("/api/v5/asset/subaccount/transfer", Withdraw),
    ("/api/v5/asset/deposit-address", Withdraw),
    ("/api/v5/asset/deposit-lightning", Withdraw),
    ("/api/v5/asset/broker/nd/subaccount-deposit-address", Withdraw),
    ("/api/v5/asset/broker/nd/modify-subaccount-deposit-address", Withdraw),
    // Keys and sub-accounts.
    ("/api/v5/users/subaccount/list", Account),
    ("/api/v5/users/subaccount/create-subaccount", Account),
    ("/api/v5/users/subaccount/apikey", Account),
    ("/api/v5/users/subaccount/modify-apikey", Account),
    ("/api/v5/users/subaccount/delete-apikey", Account),
    ("/api/v5/users/subaccount/set-transfer-out", Account),
    ("/api/v5/users/entrust-subaccount-list", Account),
    ("/api/v5/broker/nd/create-subaccount", Account),
    ("/api/v5/broker/nd/delete-subaccount", Account),
    ("/api/v5/broker/nd/subaccount/apikey", Account),
    ("/api/v5/broker/nd/subaccount/modify-apikey", Account),
    ("/api/v5/broker/nd/subaccount/delete-apikey", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// The example secret and timestamp of the OKX v5 docs ("REST
    /// Authentication → Signature"); the docs publish no resulting signature,
    /// so the expected values were computed independently (Python `hmac`).
    const SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
    const DOC_TS_MS: u64 = 1_607_418_537_715; // 2020-12-08T09:08:57.715Z

    fn cred() -> Credential {
        Credential {
            api_key: Some("key-1".into()),
            api_secret: Some(SECRET.into()),
            passphrase: Some("pass phrase".into()),
            ..Credential::default()
        }
    }

    fn sign_at(ms: u64, r: &Request) -> SignedRequest {
        sign(&cred(), r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) }).expect("sign")
    }

    #[test]
    fn doc_example_get_with_query() {
        // Docs: sign = Base64(HmacSHA256(timestamp + 'GET' + '/api/v5/account/balance?ccy=BTC', SecretKey)).
        let r = Request::new("GET", "/api/v5/account/balance", "ccy=BTC", "");
        assert_eq!(
            prehash("2020-12-08T09:08:57.715Z", &r),
            "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
        );
        let s = sign_at(DOC_TS_MS, &r);
        assert_eq!(
            s.headers,
            [
                ("OK-ACCESS-KEY".to_owned(), "key-1".to_owned()),
                ("OK-ACCESS-SIGN".to_owned(), "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY=".to_owned()),
                ("OK-ACCESS-TIMESTAMP".to_owned(), "2020-12-08T09:08:57.715Z".to_owned()),
                ("OK-ACCESS-PASSPHRASE".to_owned(), "pass phrase".to_owned()),
            ]
        );
        assert_eq!((s.query.as_str(), s.body.as_str()), ("ccy=BTC", ""));
    }

    #[test]
    fn doc_example_post_body_is_signed_verbatim() {
        // The docs' example body, signed and sent byte for byte.
        let body = r#"{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}"#;
        let s = sign_at(DOC_TS_MS, &Request::new("POST", "/api/v5/account/set-leverage", "", body));
        assert_eq!(
            s.header_value("OK-ACCESS-SIGN").expect("OK-ACCESS-SIGN"),
            "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="
        );
        assert_eq!(s.body, body);
    }

    #[test]
    fn timestamp_comes_from_the_clock() {
        let s = sign_at(1_709_251_199_999, &Request::new("GET", "/api/v5/account/balance", "", ""));
        assert_eq!(s.header_value("OK-ACCESS-TIMESTAMP").expect("OK-ACCESS-TIMESTAMP"), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn missing_fields() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request::new("GET", "/api/v5/account/balance", "", "");
        let mut c = cred();
        c.passphrase = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("passphrase")));
        let mut c = cred();
        c.api_secret = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_secret")));
        let mut c = cred();
        c.api_key = Some("".into());
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_key")));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v5/account/balance"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v5/trade/fills-history"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v5/trade/order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v5/trade/cancel-order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v5/trade/amend-order"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v5/asset/withdrawal"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v5/asset/transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v5/asset/subaccount/transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v5/users/subaccount/apikey"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v5/users/subaccount/create-subaccount"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v5/asset/withdrawalx"), Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v5/market/tickers"), Unknown);
    }
}
