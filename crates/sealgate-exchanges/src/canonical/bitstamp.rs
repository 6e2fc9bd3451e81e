//! Bitstamp HTTP API v2: every private call is a POST whose parameters are
//! its form body (`application/x-www-form-urlencoded`, in the one spelling
//! of `form`); a query is refused (whether Bitstamp would merge it with the
//! body is not documented), and so is a body in any other format.
//!
//! The path, not the body, says what an order is: its side (`buy`/`sell`),
//! its kind (limit: `/buy/{pair}/`; market: `/buy/market/{pair}/`; instant:
//! `/buy/instant/{pair}/`) and its market (`{pair}`, lower case letters and
//! digits; `market`, `instant` and `all` are no pair: `/buy/market/` without
//! a pair would otherwise read as a limit order on pair `market`). No body
//! member can restate any of them (none is listed). Sizes:
//! - a limit order is `amount` (base) at `price`; one with `limit_price`
//!   (a sell placed when it fills) or `moc_order` is unsized;
//! - a market order is `amount` in base units, at the market;
//! - an instant buy's `amount` is in the counter (quote) currency; an
//!   instant sell's is in base units unless `amount_in_counter` is `True`
//!   (quote); any other value of it is refused.
//!
//! A replace (`/replace_order/`) keeps the old order's pair and side: a leg
//! of `amount` at `price` when it gives both, else unsized.
//!
//! Parameter lists: "Orders → Buy limit order / Buy market order / Buy
//! instant order / Sell limit order / Sell market order / Sell instant
//! order / Cancel order / Cancel all orders / Cancel all orders for market /
//! Replace order" of the Bitstamp API docs (bitstamp.net/api). Not confirmed
//! against the live pages: `client_order_id` on Cancel order and the
//! replace's `orig_client_order_id`. Other trade calls are placements of
//! unknown size, and withdraw calls carry no facts, as `rest` documents.

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::{Canonical, Endpoint, check_listed, form, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// What an order path places.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// `amount` at `price`.
    Limit(Side),
    /// `amount` (base) at the market.
    Market(Side),
    /// An instant order (a buy's `amount` is quote).
    Instant(Side),
    /// A replace: `amount` at `price`, pair and side kept.
    Replace,
}

const LIMIT_PRICE: &str = "a Bitstamp limit order with limit_price or moc_order (a second order, or a close)";
const REPLACE: &str = "a Bitstamp replace that does not give both amount and price (it keeps what it omits)";

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    if !req.query.is_empty() {
        return Err(refuse("Bitstamp's private calls carry their parameters in the form body, not the query"));
    }
    let body = form::parse(&req.body, "body")?;
    form::unique(&[&body])?;
    let order = match super::rest::lookup(TABLE, req, class) {
        super::rest::Found::NotJudged => OrderFacts::no_order(None),
        super::rest::Found::Unlisted(class) => super::rest::unlisted(class),
        super::rest::Found::Listed(e) => {
            check_listed(body.iter().map(|(n, _)| n.as_str()), e.params, &[], &format!("{} {}", e.method, e.path))?;
            let pair = pair(&req.path)?;
            match e.kind {
                Places(r) => order(r, &body, pair)?,
                Unsized(why) => OrderFacts::size_unknown(pair, why),
                Cancels => OrderFacts::cancel(pair),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(pair),
            }
        }
    };
    let request =
        Request { method: req.method.clone(), path: req.path.clone(), query: String::new(), body: form::encode(&body) };
    Ok(Canonical { request, order, withdrawal: None })
}

/// The pair a listed path names (its last segment when it is not a fixed word).
fn pair(path: &str) -> Result<Option<String>, Error> {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let fixed = ["buy", "sell", "cancel_order", "cancel_all_orders", "replace_order"];
    if fixed.contains(&last) {
        return Ok(None);
    }
    if ["market", "instant", "all"].contains(&last)
        || last.is_empty()
        || !last.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(refuse(format!(
            "{} is not a Bitstamp market (btcusd: lower case letters and digits)",
            shown(last)
        )));
    }
    Ok(Some(last.to_owned()))
}

fn order(r: Reader, body: &form::Pairs, pair: Option<String>) -> Result<OrderFacts, Error> {
    let get = |n: &str| form::get(body, n);
    let amount = get("amount").ok_or_else(|| refuse("an order without amount"));
    let leg = |side, amount, price| OrderFacts::legs(vec![Leg { symbol: pair.clone(), side, amount, price }]);
    Ok(match r {
        Reader::Limit(side) => {
            let (amount, price) = (amount?, get("price").ok_or_else(|| refuse("a limit order without price"))?);
            if get("limit_price").is_some() || get("moc_order").is_some() {
                return Ok(OrderFacts::size_unknown(pair, LIMIT_PRICE));
            }
            leg(Some(side), Amount::Base(amount.to_owned()), Price::Limit(price.to_owned()))
        }
        Reader::Market(side) => leg(Some(side), Amount::Base(amount?.to_owned()), Price::Market),
        Reader::Instant(side) => {
            let quote = match (side, get("amount_in_counter")) {
                (Side::Buy, _) => true,
                (Side::Sell, None) => false,
                (Side::Sell, Some("True")) => true,
                (Side::Sell, Some(v)) => {
                    return Err(refuse(format!(
                        "amount_in_counter {} is not True (the one documented value)",
                        shown(v)
                    )));
                }
            };
            let a = amount?.to_owned();
            leg(Some(side), if quote { Amount::Quote(a) } else { Amount::Base(a) }, Price::Market)
        }
        Reader::Replace => match (get("amount"), get("price")) {
            (Some(a), Some(p)) => leg(None, Amount::Base(a.to_owned()), Price::Limit(p.to_owned())),
            _ => OrderFacts::size_unknown(None, REPLACE),
        },
    })
}

const LIMIT: &[&str] = &[
    "amount",
    "price",
    "limit_price",
    "daily_order",
    "ioc_order",
    "fok_order",
    "moc_order",
    "gtd_order",
    "expire_time",
    "client_order_id",
];

use Endpoint as E;
use Side::{Buy, Sell};

/// The documented calls read here (other trade calls: see `rest`). The market and
/// instant rows come before the limit rows (whose `{}` would not match them anyway:
/// one segment more).
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v2/buy/market/{}/", &["amount", "client_order_id"], Places(Reader::Market(Buy))),
    E::new("POST", "/api/v2/sell/market/{}/", &["amount", "client_order_id"], Places(Reader::Market(Sell))),
    E::new("POST", "/api/v2/buy/instant/{}/", &["amount", "client_order_id"], Places(Reader::Instant(Buy))),
    E::new(
        "POST",
        "/api/v2/sell/instant/{}/",
        &["amount", "amount_in_counter", "client_order_id"],
        Places(Reader::Instant(Sell)),
    ),
    E::new("POST", "/api/v2/buy/{}/", LIMIT, Places(Reader::Limit(Buy))),
    E::new("POST", "/api/v2/sell/{}/", LIMIT, Places(Reader::Limit(Sell))),
    E::new("POST", "/api/v2/cancel_order/", &["id", "client_order_id"], Cancels),
    E::new("POST", "/api/v2/cancel_all_orders/", &[], Cancels),
    E::new("POST", "/api/v2/cancel_all_orders/{}/", &[], Cancels),
    E::new(
        "POST",
        "/api/v2/replace_order/",
        &["id", "orig_client_order_id", "client_order_id", "amount", "price"],
        Places(Reader::Replace),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::test_support::leg;
    use crate::facts::Size;

    fn post(path: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("bitstamp", &Request::new("POST", path, "", body))
    }

    /// What the Bitstamp venue sends (limit and market orders, cancel, status,
    /// transactions), byte for byte.
    #[test]
    fn the_venues_requests_are_their_own_canonical_form() {
        let limit = "amount=0.01&client_order_id=sg-1&price=40000";
        let c = post("/api/v2/buy/btcusd/", limit).expect("limit");
        assert_eq!(c.request, Request::new("POST", "/api/v2/buy/btcusd/", "", limit));
        assert_eq!(leg(&c), (Some("btcusd"), Some(Buy), &Amount::Base("0.01".into()), &Price::Limit("40000".into())));
        let c = post("/api/v2/sell/market/ethusd/", "amount=0.5&client_order_id=sg-2").expect("market");
        assert_eq!(leg(&c), (Some("ethusd"), Some(Sell), &Amount::Base("0.5".into()), &Price::Market));
        let c = post("/api/v2/buy/market/ethusd/", "amount=0.5").expect("market buy");
        assert_eq!(leg(&c).2, &Amount::Base("0.5".into()));
        let c = post("/api/v2/cancel_order/", "id=123").expect("cancel");
        assert!(c.order.cancels_only && c.request.body == "id=123");
        assert!(post("/api/v2/order_status/", "client_order_id=sg-1").is_ok());
        assert!(post("/api/v2/user_transactions/", "limit=1000&offset=0&sort=asc&since_id=5").is_ok());
        assert_eq!(post("/api/v2/account_balances/", "").map(|c| c.request.body), Ok(String::new()));
    }

    /// An instant buy is sized in the quote currency: never read as base.
    #[test]
    fn instant_orders_are_quote_sized() {
        let c = post("/api/v2/buy/instant/btcusd/", "amount=100").expect("instant buy");
        assert_eq!(leg(&c), (Some("btcusd"), Some(Buy), &Amount::Quote("100".into()), &Price::Market));
        let c = post("/api/v2/sell/instant/btcusd/", "amount=2").expect("instant sell");
        assert_eq!(leg(&c).2, &Amount::Base("2".into()));
        let c = post("/api/v2/sell/instant/btcusd/", "amount=100&amount_in_counter=True").expect("in counter");
        assert_eq!(leg(&c).2, &Amount::Quote("100".into()));
        for bad in ["amount=100&amount_in_counter=true", "amount=100&amount_in_counter=False", "amount=1&price=5"] {
            assert!(post("/api/v2/sell/instant/btcusd/", bad).is_err(), "{bad}");
        }
        assert!(post("/api/v2/buy/instant/btcusd/", "amount=100&amount_in_counter=True").is_err());
    }

    /// The path decides side, kind and market; nothing in the body may restate them.
    #[test]
    fn the_path_decides() {
        for (path, body) in [
            ("/api/v2/buy/market/", "amount=1&price=1"),
            ("/api/v2/buy/instant/", "amount=1&price=1"),
            ("/api/v2/sell/all/", "amount=1&price=1"),
            ("/api/v2/buy/BTCUSD/", "amount=1&price=1"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1&side=sell"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1&pair=ethusd"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1&type=market"),
            ("/api/v2/buy/market/btcusd/", "amount=1&price=1"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1&amount=100"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1&Amount=100"),
            ("/api/v2/buy/btcusd/", "amount=1&price=1+2"),
            ("/api/v2/buy/btcusd/", "amount=1"),
            ("/api/v2/buy/btcusd/", r#"{"amount":"1","price":"1"}"#),
        ] {
            assert!(matches!(post(path, body), Err(Error::Ambiguous(_))), "{path} {body}");
        }
        let r = Request::new("POST", "/api/v2/buy/btcusd/", "amount=100", "amount=1&price=1");
        assert!(crate::canonicalize("bitstamp", &r).is_err(), "a query");
        let c = post("/api/v2/buy/btcusd/", "amount=1&price=1&limit_price=2").expect("limit_price");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let c = post("/api/v2/replace_order/", "id=1&amount=2&price=3").expect("replace");
        assert_eq!(leg(&c), (None, None, &Amount::Base("2".into()), &Price::Limit("3".into())));
        let c = post("/api/v2/replace_order/", "id=1&price=3").expect("replace price");
        assert!(c.order.places_order && !c.order.cancels_only && matches!(c.order.size, Size::Unknown(_)));
        assert!(post("/api/v2/cancel_all_orders/btcusd/", "").is_ok_and(|c| c.order.cancels_only));
        let c = post("/api/v2/btc_withdrawal/", "amount=1&address=x").expect("withdraw");
        assert!(!c.order.places_order);
    }
}
