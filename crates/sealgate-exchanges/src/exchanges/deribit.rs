//! Deribit API v2 over HTTP with client signatures, "Authentication" of
//! the Deribit API docs (docs.deribit.com → Authentication → HMAC-SHA256
//! signature over HTTP, `deri-hmac-sha256`):
//!
//! ```text
//! RequestData  = UPPERCASE(HTTP_METHOD) + "\n" + URI + "\n" + RequestBody + "\n"
//! StringToSign = Timestamp + "\n" + Nonce + "\n" + RequestData
//! Signature    = HEX_STRING(HMAC-SHA256(ClientSecret, StringToSign))
//! Authorization: deri-hmac-sha256 id=ClientId,ts=Timestamp,sig=Signature,nonce=Nonce
//! ```
//!
//! URI is the path with `?query` when there is one; the body is signed and
//! sent as given (empty for GET). The timestamp is the clock in
//! milliseconds; the nonce (any string for Deribit) is the credential's
//! next nonce in decimal, with the clock in milliseconds as floor. The API
//! key is the client id, the secret the client secret. Withdrawals are
//! `GET /api/v2/private/withdraw`, so the table goes by path only.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "deribit",
    name: "Deribit (API v2)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: true,
        body: true,
        signs: "timestamp + nonce + METHOD + path?query + body",
    },
    plaintext_header: None,
    answer: crate::send::never,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor,
};

/// Milliseconds: every request draws one.
fn nonce_floor(_: &Request, now_ms: u64) -> Option<u64> {
    Some(now_ms)
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let client_id = cred.api_key()?;
    if client_id.contains([',', '=']) {
        return Err(Error::MalformedField { field: "api_key", why: "a Deribit client id holds no ',' or '='" });
    }
    let secret = cred.api_secret()?;
    let ts = ctx.clock.now_ms();
    let nonce = ctx.nonce.next_nonce(ts).to_string();
    let ts = ts.to_string();
    let uri = req.path_and_query();
    let mac = sig::hmac(
        HMAC_SHA256,
        secret.as_bytes(),
        &[
            ts.as_bytes(),
            b"\n",
            nonce.as_bytes(),
            b"\n",
            req.method.to_ascii_uppercase().as_bytes(),
            b"\n",
            uri.as_bytes(),
            b"\n",
            req.body.as_bytes(),
            b"\n",
        ],
    );
    let auth = format!("deri-hmac-sha256 id={client_id},ts={ts},sig={},nonce={nonce}", sig::hex(mac.as_ref()));
    let out = SignedRequest::from_request(req).header("Authorization", auth);
    Ok(if req.body.is_empty() { out } else { out.header("Content-Type", "application/json") })
}

/// Private methods over HTTP (`/api/v2/private/<method>`, GET or POST).
const ROUTES: &[Route] = &[
    // Account, positions, orders, trades, transfers and deposit history.
    ("/api/v2/private/get_account_summary", Read),
    ("/api/v2/private/get_account_summaries", Read),
    ("/api/v2/private/get_positions", Read),
    ("/api/v2/private/get_position", Read),
    ("/api/v2/private/get_open_orders", Read),
    ("/api/v2/private/get_open_orders_by_currency", Read),
    ("/api/v2/private/get_open_orders_by_instrument", Read),
    ("/api/v2/private/get_open_orders_by_label", Read),
    ("/api/v2/private/get_order_state", Read),
    ("/api/v2/private/get_order_state_by_label", Read),
    ("/api/v2/private/get_order_history_by_currency", Read),
    ("/api/v2/private/get_order_history_by_instrument", Read),
    ("/api/v2/private/get_order_margin_by_ids", Read),
    ("/api/v2/private/get_trigger_order_history", Read),
    ("/api/v2/private/get_user_trades_by_currency", Read),
    ("/api/v2/private/get_user_trades_by_currency_and_time", Read),
    ("/api/v2/private/get_user_trades_by_instrument", Read),
    ("/api/v2/private/get_user_trades_by_instrument_and_time", Read),
    ("/api/v2/private/get_user_trades_by_order", Read),
    ("/api/v2/private/get_settlement_history_by_currency", Read),
    ("/api/v2/private/get_settlement_history_by_instrument", Read),
    ("/api/v2/private/get_transaction_log", Read),
    ("/api/v2/private/get_margins", Read),
    ("/api/v2/private/get_deposits", Read),
    ("/api/v2/private/get_withdrawals", Read),
    ("/api/v2/private/get_transfers", Read),
    ("/api/v2/private/get_current_deposit_address", Read),
    ("/api/v2/private/get_address_book", Read),
    ("/api/v2/private/get_mmp_config", Read),
    ("/api/v2/private/get_mmp_status", Read),
    ("/api/v2/private/get_cancel_on_disconnect", Read),
    ("/api/v2/private/get_user_locks", Read),
    ("/api/v2/private/get_access_log", Read),
    ("/api/v2/private/get_email_language", Read),
    ("/api/v2/private/get_new_announcements", Read),
    ("/api/v2/private/get_affiliate_program_info", Read),
    ("/api/v2/private/get_block_trade", Read),
    ("/api/v2/private/get_last_block_trades_by_currency", Read),
    ("/api/v2/private/get_pending_block_trades", Read),
    ("/api/v2/private/simulate_portfolio", Read),
    ("/api/v2/private/pme/simulate", Read),
    // Orders, quotes, block trades, market-maker protection.
    ("/api/v2/private/buy", Trade),
    ("/api/v2/private/sell", Trade),
    ("/api/v2/private/edit", Trade),
    ("/api/v2/private/edit_by_label", Trade),
    ("/api/v2/private/cancel", Trade),
    ("/api/v2/private/cancel_all", Trade),
    ("/api/v2/private/cancel_all_by_currency", Trade),
    ("/api/v2/private/cancel_all_by_currency_pair", Trade),
    ("/api/v2/private/cancel_all_by_instrument", Trade),
    ("/api/v2/private/cancel_all_by_kind_or_type", Trade),
    ("/api/v2/private/cancel_by_label", Trade),
    ("/api/v2/private/cancel_quotes", Trade),
    ("/api/v2/private/close_position", Trade),
    ("/api/v2/private/mass_quote", Trade),
    ("/api/v2/private/set_mmp_config", Trade),
    ("/api/v2/private/reset_mmp", Trade),
    ("/api/v2/private/enable_cancel_on_disconnect", Trade),
    ("/api/v2/private/disable_cancel_on_disconnect", Trade),
    ("/api/v2/private/execute_block_trade", Trade),
    ("/api/v2/private/verify_block_trade", Trade),
    ("/api/v2/private/approve_block_trade", Trade),
    ("/api/v2/private/reject_block_trade", Trade),
    ("/api/v2/private/invalidate_block_trade_signature", Trade),
    // Funds leaving the account or moving between (sub)accounts, deposit
    // addresses, and the withdrawal address book.
    ("/api/v2/private/withdraw", Withdraw),
    ("/api/v2/private/cancel_withdrawal", Withdraw),
    ("/api/v2/private/create_deposit_address", Withdraw),
    ("/api/v2/private/submit_transfer_to_subaccount", Withdraw),
    ("/api/v2/private/submit_transfer_to_user", Withdraw),
    ("/api/v2/private/submit_transfer_between_subaccounts", Withdraw),
    ("/api/v2/private/cancel_transfer_by_id", Withdraw),
    ("/api/v2/private/move_positions", Withdraw),
    ("/api/v2/private/add_to_address_book", Withdraw),
    ("/api/v2/private/update_in_address_book", Withdraw),
    ("/api/v2/private/remove_from_address_book", Withdraw),
    // API keys, sub-accounts, account settings.
    ("/api/v2/private/create_api_key", Account),
    ("/api/v2/private/edit_api_key", Account),
    ("/api/v2/private/remove_api_key", Account),
    ("/api/v2/private/reset_api_key", Account),
    ("/api/v2/private/enable_api_key", Account),
    ("/api/v2/private/disable_api_key", Account),
    ("/api/v2/private/change_api_key_name", Account),
    ("/api/v2/private/change_scope_in_api_key", Account),
    ("/api/v2/private/list_api_keys", Account),
    ("/api/v2/private/create_subaccount", Account),
    ("/api/v2/private/change_subaccount_name", Account),
    ("/api/v2/private/remove_subaccount", Account),
    ("/api/v2/private/set_email_for_subaccount", Account),
    ("/api/v2/private/toggle_subaccount_login", Account),
    ("/api/v2/private/toggle_notifications_from_subaccount", Account),
    ("/api/v2/private/get_subaccounts", Account),
    ("/api/v2/private/get_subaccounts_details", Account),
    ("/api/v2/private/set_email_language", Account),
    ("/api/v2/private/set_self_trading_config", Account),
    ("/api/v2/private/change_margin_model", Account),
    ("/api/v2/private/set_disabled_trading_products", Account),
    ("/api/v2/private/enable_affiliate_program", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::classify_path;
    use crate::{EndpointClass, FixedClock, FixedNonce};

    /// The client id and secret of the docs' HTTP example.
    fn cred() -> Credential {
        Credential { api_key: Some("AMANDA".into()), api_secret: Some("AMANDASECRECT".into()), ..Credential::default() }
    }

    fn sign_at(r: &Request) -> SignedRequest {
        let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(1_700_000_000_001) };
        sign(&cred(), r, &ctx).expect("sign")
    }

    /// The docs' HTTP example (GET get_account_summary?currency=BTC, empty
    /// body, their ClientId/ClientSecret); the docs print no signature (their
    /// timestamp and nonce are random), so the value is the one
    /// `printf '%s\n%s\nGET\n%s\n\n' TS NONCE URI | openssl dgst -sha256
    /// -hmac AMANDASECRECT` gives for the same fixed timestamp and nonce.
    #[test]
    fn documented_example_construction() {
        let s = sign_at(&Request::new("GET", "/api/v2/private/get_account_summary", "currency=BTC", ""));
        assert_eq!(
            s.headers,
            [(
                "Authorization".to_owned(),
                "deri-hmac-sha256 id=AMANDA,ts=1700000000000,sig=2691051133895c5acef8ed6373efa4c9b44cf7dadf26dc51324215461b3bc4a1,nonce=1700000000001".to_owned()
            )]
        );
        assert_eq!((s.method.as_str(), s.query.as_str(), s.body.as_str()), ("GET", "currency=BTC", ""));
    }

    #[test]
    fn body_is_signed_and_typed() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"private/buy","params":{"instrument_name":"BTC-PERPETUAL","amount":10}}"#;
        let s = sign_at(&Request::new("POST", "/api/v2/private/buy", "", body));
        let text = format!("1700000000000\n1700000000001\nPOST\n/api/v2/private/buy\n{body}\n");
        let mac = sig::hmac(HMAC_SHA256, b"AMANDASECRECT", &[text.as_bytes()]);
        let expected =
            format!("deri-hmac-sha256 id=AMANDA,ts=1700000000000,sig={},nonce=1700000000001", sig::hex(mac.as_ref()));
        assert_eq!(s.headers[0], ("Authorization".to_owned(), expected));
        assert_eq!(s.headers[1], ("Content-Type".to_owned(), "application/json".to_owned()));
        assert_eq!(s.body, body);
    }

    #[test]
    fn credentials() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request::new("GET", "/api/v2/private/get_positions", "", "");
        let no_key = Credential { api_secret: Some("s".into()), ..Credential::default() };
        assert_eq!(sign(&no_key, &r, &ctx).expect_err("no key"), Error::MissingField("api_key"));
        let no_secret = Credential { api_key: Some("k".into()), ..Credential::default() };
        assert_eq!(sign(&no_secret, &r, &ctx).expect_err("no secret"), Error::MissingField("api_secret"));
        let bad = Credential { api_key: Some("a,ts=1".into()), api_secret: Some("s".into()), ..Credential::default() };
        assert!(matches!(sign(&bad, &r, &ctx), Err(Error::MalformedField { field: "api_key", .. })));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v2/private/get_account_summary"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/get_user_trades_by_currency"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/buy"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/cancel_all"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/withdraw"), Withdraw);
        // A path never carries its query (the one path rule): such a path is no endpoint.
        assert_eq!(classify_path(ROUTES, "/api/v2/private/withdraw?currency=BTC&amount=1"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/submit_transfer_to_user"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/create_api_key"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/create_subaccount"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v2/public/get_instruments"), EndpointClass::Unknown);
        assert_eq!(classify_path(ROUTES, "/api/v2/private/unknown_method"), EndpointClass::Unknown);
    }
}
