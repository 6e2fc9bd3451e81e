//! Poloniex spot (API v3): a GET's parameters are its query string, any
//! other method's its JSON body (an object, or an array of objects for
//! `POST /orders/batch`); a GET with a body and a POST, PUT or DELETE with a
//! query are refused. The query matters doubly here: Poloniex signs a
//! request's query only when it has no body, so a query beside a body would
//! travel unsigned.
//!
//! An order's `type` is `MARKET` (the default when absent), `LIMIT` or
//! `LIMIT_MAKER`. A limit order is `quantity` (base units) at `price`; an
//! `amount` (quote units) on it is refused (the docs size limit orders by
//! `quantity` only). A market order is sized by exactly one of `quantity`
//! (base) and `amount` (quote) — the docs require `amount` on a market buy
//! and `quantity` on a market sell; whichever is given is read in its own
//! unit, both are refused (two sizes), and a `price` on a market order is
//! refused (Poloniex documents it for non-market orders only, so the policy
//! will not value the order at it). `side` is `BUY` or `SELL` exactly,
//! `accountType` `SPOT` only. Every order of a batch is counted.
//!
//! A cancel-replace (`PUT /orders/{id}`) keeps the old order's symbol and
//! side and replaces the fields it gives: it is a leg (no symbol, no side)
//! only when it gives `quantity` and `price` and no `amount`, with a `type`
//! that is absent or a limit type; otherwise it is a placement of unknown
//! size (the size or price it keeps is not known here). Smart orders (stop,
//! stop-limit, trailing) are unsized.
//!
//! Parameter lists: "Spot → Orders → Create Order / Create Multiple Orders
//! / Cancel Replace Order / Open Orders / Order Details / Cancel Order by Id
//! / Cancel Multiple Orders by Ids / Cancel All Orders / Kill Switch", the
//! same calls of "Smart Orders", and "Wallets → Withdraw Currency (v1, v2)
//! / Create New Currency Address" and "Accounts → Accounts Transfer" of the
//! Poloniex spot API docs (api-docs.poloniex.com/spot), with the cancel
//! replace body list of Poloniex's "Cancel Replace Primer". Not confirmed
//! against the live pages: the open-orders filters (`from`, `direction`)
//! and the smart-order lists. Other trade calls (margin, sub-accounts) are
//! placements of unknown size, as `rest` documents.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Found, Place};
use super::{Canonical, Endpoint, check_listed, form, refuse, shown};
use crate::facts::{Amount, Leg, Price};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// An array of order objects.
    Batch,
    /// A cancel-replace (`quantity` at `price`).
    Replace,
}

const REPLACE_UNSIZED: &str =
    "a Poloniex cancel-replace that does not give both quantity and price at a limit type (it keeps what it omits)";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if req.method == "GET" { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            let what = format!("{} {}", e.method, e.path);
            let batch = matches!(e.kind, Places(Reader::Batch));
            let items = rest::items(&parts.body, batch, &what)?;
            check_listed(parts.query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
            for o in &items {
                check_listed(o.keys().map(String::as_str), e.params, &[], &what)?;
            }
            let symbols: Vec<Option<&str>> = match place {
                Place::Query => vec![form::get(&parts.query, "symbol")],
                _ => items.iter().map(|o| text(o, "symbol")).collect::<Result<_, _>>()?,
            };
            let symbol = rest::one_symbol(&symbols);
            match e.kind {
                Places(Reader::Order | Reader::Batch) => rest::legs(&items, symbol, |_, o| order(o))?,
                Places(Reader::Replace) => rest::legs(&items, None, |_, o| replace(o))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// `type`: `Ok(true)` for a market order.
fn market(o: &Map<String, Value>) -> Result<bool, Error> {
    match text(o, "type")? {
        None | Some("MARKET") => Ok(true),
        Some("LIMIT" | "LIMIT_MAKER") => Ok(false),
        Some(t) => Err(refuse(format!("type {} is not MARKET, LIMIT or LIMIT_MAKER", shown(t)))),
    }
}

/// One order object.
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = text(o, "symbol")?.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without symbol"))?;
    let side = rest::side(o, "side", "BUY", "SELL")?;
    match text(o, "accountType")? {
        None | Some("SPOT") => {}
        Some(a) => return Err(refuse(format!("accountType {} is not SPOT", shown(a)))),
    }
    let (quantity, quote, price) = (text(o, "quantity")?, text(o, "amount")?, text(o, "price")?);
    let (amount, price) = if market(o)? {
        if price.is_some() {
            return Err(refuse(
                "a price on a MARKET order (also when type is absent: MARKET is the default), which executes at the \
                 market: the policy will not value the order at it",
            ));
        }
        let amount = match (quantity, quote) {
            (Some(q), None) => Amount::Base(q.to_owned()),
            (None, Some(a)) => Amount::Quote(a.to_owned()),
            (Some(_), Some(_)) => return Err(refuse("a MARKET order with both quantity and amount: two sizes")),
            (None, None) => return Err(refuse("a MARKET order without quantity or amount")),
        };
        (amount, Price::Market)
    } else {
        if quote.is_some() {
            return Err(refuse("amount (quote units) on a limit order: Poloniex sizes limit orders by quantity"));
        }
        let q = quantity.ok_or_else(|| refuse("a limit order without quantity"))?;
        let px = price.ok_or_else(|| refuse("a limit order without price"))?;
        (Amount::Base(q.to_owned()), Price::Limit(px.to_owned()))
    };
    Ok(Ok(Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount, price }))
}

/// One cancel-replace: the old order's symbol and side, the new quantity at the new price.
fn replace(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let limit = match text(o, "type")? {
        None | Some("LIMIT" | "LIMIT_MAKER") => true,
        Some("MARKET") => false,
        Some(t) => return Err(refuse(format!("type {} is not MARKET, LIMIT or LIMIT_MAKER", shown(t)))),
    };
    Ok(match (text(o, "quantity")?, text(o, "price")?, text(o, "amount")?) {
        (Some(q), Some(px), None) if limit => {
            Ok(Leg { symbol: None, side: None, amount: Amount::Base(q.to_owned()), price: Price::Limit(px.to_owned()) })
        }
        _ => Err(REPLACE_UNSIZED),
    })
}

/// Create Order's members.
const ORDER: &[&str] = &[
    "symbol",
    "side",
    "timeInForce",
    "type",
    "accountType",
    "price",
    "quantity",
    "amount",
    "clientOrderId",
    "allowBorrow",
    "stpMode",
    "slippageTolerance",
];
/// Cancel Replace Order's members.
const REPLACE: &[&str] =
    &["clientOrderId", "price", "quantity", "amount", "type", "timeInForce", "allowBorrow", "proceedOnFailure"];
/// Create Smart Order's members.
const SMART: &[&str] = &[
    "symbol",
    "side",
    "timeInForce",
    "type",
    "accountType",
    "price",
    "stopPrice",
    "trailingOffset",
    "limitOffset",
    "quantity",
    "amount",
    "clientOrderId",
    "operator",
];
const SMART_REPLACE: &[&str] =
    &["clientOrderId", "price", "stopPrice", "quantity", "amount", "type", "timeInForce", "proceedOnFailure"];

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`). Specific rows come
/// before the `{}` rows they would otherwise match.
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/orders", ORDER, Places(Reader::Order)),
    E::new("POST", "/orders/batch", ORDER, Places(Reader::Batch)),
    E::new("GET", "/orders", &["symbol", "side", "from", "direction", "limit"], Reads),
    E::new("DELETE", "/orders", &["symbols", "accountTypes"], Cancels),
    E::new("DELETE", "/orders/cancelByIds", &["orderIds", "clientOrderIds"], Cancels),
    E::new("POST", "/orders/killSwitch", &["timeout"], Cancels),
    E::new("PUT", "/orders/{}", REPLACE, Places(Reader::Replace)),
    E::new("GET", "/orders/{}", &[], Reads),
    E::new("DELETE", "/orders/{}", &[], Cancels),
    E::new("POST", "/smartorders", SMART, Unsized("a Poloniex smart order (stop, stop-limit, trailing)")),
    E::new("GET", "/smartorders", &["limit", "types"], Reads),
    E::new("DELETE", "/smartorders", &["symbols", "accountTypes", "orderTypes"], Cancels),
    E::new("DELETE", "/smartorders/cancelByIds", &["orderIds", "clientOrderIds"], Cancels),
    E::new("PUT", "/smartorders/{}", SMART_REPLACE, Unsized("a Poloniex smart order cancel-replace")),
    E::new("GET", "/smartorders/{}", &[], Reads),
    E::new("DELETE", "/smartorders/{}", &[], Cancels),
    // Withdraw class.
    E::new("POST", "/wallets/withdraw", &["currency", "amount", "address", "paymentId", "allowBorrow"], Moves),
    E::new(
        "POST",
        "/v2/wallets/withdraw",
        &["coin", "network", "amount", "address", "addressTag", "allowBorrow"],
        Moves,
    ),
    E::new("POST", "/wallets/address", &["currency"], Moves),
    E::new("POST", "/accounts/transfer", &["currency", "amount", "fromAccount", "toAccount"], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::{Side, Size};

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("poloniex", &Request::new(method, path, query, body))
    }

    fn post(body: &str) -> Result<Canonical, Error> {
        canon("POST", "/orders", "", body)
    }

    /// What `sealgate-venues` sends (`poloniex::place_request`, `cancel_request`) and what
    /// ccxt sends (limit order, cancel by id), byte for byte: members sorted.
    #[test]
    fn our_traders_and_ccxts_requests_are_their_own_canonical_form() {
        let limit = r#"{"clientOrderId":"sg-1","price":"40000","quantity":"0.01","side":"BUY","symbol":"BTC_USDT","timeInForce":"GTC","type":"LIMIT"}"#;
        let c = post(limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/orders", "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTC_USDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let market = r#"{"clientOrderId":"sg-2","quantity":"0.5","side":"SELL","symbol":"ETH_USDT","type":"MARKET"}"#;
        let c = post(market).expect("market sell");
        assert_eq!(c.request.body, market);
        assert_eq!(leg(&c), (Some("ETH_USDT"), Some(Side::Sell), &Amount::Base("0.5".into()), &Price::Market));
        // ccxt: members in its own order, re-printed sorted.
        let c = post(r#"{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","quantity":"0.01","price":"40000"}"#)
            .expect("ccxt");
        assert_eq!(
            c.request.body,
            r#"{"price":"40000","quantity":"0.01","side":"BUY","symbol":"BTC_USDT","type":"LIMIT"}"#
        );
        let cancel = Request::new("DELETE", "/orders/29772698821328896", "", "");
        let c = crate::canonicalize("poloniex", &cancel).expect("cancel");
        assert_eq!(c.request, cancel);
        assert!(c.order.cancels_only);
        let q = "symbol=BTC_USDT&limit=100&from=1700000000000";
        assert_eq!(canon("GET", "/trades", q, "").map(|c| c.request.query), Ok(q.to_owned()));
    }

    /// `amount` is quote units, `quantity` base; MARKET is the default type.
    #[test]
    fn market_orders_and_their_units() {
        let c = post(r#"{"symbol":"BTC_USDT","amount":"100","side":"BUY"}"#).expect("the docs' market buy");
        assert_eq!(leg(&c), (Some("BTC_USDT"), Some(Side::Buy), &Amount::Quote("100".into()), &Price::Market));
        let c = post(r#"{"symbol":"BTC_USDT","quantity":"2","side":"SELL","type":"MARKET"}"#).expect("sell");
        assert_eq!(leg(&c).2, &Amount::Base("2".into()));
        for bad in [
            // A price on a market order, also by default type: the policy would value it there.
            r#"{"symbol":"BTC_USDT","amount":"100","side":"BUY","price":"1"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"100","side":"SELL","type":"MARKET","price":"1"}"#,
            // Two sizes, or none.
            r#"{"symbol":"BTC_USDT","amount":"100","quantity":"0.001","side":"BUY"}"#,
            r#"{"symbol":"BTC_USDT","side":"BUY"}"#,
            // A quote amount on a limit order is not read as base.
            r#"{"symbol":"BTC_USDT","amount":"100000","quantity":"0.001","price":"1","side":"BUY","type":"LIMIT"}"#,
            r#"{"symbol":"BTC_USDT","amount":"100000","price":"1","side":"BUY","type":"LIMIT"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"BUY","type":"LIMIT"}"#,
            // Case variants and other spellings.
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"buy","type":"MARKET"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL","type":"market"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL","Quantity":"100"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL","quantity":"100"}"#,
            r#"{"symbol":"BTC_USDT","quantity":0.5,"side":"SELL"}"#,
            r#"{"symbol":"BTC_USDT","quantity":null,"amount":"5","side":"BUY"}"#,
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL","accountType":"FUTURES"}"#,
            // An undocumented member.
            r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL","qty":"100"}"#,
        ] {
            assert!(matches!(post(bad), Err(Error::Ambiguous(_))), "{bad}");
        }
    }

    /// The body is the only place of a POST's parameters: a query beside it travels
    /// unsigned (Poloniex signs the query only when there is no body).
    #[test]
    fn query_and_body() {
        let body = r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL"}"#;
        assert!(canon("POST", "/orders", "quantity=100", body).is_err());
        assert!(canon("POST", "/orders", "", "symbol=BTC_USDT&quantity=1&side=SELL").is_err());
        assert!(canon("GET", "/orders", "", r#"{"symbol":"BTC_USDT"}"#).is_err());
        assert!(canon("GET", "/orders", "symbol=BTC_USDT&symbol=ETH_USDT", "").is_err());
        assert!(canon("GET", "/orders", "symbol=BTC_USDT&limit=5", "").is_ok());
        assert!(canon("GET", "/orders", "symbol=BTC_USDT&quantity=5", "").is_err());
        assert!(canon("DELETE", "/orders/1", "symbol=BTC_USDT", "").is_err());
    }

    #[test]
    fn batches_replaces_and_smart_orders() {
        let c = canon(
            "POST",
            "/orders/batch",
            "",
            r#"[{"symbol":"BTC_USDT","quantity":"1","price":"10","side":"BUY","type":"LIMIT"},{"symbol":"ETH_USDT","amount":"100000","side":"BUY"}]"#,
        )
        .expect("batch");
        match &c.order.size {
            Size::Legs(l) => assert_eq!(l[1].amount, Amount::Quote("100000".into()), "the second order counts"),
            s => panic!("{s:?}"),
        }
        assert_eq!(c.order.symbol, None, "two markets");
        assert!(canon("POST", "/orders/batch", "", r#"{"symbol":"BTC_USDT","quantity":"1","side":"SELL"}"#).is_err());
        assert!(post(r#"[{"symbol":"BTC_USDT","quantity":"1","side":"SELL"}]"#).is_err());
        let c = canon("PUT", "/orders/123", "", r#"{"quantity":"2","price":"30000"}"#).expect("replace");
        assert_eq!(leg(&c), (None, None, &Amount::Base("2".into()), &Price::Limit("30000".into())));
        assert!(c.order.places_order && !c.order.cancels_only);
        for open in [r#"{"price":"30000"}"#, r#"{"quantity":"2","price":"1","type":"MARKET"}"#, r#"{"amount":"5"}"#] {
            let c = canon("PUT", "/orders/123", "", open).expect(open);
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{open}");
        }
        assert!(canon("PUT", "/orders/123", "", r#"{"quantity":"2","price":"1","symbol":"ETH_USDT"}"#).is_err());
        let c =
            canon("POST", "/smartorders", "", r#"{"symbol":"BTC_USDT","side":"BUY","stopPrice":"1","quantity":"1"}"#)
                .expect("smart");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        // Cancels are cancels; an unlisted trade call is a placement of unknown size.
        let c = canon("DELETE", "/orders/cancelByIds", "", r#"{"orderIds":["1"]}"#).expect("cancel by ids");
        assert!(c.order.cancels_only);
        assert!(canon("DELETE", "/orders/cancelByIds", "", r#"{"orderIds":["1"],"symbol":"x"}"#).is_err());
        assert!(canon("POST", "/orders/killSwitch", "", r#"{"timeout":"60"}"#).is_ok_and(|c| c.order.cancels_only));
        let c = canon("POST", "/orders/123", "", r#"{"quantity":"1"}"#).expect("unlisted");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let c =
            canon("POST", "/v2/wallets/withdraw", "", r#"{"coin":"BTC","network":"BTC","amount":"1","address":"a"}"#)
                .expect("withdraw");
        assert!(!c.order.places_order);
        assert!(
            canon("POST", "/wallets/withdraw", "", r#"{"currency":"BTC","amount":"1","address":"a","to":"b"}"#)
                .is_err()
        );
    }
}
