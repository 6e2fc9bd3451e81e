//! Bitfinex API v2, verified as Bitfinex's "Authenticated Endpoints"
//! (docs.bitfinex.com/docs/rest-auth) describes: every authenticated call
//! is a `POST https://api.bitfinex.com/v2/auth/…` with a JSON body and the
//! headers `bfx-apikey` (the key), `bfx-nonce` (a number; the example is
//! `Date.now() * 1000`) and `bfx-signature`, the hex HMAC-SHA384 with the
//! secret of `/api/` + apiPath + nonce + body (apiPath is the path without
//! its leading `/`, e.g. `v2/auth/r/wallets`; the body as sent, `{}` in the
//! example). "API Access" (docs.bitfinex.com/docs/api-access): a nonce is
//! required on every authenticated action and requests arriving with the
//! wrong nonce are rejected; the sandbox reads that, as the v1 docs state it
//! ("the nonce provided must be strictly increasing"), per key. A key's
//! permissions are the "API Access" table's (orders write, wallets/history
//! read, withdraw); the sandbox maps them onto read / trade / withdraw.
//!
//! The same "rest-auth" page puts "Form Data" and "Query Params" in the
//! request body; the sandbox refuses a query string on an authenticated
//! call (10020) rather than guess whether it is signed.
//!
//! Refusals are Bitfinex's error array `["error", CODE, "message"]` with
//! HTTP 500. From memory (not found in the stored docs, consistent with
//! `sealgate-exchanges`' own note of `["error",10114,"nonce: small"]`):
//! 10100 for authentication failures ("apikey: invalid", "apikey: digest
//! invalid"), 10114 "nonce: small", 10020 parameter errors, 10001 other
//! errors. Guessed (no doc found): the texts "apikey: permission invalid"
//! (a key lacking the permission) and "apikey: ip invalid" (outside the IP
//! allow-list), both 10100, and 404 for an unknown route.
//!
//! Routes (from memory of the v2 reference pages "Wallets", "Retrieve
//! Orders", "Trades", "Submit Order", "Cancel Order", "Withdrawal", and the
//! public "Ticker" and "Platform Status"; the page list is on "rest-auth"):
//! `POST /v2/auth/r/wallets`, `/v2/auth/r/orders[/{symbol}]`,
//! `/v2/auth/r/trades[/{symbol}]/hist` (body `start`, `end` in ms,
//! `limit` default 25 at most 2500, `sort` −1 newest first (default) or 1;
//! page back by passing the oldest `MTS` seen as `end`), `/v2/auth/w/order/submit`
//! (`type` `EXCHANGE LIMIT` | `EXCHANGE MARKET`, `symbol`, `amount` a
//! decimal string, positive to buy, negative to sell, `price` for a limit,
//! optional integer `cid`), `/v2/auth/w/order/cancel` (`id`, or `cid` with
//! `cid_date`) and `/v2/auth/w/withdraw` (`wallet`, `method`, `amount`,
//! `address`). Public: `GET /v2/ticker/{symbol}` (`[BID, BID_SIZE, ASK,
//! ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH,
//! LOW]`, VOLUME in base units: the 24 h quote volume is VOLUME × price)
//! and `GET /v2/platform/status` (`[1]`). Bitfinex v2 has no server-time
//! endpoint. Bitfinex answers numbers as JSON numbers; the sandbox prints
//! them as exact decimal literals, never through a float.

use aws_lc_rs::hmac;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use crate::{Amount, Incoming, IntentSize, Order, OrderIntent, Shared, Trade, Venue, Withdrawal, lock};

/// A refusal: HTTP status, code, message.
pub(crate) struct ApiError(StatusCode, i64, pub(crate) &'static str);

const E: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;
const BAD_KEY: ApiError = ApiError(E, 10100, "apikey: invalid");
const BAD_SIGN: ApiError = ApiError(E, 10100, "apikey: digest invalid");
const NONCE_SMALL: ApiError = ApiError(E, 10114, "nonce: small");
const NO_PERMISSION: ApiError = ApiError(E, 10100, "apikey: permission invalid");
const IP: ApiError = ApiError(E, 10100, "apikey: ip invalid");
const PARAMS: ApiError = ApiError(E, 10020, "params: invalid");
const QUERY: ApiError = ApiError(E, 10020, "params: authenticated calls carry their parameters in the body");
const BAD_SYMBOL: ApiError = ApiError(E, 10020, "symbol: invalid");
const BAD_AMOUNT: ApiError = ApiError(E, 10020, "amount: invalid");
const BAD_PRICE: ApiError = ApiError(E, 10020, "price: invalid");
const BAD_TYPE: ApiError = ApiError(E, 10020, "type: invalid");
const INSUFFICIENT: ApiError = ApiError(E, 10001, "Invalid order: not enough exchange balance");
const NO_ORDER: ApiError = ApiError(E, 10001, "Order not found.");
const BAD_METHOD: ApiError = ApiError(E, 10001, "method: invalid");
const WITHDRAW_INSUFFICIENT: ApiError = ApiError(E, 10001, "Insufficient balance");
const NOT_FOUND: ApiError = ApiError(StatusCode::NOT_FOUND, 10020, "route: not found");

/// Whether `req` is Bitfinex's: it carries `bfx-apikey`, or is on a Bitfinex-only
/// path (`/v2/auth/…`, `/v2/ticker/…`, `/v2/platform/status`; checked before
/// Coinbase's `/v2/…`).
pub(crate) fn claims(req: &Incoming) -> bool {
    let path = req.uri.path();
    req.headers.contains_key("bfx-apikey")
        || path.starts_with("/v2/auth/")
        || path.starts_with("/v2/ticker/")
        || path == "/v2/platform/status"
}

/// JSON text, with numbers written exactly as given (Bitfinex answers JSON numbers;
/// the sandbox prints each `Amount` as its exact decimal).
pub(crate) enum J {
    Num(String),
    Str(String),
    Null,
    Arr(Vec<J>),
}

impl J {
    fn amount(a: Amount) -> Self {
        Self::Num(a.to_string())
    }
    fn int(i: u64) -> Self {
        Self::Num(i.to_string())
    }
    fn s(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
    fn write(&self, out: &mut String) {
        match self {
            Self::Num(n) => out.push_str(n),
            Self::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Self::Null => out.push_str("null"),
            Self::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
        }
    }
    fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

fn respond(status: StatusCode, body: &J) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], body.text()).into_response()
}

pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    let r = if req.method == axum::http::Method::GET { public(state, req) } else { handle_inner(state, req) };
    match r {
        Ok(v) => respond(StatusCode::OK, &v),
        Err(ApiError(status, code, msg)) => {
            respond(status, &J::Arr(vec![J::s("error"), J::int_signed(code), J::s(msg)]))
        }
    }
}

impl J {
    fn int_signed(i: i64) -> Self {
        Self::Num(i.to_string())
    }
}

/// The public "Ticker" and "Platform Status".
fn public(state: &Shared, req: &Incoming) -> Result<J, ApiError> {
    let path = req.uri.path();
    if path == "/v2/platform/status" {
        return Ok(J::Arr(vec![J::int(1)]));
    }
    let symbol = path.strip_prefix("/v2/ticker/").ok_or(NOT_FOUND)?;
    let st = lock(state);
    let m = st.markets.iter().find(|m| m.symbol == symbol).ok_or(BAD_SYMBOL)?;
    let default = Amount::parse(crate::DEFAULT_QUOTE_VOLUME).unwrap_or_default();
    let quote = st.volumes.get(symbol).copied().unwrap_or(default);
    let p = m.price;
    let one = Amount::parse("1").unwrap_or_default();
    Ok(J::Arr(vec![
        J::amount(p),
        J::amount(one),
        J::amount(p),
        J::amount(one),
        J::int(0),
        J::int(0),
        J::amount(p),
        J::amount(quote.divided_by(p)),
        J::amount(p),
        J::amount(p),
    ]))
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Trade,
    Withdraw,
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The route of an authenticated path: what it needs, and the symbol in the path if any.
fn route(path: &str) -> Option<(Need, &str, Option<&str>)> {
    let rest = path.strip_prefix("/v2/auth/")?;
    Some(match rest {
        "r/wallets" => (Need::Read, "wallets", None),
        "r/orders" => (Need::Read, "orders", None),
        "r/trades/hist" => (Need::Read, "trades", None),
        "w/order/submit" => (Need::Trade, "submit", None),
        "w/order/cancel" => (Need::Trade, "cancel", None),
        "w/withdraw" => (Need::Withdraw, "withdraw", None),
        _ => {
            if let Some(sym) = rest.strip_prefix("r/orders/").filter(|s| !s.is_empty() && !s.contains('/')) {
                (Need::Read, "orders", Some(sym))
            } else if let Some(sym) = rest
                .strip_prefix("r/trades/")
                .and_then(|s| s.strip_suffix("/hist"))
                .filter(|s| !s.is_empty() && !s.contains('/'))
            {
                (Need::Read, "trades", Some(sym))
            } else {
                return None;
            }
        }
    })
}

fn handle_inner(state: &Shared, req: &Incoming) -> Result<J, ApiError> {
    let path = req.uri.path();
    if req.method != axum::http::Method::POST {
        return Err(NOT_FOUND);
    }
    let (need, what, path_symbol) = route(path).ok_or(NOT_FOUND)?;
    let key = req.header("bfx-apikey").filter(|k| !k.is_empty()).ok_or(BAD_KEY)?;
    let nonce_raw = req.header("bfx-nonce").ok_or(NONCE_SMALL)?;
    let sign = req.header("bfx-signature").ok_or(BAD_SIGN)?;
    if req.uri.query().is_some_and(|q| !q.is_empty()) {
        return Err(QUERY);
    }
    let mut st = lock(state);
    let now = st.now_ms();
    let spec = st.accounts.get(key).filter(|a| a.spec.venue == Venue::Bitfinex).ok_or(BAD_KEY)?.spec.clone();
    // "/api/" + apiPath + nonce + body, apiPath without its leading "/".
    let prehash = format!("/api{path}{nonce_raw}{}", req.body);
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, spec.secret.as_bytes()), prehash.as_bytes());
    if !bool::from(hex(mac.as_ref()).as_bytes().ct_eq(sign.as_bytes())) {
        return Err(BAD_SIGN);
    }
    if nonce_raw.is_empty() || nonce_raw.len() > 19 || !nonce_raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NONCE_SMALL);
    }
    let nonce: u64 = nonce_raw.parse().map_err(|_| NONCE_SMALL)?;
    let account = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
    if nonce <= account.last_nonce {
        return Err(NONCE_SMALL);
    }
    account.last_nonce = nonce;
    if !spec.allowed_ips.is_empty() && !spec.allowed_ips.contains(&req.peer.ip()) {
        return Err(IP);
    }
    let allowed = match need {
        Need::Read => spec.permissions.read,
        Need::Trade => spec.permissions.trade,
        Need::Withdraw => spec.permissions.withdraw,
    };
    if !allowed {
        return Err(NO_PERMISSION);
    }
    let body = body_object(&req.body)?;
    match what {
        "wallets" => {
            let a = &st.accounts[key];
            Ok(J::Arr(
                a.balances
                    .iter()
                    .map(|(c, (free, locked))| {
                        J::Arr(vec![
                            J::s("exchange"),
                            J::s(c),
                            J::amount(Amount(free.0 + locked.0)),
                            J::int(0),
                            J::amount(*free),
                            J::Null,
                            J::Null,
                        ])
                    })
                    .collect(),
            ))
        }
        "orders" => {
            let a = &st.accounts[key];
            Ok(J::Arr(
                a.open_orders
                    .iter()
                    .filter(|o| path_symbol.is_none_or(|s| s == o.symbol))
                    .map(|o| order_j(o, &a.client_id_of(o.id), "ACTIVE", "EXCHANGE LIMIT"))
                    .collect(),
            ))
        }
        "trades" => {
            let int = |name: &str| -> Result<Option<i64>, ApiError> {
                match body.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => v.as_i64().map(Some).ok_or(PARAMS),
                }
            };
            let start = int("start")?.map(|v| u64::try_from(v).map_err(|_| PARAMS)).transpose()?;
            let end = int("end")?.map(|v| u64::try_from(v).map_err(|_| PARAMS)).transpose()?;
            let limit = int("limit")?.unwrap_or(25);
            if !(1..=2500).contains(&limit) {
                return Err(PARAMS);
            }
            let sort = int("sort")?.unwrap_or(-1);
            if sort != 1 && sort != -1 {
                return Err(PARAMS);
            }
            let a = &st.accounts[key];
            let mut all: Vec<&Trade> = a
                .trades
                .iter()
                .filter(|t| {
                    path_symbol.is_none_or(|s| s == t.symbol)
                        && start.is_none_or(|s| t.time >= s)
                        && end.is_none_or(|e| t.time <= e)
                })
                .collect();
            all.sort_by_key(|t| (t.time, t.id));
            if sort == -1 {
                all.reverse();
            }
            let n = usize::try_from(limit).unwrap_or(25);
            Ok(J::Arr(all.into_iter().take(n).map(|t| trade_j(t, &a.client_id_of(t.order_id))).collect()))
        }
        "submit" => {
            let o = intent(&body)?;
            let cid = cid_of(&body)?;
            let (symbol, limit, side_buy) = (o.symbol.clone(), o.limit, o.side_buy);
            let IntentSize::Base(qty) = o.size else { return Err(BAD_AMOUNT) };
            let id = st.execute(key, o, &cid, now).map_err(|e| match e {
                crate::Unexecuted::Symbol => BAD_SYMBOL,
                crate::Unexecuted::Key => BAD_KEY,
                crate::Unexecuted::Funds => INSUFFICIENT,
                crate::Unexecuted::QuoteSizedLimit => BAD_AMOUNT,
            })?;
            let price = match limit {
                Some(p) => p,
                None => st.markets.iter().find(|m| m.symbol == symbol).map_or(Amount::ZERO, |m| m.price),
            };
            let order = Order { id, symbol, side_buy, price, qty, time: now };
            let (status, kind) = match limit {
                Some(_) => ("ACTIVE".to_owned(), "EXCHANGE LIMIT"),
                None => (format!("EXECUTED @ {price}({}{qty})", if side_buy { "" } else { "-" }), "EXCHANGE MARKET"),
            };
            let o = order_j(&order, &cid, &status, kind);
            Ok(notification(now, "on-req", J::Arr(vec![o]), "Submitting 1 orders."))
        }
        "cancel" => {
            let markets = st.markets.clone();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            let id = match (body.get("id"), body.get("cid")) {
                (Some(id), _) => id.as_u64().ok_or(PARAMS)?,
                (None, Some(cid)) => {
                    // "cid" names the order with "cid_date" (YYYY-MM-DD, the day it was placed);
                    // the sandbox requires the date and looks the name up.
                    let cid = cid.as_u64().ok_or(PARAMS)?.to_string();
                    body.get("cid_date").and_then(Value::as_str).filter(|d| d.len() == 10).ok_or(PARAMS)?;
                    a.client_ids.get(&cid).map(|(_, id)| *id).ok_or(NO_ORDER)?
                }
                (None, None) => return Err(PARAMS),
            };
            let name = a.client_id_of(id);
            let o = a.cancel(&markets, |o| o.id == id).ok_or(NO_ORDER)?;
            let text = format!("Submitted for cancellation; waiting for confirmation (ID: {id}).");
            Ok(notification(now, "oc-req", order_j(&o, &name, "ACTIVE", "EXCHANGE LIMIT"), &text))
        }
        _ => {
            let wallet = body.get("wallet").and_then(Value::as_str).ok_or(PARAMS)?;
            if wallet != "exchange" {
                return Err(PARAMS);
            }
            let method = body.get("method").and_then(Value::as_str).ok_or(PARAMS)?.to_owned();
            // From memory: Bitfinex names withdrawal methods, not currencies; a few of them.
            let asset = match method.as_str() {
                "bitcoin" => "BTC",
                "ethereum" => "ETH",
                "tetheruse" => "UST",
                _ => return Err(BAD_METHOD),
            };
            let amount = body.get("amount").and_then(Value::as_str).and_then(Amount::parse).filter(|a| a.0 > 0);
            let amount = amount.ok_or(BAD_AMOUNT)?;
            let address = body.get("address").and_then(Value::as_str).filter(|a| !a.is_empty()).ok_or(PARAMS)?;
            let address = address.to_owned();
            let id = st.next_id();
            let a = st.accounts.get_mut(key).ok_or(BAD_KEY)?;
            crate::take(&mut a.balances, asset, amount).map_err(|()| WITHDRAW_INSUFFICIENT)?;
            st.withdrawals.push(Withdrawal { api_key: key.to_owned(), asset: asset.to_owned(), address, amount });
            let w = J::Arr(vec![
                J::int(id),
                J::Null,
                J::Str(method),
                J::Null,
                J::s("exchange"),
                J::amount(amount),
                J::Null,
                J::Null,
                J::int(0),
            ]);
            Ok(notification(now, "acc_wd-req", w, "Your withdrawal request has been successfully submitted."))
        }
    }
}

/// The body as a JSON object; an empty body is `{}`.
fn body_object(body: &str) -> Result<Map<String, Value>, ApiError> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_str(body).map_err(|_| PARAMS)
}

/// `[MTS, TYPE, MESSAGE_ID, null, DATA, CODE, STATUS, TEXT]`.
fn notification(now: u64, kind: &str, data: J, text: &str) -> J {
    J::Arr(vec![J::int(now), J::s(kind), J::Null, J::Null, data, J::Null, J::s("SUCCESS"), J::s(text)])
}

/// An amount signed as Bitfinex signs them: negative for a sell.
fn signed(qty: Amount, buy: bool) -> J {
    if buy { J::amount(qty) } else { J::Num(format!("-{qty}")) }
}

/// An order array: `[ID, GID, CID, SYMBOL, MTS_CREATE, MTS_UPDATE, AMOUNT, AMOUNT_ORIG,
/// ORDER_TYPE, TYPE_PREV, MTS_TIF, _, FLAGS, ORDER_STATUS, _, _, PRICE, PRICE_AVG,
/// PRICE_TRAILING, PRICE_AUX_LIMIT, _, _, _, NOTIFY, HIDDEN, PLACED_ID, _, _, ROUTING, _, _,
/// META]` (32 fields).
fn order_j(o: &Order, cid: &str, status: &str, kind: &str) -> J {
    let cid = if cid.is_empty() { J::Null } else { J::Num(cid.to_owned()) };
    let mut a = vec![
        J::int(o.id),
        J::Null,
        cid,
        J::s(&o.symbol),
        J::int(o.time),
        J::int(o.time),
        signed(o.qty, o.side_buy),
        signed(o.qty, o.side_buy),
        J::s(kind),
        J::Null,
        J::Null,
        J::Null,
        J::int(0),
        J::s(status),
        J::Null,
        J::Null,
        J::amount(o.price),
        J::int(0),
        J::int(0),
        J::int(0),
    ];
    a.extend((20..32).map(|_| J::Null));
    J::Arr(a)
}

/// A trade array: `[ID, SYMBOL, MTS, ORDER_ID, EXEC_AMOUNT, EXEC_PRICE, ORDER_TYPE,
/// ORDER_PRICE, MAKER, FEE, FEE_CURRENCY, CID]`.
fn trade_j(t: &Trade, cid: &str) -> J {
    J::Arr(vec![
        J::int(t.id),
        J::s(&t.symbol),
        J::int(t.time),
        J::int(t.order_id),
        signed(t.qty, t.side_buy),
        J::amount(t.price),
        J::Null,
        J::amount(t.price),
        J::int_signed(-1),
        J::int(0),
        J::s(""),
        if cid.is_empty() { J::Null } else { J::Num(cid.to_owned()) },
    ])
}

/// `cid`, an integer if sent ("Submit Order": client order id).
fn cid_of(b: &Map<String, Value>) -> Result<String, ApiError> {
    match b.get("cid") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => v.as_u64().map(|c| c.to_string()).ok_or(PARAMS),
    }
}

/// The order of a `POST /v2/auth/w/order/submit`, as "Submit Order" reads it: `type`
/// `EXCHANGE LIMIT` (needs `price`) or `EXCHANGE MARKET` (the sandbox refuses a `price` on
/// it rather than guess whether Bitfinex ignores it); `symbol`; `amount` a decimal string,
/// positive to buy and negative to sell, in base units. Amounts and prices must be strings
/// (the documented type; a JSON number is refused, never read through a float). Margin
/// types (`LIMIT`, `MARKET`, …) and the others are not played by the sandbox.
fn intent(b: &Map<String, Value>) -> Result<OrderIntent, ApiError> {
    let symbol = b.get("symbol").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(BAD_SYMBOL)?.to_owned();
    let raw = b.get("amount").and_then(Value::as_str).ok_or(BAD_AMOUNT)?;
    let (side_buy, digits) = match raw.strip_prefix('-') {
        Some(d) => (false, d),
        None => (true, raw),
    };
    let qty = Amount::parse(digits).filter(|q| q.0 > 0).ok_or(BAD_AMOUNT)?;
    let price = match b.get("price") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(Amount::parse).filter(|p| p.0 > 0).ok_or(BAD_PRICE)?),
    };
    match b.get("type").and_then(Value::as_str) {
        Some("EXCHANGE LIMIT") => {
            let price = price.ok_or(BAD_PRICE)?;
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(qty), limit: Some(price) })
        }
        Some("EXCHANGE MARKET") => {
            if price.is_some() {
                return Err(BAD_PRICE);
            }
            Ok(OrderIntent { symbol, side_buy, size: IntentSize::Base(qty), limit: None })
        }
        _ => Err(BAD_TYPE),
    }
}

/// How Bitfinex reads the order of a request body, as its handler does.
pub(crate) fn order_intent(body: &str) -> Result<OrderIntent, ApiError> {
    intent(&body_object(body)?)
}
