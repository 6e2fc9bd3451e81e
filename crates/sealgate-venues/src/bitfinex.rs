//! Bitfinex API v2, the exchange wallet (`POST /v2/auth/…`).
//!
//! Every call is a `POST` with its parameters in a JSON body: the signer refuses a query
//! (it would travel unsigned), signs `/api` + path + nonce + body, and takes the nonce —
//! strictly increasing per key, the clock in microseconds as floor — from the store's
//! per-credential sequence under the credential's lock, shared by the importer and the
//! trader (see `sealgate-server`'s signer).
//!
//! Answers are positional JSON arrays: every row is read by index, with a bounds check; a
//! row longer than the fields read is accepted (Bitfinex appends fields without a new
//! version), a shorter one is refused. Bitfinex prints amounts as JSON *numbers*: an
//! integer is read exactly; a number with a fraction is read from its shortest decimal
//! spelling and refused beyond 15 significant digits (what a JSON number is read exactly
//! with here). Bitfinex quotes prices to 5 significant digits and amounts to 8 decimals.
//!
//! Assets: Bitfinex spells some currencies its own way; they are mapped to the common
//! naming (from memory of Bitfinex's currency list, `pub:map:currency:sym`):
//!
//! | Bitfinex | common |
//! |---|---|
//! | `UST` | `USDT` (Tether USDt; not TerraUSD) |
//! | `UDC` | `USDC` |
//! | `TSD` | `TUSD` |
//! | `EUT` | `EURT` |
//! | `DSH` | `DASH` |
//! | `IOT` | `IOTA` |
//! | `QTM` | `QTUM` |
//! | `MNA` | `MANA` |
//! | `DAT` | `DATA` |
//! | `ALG` | `ALGO` |
//! | `ATO` | `ATOM` |
//! | `WBT` | `WBTC` |
//! | `STJ` | `STORJ` |
//!
//! Symbols: a trading pair is `t` + base + quote (`tBTCUST`, BTC in USDT), with a `:`
//! between the two where one is longer than three letters (`tDOGE:USD`). Sealgate's symbol
//! alphabet has no `:`, so a pair is stored and ordered with `/` in its place
//! (`tDOGE/USD`) and the `:` is put back in every request (Bitfinex symbols have no `/`).
//!
//! Balances: "Wallets" (`/v2/auth/r/wallets`), rows `[TYPE, CURRENCY, BALANCE,
//! UNSETTLED_INTEREST, AVAILABLE_BALANCE, …]`; only `exchange` wallets (margin and funding
//! wallets hold borrowed or lent funds): free = `AVAILABLE_BALANCE`, locked = `BALANCE` −
//! free. Bitfinex leaves `AVAILABLE_BALANCE` null until it has computed it: the whole
//! balance is then counted free (the total is right, the split unknown).
//!
//! Trade history: "Trades" (`/v2/auth/r/trades/hist`, every pair), `sort` −1 (newest
//! first), `limit` 100 (at most 2500), paged back with `end` (ms, inclusive) = the oldest
//! `MTS` of the last page: the importer's cursor is that time. The trades of that
//! millisecond are read again (rows upsert by id), none skipped; a full page within one
//! millisecond cannot be paged past by time and is refused rather than asked forever.
//! Rows `[ID, SYMBOL, MTS, ORDER_ID, EXEC_AMOUNT, EXEC_PRICE, ORDER_TYPE, ORDER_PRICE,
//! MAKER, FEE, FEE_CURRENCY, CID]`; `EXEC_AMOUNT` is signed (negative for a sell), `FEE`
//! negative for a fee paid (a positive one, a rebate, is stored as a negative fee). Trade
//! ids are account-wide: rows are keyed by `ID` alone. Incremental: `start` (ms).
//!
//! Orders: "Submit Order" (`/v2/auth/w/order/submit`), `EXCHANGE LIMIT` or `EXCHANGE
//! MARKET`, `amount` in base units, negative to sell (a market buy is sized in base units
//! too); `cid` is our client order id, an integer below 2^45 ([`crate::client_order_id`]).
//! The answer is a notification `[MTS, TYPE, MESSAGE_ID, null, [ORDER], CODE, STATUS,
//! TEXT]`. "Cancel Order" (`/v2/auth/w/order/cancel`, `id`). "Retrieve Orders" lists
//! active orders only (a filled one is in the order history), so its "not there" would
//! not prove a placement never arrived: no status query (`None`), as for KuCoin.
//!
//! Refusals: `["error", CODE, "message"]` with HTTP 500 (from memory: 10100
//! authentication, 10114 nonce too small, 10020 parameters, 10001 other, 11010 rate
//! limit); read as a definite refusal with status 400 unless worth retrying (see
//! `checked`).

use serde_json::{Value, json};

use crate::read::{arr, body, decimal_text, parse_json};
use crate::{
    Amount, BalancePage, Checked, Placed, Request, Response, Result, Side, Trade, TradePage, Venue, VenueBalance,
    VenueError, bad_input, check_symbol, malformed, normalize_asset,
};

/// Page size asked for (Bitfinex allows up to 2500).
const LIMIT: usize = 100;
/// Path of the trade history of every pair.
const TRADES: &str = "/v2/auth/r/trades/hist";

/// Bitfinex's own currency spellings and the common naming's.
const SPELLINGS: &[(&str, &str)] = &[
    ("UST", "USDT"),
    ("UDC", "USDC"),
    ("TSD", "TUSD"),
    ("EUT", "EURT"),
    ("DSH", "DASH"),
    ("IOT", "IOTA"),
    ("QTM", "QTUM"),
    ("MNA", "MANA"),
    ("DAT", "DATA"),
    ("ALG", "ALGO"),
    ("ATO", "ATOM"),
    ("WBT", "WBTC"),
    ("STJ", "STORJ"),
];

/// Bitfinex's own currency spellings → the common naming (upper case in, upper case out).
pub(crate) fn asset(up: &str) -> String {
    SPELLINGS.iter().find(|(b, _)| *b == up).map_or(up, |(_, c)| c).to_owned()
}

/// The common naming → Bitfinex's spelling ([`asset`] reversed).
pub(crate) fn spelled(common: &str) -> &str {
    SPELLINGS.iter().find(|(_, c)| *c == common).map_or(common, |(b, _)| b)
}

/// Bitfinex errors worth retrying later: 10114 nonce too small (nothing executed; a later
/// try takes a new nonce, as for Kraken's "Invalid nonce"), 11010 rate limit, 20060
/// maintenance (from memory).
pub(crate) fn transient(message: &str) -> bool {
    ["10114 ", "11010 ", "20060 "].iter().any(|p| message.starts_with(p))
}

/// `["error", CODE, "message"]`, or `{"error": "…"}` (a rate-limit answer).
fn error_text(v: &Value) -> Option<String> {
    error_array(v).or_else(|| v.get("error")?.as_str().map(str::to_owned))
}

/// One positional row: an array with at least `min` fields.
fn row<'a>(v: &'a Value, min: usize, field: &'static str) -> Result<&'a [Value]> {
    let a = v.as_array().ok_or(malformed(field, "is not an array"))?;
    if a.len() < min {
        return Err(malformed(field, "has too few fields"));
    }
    if a.len() > 64 {
        return Err(malformed(field, "has too many fields"));
    }
    Ok(a)
}

fn at<'a>(r: &'a [Value], i: usize, field: &'static str) -> Result<&'a Value> {
    r.get(i).ok_or(malformed(field, "is missing"))
}

fn text<'a>(r: &'a [Value], i: usize, field: &'static str) -> Result<&'a str> {
    let s = at(r, i, field)?.as_str().ok_or(malformed(field, "is not a string"))?;
    if s.len() > crate::MAX_FIELD {
        return Err(malformed(field, "is too long"));
    }
    Ok(s)
}

fn uint(r: &[Value], i: usize, field: &'static str) -> Result<u64> {
    at(r, i, field)?.as_u64().ok_or(malformed(field, "is not a non-negative integer"))
}

/// A time in ms (a non-negative integer that fits an i64).
fn mts(r: &[Value], i: usize, field: &'static str) -> Result<i64> {
    at(r, i, field)?.as_i64().filter(|t| *t >= 0).ok_or(malformed(field, "is not a millisecond time"))
}

/// A decimal printed as a JSON number, as its exact text (signed when `signed`).
fn num(r: &[Value], i: usize, field: &'static str, signed: bool) -> Result<String> {
    let n = match at(r, i, field)? {
        Value::Number(n) => n,
        _ => return Err(malformed(field, "is not a number")),
    };
    let raw = if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        plain(&n.to_string()).ok_or(malformed(field, "is not a number read exactly (over 15 significant digits)"))?
    };
    decimal_text(&raw, field, signed)
}

/// The plain decimal of a float's shortest spelling (`1e-8` → `0.00000001`), or `None`
/// beyond 15 significant digits (past what a double keeps of a decimal).
pub(crate) fn plain(s: &str) -> Option<String> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || !(-40..=40).contains(&exp) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant > 15 {
        return None;
    }
    // The point sits after `point` digits of `digits`.
    let point = i32::try_from(int.len()).ok()? + exp;
    let out = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).ok()?))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    let a = Amount::parse(&out)?;
    let a = if neg { a.checked_neg()? } else { a };
    Some(a.normalized().to_string())
}

/// Our spelling of a Bitfinex pair: `tDOGE:USD` → `tDOGE/USD` (no `:` in our symbols).
fn our_symbol(s: &str, field: &'static str) -> Result<String> {
    let ours = s.replace(':', "/");
    if !ours.starts_with('t') || ours.len() < 4 || check_symbol(&ours).is_err() {
        return Err(malformed(field, "is not a Bitfinex trading pair"));
    }
    Ok(ours)
}

/// Bitfinex's spelling of our symbol: `/` back to `:`.
fn their_symbol(s: &str) -> Result<String> {
    if !s.starts_with('t') || s.len() < 4 || s.matches('/').count() > 1 {
        return Err(bad_input("symbol", "is not a Bitfinex trading pair (`tBTCUSD`, `tDOGE/USD`)"));
    }
    Ok(s.replace('/', ":"))
}

/// A currency as the common naming spells it.
fn currency(r: &[Value], i: usize, field: &'static str) -> Result<String> {
    normalize_asset(Venue::Bitfinex, text(r, i, field)?).map_err(|_| malformed(field, "is not a currency"))
}

/// The answer as JSON when the HTTP status is 2xx and it is not an error array.
///
/// Bitfinex answers *every* refusal with HTTP 500: its error array is a definite refusal
/// (nothing executed), so one whose code is not worth retrying ([`transient`]) is reported
/// with status 400, and read as a refusal, not as an outage whose outcome is unknown. A
/// 5xx that is not Bitfinex's error array (a proxy's page) keeps its status.
fn checked(resp: Response<'_>) -> Result<Value> {
    if let Some(text) = parse_json(resp.body).ok().as_ref().and_then(error_array) {
        let message = crate::read::message(&text).unwrap_or_else(|| "error".into());
        let status = if resp.status >= 500 && !transient(&message) { 400 } else { resp.status };
        return Err(VenueError::Exchange { status, message });
    }
    body(resp, error_text)
}

/// The text of Bitfinex's error array `["error", CODE, "message"]`.
fn error_array(v: &Value) -> Option<String> {
    let a = v.as_array()?;
    if a.first()?.as_str()? != "error" {
        return None;
    }
    let code = a.get(1)?.as_i64()?;
    Some(format!("{code} {}", a.get(2).and_then(Value::as_str).unwrap_or("")))
}

fn cursor_ms(c: &str) -> Result<i64> {
    let bad = || bad_input("cursor", "is not a Bitfinex time in ms");
    if c.is_empty() || c.len() > 15 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    c.parse().map_err(|_| bad())
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("POST", "/v2/auth/r/wallets", "", "{}"))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let mut balances = Vec::new();
    for w in arr(&v, "$")? {
        let w = row(w, 5, "[]")?;
        match text(w, 0, "[][0]")? {
            "exchange" => {}
            "margin" | "funding" => continue,
            _ => return Err(malformed("[][0]", "is not a Bitfinex wallet type")),
        }
        let asset = currency(w, 1, "[][1]")?;
        let total = num(w, 2, "[][2]", false)?;
        let (free, locked) = match at(w, 4, "[][4]")? {
            Value::Null => (total, "0".to_owned()),
            _ => {
                let free = num(w, 4, "[][4]", false)?;
                let (t, f) = (Amount::parse(&total), Amount::parse(&free));
                let locked = t
                    .zip(f)
                    .and_then(|(t, f)| t.checked_sub(f))
                    .filter(|l| !l.is_negative())
                    .ok_or(malformed("[][4]", "is above the balance"))?;
                (free, locked.normalized().to_string())
            }
        };
        balances.push(VenueBalance { asset, free, locked });
    }
    Ok(BalancePage { balances, next: None })
}

fn history(start: Option<i64>, cursor: Option<&str>) -> Result<Option<Request>> {
    let mut b = json!({"limit": LIMIT, "sort": -1});
    if let Some(end) = cursor.map(cursor_ms).transpose()? {
        b["end"] = end.into();
    }
    if let Some(start) = start {
        b["start"] = start.into();
    }
    Ok(Some(Request::new("POST", TRADES, "", &b.to_string())))
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    history(None, cursor)
}

/// The same pages from `start` (ms) on.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    history(Some(from_ms), cursor)
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_page(None, cursor, resp)
}

/// A page of [`trades_since_request`]: as [`parse_trades`], and no trade before `start`.
pub(crate) fn parse_trades_since(from_ms: i64, cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    parse_page(Some(from_ms), cursor, resp)
}

fn parse_page(start: Option<i64>, cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let end = cursor.map(cursor_ms).transpose()?;
    let v = checked(resp)?;
    let rows = arr(&v, "$")?;
    if rows.len() > LIMIT {
        return Err(malformed("$", "holds more than the page size"));
    }
    let mut trades = Vec::with_capacity(rows.len());
    let mut previous: Option<i64> = None;
    for t in rows {
        let t = row(t, 11, "[]")?;
        let time_ms = mts(t, 2, "[][2]")?;
        if end.is_some_and(|e| time_ms > e) {
            return Err(malformed("[][2]", "is after the end asked for"));
        }
        if start.is_some_and(|s| time_ms < s) {
            return Err(malformed("[][2]", "is before the start asked for"));
        }
        // Newest first: a row newer than the one before would make the paging skip or loop.
        if previous.is_some_and(|p| time_ms > p) {
            return Err(malformed("[][2]", "is not newest first"));
        }
        previous = Some(time_ms);
        let amount = num(t, 4, "[][4]", true)?;
        let (side, qty) = match amount.strip_prefix('-') {
            Some(q) => (Side::Sell, q.to_owned()),
            None => (Side::Buy, amount),
        };
        if Amount::parse(&qty).is_none_or(Amount::is_zero) {
            return Err(malformed("[][4]", "is zero"));
        }
        let fee = num(t, 9, "[][9]", true)?;
        let fee = match fee.strip_prefix('-') {
            Some(paid) => paid.to_owned(),
            None if Amount::parse(&fee).is_some_and(Amount::is_zero) => fee,
            None => format!("-{fee}"),
        };
        let fee_asset = match at(t, 10, "[][10]")? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            _ => Some(currency(t, 10, "[][10]")?),
        };
        trades.push(Trade {
            exchange_trade_id: uint(t, 0, "[][0]")?.to_string(),
            symbol: our_symbol(text(t, 1, "[][1]")?, "[][1]")?,
            side,
            price: num(t, 5, "[][5]", false)?,
            qty,
            fee,
            fee_asset,
            time_ms,
        });
    }
    let next = match previous {
        Some(oldest) if rows.len() == LIMIT => {
            if end == Some(oldest) {
                return Err(malformed("$", "is a full page of one millisecond: paging by time cannot pass it"));
            }
            Some(oldest.to_string())
        }
        _ => None,
    };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let cid: u64 = order
        .client_order_id
        .parse()
        .ok()
        .filter(|c| *c > 0 && *c < 1 << 45)
        .ok_or(bad_input("client_order_id", "Bitfinex's cid is an integer below 2^45"))?;
    let amount = if order.buy { order.qty.to_owned() } else { format!("-{}", order.qty) };
    let mut b = json!({"symbol": their_symbol(order.symbol)?, "amount": amount, "cid": cid});
    match order.price {
        Some(px) => {
            b["type"] = "EXCHANGE LIMIT".into();
            b["price"] = px.into();
        }
        // `amount` is in base units for a market buy too.
        None => b["type"] = "EXCHANGE MARKET".into(),
    }
    Ok(Request::new("POST", "/v2/auth/w/order/submit", "", &b.to_string()))
}

/// Our status of a Bitfinex `ORDER_STATUS` (`ACTIVE`, `EXECUTED @ 107.6(-0.2)`, …).
fn status_of(s: &str) -> &'static str {
    if s == "ACTIVE" || s.starts_with("PARTIALLY FILLED") {
        "open"
    } else if s.starts_with("EXECUTED") {
        "filled"
    } else if s.starts_with("CANCELED") {
        "canceled"
    } else {
        "accepted"
    }
}

/// The order of a notification `[MTS, TYPE, MESSAGE_ID, null, DATA, CODE, STATUS, TEXT]`
/// of `kind`; a notification whose STATUS is not `SUCCESS` is the exchange's refusal.
fn notified<'a>(v: &'a Value, kind: &str, status: u16) -> Result<&'a Value> {
    let n = row(v, 8, "$")?;
    if text(n, 1, "[1]")? != kind {
        return Err(malformed("[1]", "is not the notification asked for"));
    }
    if text(n, 6, "[6]")? != "SUCCESS" {
        let said = at(n, 7, "[7]")?.as_str().and_then(crate::read::message);
        return Err(VenueError::Exchange { status, message: said.unwrap_or_else(|| "order refused".into()) });
    }
    at(n, 4, "[4]")
}

fn order_of(o: &Value) -> Result<Placed> {
    let o = row(o, 14, "[4][]")?;
    let id = uint(o, 0, "[4][][0]")?;
    Ok(Placed { exchange_order_id: id.to_string(), status: status_of(text(o, 13, "[4][][13]")?) })
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let orders = row(notified(&v, "on-req", resp.status)?, 1, "[4]")?;
    match orders {
        [one] => order_of(one),
        _ => Err(malformed("[4]", "does not hold exactly one order")),
    }
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    // Our order ids came from [`parse_placed`]: integers. Anything else is sent as text,
    // which Bitfinex refuses.
    let id: Value = exchange_order_id.parse::<u64>().map_or_else(|_| exchange_order_id.into(), Value::from);
    Request::new("POST", "/v2/auth/w/order/cancel", "", &json!({ "id": id }).to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    order_of(notified(&v, "oc-req", resp.status)?).map(|_| ())
}

/// None: "Retrieve Orders" lists active orders only (see the module docs).
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Bitfinex.to_string()))
}
