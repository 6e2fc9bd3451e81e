//! KuCoin (spot, classic and HF "high-frequency" order calls): a GET's or
//! DELETE's parameters are its query string, a POST's its JSON object body;
//! a GET or DELETE with a body and a POST with a query are refused.
//!
//! An order's `type` is `limit` (the default) or `market`. A limit order
//! is `size` (base) at `price`; `funds` on it is refused. A market order
//! is sized by exactly one of `size` (base) and `funds` (quote: what a buy
//! spends or a sell receives); both, or neither, are refused, and so is a
//! `price` on it (KuCoin ignores it). A batch's orders are all counted; an
//! order's `symbol` is its own or the batch's, and both, when they differ,
//! are refused. A stop order (`stop`, `stopPrice` in a classic batch) is
//! unsized; the stop-order, OCO and margin calls have no entry here and are
//! placements of unknown size (see `rest`).
//!
//! Parameter lists: "Spot Trading → Orders → Place Order / Place Multiple
//! Orders / Cancel Order / Cancel Order by clientOid / Cancel All Orders /
//! List Orders / Get Order" (classic, `/api/v1/orders…`), "Spot HF Trade →
//! Place HF Order / Sync Place HF Order / Place Multiple HF Orders / Modify
//! HF Order / Cancel HF Order… / Dead Cancel All" (`/api/v1/hf/orders…`)
//! and "Withdrawals → Apply Withdraw (V1, V3) / Cancel Withdrawal" of the
//! KuCoin API docs (www.kucoin.com/docs/rest/…). Not confirmed against the
//! live pages: `allowMaxTimeWindow` and `clientTimestamp` on the HF calls
//! (newer "docs-new" pages), `tags` on the classic Place Order (not
//! accepted here), the classic batch items' `symbol`, and the V3
//! withdrawal's `withdrawType`/`toAddress`.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Body, Found, Place};
use super::{Canonical, Endpoint, refuse, shown};
use crate::facts::{Amount, Leg, Price};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// `{"symbol"?, "orderList": [orders]}`.
    Batch,
    /// One modification (`newSize` at `newPrice`).
    Alter,
}

const STOP: &str = "a KuCoin stop order";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if matches!(req.method.as_str(), "GET" | "DELETE") { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    if matches!(parts.body, Body::Many(_)) {
        return Err(refuse("a KuCoin body is one JSON object (a batch is an object holding `orderList`)"));
    }
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            let empty = Map::new();
            let top = match &parts.body {
                Body::One(o) => o,
                _ => &empty,
            };
            let (items, symbols) = rest::orders(&parts, top, e, BATCHES, place, "")?;
            let symbol = rest::one_symbol(&symbols);
            let at = |i: usize| symbols.get(i).copied().flatten();
            match e.kind {
                Places(Reader::Order | Reader::Batch) => rest::legs(&items, symbol, |i, o| order(o, at(i)))?,
                Places(Reader::Alter) => rest::legs(&items, symbol, |i, o| alteration(o, at(i)))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// One spot order object; `Err(why)` when its size is not read.
fn order(o: &Map<String, Value>, symbol: Option<&str>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = symbol.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without symbol"))?;
    let side = rest::side(o, "side", "buy", "sell")?;
    let market = match text(o, "type")? {
        None | Some("limit") => false,
        Some("market") => true,
        Some(t) => return Err(refuse(format!("type {} is not limit or market", shown(t)))),
    };
    let (size, funds, price) = (text(o, "size")?, text(o, "funds")?, text(o, "price")?);
    if o.contains_key("stop") || o.contains_key("stopPrice") {
        return Ok(Err(STOP));
    }
    let leg = |amount, price| Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount, price };
    if market {
        if price.is_some() {
            return Err(refuse(
                "a price on a market order, which executes at the market: KuCoin ignores it, so the policy will not \
                 value the order at it",
            ));
        }
        let amount = match (size, funds) {
            (Some(s), None) => Amount::Base(s.to_owned()),
            (None, Some(f)) => Amount::Quote(f.to_owned()),
            (Some(_), Some(_)) => return Err(refuse("a market order with both size and funds: two sizes")),
            (None, None) => return Err(refuse("a market order without size or funds")),
        };
        Ok(Ok(leg(amount, Price::Market)))
    } else {
        if funds.is_some() {
            return Err(refuse("funds on a limit order: KuCoin sizes limit orders by size"));
        }
        let size = size.ok_or_else(|| refuse("a limit order without size"))?;
        let px = price.ok_or_else(|| refuse("a limit order without price"))?;
        Ok(Ok(leg(Amount::Base(size.to_owned()), Price::Limit(px.to_owned()))))
    }
}

/// One HF modification: a leg when it gives both `newSize` and `newPrice`.
fn alteration(o: &Map<String, Value>, symbol: Option<&str>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = symbol.ok_or_else(|| refuse("a modification without symbol"))?;
    rest::amended(o, symbol, "newSize", "newPrice", "a modification that does not give both newSize and newPrice")
}

/// Place Order's members (classic).
const ORDER: &[&str] = &[
    "clientOid",
    "side",
    "symbol",
    "type",
    "remark",
    "stp",
    "tradeType",
    "price",
    "size",
    "timeInForce",
    "cancelAfter",
    "postOnly",
    "hidden",
    "iceberg",
    "visibleSize",
    "funds",
];
/// Place HF Order's members.
const HF_ORDER: &[&str] = &[
    "clientOid",
    "symbol",
    "type",
    "side",
    "stp",
    "tags",
    "remark",
    "price",
    "size",
    "timeInForce",
    "cancelAfter",
    "postOnly",
    "hidden",
    "iceberg",
    "visibleSize",
    "funds",
    "allowMaxTimeWindow",
    "clientTimestamp",
];
/// A classic batch's orders (limit only; `stop` orders allowed).
const BATCH_ORDER: &[&str] = &[
    "clientOid",
    "side",
    "symbol",
    "type",
    "remark",
    "stop",
    "stopPrice",
    "stp",
    "tradeType",
    "price",
    "size",
    "timeInForce",
    "cancelAfter",
    "postOnly",
    "hidden",
    "iceberg",
    "visibleSize",
];

const BATCH: &str = "/api/v1/orders/multi";
const HF_BATCH: &str = "/api/v1/hf/orders/multi";
const HF_BATCH_SYNC: &str = "/api/v1/hf/orders/multi/sync";

/// The calls whose orders are in `orderList`, and each item's members.
const BATCHES: &[(&str, &[&str])] = &[(BATCH, BATCH_ORDER), (HF_BATCH, HF_ORDER), (HF_BATCH_SYNC, HF_ORDER)];

const LIST: &[&str] = &[
    "status",
    "symbol",
    "side",
    "type",
    "tradeType",
    "startAt",
    "endAt",
    "currentPage",
    "pageSize",
    "lastId",
    "limit",
];

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v1/orders", ORDER, Places(Reader::Order)),
    // A test order executes nothing, but is judged as the order it tests.
    E::new("POST", "/api/v1/orders/test", ORDER, Places(Reader::Order)),
    E::new("POST", BATCH, &["symbol", "orderList"], Places(Reader::Batch)),
    E::new("POST", "/api/v1/hf/orders", HF_ORDER, Places(Reader::Order)),
    E::new("POST", "/api/v1/hf/orders/sync", HF_ORDER, Places(Reader::Order)),
    E::new("POST", "/api/v1/hf/orders/test", HF_ORDER, Places(Reader::Order)),
    E::new("POST", HF_BATCH, &["orderList"], Places(Reader::Batch)),
    E::new("POST", HF_BATCH_SYNC, &["orderList"], Places(Reader::Batch)),
    E::new(
        "POST",
        "/api/v1/hf/orders/alter",
        &["symbol", "clientOid", "orderId", "newPrice", "newSize"],
        Places(Reader::Alter),
    ),
    E::new("DELETE", "/api/v1/orders/{}", &[], Cancels),
    E::new("DELETE", "/api/v1/order/client-order/{}", &[], Cancels),
    E::new("DELETE", "/api/v1/orders", &["symbol", "tradeType"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/{}", &["symbol"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/sync/{}", &["symbol"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/client-order/{}", &["symbol"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/sync/client-order/{}", &["symbol"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/cancel/{}", &["symbol", "cancelSize"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders", &["symbol"], Cancels),
    E::new("DELETE", "/api/v1/hf/orders/cancelAll", &[], Cancels),
    E::new("POST", "/api/v1/hf/orders/dead-cancel-all", &["timeout", "symbols"], Cancels),
    E::new("GET", "/api/v1/orders", LIST, Reads),
    E::new("GET", "/api/v1/orders/{}", &[], Reads),
    E::new("GET", "/api/v1/order/client-order/{}", &[], Reads),
    E::new("GET", "/api/v1/hf/orders/{}", &["symbol"], Reads),
    E::new("GET", "/api/v1/hf/orders/client-order/{}", &["symbol"], Reads),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v1/withdrawals",
        &["currency", "address", "amount", "memo", "isInner", "remark", "chain", "feeDeductType"],
        Moves,
    ),
    E::new(
        "POST",
        "/api/v3/withdrawals",
        &["currency", "toAddress", "amount", "withdrawType", "memo", "isInner", "remark", "chain", "feeDeductType"],
        Moves,
    ),
    E::new("DELETE", "/api/v1/withdrawals/{}", &[], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::{Side, Size};

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("kucoin", &Request::new(method, path, query, body))
    }

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        canon("POST", path, "", body)
    }

    /// What `sealgate-venues` sends (`kucoin::place_request`, `cancel_request`,
    /// `trades_request`), byte for byte.
    #[test]
    fn our_traders_requests_are_their_own_canonical_form() {
        let limit = r#"{"clientOid":"sg-1","price":"40000","side":"buy","size":"0.01","symbol":"BTC-USDT","timeInForce":"GTC","type":"limit"}"#;
        let c = post("/api/v1/orders", limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/api/v1/orders", "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTC-USDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        // Our market buy is sized by `size`: base units, as KuCoin reads it.
        let market = r#"{"clientOid":"sg-2","side":"buy","size":"0.5","symbol":"ETH-USDT","type":"market"}"#;
        let c = post("/api/v1/orders", market).expect("market");
        assert_eq!(c.request.body, market);
        assert_eq!(leg(&c), (Some("ETH-USDT"), Some(Side::Buy), &Amount::Base("0.5".into()), &Price::Market));
        let cancel = Request::new("DELETE", "/api/v1/orders/6717422bd51c29000775ea03", "", "");
        let c = crate::canonicalize("kucoin", &cancel).expect("cancel");
        assert_eq!(c.request, cancel);
        assert!(c.order.cancels_only);
        let q = "currentPage=2&pageSize=100&tradeType=TRADE";
        assert_eq!(canon("GET", "/api/v1/fills", q, "").map(|c| c.request.query), Ok(q.to_owned()));
    }

    /// `funds` is quote: never read as base.
    #[test]
    fn funds_and_size() {
        let c = post("/api/v1/orders", r#"{"symbol":"BTC-USDT","side":"buy","type":"market","funds":"100"}"#)
            .expect("funds");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        let c = post("/api/v1/hf/orders", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","funds":"100"}"#)
            .expect("hf sell by funds");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        let c = post("/api/v1/orders", r#"{"symbol":"BTC-USDT","side":"sell","size":"2","price":"10"}"#)
            .expect("type defaults to limit");
        assert_eq!(leg(&c).3, &Price::Limit("10".into()));
        for bad in [
            r#"{"symbol":"BTC-USDT","side":"buy","type":"market","funds":"100","size":"0.001"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"market"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"market","size":"1","price":"1"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"limit","size":"1","price":"1","funds":"100"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"limit","size":"1"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"stop","size":"1"}"#,
            r#"{"symbol":"BTC-USDT","side":"Buy","type":"market","size":"1"}"#,
            r#"{"symbol":"BTC-USDT","side":"buy","type":"market","funds":null}"#,
        ] {
            assert!(post("/api/v1/orders", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_count_every_order() {
        let c = post(
            "/api/v1/hf/orders/multi",
            r#"{"orderList":[{"symbol":"BTC-USDT","side":"buy","type":"limit","size":"0.001","price":"10"},{"symbol":"ETH-USDT","side":"buy","type":"market","funds":"100000"}]}"#,
        )
        .expect("hf batch");
        match &c.order.size {
            Size::Legs(l) => assert_eq!(l[1].amount, Amount::Quote("100000".into()), "the second order counts"),
            s => panic!("{s:?}"),
        }
        assert_eq!(c.order.symbol, None, "two markets");
        let c = post(
            "/api/v1/orders/multi",
            r#"{"symbol":"BTC-USDT","orderList":[{"clientOid":"a","side":"buy","price":"1","size":"1"},{"clientOid":"b","side":"sell","price":"2","size":"9"}]}"#,
        )
        .expect("classic batch");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 2));
        assert_eq!(c.order.symbol.as_deref(), Some("BTC-USDT"));
        for bad in [
            r#"{"symbol":"BTC-USDT","orderList":[{"symbol":"ETH-USDT","side":"buy","price":"1","size":"1"}]}"#,
            r#"{"symbol":"BTC-USDT","orderList":[{"side":"buy","price":"1","size":"1","funds":"1"}]}"#,
            r#"{"symbol":"BTC-USDT","orderList":{"side":"buy"}}"#,
        ] {
            assert!(post("/api/v1/orders/multi", bad).is_err(), "{bad}");
        }
        let c = post("/api/v1/hf/orders/alter", r#"{"symbol":"BTC-USDT","orderId":"1","newSize":"3","newPrice":"4"}"#)
            .expect("alter");
        assert_eq!(leg(&c).2, &Amount::Base("3".into()));
        let c = post("/api/v1/hf/orders/alter", r#"{"symbol":"BTC-USDT","orderId":"1","newSize":"3"}"#).expect("size");
        assert!(matches!(c.order.size, Size::Unknown(_)));
    }

    #[test]
    fn formats_and_undocumented_members() {
        let ok = r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":"1"}"#;
        assert!(post("/api/v1/orders", ok).is_ok());
        for (m, q, b) in [
            ("POST", "", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":"1","Size":"100"}"#),
            ("POST", "", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":"1","size":"100"}"#),
            ("POST", "", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":0.5}"#),
            ("POST", "", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":"1","tags":"x"}"#),
            ("POST", "", r#"{"symbol":"BTC-USDT","side":"sell","type":"market","size":"1","leverage":"5"}"#),
            ("POST", "size=1", ok),
            ("POST", "", "symbol=BTC-USDT&side=sell&type=market&size=1"),
            ("DELETE", "", r#"{"symbol":"BTC-USDT"}"#),
        ] {
            assert!(canon(m, "/api/v1/orders", q, b).is_err(), "{m} {q} {b}");
        }
        // HF takes tags; a cancel takes no body and only its listed query.
        assert!(post("/api/v1/hf/orders", &ok.replace('}', r#","tags":"x"}"#)).is_ok());
        assert!(canon("DELETE", "/api/v1/hf/orders/abc", "symbol=BTC-USDT", "").is_ok_and(|c| c.order.cancels_only));
        assert!(canon("DELETE", "/api/v1/hf/orders/abc", "symbol=BTC-USDT&size=1", "").is_err());
        for p in ["/api/v1/orders/", "/api/v1//orders", "/API/v1/orders", "/api/v1/Orders"] {
            let class = crate::classify("kucoin", p);
            assert!(class.is_err() || class == Ok(EndpointClass::Unknown), "{p}");
        }
        // Stop orders and margin orders are placements of unknown size.
        let c = post("/api/v1/stop-order", r#"{"symbol":"BTC-USDT","side":"buy","stopPrice":"1","size":"1"}"#)
            .expect("stop");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
    }
}
