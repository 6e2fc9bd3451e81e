//! Gate API v4: a GET's or DELETE's parameters are its query string; a
//! POST's, PATCH's or PUT's are its JSON body (an object, or an array of
//! objects for the batch calls), and a few take query parameters too (an
//! amend's `currency_pair` and `account`; a futures leverage's `leverage`),
//! never the same name in both. A listed POST with a query is refused; an
//! unlisted one (futures, margin, lending: see `rest`) may carry both.
//!
//! A spot order's `type` is `limit` (the default) or `market`. A limit
//! order is `amount` (base) at `price`; a market order's `amount` is in the
//! quote currency for a buy and in the base currency for a sell, and a
//! `price` on it is refused (Gate ignores it), as is a `time_in_force`
//! other than `ioc` or `fok` (Gate refuses the others on market orders).
//! `account` (`spot`, `margin`, `cross_margin`, `unified`) does not change
//! how an order is sized. A batch's orders are all counted; an amendment is
//! a leg only when it gives both `amount` and `price`. Price-triggered
//! orders are unsized.
//!
//! Parameter lists: "Spot → Create an order / Create a batch of orders /
//! List orders / Cancel all open orders in specified currency pair / Get a
//! single order / Amend an order / Cancel a single order / Cancel a batch
//! of orders with an ID list / Batch modification of orders / Countdown
//! cancel orders / Create a price-triggered order …" and "Withdrawal →
//! Withdraw / UID transfer / Cancel withdrawal with specified ID" of the
//! Gate API v4 docs (www.gate.com/docs/developers/apiv4), with the
//! `Order`, `OrderPatch` and `CancelBatchOrder` models of Gate's own SDKs
//! (gateapi-python docs). Not confirmed against the live pages:
//! `action_mode` on the cancel calls, the amend's query parameters (taken
//! from the SDK's `amend_order` signature), and the list calls' `side`.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Found, Place};
use super::{Canonical, Endpoint, check_listed, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order object.
    Order,
    /// An array of order objects.
    Batch,
    /// One amendment (`amount` at `price`).
    Amend,
    /// An array of amendments.
    AmendBatch,
}

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let listed = match rest::lookup(TABLE, req, class) {
        Found::Listed(e) => Some(e),
        _ => None,
    };
    let place = match req.method.as_str() {
        "GET" | "DELETE" => Place::Query,
        _ if listed.is_some_and(|e| AMEND_QUERY.0 == e.path && AMEND_QUERY.1 == e.method) => Place::Both,
        _ if listed.is_some() => Place::Body,
        _ => Place::Both,
    };
    let parts = rest::parse(req, place)?;
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            let what = format!("{} {}", e.method, e.path);
            let in_query: &[&str] = if place == Place::Both { AMEND_QUERY.2 } else { e.params };
            check_listed(parts.query.iter().map(|(n, _)| n.as_str()), in_query, &[], &what)?;
            let batch = matches!(e.kind, Places(Reader::Batch | Reader::AmendBatch)) || e.path == CANCEL_BATCH;
            let items = rest::items(&parts.body, batch, &what)?;
            for o in &items {
                check_listed(o.keys().map(String::as_str), e.params, &[], &what)?;
            }
            let symbols: Vec<Option<&str>> = match place {
                Place::Query => vec![super::form::get(&parts.query, "currency_pair")],
                _ => items
                    .iter()
                    .map(|o| Ok(text(o, "currency_pair")?.or(super::form::get(&parts.query, "currency_pair"))))
                    .collect::<Result<_, Error>>()?,
            };
            let symbol = rest::one_symbol(&symbols);
            let at = |i: usize| symbols.get(i).copied().flatten();
            match e.kind {
                Places(Reader::Order | Reader::Batch) => rest::legs(&items, symbol, |i, o| order(o, at(i)))?,
                Places(Reader::Amend | Reader::AmendBatch) => rest::legs(&items, symbol, |i, o| amendment(o, at(i)))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// One spot order object.
fn order(o: &Map<String, Value>, symbol: Option<&str>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = symbol.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without currency_pair"))?;
    let side = rest::side(o, "side", "buy", "sell")?;
    let amount = text(o, "amount")?.ok_or_else(|| refuse("an order without amount"))?;
    let price = text(o, "price")?;
    let tif = text(o, "time_in_force")?;
    match text(o, "account")? {
        None | Some("spot" | "margin" | "cross_margin" | "unified") => {}
        Some(a) => return Err(refuse(format!("account {} is not one Gate documents", shown(a)))),
    }
    let leg = |amount, price| Leg { symbol: Some(symbol.to_owned()), side: Some(side), amount, price };
    match text(o, "type")? {
        Some("market") => {
            if price.is_some() {
                return Err(refuse(
                    "a price on a market order, which executes at the market: Gate ignores it, so the policy will \
                     not value the order at it",
                ));
            }
            if !matches!(tif, None | Some("ioc" | "fok")) {
                return Err(refuse("a market order's time_in_force is ioc or fok"));
            }
            // A market buy spends `amount` of the quote currency; a sell sells `amount` of the base.
            let amount =
                if side == Side::Buy { Amount::Quote(amount.to_owned()) } else { Amount::Base(amount.to_owned()) };
            Ok(Ok(leg(amount, Price::Market)))
        }
        None | Some("limit") => {
            if !matches!(tif, None | Some("gtc" | "ioc" | "poc" | "fok")) {
                return Err(refuse(format!("time_in_force {} is not gtc, ioc, poc or fok", shown(tif.unwrap_or("")))));
            }
            let px = price.ok_or_else(|| refuse("a limit order without price"))?;
            Ok(Ok(leg(Amount::Base(amount.to_owned()), Price::Limit(px.to_owned()))))
        }
        Some(t) => Err(refuse(format!("type {} is not limit or market", shown(t)))),
    }
}

/// One amendment: a leg when it gives both `amount` and `price`.
fn amendment(o: &Map<String, Value>, symbol: Option<&str>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = symbol.ok_or_else(|| refuse("an amendment without currency_pair"))?;
    rest::amended(o, symbol, "amount", "price", "an amendment that does not give both amount and price")
}

/// Create an order's members (the `Order` model's writable fields).
const ORDER: &[&str] = &[
    "text",
    "currency_pair",
    "type",
    "account",
    "side",
    "amount",
    "price",
    "time_in_force",
    "iceberg",
    "auto_borrow",
    "auto_repay",
    "stp_act",
    "action_mode",
];
/// The `OrderPatch` model's members.
const AMEND: &[&str] = &["currency_pair", "account", "amount", "price", "amend_text", "action_mode"];
/// The one call that takes query parameters beside its body, and which.
const AMEND_QUERY: (&str, &str, &[&str]) = ("/api/v4/spot/orders/{}", "PATCH", &["currency_pair", "account"]);
const CANCEL_BATCH: &str = "/api/v4/spot/cancel_batch_orders";

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v4/spot/orders", ORDER, Places(Reader::Order)),
    E::new("POST", "/api/v4/spot/batch_orders", ORDER, Places(Reader::Batch)),
    E::new("PATCH", "/api/v4/spot/orders/{}", AMEND, Places(Reader::Amend)),
    E::new(
        "POST",
        "/api/v4/spot/amend_batch_orders",
        &["order_id", "currency_pair", "account", "amount", "price", "amend_text", "action_mode"],
        Places(Reader::AmendBatch),
    ),
    E::new(
        "GET",
        "/api/v4/spot/orders",
        &["currency_pair", "status", "page", "limit", "account", "from", "to", "side"],
        Reads,
    ),
    E::new("GET", "/api/v4/spot/orders/{}", &["currency_pair", "account"], Reads),
    E::new("DELETE", "/api/v4/spot/orders", &["currency_pair", "side", "account", "action_mode"], Cancels),
    E::new("DELETE", "/api/v4/spot/orders/{}", &["currency_pair", "account", "action_mode"], Cancels),
    E::new("POST", CANCEL_BATCH, &["currency_pair", "id", "account", "action_mode"], Cancels),
    E::new("POST", "/api/v4/spot/countdown_cancel_all", &["timeout", "currency_pair"], Cancels),
    E::new("POST", "/api/v4/spot/price_orders", &["trigger", "put", "market"], Unsized("a Gate price-triggered order")),
    E::new("GET", "/api/v4/spot/price_orders", &["status", "market", "account", "limit", "offset"], Reads),
    E::new("GET", "/api/v4/spot/price_orders/{}", &[], Reads),
    E::new("DELETE", "/api/v4/spot/price_orders", &["market", "account"], Cancels),
    E::new("DELETE", "/api/v4/spot/price_orders/{}", &[], Cancels),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v4/withdrawals",
        &["withdraw_order_id", "amount", "currency", "address", "memo", "chain"],
        Moves,
    ),
    E::new("POST", "/api/v4/withdrawals/push", &["receive_uid", "currency", "amount"], Moves),
    E::new("DELETE", "/api/v4/withdrawals/{}", &[], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("gate", &Request::new(method, path, query, body))
    }

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        canon("POST", path, "", body)
    }

    const ORDERS: &str = "/api/v4/spot/orders";

    /// What `sealgate-venues` sends (`gate::place_request`, `cancel_request`,
    /// `trades_request`), byte for byte.
    #[test]
    fn our_traders_requests_are_their_own_canonical_form() {
        let limit = r#"{"account":"spot","amount":"0.01","currency_pair":"BTC_USDT","price":"40000","side":"buy","text":"t-sg-1","time_in_force":"gtc","type":"limit"}"#;
        let c = post(ORDERS, limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", ORDERS, "", limit));
        assert_eq!(
            leg(&c),
            (Some("BTC_USDT"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let sell = r#"{"account":"spot","amount":"0.5","currency_pair":"ETH_USDT","side":"sell","text":"t-sg-2","time_in_force":"ioc","type":"market"}"#;
        let c = post(ORDERS, sell).expect("market sell");
        assert_eq!(c.request.body, sell);
        assert_eq!(leg(&c), (Some("ETH_USDT"), Some(Side::Sell), &Amount::Base("0.5".into()), &Price::Market));
        let cancel = Request::new("DELETE", "/api/v4/spot/orders/12345", "currency_pair=BTC_USDT", "");
        let c = crate::canonicalize("gate", &cancel).expect("cancel");
        assert_eq!(c.request, cancel);
        assert!(c.order.cancels_only && c.order.symbol.as_deref() == Some("BTC_USDT"));
        for q in ["limit=100&page=2", "from=1700000000&limit=100&page=1"] {
            assert_eq!(canon("GET", "/api/v4/spot/my_trades", q, "").map(|c| c.request.query), Ok(q.to_owned()));
        }
    }

    /// A market buy's amount is quote: never read as base.
    #[test]
    fn a_market_buy_is_quote_sized() {
        let c =
            post(ORDERS, r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"100"}"#).expect("buy");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        let c = post(ORDERS, r#"{"currency_pair":"BTC_USDT","side":"sell","amount":"1","price":"9"}"#)
            .expect("type defaults to limit");
        assert_eq!(leg(&c).3, &Price::Limit("9".into()));
        for bad in [
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"100","price":"1"}"#,
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"100","time_in_force":"gtc"}"#,
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"limit","amount":"1"}"#,
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"limit","amount":"1","price":"1","account":"futures"}"#,
            r#"{"currency_pair":"BTC_USDT","side":"Buy","type":"market","amount":"1"}"#,
            r#"{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"1","quote_amount":"1"}"#,
        ] {
            assert!(post(ORDERS, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn batches_and_amendments() {
        let c = post(
            "/api/v4/spot/batch_orders",
            r#"[{"currency_pair":"BTC_USDT","side":"buy","amount":"0.001","price":"10"},{"currency_pair":"BTC_USDT","side":"buy","type":"market","amount":"100000"}]"#,
        )
        .expect("batch");
        match &c.order.size {
            Size::Legs(l) => assert_eq!(l[1].amount, Amount::Quote("100000".into()), "the second order counts"),
            s => panic!("{s:?}"),
        }
        assert_eq!(c.order.symbol.as_deref(), Some("BTC_USDT"));
        assert!(post("/api/v4/spot/batch_orders", r#"{"currency_pair":"BTC_USDT"}"#).is_err());
        assert!(post(ORDERS, r#"[{"currency_pair":"BTC_USDT","side":"buy","amount":"1","price":"1"}]"#).is_err());
        let c = canon("PATCH", "/api/v4/spot/orders/1", "currency_pair=BTC_USDT", r#"{"amount":"2","price":"3"}"#)
            .expect("amend");
        assert_eq!(leg(&c), (Some("BTC_USDT"), None, &Amount::Base("2".into()), &Price::Limit("3".into())));
        assert!(!c.order.cancels_only);
        let c = canon("PATCH", "/api/v4/spot/orders/1", "", r#"{"currency_pair":"BTC_USDT","amount":"2"}"#)
            .expect("amount only");
        assert!(matches!(c.order.size, Size::Unknown(_)));
        // The pair in both query and body; another query parameter.
        for (q, b) in [
            ("currency_pair=BTC_USDT", r#"{"currency_pair":"ETH_USDT","amount":"2","price":"3"}"#),
            ("amount=200", r#"{"currency_pair":"BTC_USDT","price":"3"}"#),
        ] {
            assert!(canon("PATCH", "/api/v4/spot/orders/1", q, b).is_err(), "{q} {b}");
        }
        let c = post("/api/v4/spot/cancel_batch_orders", r#"[{"currency_pair":"BTC_USDT","id":"1"}]"#).expect("cancel");
        assert!(c.order.cancels_only);
    }

    #[test]
    fn formats_and_undocumented_members() {
        let ok = r#"{"currency_pair":"BTC_USDT","side":"sell","type":"market","amount":"1"}"#;
        assert!(post(ORDERS, ok).is_ok());
        for (m, q, b) in [
            ("POST", "", r#"{"currency_pair":"BTC_USDT","side":"sell","type":"market","amount":"1","amount":"100"}"#),
            ("POST", "", r#"{"currency_pair":"BTC_USDT","side":"sell","type":"market","amount":"1","Amount":"100"}"#),
            ("POST", "", r#"{"currency_pair":"BTC_USDT","side":"sell","type":"market","amount":0.5}"#),
            ("POST", "", r#"{"currency_pair":"BTC_USDT","side":"sell","type":"market","amount":"1","leverage":"5"}"#),
            ("POST", "amount=100", ok),
            ("POST", "", "currency_pair=BTC_USDT&side=sell&type=market&amount=1"),
            ("DELETE", "", r#"{"currency_pair":"BTC_USDT"}"#),
            ("DELETE", "currency_pair=BTC_USDT&amount=1", ""),
        ] {
            assert!(canon(m, ORDERS, q, b).is_err(), "{m} {q} {b}");
        }
        // Futures orders are placements of unknown size; their POSTs may take a query.
        let c = post("/api/v4/futures/usdt/orders", r#"{"contract":"BTC_USDT","size":10,"price":"0","tif":"ioc"}"#)
            .expect("futures");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let c = canon("POST", "/api/v4/futures/usdt/positions/BTC_USDT/leverage", "leverage=10", "").expect("lev");
        assert_eq!(c.request.query, "leverage=10");
        for p in ["/api/v4/spot/orders/", "/api/v4//spot/orders", "/api/v4/Spot/orders", "/API/v4/spot/orders"] {
            let class = crate::classify("gate", p);
            assert!(class.is_err() || class == Ok(EndpointClass::Unknown), "{p}");
        }
    }
}
