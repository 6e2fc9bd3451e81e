//! The Content-Type rule is in one place: wherever a scheme puts a
//! `Content-Type` into the signed request itself (Kraken, Bitstamp sign
//! it), it is the one [`sealgate_exchanges::content_type`] names for the
//! body that is sent, so the sender never sends two different ones.

use sealgate_exchanges::{ALL, Context, EndpointClass, FixedClock, FixedNonce, Request, content_type};

mod common;
use common::credential;

#[test]
fn a_signed_content_type_is_the_rule() {
    let mut checked = 0;
    for s in ALL {
        let cred = credential(s);
        let (path, _) = s.routes.iter().find(|(_, c)| *c == EndpointClass::Trade).expect("a trade route");
        let path = path.replace("{}", "X1");
        for body in ["", "symbol=BTCUSDT&side=BUY", r#"{"symbol":"BTCUSDT","side":"BUY"}"#] {
            let req = Request::new("POST", &path, "", body);
            let ctx = Context { clock: &FixedClock(1_700_000_000_000), nonce: &FixedNonce(1_700_000_000_000) };
            let Ok(signed) = sealgate_exchanges::sign(s.id, &cred, &req, &ctx) else { continue };
            let rule = content_type(s.id, &signed.method, &signed.body).expect("known exchange");
            if let Some(ct) = signed.header_value("Content-Type") {
                assert_eq!(Some(ct), rule, "{} signs one Content-Type and the rule names another ({body:?})", s.id);
                checked += 1;
            }
            if !signed.body.is_empty() {
                assert!(rule.is_some(), "{}: a body with no Content-Type", s.id);
            }
        }
    }
    assert!(checked >= 8, "only {checked} signed Content-Types seen");
}
