//! What a request does with an order — its symbol, whether it places one,
//! and its size — read from the request as the exchange would read it, so
//! the policy can apply symbol allow-lists and notional caps. Exchanges
//! without a reader here give [`OrderFacts::unknown`]: the policy then
//! refuses trades wherever an allow-list or a cap is set.

use crate::Request;

/// The order-relevant facts of a request; amounts as the request spells them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// The market, in the exchange's spelling (`BTCUSDT`, `XBTUSD`, `BTC-USD`).
    pub symbol: Option<String>,
    /// Whether the request places (or amends) an order.
    pub places_order: bool,
    /// Base quantity.
    pub quantity: Option<String>,
    /// Limit price.
    pub price: Option<String>,
    /// Quote amount, for orders sized in the quote currency.
    pub quote_amount: Option<String>,
}

impl OrderFacts {
    /// Nothing known: a trade is treated as an order of unknown size.
    pub fn unknown() -> Self {
        Self { places_order: true, ..Self::default() }
    }
}

/// Read the order facts of `req` for exchange `id`.
pub fn order_facts(id: &str, req: &Request) -> OrderFacts {
    match id {
        "binance" | "mexc" => binance_style(req),
        "kraken" => kraken(req),
        "okx" => okx(req),
        "coinbase" => coinbase(req),
        _ => OrderFacts::unknown(),
    }
}

fn form_params(req: &Request) -> Vec<(String, String)> {
    // Exchanges read query and form body together; values are percent-decoded.
    let decode = |s: &str| -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    [req.query.as_str(), req.body.as_str()]
        .iter()
        .flat_map(|s| s.split('&'))
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn get(p: &[(String, String)], k: &str) -> Option<String> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// Binance spot (and MEXC, which copies its order API).
fn binance_style(req: &Request) -> OrderFacts {
    let p = form_params(req);
    let placing = req.method == "POST"
        && matches!(
            req.path.as_str(),
            "/api/v3/order" | "/api/v3/order/test" | "/api/v3/sor/order" | "/api/v3/sor/order/test"
        );
    OrderFacts {
        symbol: get(&p, "symbol"),
        places_order: placing || req.path.starts_with("/api/v3/orderList") || req.path == "/api/v3/order/cancelReplace",
        quantity: get(&p, "quantity"),
        price: get(&p, "price"),
        quote_amount: get(&p, "quoteOrderQty"),
    }
}

fn kraken(req: &Request) -> OrderFacts {
    let p = form_params(req);
    OrderFacts {
        symbol: get(&p, "pair"),
        places_order: matches!(
            req.path.as_str(),
            "/0/private/AddOrder" | "/0/private/AddOrderBatch" | "/0/private/EditOrder"
        ),
        quantity: get(&p, "volume"),
        price: get(&p, "price"),
        quote_amount: None,
    }
}

fn json_body(req: &Request) -> serde_json::Value {
    serde_json::from_str(&req.body).unwrap_or(serde_json::Value::Null)
}

fn okx(req: &Request) -> OrderFacts {
    let b = json_body(req);
    let s = |k: &str| b.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let placing = matches!(req.path.as_str(), "/api/v5/trade/order" | "/api/v5/trade/amend-order");
    // Spot market buys are sized in the quote currency unless tgtCcy says base.
    let quote_sized = s("ordType").as_deref() == Some("market")
        && s("side").as_deref() == Some("buy")
        && s("tgtCcy").as_deref() != Some("base_ccy");
    OrderFacts {
        symbol: s("instId"),
        places_order: placing || req.path == "/api/v5/trade/batch-orders",
        quantity: if quote_sized { None } else { s("sz").or_else(|| s("newSz")) },
        price: s("px").or_else(|| s("newPx")),
        quote_amount: if quote_sized { s("sz") } else { None },
    }
}

fn coinbase(req: &Request) -> OrderFacts {
    let b = json_body(req);
    let conf = b.get("order_configuration").and_then(|c| c.as_object()).and_then(|c| c.values().next()).cloned();
    let c = |k: &str| conf.as_ref().and_then(|v| v.get(k)).and_then(|v| v.as_str()).map(str::to_owned);
    OrderFacts {
        symbol: b.get("product_id").and_then(|v| v.as_str()).map(str::to_owned),
        places_order: matches!(req.path.as_str(), "/api/v3/brokerage/orders" | "/api/v3/brokerage/orders/edit"),
        quantity: c("base_size"),
        price: c("limit_price"),
        quote_amount: c("quote_size"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_order_and_cancel() {
        let f = order_facts(
            "binance",
            &Request::new(
                "POST",
                "/api/v3/order",
                "symbol=BTCUSDT&side=BUY",
                "type=LIMIT&quantity=0.5&price=60000&timeInForce=GTC",
            ),
        );
        assert_eq!((f.symbol.as_deref(), f.places_order), (Some("BTCUSDT"), true));
        assert_eq!((f.quantity.as_deref(), f.price.as_deref()), (Some("0.5"), Some("60000")));
        let f = order_facts("binance", &Request::new("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=1", ""));
        assert!(!f.places_order);
        let f =
            order_facts("binance", &Request::new("POST", "/api/v3/order", "symbol=BTC%55SDT&quoteOrderQty=100", ""));
        assert_eq!((f.symbol.as_deref(), f.quote_amount.as_deref()), (Some("BTCUSDT"), Some("100")));
    }

    #[test]
    fn kraken_okx_coinbase_and_unknown() {
        let f = order_facts(
            "kraken",
            &Request::new(
                "POST",
                "/0/private/AddOrder",
                "",
                "nonce=1&pair=XBTUSD&type=buy&ordertype=limit&price=37500&volume=1.25",
            ),
        );
        assert_eq!(
            (f.symbol.as_deref(), f.quantity.as_deref(), f.price.as_deref()),
            (Some("XBTUSD"), Some("1.25"), Some("37500"))
        );
        let f = order_facts(
            "okx",
            &Request::new(
                "POST",
                "/api/v5/trade/order",
                "",
                r#"{"instId":"BTC-USDT","side":"buy","ordType":"market","sz":"100"}"#,
            ),
        );
        assert_eq!((f.quantity, f.quote_amount.as_deref()), (None, Some("100")));
        let f = order_facts(
            "coinbase",
            &Request::new(
                "POST",
                "/api/v3/brokerage/orders",
                "",
                r#"{"product_id":"BTC-USD","side":"SELL","order_configuration":{"limit_limit_gtc":{"base_size":"0.1","limit_price":"70000"}}}"#,
            ),
        );
        assert_eq!(
            (f.symbol.as_deref(), f.quantity.as_deref(), f.price.as_deref()),
            (Some("BTC-USD"), Some("0.1"), Some("70000"))
        );
        assert_eq!(order_facts("deribit", &Request::new("GET", "/api/v2/private/buy", "", "")), OrderFacts::unknown());
    }
}
