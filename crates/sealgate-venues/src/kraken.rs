//! Kraken spot (`/0/private/…`).
//!
//! Trade history: `POST /0/private/TradesHistory` with `ofs`, newest first, 50 a page. A
//! trade arriving mid-import shifts older ones to higher offsets, so it can only repeat a
//! row — harmless, rows upsert — never skip one. Trade txids are unique already.
//! Incremental: `start` (exclusive Unix seconds) narrows the list, `ofs` pages within it.
//!
//! Kraken answers failures with HTTP 200 and a non-empty `error` array.

use serde_json::{Map, Value};

use crate::read::{arr, body, dec, get, id, obj, refused, seconds_to_ms, side_of, string, symbol_of};
use crate::{
    Amount, BalancePage, Checked, MAX_FIELD, MAX_ITEMS, Placed, Request, Response, Result, Trade, TradePage, Venue,
    VenueBalance, VenueError, bad_input, form, malformed, normalize_asset,
};

/// Kraken's legacy X/Z-prefixed codes, whose prefix is dropped.
const LEGACY: &[&str] = &[
    "XXBT", "XETH", "XETC", "XLTC", "XXRP", "XXLM", "XXMR", "XZEC", "XREP", "XMLN", "XXDG", "XNMC", "XXTZ", "ZUSD",
    "ZEUR", "ZGBP", "ZCAD", "ZJPY", "ZCHF", "ZAUD",
];

/// An upper-cased Kraken asset code in the common naming: legacy X/Z prefixes and
/// `XBT`/`XDG` mapped (`XXBT`, `XBT` → `BTC`, `ZUSD` → `USD`, `XXDG` → `DOGE`…). A suffix
/// such as `.S` (staked) or `.F` is kept: those funds are not the spot asset.
pub(crate) fn asset(up: &str) -> String {
    let (base, suffix) = match up.split_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (up, None),
    };
    let base = if LEGACY.contains(&base) { &base[1..] } else { base };
    let base = match base {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        b => b,
    };
    match suffix {
        Some(s) => format!("{base}.{s}"),
        None => base.to_owned(),
    }
}

/// Kraken errors worth retrying later.
pub(crate) fn transient(message: &str) -> bool {
    ["EService:", "EAPI:Rate limit", "EAPI:Invalid nonce", "EGeneral:Temporary lockout"]
        .iter()
        .any(|p| message.starts_with(p))
}

fn error_text(v: &Value) -> Option<String> {
    let errs = v.get("error")?.as_array()?;
    Some(errs.iter().filter_map(Value::as_str).take(4).collect::<Vec<_>>().join(", "))
}

fn checked(resp: Response<'_>) -> Result<Value> {
    let v = body(resp, error_text)?;
    let errs = v.get("error").ok_or(malformed("error", "is missing"))?;
    if !errs.as_array().ok_or(malformed("error", "is not an array"))?.is_empty() {
        return Err(refused(resp.status, error_text(&v), "unknown error"));
    }
    Ok(v)
}

fn result(v: &Value) -> Result<&Map<String, Value>> {
    obj(get(obj(v, "$")?, "result", "result")?, "result")
}

/// BalanceEx: totals *and* the part held by open orders.
pub(crate) fn balances_request(_cursor: Option<&str>) -> Result<Request> {
    Ok(Request::new("POST", "/0/private/BalanceEx", "", ""))
}

pub(crate) fn parse_balances(resp: Response<'_>) -> Result<BalancePage> {
    let v = checked(resp)?;
    let result = result(&v)?;
    if result.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge("result"));
    }
    let mut balances = Vec::new();
    for (asset, b) in result {
        let b = obj(b, "result.*")?;
        let total = Amount::parse(&dec(b, "balance", "result.*.balance")?)
            .ok_or(malformed("result.*.balance", "is not a decimal"))?;
        let hold = match b.get("hold_trade") {
            Some(_) => Amount::parse(&dec(b, "hold_trade", "result.*.hold_trade")?)
                .ok_or(malformed("result.*.hold_trade", "is not a decimal"))?,
            None => Amount::ZERO,
        };
        let free = total.checked_sub(hold).ok_or(malformed("result.*.hold_trade", "is out of range"))?;
        if free.is_negative() {
            return Err(malformed("result.*.hold_trade", "is larger than the balance"));
        }
        balances.push(VenueBalance {
            asset: normalize_asset(Venue::Kraken, asset)?,
            free: free.to_string(),
            locked: hold.to_string(),
        });
    }
    Ok(BalancePage { balances, next: None })
}

fn offset(cursor: Option<&str>) -> Result<usize> {
    cursor.map_or(Ok(0), |c| c.parse()).map_err(|_| bad_input("cursor", "is not an offset"))
}

pub(crate) fn trades_request(_symbols: &[String], cursor: Option<&str>) -> Result<Option<Request>> {
    let ofs = offset(cursor)?;
    Ok(Some(Request::new("POST", "/0/private/TradesHistory", "", &format!("trades=false&ofs={ofs}"))))
}

/// `start` is exclusive Unix seconds: one second less than the time asked, so a trade in
/// that very second is kept. Offsets then count within the filtered list.
pub(crate) fn trades_since_request(from_ms: i64, cursor: Option<&str>) -> Result<Option<Request>> {
    let ofs = offset(cursor)?;
    let start = (from_ms / 1000).saturating_sub(1).max(0);
    Ok(Some(Request::new("POST", "/0/private/TradesHistory", "", &format!("trades=false&ofs={ofs}&start={start}"))))
}

pub(crate) fn parse_trades(_symbols: &[String], cursor: Option<&str>, resp: Response<'_>) -> Result<TradePage> {
    let v = checked(resp)?;
    let ofs = offset(cursor)?;
    let result = result(&v)?;
    let count = get(result, "count", "result.count")?
        .as_u64()
        .and_then(|c| usize::try_from(c).ok())
        .ok_or(malformed("result.count", "is not a count"))?;
    let map = obj(get(result, "trades", "result.trades")?, "result.trades")?;
    if map.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge("result.trades"));
    }
    let mut trades = Vec::new();
    for (txid, t) in map {
        let t = obj(t, "result.trades.*")?;
        if txid.is_empty() || txid.len() > MAX_FIELD || !txid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed("result.trades.<txid>", "is not a trade id"));
        }
        trades.push(Trade {
            exchange_trade_id: txid.clone(),
            symbol: symbol_of(t, "pair", "result.trades.*.pair")?,
            side: side_of(string(t, "type", "result.trades.*.type")?, "result.trades.*.type")?,
            price: dec(t, "price", "result.trades.*.price")?,
            qty: dec(t, "vol", "result.trades.*.vol")?,
            fee: dec(t, "fee", "result.trades.*.fee")?,
            fee_asset: None,
            time_ms: seconds_to_ms(get(t, "time", "result.trades.*.time")?, "result.trades.*.time")?,
        });
    }
    let seen = ofs.saturating_add(map.len());
    let next = (!map.is_empty() && seen < count).then(|| seen.to_string());
    Ok(TradePage { trades, next })
}

pub(crate) fn place_request(order: &Checked<'_>) -> Result<Request> {
    let side = if order.buy { "buy" } else { "sell" };
    let mut p = vec![("ordertype", if order.price.is_some() { "limit" } else { "market" }), ("type", side)];
    p.extend([("volume", order.qty), ("pair", order.symbol)]);
    if let Some(px) = order.price {
        p.push(("price", px));
    }
    p.push(("cl_ord_id", order.client_order_id));
    Ok(Request::new("POST", "/0/private/AddOrder", "", &form(&p)))
}

pub(crate) fn parse_placed(resp: Response<'_>) -> Result<Placed> {
    let v = checked(resp)?;
    let txids = arr(get(result(&v)?, "txid", "result.txid")?, "result.txid")?;
    let first = txids.first().and_then(Value::as_str).ok_or(malformed("result.txid", "holds no order id"))?;
    let mut m = Map::new();
    m.insert("txid".into(), first.into());
    Ok(Placed { exchange_order_id: id(&m, "txid", "result.txid[0]")?, status: "accepted" })
}

pub(crate) fn cancel_request(_symbol: &str, exchange_order_id: &str) -> Request {
    Request::new("POST", "/0/private/CancelOrder", "", &form(&[("txid", exchange_order_id)]))
}

pub(crate) fn parse_cancelled(resp: Response<'_>) -> Result<()> {
    let v = checked(resp)?;
    match get(result(&v)?, "count", "result.count")?.as_u64() {
        Some(n) if n >= 1 => Ok(()),
        _ => Err(VenueError::Exchange { status: resp.status, message: "no order was cancelled".into() }),
    }
}

/// No query by client order id that the trader speaks.
pub(crate) fn status_request(_symbol: &str, _client_order_id: &str) -> Option<Request> {
    None
}

pub(crate) fn parse_status(_resp: Response<'_>) -> Result<Option<Placed>> {
    Err(VenueError::Unsupported(Venue::Kraken.to_string()))
}
