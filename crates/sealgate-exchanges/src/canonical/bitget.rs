//! Bitget v2: a GET's parameters are its query string, a POST's its JSON
//! object body (Bitget announces JSON on every POST, an empty body
//! included); a GET with a body and a POST with a query are refused. Only
//! the spot order calls (`/api/v2/spot/trade/…`) are sized: futures
//! (`/api/v2/mix/…`), margin and conversion calls have no entry here and
//! are placements of unknown size (see `rest`).
//!
//! A spot `market` order's `size` is in the quote coin for a buy and in the
//! base coin for a sell (Bitget offers no other unit), and a `price` on it
//! is refused (Bitget ignores it); a `limit` order's `size` is in the base
//! coin, at `price`, with a `force` (time in force). A TP/SL order
//! (`tpslType` `tpsl`, a `triggerPrice`) or an order with a preset
//! take-profit or stop-loss is unsized. In a batch, an order's `symbol` is
//! its own or the batch's; both, when they differ, are refused (which one
//! counts depends on `batchMode`).
//!
//! Parameter lists: "Spot → Trade → Place Order / Cancel an Order and
//! Place a New Order / Batch Cancel and Replace / Cancel Order / Batch
//! Place Orders / Batch Cancel Orders / Cancel Order by Symbol", "Spot →
//! Trigger Order → Place Plan Order / Modify Plan Order / Cancel Plan
//! Order / Cancel Plan Orders in Batch" and "Spot → Account → Withdraw" of
//! the Bitget API v2 docs (www.bitget.com/api-doc/spot/…). Not confirmed
//! against the live pages: `requestTime` and `receiveWindow` on Place
//! Order, the batch items' lists (Place Order's without `triggerPrice`,
//! `tpslType`, `requestTime` and `receiveWindow`), and the withdraw call's
//! list beyond `coin`, `transferType`, `address`, `chain`, `tag`, `size`,
//! `clientOid`.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Body, Found, Place};
use super::{Canonical, Endpoint, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// `{"symbol", "batchMode", "orderList": [orders]}`.
    Batch,
    /// One cancel-and-replace (`size` at `price`).
    Replace,
    /// `{"orderList": [cancel-and-replaces]}`.
    ReplaceBatch,
}

const CONDITIONAL: &str = "a Bitget TP/SL order (tpslType tpsl, triggerPrice)";
const ATTACHED: &str = "an order with a preset take-profit or stop-loss";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if req.method == "GET" { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    if matches!(parts.body, Body::Many(_)) {
        return Err(refuse("a Bitget body is one JSON object (a batch is an object holding `orderList`)"));
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
            let (items, symbols) =
                rest::orders(&parts, top, e, BATCHES, place, ": which one counts depends on batchMode")?;
            let symbol = rest::one_symbol(&symbols);
            let at = |i: usize| symbols.get(i).copied().flatten();
            match e.kind {
                Places(Reader::Order | Reader::Batch) => rest::legs(&items, symbol, |i, o| order(o, at(i)))?,
                Places(Reader::Replace | Reader::ReplaceBatch) => {
                    rest::legs(&items, symbol, |i, o| replacement(o, at(i)))?
                }
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
    let kind = text(o, "orderType")?.ok_or_else(|| refuse("an order without orderType"))?;
    let size = text(o, "size")?.ok_or_else(|| refuse("an order without size"))?;
    let price = text(o, "price")?;
    let market = match kind {
        "market" => true,
        "limit" => false,
        other => return Err(refuse(format!("orderType {} is not limit or market", shown(other)))),
    };
    // The docs spell `force` in lower case; ccxt, which trades on Bitget, sends `GTC`, which
    // Bitget takes: either case, one meaning (it sizes nothing).
    let force = text(o, "force")?.map(str::to_ascii_lowercase);
    match (force.as_deref(), market) {
        (Some("gtc" | "post_only" | "fok" | "ioc"), _) | (None, true) => {}
        (None, false) => return Err(refuse("a limit order without force")),
        (Some(_), _) => {
            let f = text(o, "force")?.unwrap_or_default();
            return Err(refuse(format!("force {} is not gtc, post_only, fok or ioc", shown(f))));
        }
    }
    if market && price.is_some() {
        return Err(refuse(
            "a price on a market order, which executes at the market: Bitget ignores it, so the policy will not \
             value the order at it",
        ));
    }
    match text(o, "tpslType")? {
        None | Some("normal") => {}
        Some("tpsl") => return Ok(Err(CONDITIONAL)),
        Some(t) => return Err(refuse(format!("tpslType {} is not normal or tpsl", shown(t)))),
    }
    if o.contains_key("triggerPrice") {
        return Ok(Err(CONDITIONAL));
    }
    if PRESETS.iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(ATTACHED));
    }
    let (amount, price) = if market {
        // A market buy spends `size` of the quote coin; a market sell sells `size` of the base.
        let amount = if side == Side::Buy { Amount::Quote(size.to_owned()) } else { Amount::Base(size.to_owned()) };
        (amount, Price::Market)
    } else {
        let px = price.ok_or_else(|| refuse("a limit order without price"))?;
        (Amount::Base(size.to_owned()), Price::Limit(px.to_owned()))
    };
    Ok(Ok(Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount, price }))
}

/// One cancel-and-replace: a new limit order of `size` at `price` (its side
/// is the cancelled order's).
fn replacement(o: &Map<String, Value>, symbol: Option<&str>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = symbol.filter(|s| !s.is_empty()).ok_or_else(|| refuse("a replacement without symbol"))?;
    if PRESETS.iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(ATTACHED));
    }
    rest::amended(o, symbol, "size", "price", "a replacement that does not give both size and price")
}

const PRESETS: &[&str] =
    &["presetTakeProfitPrice", "executeTakeProfitPrice", "presetStopLossPrice", "executeStopLossPrice"];

/// Place Order's members.
const ORDER: &[&str] = &[
    "symbol",
    "side",
    "orderType",
    "force",
    "price",
    "size",
    "clientOid",
    "triggerPrice",
    "tpslType",
    "requestTime",
    "receiveWindow",
    "stpMode",
    "presetTakeProfitPrice",
    "executeTakeProfitPrice",
    "presetStopLossPrice",
    "executeStopLossPrice",
];
/// A batch's orders.
const BATCH_ORDER: &[&str] = &[
    "symbol",
    "side",
    "orderType",
    "force",
    "price",
    "size",
    "clientOid",
    "stpMode",
    "presetTakeProfitPrice",
    "executeTakeProfitPrice",
    "presetStopLossPrice",
    "executeStopLossPrice",
];
const REPLACE: &[&str] = &[
    "symbol",
    "price",
    "size",
    "clientOid",
    "orderId",
    "newClientOid",
    "presetTakeProfitPrice",
    "executeTakeProfitPrice",
    "presetStopLossPrice",
    "executeStopLossPrice",
];

const BATCH_ORDERS: &str = "/api/v2/spot/trade/batch-orders";
const BATCH_CANCEL: &str = "/api/v2/spot/trade/batch-cancel-order";
const BATCH_REPLACE: &str = "/api/v2/spot/trade/batch-cancel-replace-order";

/// The calls whose orders are in `orderList`, and each item's members.
const BATCHES: &[(&str, &[&str])] =
    &[(BATCH_ORDERS, BATCH_ORDER), (BATCH_CANCEL, &["symbol", "orderId", "clientOid"]), (BATCH_REPLACE, REPLACE)];

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v2/spot/trade/place-order", ORDER, Places(Reader::Order)),
    E::new("POST", BATCH_ORDERS, &["symbol", "batchMode", "orderList"], Places(Reader::Batch)),
    E::new("POST", "/api/v2/spot/trade/cancel-replace-order", REPLACE, Places(Reader::Replace)),
    E::new("POST", BATCH_REPLACE, &["orderList"], Places(Reader::ReplaceBatch)),
    E::new("POST", "/api/v2/spot/trade/cancel-order", &["symbol", "tpslType", "orderId", "clientOid"], Cancels),
    E::new("POST", BATCH_CANCEL, &["symbol", "batchMode", "orderList"], Cancels),
    E::new("POST", "/api/v2/spot/trade/cancel-symbol-order", &["symbol"], Cancels),
    E::new(
        "POST",
        "/api/v2/spot/trade/place-plan-order",
        &[
            "symbol",
            "side",
            "triggerPrice",
            "orderType",
            "executePrice",
            "planType",
            "size",
            "triggerType",
            "clientOid",
            "force",
            "stpMode",
        ],
        Unsized("a Bitget plan (trigger) order"),
    ),
    E::new(
        "POST",
        "/api/v2/spot/trade/modify-plan-order",
        &["orderId", "clientOid", "triggerPrice", "orderType", "executePrice", "size"],
        Unsized("a Bitget plan (trigger) order modification"),
    ),
    E::new("POST", "/api/v2/spot/trade/cancel-plan-order", &["orderId", "clientOid"], Cancels),
    E::new("POST", "/api/v2/spot/trade/batch-cancel-plan-order", &["symbolList"], Cancels),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v2/spot/wallet/withdrawal",
        &["coin", "transferType", "address", "chain", "innerToType", "areaCode", "tag", "size", "remark", "clientOid"],
        Moves,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("bitget", &Request::new(method, path, query, body))
    }

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        canon("POST", path, "", body)
    }

    const PLACE: &str = "/api/v2/spot/trade/place-order";

    /// What `sealgate-venues` sends (`bitget::place_request`, `cancel_request`,
    /// `status_request`, `trades_request`), byte for byte.
    #[test]
    fn our_traders_requests_are_their_own_canonical_form() {
        let limit = r#"{"clientOid":"sg-1","force":"gtc","orderType":"limit","price":"40000","side":"buy","size":"0.01","symbol":"BTCUSDT"}"#;
        let c = post(PLACE, limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", PLACE, "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTCUSDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        // ccxt's spelling of the same order (`GTC`): the same facts, sent as re-produced.
        let ccxt =
            r#"{"symbol":"BTCUSDT","orderType":"limit","price":"40000","force":"GTC","side":"buy","size":"0.01"}"#;
        let c = post(PLACE, ccxt).expect("ccxt's limit");
        let sorted =
            r#"{"force":"GTC","orderType":"limit","price":"40000","side":"buy","size":"0.01","symbol":"BTCUSDT"}"#;
        assert_eq!(c.request.body, sorted);
        assert_eq!(
            leg(&c),
            (Some("BTCUSDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let sell = r#"{"clientOid":"sg-2","orderType":"market","side":"sell","size":"0.5","symbol":"ETHUSDT"}"#;
        let c = post(PLACE, sell).expect("market sell");
        assert_eq!(c.request.body, sell);
        assert_eq!(leg(&c), (Some("ETHUSDT"), Some(Side::Sell), &Amount::Base("0.5".into()), &Price::Market));
        let cancel = r#"{"orderId":"123","symbol":"BTCUSDT"}"#;
        let c = post("/api/v2/spot/trade/cancel-order", cancel).expect("cancel");
        assert_eq!(c.request.body, cancel);
        assert!(c.order.cancels_only && c.order.symbol.as_deref() == Some("BTCUSDT"));
        for (path, q) in [
            ("/api/v2/spot/trade/orderInfo", "clientOid=sg-1"),
            ("/api/v2/spot/trade/fills", "idLessThan=5&limit=100&startTime=1700000000000"),
            ("/api/v2/spot/account/assets", ""),
        ] {
            assert_eq!(canon("GET", path, q, "").map(|c| c.request), Ok(Request::new("GET", path, q, "")));
        }
        // An empty POST body, as Bitget announces JSON on every POST.
        assert!(post("/api/v2/spot/trade/cancel-symbol-order", "").is_ok());
    }

    /// A market buy's size is in the quote coin: never read as base.
    #[test]
    fn a_market_buy_is_quote_sized_and_carries_no_price() {
        let c = post(PLACE, r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"100"}"#).expect("buy");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        for bad in [
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"100","price":"1"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"market","size":"100","quoteSize":"1"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","size":"1","price":"1"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","size":"1","force":"gtd","price":"1"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","size":"1","force":"gtc"}"#,
            r#"{"symbol":"BTCUSDT","side":"BUY","orderType":"market","size":"1"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"Market","size":"1"}"#,
        ] {
            assert!(post(PLACE, bad).is_err(), "{bad}");
        }
        for body in [
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","size":"1","price":"1","tpslType":"tpsl","triggerPrice":"2"}"#,
            r#"{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","size":"1","price":"1","presetStopLossPrice":"0.5"}"#,
        ] {
            let c = post(PLACE, body).expect("unsized");
            assert!(matches!(c.order.size, Size::Unknown(_)), "{body}");
        }
    }

    #[test]
    fn batches_count_every_order() {
        let c = post(
            "/api/v2/spot/trade/batch-orders",
            r#"{"symbol":"BTCUSDT","orderList":[{"side":"buy","orderType":"limit","force":"gtc","size":"0.001","price":"10"},{"side":"buy","orderType":"market","size":"100000"}]}"#,
        )
        .expect("batch");
        match &c.order.size {
            Size::Legs(l) => {
                assert_eq!(l.len(), 2);
                assert_eq!(l[1].amount, Amount::Quote("100000".into()), "the second, bigger order counts");
                assert_eq!(l[1].symbol.as_deref(), Some("BTCUSDT"), "the batch's symbol");
            }
            s => panic!("{s:?}"),
        }
        for bad in [
            // Which symbol counts depends on batchMode.
            r#"{"symbol":"BTCUSDT","orderList":[{"symbol":"ETHUSDT","side":"buy","orderType":"market","size":"1"}]}"#,
            r#"{"orderList":[{"side":"buy","orderType":"market","size":"1"}]}"#,
            r#"{"symbol":"BTCUSDT","orderList":[{"side":"buy","orderType":"market","size":"1","triggerPrice":"1"}]}"#,
            r#"{"symbol":"BTCUSDT","orderList":[{"side":"buy","orderType":"market","size":"1","size":"2"}]}"#,
        ] {
            assert!(post("/api/v2/spot/trade/batch-orders", bad).is_err(), "{bad}");
        }
        let c = post(
            "/api/v2/spot/trade/cancel-replace-order",
            r#"{"symbol":"BTCUSDT","orderId":"1","size":"5","price":"10"}"#,
        )
        .expect("replace");
        assert!(!c.order.cancels_only && leg(&c).2 == &Amount::Base("5".into()));
        let c = post(
            "/api/v2/spot/trade/batch-cancel-order",
            r#"{"symbol":"BTCUSDT","orderList":[{"orderId":"1"},{"orderId":"2"}]}"#,
        )
        .expect("batch cancel");
        assert!(c.order.cancels_only);
    }

    #[test]
    fn formats_and_undocumented_members() {
        let ok = r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":"1"}"#;
        assert!(post(PLACE, ok).is_ok());
        for (q, b) in [
            ("", r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":"1","SIZE":"100"}"#),
            ("", r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":1.5}"#),
            ("", r#"{"symbol":"BTCUSDT","side":"sell","orderType":"market","size":"1","marginMode":"crossed"}"#),
            ("size=100", ok),
            ("", "symbol=BTCUSDT&side=sell&orderType=market&size=1"),
            ("", &format!("[{ok}]")),
        ] {
            assert!(canon("POST", PLACE, q, b).is_err(), "{q} {b}");
        }
        assert!(canon("GET", "/api/v2/spot/trade/fills", "", r#"{"limit":"1"}"#).is_err());
        // Futures orders are placements of unknown size.
        let c = post(
            "/api/v2/mix/order/place-order",
            r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","side":"buy","orderType":"market","size":"1"}"#,
        )
        .expect("futures");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        for p in
            ["/api/v2/spot/trade/place-order/", "/api/v2//spot/trade/place-order", "/api/v2/spot/trade/Place-Order"]
        {
            let class = crate::classify("bitget", p);
            assert!(class.is_err() || class == Ok(EndpointClass::Unknown), "{p}");
        }
    }
}
