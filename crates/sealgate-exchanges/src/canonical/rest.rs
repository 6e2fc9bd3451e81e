//! What the REST readers (OKX, Bybit, Bitget, KuCoin, Gate, Poloniex, Bitfinex,
//! Gemini, Coinbase Exchange; Bitstamp's form reader uses the table lookup) share: where a
//! request's parameters are (the query for a GET or DELETE, a JSON body
//! otherwise), the strict parse of both, the bytes re-produced from the
//! parse, and the facts of a trade or withdraw call that has no entry in an
//! exchange's table.
//!
//! OKX looks its calls up itself and refuses one without an entry; for the
//! others a call without an entry is not refused (these exchanges have many more
//! trade endpoints — futures, margin, conversions, lending — than the spot
//! calls whose parameter lists are transcribed here): a trade-class one is a
//! placement of unknown size, as every request of these exchanges was before
//! they had a reader, so the policy refuses it wherever a symbol allow-list
//! or a notional cap is set; a withdraw-class one carries no facts. Its
//! query and body are still read strictly (one spelling, no duplicate, no
//! fractional JSON number).

use serde_json::{Map, Value};

use super::{Endpoint, check_listed, find, form, json, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// A parsed JSON body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// One object.
    One(Map<String, Value>),
    /// An array of objects.
    Many(Vec<Map<String, Value>>),
}

/// A request's parameters, parsed.
pub(crate) struct Parts {
    /// The query's pairs.
    pub query: form::Pairs,
    /// The body.
    pub body: Body,
}

/// Where a method's parameters are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The query only: a body is refused.
    Query,
    /// The JSON body only: a query is refused.
    Body,
    /// Both, no name in both (Gate: a POST without an entry, an amend).
    Both,
}

/// Parse `req`'s query and body, which must be where `place` says.
pub(crate) fn parse(req: &Request, place: Place) -> Result<Parts, Error> {
    if place == Place::Query && !req.body.is_empty() {
        return Err(refuse(format!("a {} carries its parameters in the query, not in a body", req.method)));
    }
    if place == Place::Body && !req.query.is_empty() {
        return Err(refuse(format!("a {} carries its parameters in the JSON body, not in the query", req.method)));
    }
    let query = form::parse(&req.query, "query")?;
    form::unique(&[&query])?;
    let body = if req.body.is_empty() {
        Body::Empty
    } else {
        match json::parse(&req.body, json::Numbers::Integers)? {
            Value::Object(o) => Body::One(o),
            Value::Array(a) => Body::Many(
                a.into_iter()
                    .map(|v| match v {
                        Value::Object(o) => Ok(o),
                        _ => Err(refuse("a JSON array whose elements are not objects")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(refuse("the JSON body must be an object or an array of objects")),
        }
    };
    if let Body::One(o) = &body {
        // A name in the query and again in the body: which one counts?
        for (n, _) in &query {
            if o.keys().any(|k| k.eq_ignore_ascii_case(n)) {
                return Err(refuse(format!("parameter {} is in both the query and the body", shown(n))));
            }
        }
    }
    Ok(Parts { query, body })
}

/// The request re-produced from its parse (query as parsed, in its order;
/// JSON compact with members sorted).
pub(crate) fn print(req: &Request, parts: Parts) -> Request {
    let body = match parts.body {
        Body::Empty => String::new(),
        Body::One(o) => json::print(&Value::Object(o)),
        Body::Many(v) => json::print(&Value::Array(v.into_iter().map(Value::Object).collect())),
    };
    Request { method: req.method.clone(), path: req.path.clone(), query: form::encode(&parts.query), body }
}

/// A listed call's order objects: the array's for a batch call (`batch`), else the one
/// object. Each shape is refused for the other, and an empty body reads as one empty object,
/// so a placement without a body is refused for what it lacks rather than read as no order.
pub(crate) fn items<'b>(body: &'b Body, batch: bool, what: &str) -> Result<Vec<&'b Map<String, Value>>, Error> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    match (body, batch) {
        (Body::Many(v), true) => Ok(v.iter().collect()),
        (Body::Many(_), false) => Err(refuse(format!("{what} takes one JSON object, not an array"))),
        (Body::One(_), true) => Err(refuse(format!("{what} takes a JSON array of objects"))),
        (Body::One(o), false) => Ok(vec![o]),
        (Body::Empty, _) => Ok(vec![&*EMPTY]),
    }
}

/// What the table says of a request.
pub(crate) enum Found<'t, R: 'static> {
    /// Not a trade or withdraw call: no facts.
    NotJudged,
    /// Its entry.
    Listed(&'t Endpoint<R>),
    /// A trade or withdraw call without an entry (see the module docs).
    Unlisted(EndpointClass),
}

/// The entry of a trade- or withdraw-class request.
pub(crate) fn lookup<'t, R>(table: &'t [Endpoint<R>], req: &Request, class: EndpointClass) -> Found<'t, R> {
    if !matches!(class, EndpointClass::Trade | EndpointClass::Withdraw) {
        return Found::NotJudged;
    }
    find(table, &req.method, &req.path).map_or(Found::Unlisted(class), Found::Listed)
}

/// The reason of a trade call without an entry.
pub(crate) const UNLISTED: &str = "a trade call this reader has no parameter list for (derivatives, margin, conversions, lending): its size is \
     not read";

/// The facts of a call without an entry.
pub(crate) fn unlisted(class: EndpointClass) -> OrderFacts {
    if class == EndpointClass::Trade { OrderFacts::size_unknown(None, UNLISTED) } else { OrderFacts::no_order(None) }
}

/// The side spelled `buy` or `sell` exactly as the exchange spells them.
pub(crate) fn side(o: &Map<String, Value>, name: &str, buy: &str, sell: &str) -> Result<Side, Error> {
    match json::text(o, name)? {
        Some(s) if s == buy => Ok(Side::Buy),
        Some(s) if s == sell => Ok(Side::Sell),
        Some(s) => Err(refuse(format!("{name} {} is not {buy} or {sell}", shown(s)))),
        None => Err(refuse(format!("an order without {name}"))),
    }
}

/// The one symbol every entry names, if they agree.
pub(crate) fn one_symbol(symbols: &[Option<&str>]) -> Option<String> {
    let first = symbols.first().copied().flatten()?;
    symbols.iter().all(|s| *s == Some(first)).then(|| first.to_owned())
}

/// Member `name` of `o`, which must be an array of objects.
pub(crate) fn objects<'a>(o: &'a Map<String, Value>, name: &str) -> Result<Vec<&'a Map<String, Value>>, Error> {
    match o.get(name) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_object().ok_or_else(|| refuse(format!("{name} holds something else than objects"))))
            .collect(),
        Some(_) => Err(refuse(format!("member {} must be an array of objects", shown(name)))),
        None => Err(refuse(format!("the body has no {}", shown(name)))),
    }
}

/// The legs of orders (or amendments); why_not as soon as one is.
pub(crate) fn legs(
    items: &[&Map<String, Value>],
    symbol: Option<String>,
    mut read: impl FnMut(usize, &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error>,
) -> Result<OrderFacts, Error> {
    let mut out = Vec::new();
    let mut why_not = None;
    for (i, o) in items.iter().enumerate() {
        // Every item is read (and refused if ambiguous), even after one is why_not.
        match read(i, o)? {
            Ok(l) => out.push(l),
            Err(why) => why_not = why_not.or(Some(why)),
        }
    }
    Ok(match why_not {
        Some(why) => OrderFacts::size_unknown(symbol, why),
        None => OrderFacts::legs(out),
    })
}

/// A listed call's order objects, and each one's symbol.
pub(crate) type Orders<'a> = (Vec<&'a Map<String, Value>>, Vec<Option<&'a str>>);

/// The orders of a listed call (Bitget, KuCoin): the body's object, or, where `batches`
/// names the path, the objects of its `orderList` (each checked against the item list
/// given there), with each order's symbol. The query's and the body's names must be in
/// `params`. An item naming another symbol than its batch is refused (`why` says what the
/// exchange would make of it); a GET's symbol is its query's.
pub(crate) fn orders<'a, R>(
    parts: &'a Parts,
    top: &'a Map<String, Value>,
    e: &Endpoint<R>,
    batches: &[(&str, &[&str])],
    place: Place,
    why: &str,
) -> Result<Orders<'a>, Error> {
    let what = format!("{} {}", e.method, e.path);
    check_listed(parts.query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
    check_listed(top.keys().map(String::as_str), e.params, &[], &what)?;
    let batch_symbol = json::text(top, "symbol")?;
    let items = match batches.iter().find(|(p, _)| *p == e.path) {
        Some((_, listed)) => {
            let items = objects(top, "orderList")?;
            for i in &items {
                check_listed(i.keys().map(String::as_str), listed, &[], &format!("{what} (orderList[])"))?;
            }
            items
        }
        None => vec![top],
    };
    let mut symbols = Vec::new();
    for i in &items {
        symbols.push(match (json::text(i, "symbol")?, batch_symbol) {
            (Some(a), Some(b)) if a != b => {
                return Err(refuse(format!("an order of symbol {} in a batch of symbol {}{why}", shown(a), shown(b))));
            }
            (Some(s), _) | (None, Some(s)) => Some(s),
            (None, None) => None,
        });
    }
    if place == Place::Query {
        symbols = vec![form::get(&parts.query, "symbol")];
    }
    Ok((items, symbols))
}

/// An amendment's leg: the new size `size` (base units) at the new limit price `price`,
/// members as the exchange names them; its side is not restated. One that does not give
/// both is unsized (`why`): the size or price it keeps is not known here.
pub(crate) fn amended(
    o: &Map<String, Value>,
    symbol: &str,
    size: &str,
    price: &str,
    why: &'static str,
) -> Result<Result<Leg, &'static str>, Error> {
    Ok(match (json::text(o, size)?, json::text(o, price)?) {
        (Some(sz), Some(px)) => Ok(Leg {
            symbol: Some(symbol.to_owned()),
            side: None,
            amount: Amount::Base(sz.to_owned()),
            price: Price::Limit(px.to_owned()),
        }),
        _ => Err(why),
    })
}
