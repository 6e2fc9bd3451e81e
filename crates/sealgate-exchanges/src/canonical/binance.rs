//! Binance spot, and MEXC which copies its API: parameters in the query
//! string and, for a body, a form body (`application/x-www-form-urlencoded`,
//! the only body [`crate::content_type`] sends), read together
//! (`totalParams`). Binance answers a repeated parameter with -1101 and an
//! undocumented one with -1104, and prefers the query's value when a name
//! is in both: here a name given twice anywhere is refused. `signature` is
//! the signer's to add.
//!
//! Parameter lists: "Spot Trading → REST API → Trading endpoints" of the
//! Binance spot API docs (binance-spot-api-docs `rest-api.md`), the wallet
//! and sub-account docs for the withdraw class; MEXC: "Spot V3 → Spot
//! Account/Trade" and "Wallet Endpoints".

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::form::{self, Pairs, get};
use super::{Canonical, Endpoint, WithdrawalFacts, check_listed, entry, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order: `type`, `side`, `quantity` | `quoteOrderQty`, `price`.
    Order,
    /// `orderList/oco`: one side and quantity, an `above*` and a `below*` leg.
    Oco,
    /// The deprecated `order/oco`: a limit leg (`price`) and a stop leg
    /// (`stopPrice`, `stopLimitPrice`).
    OcoLegacy,
    /// `orderList/oto`: a `working*` and a `pending*` order.
    Oto,
    /// `orderList/otoco`: a `working*` order, then `pendingAbove*` and
    /// `pendingBelow*` with one `pendingSide` and `pendingQuantity`.
    Otoco,
}

/// One exchange of the Binance family.
pub(crate) struct Family {
    table: &'static [Endpoint<Reader>],
    /// Order types that execute at the market: no limit price bounds them.
    market_types: &'static [&'static str],
    /// Order types priced by `price`.
    limit_types: &'static [&'static str],
    /// Parameters every signed call takes.
    always: &'static [&'static str],
    /// Parameters that may repeat (Binance's dust `asset=A&asset=B`).
    repeatable: &'static [(&'static str, &'static str)],
    /// The withdraw endpoints (method, path) with their network and tag/memo parameters.
    withdrawals: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

pub(crate) static BINANCE: Family = Family {
    table: BINANCE_TABLE,
    market_types: &["MARKET", "STOP_LOSS", "TAKE_PROFIT"],
    limit_types: &["LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
    always: &["recvWindow", "timestamp"],
    repeatable: &[("/sapi/v1/asset/dust", "asset")],
    withdrawals: &[("POST", "/sapi/v1/capital/withdraw/apply", "network", "addressTag")],
};

pub(crate) static MEXC: Family = Family {
    table: MEXC_TABLE,
    market_types: &["MARKET"],
    limit_types: &["LIMIT", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"],
    always: &["recvWindow", "timestamp"],
    repeatable: &[],
    withdrawals: &[
        ("POST", "/api/v3/capital/withdraw", "netWork", "memo"),
        ("POST", "/api/v3/capital/withdraw/apply", "network", "memo"),
    ],
};

pub(crate) fn read(req: &Request, class: EndpointClass, fam: &Family) -> Result<Canonical, Error> {
    if req.method == "GET" && !req.body.is_empty() {
        return Err(refuse("a GET carries its parameters in the query, not in a body"));
    }
    let query = form::parse(&req.query, "query")?;
    let body = form::parse(&req.body, "body")?;
    let repeatable: Vec<&str> = fam.repeatable.iter().filter(|(p, _)| *p == req.path).map(|(_, n)| *n).collect();
    let distinct: Pairs =
        query.iter().chain(&body).filter(|(n, _)| !repeatable.contains(&n.as_str())).cloned().collect();
    form::unique(&[&distinct])?;
    if let Some((n, _)) = query.iter().chain(&body).find(|(n, _)| n == "signature") {
        return Err(refuse(format!("parameter {}: the signature is the signer's to add", shown(n))));
    }
    let all: Pairs = query.iter().chain(&body).cloned().collect();
    let symbol = get(&all, "symbol").map(str::to_owned);
    let order = match entry(fam.table, req, class)? {
        None => OrderFacts::no_order(None),
        Some(e) => {
            check_listed(
                all.iter().map(|(n, _)| n.as_str()),
                e.params,
                fam.always,
                &format!("{} {}", e.method, e.path),
            )?;
            match e.kind {
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Places(r) => OrderFacts::legs(legs(fam, r, &all)?),
            }
        }
    };
    let withdrawal = withdrawal(fam, &req.method, &req.path, &all)?;
    let request = Request {
        method: req.method.clone(),
        path: req.path.clone(),
        query: form::encode(&query),
        body: form::encode(&body),
    };
    Ok(Canonical { request, order, withdrawal })
}

/// The withdrawal a request to one of the family's withdraw endpoints makes (its names:
/// `[network, tag]` parameters per endpoint): asset, amount and address are required.
fn withdrawal(fam: &Family, method: &str, path: &str, p: &Pairs) -> Result<Option<WithdrawalFacts>, Error> {
    let Some((_, _, network, tag)) = fam.withdrawals.iter().find(|(m, w, _, _)| *m == method && *w == path) else {
        return Ok(None);
    };
    let need = |n: &str| get(p, n).filter(|v| !v.is_empty()).ok_or_else(|| refuse(format!("a withdrawal without {n}")));
    let (asset, amount, address) = (need("coin")?, need("amount")?, need("address")?);
    let destination = match get(p, tag).filter(|t| !t.is_empty()) {
        Some(t) => format!("{address} {t}"),
        None => address.to_owned(),
    };
    Ok(Some(WithdrawalFacts {
        asset: asset.to_owned(),
        amount: amount.to_owned(),
        destination,
        network: get(p, network).filter(|n| !n.is_empty()).map(str::to_owned),
    }))
}

/// The value of `prefix` + `name` with the first letter of `name`
/// upper-cased when there is a prefix (`above` + `price` = `abovePrice`).
fn field<'a>(p: &'a Pairs, prefix: &str, name: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return get(p, name);
    }
    let mut c = name.chars();
    let cap: String = c.next().map(|f| f.to_ascii_uppercase()).into_iter().chain(c).collect();
    get(p, &format!("{prefix}{cap}"))
}

fn side(s: Option<&str>) -> Result<Side, Error> {
    match s {
        Some("BUY") => Ok(Side::Buy),
        Some("SELL") => Ok(Side::Sell),
        Some(other) => Err(refuse(format!("side {} is not BUY or SELL", shown(other)))),
        None => Err(refuse("an order without a side")),
    }
}

fn legs(fam: &Family, r: Reader, p: &Pairs) -> Result<Vec<Leg>, Error> {
    let symbol = get(p, "symbol").map(str::to_owned);
    let one = |prefix: &str, side_of: Option<&str>, qty_of: Option<&str>| -> Result<Leg, Error> {
        leg(fam, p, prefix, symbol.clone(), side_of, qty_of)
    };
    Ok(match r {
        Reader::Order => vec![one("", None, None)?],
        Reader::Oco => {
            let (s, q) = (get(p, "side"), get(p, "quantity"));
            vec![one("above", s, q)?, one("below", s, q)?]
        }
        Reader::Oto => vec![one("working", None, None)?, one("pending", None, None)?],
        Reader::Otoco => {
            let (s, q) = (get(p, "pendingSide"), get(p, "pendingQuantity"));
            vec![one("working", None, None)?, one("pendingAbove", s, q)?, one("pendingBelow", s, q)?]
        }
        Reader::OcoLegacy => {
            // A LIMIT_MAKER leg at `price`, and a stop leg that is a
            // STOP_LOSS_LIMIT at `stopLimitPrice`, else a STOP_LOSS (market).
            let side = side(get(p, "side"))?;
            let qty = get(p, "quantity").ok_or_else(|| refuse("an OCO without quantity"))?;
            let price = get(p, "price").ok_or_else(|| refuse("an OCO without price"))?;
            let stop = match get(p, "stopLimitPrice") {
                Some(l) => Price::Limit(l.to_owned()),
                None => Price::Market,
            };
            let leg =
                |price| Leg { symbol: symbol.clone(), side: Some(side), amount: Amount::Base(qty.to_owned()), price };
            vec![leg(Price::Limit(price.to_owned())), leg(stop)]
        }
    })
}

/// One order: `prefix`ed fields, with the list's shared side and quantity
/// when it has them.
fn leg(
    fam: &Family,
    p: &Pairs,
    prefix: &str,
    symbol: Option<String>,
    shared_side: Option<&str>,
    shared_qty: Option<&str>,
) -> Result<Leg, Error> {
    let f = |n: &str| field(p, prefix, n);
    let kind = f("type").ok_or_else(|| refuse(format!("{prefix} order without a type")))?;
    let side = side(shared_side.or_else(|| f("side")))?;
    let qty = shared_qty.or_else(|| f("quantity"));
    let quote = f("quoteOrderQty");
    let price = f("price");
    let pegged = f("pegPriceType").is_some();
    let market = fam.market_types.contains(&kind);
    if !market && !fam.limit_types.contains(&kind) {
        return Err(refuse(format!("order type {} is not one the exchange documents", shown(kind))));
    }
    let amount = match (qty, quote) {
        (Some(_), Some(_)) => {
            return Err(refuse("quantity and quoteOrderQty compete: give one size"));
        }
        (None, Some(_)) if kind != "MARKET" => {
            return Err(refuse(format!("quoteOrderQty sizes only a MARKET order, not {}", shown(kind))));
        }
        (Some(q), None) => Amount::Base(q.to_owned()),
        (None, Some(q)) => Amount::Quote(q.to_owned()),
        (None, None) => return Err(refuse("an order without quantity or quoteOrderQty")),
    };
    let price = match (market, pegged, price) {
        (true, _, Some(_)) => {
            return Err(refuse(format!(
                "a price on a {kind} order, which executes at the market: the exchange ignores it, so the policy \
                 will not value the order at it"
            )));
        }
        (false, true, Some(_)) => {
            return Err(refuse("a price on a pegged order (pegPriceType), which the book prices: give one"));
        }
        (true, _, None) | (false, true, None) => Price::Market,
        (false, false, Some(px)) => Price::Limit(px.to_owned()),
        (false, false, None) => return Err(refuse(format!("a {kind} order without a price"))),
    };
    Ok(Leg { symbol, side: Some(side), amount, price })
}

const ORDER: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];
const ORDER_TEST: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
    "computeCommissionRates",
];
const SOR: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
];
const SOR_TEST: &[&str] = &[
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "computeCommissionRates",
];
const CANCEL_REPLACE: &[&str] = &[
    "symbol",
    "side",
    "type",
    "cancelReplaceMode",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "cancelNewClientOrderId",
    "cancelOrigClientOrderId",
    "cancelOrderId",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "cancelRestrictions",
    "orderRateLimitExceededMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];
const OCO_LEGACY: &[&str] = &[
    "symbol",
    "listClientOrderId",
    "side",
    "quantity",
    "limitClientOrderId",
    "price",
    "limitStrategyId",
    "limitStrategyType",
    "limitIcebergQty",
    "trailingDelta",
    "stopClientOrderId",
    "stopPrice",
    "stopStrategyId",
    "stopStrategyType",
    "stopLimitPrice",
    "stopIcebergQty",
    "stopLimitTimeInForce",
    "newOrderRespType",
    "selfTradePreventionMode",
];
const OCO: &[&str] = &[
    "symbol",
    "listClientOrderId",
    "side",
    "quantity",
    "aboveType",
    "aboveClientOrderId",
    "aboveIcebergQty",
    "abovePrice",
    "aboveStopPrice",
    "aboveTrailingDelta",
    "aboveTimeInForce",
    "aboveStrategyId",
    "aboveStrategyType",
    "abovePegPriceType",
    "abovePegOffsetType",
    "abovePegOffsetValue",
    "belowType",
    "belowClientOrderId",
    "belowIcebergQty",
    "belowPrice",
    "belowStopPrice",
    "belowTrailingDelta",
    "belowTimeInForce",
    "belowStrategyId",
    "belowStrategyType",
    "belowPegPriceType",
    "belowPegOffsetType",
    "belowPegOffsetValue",
    "newOrderRespType",
    "selfTradePreventionMode",
];
const OTO: &[&str] = &[
    "symbol",
    "listClientOrderId",
    "newOrderRespType",
    "selfTradePreventionMode",
    "workingType",
    "workingSide",
    "workingClientOrderId",
    "workingPrice",
    "workingQuantity",
    "workingIcebergQty",
    "workingTimeInForce",
    "workingStrategyId",
    "workingStrategyType",
    "workingPegPriceType",
    "workingPegOffsetType",
    "workingPegOffsetValue",
    "pendingType",
    "pendingSide",
    "pendingClientOrderId",
    "pendingPrice",
    "pendingStopPrice",
    "pendingTrailingDelta",
    "pendingQuantity",
    "pendingIcebergQty",
    "pendingTimeInForce",
    "pendingStrategyId",
    "pendingStrategyType",
    "pendingPegPriceType",
    "pendingPegOffsetType",
    "pendingPegOffsetValue",
];
const OTOCO: &[&str] = &[
    "symbol",
    "listClientOrderId",
    "newOrderRespType",
    "selfTradePreventionMode",
    "workingType",
    "workingSide",
    "workingClientOrderId",
    "workingPrice",
    "workingQuantity",
    "workingIcebergQty",
    "workingTimeInForce",
    "workingStrategyId",
    "workingStrategyType",
    "workingPegPriceType",
    "workingPegOffsetType",
    "workingPegOffsetValue",
    "pendingSide",
    "pendingQuantity",
    "pendingAboveType",
    "pendingAboveClientOrderId",
    "pendingAbovePrice",
    "pendingAboveStopPrice",
    "pendingAboveTrailingDelta",
    "pendingAboveIcebergQty",
    "pendingAboveTimeInForce",
    "pendingAboveStrategyId",
    "pendingAboveStrategyType",
    "pendingAbovePegPriceType",
    "pendingAbovePegOffsetType",
    "pendingAbovePegOffsetValue",
    "pendingBelowType",
    "pendingBelowClientOrderId",
    "pendingBelowPrice",
    "pendingBelowStopPrice",
    "pendingBelowTrailingDelta",
    "pendingBelowIcebergQty",
    "pendingBelowTimeInForce",
    "pendingBelowStrategyId",
    "pendingBelowStrategyType",
    "pendingBelowPegPriceType",
    "pendingBelowPegOffsetType",
    "pendingBelowPegOffsetValue",
];

use Endpoint as E;

/// Every documented call of Binance's trade and withdraw endpoints.
static BINANCE_TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v3/order", ORDER, Places(Reader::Order)),
    E::new("GET", "/api/v3/order", &["symbol", "orderId", "origClientOrderId"], Reads),
    E::new(
        "DELETE",
        "/api/v3/order",
        &["symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"],
        Cancels,
    ),
    // A test order executes nothing, but is judged as the order it tests.
    E::new("POST", "/api/v3/order/test", ORDER_TEST, Places(Reader::Order)),
    E::new("POST", "/api/v3/order/cancelReplace", CANCEL_REPLACE, Places(Reader::Order)),
    // keepPriority amends may only lower an open order's quantity.
    E::new(
        "PUT",
        "/api/v3/order/amend/keepPriority",
        &["symbol", "orderId", "origClientOrderId", "newClientOrderId", "newQty"],
        Reduces,
    ),
    E::new("GET", "/api/v3/openOrders", &["symbol"], Reads),
    E::new("DELETE", "/api/v3/openOrders", &["symbol"], Cancels),
    E::new("GET", "/api/v3/orderList", &["orderListId", "origClientOrderId"], Reads),
    E::new("DELETE", "/api/v3/orderList", &["symbol", "orderListId", "listClientOrderId", "newClientOrderId"], Cancels),
    E::new("POST", "/api/v3/orderList/oco", OCO, Places(Reader::Oco)),
    E::new("POST", "/api/v3/orderList/oto", OTO, Places(Reader::Oto)),
    E::new("POST", "/api/v3/orderList/otoco", OTOCO, Places(Reader::Otoco)),
    E::new("POST", "/api/v3/order/oco", OCO_LEGACY, Places(Reader::OcoLegacy)),
    E::new("POST", "/api/v3/sor/order", SOR, Places(Reader::Order)),
    E::new("POST", "/api/v3/sor/order/test", SOR_TEST, Places(Reader::Order)),
    E::new("POST", "/sapi/v1/asset/dust", &["asset", "accountType"], Unsized("a dust conversion")),
    // Withdraw class.
    E::new(
        "POST",
        "/sapi/v1/capital/withdraw/apply",
        &[
            "coin",
            "withdrawOrderId",
            "network",
            "address",
            "addressTag",
            "amount",
            "transactionFeeFlag",
            "name",
            "walletType",
        ],
        Moves,
    ),
    E::new("GET", "/sapi/v1/capital/deposit/address", &["coin", "network", "amount"], Moves),
    E::new("GET", "/sapi/v1/capital/deposit/address/list", &["coin", "network"], Moves),
    E::new("POST", "/sapi/v1/asset/transfer", &["type", "asset", "amount", "fromSymbol", "toSymbol"], Moves),
    E::new(
        "GET",
        "/sapi/v1/asset/transfer",
        &["type", "startTime", "endTime", "current", "size", "fromSymbol", "toSymbol"],
        Moves,
    ),
    E::new("POST", "/sapi/v1/futures/transfer", &["asset", "amount", "type"], Moves),
    E::new("GET", "/sapi/v1/futures/transfer", &["asset", "startTime", "endTime", "current", "size"], Moves),
    E::new("POST", "/sapi/v1/margin/transfer", &["asset", "amount", "type"], Moves),
    E::new(
        "GET",
        "/sapi/v1/margin/transfer",
        &["asset", "type", "startTime", "endTime", "current", "size", "isolatedSymbol"],
        Moves,
    ),
    E::new("POST", "/sapi/v1/sub-account/transfer/subToSub", &["toEmail", "asset", "amount"], Moves),
    E::new("POST", "/sapi/v1/sub-account/transfer/subToMaster", &["asset", "amount"], Moves),
    E::new(
        "POST",
        "/sapi/v1/sub-account/universalTransfer",
        &["fromEmail", "toEmail", "fromAccountType", "toAccountType", "clientTranId", "symbol", "asset", "amount"],
        Moves,
    ),
    E::new(
        "GET",
        "/sapi/v1/sub-account/universalTransfer",
        &["fromEmail", "toEmail", "clientTranId", "startTime", "endTime", "page", "limit"],
        Moves,
    ),
    E::new("POST", "/sapi/v1/sub-account/futures/transfer", &["email", "asset", "amount", "type"], Moves),
    E::new("POST", "/sapi/v1/sub-account/margin/transfer", &["email", "asset", "amount", "type"], Moves),
    E::new(
        "POST",
        "/sapi/v1/sub-account/futures/internalTransfer",
        &["fromEmail", "toEmail", "futuresType", "asset", "amount"],
        Moves,
    ),
    E::new(
        "GET",
        "/sapi/v1/sub-account/futures/internalTransfer",
        &["email", "futuresType", "startTime", "endTime", "page", "limit"],
        Moves,
    ),
];

const MEXC_ORDER: &[&str] =
    &["symbol", "side", "type", "quantity", "quoteOrderQty", "price", "newClientOrderId", "stpMode"];

/// Every documented call of MEXC's trade and withdraw endpoints.
static MEXC_TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v3/order", MEXC_ORDER, Places(Reader::Order)),
    E::new("POST", "/api/v3/order/test", MEXC_ORDER, Places(Reader::Order)),
    E::new("GET", "/api/v3/order", &["symbol", "origClientOrderId", "orderId"], Reads),
    E::new("DELETE", "/api/v3/order", &["symbol", "orderId", "origClientOrderId", "newClientOrderId"], Cancels),
    // Up to 20 orders as JSON inside one parameter: not read, so refused under a cap.
    E::new("POST", "/api/v3/batchOrders", &["batchOrders", "symbol"], Unsized("a batch of orders")),
    E::new("GET", "/api/v3/openOrders", &["symbol"], Reads),
    E::new("DELETE", "/api/v3/openOrders", &["symbol"], Cancels),
    E::new("GET", "/api/v3/mxDeduct/enable", &[], Reads),
    E::new("POST", "/api/v3/mxDeduct/enable", &["mxDeductEnable"], Setting),
    E::new("POST", "/api/v3/capital/convert", &["asset"], Unsized("a dust conversion")),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v3/capital/withdraw",
        &["coin", "withdrawOrderId", "netWork", "contractAddress", "address", "memo", "amount", "remark"],
        Moves,
    ),
    E::new("DELETE", "/api/v3/capital/withdraw", &["id"], Moves),
    E::new(
        "POST",
        "/api/v3/capital/withdraw/apply",
        &["coin", "withdrawOrderId", "network", "address", "memo", "amount", "remark"],
        Moves,
    ),
    E::new("GET", "/api/v3/capital/deposit/address", &["coin", "network"], Moves),
    E::new("POST", "/api/v3/capital/deposit/address", &["coin", "network"], Moves),
    E::new("POST", "/api/v3/capital/transfer", &["fromAccountType", "toAccountType", "asset", "amount"], Moves),
    E::new(
        "GET",
        "/api/v3/capital/transfer",
        &["fromAccountType", "toAccountType", "startTime", "endTime", "page", "size"],
        Moves,
    ),
    E::new(
        "POST",
        "/api/v3/capital/transfer/internal",
        &["toAccountType", "toAccount", "areaCode", "asset", "amount"],
        Moves,
    ),
    E::new(
        "POST",
        "/api/v3/capital/sub-account/universalTransfer",
        &["fromAccount", "toAccount", "fromAccountType", "toAccountType", "asset", "amount"],
        Moves,
    ),
    E::new(
        "GET",
        "/api/v3/capital/sub-account/universalTransfer",
        &["fromAccount", "toAccount", "fromAccountType", "toAccountType", "startTime", "endTime", "page", "limit"],
        Moves,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("binance", &Request::new(method, path, query, body))
    }

    fn refused(method: &str, path: &str, query: &str, body: &str) -> String {
        match canon(method, path, query, body) {
            Err(Error::Ambiguous(why)) => why,
            other => panic!("{method} {path}?{query} {body}: not refused: {other:?}"),
        }
    }

    #[test]
    fn a_limit_order_is_read_and_kept() {
        let c = canon(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY",
            "type=LIMIT&quantity=0.5&price=60000&timeInForce=GTC",
        )
        .expect("ok");
        assert_eq!(c.request.query, "symbol=BTCUSDT&side=BUY");
        assert_eq!(c.request.body, "type=LIMIT&quantity=0.5&price=60000&timeInForce=GTC");
        assert_eq!(c.order.symbol.as_deref(), Some("BTCUSDT"));
        assert_eq!(
            c.order.leg(),
            Some(&Leg {
                symbol: Some("BTCUSDT".into()),
                side: Some(Side::Buy),
                amount: Amount::Base("0.5".into()),
                price: Price::Limit("60000".into())
            })
        );
    }

    #[test]
    fn the_issues_binance_attacks_are_refused() {
        // A MARKET order carrying a price the caller chose.
        let why = refused("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.05&price=1", "");
        assert!(why.contains("price on a MARKET"), "{why}");
        // Two competing sizes.
        let why =
            refused("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.05&quoteOrderQty=10", "");
        assert!(why.contains("compete"), "{why}");
        // A parameter in the query and in the body (Binance takes the query's).
        refused("POST", "/api/v3/order", "symbol=BTCUSDT&quantity=1", "side=BUY&type=MARKET&quantity=0.0001");
        // Within one part.
        refused("POST", "/api/v3/order", "symbol=BTCUSDT&symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1", "");
        // Encoded spellings.
        refused("POST", "/api/v3/order", "symbol=BTC%55SDT&side=BUY&type=MARKET&quantity=1", "");
        // An undocumented parameter, a signature, a GET body, JSON in a form body.
        refused("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&Quantity=9", "");
        refused("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&qty=9", "");
        refused("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&signature=ab", "");
        refused("GET", "/api/v3/account", "", "x=1");
        refused("POST", "/api/v3/order", "", r#"{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1"}"#);
    }

    #[test]
    fn every_list_order_counts_all_its_legs() {
        let c = canon(
            "POST",
            "/api/v3/orderList/oco",
            "symbol=BTCUSDT&side=SELL&quantity=2&aboveType=LIMIT_MAKER&abovePrice=70000&belowType=STOP_LOSS&belowStopPrice=50000",
            "",
        )
        .expect("oco");
        let Size::Legs(legs) = &c.order.size else { panic!("{:?}", c.order) };
        assert_eq!(legs.len(), 2);
        assert_eq!(legs[0].price, Price::Limit("70000".into()));
        assert_eq!(legs[1].price, Price::Market);
        assert!(legs.iter().all(|l| l.amount == Amount::Base("2".into()) && l.side == Some(Side::Sell)));
        let c = canon(
            "POST",
            "/api/v3/orderList/otoco",
            "symbol=BTCUSDT&workingType=LIMIT&workingSide=BUY&workingPrice=60000&workingQuantity=1\
             &pendingSide=SELL&pendingQuantity=1&pendingAboveType=LIMIT_MAKER&pendingAbovePrice=70000\
             &pendingBelowType=STOP_LOSS_LIMIT&pendingBelowPrice=49000&pendingBelowStopPrice=50000",
            "",
        )
        .expect("otoco");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 3));
        let c =
            canon("POST", "/api/v3/order/oco", "symbol=BTCUSDT&side=SELL&quantity=1&price=70000&stopPrice=50000", "")
                .expect("legacy oco");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 2 && l[1].price == Price::Market));
        // cancelReplace places its new order.
        let c = canon(
            "POST",
            "/api/v3/order/cancelReplace",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId=1",
            "",
        )
        .expect("cancelReplace");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Quote("100".into())));
        // Stops are market orders; pegged orders too.
        let c = canon("POST", "/api/v3/order", "symbol=BTCUSDT&side=SELL&type=STOP_LOSS&quantity=1&stopPrice=1", "")
            .expect("stop");
        assert_eq!(c.order.leg().map(|l| &l.price), Some(&Price::Market));
        let c = canon(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&pegPriceType=MARKET_PEG",
            "",
        )
        .expect("peg");
        assert_eq!(c.order.leg().map(|l| &l.price), Some(&Price::Market));
        refused(
            "POST",
            "/api/v3/order",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=1&pegPriceType=MARKET_PEG",
            "",
        );
    }

    #[test]
    fn cancels_reads_and_unsized() {
        let c = canon("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", "").expect("cancel");
        assert_eq!(c.order, OrderFacts::cancel(Some("BTCUSDT".into())));
        let c = canon("GET", "/api/v3/openOrders", "symbol=BTCUSDT", "").expect("read");
        assert!(!c.order.places_order);
        let c = canon("POST", "/sapi/v1/asset/dust", "asset=BTC&asset=ETH", "").expect("dust");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        refused("PUT", "/api/v3/order", "symbol=BTCUSDT", "");
        // An unknown path is the policy's to deny; its facts are none.
        assert!(!canon("POST", "/api/v3/order/amend", "symbol=BTCUSDT", "").expect("unknown").order.places_order);
        refused("PATCH", "/api/v3/order", "symbol=BTCUSDT", "");
        // A read keeps any parameter, but still in one spelling.
        assert!(canon("GET", "/api/v3/myTrades", "symbol=BTCUSDT&limit=5&whatever=1", "").is_ok());
        refused("GET", "/api/v3/myTrades", "symbol=BTCUSDT&symbol=ETHUSDT", "");
    }

    #[test]
    fn mexc_reads_the_same_way() {
        let c = crate::canonicalize(
            "mexc",
            &Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=50", ""),
        )
        .expect("mexc");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Quote("50".into())));
        let c = crate::canonicalize(
            "mexc",
            &Request::new("POST", "/api/v3/batchOrders", "batchOrders=%5B%5D&symbol=BTCUSDT", ""),
        )
        .expect("batch");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        assert!(
            crate::canonicalize(
                "mexc",
                &Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&price=1", "")
            )
            .is_err()
        );
    }

    #[test]
    fn withdrawals_are_read_as_the_exchange_executes_them() {
        let w = |id: &str, path: &str, q: &str| {
            crate::canonicalize(id, &Request::new("POST", path, q, "")).map(|c| c.withdrawal)
        };
        let f = w(
            "binance",
            "/sapi/v1/capital/withdraw/apply",
            "coin=XRP&network=XRP&address=rX1&addressTag=42&amount=10.5",
        )
        .expect("read")
        .expect("facts");
        assert_eq!(
            (f.asset.as_str(), f.amount.as_str(), f.destination.as_str(), f.network.as_deref()),
            ("XRP", "10.5", "rX1 42", Some("XRP"))
        );
        // Without an address, or twice the amount: refused, never read one way.
        assert!(w("binance", "/sapi/v1/capital/withdraw/apply", "coin=BTC&amount=1").is_err());
        assert!(w("binance", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=a&amount=1&amount=2").is_err());
        // The same address in the query and the body is a duplicate too.
        assert!(
            crate::canonicalize(
                "binance",
                &Request::new("POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=a&amount=1", "address=b")
            )
            .is_err()
        );
        let f = w("mexc", "/api/v3/capital/withdraw", "coin=USDT&netWork=TRC20&address=T9&amount=5").expect("read");
        assert_eq!(f.and_then(|f| f.network), Some("TRC20".into()));
        // Other withdraw-class calls carry no withdrawal facts.
        assert_eq!(
            w("binance", "/sapi/v1/asset/transfer", "type=MAIN_UMFUTURE&asset=USDT&amount=1").expect("read"),
            None
        );
    }
}
