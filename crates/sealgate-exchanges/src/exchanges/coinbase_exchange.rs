//! Coinbase Exchange (formerly Coinbase Pro), "Exchange REST API
//! Authentication → Signing Requests / Selecting a Timestamp / Signing a
//! Message" of the Coinbase Exchange docs:
//! - `CB-ACCESS-KEY`: the API key;
//! - `CB-ACCESS-TIMESTAMP`: seconds since the Unix epoch (we send integers);
//! - `CB-ACCESS-SIGN`: base64 of HMAC-SHA256(base64-decoded secret,
//!   timestamp + METHOD + requestPath + body), where requestPath carries the
//!   query string (`/fills?product_id=BTC-USD`) as the request is sent and
//!   body is the raw JSON body (empty when there is none);
//! - `CB-ACCESS-PASSPHRASE`: the passphrase chosen with the key, in clear.
//!
//! The timestamp travels in a header only, so it always comes from the clock.
//! Coinbase Prime's legacy keys sign differently (`X-CB-ACCESS-*` headers,
//! secret not decoded, no query in the prehash) and are not this scheme.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "coinbase-exchange",
    name: "Coinbase Exchange (legacy HMAC keys)",
    key_types: &["hmac"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: false,
        path: true,
        query: true,
        body: true,
        signs: "timestamp + METHOD + path?query + body",
    },
    plaintext_header: Some("CB-ACCESS-PASSPHRASE"),
    answer,
    time: None,
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// Coinbase Exchange: `{"message":"request timestamp expired"}` (the
/// documented 30 s window; the only error field it has is `message`,
/// compared whole).
fn answer(status: u16, body: &[u8]) -> crate::Answer {
    if matches!(status, 400 | 401) && crate::send::top_str(body, "message", "request timestamp expired") {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let secret = sig::b64_secret("api_secret", cred.api_secret()?)?;
    let passphrase = cred.passphrase()?;
    let ts = (ctx.clock.now_ms() / 1000).to_string();
    let signature = sig::b64(sig::hmac(HMAC_SHA256, &secret, &[prehash(&ts, req).as_bytes()]).as_ref());
    Ok(SignedRequest::from_request(req)
        .header("CB-ACCESS-KEY", api_key)
        .header("CB-ACCESS-SIGN", signature)
        .header("CB-ACCESS-TIMESTAMP", ts)
        .header("CB-ACCESS-PASSPHRASE", passphrase))
}

/// `timestamp + METHOD + requestPath(?query) + body`.
fn prehash(ts: &str, req: &Request) -> String {
    format!("{ts}{}{}{}", req.method, req.path_and_query(), req.body)
}

/// Exchange REST endpoints (paths, any method; `{}` = an id).
const ROUTES: &[Route] = &[
    // Accounts, fills, fees, transfers, reports.
    ("/accounts", Read),
    ("/accounts/{}", Read),
    ("/accounts/{}/holds", Read),
    ("/accounts/{}/ledger", Read),
    ("/accounts/{}/transfers", Read),
    ("/coinbase-accounts", Read),
    ("/fills", Read),
    ("/fees", Read),
    ("/transfers", Read),
    ("/transfers/{}", Read),
    ("/payment-methods", Read),
    ("/withdrawals/fee-estimate", Read),
    ("/conversions/{}", Read),
    ("/conversions/fees", Read),
    ("/reports", Read),
    ("/reports/{}", Read),
    ("/users/self/exchange-limits", Read),
    ("/users/{}/exchange-limits", Read),
    ("/users/self/verify", Read),
    // Orders: `/orders` lists (GET), places (POST) and cancels all (DELETE);
    // `/orders/{}` (also `client:<id>`) reads and cancels one.
    ("/orders", Trade),
    ("/orders/{}", Trade),
    ("/conversions", Trade),
    // Funds leaving the profile or moving between profiles; a crypto
    // deposit address is created by POST /coinbase-accounts/{}/addresses.
    ("/withdrawals/crypto", Withdraw),
    ("/withdrawals/coinbase-account", Withdraw),
    ("/withdrawals/payment-method", Withdraw),
    ("/deposits/coinbase-account", Withdraw),
    ("/deposits/payment-method", Withdraw),
    ("/coinbase-accounts/{}/addresses", Withdraw),
    ("/profiles/transfer", Withdraw),
    ("/transfers/{}/travel-rules", Withdraw),
    // Profiles (sub-accounts), address book, travel-rule records.
    ("/profiles", Account),
    ("/profiles/{}/rename", Account),
    ("/profiles/{}/deactivate", Account),
    ("/address-book", Account),
    ("/address-book/{}", Account),
    ("/travel-rules", Account),
    ("/travel-rules/{}", Account),
    // Last: it would shadow `/profiles/transfer` (rows match in order).
    ("/profiles/{}", Read),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};

    // The docs publish no signature example; expected values were computed
    // independently (Python `hmac`, `base64.b64decode(secret)` as the key).
    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";

    fn cred() -> Credential {
        Credential {
            api_key: Some("cb-key".into()),
            api_secret: Some(SECRET.into()),
            passphrase: Some("cb-pass".into()),
            ..Credential::default()
        }
    }

    fn sign_at(ms: u64, r: &Request) -> SignedRequest {
        sign(&cred(), r, &Context { clock: &FixedClock(ms), nonce: &FixedNonce(1) }).expect("sign")
    }

    #[test]
    fn get_with_query_signs_path_and_query() {
        let r = Request::new("GET", "/fills", "product_id=BTC-USD&limit=5", "");
        assert_eq!(prehash("1700000000", &r), "1700000000GET/fills?product_id=BTC-USD&limit=5");
        let s = sign_at(1_700_000_000_999, &r);
        assert_eq!(
            s.headers,
            [
                ("CB-ACCESS-KEY".to_owned(), "cb-key".to_owned()),
                ("CB-ACCESS-SIGN".to_owned(), "GE6WAhffDwl8+9s0Dt6cYZCOwlSC/Jj9xKjIkIbCNF8=".to_owned()),
                ("CB-ACCESS-TIMESTAMP".to_owned(), "1700000000".to_owned()),
                ("CB-ACCESS-PASSPHRASE".to_owned(), "cb-pass".to_owned()),
            ]
        );
        assert_eq!(s.query, "product_id=BTC-USD&limit=5");
    }

    #[test]
    fn post_body_is_signed_and_sent_verbatim() {
        let body = r#"{"product_id":"BTC-USD","side":"buy","type":"limit","price":"1.0","size":"1.0"}"#;
        let s = sign_at(1_700_000_000_000, &Request::new("POST", "/orders", "", body));
        assert_eq!(
            s.header_value("CB-ACCESS-SIGN").expect("CB-ACCESS-SIGN"),
            "F7+fYZee49yRDTMP9/t8EjbpI+BqOxqecorZree3WVk="
        );
        assert_eq!(s.body, body);
    }

    #[test]
    fn timestamp_is_clock_seconds() {
        let s = sign_at(1_234_567_890_123, &Request::new("GET", "/accounts", "", ""));
        assert_eq!(s.header_value("CB-ACCESS-TIMESTAMP").expect("CB-ACCESS-TIMESTAMP"), "1234567890");
    }

    #[test]
    fn missing_and_malformed_fields() {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let r = Request::new("GET", "/accounts", "", "");
        let mut c = cred();
        c.passphrase = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("passphrase")));
        let mut c = cred();
        c.api_key = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_key")));
        let mut c = cred();
        c.api_secret = None;
        assert_eq!(sign(&c, &r, &ctx), Err(Error::MissingField("api_secret")));
        let mut c = cred();
        c.api_secret = Some("not base64 SECRET!".into());
        let e = sign(&c, &r, &ctx).expect_err("malformed");
        assert!(matches!(e, Error::MalformedField { field: "api_secret", .. }));
        assert!(!format!("{e} {e:?}").contains("SECRET"));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/accounts"), Read);
        assert_eq!(classify_path(ROUTES, "/accounts/71452118-efc7-4cc4-8780-a5e22d4baa53/ledger"), Read);
        assert_eq!(classify_path(ROUTES, "/fills"), Read);
        assert_eq!(classify_path(ROUTES, "/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/orders/client:my-oid"), Trade);
        assert_eq!(classify_path(ROUTES, "/withdrawals/crypto"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/profiles/transfer"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/coinbase-accounts/abc/addresses"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/profiles"), Account);
        assert_eq!(classify_path(ROUTES, "/address-book"), Account);
        assert_eq!(classify_path(ROUTES, "/products"), Unknown);
        assert_eq!(classify_path(ROUTES, "/withdrawals/crypto/x"), Unknown);
    }
}
