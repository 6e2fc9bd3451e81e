//! Bitstamp HTTP API v2 (`POST /api/v2/…/`, every path ending in `/`).
//!
//! Every private call is a `POST` whose parameters travel as a form body; the signer adds
//! the `X-Auth` headers (a 36-character nonce, used once within 150 s, and the timestamp)
//! and signs method, host, path, content type and body. No query is ever sent (Bitstamp
//! refuses GET parameters on private calls: `400.018`).
//!
//! Assets: Bitstamp spells currencies in lower case (`btc`, `usd`, `usdc`): upper-cased,
//! nothing mapped (`btc` → `BTC`). Markets are lower-case base + quote (`btcusd`,
//! `ethbtc`), which is also how a trade's market is stored here.
//!
//! Balances: "Account balances" (`account_balances/`), one row per currency (zero ones
//! included): free = `available`, locked = `reserved`.
//!
//! Trade history: "User transactions" for every market at once (`user_transactions/`), so
//! no market is guessed from the balances (and none is missed once its currencies are
//! sold). Rows are read oldest first (`sort=asc`), `limit=1000` a page; the next page asks
//! `since_id` = the largest transaction id of a full page: the importer's cursor. The
//! docs say `since_id` shows "transactions from" that id and forces `limit` to 1000; read
//! as inclusive, that row comes back first and is stored again (rows upsert by id), and if
//! it is exclusive nothing is skipped either. Every row of a page must have an id at or
//! above the one asked, in ascending order (else the cursor could go back or skip), so the
//! cursor only goes up. A short page is the last. Only `type` 2 ("market trade") rows are
//! trades; deposits, withdrawals and transfers still move the cursor. A trade row names its
//! market by a `{base}_{quote}` key holding the price (other `{currency}_{currency}` keys,
//! if any, hold zero), and its currencies' signed amounts: the base amount is positive for
//! a buy, negative for a sell. The fee is in the quote currency (Bitstamp charges fees in
//! the counter currency). Transaction ids are exchange-wide: rows are keyed by `id` alone.
//! Amounts come as decimal strings or JSON numbers (the price key is a number in real
//! answers); a number is read from its shortest decimal spelling, at most 15 significant
//! digits. `datetime` is UTC, `2021-11-25 12:59:59.322000`.
//!
//! Incremental: from `since_id` = the largest stored transaction id (ids grow with time),
//! not `since_timestamp`, which the docs bound to the last 30 days (from memory).
//!
//! Orders: "Buy/Sell limit order" (`buy/{pair}/`, `sell/{pair}/`: `amount` in base units,
//! `price`; good till cancelled) and "Buy/Sell market order" (`buy/market/{pair}/`,
//! `sell/market/{pair}/`: `amount` in base units for buys and sells alike), each with our
//! `client_order_id` (any unique string: our UUID). The answer names the order (`id`) but
//! not its state: `accepted`. "Cancel order" (`cancel_order/`, `id`). "Order status"
//! (`order_status/`, by `client_order_id`) reconciles a placement whose answer was lost:
//! `Open`, `Finished` (filled), `Canceled`, `Expired`; "Order not found" means it never
//! arrived.
//!
//! Refusals: `{"status": "error", "reason", "code" | "response_code"}` (the reason a string
//! or a map of field → messages, `__all__` for the order as a whole) or `{"error": "…"}`,
//! with an HTTP error status or with 200 (order calls): both are refusals. Codes from the
//! docs' "Response codes" table: `400.002` rate limit exceeded (transient), `400.009`
//! insufficient balance, `404.002` order not found; authentication `API0001`…`API0020`
//! (`API0004` invalid nonce: a later try takes a new one, so transient).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::read::{arr, body, decimal_text, get, id, message, obj, parse_json, refused, string};
use crate::{
    Amount, BalancePage, Checked, MAX_FIELD, Placed, Request, Response, Result, Side, Trade, TradePage, Venue,
    VenueBalance, VenueError, bad_input, check_symbol, form, malformed, normalize_asset,
};

/// Page size: what Bitstamp sets `limit` to whenever `since_id` is sent (its maximum).
const LIMIT: usize = 1000;

/// Bitstamp refusals worth retrying later: `400.002` rate limit exceeded, `API0004`
/// invalid nonce (nothing done), and its scheduled maintenance.
pub(crate) fn transient(message: &str) -> bool {
    ["400.002 ", "API0004 "].iter().any(|p| message.starts_with(p)) || message.contains("under scheduled maintenance")
}

/// A `reason`: a string, or a map of field → message(s), `__all__` first.
fn reason_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            let mut parts: Vec<&str> = Vec::new();
            let all = m.get("__all__").into_iter();
            for v in all.chain(m.iter().filter(|(k, _)| *k != "__all__").map(|(_, v)| v)) {
                match v {
                    Value::String(s) => parts.push(s),
                    Value::Array(a) => parts.extend(a.iter().filter_map(Value::as_str)),
                    _ => {}
                }
            }
            parts.retain(|p| !p.is_empty());
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}

/// `{code} {reason}` of a refusal, or `{"error"}`'s text; `None` for an answer.
fn error_text(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    if let Some(e) = o.get("error") {
        return reason_text(e).or_else(|| Some("error".into()));
    }
    if o.get("status").and_then(Value::as_str) != Some("error") {
        return None;
    }
    let code = o.get("code").or_else(|| o.get("response_code")).and_then(Value::as_str);
    let reason = o.get("reason").and_then(reason_text);
    match (code, reason) {
        (Some(c), Some(r)) => Some(format!("{c} {r}")),
        (Some(c), None) => Some(c.to_owned()),
        (None, r) => Some(r.unwrap_or_else(|| "error".into())),
    }
}

/// The answer, or the refusal it is (Bitstamp refuses orders inside a 200 too).
fn checked(resp: Response<'_>) -> Result<Value> {
    let v = body(resp, error_text)?;
    match error_text(&v) {
        Some(text) => Err(refused(resp.status, Some(text), "refused")),
        None => Ok(v),
    }
}

/// A decimal printed as a string or a JSON number, as exact text.
fn amount(o: &Map<String, Value>, key: &str, field: &'static str, signed: bool) -> Result<String> {
    match get(o, key, field)? {
        Value::String(s) => decimal_text(s, field, signed),
        Value::Number(n) => {
            let raw = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u.to_string(),
                (None, Some(i)) => i.to_string(),
                _ => crate::bitfinex::plain(&n.to_string())
                    .ok_or(malformed(field, "is not a number read exactly (over 15 significant digits)"))?,
            };
            decimal_text(&raw, field, signed)
        }
        _ => Err(malformed(field, "is not a decimal")),
    }
}

/// A Bitstamp market as it goes in a path: lower-case letters and digits.
fn pair(symbol: &str) -> Result<&str> {
    if !(2..=24).contains(&symbol.len()) || !symbol.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(bad_input("symbol", "is not a Bitstamp market (lower-case letters and digits, e.g. btcusd)"));
    }
    Ok(symbol)
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("POST", "/api/v2/account_balances/", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let mut balances = Vec::new();
    for b in arr(&v, "$")? {
        let b = obj(b, "[]")?;
        balances.push(VenueBalance {
            asset: normalize_asset(Venue::Bitstamp, string(b, "currency", "[].currency")?)?,
            free: amount(b, "available", "[].available", false)?,
            locked: amount(b, "reserved", "[].reserved", false)?,
        });
    }
    Ok(BalancePage { balances, next: None })
}

/// A transaction id (or a cursor holding one): 1 to 20 digits.
fn tx_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn cursor_id(c: &str) -> Result<u64> {
    tx_id(c).ok_or(bad_input("cursor", "is not a Bitstamp transaction id"))
}

/// Where a page starts: the cursor's id, else the refresh's start (`from`), else the first.
fn position(from: Option<u64>, cursor: Option<&str>) -> Result<Option<u64>> {
    match cursor {
        Some(c) => Ok(Some(cursor_id(c)?)),
        None => Ok(from),
    }
}

fn request_at(since_id: Option<u64>) -> Request {
    let b = match since_id {
        Some(id) => format!("limit={LIMIT}&since_id={id}&sort=asc"),
        None => format!("limit={LIMIT}&sort=asc"),
    };
    Request::new("POST", "/api/v2/user_transactions/", "", &b)
}

/// A refresh starts at the largest stored transaction id (the importer's marks, per market).
fn newest_id(last_ids: &BTreeMap<String, u64>) -> Option<u64> {
    last_ids.values().copied().max()
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(request_at(position(None, cursor)?)))
}

pub(crate) fn trades_since_request(last_ids: &BTreeMap<String, u64>, cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(request_at(position(newest_id(last_ids), cursor)?)))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_at(position(None, cursor)?, resp)
}

pub(crate) fn parse_trades_since(
    last_ids: &BTreeMap<String, u64>,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_at(position(newest_id(last_ids), cursor)?, resp)
}

/// A currency code as a key of a transaction: lower-case letters and digits.
fn currency_key(s: &str) -> bool {
    (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The market a trade row names: its one `{base}_{quote}` key holding a non-zero number
/// (other fields that happen to look so, holding anything else, are not prices).
fn market_of(t: &Map<String, Value>) -> Result<(&str, &str)> {
    let mut found = None;
    for (k, v) in t {
        let Some((base, quote)) = k.split_once('_') else { continue };
        if k == "order_id" || !currency_key(base) || !currency_key(quote) {
            continue;
        }
        let text = match v {
            Value::String(s) if s.len() <= MAX_FIELD => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        // Only the traded market's price is non-zero (`0`, `0.0`, `0.00` elsewhere).
        let digits = text.trim_start_matches('-');
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        {
            continue;
        }
        if digits.bytes().all(|b| b == b'0' || b == b'.') {
            continue;
        }
        if found.replace((base, quote)).is_some() {
            return Err(malformed("[]", "names more than one market"));
        }
    }
    found.ok_or(malformed("[]", "names no market ({base}_{quote} price)"))
}

fn trade_of(t: &Map<String, Value>) -> Result<Trade> {
    let (base, quote) = market_of(t)?;
    let price = amount(t, &format!("{base}_{quote}"), "[].{base}_{quote}", false)?;
    let base_amount =
        Amount::parse(&amount(t, base, "[].{base}", true)?).ok_or(malformed("[].{base}", "is out of range"))?;
    let quote_amount =
        Amount::parse(&amount(t, quote, "[].{quote}", true)?).ok_or(malformed("[].{quote}", "is out of range"))?;
    if base_amount.is_zero() {
        return Err(malformed("[].{base}", "is zero"));
    }
    // A buy pays quote for base, a sell the other way: never both in or both out.
    if !quote_amount.is_zero() && quote_amount.is_negative() == base_amount.is_negative() {
        return Err(malformed("[].{quote}", "moves the same way as the base amount"));
    }
    let (side, qty) = if base_amount.is_negative() {
        (Side::Sell, base_amount.checked_neg().ok_or(malformed("[].{base}", "is out of range"))?)
    } else {
        (Side::Buy, base_amount)
    };
    let symbol = format!("{base}{quote}");
    check_symbol(&symbol).map_err(|_| malformed("[].{base}_{quote}", "is not a market"))?;
    let when = string(t, "datetime", "[].datetime")?;
    let time_ms = crate::rfc3339_ms(&format!("{when}Z"))
        .filter(|t| *t >= 0)
        .ok_or(malformed("[].datetime", "is not a UTC date and time"))?;
    Ok(Trade {
        exchange_trade_id: String::new(),
        symbol,
        side,
        price,
        qty: qty.to_string(),
        fee: amount(t, "fee", "[].fee", false)?,
        fee_asset: Some(normalize_asset(Venue::Bitstamp, quote)?),
        time_ms,
    })
}

/// The page asked from `since_id` (`None`: the first).
fn parse_at(asked: Option<u64>, resp: Response<'_>) -> Result<TradePage> {
    let v = checked(resp)?;
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the page size"));
    }
    let mut trades = Vec::new();
    let mut last: Option<u64> = None;
    for t in rows {
        let t = obj(t, "[]")?;
        let tid = tx_id(&id(t, "id", "[].id")?).ok_or(malformed("[].id", "is not a transaction id"))?;
        if asked.is_some_and(|a| tid < a) {
            return Err(malformed("[].id", "is below the since_id asked for"));
        }
        // Oldest first: an id at or below the one before would make the paging loop or skip.
        if last.is_some_and(|l| tid <= l) {
            return Err(malformed("[].id", "is not in ascending order"));
        }
        last = Some(tid);
        let kind = match get(t, "type", "[].type")? {
            Value::String(s) => s.parse::<u32>().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        };
        match kind {
            Some(2) => trades.push(Trade { exchange_trade_id: tid.to_string(), ..trade_of(t)? }),
            Some(_) => {}
            None => return Err(malformed("[].type", "is not a transaction type")),
        }
    }
    let next = match last {
        Some(l) if rows.len() == LIMIT => {
            if asked == Some(l) {
                return Err(malformed("$", "did not go past the since_id asked for"));
            }
            Some(l.to_string())
        }
        _ => None,
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let pair = pair(order.symbol)?;
    let side = if order.buy { "buy" } else { "sell" };
    Ok(match order.price {
        Some(price) => Request::new(
            "POST",
            &format!("/api/v2/{side}/{pair}/"),
            "",
            &form(&[("amount", order.qty), ("client_order_id", order.client_order_id), ("price", price)]),
        ),
        None => Request::new(
            "POST",
            &format!("/api/v2/{side}/market/{pair}/"),
            "",
            &form(&[("amount", order.qty), ("client_order_id", order.client_order_id)]),
        ),
    })
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    Ok(Placed { exchange_order_id: id(obj(&v, "$")?, "id", "id")?, status: "accepted" })
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("POST", "/api/v2/cancel_order/", "", &form(&[("id", exchange_order_id)]))
}

/// The cancelled order comes back (`id`, `amount`, `price`, `type`).
pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    id(obj(&v, "$")?, "id", "id").map(|_| ())
}

/// "Order status" by `client_order_id`.
pub(crate) fn status_request(_symbol: &str, client_order_id: &str) -> Option<Request> {
    Some(Request::new("POST", "/api/v2/order_status/", "", &form(&[("client_order_id", client_order_id)])))
}

/// "Order not found" (`404.002`): the placement never reached Bitstamp.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let not_found = parse_json(resp.body)
        .ok()
        .and_then(|v| error_text(&v))
        .and_then(|t| message(&t))
        .is_some_and(|t| t.starts_with("404.002 ") || t.trim_end_matches('.').ends_with("Order not found"));
    if not_found && (resp.status == 404 || (200..300).contains(&resp.status)) {
        return Ok(None);
    }
    let v = checked(resp)?;
    let o = obj(&v, "$")?;
    let status = match string(o, "status", "status")? {
        "Open" | "Cancel pending" => "open",
        "In Queue" => "accepted",
        "Finished" => "filled",
        "Canceled" => "canceled",
        "Expired" => "expired",
        _ => return Err(VenueError::Malformed { field: "status", reason: "is not a Bitstamp order status" }),
    };
    Ok(Some(Placed { exchange_order_id: id(o, "id", "id")?, status }))
}
