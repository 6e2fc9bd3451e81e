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

#[test]
fn facts_read_off_real_requests() {
    use sealgate_exchanges::{Request, classify, order_facts};
    let mut policy = CredentialPolicy::new(Scope::parse_list("read,trade").expect("scope"));
    policy.symbols = Some(BTreeSet::from(["BTCUSDT".to_owned()]));
    policy.max_notional = Decimal::parse("30000");
    let decide = |req: &Request| {
        let class = classify("binance", &req.path).expect("binance");
        let facts = RequestFacts::from_order(class, &order_facts("binance", req));
        evaluate(&ctx(Role::Trader), &policy, &facts, &mut RateState::default()).map(|_| ())
    };
    let limit = |qty: &str| {
        Request::new(
            "POST",
            "/api/v3/order",
            "",
            &format!("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity={qty}&price=60000&timeInForce=GTC"),
        )
    };
    assert_eq!(decide(&limit("0.5")), Ok(()));
    assert_eq!(decide(&limit("0.51")), Err(Denial::NotionalTooLarge));
    let quote = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100", "");
    assert_eq!(decide(&quote), Ok(()));
    // A market order in base units has no price to bound it: refused under a cap.
    let market = Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.1", "");
    assert_eq!(decide(&market), Err(Denial::NotionalTooLarge));
    let other = Request::new("POST", "/api/v3/order", "symbol=ETHUSDT&side=BUY&type=LIMIT&quantity=1&price=1", "");
    assert_eq!(decide(&other), Err(Denial::SymbolNotAllowed));
    let cancel = Request::new("DELETE", "/api/v3/order", "symbol=BTCUSDT&orderId=7", "");
    assert_eq!(decide(&cancel), Ok(()));
    let withdraw = Request::new("POST", "/sapi/v1/capital/withdraw/apply", "coin=BTC&address=x&amount=1", "");
    assert_eq!(decide(&withdraw), Err(Denial::NotGranted("withdraw")));
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
        };
        let approved = evaluate(&Context { role, kill_switch: kill, now_ms: now }, &policy, &facts, &mut RateState::default()).is_ok();
        if approved {
            prop_assert!(!kill && !frozen);
            prop_assert!(!matches!(class, EndpointClass::Unknown | EndpointClass::Account));
            prop_assert!(class != EndpointClass::Withdraw || scope.contains("withdraw"));
            prop_assert!(role != Role::Importer || class == EndpointClass::Read);
            prop_assert!(class != EndpointClass::Trade || notional.is_some_and(|n| n <= 1000));
        }
    }
}
