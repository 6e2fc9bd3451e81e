//! Binance spot, "SIGNED (TRADE, USER_DATA, …) Endpoint security" of the
//! Binance Spot API docs (General API Information → Request security):
//! the API key goes in `X-MBX-APIKEY`; `signature` is over `totalParams`,
//! the query string concatenated with the body, and is sent as the last
//! parameter (in the body when there is one, else in the query).
//! - HMAC-SHA256 keys: hex of HMAC(secret, totalParams).
//! - Ed25519 keys: base64 of Ed25519(totalParams), percent-encoded.
//! - RSA keys: base64 of RSASSA-PKCS1-v1_5-SHA256(totalParams), percent-encoded.
//!
//! `timestamp` (Unix ms) is required; when the request already carries it,
//! it is kept verbatim and in place, else it is appended from the clock.

use aws_lc_rs::hmac::HMAC_SHA256;

use super::{Coverage, Scheme, params};
use crate::class::EndpointClass::{Account, Read, Trade, Withdraw};
use crate::class::Route;
use crate::request::SigningKey;
use crate::{Context, Credential, Error, Request, SignedRequest, sig};

pub(crate) const SCHEME: Scheme = Scheme {
    id: "binance",
    name: "Binance (spot)",
    key_types: &["hmac", "ed25519", "rsa"],
    sign,
    routes: ROUTES,
    covers: Coverage {
        method: false,
        host: false,
        path: false,
        query: true,
        body: true,
        signs: "the query string concatenated with the body (totalParams)",
    },
    plaintext_header: None,
    answer,
    // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints#check-server-time
    time: Some(crate::TimeEndpoint {
        path: "/api/v3/time",
        parse: |b| crate::send::num(crate::send::top(b, "serverTime")?),
    }),
    content_type: crate::send::form_body,
    nonce_floor: super::no_nonce,
};

/// Binance: `{"code":-1021,"msg":"Timestamp for this request is outside of
/// the recvWindow."}` with HTTP 400 ("Error codes → 10xx - General Server or
/// Network issues").
fn answer(status: u16, body: &[u8]) -> crate::Answer {
    if status == 400 && crate::send::top_int(body, "code", -1021) {
        return crate::Answer::ClockRejected;
    }
    crate::Answer::Other
}

fn sign(cred: &Credential, req: &Request, ctx: &Context<'_>) -> Result<SignedRequest, Error> {
    req.validate()?;
    let api_key = cred.api_key()?;
    let mut out = SignedRequest::from_request(req);
    let in_body = !out.body.is_empty();
    if !params::has(&out.query, "timestamp") && !params::has(&out.body, "timestamp") {
        let ts = ctx.clock.now_ms().to_string();
        params::append(if in_body { &mut out.body } else { &mut out.query }, "timestamp", &ts);
    }
    let total = [out.query.as_bytes(), out.body.as_bytes()].concat();
    let signature = match cred.signing_key("give api_secret (HMAC) or private_key (Ed25519/RSA), not both")? {
        SigningKey::Hmac(secret) => sig::hex(sig::hmac(HMAC_SHA256, secret.as_bytes(), &[&total]).as_ref()),
        SigningKey::Pem(pem) => {
            // A PKCS#8 key is Ed25519 or RSA; try Ed25519 first (cheap to refuse).
            let raw = match sig::ed25519_sign(pem, &total) {
                Ok(s) => s,
                Err(_) => sig::rsa_pkcs1_sha256_sign(pem, &total)?,
            };
            sig::url_encode(&sig::b64(&raw))
        }
        // Binance takes both kinds of held key, and signs the same bytes with either.
        SigningKey::Held(key) => sig::url_encode(&sig::b64(&key.sign(&total)?)),
    };
    params::append(if in_body { &mut out.body } else { &mut out.query }, "signature", &signature);
    Ok(out.header("X-MBX-APIKEY", api_key))
}

/// Spot and wallet endpoints (paths, any method).
const ROUTES: &[Route] = &[
    // Account and order reads.
    ("/api/v3/account", Read),
    ("/api/v3/account/commission", Read),
    ("/api/v3/myTrades", Read),
    ("/api/v3/allOrders", Read),
    ("/api/v3/allOrderList", Read),
    ("/api/v3/openOrderList", Read),
    ("/api/v3/rateLimit/order", Read),
    ("/api/v3/myPreventedMatches", Read),
    ("/api/v3/myAllocations", Read),
    ("/sapi/v1/capital/config/getall", Read),
    ("/sapi/v1/capital/deposit/hisrec", Read),
    ("/sapi/v1/capital/withdraw/history", Read),
    ("/sapi/v1/asset/assetDividend", Read),
    ("/sapi/v1/asset/tradeFee", Read),
    ("/sapi/v3/asset/getUserAsset", Read),
    ("/sapi/v1/account/status", Read),
    ("/sapi/v1/account/apiTradingStatus", Read),
    ("/sapi/v1/account/apiRestrictions", Read),
    // Orders: these paths also cancel (DELETE), so the whole path is trade.
    ("/api/v3/order", Trade),
    ("/api/v3/order/test", Trade),
    ("/api/v3/order/cancelReplace", Trade),
    ("/api/v3/order/amend/keepPriority", Trade),
    ("/api/v3/openOrders", Trade),
    ("/api/v3/orderList", Trade),
    ("/api/v3/orderList/oco", Trade),
    ("/api/v3/orderList/oto", Trade),
    ("/api/v3/orderList/otoco", Trade),
    ("/api/v3/order/oco", Trade),
    ("/api/v3/sor/order", Trade),
    ("/api/v3/sor/order/test", Trade),
    ("/sapi/v1/asset/dust", Trade),
    // Funds leaving the account or moving between accounts.
    ("/sapi/v1/capital/withdraw/apply", Withdraw),
    ("/sapi/v1/capital/deposit/address", Withdraw),
    ("/sapi/v1/capital/deposit/address/list", Withdraw),
    ("/sapi/v1/asset/transfer", Withdraw),
    ("/sapi/v1/futures/transfer", Withdraw),
    ("/sapi/v1/margin/transfer", Withdraw),
    ("/sapi/v1/sub-account/transfer/subToSub", Withdraw),
    ("/sapi/v1/sub-account/transfer/subToMaster", Withdraw),
    ("/sapi/v1/sub-account/universalTransfer", Withdraw),
    ("/sapi/v1/sub-account/futures/transfer", Withdraw),
    ("/sapi/v1/sub-account/margin/transfer", Withdraw),
    ("/sapi/v1/sub-account/futures/internalTransfer", Withdraw),
    // Keys and sub-accounts.
    ("/sapi/v1/sub-account/virtualSubAccount", Account),
    ("/sapi/v1/sub-account/list", Account),
    ("/sapi/v1/sub-account/subAccountApi/ipRestriction", Account),
    ("/sapi/v1/sub-account/subAccountApi/ipRestriction/ipList", Account),
    ("/api/v3/userDataStream", Account),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedClock, FixedNonce};

    /// The example key and secret of the Binance Spot API docs ("SIGNED
    /// Endpoint Examples for POST /api/v3/order").
    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn cred() -> Credential {
        Credential { api_key: Some(KEY.into()), api_secret: Some(SECRET.into()), ..Credential::default() }
    }

    fn req(query: &str, body: &str) -> Request {
        Request { method: "POST".into(), path: "/api/v3/order".into(), query: query.into(), body: body.into() }
    }

    fn ctx_sign(r: &Request) -> SignedRequest {
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        sign(&cred(), r, &ctx).expect("sign")
    }

    const PARAMS: &str = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const DOC_SIG: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";

    #[test]
    fn doc_example_1_query_string() {
        let s = ctx_sign(&req(PARAMS, ""));
        assert_eq!(s.query, format!("{PARAMS}&signature={DOC_SIG}"));
        assert_eq!(s.headers, [("X-MBX-APIKEY".to_owned(), KEY.to_owned())]);
        assert_eq!(s.body, "");
    }

    #[test]
    fn doc_example_2_body() {
        let s = ctx_sign(&req("", PARAMS));
        assert_eq!(s.body, format!("{PARAMS}&signature={DOC_SIG}"));
        assert_eq!(s.query, "");
    }

    #[test]
    fn doc_example_3_mixed() {
        let s = ctx_sign(&req(
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
        ));
        assert_eq!(
            s.body,
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn timestamp_is_added_from_the_clock_when_absent() {
        let ctx = Context { clock: &FixedClock(1_700_000_000_123), nonce: &FixedNonce(1) };
        let s = sign(
            &cred(),
            &Request {
                method: "GET".into(),
                path: "/api/v3/account".into(),
                query: String::new(),
                body: String::new(),
            },
            &ctx,
        )
        .expect("sign");
        assert!(s.query.starts_with("timestamp=1700000000123&signature="), "{}", s.query);
    }

    /// Sign with an asymmetric key and verify as Binance does: with the
    /// registered public key over the same totalParams.
    fn asymmetric(pkcs8: &[u8], public: &[u8], alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm) {
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8).expect("pem");
        let cred = Credential { api_key: Some(KEY.into()), private_key: Some(pem.into()), ..Credential::default() };
        let ctx = Context { clock: &FixedClock(1), nonce: &FixedNonce(1) };
        let s = sign(&cred, &req("", PARAMS), &ctx).expect("sign");
        let (params, sig_param) = s.body.rsplit_once("&signature=").expect("signature last");
        assert_eq!(params, PARAMS);
        let decoded: String = {
            // Undo the percent-encoding of base64's + / =.
            let mut out = String::new();
            let mut it = sig_param.chars();
            while let Some(c) = it.next() {
                if c == '%' {
                    let h: String = it.by_ref().take(2).collect();
                    out.push(char::from(u8::from_str_radix(&h, 16).expect("hex")));
                } else {
                    out.push(c);
                }
            }
            out
        };
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(decoded).expect("base64");
        aws_lc_rs::signature::UnparsedPublicKey::new(alg, public).verify(PARAMS.as_bytes(), &raw).expect("verifies");
    }

    #[test]
    fn ed25519_and_rsa_keys_sign_verifiably() {
        use aws_lc_rs::encoding::AsDer as _;
        use aws_lc_rs::signature::KeyPair as _;
        let ed =
            aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).expect("ed");
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ed.as_ref()).expect("ed pair");
        asymmetric(ed.as_ref(), pair.public_key().as_ref(), &aws_lc_rs::signature::ED25519);
        let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let der = rsa.as_der().expect("der");
        asymmetric(der.as_ref(), rsa.public_key().as_ref(), &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256);
    }

    #[test]
    fn classes() {
        use crate::class::classify_path;
        assert_eq!(classify_path(ROUTES, "/api/v3/account"), Read);
        assert_eq!(classify_path(ROUTES, "/api/v3/order"), Trade);
        assert_eq!(classify_path(ROUTES, "/sapi/v1/capital/withdraw/apply"), Withdraw);
        assert_eq!(classify_path(ROUTES, "/sapi/v1/capital/withdraw/applyx"), crate::EndpointClass::Unknown);
    }
}
