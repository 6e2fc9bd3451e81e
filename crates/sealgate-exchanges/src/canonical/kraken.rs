//! Kraken spot: every private call is a POST whose parameters are the body,
//! a form (`application/x-www-form-urlencoded`) or, when it starts with
//! `{`, a JSON object (`application/json`) — the Content-Type
//! [`crate::content_type`] sends, so the body is read in the format it
//! travels in. A query string is refused (it would travel unsigned).
//! `AddOrderBatch` and `CancelOrderBatch` carry arrays and are read as JSON
//! only.
//!
//! Parameter lists: "Spot REST API → Trading" and "Funding" / "Earn" of the
//! Kraken API docs (docs.kraken.com/api), plus `nonce` and `otp` on every
//! call.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Unsized};
use super::form::{self, Pairs};
use super::json::{self, text};
use super::{Canonical, Endpoint, check_listed, entry, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// `AddOrder`: one order.
    Add,
    /// `AddOrderBatch`: `orders`, every one on the top-level `pair`.
    Batch,
    /// `AmendOrder`: `order_qty` at `limit_price` of an order named by id.
    Amend,
}

/// The body, in the format it travels in.
enum Params {
    Form(Pairs),
    Json(Map<String, Value>),
}

impl Params {
    fn names(&self) -> Vec<&str> {
        match self {
            Self::Form(p) => p.iter().map(|(n, _)| n.as_str()).collect(),
            Self::Json(o) => o.keys().map(String::as_str).collect(),
        }
    }

    fn text(&self, name: &str) -> Result<Option<&str>, Error> {
        match self {
            Self::Form(p) => Ok(form::get(p, name)),
            Self::Json(o) => text(o, name),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names().contains(&name)
    }
}

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    if !req.query.is_empty() {
        return Err(refuse(
            "Kraken reads a private call's parameters from the POST body; a query would travel unsigned",
        ));
    }
    let is_json = req.body.trim_start().starts_with('{');
    let params = if is_json {
        Params::Json(json::object(&req.body)?)
    } else {
        let p = form::parse(&req.body, "body")?;
        form::unique(&[&p])?;
        Params::Form(p)
    };
    let symbol = params.text("pair")?.map(str::to_owned);
    let order = match entry(TABLE, req, class)? {
        None => OrderFacts::no_order(None),
        Some(e) => {
            let what = format!("{} {}", e.method, e.path);
            check_listed(params.names(), e.params, &["nonce", "otp"], &what)?;
            if matches!(e.path, "/0/private/AddOrderBatch" | "/0/private/CancelOrderBatch") && !is_json {
                return Err(refuse(format!("{what} carries arrays: send it as a JSON body")));
            }
            match e.kind {
                Places(Reader::Add) => match order(&params, symbol.clone())? {
                    Ok(leg) => OrderFacts::legs(vec![leg]),
                    Err(why) => OrderFacts::size_unknown(symbol, why),
                },
                Places(Reader::Batch) => batch(&params, symbol)?,
                Places(Reader::Amend) => amend(&params)?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                _ => OrderFacts::no_order(symbol),
            }
        }
    };
    let body = match &params {
        Params::Form(p) => form::encode(p),
        Params::Json(o) => json::print(&Value::Object(o.clone())),
    };
    let request = Request { method: req.method.clone(), path: req.path.clone(), query: String::new(), body };
    Ok(Canonical { request, order, withdrawal: None })
}

/// One `AddOrder` (or batch) order; `Err(why)` when its size is not read.
fn order(p: &Params, pair: Option<String>) -> Result<Result<Leg, &'static str>, Error> {
    if p.has("close") || p.has("close[ordertype]") || p.has("close[price]") || p.has("close[price2]") {
        return Ok(Err("an order with a conditional close order"));
    }
    let kind = p.text("ordertype")?.ok_or_else(|| refuse("an order without ordertype"))?;
    let side = match p.text("type")? {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        Some(other) => return Err(refuse(format!("type {} is not buy or sell", shown(other)))),
        None => return Err(refuse("an order without type (buy or sell)")),
    };
    let (price, price2) = (p.text("price")?, p.text("price2")?);
    let unused = |name: &str| refuse(format!("{name} on a {kind} order: Kraken does not use it there"));
    // `price` is the limit of a limit order, the trigger of a stop or
    // take-profit (which then execute at the market), `price2` the limit of
    // a stop-limit; trailing-stop-limit prices are offsets.
    let price = match kind {
        "market" => match (price, price2) {
            (None, None) => Price::Market,
            (Some(_), _) => return Err(unused("price")),
            (None, Some(_)) => return Err(unused("price2")),
        },
        "limit" | "iceberg" => match (price, price2) {
            (_, Some(_)) => return Err(unused("price2")),
            (Some(px), None) => Price::Limit(px.to_owned()),
            (None, None) => return Err(refuse(format!("a {kind} order without price"))),
        },
        "stop-loss" | "take-profit" | "trailing-stop" => match price2 {
            Some(_) => return Err(unused("price2")),
            None => Price::Market,
        },
        "stop-loss-limit" | "take-profit-limit" => match price2 {
            Some(px) => Price::Limit(px.to_owned()),
            None => return Err(refuse(format!("a {kind} order without price2 (its limit)"))),
        },
        "trailing-stop-limit" => Price::Market,
        "settle-position" => return Ok(Err("a settle-position order (its size is the position's)")),
        other => return Err(refuse(format!("ordertype {} is not one Kraken documents", shown(other)))),
    };
    let volume = p.text("volume")?.ok_or_else(|| refuse("an order without volume"))?;
    // `viqc`: the volume is in the quote currency.
    let in_quote = p.text("oflags")?.is_some_and(|f| f.split(',').any(|x| x == "viqc"));
    let amount = if in_quote { Amount::Quote(volume.to_owned()) } else { Amount::Base(volume.to_owned()) };
    Ok(Ok(Leg { symbol: pair, side: Some(side), amount, price }))
}

fn batch(p: &Params, pair: Option<String>) -> Result<OrderFacts, Error> {
    let Params::Json(o) = p else { return Err(refuse("AddOrderBatch is read as JSON only")) };
    let Some(Value::Array(orders)) = o.get("orders") else {
        return Err(refuse("AddOrderBatch without an orders array"));
    };
    let mut legs = Vec::new();
    for one in orders {
        let Value::Object(m) = one else { return Err(refuse("an AddOrderBatch order that is not an object")) };
        check_listed(m.keys().map(String::as_str), BATCH_ORDER, &[], "an AddOrderBatch order")?;
        match order(&Params::Json(m.clone()), pair.clone())? {
            Ok(leg) => legs.push(leg),
            Err(why) => return Ok(OrderFacts::size_unknown(pair, why)),
        }
    }
    Ok(OrderFacts::legs(legs))
}

fn amend(p: &Params) -> Result<OrderFacts, Error> {
    match (p.text("order_qty")?, p.text("limit_price")?) {
        (Some(q), Some(px)) => Ok(OrderFacts::legs(vec![Leg {
            symbol: None,
            side: None,
            amount: Amount::Base(q.to_owned()),
            price: Price::Limit(px.to_owned()),
        }])),
        _ => Ok(OrderFacts::size_unknown(None, "an amendment that does not give both order_qty and limit_price")),
    }
}

const ADD_ORDER: &[&str] = &[
    "userref",
    "cl_ord_id",
    "ordertype",
    "type",
    "volume",
    "displayvol",
    "pair",
    "asset_class",
    "price",
    "price2",
    "trigger",
    "leverage",
    "reduce_only",
    "stptype",
    "oflags",
    "timeinforce",
    "starttm",
    "expiretm",
    "close[ordertype]",
    "close[price]",
    "close[price2]",
    "close",
    "deadline",
    "validate",
];
const BATCH_ORDER: &[&str] = &[
    "userref",
    "cl_ord_id",
    "ordertype",
    "type",
    "volume",
    "displayvol",
    "price",
    "price2",
    "trigger",
    "leverage",
    "reduce_only",
    "stptype",
    "oflags",
    "timeinforce",
    "starttm",
    "expiretm",
    "close",
];

const fn e(path: &'static str, params: &'static [&'static str], kind: super::Kind<Reader>) -> Endpoint<Reader> {
    Endpoint::new("POST", path, params, kind)
}

/// Every documented trade and withdraw call (all POST).
static TABLE: &[Endpoint<Reader>] = &[
    e("/0/private/AddOrder", ADD_ORDER, Places(Reader::Add)),
    e("/0/private/AddOrderBatch", &["orders", "pair", "asset_class", "deadline", "validate"], Places(Reader::Batch)),
    e(
        "/0/private/AmendOrder",
        &["txid", "cl_ord_id", "order_qty", "display_qty", "limit_price", "trigger_price", "post_only", "deadline"],
        Places(Reader::Amend),
    ),
    // An edit names neither the order's type nor which of its prices is a
    // limit: not read.
    e(
        "/0/private/EditOrder",
        &[
            "userref",
            "txid",
            "volume",
            "displayvol",
            "pair",
            "asset",
            "price",
            "price2",
            "oflags",
            "deadline",
            "cancel_response",
            "validate",
        ],
        Unsized("an edit of an order whose type the request does not name"),
    ),
    e("/0/private/CancelOrder", &["txid", "cl_ord_id"], Cancels),
    e("/0/private/CancelAll", &[], Cancels),
    e("/0/private/CancelAllOrdersAfter", &["timeout"], Cancels),
    e("/0/private/CancelOrderBatch", &["orders", "cl_ord_ids"], Cancels),
    e("/0/private/Withdraw", &["asset", "aclass", "key", "address", "amount", "max_fee"], Moves),
    e("/0/private/WithdrawCancel", &["asset", "refid"], Moves),
    e("/0/private/WalletTransfer", &["asset", "from", "to", "amount"], Moves),
    e("/0/private/AccountTransfer", &["asset", "amount", "from", "to"], Moves),
    e("/0/private/DepositAddresses", &["asset", "aclass", "method", "new", "amount"], Moves),
    e("/0/private/Earn/Allocate", &["amount", "strategy_id"], Moves),
    e("/0/private/Earn/Deallocate", &["amount", "strategy_id"], Moves),
    e("/0/private/Stake", &["asset", "amount", "method"], Moves),
    e("/0/private/Unstake", &["asset", "amount", "method"], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Size;

    fn canon(path: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("kraken", &Request::new("POST", path, "", body))
    }

    #[test]
    fn the_issues_json_attack_is_read_as_json() {
        // The body is JSON (it starts with `{` and is sent as JSON): a key
        // spelling `&pair=…&volume=…` is a member name, not parameters.
        let body = r#"{"x&pair=XBTUSD&volume=0.0001":"1","nonce":1,"ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#;
        assert!(matches!(canon("/0/private/AddOrder", body), Err(Error::Ambiguous(_))));
        let body = r#"{"nonce":1,"ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#;
        let c = canon("/0/private/AddOrder", body).expect("json");
        assert_eq!(c.order.leg().map(|l| (&l.amount, &l.price)), Some((&Amount::Base("0.5".into()), &Price::Market)));
        assert_eq!(c.request.body, body);
    }

    #[test]
    fn forms_json_and_their_refusals() {
        let c = canon("/0/private/AddOrder", "nonce=1&pair=XBTUSD&type=buy&ordertype=limit&price=37500&volume=1.25")
            .expect("form");
        assert_eq!(c.order.symbol.as_deref(), Some("XBTUSD"));
        assert_eq!(c.order.leg().map(|l| &l.price), Some(&Price::Limit("37500".into())));
        let c = canon("/0/private/AddOrder", "pair=XBTUSD&type=buy&ordertype=market&volume=100&oflags=fciq,viqc")
            .expect("viqc");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Quote("100".into())));
        let c = canon(
            "/0/private/AddOrder",
            "pair=XBTUSD&type=sell&ordertype=stop-loss-limit&price=30000&price2=29000&volume=1",
        )
        .expect("stop-limit");
        assert_eq!(c.order.leg().map(|l| &l.price), Some(&Price::Limit("29000".into())));
        for bad in [
            "pair=XBTUSD&type=buy&ordertype=market&volume=1&price=1",
            "pair=XBTUSD&pair=ETHUSD&type=buy&ordertype=market&volume=1",
            "pair=XBTUSD&type=buy&ordertype=market&volume=1&Volume=2",
            "pair=XBTUSD&type=buy&ordertype=market&volume=1&vol=2",
            "pair=XBTUSD&type=buy&ordertype=limit&volume=1&price=1&price2=2",
            r#"{"pair":"XBTUSD","type":"buy","ordertype":"market","volume":"1","volume":"9"}"#,
            r#"{"pair":"XBTUSD","type":"buy","ordertype":"market","volume":0.5}"#,
            r#"{"pair":"XBTUSD","type":"buy","ordertype":"market","volume":["1"]}"#,
        ] {
            assert!(matches!(canon("/0/private/AddOrder", bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        let mut q = Request::new("POST", "/0/private/AddOrder", "pair=XBTUSD", "type=buy");
        assert!(crate::canonicalize("kraken", &q).is_err());
        q.query.clear();
        assert!(crate::canonicalize("kraken", &q).is_err(), "no ordertype");
    }

    #[test]
    fn amend_batch_edit_and_cancels() {
        let c = canon("/0/private/AmendOrder", "txid=OABC&order_qty=2&limit_price=100").expect("amend");
        assert!(c.order.places_order && c.order.symbol.is_none());
        let c = canon("/0/private/AmendOrder", "txid=OABC&order_qty=2").expect("amend qty");
        assert!(matches!(c.order.size, Size::Unknown(_)));
        let c = canon("/0/private/EditOrder", "txid=OABC&pair=XBTUSD&volume=2&price=100").expect("edit");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let batch = r#"{"pair":"XBTUSD","orders":[{"ordertype":"limit","type":"buy","volume":"1","price":"10"},{"ordertype":"market","type":"sell","volume":"2"}]}"#;
        let c = canon("/0/private/AddOrderBatch", batch).expect("batch");
        assert!(matches!(&c.order.size, Size::Legs(l) if l.len() == 2));
        assert!(canon("/0/private/AddOrderBatch", "pair=XBTUSD&orders=x").is_err());
        let c = canon("/0/private/CancelOrder", "txid=OABC").expect("cancel");
        assert!(!c.order.places_order);
        assert!(canon("/0/private/Balance", "asset=XBT&asset=ETH").is_err());
        assert!(canon("/0/private/Balance", "").is_ok());
    }
}
