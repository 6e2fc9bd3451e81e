//! Replay: for every scheme where `sign` hands out a signature (Gate,
//! Bitstamp, Deribit; `Scheme::check_sign`), the signed request changed in
//! method, path, query or body is refused by a verifier. The sandbox has no
//! venue for these, so each verifier is written here from the exchange's
//! documentation, on aws-lc-rs directly, sharing nothing with the schemes'
//! signing code (`tests/coverage.rs` re-signs with the scheme itself; this
//! checks the signature as the exchange would, from what it receives).

use aws_lc_rs::{digest, hmac};
use sealgate_exchanges::{ALL, Context, Credential, FixedClock, FixedNonce, Request, SignedRequest};

const KEY: &str = "replay-key";
const SECRET: &str = "replay-secret-0123456789";

/// An exchange's check of a received request.
type Verifier = fn(&SignedRequest) -> bool;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mac(alg: hmac::Algorithm, msg: &[u8]) -> String {
    hex(hmac::sign(&hmac::Key::new(alg, SECRET.as_bytes()), msg).as_ref())
}

fn header<'a>(s: &'a SignedRequest, name: &str) -> Option<&'a str> {
    s.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Gate API v4 "API Signature string generation": HMAC-SHA512 hex over
/// `METHOD\nURL path\nquery\nhex(SHA512(body))\nTimestamp`.
fn gate_accepts(r: &SignedRequest) -> bool {
    let (Some(ts), Some(sig), Some(KEY)) = (header(r, "Timestamp"), header(r, "SIGN"), header(r, "KEY")) else {
        return false;
    };
    let body_hash = hex(digest::digest(&digest::SHA512, r.body.as_bytes()).as_ref());
    let s = format!("{}\n{}\n{}\n{body_hash}\n{ts}", r.method, r.path, r.query);
    mac(hmac::HMAC_SHA512, s.as_bytes()) == sig
}

/// Bitstamp v2 "Authentication": HMAC-SHA256 hex over `BITSTAMP key` +
/// method + `www.bitstamp.net` + path + `?query` + content type + nonce +
/// timestamp + `v2` + body, the content type as received (none without a
/// body).
fn bitstamp_accepts(r: &SignedRequest) -> bool {
    let (Some(auth), Some(sig), Some(nonce), Some(ts), Some("v2")) = (
        header(r, "X-Auth"),
        header(r, "X-Auth-Signature"),
        header(r, "X-Auth-Nonce"),
        header(r, "X-Auth-Timestamp"),
        header(r, "X-Auth-Version"),
    ) else {
        return false;
    };
    if auth != format!("BITSTAMP {KEY}") {
        return false;
    }
    let query = if r.query.is_empty() { String::new() } else { format!("?{}", r.query) };
    let ct = if r.body.is_empty() { "" } else { header(r, "Content-Type").unwrap_or("") };
    let msg = format!("{auth}{}www.bitstamp.net{}{query}{ct}{nonce}{ts}v2{}", r.method, r.path, r.body);
    mac(hmac::HMAC_SHA256, msg.as_bytes()).eq_ignore_ascii_case(sig)
}

/// Deribit "HMAC-SHA256 signature over HTTP": `Authorization:
/// deri-hmac-sha256 id=…,ts=…,sig=…,nonce=…`, the signature HMAC-SHA256 hex
/// over `ts\nnonce\nMETHOD\nURI\nbody\n`, URI the path with `?query`.
fn deribit_accepts(r: &SignedRequest) -> bool {
    let Some(fields) = header(r, "Authorization").and_then(|a| a.strip_prefix("deri-hmac-sha256 ")) else {
        return false;
    };
    let get = |k: &str| fields.split(',').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='));
    let (Some(KEY), Some(ts), Some(sig), Some(nonce)) = (get("id"), get("ts"), get("sig"), get("nonce")) else {
        return false;
    };
    let uri = if r.query.is_empty() { r.path.clone() } else { format!("{}?{}", r.path, r.query) };
    let msg = format!("{ts}\n{nonce}\n{}\n{uri}\n{}\n", r.method.to_ascii_uppercase(), r.body);
    mac(hmac::HMAC_SHA256, msg.as_bytes()) == sig
}

#[test]
fn a_signed_request_changed_in_any_part_is_refused() {
    let cred = || Credential { api_key: Some(KEY.into()), api_secret: Some(SECRET.into()), ..Credential::default() };
    // Per scheme: its verifier, a trade request, and another endpoint to replay the signature at.
    let cases: [(&str, Verifier, Request, &str); 3] = [
        (
            "gate",
            gate_accepts,
            Request::new("POST", "/api/v4/spot/orders", "account=spot", r#"{"currency_pair":"BTC_USDT","amount":"1"}"#),
            "/api/v4/withdrawals",
        ),
        (
            "bitstamp",
            bitstamp_accepts,
            Request::new("POST", "/api/v2/buy/btcusd/", "", "amount=0.1&price=100"),
            "/api/v2/btc_withdrawal/",
        ),
        (
            "deribit",
            deribit_accepts,
            Request::new("GET", "/api/v2/private/buy", "instrument_name=BTC-PERPETUAL&amount=10", ""),
            "/api/v2/private/withdraw",
        ),
    ];
    let allowed: Vec<&str> = ALL.iter().filter(|s| s.check_sign().is_ok()).map(|s| s.id).collect();
    assert_eq!(allowed, cases.iter().map(|c| c.0).collect::<Vec<_>>(), "a verifier for every scheme `sign` allows");
    for (id, accepts, req, elsewhere) in cases {
        let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(1_700_000_000_001) };
        let signed = sealgate_exchanges::sign(id, &cred(), &req, &ctx).expect("sign");
        assert!(accepts(&signed), "{id}: the verifier accepts the request as signed");
        let changed = |f: &dyn Fn(&mut SignedRequest)| {
            let mut s = signed.clone();
            f(&mut s);
            s
        };
        let other_method = if signed.method == "GET" { "POST" } else { "GET" };
        for (what, s) in [
            ("method", changed(&|s| s.method = other_method.into())),
            ("method (DELETE)", changed(&|s| s.method = "DELETE".into())),
            ("path", changed(&|s| s.path = elsewhere.into())),
            ("query", changed(&|s| s.query = format!("{}&x=1", s.query))),
            ("query (set)", changed(&|s| s.query = "amount=5000".into())),
            ("body", changed(&|s| s.body = format!("{} ", s.body))),
            ("body (set)", changed(&|s| s.body = "amount=5000&address=attacker".into())),
        ] {
            assert!(!accepts(&s), "{id}: the signature still verifies with its {what} changed: {s:?}");
        }
    }
}
