//! The policy matrix: role × class × sealed scope, then symbols, notional,
//! rate, status and the kill switch; and properties no input can break.

use std::collections::BTreeSet;

use proptest::prelude::*;
use sealgate_policy::{
    Context, CredentialPolicy, CredentialStatus, Decimal, Denial, EndpointClass, RateLimit, RateState, RequestFacts,
    Role, Scope, evaluate,
};

fn ctx(role: Role) -> Context {
    Context { role, kill_switch: false, now_ms: 1_000_000 }
}

fn decide(role: Role, scope: &str, facts: &RequestFacts) -> Result<(), Denial> {
    let policy = CredentialPolicy::new(Scope::parse_list(scope).expect("scope"));
    evaluate(&ctx(role), &policy, facts, &mut RateState::default()).map(|_| ())
}

#[test]
fn role_and_scope_matrix() {
    use EndpointClass::*;
    let f = RequestFacts::of_class;
    // Importer: read only, whatever the user sealed.
    assert_eq!(decide(Role::Importer, "read,trade,withdraw", &f(Read)), Ok(()));
    assert_eq!(
        decide(Role::Importer, "read,trade,withdraw", &f(Trade)),
        Err(Denial::RoleForbids { role: "importer", class: "trade" })
    );
    assert_eq!(
        decide(Role::Importer, "read,trade,withdraw", &f(Withdraw)),
        Err(Denial::RoleForbids { role: "importer", class: "withdraw" })
    );
    // Trader: read and trade when sealed; withdraw only where sealed.
    assert_eq!(decide(Role::Trader, "read,trade", &f(Trade)), Ok(()));
    assert_eq!(decide(Role::Trader, "read", &f(Trade)), Err(Denial::NotGranted("trade")));
    assert_eq!(decide(Role::Trader, "read,trade", &f(Withdraw)), Err(Denial::NotGranted("withdraw")));
    assert_eq!(decide(Role::Trader, "read,trade,withdraw", &f(Withdraw)), Ok(()));
    // Unknown and account endpoints: never, for anyone.
    for role in [Role::Importer, Role::Trader, Role::Agent] {
        assert_eq!(decide(role, "read,trade,withdraw", &f(Unknown)), Err(Denial::UnknownEndpoint));
        assert_eq!(decide(role, "read,trade,withdraw", &f(Account)), Err(Denial::AccountEndpoint));
    }
}

#[test]
fn kill_switch_and_status_come_first() {
    let mut policy = CredentialPolicy::new(Scope::parse_list("read,trade").expect("scope"));
    let facts = RequestFacts::of_class(EndpointClass::Read);
    let mut c = ctx(Role::Trader);
    c.kill_switch = true;
    assert_eq!(evaluate(&c, &policy, &facts, &mut RateState::default()).map(|_| ()), Err(Denial::KillSwitch));
    for (status, name) in [(CredentialStatus::Frozen, "frozen"), (CredentialStatus::Deleted, "deleted")] {
        policy.status = status;
        assert_eq!(
            evaluate(&ctx(Role::Trader), &policy, &facts, &mut RateState::default()).map(|_| ()),
            Err(Denial::CredentialInactive(name))
        );
    }
}

fn order(symbol: Option<&str>, notional: Option<&str>) -> RequestFacts {
    RequestFacts {
        class: EndpointClass::Trade,
        symbol: symbol.map(str::to_owned),
        places_order: true,
        notional: notional.map(|n| Decimal::parse(n).expect("decimal")),
        cancels_only: false,
    }
}

#[test]
fn symbols_and_notional() {
    let mut policy = CredentialPolicy::new(Scope::parse_list("read,trade").expect("scope"));
    policy.symbols = Some(BTreeSet::from(["BTCUSDT".to_owned()]));
    policy.max_notional = Decimal::parse("1000");
    let d = |f: &RequestFacts| evaluate(&ctx(Role::Trader), &policy, f, &mut RateState::default()).map(|_| ());
    assert_eq!(d(&order(Some("BTCUSDT"), Some("999.99"))), Ok(()));
    assert_eq!(d(&order(Some("BTCUSDT"), Some("1000"))), Ok(()));
    assert_eq!(d(&order(Some("BTCUSDT"), Some("1000.000001"))), Err(Denial::NotionalTooLarge));
    assert_eq!(d(&order(Some("BTCUSDT"), None)), Err(Denial::NotionalTooLarge));
    assert_eq!(d(&order(Some("ETHUSDT"), Some("1"))), Err(Denial::SymbolNotAllowed));
    assert_eq!(d(&order(None, Some("1"))), Err(Denial::SymbolNotAllowed));
    // A cancel on an allowed symbol carries no size: the cap does not apply.
    let cancel = RequestFacts { places_order: false, notional: None, ..order(Some("BTCUSDT"), None) };
    assert_eq!(d(&cancel), Ok(()));
    // Reads are not subject to symbol or size limits.
    assert_eq!(d(&RequestFacts::of_class(EndpointClass::Read)), Ok(()));
}

fn capped() -> CredentialPolicy {
    let mut policy = CredentialPolicy::new(Scope::parse_list("read,trade").expect("scope"));
    policy.symbols =
        Some(BTreeSet::from(["BTCUSDT".to_owned(), "XBTUSD".to_owned(), "BTC-USDT".to_owned(), "BTC-USD".to_owned()]));
    policy.max_notional = Decimal::parse("30000");
    policy
}

/// Decide `req` for `exchange` under [`capped`], the request read by
/// `canonicalize` and valued with `reference` (the ticker price).
fn judge(exchange: &str, req: &sealgate_exchanges::Request, reference: Option<&str>) -> Result<(), String> {
    let class = sealgate_exchanges::classify(exchange, &req.path).expect("exchange");
    let canon = sealgate_exchanges::canonicalize(exchange, req).map_err(|e| e.to_string())?;
    let facts = RequestFacts::from_order(class, &canon.order, reference.map(|r| Decimal::parse(r).expect("reference")));
    evaluate(&ctx(Role::Trader), &capped(), &facts, &mut RateState::default()).map(|_| ()).map_err(|d| d.to_string())
}

#[test]
fn facts_read_off_real_requests() {
    use sealgate_exchanges::Request;
    let decide = |req: &Request| judge("binance", req, None);
    let limit = |qty: &str| {
        Request::new(
            "POST",
            "/api/v3/order",
            "",
            &format!("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity={qty}&price=60000&timeInForce=GTC"),
        )
    };
    assert_eq!(decide(&limit("0.5")), Ok(()));
    assert_eq!(decide(&limit("0.51")), Err(Denial::NotionalTooLarge.to_string()));
    let quote = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100", "");
    assert_eq!(decide(&quote), Ok(()));
    // A market order in base units without a reference price: refused under a cap.
    let market = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "");
    assert_eq!(decide(&market), Err(Denial::NotionalTooLarge.to_string()));
    let other = Request::new(
        "POST",
        "/api/v3/order",
        "symbol=ETHUSDT&side=BUY&type=LIMIT&quantity=1&price=1&timeInForce=GTC",
        "",
    );
    assert_eq!(decide(&other), Err(Denial::SymbolNotAllowed.to_string()));
    let cancel = Request::new("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", "");
    assert_eq!(decide(&cancel), Ok(()));
    let withdraw = Request::new("POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=x&amount=1", "");
    assert_eq!(decide(&withdraw), Err(Denial::NotGranted("withdraw").to_string()));
}

/// A frozen credential may still cancel: cancelling only tightens. Everything else stays
/// refused, and above all each "cancel" that can place — the attempts a frozen credential's
/// holder (or a thief with a service token) would make.
#[test]
fn a_frozen_credential_cancels_and_nothing_else() {
    use sealgate_exchanges::Request;
    let mut policy = capped();
    // (Kraken's cancel names no pair, which an allow-list refuses, frozen or not.)
    policy.symbols = None;
    policy.status = CredentialStatus::Frozen;
    let judge_frozen = |exchange: &str, role: Role, req: &Request| {
        let class = sealgate_exchanges::classify(exchange, &req.path).expect("exchange");
        let canon = sealgate_exchanges::canonicalize(exchange, req).map_err(|e| e.to_string())?;
        let facts = RequestFacts::from_order(class, &canon.order, Decimal::parse("60000"));
        evaluate(&ctx(role), &policy, &facts, &mut RateState::default()).map(|_| ()).map_err(|d| d.to_string())
    };
    let frozen = Err(Denial::CredentialInactive("frozen").to_string());
    for role in [Role::Trader, Role::Agent] {
        let cancel = Request::new("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", "");
        assert_eq!(judge_frozen("binance", role, &cancel), Ok(()), "{role:?}");
        let all = Request::new("DELETE", "/api/v3/openOrders", "symbol=BTCUSDT", "");
        assert_eq!(judge_frozen("binance", role, &all), Ok(()));
        let kraken = Request::new("POST", "/0/private/CancelOrder", "", "nonce=1&txid=OABC");
        assert_eq!(judge_frozen("kraken", role, &kraken), Ok(()));
        let okx = Request::new("POST", "/api/v5/trade/cancel-order", "", r#"{"instId":"BTC-USDT","ordId":"1"}"#);
        assert_eq!(judge_frozen("okx", role, &okx), Ok(()));
        for (exchange, req) in [
            (
                "binance",
                Request::new(
                    "POST",
                    "/api/v3/order",
                    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=1&timeInForce=GTC",
                    "",
                ),
            ),
            (
                "binance",
                Request::new(
                    "POST",
                    "/api/v3/order/cancelReplace",
                    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=1&timeInForce=GTC&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId=1",
                    "",
                ),
            ),
            (
                "binance",
                Request::new("PUT", "/api/v3/order/amend/keepPriority", "symbol=BTCUSDT&orderId=1&newQty=0.05", ""),
            ),
            ("binance", Request::new("GET", "/api/v3/openOrders", "symbol=BTCUSDT", "")),
            (
                "kraken",
                Request::new("POST", "/0/private/AmendOrder", "", "nonce=1&txid=OABC&order_qty=0.1&limit_price=100"),
            ),
            (
                "kraken",
                Request::new(
                    "POST",
                    "/0/private/AddOrderBatch",
                    "",
                    r#"{"nonce":1,"pair":"XBTUSD","orders":[{"ordertype":"limit","type":"buy","volume":"0.1","price":"10"}]}"#,
                ),
            ),
            (
                "okx",
                Request::new(
                    "POST",
                    "/api/v5/trade/amend-order",
                    "",
                    r#"{"instId":"BTC-USDT","ordId":"1","newSz":"0.1","newPx":"10"}"#,
                ),
            ),
            (
                "okx",
                Request::new(
                    "POST",
                    "/api/v5/trade/batch-orders",
                    "",
                    r#"[{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.1","px":"10"}]"#,
                ),
            ),
            (
                "coinbase",
                Request::new(
                    "POST",
                    "/api/v3/brokerage/orders/edit",
                    "",
                    r#"{"order_id":"a","size":"0.1","price":"10"}"#,
                ),
            ),
        ] {
            assert_eq!(judge_frozen(exchange, role, &req), frozen, "{exchange} {} {}", req.method, req.path);
        }
    }
    // Facts that claim to cancel and place at once are a placement.
    let both = RequestFacts { cancels_only: true, ..order(Some("BTCUSDT"), Some("1")) };
    assert_eq!(
        evaluate(&ctx(Role::Trader), &policy, &both, &mut RateState::default()).map(|_| ()),
        Err(Denial::CredentialInactive("frozen"))
    );
    // A deleted credential cancels nothing; the kill switch stops cancels too.
    let cancel =
        RequestFacts { places_order: false, notional: None, cancels_only: true, ..order(Some("BTCUSDT"), None) };
    policy.status = CredentialStatus::Deleted;
    assert_eq!(
        evaluate(&ctx(Role::Trader), &policy, &cancel, &mut RateState::default()).map(|_| ()),
        Err(Denial::CredentialInactive("deleted"))
    );
    policy.status = CredentialStatus::Frozen;
    let mut c = ctx(Role::Trader);
    c.kill_switch = true;
    assert_eq!(evaluate(&c, &policy, &cancel, &mut RateState::default()).map(|_| ()), Err(Denial::KillSwitch));
    // The importer never cancels, frozen or not.
    assert_eq!(
        evaluate(&ctx(Role::Importer), &policy, &cancel, &mut RateState::default()).map(|_| ()),
        Err(Denial::RoleForbids { role: "importer", class: "trade" })
    );
}

/// A market order is valued at the reference price with the margin, never
/// at a price the caller wrote. Each of these was approved by the old
/// reader (first value wins, notional = quantity × caller price), and
/// executed for 2,500-5,000 against a cap of 1,000 in the issue.
#[test]
fn market_orders_are_valued_at_the_market() {
    use sealgate_exchanges::Request;
    let mut policy = capped();
    policy.max_notional = Decimal::parse("1000");
    let decide = |exchange: &str, req: &Request, reference: Option<&str>| -> Result<(), String> {
        let class = sealgate_exchanges::classify(exchange, &req.path).expect("exchange");
        let canon = sealgate_exchanges::canonicalize(exchange, req).map_err(|e| e.to_string())?;
        let facts = RequestFacts::from_order(class, &canon.order, reference.map(|r| Decimal::parse(r).expect("ref")));
        evaluate(&ctx(Role::Trader), &policy, &facts, &mut RateState::default()).map(|_| ()).map_err(|d| d.to_string())
    };
    // Binance MARKET with price=1: refused before valuation.
    let r = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.05&price=1", "");
    assert!(decide("binance", &r, Some("50000")).expect_err("price").contains("price on a MARKET"));
    // quantity + quoteOrderQty: refused.
    let r =
        Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1&quoteOrderQty=10", "");
    assert!(decide("binance", &r, Some("50000")).expect_err("two sizes").contains("compete"));
    // The same market order without a price: 0.05 × 50,000 × 1.05 = 2,625 > 1,000.
    let r = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.05", "");
    assert_eq!(decide("binance", &r, Some("50000")), Err(Denial::NotionalTooLarge.to_string()));
    assert_eq!(decide("binance", &r, None), Err(Denial::NotionalTooLarge.to_string()), "no reference: refused");
    // 0.019 × 50,000 × 1.05 = 997.5 ≤ 1,000; 0.0191 → 1,002.75.
    let small = |q: &str| {
        Request::new("POST", "/api/v3/order", &format!("symbol=BTCUSDT&side=SELL&type=MARKET&quantity={q}"), "")
    };
    assert_eq!(decide("binance", &small("0.019"), Some("50000")), Ok(()));
    assert_eq!(decide("binance", &small("0.0191"), Some("50000")), Err(Denial::NotionalTooLarge.to_string()));
    // A sell limit far below the market executes at the market.
    let r = Request::new(
        "POST",
        "/api/v3/order",
        "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.05&price=1",
        "",
    );
    assert_eq!(decide("binance", &r, Some("50000")), Err(Denial::NotionalTooLarge.to_string()));
    // OKX market with px=1, Coinbase market with limit_price: refused.
    let r = Request::new(
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"market","sz":"0.05","px":"1"}"#,
    );
    assert!(decide("okx", &r, Some("50000")).is_err());
    let r = Request::new(
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"market","sz":"0.05"}"#,
    );
    assert_eq!(decide("okx", &r, Some("50000")), Err(Denial::NotionalTooLarge.to_string()));
    let r = Request::new(
        "POST",
        "/api/v3/brokerage/orders",
        "",
        r#"{"product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"base_size":"0.05","limit_price":"1"}}}"#,
    );
    assert!(decide("coinbase", &r, Some("50000")).is_err());
    // OKX derivatives: contract size unknown, refused under a cap.
    let r = Request::new(
        "POST",
        "/api/v5/trade/order",
        "",
        r#"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"1","px":"1"}"#,
    );
    let mut swap = policy.clone();
    swap.symbols = None;
    let class = sealgate_exchanges::classify("okx", &r.path).expect("okx");
    let facts =
        RequestFacts::from_order(class, &sealgate_exchanges::canonicalize("okx", &r).expect("swap").order, None);
    assert_eq!(
        evaluate(&ctx(Role::Trader), &swap, &facts, &mut RateState::default()).map(|_| ()),
        Err(Denial::NotionalTooLarge)
    );
}

/// Placements that the old fixed list did not count, and a Coinbase body
/// with two configurations: each is refused under a cap now.
#[test]
fn every_placement_counts() {
    use sealgate_exchanges::Request;
    let mut policy = capped();
    policy.symbols = None;
    policy.max_notional = Decimal::parse("1000");
    let decide = |exchange: &str, req: &Request| -> Result<(), String> {
        let class = sealgate_exchanges::classify(exchange, &req.path).expect("exchange");
        let canon = sealgate_exchanges::canonicalize(exchange, req).map_err(|e| e.to_string())?;
        let facts = RequestFacts::from_order(class, &canon.order, Some(Decimal::parse("50000").expect("ref")));
        evaluate(&ctx(Role::Trader), &policy, &facts, &mut RateState::default()).map(|_| ()).map_err(|d| d.to_string())
    };
    let too_large = Err(Denial::NotionalTooLarge.to_string());
    // Binance OCO: both legs, 0.1 × 70,000 + 0.1 × 52,500.
    let oco = Request::new(
        "POST",
        "/api/v3/orderList/oco",
        "symbol=BTCUSDT&side=SELL&quantity=0.1&aboveType=LIMIT_MAKER&abovePrice=70000&belowType=STOP_LOSS&belowStopPrice=45000",
        "",
    );
    assert_eq!(decide("binance", &oco), too_large);
    // Kraken AmendOrder, OKX algo and convert, MEXC batch.
    assert_eq!(
        decide("kraken", &Request::new("POST", "/0/private/AmendOrder", "", "txid=O1&order_qty=5&limit_price=60000")),
        too_large
    );
    assert_eq!(decide("kraken", &Request::new("POST", "/0/private/AmendOrder", "", "txid=O1&order_qty=5")), too_large);
    let algo = Request::new(
        "POST",
        "/api/v5/trade/order-algo",
        "",
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"conditional","sz":"1","tpTriggerPx":"1","tpOrdPx":"-1"}"#,
    );
    assert_eq!(decide("okx", &algo), too_large);
    let convert = Request::new(
        "POST",
        "/api/v5/asset/convert/trade",
        "",
        r#"{"quoteId":"q","baseCcy":"BTC","quoteCcy":"USDT","side":"buy","sz":"1","szCcy":"BTC"}"#,
    );
    assert_eq!(decide("okx", &convert), too_large);
    assert_eq!(decide("mexc", &Request::new("POST", "/api/v3/batchOrders", "batchOrders=%5B%5D", "")), too_large);
    // Coinbase: two order configurations, judged by one and executed by the other.
    let two = Request::new(
        "POST",
        "/api/v3/brokerage/orders",
        "",
        r#"{"product_id":"BTC-USD","side":"BUY","order_configuration":{"limit_limit_gtc":{"base_size":"0.0001","limit_price":"10"},"market_market_ioc":{"quote_size":"5000"}}}"#,
    );
    assert!(decide("coinbase", &two).expect_err("two").contains("exactly one"));
    // Kraken: the JSON body whose first key hides a small form order.
    let kraken = Request::new(
        "POST",
        "/0/private/AddOrder",
        "",
        r#"{"nonce":1,"x&pair=XBTUSD&volume=0.0001&y":"1","ordertype":"market","pair":"XBTUSD","type":"buy","volume":"0.5"}"#,
    );
    assert!(decide("kraken", &kraken).is_err());
}

#[test]
fn rate_limit_token_bucket() {
    let mut policy = CredentialPolicy::new(Scope::parse_list("read").expect("scope"));
    policy.rate = Some(RateLimit { max: 3, window_ms: 1000 });
    let facts = RequestFacts::of_class(EndpointClass::Read);
    let mut state = RateState::default();
    let at = |ms: u64, state: &mut RateState| {
        let c = Context { role: Role::Importer, kill_switch: false, now_ms: ms };
        evaluate(&c, &policy, &facts, state).map(|_| ())
    };
    for _ in 0..3 {
        assert_eq!(at(10_000, &mut state), Ok(()));
    }
    assert_eq!(at(10_000, &mut state), Err(Denial::RateLimited));
    assert_eq!(at(10_100, &mut state), Err(Denial::RateLimited), "0.3 of a token after 100 ms");
    assert_eq!(at(10_334, &mut state), Ok(()), "one token after a third of the window");
    assert_eq!(at(9_000, &mut state), Err(Denial::RateLimited), "a clock going back refills nothing");
    assert_eq!(at(20_000, &mut state), Ok(()));
    // Denied requests do not consume tokens: the kill switch cannot drain the bucket.
    let mut fresh = RateState::default();
    let killed = Context { role: Role::Importer, kill_switch: true, now_ms: 0 };
    for _ in 0..10 {
        assert!(evaluate(&killed, &policy, &facts, &mut fresh).is_err());
    }
    assert_eq!(at(0, &mut fresh), Ok(()));
}

fn any_class() -> impl Strategy<Value = EndpointClass> {
    prop_oneof![
        Just(EndpointClass::Read),
        Just(EndpointClass::Trade),
        Just(EndpointClass::Withdraw),
        Just(EndpointClass::Account),
        Just(EndpointClass::Unknown)
    ]
}

fn any_role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Importer), Just(Role::Trader), Just(Role::Agent)]
}

proptest! {
    #[test]
    fn invariants(
        class in any_class(),
        role in any_role(),
        scope in prop::sample::select(vec!["read", "trade", "read,trade", "read,withdraw", "read,trade,withdraw"]),
        kill in any::<bool>(),
        frozen in any::<bool>(),
        notional in proptest::option::of(0u64..5000),
        now in any::<u64>(),
    ) {
        let mut policy = CredentialPolicy::new(Scope::parse_list(scope).expect("scope"));
        policy.max_notional = Decimal::parse("1000");
        if frozen {
            policy.status = CredentialStatus::Frozen;
        }
        let facts = RequestFacts {
            class,
            symbol: Some("X".into()),
            places_order: true,
            notional: notional.map(|n| Decimal::parse(&n.to_string()).expect("n")),
            cancels_only: false,
        };
        let approved = evaluate(&Context { role, kill_switch: kill, now_ms: now }, &policy, &facts, &mut RateState::default()).is_ok();
        if approved {
            // (Only a cancel passes a frozen credential; these facts place.)
            prop_assert!(!kill && !frozen);
            prop_assert!(!matches!(class, EndpointClass::Unknown | EndpointClass::Account));
            prop_assert!(class != EndpointClass::Withdraw || scope.contains("withdraw"));
            prop_assert!(role != Role::Importer || class == EndpointClass::Read);
            prop_assert!(class != EndpointClass::Trade || notional.is_some_and(|n| n <= 1000));
        }
    }
}
