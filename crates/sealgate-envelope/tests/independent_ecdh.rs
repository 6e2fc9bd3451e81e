//! Our private-key step agrees with an independent implementation:
//! the ECDH shared secret `Z` with RustCrypto's `p256` 0.13 and
//! `x25519-dalek` 2, and RSA-OAEP-SHA256 with `rsa` 0.9, in both directions.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rsa::traits::PublicKeyParts as _;
use sealgate_envelope::{
    AlgPolicy, Curve, DecryptionKey, EphemeralPublicKey, Jwe, LocalKey, OaepHash, PublicJwk, seal_compact,
};
use serde_json::{Map, Value, json};

/// The futures of a `LocalKey` are ready at once.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a LocalKey future was not ready"),
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn local_key(jwk: &Value) -> LocalKey {
    LocalKey::from_json(jwk.to_string().as_bytes()).expect("our LocalKey accepts the RustCrypto key")
}

#[test]
fn p256_shared_secret_matches_rustcrypto() {
    let mut rng = rand_core_rng();
    for _ in 0..8 {
        let ours = p256::SecretKey::random(&mut rng);
        let point = ours.public_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "p256-test",
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
            "d": b64(&ours.to_bytes()),
        });
        let key = local_key(&jwk);

        let peer = p256::SecretKey::random(&mut rng);
        let peer_point = peer.public_key().to_encoded_point(false);
        let epk = EphemeralPublicKey::from_coordinates(
            Curve::P256,
            peer_point.x().expect("x"),
            Some(peer_point.y().expect("y")),
        )
        .expect("valid epk");

        let z = ready(key.ecdh(&epk)).expect("our ECDH");
        let expected = p256::ecdh::diffie_hellman(ours.to_nonzero_scalar(), peer.public_key().as_affine());
        assert_eq!(z.expose_secret(), &expected.raw_secret_bytes()[..]);
        // And from the other side.
        let theirs = p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), ours.public_key().as_affine());
        assert_eq!(z.expose_secret(), &theirs.raw_secret_bytes()[..]);
    }
}

#[test]
fn x25519_shared_secret_matches_dalek() {
    let rng = rand_core_rng();
    for _ in 0..8 {
        let ours = x25519_dalek::StaticSecret::random_from_rng(rng);
        let jwk = json!({
            "kty": "OKP", "crv": "X25519", "kid": "x25519-test",
            "x": b64(x25519_dalek::PublicKey::from(&ours).as_bytes()),
            "d": b64(ours.as_bytes()),
        });
        let key = local_key(&jwk);

        let peer = x25519_dalek::StaticSecret::random_from_rng(rng);
        let peer_public = x25519_dalek::PublicKey::from(&peer);
        let epk = EphemeralPublicKey::from_coordinates(Curve::X25519, peer_public.as_bytes(), None).expect("valid epk");

        let z = ready(key.ecdh(&epk)).expect("our ECDH");
        assert_eq!(z.expose_secret(), ours.diffie_hellman(&peer_public).as_bytes());
        assert_eq!(z.expose_secret(), peer.diffie_hellman(&x25519_dalek::PublicKey::from(&ours)).as_bytes());
    }
}

/// The same RSA-2048 key in both libraries: made by us, exported as a JWK,
/// rebuilt by `rsa` 0.9 from n, e, d, p, q.
fn rsa_pair() -> (LocalKey, rsa::RsaPrivateKey) {
    let key = LocalKey::generate_rsa(2048, "rsa-test").expect("generate");
    let text = key.to_private_json().expect("export");
    let jwk: Map<String, Value> = serde_json::from_str(&text).expect("JSON");
    let big = |k: &str| rsa::BigUint::from_bytes_be(&unb64(jwk[k].as_str().expect("member")));
    let mut theirs = rsa::RsaPrivateKey::from_components(big("n"), big("e"), big("d"), vec![big("p"), big("q")])
        .expect("rsa accepts our key");
    theirs.validate().expect("consistent key");
    theirs.precompute().expect("precompute");
    assert_eq!(theirs.n().to_bytes_be(), unb64(jwk["n"].as_str().expect("n")));
    (key, theirs)
}

#[test]
fn rsa_oaep_sha256_interoperates_with_rustcrypto() {
    let (key, theirs) = rsa_pair();
    let mut rng = rand_core_rng();

    // RustCrypto wraps a CEK; our LocalKey unwraps it.
    let cek: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let wrapped =
        theirs.to_public_key().encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), &cek).expect("rsa encrypt");
    let unwrapped = ready(key.rsa_oaep_decrypt(OaepHash::Sha256, &wrapped)).expect("our decrypt");
    assert_eq!(unwrapped.expose_secret(), &cek);

    // SHA-1 OAEP (RSA-OAEP, interop only) must not accept a SHA-256 wrap.
    assert!(ready(key.rsa_oaep_decrypt(OaepHash::Sha1, &wrapped)).is_err());

    // We seal to the public key; RustCrypto unwraps the same CEK we do,
    // and the envelope opens.
    let public = PublicJwk::from_json(key.public().to_json().to_string().as_bytes()).expect("public JWK");
    let jwe = seal_compact(b"{\"api_key\":\"independent-check\"}", &public, &Map::new()).expect("seal");
    let encrypted_key = unb64(jwe.split('.').nth(1).expect("five parts"));
    let by_them = theirs.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &encrypted_key).expect("rsa decrypt");
    let by_us = ready(key.rsa_oaep_decrypt(OaepHash::Sha256, &encrypted_key)).expect("our decrypt");
    assert_eq!(by_them.len(), 32);
    assert_eq!(by_us.expose_secret(), by_them.as_slice());
    let opened = Jwe::parse(jwe.as_bytes(), &AlgPolicy::CREDENTIAL).expect("parse").open_now(&key).expect("open");
    assert_eq!(opened.expose_secret(), b"{\"api_key\":\"independent-check\"}");
}

/// RustCrypto's OS RNG (rand_core 0.6, as `rsa` 0.9 re-exports it).
fn rand_core_rng() -> rsa::rand_core::OsRng {
    rsa::rand_core::OsRng
}
