//! Seal and open for P-256, X25519 and RSA-3072, and beside them the bare
//! private-key operation an open performs, from aws-lc-rs (what we use) and
//! from RustCrypto (`p256` 0.13, `x25519-dalek` 2, `rsa` 0.9).
//!
//! Targets (issue): open <= 1.1x the bare key agreement it performs, and that
//! key agreement no slower than the fastest well-kept library beside it.
//! Figures and ratios: `BENCHMARKS.md` beside this crate.
//!
//! `cargo bench -p sealgate-envelope` measures; `cargo test --all-targets`
//! runs each benchmark once (criterion's test mode).

use std::hint::black_box;
use std::time::Duration;

use aes_kw::KeyInit as _;
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{
    KeyPair, KeyPairComponents, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey,
    PublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime};
use sealgate_envelope::{
    AlgPolicy, Binding, Curve, EphemeralPublicKey, Jwe, LocalKey, Scope, SealRequest, concat_kdf, open_credential_now,
    seal_compact, seal_credential,
};
use serde_json::{Map, Value};

/// A credential-like plaintext (178 bytes).
const PLAINTEXT: &[u8] = br#"{"api_key":"k3Jx9QmVtR2bW8yLpZs4NcHd7GfA1eUo","api_secret":"Yt6vQ2mN8rXc4LwJ0sKb9HdPz3FgTa5eRu7iOy1lMnBvCxZq","passphrase":"correct-horse-battery","note":"sub-account 7 trading"}"#;

const POLICY: AlgPolicy = AlgPolicy::CREDENTIAL;

/// The private JWK members of a key, decoded.
struct Members(Map<String, Value>);

impl Members {
    fn of(key: &LocalKey) -> Self {
        let text = key.to_private_json().expect("export private JWK");
        match serde_json::from_str(&text).expect("JWK is JSON") {
            Value::Object(m) => Self(m),
            _ => panic!("JWK is not an object"),
        }
    }

    fn get(&self, k: &str) -> Vec<u8> {
        let s = self.0.get(k).and_then(Value::as_str).expect("JWK member");
        URL_SAFE_NO_PAD.decode(s).expect("base64url")
    }
}

/// Part `i` of a compact JWE, decoded.
fn compact_part(jwe: &str, i: usize) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(jwe.split('.').nth(i).expect("five parts")).expect("base64url")
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
}

/// seal, open (and for P-256 open_credential), aws-lc-rs bare ECDH,
/// RustCrypto bare ECDH.
fn ecdh_group(c: &mut Criterion, name: &str, curve: Curve) {
    let key = LocalKey::generate_ec(curve, &format!("bench-{name}")).expect("generate key");
    let public = key.public().clone();
    let d = Members::of(&key).get("d");
    let jwe = seal_compact(PLAINTEXT, &public, &Map::new()).expect("seal");
    // The peer point exactly as open receives it: the envelope's epk.
    let parsed = Jwe::parse(jwe.as_bytes(), &POLICY).expect("parse");
    let epk = parsed.recipients()[0].epk().expect("epk").encoded().to_vec();
    let alg = match curve {
        Curve::P256 => &agreement::ECDH_P256,
        Curve::X25519 => &agreement::X25519,
        _ => unreachable!("benchmarked curves"),
    };
    let aws_key = PrivateKey::from_private_key(alg, &d).expect("aws-lc private key");

    let mut g = c.benchmark_group(name);
    configure(&mut g);
    g.bench_function("seal", |b| b.iter(|| seal_compact(black_box(PLAINTEXT), &public, &Map::new()).expect("seal")));
    g.bench_function("open", |b| {
        b.iter(|| {
            let jwe = Jwe::parse(black_box(jwe.as_bytes()), &POLICY).expect("parse");
            jwe.open_now(&key).expect("open")
        })
    });
    // Where open's time over the bare agreement goes: parsing (JSON,
    // base64url, epk validation) and the epk point check alone.
    g.bench_function("parse", |b| b.iter(|| Jwe::parse(black_box(jwe.as_bytes()), &POLICY).expect("parse")));
    let (x, y) = match curve {
        Curve::X25519 => (epk.clone(), None),
        _ => (epk[1..33].to_vec(), Some(epk[33..].to_vec())),
    };
    g.bench_function("epk_validate", |b| {
        b.iter(|| EphemeralPublicKey::from_coordinates(curve, black_box(&x), y.as_deref()).expect("epk"))
    });
    if curve == Curve::P256 {
        // The pure steps after the agreement (the same for every curve).
        let z =
            agreement::agree(&aws_key, UnparsedPublicKey::new(alg, &epk[..]), (), |z| Ok(z.to_vec())).expect("agree");
        g.bench_function("concat_kdf", |b| b.iter(|| concat_kdf(black_box(&z), "ECDH-ES+A256KW", b"", b"", 32)));
        let kek = concat_kdf(&z, "ECDH-ES+A256KW", b"", b"", 32);
        let wrapped = compact_part(&jwe, 1);
        g.bench_function("aes_kw_unwrap", |b| {
            let mut cek = [0u8; 32];
            b.iter(|| {
                let kw = aes_kw::KwAes256::new_from_slice(black_box(&kek[..])).expect("kek");
                kw.unwrap_key(black_box(&wrapped[..]), &mut cek).expect("unwrap").len()
            })
        });
        let req = SealRequest {
            sub: "user-1".into(),
            cid: "0b7e4c1a-8f1e-4d52-9a53-3c1f0e2d4b6a".into(),
            exch: "binance".into(),
            aud: "signer".into(),
            scope: Scope::parse_list("read,trade").expect("scope"),
            iat: 1_790_000_000,
            own: None,
        };
        let binding = Binding {
            sub: req.sub.clone(),
            cid: req.cid.clone(),
            exch: req.exch.clone(),
            aud: req.aud.clone(),
            now: None,
        };
        let (envelope, _) = seal_credential(PLAINTEXT, &public, &req).expect("seal credential");
        g.bench_function("open_credential", |b| {
            b.iter(|| open_credential_now(black_box(envelope.as_bytes()), &key, &binding).expect("open credential"))
        });
    }
    g.bench_function("ecdh_aws_lc_rs", |b| {
        b.iter(|| {
            agreement::agree(&aws_key, UnparsedPublicKey::new(alg, black_box(&epk[..])), (), |z| Ok(black_box(z[0])))
                .expect("agree")
        })
    });
    match curve {
        Curve::P256 => {
            let secret = p256::SecretKey::from_slice(&d).expect("p256 secret");
            let scalar = secret.to_nonzero_scalar();
            g.bench_function("ecdh_rustcrypto_p256", |b| {
                b.iter(|| {
                    let peer = p256::PublicKey::from_sec1_bytes(black_box(&epk[..])).expect("point");
                    let z = p256::ecdh::diffie_hellman(scalar, peer.as_affine());
                    black_box(z.raw_secret_bytes()[0])
                })
            });
        }
        Curve::X25519 => {
            let secret = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(&d[..]).expect("32 bytes"));
            g.bench_function("ecdh_rustcrypto_x25519_dalek", |b| {
                b.iter(|| {
                    let peer_bytes: [u8; 32] = black_box(&epk[..]).try_into().expect("32 bytes");
                    let peer = x25519_dalek::PublicKey::from(peer_bytes);
                    let z = secret.diffie_hellman(&peer);
                    black_box(z.as_bytes()[0])
                })
            });
        }
        _ => unreachable!("benchmarked curves"),
    }
    g.finish();
}

fn p256(c: &mut Criterion) {
    ecdh_group(c, "p256", Curve::P256);
}

fn x25519(c: &mut Criterion) {
    ecdh_group(c, "x25519", Curve::X25519);
}

/// seal, open, aws-lc-rs bare OAEP-SHA256 decrypt, RustCrypto bare decrypt.
fn rsa3072(c: &mut Criterion) {
    let key = LocalKey::generate_rsa(3072, "bench-rsa3072").expect("generate key");
    let public = key.public().clone();
    let m = Members::of(&key);
    let (n, e, d, p, q, dp, dq, qi) =
        (m.get("n"), m.get("e"), m.get("d"), m.get("p"), m.get("q"), m.get("dp"), m.get("dq"), m.get("qi"));
    let jwe = seal_compact(PLAINTEXT, &public, &Map::new()).expect("seal");
    let wrapped = compact_part(&jwe, 1);

    let pair = KeyPair::from_components(&KeyPairComponents {
        public_key: PublicKeyComponents { n: &n[..], e: &e[..] },
        d: &d[..],
        p: &p[..],
        q: &q[..],
        dP: &dp[..],
        dQ: &dq[..],
        qInv: &qi[..],
    })
    .expect("aws-lc key pair");
    let der = pair.as_der().expect("pkcs8");
    let aws_key = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(der.as_ref()).expect("pkcs8"))
        .expect("oaep key");

    let big = |b: &[u8]| rsa::BigUint::from_bytes_be(b);
    let mut rc_key =
        rsa::RsaPrivateKey::from_components(big(&n), big(&e), big(&d), vec![big(&p), big(&q)]).expect("rsa key");
    rc_key.precompute().expect("precompute");

    let mut g = c.benchmark_group("rsa3072");
    configure(&mut g);
    // A few ms per op: flat sampling with fewer samples keeps each bench near 3 s.
    g.sampling_mode(SamplingMode::Flat).sample_size(30);
    g.bench_function("seal", |b| b.iter(|| seal_compact(black_box(PLAINTEXT), &public, &Map::new()).expect("seal")));
    g.bench_function("open", |b| {
        b.iter(|| {
            let jwe = Jwe::parse(black_box(jwe.as_bytes()), &POLICY).expect("parse");
            jwe.open_now(&key).expect("open")
        })
    });
    g.bench_function("oaep_decrypt_aws_lc_rs", |b| {
        let mut out = vec![0u8; aws_key.min_output_size()];
        b.iter(|| {
            aws_key.decrypt(&OAEP_SHA256_MGF1SHA256, black_box(&wrapped[..]), &mut out, None).expect("decrypt").len()
        })
    });
    g.bench_function("oaep_decrypt_rustcrypto_rsa", |b| {
        b.iter(|| rc_key.decrypt(rsa::Oaep::new::<sha2::Sha256>(), black_box(&wrapped[..])).expect("decrypt"))
    });
    // rsa 0.9's `decrypt` does no blinding; the blinded call is the one a
    // careful user would pick (aws-lc always blinds).
    g.bench_function("oaep_decrypt_rustcrypto_rsa_blinded", |b| {
        let mut rng = rsa::rand_core::OsRng;
        b.iter(|| {
            rc_key
                .decrypt_blinded(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), black_box(&wrapped[..]))
                .expect("decrypt")
        })
    });
    g.finish();
}

criterion_group!(benches, p256, x25519, rsa3072);
criterion_main!(benches);
