//! Gemini REST v1: every private call is a POST whose parameters are the
//! JSON payload (here the request body; the signer sends it base64-encoded
//! in `X-GEMINI-PAYLOAD`); a query is refused (it would travel unsigned).
//! The payload's `request` member, when present, must be the path (Gemini
//! executes the payload's, and the policy judged the path's); its `nonce`
//! an unsigned integer or a string of digits; `account` (a master key's
//! sub-account) may name any call. These three are allowed on every listed
//! call besides its own members.
//!
//! Gemini has no market order: `POST /v1/order/new` with `type`
//! `exchange limit` is `amount` (base units) at `price`, whatever its
//! `options` (maker-or-cancel, immediate-or-cancel, fill-or-kill,
//! auction-only, indication-of-interest); `margin_order` does not change
//! that. `exchange stop limit` (or a `stop_price`) is unsized (it rests
//! until triggered, then is a limit order), and so is an order on a
//! perpetual (`…perp`: its contract size is not known here, OKX's rule).
//! `side` is `buy` or `sell` exactly. The `symbol` must be lower case: Gemini
//! reads `BTCUSD` and `btcusd` as one market, which the policy's symbol
//! lists and ticker would not.
//!
//! Parameter lists: "Orders → Create New Order / Cancel Order / Cancel All
//! Active Orders / Cancel All Session Orders" of the Gemini REST docs
//! (docs.gemini.com/rest/orders), including the newer `margin_order`. Other
//! trade calls (wrap, clearing) are placements of unknown size, and
//! withdraw calls carry no facts, as `rest` documents.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::json::text;
use super::rest::{self, Body, Found, Place};
use super::{Canonical, Endpoint, check_listed, refuse, shown};
use crate::facts::{Amount, Leg, Price};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// One order (the payload).
    Order,
}

/// Members every payload may hold.
const ALWAYS: &[&str] = &["request", "nonce", "account"];
const STOP: &str = "a Gemini stop-limit order (it rests until triggered)";
const PERPETUAL: &str = "a Gemini perpetual (…perp): its contract size is not known here";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let parts = rest::parse(req, Place::Body)?;
    let empty = Map::new();
    let payload = match &parts.body {
        Body::One(o) => o,
        Body::Empty => &empty,
        Body::Many(_) => return Err(refuse("a Gemini payload is one JSON object")),
    };
    match payload.get("request") {
        None => {}
        Some(Value::String(p)) if *p == req.path => {}
        Some(_) => {
            return Err(refuse(format!(
                "the payload's request member is not the path ({}): Gemini would execute the payload's",
                shown(&req.path)
            )));
        }
    }
    match payload.get("nonce") {
        None => {}
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {}
        Some(_) => return Err(refuse("the payload's nonce must be an unsigned integer")),
    }
    let order = match rest::lookup(TABLE, req, class) {
        Found::NotJudged => OrderFacts::no_order(None),
        Found::Unlisted(class) => rest::unlisted(class),
        Found::Listed(e) => {
            check_listed(payload.keys().map(String::as_str), e.params, ALWAYS, &format!("{} {}", e.method, e.path))?;
            let symbol = text(payload, "symbol")?.map(str::to_owned);
            match e.kind {
                Places(Reader::Order) => rest::legs(&[payload], symbol, |_, o| order(o))?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    Ok(Canonical { request: rest::print(req, parts), order, withdrawal: None })
}

/// One order payload.
fn order(o: &Map<String, Value>) -> Result<Result<Leg, &'static str>, Error> {
    let symbol = text(o, "symbol")?.filter(|s| !s.is_empty()).ok_or_else(|| refuse("an order without symbol"))?;
    if !symbol.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(refuse(format!(
            "symbol {} is not lower case letters and digits: Gemini reads every case as one market",
            shown(symbol)
        )));
    }
    let side = rest::side(o, "side", "buy", "sell")?;
    let amount = text(o, "amount")?.ok_or_else(|| refuse("an order without amount"))?;
    let price = text(o, "price")?.ok_or_else(|| refuse("an order without price (Gemini orders are limit orders)"))?;
    match o.get("options") {
        None => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err(refuse("options must be an array of strings")),
    }
    let stop = match text(o, "type")? {
        Some("exchange limit") => false,
        Some("exchange stop limit") => true,
        Some(t) => return Err(refuse(format!("type {} is not exchange limit or exchange stop limit", shown(t)))),
        None => return Err(refuse("an order without type")),
    };
    if !stop && o.contains_key("stop_price") {
        return Err(refuse("a stop_price on an exchange limit order: it belongs to exchange stop limit orders"));
    }
    if stop {
        return Ok(Err(STOP));
    }
    if symbol.ends_with("perp") {
        return Ok(Err(PERPETUAL));
    }
    Ok(Ok(Leg {
        symbol: Some(symbol.to_owned()),
        side: Some(side),
        amount: Amount::Base(amount.to_owned()),
        price: Price::Limit(price.to_owned()),
    }))
}

use Endpoint as E;

/// The documented calls read here (other trade calls: see `rest`).
static TABLE: &[Endpoint<Reader>] = &[
    E::new(
        "POST",
        "/v1/order/new",
        &["client_order_id", "symbol", "amount", "price", "side", "type", "options", "stop_price", "margin_order"],
        Places(Reader::Order),
    ),
    E::new("POST", "/v1/order/cancel", &["order_id"], Cancels),
    E::new("POST", "/v1/order/cancel/all", &[], Cancels),
    E::new("POST", "/v1/order/cancel/session", &[], Cancels),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Side, Size};

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("gemini", &Request::new("POST", path, "", body))
    }

    fn new(body: &str) -> Result<Canonical, Error> {
        post("/v1/order/new", body)
    }

    /// What `sealgate-venues` sends (`gemini::place_request`, `cancel_request`,
    /// `status_request`) and what the ccxt adapter forwards (ccxt's payload with its
    /// `request`, less the nonce), byte for byte: members sorted.
    #[test]
    fn our_traders_and_ccxts_payloads_are_their_own_canonical_form() {
        let limit = r#"{"amount":"0.01","client_order_id":"sg-1","price":"40000","side":"buy","symbol":"btcusd","type":"exchange limit"}"#;
        let c = new(limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/v1/order/new", "", limit));
        let l = c.order.leg().expect("leg");
        assert_eq!(
            (l.symbol.as_deref(), l.side, &l.amount, &l.price),
            (Some("btcusd"), Some(Side::Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into()))
        );
        let ccxt = r#"{"amount":"0.01","client_order_id":"1700000000000","options":["maker-or-cancel"],"price":"40000","request":"/v1/order/new","side":"sell","symbol":"btcusd","type":"exchange limit"}"#;
        let c = new(ccxt).expect("ccxt");
        assert_eq!(c.request.body, ccxt);
        assert_eq!(c.order.leg().and_then(|l| l.side), Some(Side::Sell));
        let cancel = r#"{"order_id":123}"#;
        let c = post("/v1/order/cancel", cancel).expect("cancel");
        assert_eq!(c.request.body, cancel);
        assert!(c.order.cancels_only);
        assert!(post("/v1/order/status", r#"{"client_order_id":"sg-1"}"#).is_ok());
        assert!(post("/v1/mytrades", r#"{"limit_trades":500,"symbol":"btcusd","timestamp":1700000000}"#).is_ok());
        assert_eq!(post("/v1/balances", "").map(|c| c.request.body), Ok(String::new()));
    }

    /// The payload's `request` is what Gemini executes.
    #[test]
    fn the_payload_names_the_path() {
        let order = r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit""#;
        assert!(new(&format!(r#"{order},"request":"/v1/order/new","nonce":5}}"#)).is_ok());
        for bad in [
            r#"{"request":"/v1/withdraw/btc","address":"x","amount":"1"}"#,
            r#"{"request":"/v1/order/cancel","order_id":1}"#,
            r#"{"request":"/v1/order/new/"}"#,
            r#"{"request":1}"#,
            r#"{"request":"/v1/order/new","Request":"/v1/withdraw/btc"}"#,
        ] {
            assert!(matches!(new(bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        assert!(post("/v1/balances", r#"{"request":"/v1/withdraw/btc"}"#).is_err(), "reads too");
        for nonce in [r#""12a""#, "-1", r#""""#, "null"] {
            assert!(new(&format!(r#"{order},"nonce":{nonce}}}"#)).is_err(), "{nonce}");
        }
        let r = Request::new("POST", "/v1/order/new", "amount=100", &format!("{order}}}"));
        assert!(crate::canonicalize("gemini", &r).is_err(), "a query travels unsigned");
    }

    #[test]
    fn orders_read_as_gemini_reads_them() {
        for bad in [
            r#"{"symbol":"btcusd","amount":"1","side":"buy","type":"exchange limit"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"BUY","type":"exchange limit"}"#,
            r#"{"symbol":"BTCUSD","amount":"1","price":"1","side":"buy","type":"exchange limit"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"market"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"Exchange Limit"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit","stop_price":"2"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit","amount":"9"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit","Amount":"9"}"#,
            r#"{"symbol":"btcusd","amount":0.5,"price":"1","side":"buy","type":"exchange limit"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit","options":"fill-or-kill"}"#,
            r#"{"symbol":"btcusd","amount":"1","price":"1","side":"buy","type":"exchange limit","currency":"usd"}"#,
        ] {
            assert!(matches!(new(bad), Err(Error::Ambiguous(_))), "{bad}");
        }
        for open in [
            r#"{"symbol":"btcusd","amount":"1","price":"1","stop_price":"2","side":"buy","type":"exchange stop limit"}"#,
            r#"{"symbol":"btcgusdperp","amount":"1","price":"1","side":"buy","type":"exchange limit"}"#,
        ] {
            let c = new(open).expect(open);
            assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)), "{open}");
        }
        let c = new(r#"{"symbol":"ethusd","amount":"2","price":"3","side":"sell","type":"exchange limit","margin_order":true,"account":"primary"}"#)
            .expect("margin");
        assert_eq!(c.order.leg().map(|l| &l.amount), Some(&Amount::Base("2".into())));
        let c = post("/v1/wrap/GUSDUSD", r#"{"amount":"1","side":"buy"}"#).expect("wrap");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        assert!(post("/v1/order/cancel/all", r#"{"account":"primary"}"#).is_ok_and(|c| c.order.cancels_only));
        assert!(post("/v1/order/cancel", r#"{"order_id":1,"symbol":"btcusd","amount":"5"}"#).is_err());
    }
}
