//! Deribit API v2 over HTTP: a GET's parameters are its query string; a
//! POST's are the `params` object of its JSON-RPC body, whose other members
//! may only be `jsonrpc` (`"2.0"`), `id` and `method` (which must name the
//! path's method: Deribit executes the body's). Any other top-level member
//! is refused (Deribit reads only `params`, so a top-level `amount` would be
//! judged and not executed); so are a GET with a body, a POST with a query,
//! and a `params` that is not an object.
//!
//! `private/buy` and `private/sell`: the path is the side. Only spot pairs
//! (`BASE_QUOTE`, e.g. `BTC_USDC`) are sized, by `amount` in base units:
//! futures, perpetuals and options are sized in USD (inverse), in the base
//! currency (linear) or in contracts whose value is not known here, so they
//! are placements of unknown size on their named instrument (OKX's rule). A
//! spot order by `contracts`, or by both `amount` and `contracts`, is
//! unsized (the two must agree on Deribit; the contract size is not read
//! here). `type` `limit` (the default) needs `price`; `market` refuses one
//! (Deribit ignores it); the trigger, take, trailing and linked (OTO/OCO)
//! kinds are unsized. An amount in a JSON number must be an integer (the
//! strict JSON rule): a fractional amount travels as a string, or in a GET.
//! An edit names the order by id only: a placement of unknown size.
//!
//! Parameter lists: "Trading → private/buy, private/sell, private/edit,
//! private/edit_by_label, private/cancel, private/cancel_all,
//! private/cancel_all_by_currency, private/cancel_all_by_currency_pair,
//! private/cancel_all_by_instrument, private/cancel_all_by_kind_or_type,
//! private/cancel_by_label, private/close_position" of the Deribit API v2
//! reference (docs.deribit.com). Other trade methods (quotes, block trades,
//! MMP) are placements of unknown size and withdraw-class methods carry no
//! facts, as `rest` documents.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::rest::{self, Found};
use super::{Canonical, Endpoint, check_listed, form, json, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// A buy or sell (the path's side).
    Order(Side),
}

const DERIVATIVE: &str = "a Deribit future, perpetual or option: its size (USD, base or contracts) is not read here";
const CONDITIONAL: &str = "a Deribit trigger, take-profit, trailing or linked (OTO/OCO) order";
const CONTRACTS: &str = "a Deribit spot order sized in contracts (their size is not read here)";
const EDIT: &str = "a Deribit edit (it names the order by id only)";

/// The members a JSON-RPC body may hold besides `params`.
const ENVELOPE: &[&str] = &["jsonrpc", "id", "method", "params"];

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let (params, request) = if req.method == "GET" {
        if !req.body.is_empty() {
            return Err(refuse("a Deribit GET carries its parameters in the query, not in a body"));
        }
        let q = form::parse(&req.query, "query")?;
        form::unique(&[&q])?;
        let params: Map<String, Value> = q.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let query = form::encode(&q);
        (params, Request { query, ..req.clone() })
    } else {
        if !req.query.is_empty() {
            return Err(refuse(format!(
                "a Deribit {} carries its parameters in the JSON-RPC body, not the query",
                req.method
            )));
        }
        let (params, body) = if req.body.is_empty() { (Map::new(), String::new()) } else { envelope(req)? };
        (params, Request { body, ..req.clone() })
    };
    let symbol = text(&params, "instrument_name")?;
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            check_listed(params.keys().map(String::as_str), e.params, &[], &format!("{} {}", e.method, e.path))?;
            match e.kind {
                Places(Reader::Order(side)) => rest::legs(&[&params], symbol.clone(), |_, o| order(o, side))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request, order, withdrawal: None })
}

/// A POST body: its `params`, and the body re-printed.
fn envelope(req: &Request) -> Result<(Map<String, Value>, String), Error> {
    let body = json::object(&req.body)?;
    check_listed(
        body.keys().map(String::as_str),
        ENVELOPE,
        &[],
        "a Deribit JSON-RPC body (its parameters go in params)",
    )?;
    match body.get("jsonrpc") {
        None => {}
        Some(Value::String(v)) if v == "2.0" => {}
        Some(_) => return Err(refuse("jsonrpc must be \"2.0\"")),
    }
    match body.get("id") {
        None | Some(Value::Number(_) | Value::String(_)) => {}
        Some(_) => return Err(refuse("a JSON-RPC id must be a number or a string")),
    }
    match body.get("method") {
        None => {}
        Some(Value::String(m)) if req.path.strip_prefix("/api/v2/") == Some(m.as_str()) => {}
        Some(_) => {
            return Err(refuse(format!(
                "the body's JSON-RPC method is not the path's ({}): Deribit would execute the body's",
                shown(&req.path)
            )));
        }
    }
    let params = match body.get("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(refuse("params must be a JSON object")),
    };
    Ok((params, json::print(&Value::Object(body))))
}

/// A parameter as text: a string, or an integer JSON number by its digits; anything
/// else the policy would read is refused.
fn text(p: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    match p.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(_) => Err(refuse(format!("parameter {} must be a string or an integer", shown(name)))),
    }
}

/// Whether an instrument is a spot pair (`BTC_USDC`).
fn spot(name: &str) -> bool {
    let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    name.split_once('_').is_some_and(|(b, q)| ok(b) && ok(q))
}

/// One buy or sell.
fn order(o: &Map<String, Value>, side: Side) -> Result<Result<Leg, &'static str>, Error> {
    let name = text(o, "instrument_name")?.filter(|s| !s.is_empty());
    let name = name.ok_or_else(|| refuse("an order without instrument_name"))?;
    let (amount, contracts, price) = (text(o, "amount")?, text(o, "contracts")?, text(o, "price")?);
    if amount.is_none() && contracts.is_none() {
        return Err(refuse("an order without amount or contracts"));
    }
    let kind = text(o, "type")?;
    let market = match kind.as_deref() {
        None | Some("limit") => Some(false),
        Some("market") => Some(true),
        Some("stop_limit" | "stop_market" | "take_limit" | "take_market" | "market_limit" | "trailing_stop") => None,
        Some(t) => return Err(refuse(format!("type {} is not one Deribit documents", shown(t)))),
    };
    let Some(market) = market else { return Ok(Err(CONDITIONAL)) };
    if market && price.is_some() {
        return Err(refuse(
            "a price on a market order, which executes at the market: Deribit ignores it, so the policy will not \
             value the order at it",
        ));
    }
    if !market && price.is_none() {
        return Err(refuse("a limit order without price"));
    }
    let linked = ["trigger", "trigger_price", "trigger_offset", "linked_order_type", "otoco_config"];
    if linked.iter().any(|k| o.contains_key(*k)) {
        return Ok(Err(CONDITIONAL));
    }
    if !spot(&name) {
        return Ok(Err(DERIVATIVE));
    }
    let (Some(amount), None) = (amount, contracts) else { return Ok(Err(CONTRACTS)) };
    let price = match price {
        Some(p) if !market => Price::Limit(p),
        _ => Price::Market,
    };
    Ok(Ok(Leg { symbol: Some(name), side: Some(side), amount: Amount::Base(amount), price }))
}

const ORDER: &[&str] = &[
    "instrument_name",
    "amount",
    "contracts",
    "type",
    "label",
    "price",
    "time_in_force",
    "max_show",
    "post_only",
    "reject_post_only",
    "reduce_only",
    "trigger_price",
    "trigger_offset",
    "trigger",
    "advanced",
    "mmp",
    "valid_until",
    "linked_order_type",
    "trigger_fill_condition",
    "otoco_config",
];
const EDIT_PARAMS: &[&str] = &[
    "order_id",
    "amount",
    "contracts",
    "price",
    "post_only",
    "reduce_only",
    "reject_post_only",
    "advanced",
    "trigger_price",
    "trigger_offset",
    "mmp",
    "valid_until",
];
const EDIT_BY_LABEL: &[&str] = &[
    "label",
    "instrument_name",
    "amount",
    "contracts",
    "price",
    "post_only",
    "reduce_only",
    "reject_post_only",
    "advanced",
    "trigger_price",
    "mmp",
    "valid_until",
];
const BY_KIND: &[&str] = &["currency", "kind", "type", "detailed", "freeze_quotes"];

use Endpoint as E;

/// The documented methods read here, each by GET or POST (other trade methods: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("GET", "/api/v2/private/buy", ORDER, Places(Reader::Order(Side::Buy))),
    E::new("POST", "/api/v2/private/buy", ORDER, Places(Reader::Order(Side::Buy))),
    E::new("GET", "/api/v2/private/sell", ORDER, Places(Reader::Order(Side::Sell))),
    E::new("POST", "/api/v2/private/sell", ORDER, Places(Reader::Order(Side::Sell))),
    E::new("GET", "/api/v2/private/edit", EDIT_PARAMS, Unsized(EDIT)),
    E::new("POST", "/api/v2/private/edit", EDIT_PARAMS, Unsized(EDIT)),
    E::new("GET", "/api/v2/private/edit_by_label", EDIT_BY_LABEL, Unsized(EDIT)),
    E::new("POST", "/api/v2/private/edit_by_label", EDIT_BY_LABEL, Unsized(EDIT)),
    E::new("GET", "/api/v2/private/cancel", &["order_id"], Cancels),
    E::new("POST", "/api/v2/private/cancel", &["order_id"], Cancels),
    E::new("GET", "/api/v2/private/cancel_all", &["detailed", "freeze_quotes"], Cancels),
    E::new("POST", "/api/v2/private/cancel_all", &["detailed", "freeze_quotes"], Cancels),
    E::new("GET", "/api/v2/private/cancel_all_by_currency", BY_KIND, Cancels),
    E::new("POST", "/api/v2/private/cancel_all_by_currency", BY_KIND, Cancels),
    E::new(
        "GET",
        "/api/v2/private/cancel_all_by_currency_pair",
        &["currency_pair", "kind", "type", "detailed", "freeze_quotes"],
        Cancels,
    ),
    E::new(
        "POST",
        "/api/v2/private/cancel_all_by_currency_pair",
        &["currency_pair", "kind", "type", "detailed", "freeze_quotes"],
        Cancels,
    ),
    E::new(
        "GET",
        "/api/v2/private/cancel_all_by_instrument",
        &["instrument_name", "type", "detailed", "include_combos", "freeze_quotes"],
        Cancels,
    ),
    E::new(
        "POST",
        "/api/v2/private/cancel_all_by_instrument",
        &["instrument_name", "type", "detailed", "include_combos", "freeze_quotes"],
        Cancels,
    ),
    E::new("GET", "/api/v2/private/cancel_all_by_kind_or_type", BY_KIND, Cancels),
    E::new("POST", "/api/v2/private/cancel_all_by_kind_or_type", BY_KIND, Cancels),
    E::new("GET", "/api/v2/private/cancel_by_label", &["label", "currency"], Cancels),
    E::new("POST", "/api/v2/private/cancel_by_label", &["label", "currency"], Cancels),
    E::new(
        "GET",
        "/api/v2/private/close_position",
        &["instrument_name", "type", "price"],
        Unsized("closes a position (its size is the position's)"),
    ),
    E::new(
        "POST",
        "/api/v2/private/close_position",
        &["instrument_name", "type", "price"],
        Unsized("closes a position (its size is the position's)"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("deribit", &Request::new(method, path, query, body))
    }

    /// ccxt's and the Deribit venue's requests (GETs with the query) keep their bytes; a
    /// perpetual is judged on its instrument, at unknown size.
    #[test]
    fn perpetuals_are_named_and_unsized() {
        let q = "instrument_name=BTC-PERPETUAL&amount=100&type=limit&price=40000&label=sg-1";
        let c = canon("GET", "/api/v2/private/buy", q, "").expect("ccxt");
        assert_eq!(c.request.query, q);
        assert_eq!(c.order.symbol.as_deref(), Some("BTC-PERPETUAL"));
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let c = canon("GET", "/api/v2/private/cancel", "order_id=ETH-123", "").expect("cancel");
        assert!(c.order.cancels_only);
        let c = canon("GET", "/api/v2/private/get_user_trades_by_currency", "currency=BTC&count=1000", "");
        assert!(c.is_ok_and(|c| !c.order.places_order));
        let rpc = r#"{"id":1,"jsonrpc":"2.0","method":"private/sell","params":{"amount":10,"instrument_name":"BTC-PERPETUAL","type":"market"}}"#;
        let c = canon("POST", "/api/v2/private/sell", "", rpc).expect("rpc");
        assert_eq!(c.request.body, rpc);
        assert!(matches!(c.order.size, Size::Unknown(_)));
    }

    #[test]
    fn spot_orders_are_sized_in_base() {
        let c = canon("GET", "/api/v2/private/sell", "instrument_name=BTC_USDC&amount=0.5&price=40000", "")
            .expect("spot limit");
        let l = c.order.leg().expect("leg");
        assert_eq!(
            (l.symbol.as_deref(), l.side, &l.amount, &l.price),
            (Some("BTC_USDC"), Some(Side::Sell), &Amount::Base("0.5".into()), &Price::Limit("40000".into()))
        );
        let c = canon(
            "POST",
            "/api/v2/private/buy",
            "",
            r#"{"params":{"instrument_name":"ETH_USDC","amount":"2","type":"market"}}"#,
        )
        .expect("spot market");
        assert_eq!(c.order.leg().map(|l| (&l.amount, &l.price)), Some((&Amount::Base("2".into()), &Price::Market)));
        for open in [
            "instrument_name=BTC_USDC&contracts=5&price=1",
            "instrument_name=BTC_USDC&amount=1&type=stop_limit&price=1&trigger_price=2&trigger=last_price",
            "instrument_name=BTC_USDC&amount=1&price=1&otoco_config=x",
        ] {
            let c = canon("GET", "/api/v2/private/buy", open, "").expect(open);
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{open}");
        }
    }

    /// Deribit reads params (and executes the body's method): nothing outside them counts.
    #[test]
    fn ambiguities_are_refused() {
        let buy = |q: &str, b: &str| canon(if b.is_empty() { "GET" } else { "POST" }, "/api/v2/private/buy", q, b);
        for (q, b) in [
            ("instrument_name=BTC_USDC&amount=1&type=market&price=1", ""),
            ("instrument_name=BTC_USDC&amount=1", ""),
            ("instrument_name=BTC_USDC&amount=1&price=1&amount=100", ""),
            ("instrument_name=BTC_USDC&amount=1&price=1&side=sell", ""),
            ("instrument_name=BTC_USDC&amount=1&price=1&type=Limit", ""),
            ("amount=100", r#"{"params":{"instrument_name":"BTC_USDC","amount":"1","type":"market"}}"#),
            (
                "",
                r#"{"instrument_name":"BTC_USDC","amount":"100","type":"market","params":{"instrument_name":"BTC_USDC","amount":"1","type":"market"}}"#,
            ),
            ("", r#"{"method":"private/sell","params":{"instrument_name":"BTC_USDC","amount":"1","type":"market"}}"#),
            ("", r#"{"params":{"instrument_name":"BTC_USDC","amount":0.5,"type":"market"}}"#),
            ("", r#"{"params":{"instrument_name":"BTC_USDC","amount":"1","Amount":"9","type":"market"}}"#),
            ("", r#"{"params":[{"instrument_name":"BTC_USDC","amount":"1","type":"market"}]}"#),
            ("", r#"{"jsonrpc":"1.0","params":{"instrument_name":"BTC_USDC","amount":"1","type":"market"}}"#),
        ] {
            assert!(matches!(buy(q, b), Err(Error::Ambiguous(_))), "{q} {b}");
        }
        assert!(canon("GET", "/api/v2/private/buy", "instrument_name=BTC_USDC&amount=1&type=market", "{}").is_err());
        // The body's method is what Deribit executes: a withdraw POSTed to the buy path.
        for bad in [
            r#"{"jsonrpc":"2.0","id":1,"method":"private/withdraw","params":{"currency":"BTC","amount":1}}"#,
            r#"{"method":"private/buy/"}"#,
            r#"{"method":1}"#,
            r#"[{"method":"private/buy"}]"#,
            r#"{"method":"private/buy","method":"private/withdraw"}"#,
        ] {
            assert!(matches!(buy("", bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        let c = canon("GET", "/api/v2/private/edit", "order_id=1&amount=5&price=2", "").expect("edit");
        assert!(c.order.places_order && !c.order.cancels_only && matches!(c.order.size, Size::Unknown(_)));
        let c = canon("GET", "/api/v2/private/mass_quote", "quotes=x", "").expect("unlisted");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
    }
}
