//! Bybit v5: a GET's parameters are its query string (the one part Bybit
//! signs for a GET), any other method's its JSON object body (the one part
//! signed otherwise); a GET with a body and a POST with a query are
//! refused. Every order call names a `category`: only `spot` orders are
//! sized; `linear`, `inverse` and `option` are in contracts whose value is
//! not known here (unsized, as OKX's derivatives), whatever the symbol
//! looks like.
//!
//! A spot `Market` order's `qty` is in the quote coin for a buy and the
//! base coin for a sell unless `marketUnit` (`baseCoin` | `quoteCoin`) says
//! otherwise; a `Limit` order's is in the base coin, and `marketUnit` on it
//! is refused (Bybit documents it for market orders only). A `price` on a
//! market order is refused (Bybit ignores it). A conditional order
//! (`triggerPrice`, `orderFilter` `tpslOrder`/`StopOrder`) or one with
//! take-profit/stop-loss attached is unsized.
//!
//! Parameter lists: "Trade → Place Order / Amend Order / Cancel Order /
//! Cancel All Orders / Batch Place Order / Batch Amend Order / Batch Cancel
//! Order / Set Disconnect Cancel All", "Position → Set Leverage / Switch
//! Position Mode" and "Asset → Withdraw / Cancel Withdrawal / Create
//! Internal Transfer / Create Universal Transfer / Get Master Deposit
//! Address" of the Bybit v5 docs (bybit-exchange.github.io/docs/v5, and its
//! API explorer for Place Order). Not confirmed against the live pages:
//! `slippageToleranceType`/`slippageTolerance` and `bboSideType`/`bboLevel`
//! (newer Place Order members, taken from the API explorer's and the
//! official SDK's request types), the item lists of the batch calls (Place
//! Order's without `category`), and the withdraw call's `feeType`,
//! `requestId` and `beneficiary`.

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
    /// `{"category", "request": [orders]}`.
    Batch,
    /// One amendment (`qty` at `price`).
    Amend,
    /// `{"category", "request": [amendments]}`.
    AmendBatch,
}

const NOT_SPOT: &str = "a Bybit derivative (category linear, inverse or option): its contract size is not known here";
const CONDITIONAL: &str = "a Bybit conditional or TP/SL order (triggerPrice, orderFilter tpslOrder or StopOrder)";
const ATTACHED: &str = "an order with attached take-profit or stop-loss orders";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if req.method == "GET" { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    if matches!(parts.body, Body::Many(_)) {
        return Err(refuse("a Bybit body is one JSON object (a batch is an object holding `request`)"));
    }
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            let what = format!("{} {}", e.method, e.path);
            let empty = Map::new();
            let top = match &parts.body {
                Body::One(o) => o,
                _ => &empty,
            };
            check_listed(parts.query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
            check_listed(top.keys().map(String::as_str), e.params, &[], &what)?;
            let batch = matches!(e.kind, Places(Reader::Batch | Reader::AmendBatch)) || e.path == CANCEL_BATCH;
            let items = if batch {
                let items = rest::objects(top, "request")?;
                let listed = match e.kind {
                    Places(Reader::Batch) => BATCH_ORDER,
                    Places(_) => BATCH_AMEND,
                    _ => &["symbol", "orderId", "orderLinkId"],
                };
                for i in &items {
                    check_listed(i.keys().map(String::as_str), listed, &[], &format!("{what} (request[])"))?;
                }
                items
            } else {
                vec![top]
            };
            let symbols: Vec<Option<&str>> = match place {
                Place::Query => vec![super::form::get(&parts.query, "symbol")],
                _ => items.iter().map(|o| text(o, "symbol")).collect::<Result<_, _>>()?,
            };
            let symbol = rest::one_symbol(&symbols);
            let spot = match e.kind {
                Places(_) => match text(top, "category")? {
                    Some("spot") => true,
                    Some("linear" | "inverse" | "option") => false,
                    Some(c) => return Err(refuse(format!("category {} is not one Bybit documents", shown(c)))),
                    None => return Err(refuse(format!("{what} without category"))),
                },
                _ => true,
            };
            match e.kind {
                Places(_) if !spot => OrderFacts::size_unknown(symbol, NOT_SPOT),
                Places(Reader::Order | Reader::Batch) => rest::legs(&items, symbol, |_, o| order(o))?,
                Places(Reader::Amend | Reader::AmendBatch) => rest::legs(&items, symbol, |_, o| amendment(o))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// One spot order object; `Err(why)` when its size is not read.
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = text(o, "symbol")?.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without symbol"))?;
    let side = rest::side(o, "side", "Buy", "Sell")?;
    let kind = text(o, "orderType")?.ok_or_else(|| refuse("an order without orderType"))?;
    let qty = text(o, "qty")?.ok_or_else(|| refuse("an order without qty"))?;
    let price = text(o, "price")?;
    let unit = text(o, "marketUnit")?;
    let market = match kind {
        "Market" => true,
        "Limit" => false,
        other => return Err(refuse(format!("orderType {} is not Market or Limit", shown(other)))),
    };
    if market && price.is_some() {
        return Err(refuse(
            "a price on a Market order, which executes at the market: Bybit ignores it, so the policy will not value \
             the order at it",
        ));
    }
    if !market && unit.is_some() {
        return Err(refuse("marketUnit on a Limit order: Bybit documents it for spot market orders only"));
    }
    match text(o, "orderFilter")? {
        None | Some("Order") => {}
        Some("tpslOrder" | "StopOrder") => return Ok(Err(CONDITIONAL)),
        Some(f) => return Err(refuse(format!("orderFilter {} is not one Bybit documents", shown(f)))),
    }
    if o.contains_key("triggerPrice") {
        return Ok(Err(CONDITIONAL));
    }
    let attached = ["takeProfit", "stopLoss", "tpLimitPrice", "slLimitPrice", "tpOrderType", "slOrderType"];
    if attached.iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(ATTACHED));
    }
    let (amount, price) = if market {
        let quote = match unit {
            None => side == Side::Buy,
            Some("quoteCoin") => true,
            Some("baseCoin") => false,
            Some(u) => return Err(refuse(format!("marketUnit {} is not baseCoin or quoteCoin", shown(u)))),
        };
        (if quote { Amount::Quote(qty.to_owned()) } else { Amount::Base(qty.to_owned()) }, Price::Market)
    } else {
        let px = price.ok_or_else(|| refuse("a Limit order without price"))?;
        (Amount::Base(qty.to_owned()), Price::Limit(px.to_owned()))
    };
    Ok(Ok(Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount, price }))
}

/// One spot amendment: a leg when it gives both `qty` and `price`.
fn amendment(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = text(o, "symbol")?.ok_or_else(|| refuse("an amendment without symbol"))?;
    if ["triggerPrice", "takeProfit", "stopLoss", "tpLimitPrice", "slLimitPrice"].iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(CONDITIONAL));
    }
    rest::amended(o, symbol, "qty", "price", "an amendment that does not give both qty and price")
}

/// Place Order's members.
const ORDER: &[&str] = &[
    "category",
    "symbol",
    "isLeverage",
    "side",
    "orderType",
    "qty",
    "marketUnit",
    "slippageToleranceType",
    "slippageTolerance",
    "price",
    "triggerDirection",
    "orderFilter",
    "triggerPrice",
    "triggerBy",
    "orderIv",
    "timeInForce",
    "positionIdx",
    "orderLinkId",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "reduceOnly",
    "closeOnTrigger",
    "smpType",
    "mmp",
    "tpslMode",
    "tpLimitPrice",
    "slLimitPrice",
    "tpOrderType",
    "slOrderType",
    "bboSideType",
    "bboLevel",
];
/// A batch's orders: Place Order's members but `category` (the batch's).
const BATCH_ORDER: &[&str] = &[
    "symbol",
    "isLeverage",
    "side",
    "orderType",
    "qty",
    "marketUnit",
    "price",
    "triggerDirection",
    "orderFilter",
    "triggerPrice",
    "triggerBy",
    "orderIv",
    "timeInForce",
    "positionIdx",
    "orderLinkId",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "reduceOnly",
    "closeOnTrigger",
    "smpType",
    "mmp",
    "tpslMode",
    "tpLimitPrice",
    "slLimitPrice",
    "tpOrderType",
    "slOrderType",
];
const AMEND: &[&str] = &[
    "category",
    "symbol",
    "orderId",
    "orderLinkId",
    "orderIv",
    "triggerPrice",
    "qty",
    "price",
    "tpslMode",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "triggerBy",
    "tpLimitPrice",
    "slLimitPrice",
];
const BATCH_AMEND: &[&str] = &[
    "symbol",
    "orderId",
    "orderLinkId",
    "orderIv",
    "triggerPrice",
    "qty",
    "price",
    "tpslMode",
    "takeProfit",
    "stopLoss",
    "tpTriggerBy",
    "slTriggerBy",
    "triggerBy",
    "tpLimitPrice",
    "slLimitPrice",
];
const CANCEL_BATCH: &str = "/v5/order/cancel-batch";

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/v5/order/create", ORDER, Places(Reader::Order)),
    E::new("POST", "/v5/order/create-batch", &["category", "request"], Places(Reader::Batch)),
    E::new("POST", "/v5/order/amend", AMEND, Places(Reader::Amend)),
    E::new("POST", "/v5/order/amend-batch", &["category", "request"], Places(Reader::AmendBatch)),
    E::new("POST", "/v5/order/cancel", &["category", "symbol", "orderId", "orderLinkId", "orderFilter"], Cancels),
    E::new("POST", CANCEL_BATCH, &["category", "request"], Cancels),
    E::new(
        "POST",
        "/v5/order/cancel-all",
        &["category", "symbol", "baseCoin", "settleCoin", "orderFilter", "stopOrderType"],
        Cancels,
    ),
    E::new("POST", "/v5/order/disconnected-cancel-all", &["product", "timeWindow"], Cancels),
    E::new("POST", "/v5/position/set-leverage", &["category", "symbol", "buyLeverage", "sellLeverage"], Setting),
    E::new("POST", "/v5/position/switch-mode", &["category", "symbol", "coin", "mode"], Setting),
    // Withdraw class.
    E::new(
        "POST",
        "/v5/asset/withdraw/create",
        &[
            "coin",
            "chain",
            "address",
            "tag",
            "amount",
            "timestamp",
            "forceChain",
            "accountType",
            "feeType",
            "requestId",
            "beneficiary",
        ],
        Moves,
    ),
    E::new("POST", "/v5/asset/withdraw/cancel", &["id"], Moves),
    E::new(
        "POST",
        "/v5/asset/transfer/inter-transfer",
        &["transferId", "coin", "amount", "fromAccountType", "toAccountType"],
        Moves,
    ),
    E::new(
        "POST",
        "/v5/asset/transfer/universal-transfer",
        &["transferId", "coin", "amount", "fromMemberId", "toMemberId", "fromAccountType", "toAccountType"],
        Moves,
    ),
    E::new("GET", "/v5/asset/deposit/query-address", &["coin", "chainType"], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("bybit", &Request::new(method, path, query, body))
    }

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        canon("POST", path, "", body)
    }

    /// What `sealgate-venues` sends (`bybit::place_request`, `cancel_request`,
    /// `status_request`), byte for byte: serde_json prints members sorted.
    #[test]
    fn our_traders_requests_are_their_own_canonical_form() {
        let limit = r#"{"category":"spot","orderLinkId":"sg-1","orderType":"Limit","price":"40000","qty":"0.01","side":"Buy","symbol":"BTCUSDT","timeInForce":"GTC"}"#;
        let c = post("/v5/order/create", limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/v5/order/create", "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTCUSDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let market = r#"{"category":"spot","marketUnit":"baseCoin","orderLinkId":"sg-2","orderType":"Market","qty":"0.5","side":"Buy","symbol":"ETHUSDT"}"#;
        let c = post("/v5/order/create", market).expect("market");
        assert_eq!(c.request.body, market);
        assert_eq!(leg(&c), (Some("ETHUSDT"), Some(Side::Buy), &Amount::Base("0.5".into()), &Price::Market));
        let cancel = r#"{"category":"spot","orderId":"123","symbol":"BTCUSDT"}"#;
        let c = post("/v5/order/cancel", cancel).expect("cancel");
        assert_eq!(c.request.body, cancel);
        assert!(c.order.cancels_only && c.order.symbol.as_deref() == Some("BTCUSDT"));
        let q = "category=spot&symbol=BTCUSDT&orderLinkId=sg-1";
        assert_eq!(canon("GET", "/v5/order/realtime", q, "").map(|c| c.request.query), Ok(q.to_owned()));
        let q = "category=spot&limit=50&startTime=1700000000000&cursor=abc%3D%3D";
        assert_eq!(canon("GET", "/v5/execution/list", q, "").map(|c| c.request.query), Ok(q.to_owned()));
    }

    /// A spot market buy is sized in the quote coin unless marketUnit says otherwise.
    #[test]
    fn market_units() {
        let body = |side: &str, unit: &str| {
            format!(
                r#"{{"category":"spot","symbol":"BTCUSDT","side":"{side}","orderType":"Market","qty":"100"{unit}}}"#
            )
        };
        let amount = |b: String| post("/v5/order/create", &b).map(|c| leg(&c).2.clone());
        assert_eq!(amount(body("Buy", "")), Ok(Amount::Quote("100".into())), "a buy's qty is quote by default");
        assert_eq!(amount(body("Sell", "")), Ok(Amount::Base("100".into())));
        assert_eq!(amount(body("Sell", r#","marketUnit":"quoteCoin""#)), Ok(Amount::Quote("100".into())));
        assert_eq!(amount(body("Buy", r#","marketUnit":"baseCoin""#)), Ok(Amount::Base("100".into())));
        assert!(amount(body("Buy", r#","marketUnit":"base""#)).is_err());
        // A price on a market order; marketUnit on a limit order.
        assert!(amount(body("Sell", r#","price":"1""#)).is_err());
        let limit = r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","marketUnit":"quoteCoin"}"#;
        assert!(post("/v5/order/create", limit).is_err());
    }

    #[test]
    fn derivatives_conditionals_and_spoofed_categories_are_unsized() {
        for body in [
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}"#,
            r#"{"category":"inverse","symbol":"BTCUSD","side":"Buy","orderType":"Limit","qty":"1","price":"1"}"#,
            r#"{"category":"option","symbol":"BTC-29MAR24-60000-C","side":"Buy","orderType":"Limit","qty":"1","price":"1"}"#,
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","triggerPrice":"2"}"#,
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","orderFilter":"tpslOrder"}"#,
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","takeProfit":"9"}"#,
        ] {
            let c = post("/v5/order/create", body).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{body}");
            assert!(c.order.symbol.as_deref().is_some_and(|s| body.contains(&format!(r#""symbol":"{s}""#))), "{body}");
        }
        for bad in [
            r#"{"symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}"#,
            r#"{"category":"SPOT","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}"#,
            r#"{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","orderFilter":"x"}"#,
        ] {
            assert!(post("/v5/order/create", bad).is_err(), "{bad}");
        }
        // Other trade calls (positions, conversions) are placements of unknown size.
        let c = post("/v5/position/trading-stop", r#"{"category":"linear","symbol":"BTCUSDT","takeProfit":"1"}"#)
            .expect("unlisted");
        assert!(matches!(c.order.size, Size::Unknown(_)));
    }

    #[test]
    fn batches_count_every_order_and_amendments_need_both() {
        let c = post(
            "/v5/order/create-batch",
            r#"{"category":"spot","request":[{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"10"},{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"100","price":"10"}]}"#,
        )
        .expect("batch");
        match &c.order.size {
            Size::Legs(l) => assert_eq!(l[1].amount, Amount::Base("100".into()), "the second, bigger order counts"),
            s => panic!("{s:?}"),
        }
        assert_eq!(c.order.symbol.as_deref(), Some("BTCUSDT"));
        for bad in [
            // An item's own category, a member not listed for items, a top-level array.
            r#"{"category":"spot","request":[{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1"}]}"#,
            r#"{"category":"spot","request":[{"symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"1","price":"1","qty2":"1"}]}"#,
            r#"{"category":"spot","request":{"symbol":"BTCUSDT"}}"#,
            r#"{"category":"spot"}"#,
        ] {
            assert!(post("/v5/order/create-batch", bad).is_err(), "{bad}");
        }
        assert!(post("/v5/order/create", r#"[{"category":"spot"}]"#).is_err());
        let c =
            post("/v5/order/amend", r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1","qty":"2","price":"3"}"#)
                .expect("amend");
        assert_eq!(leg(&c).2, &Amount::Base("2".into()));
        let c =
            post("/v5/order/amend", r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1","qty":"2"}"#).expect("qty");
        assert!(matches!(c.order.size, Size::Unknown(_)));
    }

    #[test]
    fn formats_duplicates_and_undocumented_members() {
        let ok = r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"1"}"#;
        assert!(post("/v5/order/create", ok).is_ok());
        for (q, b) in [
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"1","qty":"100"}"#),
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"1","QTY":"100"}"#),
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":1.5}"#),
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":1}"#),
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"SELL","orderType":"Market","qty":"1"}"#),
            ("", r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"market","qty":"1"}"#),
            (
                "",
                r#"{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"1","leverage":"10"}"#,
            ),
            ("qty=100", ok),
            ("", "category=spot&symbol=BTCUSDT&side=Sell&orderType=Market&qty=1"),
        ] {
            assert!(canon("POST", "/v5/order/create", q, b).is_err(), "{q} {b}");
        }
        // Documented on Place Order, not on Amend or Cancel.
        assert!(
            post("/v5/order/amend", r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1","isLeverage":1}"#).is_err()
        );
        assert!(post("/v5/order/cancel", r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1","qty":"1"}"#).is_err());
        // A GET with a body; a GET's duplicate parameter.
        assert!(canon("GET", "/v5/order/realtime", "", r#"{"category":"spot"}"#).is_err());
        assert!(canon("GET", "/v5/order/realtime", "category=spot&Category=linear", "").is_err());
        // Path variants are other paths: not a trade class, so the policy refuses them.
        for p in ["/v5/order/create/", "/v5//order/create", "/V5/order/create", "/v5/order/Create"] {
            let class = crate::classify("bybit", p);
            assert!(class.is_err() || class == Ok(EndpointClass::Unknown), "{p}");
        }
    }

    #[test]
    fn withdrawals_are_listed() {
        let w = r#"{"coin":"USDT","chain":"ETH","address":"0xabc","amount":"10","timestamp":1700000000000,"accountType":"FUND"}"#;
        let c = post("/v5/asset/withdraw/create", w).expect("withdraw");
        assert!(!c.order.places_order);
        assert!(
            post("/v5/asset/withdraw/create", &w.replace("\"tag\"", "\"x\"").replace("}", r#","memo":"1"}"#)).is_err()
        );
        assert!(post("/v5/asset/withdraw/create", &w.replace("\"10\"", "10.5")).is_err());
    }
}
