//! Coinbase Advanced Trade with CDP API keys, "Advanced Trade API
//! Authentication" and CDP "JWT Authentication → Generating a JWT" of the
//! Coinbase Developer Platform docs: every request carries
//! `Authorization: Bearer <JWT>`, a fresh JWT per request, with
//! - header `{"alg", "kid": key_name, "nonce": random hex, "typ": "JWT"}`;
//! - claims `{"sub": key_name, "iss": "cdp", "nbf": now (s), "exp": nbf + 120,
//!   "uri": "METHOD api.coinbase.com/path"}` (the path without the query
//!   string, as in the docs' `f"{request_method} {request_host}{request_path}"`);
//! - signature ES256 (fixed-width `r || s`) for ECDSA keys, served as an
//!   `EC PRIVATE KEY` PEM, or EdDSA for Ed25519 keys, served as base64 of the
//!   64 bytes `seed || public key` (a PKCS#8 `PRIVATE KEY` PEM also works).
//!
//! Credential fields: `key_name` (`organizations/…/apiKeys/…`) and
//! `private_key`. The nonce is 32 random bytes in hex, as the docs' samples
//! (`secrets.token_hex()`); ECDSA signatures are randomized too, so a JWT
//! is never reproducible: tests verify it with the public key. The query
//! string and body are sent as given and are not covered by the JWT.

use aws_lc_rs::signature::Ed25519KeyPair;

use super::{Coverage, Scheme};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "coinbase",
    name: "Coinbase Advanced Trade (CDP API keys)",
    key_types: &["es256", "ed25519"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: true,
        host: true,
        path: true,
        query: false,
        body: false,
        signs: "a JWT whose `uri` claim is `METHOD host path` (no query, no body)",
    },
    plaintext_header: None,
    answer: crate::send::never,
    // https://docs.cdp.coinbase.com/advanced-trade/reference/retailbrokerageapi_getservertime
    time: Some(crate::TimeEndpoint {
        path: "/api/v3/brokerage/time",
        parse: |b| crate::send::num(crate::send::top(b, "epochMillis")?),
    }),
    content_type: crate::send::json_body,
    nonce_floor: super::no_nonce,
};

/// The host in the `uri` claim.
const HOST: &str = "api.coinbase.com";
/// JWT lifetime, seconds (the docs: "Your JWT expires after 2 minutes").
const LIFETIME_S: u64 = 120;

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let key_name = cred.key_name()?;
    let key = Key::load(cred.private_key()?)?;
    let nbf = ctx.clock.now_ms() / 1000;
    let header = serde_json::json!({
        "alg": key.alg(),
        "kid": key_name,
        "nonce": sig::hex(&sig::random::<32>()?),
        "typ": "JWT",
    });
    let claims = serde_json::json!({
        "sub": key_name,
        "iss": "cdp",
        "nbf": nbf,
        "exp": nbf + LIFETIME_S,
        "uri": format!("{} {HOST}{}", req.method, req.path),
    });
    let signing_input =
        format!("{}.{}", sig::b64url(header.to_string().as_bytes()), sig::b64url(claims.to_string().as_bytes()));
    let signature = key.sign(signing_input.as_bytes())?;
    let jwt = format!("{signing_input}.{}", sig::b64url(&signature));
    Ok(SignedRequest::from_request(req).header("Authorization", format!("Bearer {jwt}")))
}

/// A CDP private key, by kind.
enum Key<'a> {
    /// ECDSA P-256: the PEM text (`EC PRIVATE KEY` or PKCS#8).
    Es256(&'a str),
    /// Ed25519.
    Ed25519(Ed25519KeyPair),
}

impl<'a> Key<'a> {
    fn load(text: &'a str) -> Result<Self, Error> {
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN") {
            let pem = sig::pem(trimmed)?;
            return match pem.label.as_str() {
                "EC PRIVATE KEY" => Ok(Self::Es256(text)),
                // PKCS#8 holds either kind: Ed25519 if it parses as one.
                "PRIVATE KEY" => {
                    Ok(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem.der).map_or(Self::Es256(text), Self::Ed25519))
                }
                _ => {
                    Err(Error::BadKey("expected an \"EC PRIVATE KEY\" or \"PRIVATE KEY\" PEM, or a base64 Ed25519 key"))
                }
            };
        }
        // Coinbase's Ed25519 form: base64 of seed (32 bytes) || public key (32 bytes).
        let raw = sig::b64_secret("private_key", trimmed)?;
        if raw.len() != 64 {
            return Err(Error::BadKey("a base64 Ed25519 key must hold 64 bytes (seed and public key)"));
        }
        let (seed, public) = raw.split_at(32);
        Ed25519KeyPair::from_seed_and_public_key(seed, public)
            .map(Self::Ed25519)
            .map_err(|_| Error::BadKey("the Ed25519 seed and public key do not match"))
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Es256(pem) => sig::es256_sign(pem, msg),
            Self::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

/// Advanced Trade (`/api/v3/brokerage/…`) and the Coinbase App v2 endpoints
/// the same keys reach (paths, any method). Specific rows precede `{}` rows
/// with the same prefix: rows match in order.
const ROUTES: &[Route] = &[
    // Accounts, orders, fills, fees, products (reads).
    ("/api/v3/brokerage/accounts", Read),
    ("/api/v3/brokerage/accounts/{}", Read),
    ("/api/v3/brokerage/orders/historical/batch", Read),
    ("/api/v3/brokerage/orders/historical/fills", Read),
    ("/api/v3/brokerage/orders/historical/{}", Read),
    ("/api/v3/brokerage/transaction_summary", Read),
    ("/api/v3/brokerage/key_permissions", Read),
    ("/api/v3/brokerage/payment_methods", Read),
    ("/api/v3/brokerage/payment_methods/{}", Read),
    ("/api/v3/brokerage/best_bid_ask", Read),
    ("/api/v3/brokerage/product_book", Read),
    ("/api/v3/brokerage/products", Read),
    ("/api/v3/brokerage/products/{}", Read),
    ("/api/v3/brokerage/products/{}/candles", Read),
    ("/api/v3/brokerage/products/{}/ticker", Read),
    ("/api/v3/brokerage/cfm/balance_summary", Read),
    ("/api/v3/brokerage/cfm/positions", Read),
    ("/api/v3/brokerage/cfm/positions/{}", Read),
    ("/api/v3/brokerage/cfm/intraday/current_margin_window", Read),
    ("/api/v3/brokerage/intx/portfolio/{}", Read),
    ("/api/v3/brokerage/intx/positions/{}", Read),
    ("/api/v3/brokerage/intx/positions/{}/{}", Read),
    ("/api/v3/brokerage/intx/balances/{}", Read),
    ("/v2/user", Read),
    ("/v2/accounts", Read),
    ("/v2/accounts/{}", Read),
    ("/v2/accounts/{}/transactions/{}", Read),
    ("/v2/accounts/{}/addresses/{}", Read),
    ("/v2/accounts/{}/addresses/{}/transactions", Read),
    ("/v2/accounts/{}/deposits/{}", Read),
    ("/v2/accounts/{}/withdrawals/{}", Read),
    // Orders and conversions. `convert/trade/{}` reads (GET) and commits
    // (POST) a conversion.
    ("/api/v3/brokerage/orders", Trade),
    ("/api/v3/brokerage/orders/batch_cancel", Trade),
    ("/api/v3/brokerage/orders/edit", Trade),
    ("/api/v3/brokerage/orders/edit_preview", Trade),
    ("/api/v3/brokerage/orders/preview", Trade),
    ("/api/v3/brokerage/orders/close_position", Trade),
    ("/api/v3/brokerage/convert/quote", Trade),
    ("/api/v3/brokerage/convert/trade/{}", Trade),
    ("/api/v3/brokerage/cfm/intraday/margin_setting", Trade),
    ("/api/v3/brokerage/intx/multi_asset_collateral", Trade),
    // Funds leaving the account or moving between portfolios; v2
    // transactions POST sends crypto, addresses POST creates one.
    ("/api/v3/brokerage/portfolios/move_funds", Withdraw),
    ("/api/v3/brokerage/cfm/sweeps", Withdraw),
    ("/api/v3/brokerage/cfm/sweeps/schedule", Withdraw),
    ("/api/v3/brokerage/intx/allocate", Withdraw),
    ("/v2/accounts/{}/transactions", Withdraw),
    ("/v2/accounts/{}/addresses", Withdraw),
    ("/v2/accounts/{}/deposits", Withdraw),
    ("/v2/accounts/{}/deposits/{}/commit", Withdraw),
    ("/v2/accounts/{}/withdrawals", Withdraw),
    ("/v2/accounts/{}/withdrawals/{}/commit", Withdraw),
    // Portfolios: create (POST), edit (PUT), delete (DELETE).
    ("/api/v3/brokerage/portfolios", Account),
    ("/api/v3/brokerage/portfolios/{}", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EndpointClass::Unknown;
    use crate::class::classify_path;
    use crate::{FixedClock, FixedNonce};
    use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey, VerificationAlgorithm};
    use base64::Engine as _;

    const KEY_NAME: &str =
        "organizations/7d1c4e1c-0000-4000-8000-000000000001/apiKeys/0b2c4e1c-0000-4000-8000-000000000002";
    const NOW_MS: u64 = 1_700_000_000_789;

    fn cred(private_key: String) -> Credential {
        Credential { key_name: Some(KEY_NAME.into()), private_key: Some(private_key.into()), ..Credential::default() }
    }

    fn sign_at(c: &Credential, r: &Request) -> Result<SignedRequest, Error> {
        sign(c, r, &Context { clock: &FixedClock(NOW_MS), nonce: &FixedNonce(1) })
    }

    fn b64url_json(part: &str) -> serde_json::Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice(&raw).expect("json")
    }

    /// Verify the JWT of `s` with `public` and check every header member and
    /// claim; return the nonce.
    fn check_jwt(
        s: &SignedRequest,
        alg_name: &str,
        alg: &'static dyn VerificationAlgorithm,
        public: &[u8],
        uri: &str,
    ) -> String {
        assert_eq!(s.headers.len(), 1);
        assert_eq!(s.headers[0].0, "Authorization");
        let jwt = s.headers[0].1.strip_prefix("Bearer ").expect("Bearer");
        let (input, sig_part) = jwt.rsplit_once('.').expect("three parts");
        let (h, c) = input.split_once('.').expect("three parts");
        let raw_sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig_part).expect("base64url");
        UnparsedPublicKey::new(alg, public).verify(input.as_bytes(), &raw_sig).expect("JWT verifies");
        let header = b64url_json(h);
        let obj = header.as_object().expect("header object");
        assert_eq!(obj.len(), 4, "{header}");
        assert_eq!(header["alg"], alg_name);
        assert_eq!(header["kid"], KEY_NAME);
        assert_eq!(header["typ"], "JWT");
        let nonce = header["nonce"].as_str().expect("nonce").to_owned();
        assert_eq!(nonce.len(), 64);
        assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        let claims = b64url_json(c);
        assert_eq!(claims.as_object().expect("claims object").len(), 5, "{claims}");
        assert_eq!(claims["sub"], KEY_NAME);
        assert_eq!(claims["iss"], "cdp");
        assert_eq!(claims["nbf"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_000_120u64);
        assert_eq!(claims["uri"], uri);
        nonce
    }

    #[test]
    fn es256_with_an_ec_private_key_pem() {
        use aws_lc_rs::encoding::AsDer as _;
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pair = signature::EcdsaKeyPair::generate(alg).expect("generate");
        let sec1 = pair.private_key().as_der().expect("sec1");
        // As Coinbase serves it: JSON-escaped newlines in one line.
        let pem = pem_rfc7468::encode_string("EC PRIVATE KEY", pem_rfc7468::LineEnding::LF, sec1.as_ref())
            .expect("pem")
            .replace('\n', "\\n");
        let c = cred(pem);
        let r = Request::new("GET", "/api/v3/brokerage/accounts", "limit=5", "");
        let s = sign_at(&c, &r).expect("sign");
        let n1 = check_jwt(
            &s,
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref(),
            "GET api.coinbase.com/api/v3/brokerage/accounts",
        );
        assert_eq!(
            (s.method.as_str(), s.path.as_str(), s.query.as_str(), s.body.as_str()),
            ("GET", "/api/v3/brokerage/accounts", "limit=5", "")
        );
        // A fresh nonce per JWT.
        let n2 = check_jwt(
            &sign_at(&c, &r).expect("sign"),
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref(),
            "GET api.coinbase.com/api/v3/brokerage/accounts",
        );
        assert_ne!(n1, n2);
    }

    #[test]
    fn eddsa_with_coinbase_base64_seed_and_public_key() {
        use aws_lc_rs::encoding::AsBigEndian as _;
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("generate");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let seed = pair.seed().expect("seed").as_be_bytes().expect("seed bytes");
        let raw = [seed.as_ref(), pair.public_key().as_ref()].concat();
        let c = cred(sig::b64(&raw));
        let body = r#"{"client_order_id":"0000-1","product_id":"BTC-USD","side":"BUY","order_configuration":{"market_market_ioc":{"quote_size":"10"}}}"#;
        let s = sign_at(&c, &Request::new("POST", "/api/v3/brokerage/orders", "", body)).expect("sign");
        check_jwt(
            &s,
            "EdDSA",
            &signature::ED25519,
            pair.public_key().as_ref(),
            "POST api.coinbase.com/api/v3/brokerage/orders",
        );
        assert_eq!(s.body, body);

        // The same key as a PKCS#8 PEM.
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem");
        let s = sign_at(&cred(pem), &Request::new("DELETE", "/api/v3/brokerage/portfolios/abc", "", "")).expect("sign");
        check_jwt(
            &s,
            "EdDSA",
            &signature::ED25519,
            pair.public_key().as_ref(),
            "DELETE api.coinbase.com/api/v3/brokerage/portfolios/abc",
        );
    }

    #[test]
    fn es256_with_a_pkcs8_pem() {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &aws_lc_rs::rand::SystemRandom::new()).expect("gen");
        let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("pair");
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref()).expect("pem");
        let s = sign_at(&cred(pem), &Request::new("GET", "/api/v3/brokerage/key_permissions", "", "")).expect("sign");
        check_jwt(
            &s,
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED,
            pair.public_key().as_ref(),
            "GET api.coinbase.com/api/v3/brokerage/key_permissions",
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echo() {
        let r = Request::new("GET", "/api/v3/brokerage/accounts", "", "");
        for bad in [
            "SECRETSECRET".to_owned(),
            sig::b64(&[7u8; 64]),          // seed and public key do not match
            sig::b64(b"SECRET too short"), // not 64 bytes
            "-----BEGIN RSA PRIVATE KEY-----\nU0VDUkVU\n-----END RSA PRIVATE KEY-----".to_owned(),
        ] {
            let e = sign_at(&cred(bad), &r).expect_err("refused");
            assert!(matches!(e, Error::BadKey(_) | Error::MalformedField { .. }), "{e:?}");
            assert!(!format!("{e} {e:?}").contains("SECRET"));
        }
    }

    #[test]
    fn missing_fields() {
        let r = Request::new("GET", "/api/v3/brokerage/accounts", "", "");
        let c = Credential { private_key: Some("x".into()), ..Credential::default() };
        assert_eq!(sign_at(&c, &r), Err(Error::MissingField("key_name")));
        let c = Credential { key_name: Some(KEY_NAME.into()), ..Credential::default() };
        assert_eq!(sign_at(&c, &r), Err(Error::MissingField("private_key")));
    }

    #[test]
    fn classes() {
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/accounts"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/orders/historical/fills"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/orders/historical/batch"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/orders"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/orders/batch_cancel"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/orders/edit"), Trade);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/portfolios/move_funds"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/accounts/abc/transactions"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/v2/accounts/abc/transactions/def"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/portfolios"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/portfolios/abc"), Account);
        assert_eq!(classify_path(ROUTES, "/api/v3/brokerage/time"), Unknown);
    }
}
