//! OKX v5: a GET's parameters are its query string, a POST's its JSON body
//! (an object, or an array of objects for the batch calls); a GET with a
//! body and a POST with a query are refused. Only spot instruments
//! (`BASE-QUOTE`) are sized: a swap, future or option is sized in contracts
//! whose value is not known here.
//!
//! Parameter lists: "Order Book Trading → Trade", "Algo Trading",
//! "Trading Account" and "Funding Account" of the OKX API v5 docs.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::form;
use super::json::text;
use super::rest::{self, Body, Place};
use super::{Canonical, Endpoint, check_listed, entry, is_spot_pair, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// An array of order objects.
    Batch,
    /// One amendment (`newSz` at `newPx`).
    Amend,
    /// An array of amendments.
    AmendBatch,
}

/// The objects of a parsed body (none, one, or a batch's).
pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if matches!(req.method.as_str(), "GET" | "DELETE") { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    let order = match entry(TABLE, req, class)? {
        None => OrderFacts::no_order(None),
        Some(e) => {
            let what = format!("{} {}", e.method, e.path);
            let batch = matches!(e.kind, Places(Reader::Batch | Reader::AmendBatch)) || BATCH_CANCELS.contains(&e.path);
            let items = rest::items(&parts.body, batch, &what)?;
            check_listed(parts.query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
            for o in &items {
                check_listed(o.keys().map(String::as_str), e.params, &[], &what)?;
            }
            let symbols: Vec<Option<&str>> = match &parts.body {
                Body::Empty => vec![form::get(&parts.query, "instId")],
                _ => items.iter().map(|o| text(o, "instId")).collect::<Result<_, _>>()?,
            };
            let symbol = rest::one_symbol(&symbols);
            match e.kind {
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

const DERIVATIVE: &str = "an OKX derivative (swap, future or option): its contract size is not known here";
const ATTACHED: &str = "an order with attached take-profit or stop-loss orders";

/// One order object; `Err(why)` when its size is not read.
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let inst = text(o, "instId")?.ok_or_else(|| refuse("an order without instId"))?;
    let side = match text(o, "side")? {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        Some(s) => return Err(refuse(format!("side {} is not buy or sell", shown(s)))),
        None => return Err(refuse("an order without side")),
    };
    let kind = text(o, "ordType")?.ok_or_else(|| refuse("an order without ordType"))?;
    let sz = text(o, "sz")?.ok_or_else(|| refuse("an order without sz"))?;
    let px = text(o, "px")?;
    let priced_otherwise = o.contains_key("pxUsd") || o.contains_key("pxVol");
    let market = match kind {
        "market" | "optimal_limit_ioc" => true,
        "limit" | "post_only" | "fok" | "ioc" | "mmp" | "mmp_and_post_only" | "op_fok" => false,
        other => return Err(refuse(format!("ordType {} is not one OKX documents", shown(other)))),
    };
    if market && (px.is_some() || priced_otherwise) {
        return Err(refuse(format!(
            "a price on a {kind} order, which executes at the market: OKX ignores it, so the policy will not value \
             the order at it"
        )));
    }
    // tgtCcy chooses the unit of a spot market order's sz; elsewhere OKX ignores it. On a
    // limit order only `base_ccy` is taken (ccxt sends it on every spot order): it says
    // what OKX reads there anyway, sz in the base currency; `quote_ccy` would not.
    let tgt = text(o, "tgtCcy")?;
    if !market && tgt.is_some_and(|t| t != "base_ccy") {
        return Err(refuse("tgtCcy other than base_ccy on a limit order: OKX sizes limit orders in the base currency"));
    }
    if !is_spot_pair(inst) {
        return Ok(Err(DERIVATIVE));
    }
    let attached = ["tpTriggerPx", "tpOrdPx", "slTriggerPx", "slOrdPx", "attachAlgoOrds"];
    if attached.iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(ATTACHED));
    }
    let (amount, price) = if market {
        // A spot market buy is sized in the quote currency, a sell in the
        // base, unless tgtCcy says otherwise.
        let quote = match tgt {
            None => side == Side::Buy,
            Some("quote_ccy") => true,
            Some("base_ccy") => false,
            Some(t) => return Err(refuse(format!("tgtCcy {} is not base_ccy or quote_ccy", shown(t)))),
        };
        (if quote { Amount::Quote(sz.to_owned()) } else { Amount::Base(sz.to_owned()) }, Price::Market)
    } else {
        let px = px.ok_or_else(|| refuse(format!("a {kind} order without px")))?;
        (Amount::Base(sz.to_owned()), Price::Limit(px.to_owned()))
    };
    Ok(Ok(Leg { symbol: Some(inst.to_owned()), side: Some(side), amount, price }))
}

/// One amendment: a leg when it gives both `newSz` and `newPx`.
fn amendment(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let inst = text(o, "instId")?.ok_or_else(|| refuse("an amendment without instId"))?;
    if !is_spot_pair(inst) {
        return Ok(Err(DERIVATIVE));
    }
    if o.contains_key("attachAlgoOrds") || o.contains_key("newPxUsd") || o.contains_key("newPxVol") {
        return Ok(Err(ATTACHED));
    }
    rest::amended(o, inst, "newSz", "newPx", "an amendment that does not give both newSz and newPx")
}

const ORDER: &[&str] = &[
    "instId",
    "tdMode",
    "ccy",
    "clOrdId",
    "tag",
    "side",
    "posSide",
    "ordType",
    "sz",
    "px",
    "pxUsd",
    "pxVol",
    "reduceOnly",
    "tgtCcy",
    "banAmend",
    "pxAmendType",
    "stpId",
    "stpMode",
    "isElpTakerAccess",
    "tpTriggerPx",
    "tpOrdPx",
    "slTriggerPx",
    "slOrdPx",
    "tpTriggerPxType",
    "slTriggerPxType",
    "attachAlgoOrds",
    "quickMgnType",
];
const AMEND: &[&str] =
    &["instId", "cxlOnFail", "ordId", "clOrdId", "reqId", "newSz", "newPx", "newPxUsd", "newPxVol", "attachAlgoOrds"];
const ALGO: &[&str] = &[
    "instId",
    "tdMode",
    "ccy",
    "side",
    "posSide",
    "ordType",
    "algoClOrdId",
    "sz",
    "tag",
    "reduceOnly",
    "tgtCcy",
    "tpTriggerPx",
    "tpTriggerPxType",
    "tpOrdPx",
    "tpOrdKind",
    "slTriggerPx",
    "slTriggerPxType",
    "slOrdPx",
    "cxlOnClosePos",
    "triggerPx",
    "triggerPxType",
    "orderPx",
    "chaseType",
    "chaseVal",
    "maxChaseType",
    "maxChaseVal",
    "callbackRatio",
    "callbackSpread",
    "activePx",
    "pxVar",
    "pxSpread",
    "szLimit",
    "pxLimit",
    "timeInterval",
    "quickMgnType",
    "closeFraction",
    "advanceOrdType",
    "attachAlgoOrds",
];
const AMEND_ALGO: &[&str] = &[
    "instId",
    "algoId",
    "algoClOrdId",
    "cxlOnFail",
    "reqId",
    "newSz",
    "newTpTriggerPx",
    "newTpOrdPx",
    "newSlTriggerPx",
    "newSlOrdPx",
    "newTpTriggerPxType",
    "newSlTriggerPxType",
    "newTriggerPx",
    "newOrdPx",
    "newTriggerPxType",
    "attachAlgoOrds",
];

/// The cancels that take an array.
const BATCH_CANCELS: &[&str] =
    &["/api/v5/trade/cancel-batch-orders", "/api/v5/trade/cancel-algos", "/api/v5/trade/cancel-advance-algos"];

use Endpoint as E;

/// Every documented call of OKX's trade and withdraw endpoints.
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v5/trade/order", ORDER, Places(Reader::Order)),
    E::new("GET", "/api/v5/trade/order", &["instId", "ordId", "clOrdId"], Reads),
    E::new("POST", "/api/v5/trade/batch-orders", ORDER, Places(Reader::Batch)),
    E::new("POST", "/api/v5/trade/cancel-order", &["instId", "ordId", "clOrdId"], Cancels),
    E::new("POST", "/api/v5/trade/cancel-batch-orders", &["instId", "ordId", "clOrdId"], Cancels),
    E::new("POST", "/api/v5/trade/amend-order", AMEND, Places(Reader::Amend)),
    E::new("POST", "/api/v5/trade/amend-batch-orders", AMEND, Places(Reader::AmendBatch)),
    E::new(
        "POST",
        "/api/v5/trade/close-position",
        &["instId", "posSide", "mgnMode", "ccy", "autoCxl", "clOrdId", "tag"],
        Unsized("closes a position (its size is the position's)"),
    ),
    E::new("POST", "/api/v5/trade/mass-cancel", &["instType", "instFamily", "lockInterval"], Cancels),
    E::new("POST", "/api/v5/trade/cancel-all-after", &["timeOut", "tag"], Cancels),
    // A precheck executes nothing, but is judged as the order it checks.
    E::new(
        "POST",
        "/api/v5/trade/order-precheck",
        &["instId", "tdMode", "side", "posSide", "ordType", "sz", "px", "reduceOnly", "tgtCcy", "attachAlgoOrds"],
        Places(Reader::Order),
    ),
    E::new(
        "POST",
        "/api/v5/trade/order-algo",
        ALGO,
        Unsized("an algo order (trigger, conditional, OCO, iceberg, TWAP, trailing)"),
    ),
    E::new("GET", "/api/v5/trade/order-algo", &["algoId", "algoClOrdId"], Reads),
    E::new("POST", "/api/v5/trade/cancel-algos", &["instId", "algoId", "algoClOrdId"], Cancels),
    E::new("POST", "/api/v5/trade/amend-algos", AMEND_ALGO, Unsized("an algo order amendment")),
    E::new("POST", "/api/v5/trade/cancel-advance-algos", &["instId", "algoId"], Cancels),
    E::new("POST", "/api/v5/trade/easy-convert", &["fromCcy", "toCcy", "source"], Unsized("a conversion")),
    E::new("POST", "/api/v5/trade/one-click-repay", &["debtCcy", "repayCcy"], Unsized("a repayment by conversion")),
    E::new(
        "POST",
        "/api/v5/asset/convert/estimate-quote",
        &["baseCcy", "quoteCcy", "side", "rfqSz", "rfqSzCcy", "clQReqId", "tag"],
        Unsized("a conversion quote"),
    ),
    E::new(
        "POST",
        "/api/v5/asset/convert/trade",
        &["quoteId", "baseCcy", "quoteCcy", "side", "sz", "szCcy", "clTReqId", "tag"],
        Unsized("a conversion"),
    ),
    E::new("POST", "/api/v5/account/set-leverage", &["instId", "ccy", "lever", "mgnMode", "posSide"], Setting),
    E::new("POST", "/api/v5/account/set-position-mode", &["posMode"], Setting),
    E::new(
        "POST",
        "/api/v5/account/position/margin-balance",
        &["instId", "posSide", "type", "amt", "ccy", "auto", "loanTrans"],
        Setting,
    ),
    E::new("POST", "/api/v5/account/set-greeks", &["greeksType"], Setting),
    E::new("POST", "/api/v5/account/set-isolated-mode", &["isoMode", "type"], Setting),
    E::new("POST", "/api/v5/account/borrow-repay", &["ccy", "side", "amt", "ordId"], Setting),
    E::new("POST", "/api/v5/account/set-auto-loan", &["autoLoan"], Setting),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v5/asset/withdrawal",
        &["ccy", "amt", "dest", "toAddr", "toAddrType", "chain", "areaCode", "rcvrInfo", "clientId"],
        Moves,
    ),
    E::new("POST", "/api/v5/asset/withdrawal-lightning", &["ccy", "invoice", "memo"], Moves),
    E::new("POST", "/api/v5/asset/cancel-withdrawal", &["wdId"], Moves),
    E::new(
        "POST",
        "/api/v5/asset/transfer",
        &["ccy", "amt", "from", "to", "subAcct", "type", "loanTrans", "omitPosRisk", "clientId"],
        Moves,
    ),
    E::new(
        "POST",
        "/api/v5/asset/subaccount/transfer",
        &["ccy", "amt", "from", "to", "fromSubAccount", "toSubAccount", "loanTrans", "omitPosRisk"],
        Moves,
    ),
    E::new("GET", "/api/v5/asset/deposit-address", &["ccy"], Moves),
    E::new("GET", "/api/v5/asset/deposit-lightning", &["ccy", "amt", "to"], Moves),
    E::new(
        "POST",
        "/api/v5/asset/broker/nd/subaccount-deposit-address",
        &["subAcct", "ccy", "chain", "addrType", "to"],
        Moves,
    ),
    E::new(
        "POST",
        "/api/v5/asset/broker/nd/modify-subaccount-deposit-address",
        &["subAcct", "ccy", "chain", "addr", "to"],
        Moves,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("okx", &Request::new(method, path, query, body))
    }

    /// A placement without a body is refused for what it lacks; read as "no orders" it
    /// was judged as placing nothing (zero legs), whatever the exchange then did with it.
    #[test]
    fn a_placement_without_a_body_is_refused() {
        for path in ["/api/v5/trade/order", "/api/v5/trade/batch-orders"] {
            let e = canon("POST", path, "", "").err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains("without instId")), "{path}: {e:?}");
        }
    }

    #[test]
    fn market_orders_and_their_units() {
        let c = canon(
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"100"}"#,
        )
        .expect("ok");
        assert_eq!(c.order.leg().map(|l| (&l.amount, &l.price)), Some((&Amount::Quote("100".into()), &Price::Market)));
        assert_eq!(
            c.request.body,
            r#"{"instId":"BTC-USDT","ordType":"market","side":"buy","sz":"100","tdMode":"cash"}"#
        );
        let c = canon(
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","side":"buy","ordType":"market","sz":"1","tgtCcy":"base_ccy"}"#,
        )
        .expect("base");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Base("1".into())));
        // ccxt sends tgtCcy=base_ccy on limit orders too: it says what OKX reads there.
        let c = canon(
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"0.01","px":"40000","tgtCcy":"base_ccy"}"#,
        )
        .expect("limit with base_ccy");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Base("0.01".into())));
        // The issue's attack: a market order with px=1.
        let e = canon(
            "POST",
            "/api/v5/trade/order",
            "",
            r#"{"instId":"BTC-USDT","side":"sell","ordType":"market","sz":"1","px":"1"}"#,
        )
        .expect_err("px");
        assert!(e.to_string().contains("price on a market"), "{e}");
    }

    #[test]
    fn derivatives_algos_converts_are_unsized() {
        for (path, body) in [
            (
                "/api/v5/trade/order",
                r#"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"1","px":"1"}"#,
            ),
            (
                "/api/v5/trade/order",
                r#"{"instId":"BTC-USD-240329","tdMode":"cross","side":"buy","ordType":"market","sz":"1"}"#,
            ),
            (
                "/api/v5/trade/order-algo",
                r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"trigger","sz":"1","triggerPx":"1","orderPx":"-1"}"#,
            ),
            (
                "/api/v5/asset/convert/trade",
                r#"{"quoteId":"q","baseCcy":"BTC","quoteCcy":"USDT","side":"buy","sz":"1","szCcy":"USDT"}"#,
            ),
            ("/api/v5/trade/amend-order", r#"{"instId":"BTC-USDT","ordId":"1","newSz":"2"}"#),
        ] {
            let c = canon("POST", path, "", body).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{path}");
        }
        let c = canon(
            "POST",
            "/api/v5/trade/amend-order",
            "",
            r#"{"instId":"BTC-USDT","ordId":"1","newSz":"2","newPx":"3"}"#,
        )
        .expect("amend");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 1));
    }

    #[test]
    fn batches_count_every_order() {
        let c = canon(
            "POST",
            "/api/v5/trade/batch-orders",
            "",
            r#"[{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"1","px":"10"},{"instId":"ETH-USDT","side":"buy","ordType":"limit","sz":"2","px":"5"}]"#,
        )
        .expect("batch");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 2));
        assert_eq!(c.order.symbol, None, "two markets");
        assert!(canon("POST", "/api/v5/trade/batch-orders", "", r#"{"instId":"BTC-USDT"}"#).is_err());
        assert!(canon("POST", "/api/v5/trade/order", "", r#"[{"instId":"BTC-USDT"}]"#).is_err());
    }

    #[test]
    fn formats_and_duplicates() {
        for (m, q, b) in [
            ("POST", "instId=BTC-USDT", r#"{"instId":"BTC-USDT","side":"buy","ordType":"market","sz":"1"}"#),
            ("GET", "", r#"{"ccy":"BTC"}"#),
            ("POST", "", "instId=BTC-USDT&side=buy&ordType=market&sz=1"),
            ("POST", "", r#"{"instId":"BTC-USDT","side":"buy","ordType":"market","sz":"1","sz":"100"}"#),
            ("POST", "", r#"{"instId":"BTC-USDT","instIdCode":1,"side":"buy","ordType":"market","sz":"1"}"#),
            (
                "POST",
                "",
                r#"{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"1","px":"1","tgtCcy":"quote_ccy"}"#,
            ),
            ("POST", "", r#"{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"1","px":"1","tgtCcy":"bogus"}"#),
        ] {
            assert!(canon(m, "/api/v5/trade/order", q, b).is_err(), "{m} {q} {b}");
        }
        let c = canon("GET", "/api/v5/account/balance", "ccy=BTC,ETH", "").expect("read");
        assert_eq!(c.request.query, "ccy=BTC%2CETH");
        assert!(canon("GET", "/api/v5/account/balance", "ccy=BTC&ccy=ETH", "").is_err());
    }
}
