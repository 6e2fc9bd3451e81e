//! `OrderFacts::cancels_only`: the one kind of trade request a frozen credential may still
//! make. Only the endpoints that cancel get it; every "cancel" that can also place (a
//! cancel-and-replace, an amend, an edit, a batch that places) and every other request do
//! not — the attempts a weak reader would let through on a frozen credential.

use sealgate_exchanges::{Request, canonicalize};

fn facts(exchange: &str, method: &str, path: &str, query: &str, body: &str) -> sealgate_exchanges::OrderFacts {
    canonicalize(exchange, &Request::new(method, path, query, body))
        .unwrap_or_else(|e| panic!("{exchange} {method} {path}: {e}"))
        .order
}

#[test]
fn cancels_are_cancels() {
    for (exchange, method, path, query, body) in [
        ("binance", "DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", ""),
        ("binance", "DELETE", "/api/v3/openOrders", "symbol=BTCUSDT", ""),
        ("binance", "DELETE", "/api/v3/orderList", "symbol=BTCUSDT&orderListId=3", ""),
        ("mexc", "DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", ""),
        ("kraken", "POST", "/0/private/CancelOrder", "", "nonce=1&txid=OABC"),
        ("kraken", "POST", "/0/private/CancelAll", "", "nonce=1"),
        ("okx", "POST", "/api/v5/trade/cancel-order", "", r#"{"instId":"BTC-USDT","ordId":"1"}"#),
        ("okx", "POST", "/api/v5/trade/cancel-batch-orders", "", r#"[{"instId":"BTC-USDT","ordId":"1"}]"#),
        ("coinbase", "POST", "/api/v3/brokerage/orders/batch_cancel", "", r#"{"order_ids":["a","b"]}"#),
        ("bybit", "POST", "/v5/order/cancel", "", r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1"}"#),
        ("bybit", "POST", "/v5/order/cancel-all", "", r#"{"category":"spot"}"#),
        ("bitget", "POST", "/api/v2/spot/trade/cancel-order", "", r#"{"symbol":"BTCUSDT","orderId":"1"}"#),
        ("bitget", "POST", "/api/v2/spot/trade/cancel-symbol-order", "", ""),
        ("kucoin", "DELETE", "/api/v1/orders/6717422bd51c29000775ea03", "", ""),
        ("kucoin", "DELETE", "/api/v1/hf/orders", "symbol=BTC-USDT", ""),
        ("gate", "DELETE", "/api/v4/spot/orders/12345", "currency_pair=BTC_USDT", ""),
        ("gate", "POST", "/api/v4/spot/cancel_batch_orders", "", r#"[{"currency_pair":"BTC_USDT","id":"1"}]"#),
        ("poloniex", "DELETE", "/orders/123", "", ""),
        ("bitfinex", "POST", "/v2/auth/w/order/cancel", "", r#"{"id":1}"#),
        ("gemini", "POST", "/v1/order/cancel", "", r#"{"order_id":1}"#),
        ("gemini", "POST", "/v1/order/cancel/session", "", ""),
        ("bitstamp", "POST", "/api/v2/cancel_order/", "", "id=1"),
        ("coinbase-exchange", "DELETE", "/orders/client:sg-1", "product_id=BTC-USD", ""),
        ("coinbase-exchange", "DELETE", "/orders", "", ""),
        ("deribit", "GET", "/api/v2/private/cancel", "order_id=1", ""),
        (
            "deribit",
            "POST",
            "/api/v2/private/cancel_all_by_instrument",
            "",
            r#"{"params":{"instrument_name":"BTC-PERPETUAL"}}"#,
        ),
        ("bitstamp", "POST", "/api/v2/cancel_all_orders/btcusd/", "", ""),
        ("bitfinex", "POST", "/v2/auth/w/order/multi", "", r#"{"ops":[["oc",{"id":1}],["oc_multi",{"all":1}]]}"#),
        ("poloniex", "DELETE", "/orders/cancelByIds", "", r#"{"clientOrderIds":["a"]}"#),
    ] {
        let f = facts(exchange, method, path, query, body);
        assert!(f.cancels_only && !f.places_order, "{exchange} {path}: {f:?}");
    }
}

#[test]
fn a_cancel_that_places_or_amends_is_no_cancel() {
    for (exchange, method, path, query, body) in [
        // Cancel-and-replace places its new order.
        (
            "binance",
            "POST",
            "/api/v3/order/cancelReplace",
            "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId=1",
            "",
        ),
        // An amend, even one that may only lower a quantity, is not a cancel.
        ("binance", "PUT", "/api/v3/order/amend/keepPriority", "symbol=BTCUSDT&orderId=1&newQty=0.5", ""),
        ("kraken", "POST", "/0/private/AmendOrder", "", "nonce=1&txid=OABC&order_qty=2&limit_price=100"),
        (
            "kraken",
            "POST",
            "/0/private/AddOrderBatch",
            "",
            r#"{"nonce":1,"pair":"XBTUSD","orders":[{"ordertype":"limit","type":"buy","volume":"1","price":"10"}]}"#,
        ),
        (
            "okx",
            "POST",
            "/api/v5/trade/amend-order",
            "",
            r#"{"instId":"BTC-USDT","ordId":"1","newSz":"2","newPx":"10"}"#,
        ),
        (
            "okx",
            "POST",
            "/api/v5/trade/batch-orders",
            "",
            r#"[{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"1","px":"10"}]"#,
        ),
        ("coinbase", "POST", "/api/v3/brokerage/orders/edit", "", r#"{"order_id":"a","size":"1","price":"10"}"#),
        // A placement, a read, an update, an edit.
        ("binance", "POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1", ""),
        ("binance", "GET", "/api/v3/openOrders", "symbol=BTCUSDT", ""),
        ("bitfinex", "POST", "/v2/auth/w/order/update", "", r#"{"id":1,"amount":"1","price":"2"}"#),
        ("bitfinex", "POST", "/v2/auth/w/order/multi", "", r#"{"ops":[["oc",{"id":1}],["ou",{"id":2,"delta":"5"}]]}"#),
        ("deribit", "GET", "/api/v2/private/edit", "order_id=1&amount=10&price=2", ""),
        ("gate", "PATCH", "/api/v4/spot/orders/1", "currency_pair=BTC_USDT", r#"{"amount":"0.5"}"#),
        // Poloniex's and Bitstamp's cancel-replace places the replacement.
        ("bitstamp", "POST", "/api/v2/replace_order/", "", "id=1&amount=1&price=10"),
        ("poloniex", "PUT", "/orders/123", "", r#"{"quantity":"1","price":"10"}"#),
        ("kucoin", "POST", "/api/v1/hf/orders/alter", "", r#"{"symbol":"BTC-USDT","orderId":"1","newSize":"1"}"#),
        (
            "bitget",
            "POST",
            "/api/v2/spot/trade/cancel-replace-order",
            "",
            r#"{"symbol":"BTCUSDT","orderId":"1","size":"1","price":"10"}"#,
        ),
        (
            "bybit",
            "POST",
            "/v5/order/amend",
            "",
            r#"{"category":"spot","symbol":"BTCUSDT","orderId":"1","qty":"2","price":"10"}"#,
        ),
    ] {
        let f = facts(exchange, method, path, query, body);
        assert!(!f.cancels_only, "{exchange} {path}: {f:?}");
    }
}
