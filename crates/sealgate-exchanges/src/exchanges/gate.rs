//! Gate (Gate.io) API v4, "Authentication" of the Gate API v4 docs
//! ("APIv4 signed request requirements" and "API Signature string
//! generation"): headers `KEY` (the API key), `Timestamp` (Unix seconds,
//! within 60 s of the server's clock) and `SIGN`, the lower-case hex of
//! HMAC-SHA512(secret, signature string) where the signature string is
//!
//! ```text
//! METHOD "\n" request-url "\n" query "\n" hex(SHA512(body)) "\n" Timestamp
//! ```
//!
//! with request-url the path as sent (it carries the `/api/v4` prefix), the
//! query string exactly as in the URL (not re-encoded, order kept, empty when
//! there is none) and the SHA-512 of the empty string when there is no body.
//!
//! Gate's timestamp travels only in the `Timestamp` header, never in the
//! request, so it always comes from the clock. A JSON body gets
//! `Content-Type: application/json`, as the docs' example sends.

use aws_lc_rs::digest::SHA512;
use aws_lc_rs::hmac::HMAC_SHA512;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "gate",
    name: "Gate (API v4)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: true,
        body: true,
        signs: "METHOD + path + query + SHA-512(body) + timestamp",
    },
    plaintext_header: None,
    answer,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// Gate v4: `{"label":"REQUEST_EXPIRED",…}` ("Error codes": the request
/// timestamp is more than 60 s away from the server's).
fn answer(_status: u16, body: &[u8]) -> crate::Answer {
    if crate::send::top_str(body, "label", "REQUEST_EXPIRED") {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let secret = cred.api_secret()?;
    let ts = (ctx.clock.now_ms() / 1000).to_string();
    let body_hash = sig::hex(sig::digest(&SHA512, &[req.body.as_bytes()]).as_ref());
    let tag = sig::hmac(
        HMAC_SHA512,
        secret.as_bytes(),
        &[
            req.method.as_bytes(),
            b"\n",
            req.path.as_bytes(),
            b"\n",
            req.query.as_bytes(),
            b"\n",
            body_hash.as_bytes(),
            b"\n",
            ts.as_bytes(),
        ],
    );
    let mut out = SignedRequest::from_request(req).header("KEY", api_key).header("Timestamp", ts);
    out = out.header("SIGN", sig::hex(tag.as_ref()));
    if !req.body.is_empty() {
        out = out.header("Content-Type", "application/json");
    }
    Ok(out)
}

/// Private endpoints of API v4 (paths as sent, any method). `{}` stands for
/// a settle currency, currency pair, contract, order id or user id.
const ROUTES: &[Route] = &[
    // Wallet and account reads.
    ("/api/v4/wallet/total_balance", Read),
    ("/api/v4/wallet/fee", Read),
    ("/api/v4/wallet/deposits", Read),
    ("/api/v4/wallet/withdrawals", Read),
    ("/api/v4/wallet/withdraw_status", Read),
    ("/api/v4/wallet/saved_address", Read),
    ("/api/v4/wallet/order_status", Read),
    ("/api/v4/wallet/push", Read),
    ("/api/v4/wallet/small_balance_history", Read),
    ("/api/v4/wallet/sub_account_balances", Read),
    ("/api/v4/wallet/sub_account_margin_balances", Read),
    ("/api/v4/wallet/sub_account_futures_balances", Read),
    ("/api/v4/wallet/sub_account_cross_margin_balances", Read),
    ("/api/v4/account/detail", Read),
    ("/api/v4/account/rate_limit", Read),
    ("/api/v4/spot/accounts", Read),
    ("/api/v4/spot/account_book", Read),
    ("/api/v4/spot/fee", Read),
    ("/api/v4/spot/batch_fee", Read),
    ("/api/v4/spot/open_orders", Read),
    ("/api/v4/spot/my_trades", Read),
    ("/api/v4/spot/insurance_history", Read),
    ("/api/v4/margin/accounts", Read),
    ("/api/v4/margin/account_book", Read),
    ("/api/v4/margin/funding_accounts", Read),
    ("/api/v4/margin/transferable", Read),
    ("/api/v4/margin/uni/borrowable", Read),
    ("/api/v4/margin/uni/loan_records", Read),
    ("/api/v4/margin/uni/interest_records", Read),
    ("/api/v4/unified/accounts", Read),
    ("/api/v4/unified/borrowable", Read),
    ("/api/v4/unified/transferable", Read),
    ("/api/v4/unified/loan_records", Read),
    ("/api/v4/unified/interest_records", Read),
    ("/api/v4/unified/risk_units", Read),
    ("/api/v4/futures/{}/accounts", Read),
    ("/api/v4/futures/{}/account_book", Read),
    ("/api/v4/futures/{}/positions", Read),
    ("/api/v4/futures/{}/my_trades", Read),
    ("/api/v4/futures/{}/my_trades_timerange", Read),
    ("/api/v4/futures/{}/orders_timerange", Read),
    ("/api/v4/futures/{}/position_close", Read),
    ("/api/v4/futures/{}/liquidates", Read),
    ("/api/v4/futures/{}/auto_deleverages", Read),
    ("/api/v4/futures/{}/fee", Read),
    ("/api/v4/delivery/{}/accounts", Read),
    ("/api/v4/delivery/{}/account_book", Read),
    ("/api/v4/delivery/{}/positions", Read),
    ("/api/v4/delivery/{}/my_trades", Read),
    ("/api/v4/delivery/{}/position_close", Read),
    ("/api/v4/delivery/{}/liquidates", Read),
    ("/api/v4/delivery/{}/settlements", Read),
    ("/api/v4/options/accounts", Read),
    ("/api/v4/options/account_book", Read),
    ("/api/v4/options/positions", Read),
    ("/api/v4/options/positions/{}", Read),
    ("/api/v4/options/position_close", Read),
    ("/api/v4/options/my_trades", Read),
    ("/api/v4/earn/uni/lend_records", Read),
    ("/api/v4/earn/uni/interests/{}", Read),
    ("/api/v4/earn/uni/interest_records", Read),
    // Orders (these paths also list, amend and cancel), dust conversion,
    // borrowing and lending, and position settings.
    ("/api/v4/spot/orders", Trade),
    ("/api/v4/spot/orders/{}", Trade),
    ("/api/v4/spot/batch_orders", Trade),
    ("/api/v4/spot/cancel_batch_orders", Trade),
    ("/api/v4/spot/amend_batch_orders", Trade),
    ("/api/v4/spot/cross_liquidate_orders", Trade),
    ("/api/v4/spot/countdown_cancel_all", Trade),
    ("/api/v4/spot/price_orders", Trade),
    ("/api/v4/spot/price_orders/{}", Trade),
    ("/api/v4/wallet/small_balance", Trade),
    ("/api/v4/flash_swap/orders", Trade),
    ("/api/v4/flash_swap/orders/{}", Trade),
    ("/api/v4/flash_swap/orders/preview", Trade),
    ("/api/v4/margin/auto_repay", Trade),
    ("/api/v4/margin/uni/loans", Trade),
    ("/api/v4/unified/loans", Trade),
    ("/api/v4/unified/unified_mode", Trade),
    ("/api/v4/earn/uni/lends", Trade),
    ("/api/v4/account/debit_fee", Trade),
    ("/api/v4/futures/{}/orders", Trade),
    ("/api/v4/futures/{}/orders/{}", Trade),
    ("/api/v4/futures/{}/batch_orders", Trade),
    ("/api/v4/futures/{}/batch_cancel_orders", Trade),
    ("/api/v4/futures/{}/batch_amend_orders", Trade),
    ("/api/v4/futures/{}/countdown_cancel_all", Trade),
    ("/api/v4/futures/{}/price_orders", Trade),
    ("/api/v4/futures/{}/price_orders/{}", Trade),
    ("/api/v4/futures/{}/dual_mode", Trade),
    ("/api/v4/futures/{}/positions/cross_mode", Trade),
    ("/api/v4/futures/{}/positions/{}", Trade),
    ("/api/v4/futures/{}/positions/{}/margin", Trade),
    ("/api/v4/futures/{}/positions/{}/leverage", Trade),
    ("/api/v4/futures/{}/positions/{}/risk_limit", Trade),
    ("/api/v4/futures/{}/dual_comp/positions/{}", Trade),
    ("/api/v4/futures/{}/dual_comp/positions/{}/margin", Trade),
    ("/api/v4/futures/{}/dual_comp/positions/{}/leverage", Trade),
    ("/api/v4/futures/{}/dual_comp/positions/{}/risk_limit", Trade),
    ("/api/v4/delivery/{}/orders", Trade),
    ("/api/v4/delivery/{}/orders/{}", Trade),
    ("/api/v4/delivery/{}/price_orders", Trade),
    ("/api/v4/delivery/{}/price_orders/{}", Trade),
    ("/api/v4/delivery/{}/positions/{}", Trade),
    ("/api/v4/delivery/{}/positions/{}/margin", Trade),
    ("/api/v4/delivery/{}/positions/{}/leverage", Trade),
    ("/api/v4/delivery/{}/positions/{}/risk_limit", Trade),
    ("/api/v4/options/orders", Trade),
    ("/api/v4/options/orders/{}", Trade),
    ("/api/v4/options/countdown_cancel_all", Trade),
    ("/api/v4/options/mmp", Trade),
    ("/api/v4/options/mmp/reset", Trade),
    // Withdrawals (and their cancellation), UID pushes, transfers between
    // accounts and sub-accounts, deposit-address generation.
    ("/api/v4/withdrawals", Withdraw),
    ("/api/v4/withdrawals/push", Withdraw),
    ("/api/v4/withdrawals/{}", Withdraw),
    ("/api/v4/wallet/transfers", Withdraw),
    ("/api/v4/wallet/sub_account_transfers", Withdraw),
    ("/api/v4/wallet/sub_account_to_sub_account", Withdraw),
    ("/api/v4/wallet/deposit_address", Withdraw),
    // Sub-accounts, their API keys, STP groups, the key's own details.
    ("/api/v4/sub_accounts", Account),
    ("/api/v4/sub_accounts/unified_mode", Account),
    ("/api/v4/sub_accounts/{}", Account),
    ("/api/v4/sub_accounts/{}/keys", Account),
    ("/api/v4/sub_accounts/{}/keys/{}", Account),
    ("/api/v4/sub_accounts/{}/lock", Account),
    ("/api/v4/sub_accounts/{}/unlock", Account),
    ("/api/v4/account/main_keys", Account),
    ("/api/v4/account/stp_groups", Account),
    ("/api/v4/account/stp_groups/{}/users", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    /// "API Signature string generation" → Examples: "Suppose the key we
    /// used is `key`, while the secret is `secret`", Timestamp 1541993715.
    fn cred() -> Credential {
        Credential { api_key: Some("key".into()), api_secret: Some("secret".into()), ..Credential::default() }
    }

    fn sign_at(ms: u64, method: &str, path: &str, query: &str, body: &str) -> Result<SignedRequest, Error> {
        let ctx = Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) };
        let r = Request { method: method.into(), path: path.into(), query: query.into(), body: body.into() };
        sign(&cred(), &r, &ctx)
    }

    #[test]
    fn doc_example_1_list_all_orders() {
        let q = "contract=BTC_USD&status=finished&limit=50";
        let s = sign_at(1_541_993_715_000, "GET", "/api/v4/futures/orders", q, "").expect("sign");
        assert_eq!(
            s.headers,
            [
                ("KEY".to_owned(), "key".to_owned()),
                ("Timestamp".to_owned(), "1541993715".to_owned()),
                (
                    "SIGN".to_owned(),
                    "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6\
                     fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(s.query, q);
        assert_eq!(s.body, "");
    }

    #[test]
    fn doc_example_2_create_an_order() {
        let body = r#"{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}"#;
        // The docs' intermediate value: the SHA-512 of that body.
        assert_eq!(
            sig::hex(sig::digest(&SHA512, &[body.as_bytes()]).as_ref()),
            "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b\
             1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
        );
        let s = sign_at(1_541_993_715_999, "POST", "/api/v4/futures/orders", "", body).expect("sign");
        assert_eq!(
            s.header_value("SIGN"),
            Some(
                "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f\
                 c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
            )
        );
        assert_eq!(s.header_value("Timestamp"), Some("1541993715"));
        assert_eq!(s.header_value("Content-Type"), Some("application/json"));
        assert_eq!(s.body, body);
    }

    #[test]
    fn timestamp_comes_from_the_clock_in_seconds() {
        let s = sign_at(1_700_000_000_123, "GET", "/api/v4/spot/accounts", "", "").expect("sign");
        assert_eq!(s.header_value("Timestamp"), Some("1700000000"));
        assert_eq!(s.query, "");
        assert_eq!(s.header_value("Content-Type"), None);
    }

    #[test]
    fn missing_fields() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request {
            method: "GET".into(),
            path: "/api/v4/spot/accounts".into(),
            query: String::new(),
            body: String::new(),
        };
        let no_secret = Credential { api_key: Some("key".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
        let no_key = Credential { api_secret: Some("secret".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v4/spot/accounts"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v4/spot/my_trades"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v4/futures/usdt/positions"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v4/spot/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v4/spot/orders/12345"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v4/futures/usdt/orders/12345"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v4/futures/usdt/positions/cross_mode"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v4/withdrawals"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v4/withdrawals/w123"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v4/wallet/sub_account_transfers"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v4/wallet/deposit_address"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v4/sub_accounts/42/keys"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v4/sub_accounts/42/keys/abc"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v4/spot/currencies"), Unknown);
        assert_eq!(classify_path(ROUTES, "/spot/orders"), Unknown);
    }
}
