//! Gemini REST v1 (`POST /v1/…`).
//!
//! Every private call is a `POST` whose JSON *payload* travels base64-encoded in
//! `X-GEMINI-PAYLOAD`: the [`Request`] body here is that payload without `request` and
//! `nonce`, which the signer puts first (the path, and the credential's next nonce —
//! increasing per key, the clock in ms as floor — from the store's per-credential sequence
//! under the credential's lock, shared by the importer and the trader). A query is refused
//! by the signer (it would travel unsigned).
//!
//! Assets: Gemini names currencies as everyone does (`BTC`, `USD`, `GUSD`): upper-cased,
//! nothing mapped. Symbols are lower case, base + quote (`btcusd`, `ethbtc`).
//!
//! Balances: "Get Available Balances" (`/v1/balances`), the exchange account: free =
//! `available`, locked = `amount` − `available`.
//!
//! Trade history: "Get Past Trades" (`/v1/mytrades`) needs a `symbol`, so the importer
//! passes the candidate symbols ([`gemini_symbols`], the pairs of the account's
//! currencies) and the cursor is `symbol:timestamp`. Each symbol is read forward in time:
//! `timestamp` (ms) asks for the trades at or after it, `limit_trades` 100 (at most 500)
//! of them, the oldest first and answered newest first (as the sandbox reads "Get Past
//! Trades"; to be checked against the live exchange, which documents `timestamp` as "only
//! trades on or after"); the next page asks from the newest time of a full page (its
//! millisecond is read again, rows upsert by `tid`), and a full page within one
//! millisecond, which cannot be paged past, is refused rather than asked forever. `tid`s
//! are exchange-wide: rows are keyed by `tid` alone, with the symbol asked. A full import
//! starts each symbol at 0; a refresh at the newest stored trade less the overlap.
//! Caveat: a pair whose currencies the account no longer holds is not asked.
//!
//! Orders: "New Order" (`/v1/order/new`) takes `exchange limit` only — Gemini's REST API
//! has no market order (its docs suggest an aggressive limit order with
//! `immediate-or-cancel`, which needs a price we do not choose): a market order is refused
//! here before anything is sent. "Cancel Order" (`/v1/order/cancel`, `order_id`). "Order
//! Status" (`/v1/order/status`) by `client_order_id` reconciles a placement whose answer
//! was lost; `OrderNotFound` there means it never arrived.
//!
//! Refusals: `{"result": "error", "reason", "message"}` with an HTTP error status ("Error
//! Codes": 400 request or authentication, 403 role, 404 not found, 406 insufficient funds,
//! 429 rate limit, 5xx).

use serde_json::{Map, Value, json};

use crate::read::{arr, body, dec, get, id, obj, string, symbol_cursor};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueBalance,
    VenueError, bad_input, check_symbol, malformed, normalize_asset,
};

/// Page size asked for (Gemini allows up to 500).
const LIMIT: usize = 100;

/// Quote currencies tried when guessing symbols from balances (Gemini's quote currencies),
/// the more usual quote first: of two of them, the later is the base (`ethbtc`, `gusdusd`).
const QUOTES: &[&str] = &["USD", "GUSD", "USDT", "USDC", "DAI", "EUR", "GBP", "SGD", "BTC", "ETH"];

/// Gemini errors worth retrying later ("Error Codes"): rate limited, maintenance, system.
pub(crate) fn transient(message: &str) -> bool {
    ["RateLimit ", "RateLimited ", "Maintenance ", "System ", "InvalidNonce "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("reason")?.as_str()?, v.get("message").and_then(Value::as_str).unwrap_or("")))
}

/// Gemini symbols worth asking `mytrades` about: every lower-case `basequote` where both
/// currencies are in the account and the quote is one of Gemini's (a more usual one than
/// the base). Sorted, so a cursor
/// naming a symbol stays meaningful when the balances change between attempts. A pair
/// Gemini does not list is answered `InvalidSymbol`, read as no trades.
pub fn gemini_symbols(assets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let rank = |a: &str| QUOTES.iter().position(|q| *q == a);
    for base in assets {
        for (i, quote) in QUOTES.iter().enumerate() {
            let base_is_later = rank(base).is_none_or(|b| b > i);
            if base_is_later && assets.iter().any(|a| a == quote) {
                out.push(format!("{base}{quote}").to_ascii_lowercase());
            }
        }
    }
    out.retain(|s| check_symbol(s).is_ok());
    out.sort();
    out.dedup();
    out
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("POST", "/v1/balances", "", "{}"))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = body(resp, error_text)?;
    let mut balances = Vec::new();
    for b in arr(&v, "$")? {
        let b = obj(b, "[]")?;
        match string(b, "type", "[].type")? {
            "exchange" => {}
            _ => return Err(malformed("[].type", "is not a Gemini exchange account")),
        }
        let total = dec(b, "amount", "[].amount")?;
        let free = dec(b, "available", "[].available")?;
        let locked = Amount::parse(&total)
            .zip(Amount::parse(&free))
            .and_then(|(t, f)| t.checked_sub(f))
            .filter(|l| !l.is_negative())
            .ok_or(malformed("[].available", "is above the amount"))?;
        balances.push(VenueBalance {
            asset: normalize_asset(Venue::Gemini, string(b, "currency", "[].currency")?)?,
            free,
            locked: locked.normalized().to_string(),
        });
    }
    Ok(BalancePage { balances, next: None })
}

/// Where a page starts: (symbol, timestamp in ms), never before `from_ms`.
fn position<'a>(symbols: &'a [String], from_ms: i64, cursor: Option<&str>) -> Result<Option<(&'a str, i64)>> {
    Ok(symbol_cursor::<i64>(symbols, cursor, 15, "is not symbol:timestamp")?.map(|(s, t)| (s, t.max(from_ms))))
}

fn request_at(at: Option<(&str, i64)>) -> Result<Option<Request>> {
    let Some((symbol, from)) = at else { return Ok(None) };
    check_symbol(symbol)?;
    // Gemini reads a `timestamp` below 1e11 as seconds: an early one is sent so (rounded down).
    let timestamp = if from < 100_000_000_000 { from / 1000 } else { from };
    let b = json!({"symbol": symbol, "limit_trades": LIMIT, "timestamp": timestamp});
    Ok(Some(Request::new("POST", "/v1/mytrades", "", &b.to_string())))
}

pub(crate) fn trades_request(symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position(symbols, 0, cursor)?)
}

/// Every symbol from `from_ms` (the newest stored trade less the overlap) on.
pub(crate) fn trades_since_request(symbols: &[String], from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    request_at(position(symbols, from_ms, cursor)?)
}

pub(crate) fn parse_trades(symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_at(symbols, 0, position(symbols, 0, cursor)?, resp)
}

pub(crate) fn parse_trades_since(
    symbols: &[String],
    from_ms: i64,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_at(symbols, from_ms, position(symbols, from_ms, cursor)?, resp)
}

/// The page asked at `at` (symbol, timestamp); `from_ms` starts the next symbol.
fn parse_at(symbols: &[String], from_ms: i64, at: Option<(&str, i64)>, resp: Response<'_>) -> Result<TradePage> {
    let Some((symbol, asked)) = at else {
        return Ok(TradePage { trades: Vec::new(), next: None });
    };
    // A pair Gemini does not list: no trades there.
    let invalid_symbol = resp.status == 400
        && crate::read::parse_json(resp.body)
            .ok()
            .is_some_and(|v| v.get("reason").and_then(Value::as_str) == Some("InvalidSymbol"));
    let v = if invalid_symbol { json!([]) } else { body(resp, error_text)? };
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the page size"));
    }
    // What was asked, as Gemini reads it (seconds below 1e11).
    let floor = if asked < 100_000_000_000 { asked / 1000 * 1000 } else { asked };
    let mut trades = Vec::with_capacity(rows.len());
    let mut newest: Option<i64> = None;
    let mut previous: Option<i64> = None;
    for t in rows {
        let t = obj(t, "[]")?;
        let time_ms = get(t, "timestampms", "[].timestampms")?
            .as_i64()
            .filter(|t| *t >= 0)
            .ok_or(malformed("[].timestampms", "is not a millisecond time"))?;
        if time_ms < floor {
            return Err(malformed("[].timestampms", "is before the timestamp asked for"));
        }
        // Newest first: a row newer than the one before would make the paging skip or loop.
        if previous.is_some_and(|p| time_ms > p) {
            return Err(malformed("[].timestampms", "is not newest first"));
        }
        previous = Some(time_ms);
        newest = Some(newest.map_or(time_ms, |n| n.max(time_ms)));
        if let Some(s) = t.get("symbol") {
            let s = s.as_str().ok_or(malformed("[].symbol", "is not a string"))?;
            if !s.eq_ignore_ascii_case(symbol) {
                return Err(malformed("[].symbol", "is not the symbol asked for"));
            }
        }
        let tid = get(t, "tid", "[].tid")?.as_u64().ok_or(malformed("[].tid", "is not a trade id"))?;
        let side = match string(t, "type", "[].type")? {
            "Buy" | "buy" => Side::Buy,
            "Sell" | "sell" => Side::Sell,
            _ => return Err(malformed("[].type", "is not Buy or Sell")),
        };
        let fee_asset = match string(t, "fee_currency", "[].fee_currency")? {
            "" => None,
            c => {
                Some(normalize_asset(Venue::Gemini, c).map_err(|_| malformed("[].fee_currency", "is not a currency"))?)
            }
        };
        trades.push(Trade {
            exchange_trade_id: tid.to_string(),
            symbol: symbol.to_owned(),
            side,
            price: dec(t, "price", "[].price")?,
            qty: dec(t, "amount", "[].amount")?,
            fee: dec(t, "fee_amount", "[].fee_amount")?,
            fee_asset,
            time_ms,
        });
    }
    let next = match newest {
        Some(n) if rows.len() == LIMIT => {
            if n <= floor {
                return Err(malformed("$", "is a full page of one millisecond: paging by time cannot pass it"));
            }
            Some(format!("{symbol}:{n}"))
        }
        _ => symbols.iter().find(|s| s.as_str() > symbol).map(|s| format!("{s}:{from_ms}")),
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let Some(price) = order.price else {
        return Err(bad_input(
            "kind",
            "Gemini's API has no market order: place a limit order (exchange limit) at the price you accept",
        ));
    };
    let b = json!({
        "client_order_id": order.client_order_id, "symbol": order.symbol, "amount": order.qty, "price": price,
        "side": if order.buy { "buy" } else { "sell" }, "type": "exchange limit",
    });
    Ok(Request::new("POST", "/v1/order/new", "", &b.to_string()))
}

/// Our status of a Gemini order: live, cancelled, or done (filled).
fn placed_of(o: &Map<String, Value>) -> Result<Placed> {
    let flag = |key: &str, field: &'static str| -> Result<bool> {
        get(o, key, field)?.as_bool().ok_or(malformed(field, "is not a boolean"))
    };
    let status = match (flag("is_live", "is_live")?, flag("is_cancelled", "is_cancelled")?) {
        (_, true) => "canceled",
        (true, false) => "open",
        (false, false) => "filled",
    };
    Ok(Placed { exchange_order_id: id(o, "order_id", "order_id")?, status })
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = body(resp, error_text)?;
    placed_of(obj(&v, "$")?)
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    // Our order ids came from [`parse_placed`]; Gemini's are integers (text is refused there).
    let id: Value = exchange_order_id.parse::<u64>().map_or_else(|_| exchange_order_id.into(), Value::from);
    Request::new("POST", "/v1/order/cancel", "", &json!({ "order_id": id }).to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = body(resp, error_text)?;
    match placed_of(obj(&v, "$")?)?.status {
        "canceled" => Ok(()),
        _ => Err(VenueError::Exchange { status: resp.status, message: "the order was not cancelled".into() }),
    }
}

/// "Order Status" by `client_order_id`.
pub(crate) fn status_request(_symbol: &str, client_order_id: &str) -> Option<Request> {
    Some(Request::new("POST", "/v1/order/status", "", &json!({ "client_order_id": client_order_id }).to_string()))
}

/// `OrderNotFound`: the placement never reached Gemini. An answer naming more than one
/// order (a client order id reused) is refused rather than guessed between.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let v = match body(resp, error_text) {
        Ok(v) => v,
        Err(VenueError::Exchange { message, .. }) if message.starts_with("OrderNotFound ") => return Ok(None),
        Err(e) => return Err(e),
    };
    match &v {
        Value::Array(a) => match a.as_slice() {
            [] => Ok(None),
            [one] => placed_of(obj(one, "[]")?).map(Some),
            _ => Err(malformed("$", "names more than one order")),
        },
        _ => placed_of(obj(&v, "$")?).map(Some),
    }
}
