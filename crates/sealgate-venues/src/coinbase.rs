//! Coinbase Advanced Trade (`/api/v3/brokerage/…`).
//!
//! Balances and trade history are paged with Coinbase's `cursor`
//! (`GET /api/v3/brokerage/orders/historical/fills`); fills' `entry_id` is unique already.
//! Incremental: `start_sequence_timestamp`.

use serde_json::{Map, Value, json};

use crate::read::{arr, body, dec, get, id, obj, refused, rfc3339, side_of, string, symbol_of};
use crate::{
    BalancePage, Checked, Placed, Request, Response, Result, Trade, TradePage, Venue, VenueBalance, VenueError,
    bad_input, check_id, malformed, normalize_asset,
};

/// Page sizes asked for.
const FILLS_LIMIT: usize = 100;
const ACCOUNTS_LIMIT: usize = 250;

fn error_text(v: &Value) -> Option<String> {
    let e = v.get("error").and_then(Value::as_str).unwrap_or("");
    let m = v.get("message").and_then(Value::as_str).unwrap_or("");
    Some(format!("{e} {m}"))
}

fn checked(resp: Response<'_>) -> Result<Value> {
    body(resp, error_text)
}

/// Why an order failed, from Coinbase's `error_response` or `failure_reason`.
fn failure(o: &Map<String, Value>) -> Option<String> {
    o.get("error_response")
        .and_then(|e| e.get("message").or_else(|| e.get("error")))
        .and_then(Value::as_str)
        .or_else(|| o.get("failure_reason").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The next-page cursor, checked (`None`: the last page).
fn next_cursor(top: &Map<String, Value>, more: bool) -> Result<Option<String>> {
    match top.get("cursor") {
        Some(Value::String(c)) if !c.is_empty() && more => {
            check_id(c, "cursor").map_err(|_| malformed("cursor", "is not a cursor"))?;
            Ok(Some(c.clone()))
        }
        Some(Value::String(_) | Value::Null) | None => Ok(None),
        Some(_) => Err(malformed("cursor", "is not a string")),
    }
}

fn paged(path: &str, limit: usize, cursor: Option<&str>) -> Result<Request> {
    let mut q = format!("limit={limit}");
    if let Some(c) = cursor {
        check_id(c, "cursor")?;
        q.push_str(&format!("&cursor={c}"));
    }
    Ok(Request::new("GET", path, &q, ""))
}

pub(crate) fn balances_request(cursor: Option<&str>) -> Result<Request> {
    paged("/api/v3/brokerage/accounts", ACCOUNTS_LIMIT, cursor)
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let top = obj(&v, "$")?;
    let mut balances = Vec::new();
    for a in arr(get(top, "accounts", "accounts")?, "accounts")? {
        let a = obj(a, "accounts[]")?;
        let avail = obj(get(a, "available_balance", "accounts[].available_balance")?, "available_balance")?;
        let hold = match a.get("hold") {
            Some(h) => dec(obj(h, "accounts[].hold")?, "value", "accounts[].hold.value")?,
            None => "0".to_owned(),
        };
        balances.push(VenueBalance {
            asset: normalize_asset(Venue::Coinbase, string(a, "currency", "accounts[].currency")?)?,
            free: dec(avail, "value", "accounts[].available_balance.value")?,
            locked: hold,
        });
    }
    let more = top.get("has_next").and_then(Value::as_bool) == Some(true);
    let next = if more {
        let c = string(top, "cursor", "cursor")?;
        check_id(c, "cursor").map_err(|_| malformed("cursor", "is not a cursor"))?;
        Some(c.to_owned())
    } else {
        None
    };
    Ok(BalancePage { balances, next })
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    paged("/api/v3/brokerage/orders/historical/fills", FILLS_LIMIT, cursor).map(Some)
}

/// `start_sequence_timestamp`: only fills with a trade time at or after it (RFC 3339, its
/// colons percent-encoded); Coinbase's cursor pages within it.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    let start = rfc3339_of(from_ms)?.replace(':', "%3A");
    let mut q = format!("limit={FILLS_LIMIT}&start_sequence_timestamp={start}");
    if let Some(c) = cursor {
        check_id(c, "cursor")?;
        q.push_str(&format!("&cursor={c}"));
    }
    Ok(Some(Request::new("GET", "/api/v3/brokerage/orders/historical/fills", &q, "")))
}

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ` (civil from days, Howard Hinnant's algorithm).
fn rfc3339_of(ms: i64) -> Result<String> {
    if !(0..=253_402_300_799_999).contains(&ms) {
        return Err(bad_input("since", "is outside years 1970 to 9999"));
    }
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    Ok(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"))
}

pub(crate) fn parse_trades(_symbols: &[String], _cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let v = checked(resp)?;
    let top = obj(&v, "$")?;
    let fills = arr(get(top, "fills", "fills")?, "fills")?;
    let mut trades = Vec::new();
    for f in fills {
        let f = obj(f, "fills[]")?;
        let fee = match f.get("commission") {
            None => "0".to_owned(),
            Some(_) => dec(f, "commission", "fills[].commission")?,
        };
        trades.push(Trade {
            exchange_trade_id: id(f, "entry_id", "fills[].entry_id")?,
            symbol: symbol_of(f, "product_id", "fills[].product_id")?,
            side: side_of(string(f, "side", "fills[].side")?, "fills[].side")?,
            price: dec(f, "price", "fills[].price")?,
            qty: dec(f, "size", "fills[].size")?,
            fee,
            fee_asset: None,
            time_ms: rfc3339(f, "trade_time", "fills[].trade_time")?,
        });
    }
    Ok(TradePage { trades, next: next_cursor(top, !fills.is_empty())? })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let conf = match order.price {
        Some(px) => json!({"limit_limit_gtc": {"base_size": order.qty, "limit_price": px, "post_only": false}}),
        None => json!({"market_market_ioc": {"base_size": order.qty}}),
    };
    let b = json!({
        "client_order_id": order.client_order_id, "product_id": order.symbol,
        "side": if order.buy { "BUY" } else { "SELL" }, "order_configuration": conf,
    });
    Ok(Request::new("POST", "/api/v3/brokerage/orders", "", &b.to_string()))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let o = obj(&v, "$")?;
    if o.get("success").and_then(Value::as_bool) != Some(true) {
        return Err(refused(resp.status, failure(o), "order failed"));
    }
    let s = obj(get(o, "success_response", "success_response")?, "success_response")?;
    Ok(Placed { exchange_order_id: id(s, "order_id", "success_response.order_id")?, status: "accepted" })
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    let b = json!({"order_ids": [exchange_order_id]});
    Request::new("POST", "/api/v3/brokerage/orders/batch_cancel", "", &b.to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    let results = arr(get(obj(&v, "$")?, "results", "results")?, "results")?;
    let first = obj(results.first().ok_or(malformed("results", "is empty"))?, "results[0]")?;
    if first.get("success").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let reason = first.get("failure_reason").and_then(Value::as_str).map(str::to_owned);
    Err(refused(resp.status, reason, "cancel failed"))
}

/// No query by client order id that the trader speaks.
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Coinbase.to_string()))
}
