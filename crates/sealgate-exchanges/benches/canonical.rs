//! What reading a request as its exchange reads it costs the signer and the
//! agent per request (`canonicalize`: parse, check, re-produce the bytes),
//! next to the signature itself. Figures: README, "Canonical requests".

use criterion::{Criterion, criterion_group, criterion_main};
use sealgate_exchanges::{Context, Credential, FixedClock, FixedNonce, Request, canonicalize, sign};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "binance",
            Request::new(
                "POST",
                "/api/v3/order",
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=40000&timestamp=1700000000000",
                "",
            ),
        ),
        (
            "kraken",
            Request::new(
                "POST",
                "/0/private/AddOrder",
                "",
                "nonce=1&ordertype=limit&pair=XBTUSD&price=40000&type=buy&volume=0.01",
            ),
        ),
        (
            "okx",
            Request::new(
                "POST",
                "/api/v5/trade/order",
                "",
                r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.01","px":"40000"}"#,
            ),
        ),
        (
            "coinbase",
            Request::new(
                "POST",
                "/api/v3/brokerage/orders",
                "",
                r#"{"client_order_id":"c1","product_id":"BTC-USD","side":"BUY","order_configuration":{"limit_limit_gtc":{"base_size":"0.01","limit_price":"40000"}}}"#,
            ),
        ),
    ];
    let mut g = c.benchmark_group("canonicalize");
    for (id, req) in &cases {
        canonicalize(id, req).expect("a canonical order");
        g.bench_function(*id, |b| b.iter(|| canonicalize(black_box(id), black_box(req))));
    }
    g.finish();
    // The HMAC signature of the same Kraken order, for scale.
    let cred = Credential {
        api_key: Some("key".into()),
        api_secret: Some(
            "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==".into(),
        ),
        ..Credential::default()
    };
    let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(1) };
    c.bench_function("sign/kraken", |b| b.iter(|| sign("kraken", &cred, black_box(&cases[1].1), &ctx)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
