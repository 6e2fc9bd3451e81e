//! Deribit API v2 (JSON-RPC over HTTP, `/api/v2/private/<method>`).
//!
//! Every request here is a `GET` with its parameters in the query: the method is the path,
//! which is what the signer classes (read, trade, withdraw) and signs
//! (`deri-hmac-sha256` over timestamp, nonce, method, path?query and an empty body), and
//! what CCXT sends. Answers are JSON-RPC: `{"jsonrpc": "2.0", "result": …}`, or `{"error":
//! {"code", "message", "data"}}` (HTTP 400; a 200 carrying `error` is read as a refusal too).
//! Numbers are JSON numbers (`0.00181819`, `-2.1e-7`): each is read from the shortest text of
//! its double (serde_json's `float_roundtrip`, so that text is the one Deribit printed) and
//! spelled as a plain decimal; no float is ever added or compared.
//!
//! Currencies: Deribit keeps one account per currency (`BTC`, `ETH`, `USDC`, `USDT`,
//! `EURR`: the `currency` enum of the v2 reference), named as everyone does: upper-cased,
//! nothing mapped. Every per-currency call walks [`DERIBIT_CURRENCIES`] in that order.
//!
//! Balances: "get_account_summary" (`currency`), one currency a page (the cursor is the
//! next currency). The holding is the currency's `equity` — the balance plus the floating
//! and realised PnL of its positions, what the account is worth — split as free =
//! `available_funds` and locked = equity − free (the margin positions and open orders
//! hold). Positions are not holdings of their own: their value is already in the equity,
//! and an inverse perpetual's size is USD notional, not an asset; [`deribit_positions_request`]
//! and [`parse_deribit_positions`] read them for whoever shows them.
//!
//! Trade history: "get_user_trades_by_currency" (`currency`, `start_timestamp`, `count`
//! 100 of at most 1000, `sorting=asc`, `historical`). Deribit keeps recent trades 24 hours
//! and indexes them into the historical store after a short delay ("Accessing Historical
//! Trades and Orders Using API"): each currency is read from the historical store, then
//! from the recent one (a trade in both upserts once). The cursor is
//! `CURRENCY:h|r:start_timestamp`; a page with `has_more` continues at its newest time
//! (that millisecond is read again), and a full page within one millisecond, which cannot
//! be paged past, is refused rather than asked forever. `trade_id`s are exchange-wide
//! (`48078936`, `ETH-34066`): rows are keyed by them as they are. `amount` is Deribit's:
//! USD for perpetuals and inverse futures, the base coin for options and linear
//! instruments; fees may be negative (a maker rebate), stored as they are. A refresh reads
//! from the newest stored trade less the overlap, from the recent store only when that is
//! well within its 24 hours.
//!
//! Orders: "buy"/"sell" (`instrument_name`, `amount`, `type` `limit` with `price` or
//! `market`, `label` = our client order id, which Deribit takes up to 64 characters). The
//! trader's quantity is sent as Deribit's `amount`, in Deribit's unit: USD for a perpetual
//! or an inverse future (a multiple of the contract size, 10 USD on BTC-PERPETUAL; the
//! exchange refuses others), the base coin for options and linear instruments. "cancel"
//! (`order_id`). "get_order_state_by_label" (`currency` of the instrument, `label`)
//! reconciles a placement that got no answer: an empty list means it never arrived.

use serde_json::{Map, Value};

use crate::read::{arr, decimal_text, get, id, obj, parse_json, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueBalance,
    VenueError, bad_input, malformed, normalize_asset,
};

/// The currencies Deribit keeps accounts in, in the order they are read.
pub const DERIBIT_CURRENCIES: [&str; 5] = ["BTC", "ETH", "USDC", "USDT", "EURR"];

/// Trades asked per page (Deribit allows 1000).
const COUNT: usize = 100;

/// How long Deribit keeps recent trades (ms), and the margin below it under which a
/// refresh trusts the recent store alone.
const RECENT_MS: i64 = 24 * 3_600_000;
const RECENT_MARGIN_MS: i64 = 3_600_000;

/// Deribit errors worth retrying later (codes from memory of "Error Codes"): 10028
/// too_many_requests, 10040 retry, 10041 settlement_in_progress, 10047
/// matching_engine_queue_full, 11051 system_maintenance, 13028 temporarily_unavailable,
/// 13888 timed_out.
pub(crate) fn transient(message: &str) -> bool {
    ["10028 ", "10040 ", "10041 ", "10047 ", "11051 ", "13028 ", "13888 "].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let code = e.get("code")?.as_i64()?;
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    let reason = e.pointer("/data/reason").and_then(Value::as_str);
    let param = e.pointer("/data/param").and_then(Value::as_str);
    Some(match (reason, param) {
        (Some(r), Some(p)) => format!("{code} {message}: {p} {r}"),
        (Some(r), None) => format!("{code} {message}: {r}"),
        _ => format!("{code} {message}"),
    })
}

/// The `result` of a JSON-RPC answer, or the exchange's refusal.
fn result(resp: Response<'_>) -> Result<Value> {
    let parsed = parse_json(resp.body);
    let refusal = |v: Option<&Value>| {
        let message = v
            .and_then(error_text)
            .and_then(|t| crate::read::message(&t))
            .unwrap_or_else(|| format!("HTTP {}", resp.status));
        VenueError::Exchange { status: resp.status, message }
    };
    if !(200..300).contains(&resp.status) {
        return Err(refusal(parsed.as_ref().ok()));
    }
    let mut v = parsed?;
    let o = v.as_object_mut().ok_or(malformed("$", "is not an object"))?;
    if o.get("error").is_some_and(|e| !e.is_null()) {
        return Err(refusal(Some(&v)));
    }
    o.remove("result").ok_or(malformed("result", "is missing"))
}

/// A JSON number as a plain decimal text: `-2.1e-7` → `-0.00000021`. Non-negative unless
/// `signed`.
fn number(o: &Map<String, Value>, key: &str, field: &'static str, signed: bool) -> Result<String> {
    let n = match get(o, key, field)? {
        Value::Number(n) => n.to_string(),
        _ => return Err(malformed(field, "is not a number")),
    };
    decimal_text(&plain(&n).ok_or(malformed(field, "is not a decimal number"))?, field, signed)
}

/// The plain spelling of a number's text with an optional exponent (`1e25`, `5.1E-3`);
/// `None` past 36 digits.
fn plain(text: &str) -> Option<String> {
    let Some((mantissa, exp)) = text.split_once(['e', 'E']) else { return Some(text.to_owned()) };
    let exp: i32 = exp.strip_prefix('+').unwrap_or(exp).parse().ok().filter(|e: &i32| e.abs() <= 36)?;
    let (neg, digits) = match mantissa.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, mantissa),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let all = format!("{int}{frac}");
    // Where the point falls in `all`.
    let point = i32::try_from(int.len()).ok()? + exp;
    let body = if point <= 0 {
        format!("0.{}{all}", "0".repeat(usize::try_from(-point).ok()?))
    } else {
        let point = usize::try_from(point).ok()?;
        if point >= all.len() {
            format!("{all}{}", "0".repeat(point - all.len()))
        } else {
            format!("{}.{}", &all[..point], &all[point..])
        }
    };
    let a = Amount::parse(&body)?;
    Some(if neg { a.checked_neg()? } else { a }.to_string())
}

/// The currency a Deribit instrument is margined (and its order state is asked) in:
/// `BTC` of `BTC-PERPETUAL` and `BTC-27MAY20-8750-C`, `USDC` of `BTC_USDC-PERPETUAL`.
fn currency_of(instrument: &str) -> Result<&'static str> {
    let head = instrument.split('-').next().unwrap_or("");
    let c = head.split_once('_').map_or(head, |(_, quote)| quote);
    DERIBIT_CURRENCIES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(c))
        .copied()
        .ok_or(bad_input("symbol", "is not a Deribit instrument of BTC, ETH, USDC, USDT or EURR"))
}

fn get_request(method: &str, query: &str) -> Request {
    Request::new("GET", &format!("/api/v2/private/{method}"), query, "")
}

pub(crate) fn balances_request(cursor: Option<&str>) -> Result<Request> {
    let currency = match cursor {
        None => DERIBIT_CURRENCIES[0],
        Some(c) => DERIBIT_CURRENCIES
            .iter()
            .find(|k| **k == c)
            .copied()
            .ok_or(bad_input("cursor", "is not a Deribit currency"))?,
    };
    Ok(get_request("get_account_summary", &format!("currency={currency}")))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = result(resp)?;
    let s = obj(&v, "result")?;
    let raw = string(s, "currency", "result.currency")?;
    let at = DERIBIT_CURRENCIES
        .iter()
        .position(|c| *c == raw)
        .ok_or(malformed("result.currency", "is not a Deribit currency"))?;
    let equity = number(s, "equity", "result.equity", true)?;
    let available = number(s, "available_funds", "result.available_funds", true)?;
    let (e, a) = (
        Amount::parse(&equity).ok_or(malformed("result.equity", "is out of range"))?,
        Amount::parse(&available).ok_or(malformed("result.available_funds", "is out of range"))?,
    );
    // Free is what may be used, within the equity; a negative equity (a deficit) is all
    // free, so the holding's total stays the equity.
    let (free, locked) = if e.is_negative() {
        (equity, "0".to_owned())
    } else if a.is_negative() {
        ("0".to_owned(), equity)
    } else if e.checked_sub(a).is_some_and(Amount::is_negative) {
        (equity, "0".to_owned())
    } else {
        let locked = e.checked_sub(a).ok_or(malformed("result.available_funds", "is out of range"))?;
        (available, locked.normalized().to_string())
    };
    Ok(BalancePage {
        balances: vec![VenueBalance { asset: normalize_asset(Venue::Deribit, raw)?, free, locked }],
        next: DERIBIT_CURRENCIES.get(at + 1).map(|c| (*c).to_owned()),
    })
}

/// Where a page of trades starts.
#[derive(Debug, Clone, Copy)]
struct At {
    currency: &'static str,
    /// The historical store (`true`) or the recent one.
    historical: bool,
    from: i64,
}

/// How an import reads: from `from` (ms), and whether the historical store is read.
#[derive(Debug, Clone, Copy)]
struct Plan {
    from: i64,
    historical: bool,
}

impl Plan {
    fn full() -> Self {
        Self { from: 0, historical: true }
    }

    /// From `from_ms`; the recent store alone when `from_ms` is well within its 24 hours.
    fn since(from_ms: i64, now_ms: i64) -> Self {
        Self { from: from_ms, historical: from_ms < now_ms.saturating_sub(RECENT_MS - RECENT_MARGIN_MS) }
    }

    fn first(self) -> At {
        At { currency: DERIBIT_CURRENCIES[0], historical: self.historical, from: self.from }
    }

    /// The cursor after `at`'s store is read to its end: the recent store of the same
    /// currency, else the next currency.
    fn after(self, at: At) -> Option<String> {
        if at.historical {
            return Some(format!("{}:r:{}", at.currency, self.from));
        }
        let i = DERIBIT_CURRENCIES.iter().position(|c| *c == at.currency)?;
        let next = DERIBIT_CURRENCIES.get(i + 1)?;
        Some(format!("{next}:{}:{}", if self.historical { "h" } else { "r" }, self.from))
    }

    fn at(self, cursor: Option<&str>) -> Result<At> {
        let Some(c) = cursor else { return Ok(self.first()) };
        let bad = || bad_input("cursor", "is not CURRENCY:h|r:start_timestamp");
        let mut parts = c.splitn(3, ':');
        let (cur, store, t) =
            (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        let currency = DERIBIT_CURRENCIES.iter().find(|k| **k == cur).copied().ok_or_else(bad)?;
        let historical = match store {
            "h" => true,
            "r" => false,
            _ => return Err(bad()),
        };
        if t.is_empty() || t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let from = t.parse::<i64>().map_err(|_| bad())?.max(self.from);
        Ok(At { currency, historical, from })
    }
}

fn request_at(at: At) -> Request {
    let q = format!(
        "currency={}&start_timestamp={}&count={COUNT}&sorting=asc&historical={}",
        at.currency, at.from, at.historical
    );
    get_request("get_user_trades_by_currency", &q)
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(request_at(Plan::full().at(cursor)?)))
}

pub(crate) fn trades_since_request(from_ms: i64, now_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    Ok(Some(request_at(Plan::since(from_ms, now_ms).at(cursor)?)))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_page(Plan::full(), cursor, resp)
}

pub(crate) fn parse_trades_since(
    from_ms: i64,
    now_ms: i64,
    cursor: Option<&str>,
    resp: Response<'_>,
) -> Result<TradePage> {
    parse_page(Plan::since(from_ms, now_ms), cursor, resp)
}

fn parse_page(plan: Plan, cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let at = plan.at(cursor)?;
    let v = result(resp)?;
    let r = obj(&v, "result")?;
    let rows = arr(get(r, "trades", "result.trades")?, "result.trades")?;
    if rows.len() > COUNT {
        return Err(malformed("result.trades", "holds more than the count asked for"));
    }
    let has_more =
        get(r, "has_more", "result.has_more")?.as_bool().ok_or(malformed("result.has_more", "is not a boolean"))?;
    let mut trades = Vec::with_capacity(rows.len());
    let mut newest = at.from;
    for t in rows {
        let t = obj(t, "result.trades[]")?;
        let time_ms = get(t, "timestamp", "result.trades[].timestamp")?
            .as_i64()
            .filter(|t| *t >= 0)
            .ok_or(malformed("result.trades[].timestamp", "is not a millisecond time"))?;
        // Oldest first from `start_timestamp`: an older row would send the paging back.
        if time_ms < newest {
            return Err(malformed("result.trades[].timestamp", "is not oldest first from the start_timestamp asked"));
        }
        newest = time_ms;
        let side = match string(t, "direction", "result.trades[].direction")? {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => return Err(malformed("result.trades[].direction", "is not buy or sell")),
        };
        let fee_asset = match t.get("fee_currency") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(
                normalize_asset(Venue::Deribit, c)
                    .map_err(|_| malformed("result.trades[].fee_currency", "is not a currency"))?,
            ),
            Some(_) => return Err(malformed("result.trades[].fee_currency", "is not a string")),
        };
        trades.push(Trade {
            exchange_trade_id: id(t, "trade_id", "result.trades[].trade_id")?,
            symbol: symbol_of(t, "instrument_name", "result.trades[].instrument_name")?,
            side,
            price: number(t, "price", "result.trades[].price", false)?,
            qty: number(t, "amount", "result.trades[].amount", false)?,
            fee: number(t, "fee", "result.trades[].fee", true)?,
            fee_asset,
            time_ms,
        });
    }
    let next = if has_more {
        if newest <= at.from {
            return Err(malformed(
                "result.trades",
                "fills a page within one millisecond: paging by time cannot pass it",
            ));
        }
        let store = if at.historical { "h" } else { "r" };
        Some(format!("{}:{store}:{newest}", at.currency))
    } else {
        plan.after(at)
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    // The label names the order's currency when it is reconciled: refuse an instrument
    // of none of Deribit's before anything is sent.
    currency_of(order.symbol)?;
    if order.client_order_id.len() > 64 {
        return Err(bad_input("client_order_id", "a Deribit label is at most 64 characters"));
    }
    let mut q = format!("instrument_name={}&amount={}", order.symbol, order.qty);
    match order.price {
        Some(p) => q.push_str(&format!("&type=limit&price={p}")),
        None => q.push_str("&type=market"),
    }
    q.push_str(&format!("&label={}", order.client_order_id));
    Ok(get_request(if order.buy { "buy" } else { "sell" }, &q))
}

/// Our status of a Deribit `order_state` (`None`: not one Deribit documents).
fn status_of(s: &str) -> Option<&'static str> {
    Some(match s {
        "open" | "untriggered" | "triggered" => "open",
        "filled" => "filled",
        "cancelled" => "canceled",
        "rejected" => "rejected",
        _ => return None,
    })
}

fn placed_of(o: &Map<String, Value>, field: &'static str) -> Result<Placed> {
    let state = string(o, "order_state", field)?;
    let status = status_of(state).ok_or(malformed(field, "is not a Deribit order state"))?;
    let exchange_order_id = id(o, "order_id", "order_id")?;
    if exchange_order_id.len() > 64 {
        return Err(malformed("order_id", "is too long"));
    }
    Ok(Placed { exchange_order_id, status })
}

/// "buy"/"sell" answer `{"order": {…}, "trades": […]}`.
pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = result(resp)?;
    let order = obj(get(obj(&v, "result")?, "order", "result.order")?, "result.order")?;
    placed_of(order, "result.order.order_state")
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    get_request("cancel", &format!("order_id={exchange_order_id}"))
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = result(resp)?;
    match placed_of(obj(&v, "result")?, "result.order_state")?.status {
        "canceled" => Ok(()),
        _ => Err(VenueError::Exchange { status: resp.status, message: "the order was not cancelled".into() }),
    }
}

/// "get_order_state_by_label" in the instrument's currency. `None` for an instrument of
/// no Deribit currency (no such order can have been placed: [`place_request`] refuses it).
pub(crate) fn status_request(symbol: &str, client_order_id: &str) -> Option<Request> {
    let currency = currency_of(symbol).ok()?;
    Some(get_request("get_order_state_by_label", &format!("currency={currency}&label={client_order_id}")))
}

/// An empty list: the placement never reached Deribit. More than one order under the
/// label (one reused) is refused rather than guessed between.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let v = result(resp)?;
    match arr(&v, "result")?.as_slice() {
        [] => Ok(None),
        [one] => placed_of(obj(one, "result[]")?, "result[].order_state").map(Some),
        _ => Err(malformed("result", "names more than one order")),
    }
}

/// One open position on Deribit, as "get_positions" reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeribitPosition {
    /// The instrument (`BTC-PERPETUAL`).
    pub instrument: String,
    /// `future` or `option` (Deribit's `kind`).
    pub kind: String,
    /// Signed size in Deribit's amount unit (USD for perpetuals and inverse futures;
    /// negative: short).
    pub size: String,
    /// Average entry price.
    pub average_price: String,
    /// Mark price.
    pub mark_price: String,
    /// Unrealised PnL, in the currency (signed).
    pub floating_pnl: String,
    /// Realised PnL, in the currency (signed).
    pub realized_pnl: String,
}

/// "get_positions" of `currency` (one of [`DERIBIT_CURRENCIES`]), every kind.
pub fn deribit_positions_request(currency: &str) -> Result<Request> {
    if !DERIBIT_CURRENCIES.contains(&currency) {
        return Err(bad_input("currency", "is not a Deribit currency"));
    }
    Ok(get_request("get_positions", &format!("currency={currency}")))
}

/// The open positions in a "get_positions" answer (a closed one, size 0, is left out).
pub fn parse_deribit_positions(resp: Response<'_>) -> Result<Vec<DeribitPosition>> {
    let v = result(resp)?;
    let mut out = Vec::new();
    for p in arr(&v, "result")? {
        let p = obj(p, "result[]")?;
        let size = number(p, "size", "result[].size", true)?;
        if Amount::parse(&size).is_some_and(Amount::is_zero) {
            continue;
        }
        let kind = string(p, "kind", "result[].kind")?;
        if kind.is_empty() || kind.len() > 16 || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(malformed("result[].kind", "is not an instrument kind"));
        }
        out.push(DeribitPosition {
            instrument: symbol_of(p, "instrument_name", "result[].instrument_name")?,
            kind: kind.to_owned(),
            size,
            average_price: number(p, "average_price", "result[].average_price", false)?,
            mark_price: number(p, "mark_price", "result[].mark_price", false)?,
            floating_pnl: number(p, "floating_profit_loss", "result[].floating_profit_loss", true)?,
            realized_pnl: number(p, "realized_profit_loss", "result[].realized_profit_loss", true)?,
        });
    }
    Ok(out)
}
