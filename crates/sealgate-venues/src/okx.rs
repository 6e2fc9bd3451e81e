//! OKX v5 (`/api/v5/…`), spot in cash mode.
//!
//! Trade history: `GET /api/v5/trade/fills-history` with `after` = the last `billId`. OKX
//! numbers trades per instrument: rows are keyed `INST-tradeId`. Incremental: `begin` (ms).
//!
//! OKX answers `{"code", "msg", "data"}`, failures often with HTTP 200: `code` ≠ `"0"`, and
//! for per-item operations (`code` `"1"`/`"2"`) the item's `sCode` says why.

use serde_json::{Map, Value, json};

use crate::read::{arr, body, dec, decimal_text, fee_asset, get, id, ms, obj, refused, side_of, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, MAX_MESSAGE, Placed, Request, Response, Result, Trade, TradePage, Venue,
    VenueBalance, VenueError, bounded, check_id, form, malformed, normalize_asset,
};

/// Page size asked for (the documented maximum).
const LIMIT: usize = 100;

/// OKX errors worth retrying later (system busy, service unavailable, rate limit).
pub(crate) fn transient(message: &str) -> bool {
    ["50001", "50011", "50013"].iter().any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    Some(format!("{} {}", v.get("code")?.as_str()?, v.get("msg").and_then(Value::as_str).unwrap_or("")))
}

fn checked(resp: Response<'_>) -> Result<Value> {
    let v = body(resp, error_text)?;
    match v.get("code").and_then(Value::as_str) {
        Some("0") => {}
        // "1"/"2": the operation failed per item; the item's sCode says why.
        Some("1" | "2") if v.get("data").and_then(Value::as_array).is_some_and(|d| !d.is_empty()) => {
            first(&v, resp.status)?;
        }
        Some(_) => return Err(refused(resp.status, error_text(&v), "unknown error")),
        None => return Err(malformed("code", "is missing")),
    }
    Ok(v)
}

/// The first item of `data`, refused with its `sCode` and `sMsg` if it failed.
fn first(v: &Value, status: u16) -> Result<&Map<String, Value>> {
    let data = arr(get(obj(v, "$")?, "data", "data")?, "data")?;
    let d = obj(data.first().ok_or(malformed("data", "is empty"))?, "data[0]")?;
    match d.get("sCode").and_then(Value::as_str) {
        Some("0") | None => Ok(d),
        Some(code) => {
            let msg = d.get("sMsg").and_then(Value::as_str).unwrap_or("");
            Err(VenueError::Exchange { status, message: bounded(&format!("{code} {msg}"), MAX_MESSAGE) })
        }
    }
}

pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("GET", "/api/v5/account/balance", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let mut balances = Vec::new();
    for acct in arr(get(obj(&v, "$")?, "data", "data")?, "data")? {
        for d in arr(get(obj(acct, "data[]")?, "details", "data[].details")?, "data[].details")? {
            let d = obj(d, "data[].details[]")?;
            balances.push(VenueBalance {
                asset: normalize_asset(Venue::Okx, string(d, "ccy", "data[].details[].ccy")?)?,
                free: dec(d, "availBal", "data[].details[].availBal")?,
                locked: dec(d, "frozenBal", "data[].details[].frozenBal")?,
            });
        }
    }
    Ok(BalancePage { balances, next: None })
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    let mut q = format!("instType=SPOT&limit={LIMIT}");
    if let Some(c) = cursor {
        check_id(c, "cursor")?;
        q.push_str(&format!("&after={c}"));
    }
    Ok(Some(Request::new("GET", "/api/v5/trade/fills-history", &q, "")))
}

/// `begin` (ms) filters on the fill's `ts`; `after` pages back within it.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    let mut q = format!("instType=SPOT&limit={LIMIT}&begin={from_ms}");
    if let Some(c) = cursor {
        check_id(c, "cursor")?;
        q.push_str(&format!("&after={c}"));
    }
    Ok(Some(Request::new("GET", "/api/v5/trade/fills-history", &q, "")))
}

pub(crate) fn parse_trades(_symbols: &[String], _cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let v = checked(resp)?;
    let data = arr(get(obj(&v, "$")?, "data", "data")?, "data")?;
    let mut trades = Vec::new();
    let mut last_bill = None;
    for f in data {
        let f = obj(f, "data[]")?;
        let inst = symbol_of(f, "instId", "data[].instId")?;
        let trade_id = id(f, "tradeId", "data[].tradeId")?;
        // OKX prints the fee as a signed change of balance: -0.1 is a fee paid.
        let fee = match f.get("fee") {
            None => "0".to_owned(),
            Some(_) => {
                let raw = decimal_text(string(f, "fee", "data[].fee")?, "data[].fee", true)?;
                let a = Amount::parse(&raw)
                    .and_then(Amount::checked_neg)
                    .ok_or(malformed("data[].fee", "is out of range"))?;
                if a.is_zero() { raw.trim_start_matches('-').to_owned() } else { a.to_string() }
            }
        };
        trades.push(Trade {
            exchange_trade_id: format!("{inst}-{trade_id}"),
            symbol: inst,
            side: side_of(string(f, "side", "data[].side")?, "data[].side")?,
            price: dec(f, "fillPx", "data[].fillPx")?,
            qty: dec(f, "fillSz", "data[].fillSz")?,
            fee,
            fee_asset: fee_asset(f, "feeCcy", "data[].feeCcy")?,
            time_ms: ms(f, "ts", "data[].ts")?,
        });
        last_bill = Some(id(f, "billId", "data[].billId")?);
    }
    let next = if data.len() >= LIMIT { last_bill } else { None };
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let mut b = json!({
        "instId": order.symbol, "tdMode": "cash", "side": if order.buy { "buy" } else { "sell" },
        "ordType": if order.price.is_some() { "limit" } else { "market" }, "sz": order.qty,
        "clOrdId": order.client_order_id,
    });
    match order.price {
        Some(px) => b["px"] = px.into(),
        // Spot market buys are sized in the quote currency unless told otherwise.
        None => b["tgtCcy"] = "base_ccy".into(),
    }
    Ok(Request::new("POST", "/api/v5/trade/order", "", &b.to_string()))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let d = first(&v, resp.status)?;
    Ok(Placed { exchange_order_id: id(d, "ordId", "data[0].ordId")?, status: "accepted" })
}

pub(crate) fn cancel_request(symbol: &str, exchange_order_id: &str) -> Request {
    let b = json!({"instId": symbol, "ordId": exchange_order_id});
    Request::new("POST", "/api/v5/trade/cancel-order", "", &b.to_string())
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    first(&v, resp.status).map(|_| ())
}

/// "Get order details" by `clOrdId`.
pub(crate) fn status_request(symbol: &str, client_order_id: &str) -> Option<Request> {
    let q = form(&[("instId", symbol), ("clOrdId", client_order_id)]);
    Some(Request::new("GET", "/api/v5/trade/order", &q, ""))
}

/// 51603 "Order does not exist": the placement never reached OKX.
pub(crate) fn parse_status(resp: Response<'_>) -> Result<Option<Placed>> {
    let v = match checked(resp) {
        Ok(v) => v,
        Err(VenueError::Exchange { message, .. }) if message.starts_with("51603 ") => return Ok(None),
        Err(e) => return Err(e),
    };
    let d = first(&v, resp.status)?;
    let status = match string(d, "state", "data[0].state")? {
        "live" | "partially_filled" => "open",
        "filled" => "filled",
        "canceled" | "mmp_canceled" => "canceled",
        _ => return Err(malformed("data[0].state", "is not an order state")),
    };
    Ok(Some(Placed { exchange_order_id: id(d, "ordId", "data[0].ordId")?, status }))
}
