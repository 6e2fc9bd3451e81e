//! Bitfinex API v2: every authenticated call is a POST whose parameters are
//! its JSON object body; a query is refused (it would travel unsigned).
//!
//! An order's `amount` is a decimal string in base units whose sign is its
//! side: positive buys, negative sells (`-` once, nothing else: a `+`, a
//! second sign or a zero is refused, so the side has one spelling). Its
//! `type` decides its price: `EXCHANGE LIMIT`, `EXCHANGE FOK`,
//! `EXCHANGE IOC` and their margin twins (`LIMIT`, `FOK`, `IOC`) are
//! `amount` at `price`; `EXCHANGE MARKET` and `MARKET` execute at the
//! market, and a `price` on them is refused (the policy will not value the
//! order at a price Bitfinex does not use), as is `price_aux_limit` or
//! `price_trailing` on any of these types (they belong to stop and trailing
//! orders). Stop, stop-limit and trailing-stop orders, and an order with an
//! OCO stop (`flags` with 16384, or `price_oco_stop`), are unsized.
//!
//! Only trading pairs are sized: `t` + six letters or digits (`tBTCUSD`), or
//! `t` + `BASE:QUOTE` (`tTESTBTC:TESTUSD`). A derivative (`tBTCF0:USTF0`,
//! either side ending in `F0`) is in contracts whose value is not known
//! here (OKX's rule: only spot is sized). An update (`order/update`) names
//! the order by id only and may change a stop's trigger as well as a
//! limit's price, or change the amount by a `delta`: it is a placement of
//! unknown size. `order/multi` is read op by op: `on` is an order, `ou` an
//! update, `oc` and `oc_multi` cancels; it only cancels when every op does.
//!
//! Parameter lists: "REST Authenticated Endpoints → Submit Order / Update
//! Order / Cancel Order / Order Multi-OP / Cancel Multiple Orders" of the
//! Bitfinex docs (docs.bitfinex.com), with ccxt's request builder for
//! Submit Order. Other trade calls (positions, derivative collateral,
//! funding offers) are placements of unknown size and other withdraw calls
//! carry no facts, as `rest` documents.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Body, Found, Place};
use super::{Canonical, Endpoint, check_listed, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// `{"ops": [[op, object], …]}`.
    Multi,
}

const DERIVATIVE: &str = "a Bitfinex derivative (tBTCF0:USTF0): its contract size is not known here";
const CONDITIONAL: &str = "a Bitfinex stop, stop-limit, trailing-stop or OCO order";
const UPDATE: &str = "a Bitfinex order update (it names the order by id; its price may be a stop's trigger)";
/// The OCO flag of `flags`.
const OCO: u64 = 16384;

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let parts = rest::parse(req, Place::Body)?;
    let empty = Map::new();
    let top = match &parts.body {
        Body::One(o) => o,
        Body::Empty => &empty,
        Body::Many(_) => return Err(refuse("a Bitfinex body is one JSON object")),
    };
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            check_listed(top.keys().map(String::as_str), e.params, &[], &format!("{} {}", e.method, e.path))?;
            match e.kind {
                Places(Reader::Order) => {
                    let symbol = text(top, "symbol")?.map(str::to_owned);
                    rest::legs(&[top], symbol, |_, o| order(o))?
                }
                Places(Reader::Multi) => multi(top)?,
                Unsized(why) => OrderFacts::size_unknown(text(top, "symbol")?.map(str::to_owned), why),
                Cancels => OrderFacts::cancel(None),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(None),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// Whether `symbol` is a trading pair that is not a derivative; a funding symbol
/// (`fUSD`) or anything else is refused.
fn spot(symbol: &str) -> Result<bool, Error> {
    let alnum = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    let Some(pair) = symbol.strip_prefix('t') else {
        return Err(refuse(format!("symbol {} is not a Bitfinex trading pair (t…)", shown(symbol))));
    };
    match pair.split_once(':') {
        Some((b, q)) if alnum(b) && alnum(q) => Ok(!b.ends_with("F0") && !q.ends_with("F0")),
        None if pair.len() == 6 && alnum(pair) => Ok(true),
        _ => Err(refuse(format!("symbol {} is not a Bitfinex trading pair (tBTCUSD, tBASE:QUOTE)", shown(symbol)))),
    }
}

/// A signed amount: its side and its magnitude, one spelling.
fn signed_amount(raw: &str) -> Result<(Side, &str), Error> {
    let (side, digits) = match raw.strip_prefix('-') {
        Some(d) => (Side::Sell, d),
        None => (Side::Buy, raw),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        && (digits.ends_with(|c: char| c.is_ascii_digit()));
    if !ok {
        return Err(refuse(format!(
            "amount {} is not a decimal with at most a leading - (its sign is the side)",
            shown(raw)
        )));
    }
    if digits.bytes().all(|b| b == b'0' || b == b'.') {
        return Err(refuse("an amount of zero: no side"));
    }
    Ok((side, digits))
}

/// One order object (Submit Order, or a multi-op's `on`).
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = text(o, "symbol")?.ok_or_else(|| refuse("an order without symbol"))?;
    let spot = spot(symbol)?;
    let raw = text(o, "amount")?.ok_or_else(|| refuse("an order without amount"))?;
    let (side, amount) = signed_amount(raw)?;
    let kind = text(o, "type")?.ok_or_else(|| refuse("an order without type"))?;
    let market = match kind.strip_prefix("EXCHANGE ").unwrap_or(kind) {
        "MARKET" => Some(true),
        "LIMIT" | "FOK" | "IOC" => Some(false),
        "STOP" | "STOP LIMIT" | "TRAILING STOP" => None,
        _ => return Err(refuse(format!("type {} is not one Bitfinex documents", shown(kind)))),
    };
    let flags = match o.get("flags") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| refuse("flags must be a non-negative integer"))?,
    };
    let price = text(o, "price")?;
    let Some(market) = market else {
        return Ok(Err(CONDITIONAL));
    };
    if o.contains_key("price_aux_limit") || o.contains_key("price_trailing") {
        return Err(refuse(format!(
            "price_aux_limit or price_trailing on a {kind} order: they belong to stop and trailing orders"
        )));
    }
    if market && price.is_some() {
        return Err(refuse(format!(
            "a price on a {kind} order, which executes at the market: the policy will not value the order at it"
        )));
    }
    if flags & OCO != 0 || o.contains_key("price_oco_stop") {
        return Ok(Err(CONDITIONAL));
    }
    if !spot {
        return Ok(Err(DERIVATIVE));
    }
    let price = if market {
        Price::Market
    } else {
        Price::Limit(price.ok_or_else(|| refuse(format!("a {kind} order without price")))?.to_owned())
    };
    Ok(Ok(Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount: Amount::Base(amount.to_owned()), price }))
}

/// `order/multi`: every op read; a cancel-only batch is a cancel.
fn multi(top: &Map<String, Value>) -> Result<OrderFacts, Error> {
    let Some(Value::Array(ops)) = top.get("ops") else {
        return Err(refuse("order/multi without an ops array"));
    };
    let mut orders = Vec::new();
    let mut updates = false;
    for op in ops {
        let (name, o) = match op.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::Object(o)]) => (n.as_str(), o),
            _ => return Err(refuse("an op of order/multi is not [name, object]")),
        };
        let (listed, what): (&[&str], _) = match name {
            "on" => (ORDER, "order/multi on"),
            "ou" => (UPDATE_PARAMS, "order/multi ou"),
            "oc" => (CANCEL, "order/multi oc"),
            "oc_multi" => (CANCEL_MULTI, "order/multi oc_multi"),
            n => return Err(refuse(format!("op {} is not on, ou, oc or oc_multi", shown(n)))),
        };
        check_listed(o.keys().map(String::as_str), listed, &[], what)?;
        match name {
            "on" => orders.push(o),
            "ou" => updates = true,
            _ => {}
        }
    }
    let symbols: Vec<Option<&str>> = orders.iter().map(|o| text(o, "symbol")).collect::<Result<_, _>>()?;
    let symbol = rest::one_symbol(&symbols);
    if orders.is_empty() && !updates {
        return Ok(OrderFacts::cancel(None));
    }
    let facts = rest::legs(&orders, symbol.clone(), |_, o| order(o))?;
    Ok(if updates { OrderFacts::size_unknown(symbol, UPDATE) } else { facts })
}

/// Submit Order's members.
const ORDER: &[&str] = &[
    "type",
    "symbol",
    "price",
    "amount",
    "lev",
    "price_trailing",
    "price_aux_limit",
    "price_oco_stop",
    "gid",
    "cid",
    "flags",
    "tif",
    "meta",
];
/// Update Order's members.
const UPDATE_PARAMS: &[&str] = &[
    "id",
    "cid",
    "cid_date",
    "gid",
    "price",
    "amount",
    "lev",
    "delta",
    "price_aux_limit",
    "price_trailing",
    "flags",
    "tif",
    "meta",
];
const CANCEL: &[&str] = &["id", "cid", "cid_date"];
const CANCEL_MULTI: &[&str] = &["id", "gid", "cid", "all"];

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/v2/auth/w/order/submit", ORDER, Places(Reader::Order)),
    E::new("POST", "/v2/auth/w/order/update", UPDATE_PARAMS, Unsized(UPDATE)),
    E::new("POST", "/v2/auth/w/order/cancel", CANCEL, Cancels),
    E::new("POST", "/v2/auth/w/order/multi", &["ops"], Places(Reader::Multi)),
    E::new("POST", "/v2/auth/w/order/cancel/multi", CANCEL_MULTI, Cancels),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::Size;

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("bitfinex", &Request::new("POST", path, "", body))
    }

    fn submit(body: &str) -> Result<Canonical, Error> {
        post("/v2/auth/w/order/submit", body)
    }

    /// What `sealgate-venues` sends (`bitfinex::place_request`, `cancel_request`) and what
    /// ccxt sends (a limit buy), byte for byte: members sorted.
    #[test]
    fn our_traders_and_ccxts_requests_are_their_own_canonical_form() {
        let limit = r#"{"amount":"0.01","cid":17,"price":"40000","symbol":"tBTCUSD","type":"EXCHANGE LIMIT"}"#;
        let c = submit(limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/v2/auth/w/order/submit", "", limit));
        assert_eq!(
            leg(&c),
            (Some("tBTCUSD"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let market = r#"{"amount":"-0.5","cid":18,"symbol":"tETHUSD","type":"EXCHANGE MARKET"}"#;
        let c = submit(market).expect("market sell");
        assert_eq!(c.request.body, market);
        assert_eq!(leg(&c), (Some("tETHUSD"), Some(Side::Sell), &Amount::Base("0.5".into()), &Price::Market));
        let c = submit(r#"{"symbol":"tBTCUSD","amount":"0.01","price":"40000","type":"EXCHANGE LIMIT","flags":0}"#)
            .expect("ccxt");
        assert_eq!(c.order.leg().map(|l| l.side), Some(Some(Side::Buy)));
        let c = post("/v2/auth/w/order/cancel", r#"{"id":123}"#).expect("cancel");
        assert_eq!(c.request.body, r#"{"id":123}"#);
        assert!(c.order.cancels_only);
        let read = r#"{"limit":2500,"sort":-1}"#;
        assert_eq!(post("/v2/auth/r/trades/hist", read).map(|c| c.request.body), Ok(read.to_owned()));
        assert_eq!(post("/v2/auth/r/wallets", "").map(|c| c.request.body), Ok(String::new()));
    }

    /// The sign of amount is the side, in one spelling; a price is a limit only where
    /// Bitfinex uses it.
    #[test]
    fn amount_sign_and_price() {
        let c = submit(r#"{"symbol":"tBTCUSD","amount":"-2","price":"10","type":"LIMIT"}"#).expect("margin limit");
        assert_eq!(leg(&c), (Some("tBTCUSD"), Some(Side::Sell), &Amount::Base("2".into()), &Price::Limit("10".into())));
        let c = submit(r#"{"symbol":"tTESTBTC:TESTUSD","amount":".5","type":"EXCHANGE MARKET"}"#).expect("colon pair");
        assert_eq!(leg(&c).2, &Amount::Base(".5".into()));
        for bad in [
            r#"{"symbol":"tBTCUSD","amount":"+1","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"--1","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"- 1","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"-0","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"1e3","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"1.","type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":-1,"type":"EXCHANGE MARKET"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE MARKET","price":"1"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1","price_aux_limit":"9"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"exchange limit","price":"1"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1","Amount":"-9"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1","amount":"-9"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1","side":"sell"}"#,
            r#"{"symbol":"fUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1"}"#,
            r#"{"symbol":"tbtcusd","amount":"0.1","type":"EXCHANGE LIMIT","price":"1"}"#,
            r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE LIMIT","price":"1","flags":"64"}"#,
        ] {
            assert!(matches!(submit(bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        // A query travels unsigned.
        let ok = r#"{"symbol":"tBTCUSD","amount":"0.1","type":"EXCHANGE MARKET"}"#;
        let r = Request::new("POST", "/v2/auth/w/order/submit", "amount=-100", ok);
        assert!(crate::canonicalize("bitfinex", &r).is_err());
        assert!(submit(&format!("[{ok}]")).is_err());
    }

    #[test]
    fn conditional_derivative_update_multi() {
        for body in [
            r#"{"symbol":"tBTCUSD","amount":"1","type":"EXCHANGE STOP","price":"1"}"#,
            r#"{"symbol":"tBTCUSD","amount":"1","type":"EXCHANGE LIMIT","price":"1","flags":16384,"price_oco_stop":"2"}"#,
            r#"{"symbol":"tBTCF0:USTF0","amount":"1","type":"LIMIT","price":"1","lev":10}"#,
        ] {
            let c = submit(body).expect(body);
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{body}");
        }
        let c = post("/v2/auth/w/order/update", r#"{"id":1,"amount":"1","price":"2"}"#).expect("update");
        assert!(c.order.places_order && !c.order.cancels_only && matches!(c.order.size, Size::Unknown(_)));
        let c = post(
            "/v2/auth/w/order/multi",
            r#"{"ops":[["on",{"symbol":"tBTCUSD","amount":"1","price":"10","type":"EXCHANGE LIMIT"}],["on",{"symbol":"tETHUSD","amount":"-100","type":"EXCHANGE MARKET"}],["oc",{"id":1}]]}"#,
        )
        .expect("multi");
        match &c.order.size {
            Size::Legs(l) => assert_eq!((l.len(), l[1].side), (2, Some(Side::Sell)), "every order counts"),
            s => panic!("{s:?}"),
        }
        let c = post("/v2/auth/w/order/multi", r#"{"ops":[["oc",{"id":1}],["oc_multi",{"all":1}]]}"#).expect("cancels");
        assert!(c.order.cancels_only);
        let c = post("/v2/auth/w/order/multi", r#"{"ops":[["oc",{"id":1}],["ou",{"id":2,"delta":"5"}]]}"#).expect("ou");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        for bad in [
            r#"{"ops":[["on",{"symbol":"tBTCUSD","amount":"1","type":"EXCHANGE MARKET","qty":"9"}]]}"#,
            r#"{"ops":[["xx",{"id":1}]]}"#,
            r#"{"ops":[["oc",{"id":1},1]]}"#,
            r#"{"ops":{"oc":{"id":1}}}"#,
        ] {
            assert!(post("/v2/auth/w/order/multi", bad).is_err(), "{bad}");
        }
        assert!(post("/v2/auth/w/order/cancel", r#"{"id":1,"symbol":"tBTCUSD"}"#).is_err());
        let c = post(
            "/v2/auth/w/funding/offer/submit",
            r#"{"type":"LIMIT","symbol":"fUSD","amount":"100","rate":"0.0002","period":2}"#,
        );
        assert!(c.is_ok_and(|c| matches!(c.order.size, Size::Unknown(_))));
    }
}
