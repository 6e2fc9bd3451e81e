//! Coinbase Exchange (the former Coinbase Pro): a GET's or DELETE's
//! parameters are its query string, a POST's its JSON object body; a GET or
//! DELETE with a body and a POST with a query are refused.
//!
//! An order's `type` is `limit` (the default when absent), `market` or
//! `stop`. A limit order is `size` (base) at `price`; `funds` on it is
//! refused (Coinbase sizes limit orders by `size`). A market order is sized
//! by exactly one of `size` (base) and `funds` (quote: spent on a buy,
//! received on a sell); both are refused (two sizes), and so is a `price`
//! on it (Coinbase ignores it, so the policy will not value the order at
//! it). A stop order (`type` `stop`, or `stop`/`stop_price` on any order) is
//! unsized, and so is any product that is not a spot `BASE-QUOTE` pair.
//! `side` is `buy` or `sell` exactly. Coinbase's JSON reader matches member
//! names case-insensitively: a second spelling is refused by the strict JSON
//! parse.
//!
//! Parameter lists: "Orders → Create a new order / Get all orders / Get
//! single order / Cancel an order / Cancel all orders" of the Coinbase
//! Exchange REST API reference (docs.cdp.coinbase.com/exchange). Not
//! confirmed against the live pages: `stop_limit_price` and `max_floor` on
//! Create, and the list filters `sortedBy`, `sorting` and `market_type`.
//! Other trade calls (conversions) are placements of unknown size, and
//! withdraw calls carry no facts, as `rest` documents.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Body, Found, Place};
use super::{Canonical, Endpoint, check_listed, form, is_spot_pair, refuse, shown};
use crate::facts::{Amount, Leg, Price};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
}

const STOP: &str = "a Coinbase Exchange stop order (it rests until triggered)";
const NOT_SPOT: &str = "a Coinbase Exchange product that is not a spot BASE-QUOTE pair";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let place = if matches!(req.method.as_str(), "GET" | "DELETE") { Place::Query } else { Place::Body };
    let parts = rest::parse(req, place)?;
    let empty = Map::new();
    let top = match &parts.body {
        Body::One(o) => o,
        Body::Empty => &empty,
        Body::Many(_) => return Err(refuse("a Coinbase Exchange body is one JSON object")),
    };
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            let what = format!("{} {}", e.method, e.path);
            check_listed(parts.query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
            check_listed(top.keys().map(String::as_str), e.params, &[], &what)?;
            let symbol = match place {
                Place::Query => form::get(&parts.query, "product_id").map(str::to_owned),
                _ => text(top, "product_id")?.map(str::to_owned),
            };
            match e.kind {
                Places(Reader::Order) => rest::legs(&[top], symbol, |_, o| order(o))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// One order object.
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let product =
        text(o, "product_id")?.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without product_id"))?;
    let side = rest::side(o, "side", "buy", "sell")?;
    let kind = match text(o, "type")? {
        None | Some("limit") => Some(false),
        Some("market") => Some(true),
        Some("stop") => None,
        Some(t) => return Err(refuse(format!("type {} is not limit, market or stop", shown(t)))),
    };
    let (size, funds, price) = (text(o, "size")?, text(o, "funds")?, text(o, "price")?);
    let Some(market) = kind else { return Ok(Err(STOP)) };
    if market && price.is_some() {
        return Err(refuse(
            "a price on a market order, which executes at the market: Coinbase ignores it, so the policy will not \
             value the order at it",
        ));
    }
    if !market && funds.is_some() {
        return Err(refuse("funds on a limit order: Coinbase sizes limit orders by size"));
    }
    if ["stop", "stop_price", "stop_limit_price"].iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(STOP));
    }
    if !is_spot_pair(product) {
        return Ok(Err(NOT_SPOT));
    }
    let (amount, price) = if market {
        let amount = match (size, funds) {
            (Some(s), None) => Amount::Base(s.to_owned()),
            (None, Some(f)) => Amount::Quote(f.to_owned()),
            (Some(_), Some(_)) => return Err(refuse("a market order with both size and funds: two sizes")),
            (None, None) => return Err(refuse("a market order without size or funds")),
        };
        (amount, Price::Market)
    } else {
        let s = size.ok_or_else(|| refuse("a limit order without size"))?;
        let px = price.ok_or_else(|| refuse("a limit order without price"))?;
        (Amount::Base(s.to_owned()), Price::Limit(px.to_owned()))
    };
    Ok(Ok(Leg { symbol: Some(product.to_owned()), side: Some(side), amount, price }))
}

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new(
        "POST",
        "/orders",
        &[
            "profile_id",
            "type",
            "side",
            "product_id",
            "stp",
            "stop",
            "stop_price",
            "stop_limit_price",
            "price",
            "size",
            "funds",
            "time_in_force",
            "cancel_after",
            "post_only",
            "max_floor",
            "client_oid",
        ],
        Places(Reader::Order),
    ),
    E::new(
        "GET",
        "/orders",
        &[
            "profile_id",
            "product_id",
            "sortedBy",
            "sorting",
            "start_date",
            "end_date",
            "before",
            "after",
            "limit",
            "status",
            "market_type",
        ],
        Reads,
    ),
    E::new("DELETE", "/orders", &["profile_id", "product_id"], Cancels),
    E::new("GET", "/orders/{}", &["market_type"], Reads),
    E::new("DELETE", "/orders/{}", &["profile_id", "product_id"], Cancels),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::{Side, Size};

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("coinbase-exchange", &Request::new(method, path, query, body))
    }

    fn post(body: &str) -> Result<Canonical, Error> {
        canon("POST", "/orders", "", body)
    }

    /// What the Coinbase Exchange venue sends (limit and market orders, cancel, status,
    /// fills), byte for byte: members sorted.
    #[test]
    fn the_venues_requests_are_their_own_canonical_form() {
        let limit = r#"{"client_oid":"sg-1","price":"40000","product_id":"BTC-USD","side":"buy","size":"0.01","time_in_force":"GTC","type":"limit"}"#;
        let c = post(limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/orders", "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTC-USD"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let market = r#"{"client_oid":"sg-2","product_id":"ETH-USD","side":"buy","size":"0.5","type":"market"}"#;
        let c = post(market).expect("market");
        assert_eq!(c.request.body, market);
        assert_eq!(leg(&c), (Some("ETH-USD"), Some(Side::Buy), &Amount::Base("0.5".into()), &Price::Market));
        let cancel = Request::new("DELETE", "/orders/68e6a28f-ae28-4788-8d4f-5ab4e5e5ae08", "product_id=BTC-USD", "");
        let c = crate::canonicalize("coinbase-exchange", &cancel).expect("cancel");
        assert_eq!(c.request, cancel);
        assert!(c.order.cancels_only && c.order.symbol.as_deref() == Some("BTC-USD"));
        let status = Request::new("GET", "/orders/client:sg-1", "", "");
        assert!(crate::canonicalize("coinbase-exchange", &status).is_ok_and(|c| !c.order.places_order));
        let q = "product_id=BTC-USD&limit=100&after=123";
        assert_eq!(canon("GET", "/fills", q, "").map(|c| c.request.query), Ok(q.to_owned()));
    }

    /// `funds` is quote; `size` base; limit is the default type.
    #[test]
    fn size_funds_and_price() {
        let c = post(r#"{"product_id":"BTC-USD","side":"buy","type":"market","funds":"100"}"#).expect("funds");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        let c = post(r#"{"product_id":"BTC-USD","side":"sell","size":"2","price":"10"}"#).expect("default limit");
        assert_eq!(leg(&c).3, &Price::Limit("10".into()));
        for bad in [
            r#"{"product_id":"BTC-USD","side":"buy","type":"market","funds":"100","size":"0.001"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"market"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"market","size":"1","price":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","size":"1","price":"1","funds":"100000"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","funds":"100000","price":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","size":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"Buy","type":"market","size":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"Market","size":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"market","size":"1","Size":"100"}"#,
            r#"{"product_id":"BTC-USD","Product_ID":"ETH-USD","side":"buy","type":"market","size":"1"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"market","size":0.5}"#,
            r#"{"product_id":"BTC-USD","side":"buy","type":"market","size":"1","leverage":"5"}"#,
        ] {
            assert!(matches!(post(bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        for open in [
            r#"{"product_id":"BTC-USD","side":"buy","type":"stop","size":"1","price":"1","stop_price":"2"}"#,
            r#"{"product_id":"BTC-USD","side":"buy","size":"1","price":"1","stop":"loss","stop_price":"2"}"#,
            r#"{"product_id":"BTC-PERP-INTX","side":"buy","size":"1","price":"1"}"#,
        ] {
            let c = post(open).expect(open);
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{open}");
        }
    }

    #[test]
    fn query_and_body() {
        let ok = r#"{"product_id":"BTC-USD","side":"sell","type":"market","size":"1"}"#;
        assert!(canon("POST", "/orders", "size=100", ok).is_err());
        assert!(canon("POST", "/orders", "", "product_id=BTC-USD&side=sell&type=market&size=1").is_err());
        assert!(canon("DELETE", "/orders", "", r#"{"product_id":"BTC-USD"}"#).is_err());
        assert!(canon("DELETE", "/orders", "product_id=BTC-USD", "").is_ok_and(|c| c.order.cancels_only));
        assert!(canon("DELETE", "/orders/1", "product_id=BTC-USD&size=1", "").is_err());
        assert!(canon("GET", "/orders", "status=open&status=done", "").is_err());
        let c = canon("POST", "/conversions", "", r#"{"from":"USD","to":"USDC","amount":"100"}"#).expect("convert");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
    }
}
