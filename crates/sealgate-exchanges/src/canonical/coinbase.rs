//! Coinbase Advanced Trade (and the v2 wallet paths it signs for): a GET's
//! or DELETE's parameters are its query string, a POST's or PUT's its JSON
//! object body; the other combinations are refused. Coinbase's Go JSON
//! reader matches member names case-insensitively and keeps the last of
//! duplicates: both are refused by the strict JSON reader and the exact-case
//! lists below.
//!
//! An order carries exactly one `order_configuration` entry, whose name
//! says the order type; a market configuration carries no price, and one
//! size (`base_size` or `quote_size`). Only spot products (`BASE-QUOTE`)
//! are sized: futures and perpetuals are in contracts.
//!
//! Parameter lists: "Advanced Trade API → Orders / Convert / Futures /
//! Perpetuals / Portfolios" and the v2 "Sign in with Coinbase" wallet
//! endpoints of the Coinbase Developer Platform docs.

use serde_json::{Map, Value};

use super::Kind::{Cancels, Moves, Places, Reads, Reduces, Setting, Unsized};
use super::form;
use super::json::{self, text};
use super::{Canonical, Endpoint, check_listed, entry, is_spot_pair, refuse, shown};
use crate::facts::{Amount, Leg, Price, Side};
use crate::{EndpointClass, Error, OrderFacts, Request};

/// How an entry's orders are read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// `product_id`, `side`, one `order_configuration`.
    Order,
    /// An edit: `size` at `price` of an order named by id.
    Edit,
}

/// Each order configuration: its members, and whether it executes at the
/// market (`None`: no limit price bounds it).
const CONFIGS: &[(&str, &[&str], bool)] = &[
    ("market_market_ioc", &["quote_size", "base_size"], true),
    ("market_market_fok", &["quote_size", "base_size"], true),
    ("sor_limit_ioc", &["quote_size", "base_size", "limit_price"], false),
    ("limit_limit_gtc", &["quote_size", "base_size", "limit_price", "post_only"], false),
    ("limit_limit_gtd", &["quote_size", "base_size", "limit_price", "end_time", "post_only"], false),
    ("limit_limit_fok", &["quote_size", "base_size", "limit_price"], false),
    ("stop_limit_stop_limit_gtc", &["base_size", "limit_price", "stop_price", "stop_direction"], false),
    ("stop_limit_stop_limit_gtd", &["base_size", "limit_price", "stop_price", "end_time", "stop_direction"], false),
    // A bracket's stop leg executes at the market when triggered.
    ("trigger_bracket_gtc", &["base_size", "limit_price", "stop_trigger_price"], true),
    ("trigger_bracket_gtd", &["base_size", "limit_price", "stop_trigger_price", "end_time"], true),
];

pub(crate) fn read(req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    let query_method = matches!(req.method.as_str(), "GET" | "DELETE");
    if query_method && !req.body.is_empty() {
        return Err(refuse(format!("a {} carries its parameters in the query, not in a body", req.method)));
    }
    if !query_method && !req.query.is_empty() {
        return Err(refuse(format!("a {} carries its parameters in the JSON body, not in the query", req.method)));
    }
    let query = form::parse(&req.query, "query")?;
    // Lists repeat a name (`order_ids=1&order_ids=2`): only a trade or
    // withdraw call's names must be unique (below, by their lists).
    let body = if req.body.is_empty() { None } else { Some(json::object(&req.body)?) };
    let order = match entry(TABLE, req, class)? {
        None => OrderFacts::no_order(None),
        Some(e) => {
            let what = format!("{} {}", e.method, e.path);
            form::unique(&[&query])?;
            check_listed(query.iter().map(|(n, _)| n.as_str()), e.params, &[], &what)?;
            let empty = Map::new();
            let o = body.as_ref().unwrap_or(&empty);
            check_listed(o.keys().map(String::as_str), e.params, &[], &what)?;
            let symbol = text(o, "product_id")?.map(str::to_owned);
            match e.kind {
                Places(Reader::Order) => order(o)?,
                Places(Reader::Edit) => edit(o)?,
                Unsized(why) => OrderFacts::size_unknown(symbol, why),
                Cancels => OrderFacts::cancel(symbol),
                Reads | Reduces | Setting | Moves => OrderFacts::no_order(symbol),
            }
        }
    };
    let request = Request {
        method: req.method.clone(),
        path: req.path.clone(),
        query: form::encode(&query),
        body: body.map(|o| json::print(&Value::Object(o))).unwrap_or_default(),
    };
    Ok(Canonical { request, order, withdrawal: None })
}

fn order(o: &Map<String, Value>) -> Result<OrderFacts, Error> {
    let product = text(o, "product_id")?.ok_or_else(|| refuse("an order without product_id"))?;
    let side = match text(o, "side")? {
        Some("BUY") => Side::Buy,
        Some("SELL") => Side::Sell,
        Some(s) => return Err(refuse(format!("side {} is not BUY or SELL", shown(s)))),
        None => return Err(refuse("an order without side")),
    };
    let Some(Value::Object(configs)) = o.get("order_configuration") else {
        return Err(refuse("an order without an order_configuration object"));
    };
    // Exactly one: with two, Coinbase would execute one of them, and not
    // necessarily the one a reader judged.
    let mut entries = configs.iter();
    let (Some((name, conf)), None) = (entries.next(), entries.next()) else {
        return Err(refuse(format!("order_configuration must hold exactly one configuration, not {}", configs.len())));
    };
    let Some(&(_, members, market)) = CONFIGS.iter().find(|(n, _, _)| n == name) else {
        return Err(refuse(format!("order configuration {} is not one Coinbase documents", shown(name))));
    };
    let Value::Object(conf) = conf else {
        return Err(refuse(format!("configuration {} is not an object", shown(name))));
    };
    if market && !name.starts_with("trigger_bracket") && conf.contains_key("limit_price") {
        return Err(refuse(format!(
            "limit_price in the market configuration {name}: Coinbase ignores it, so the policy will not value the \
             order at it"
        )));
    }
    check_listed(conf.keys().map(String::as_str), members, &[], name)?;
    let amount = match (text(conf, "base_size")?, text(conf, "quote_size")?) {
        (Some(_), Some(_)) => return Err(refuse(format!("base_size and quote_size compete in {name}: give one"))),
        (Some(b), None) => Amount::Base(b.to_owned()),
        (None, Some(q)) => Amount::Quote(q.to_owned()),
        (None, None) => return Err(refuse(format!("{name} without base_size or quote_size"))),
    };
    if !is_spot_pair(product) {
        return Ok(OrderFacts::size_unknown(
            Some(product.to_owned()),
            "a Coinbase futures or perpetual product: sized in contracts",
        ));
    }
    let price = if market {
        Price::Market
    } else {
        let px = text(conf, "limit_price")?.ok_or_else(|| refuse(format!("{name} without limit_price")))?;
        Price::Limit(px.to_owned())
    };
    Ok(OrderFacts::legs(vec![Leg { symbol: Some(product.to_owned()), side: Some(side), amount, price }]))
}

fn edit(o: &Map<String, Value>) -> Result<OrderFacts, Error> {
    match (text(o, "size")?, text(o, "price")?) {
        (Some(s), Some(p)) => Ok(OrderFacts::legs(vec![Leg {
            symbol: None,
            side: None,
            amount: Amount::Base(s.to_owned()),
            price: Price::Limit(p.to_owned()),
        }])),
        _ => Ok(OrderFacts::size_unknown(None, "an edit that does not give both size and price")),
    }
}

const ORDER: &[&str] = &[
    "client_order_id",
    "product_id",
    "side",
    "order_configuration",
    "self_trade_prevention_id",
    "leverage",
    "margin_type",
    "retail_portfolio_id",
    "preview_id",
];
const PREVIEW: &[&str] =
    &["product_id", "side", "order_configuration", "leverage", "margin_type", "retail_portfolio_id"];
const PAGE: &[&str] = &["limit", "order", "starting_after", "ending_before"];

use Endpoint as E;

/// Every documented call of the trade and withdraw endpoints.
static TABLE: &[Endpoint<Reader>] = &[
    E::new("POST", "/api/v3/brokerage/orders", ORDER, Places(Reader::Order)),
    // A preview executes nothing, but is judged as the order it previews.
    E::new("POST", "/api/v3/brokerage/orders/preview", PREVIEW, Places(Reader::Order)),
    E::new("POST", "/api/v3/brokerage/orders/batch_cancel", &["order_ids"], Cancels),
    E::new("POST", "/api/v3/brokerage/orders/edit", &["order_id", "size", "price"], Places(Reader::Edit)),
    E::new("POST", "/api/v3/brokerage/orders/edit_preview", &["order_id", "size", "price"], Places(Reader::Edit)),
    E::new(
        "POST",
        "/api/v3/brokerage/orders/close_position",
        &["client_order_id", "product_id", "size"],
        Unsized("closes a futures position"),
    ),
    E::new(
        "POST",
        "/api/v3/brokerage/convert/quote",
        &["from_account", "to_account", "amount", "trade_incentive_metadata"],
        Unsized("a conversion quote"),
    ),
    E::new("GET", "/api/v3/brokerage/convert/trade/{}", &["from_account", "to_account"], Reads),
    E::new("POST", "/api/v3/brokerage/convert/trade/{}", &["from_account", "to_account"], Unsized("a conversion")),
    E::new("GET", "/api/v3/brokerage/cfm/intraday/margin_setting", &[], Reads),
    E::new("POST", "/api/v3/brokerage/cfm/intraday/margin_setting", &["setting"], Setting),
    E::new(
        "POST",
        "/api/v3/brokerage/intx/multi_asset_collateral",
        &["portfolio_uuid", "multi_asset_collateral_enabled"],
        Setting,
    ),
    // Withdraw class.
    E::new(
        "POST",
        "/api/v3/brokerage/portfolios/move_funds",
        &["funds", "source_portfolio_uuid", "target_portfolio_uuid"],
        Moves,
    ),
    E::new("GET", "/api/v3/brokerage/cfm/sweeps", &[], Moves),
    E::new("DELETE", "/api/v3/brokerage/cfm/sweeps", &[], Moves),
    E::new("POST", "/api/v3/brokerage/cfm/sweeps/schedule", &["usd_amount"], Moves),
    E::new("POST", "/api/v3/brokerage/intx/allocate", &["portfolio_uuid", "symbol", "amount", "currency"], Moves),
    E::new(
        "POST",
        "/v2/accounts/{}/transactions",
        &[
            "type",
            "to",
            "amount",
            "currency",
            "description",
            "skip_notifications",
            "idem",
            "to_financial_institution",
            "financial_institution_website",
            "destination_tag",
            "network",
            "travel_rule_data",
        ],
        Moves,
    ),
    E::new("GET", "/v2/accounts/{}/transactions", PAGE, Moves),
    E::new("POST", "/v2/accounts/{}/addresses", &["name", "network"], Moves),
    E::new("GET", "/v2/accounts/{}/addresses", PAGE, Moves),
    E::new("POST", "/v2/accounts/{}/deposits", &["amount", "currency", "payment_method", "commit"], Moves),
    E::new("GET", "/v2/accounts/{}/deposits", PAGE, Moves),
    E::new("POST", "/v2/accounts/{}/deposits/{}/commit", &[], Moves),
    E::new("POST", "/v2/accounts/{}/withdrawals", &["amount", "currency", "payment_method", "commit"], Moves),
    E::new("GET", "/v2/accounts/{}/withdrawals", PAGE, Moves),
    E::new("POST", "/v2/accounts/{}/withdrawals/{}/commit", &[], Moves),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Size;

    fn canon(method: &str, path: &str, query: &str, body: &str) -> Result<Canonical, Error> {
        crate::canonicalize("coinbase", &Request::new(method, path, query, body))
    }

    fn order_body(conf: &str) -> String {
        format!(r#"{{"client_order_id":"c1","product_id":"BTC-USD","side":"BUY","order_configuration":{conf}}}"#)
    }

    #[test]
    fn exactly_one_configuration() {
        let two = order_body(
            r#"{"limit_limit_gtc":{"base_size":"0.0001","limit_price":"10"},"market_market_ioc":{"base_size":"5"}}"#,
        );
        let e = canon("POST", "/api/v3/brokerage/orders", "", &two).expect_err("two configurations");
        assert!(e.to_string().contains("exactly one"), "{e}");
        assert!(canon("POST", "/api/v3/brokerage/orders", "", &order_body("{}")).is_err());
        let c =
            canon("POST", "/api/v3/brokerage/orders", "", &order_body(r#"{"market_market_ioc":{"quote_size":"25"}}"#))
                .expect("one");
        assert_eq!(c.order.leg().map(|l| (&l.amount, &l.price)), Some((&Amount::Quote("25".into()), &Price::Market)));
    }

    #[test]
    fn market_prices_sizes_and_case_are_refused() {
        for conf in [
            r#"{"market_market_ioc":{"base_size":"1","limit_price":"1"}}"#,
            r#"{"market_market_ioc":{"base_size":"1","quote_size":"1"}}"#,
            r#"{"limit_limit_gtc":{"base_size":"1","quote_size":"1","limit_price":"1"}}"#,
            r#"{"limit_limit_gtc":{"base_size":"1","limit_price":"1","Limit_Price":"9"}}"#,
            r#"{"market_market_ioc":{"base_size":"1","Base_Size":"9"}}"#,
            r#"{"made_up":{"base_size":"1"}}"#,
        ] {
            assert!(canon("POST", "/api/v3/brokerage/orders", "", &order_body(conf)).is_err(), "{conf}");
        }
        let upper = r#"{"product_id":"BTC-USD","PRODUCT_ID":"ETH-USD","side":"BUY","order_configuration":{"market_market_ioc":{"base_size":"1"}}}"#;
        assert!(canon("POST", "/api/v3/brokerage/orders", "", upper).is_err());
        let alone =
            r#"{"PRODUCT_ID":"ETH-USD","side":"BUY","order_configuration":{"market_market_ioc":{"base_size":"1"}}}"#;
        assert!(canon("POST", "/api/v3/brokerage/orders", "", alone).is_err());
    }

    #[test]
    fn futures_edits_converts() {
        let c = canon("POST", "/api/v3/brokerage/orders", "", r#"{"product_id":"BTC-PERP-INTX","side":"BUY","order_configuration":{"market_market_ioc":{"base_size":"1"}}}"#)
            .expect("perp");
        assert!(matches!(c.order.size, Size::Unknown(_)));
        let c = canon("POST", "/api/v3/brokerage/orders/edit", "", r#"{"order_id":"o","size":"1","price":"2"}"#)
            .expect("edit");
        assert!(matches!(&c.order.size, Size::Legs(l) if l[0].symbol.is_none()));
        let c = canon("POST", "/api/v3/brokerage/convert/trade/abc", "", r#"{"from_account":"a","to_account":"b"}"#)
            .expect("convert");
        assert!(c.order.places_order && matches!(c.order.size, Size::Unknown(_)));
        let c = canon("GET", "/api/v3/brokerage/convert/trade/abc", "from_account=a&to_account=b", "").expect("read");
        assert!(!c.order.places_order);
        assert!(canon("POST", "/api/v3/brokerage/orders", "product_id=BTC-USD", "{}").is_err());
        assert!(canon("GET", "/api/v3/brokerage/accounts", "", "{}").is_err());
        // A read may repeat a list parameter.
        assert!(
            canon("GET", "/api/v3/brokerage/orders/historical/batch", "order_status=OPEN&order_status=FILLED", "")
                .is_ok()
        );
    }
}
