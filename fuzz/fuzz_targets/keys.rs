//! Fixed recipient keys for the fuzz targets (made for fuzzing only; they
//! guard nothing). The seeds in `fuzz/seeds/` are sealed to them.
#![allow(dead_code)] // each target uses part of this module

use std::sync::OnceLock;

use sealgate_envelope::{Binding, LocalKey};

fn load(cell: &'static OnceLock<LocalKey>, jwk: &str) -> &'static LocalKey {
    cell.get_or_init(|| LocalKey::from_json(jwk.as_bytes()).expect("fixed fuzz key parses"))
}

pub fn p256() -> &'static LocalKey {
    static K: OnceLock<LocalKey> = OnceLock::new();
    load(&K, include_str!("../keys/p256.private.jwk.json"))
}

pub fn x25519() -> &'static LocalKey {
    static K: OnceLock<LocalKey> = OnceLock::new();
    load(&K, include_str!("../keys/x25519.private.jwk.json"))
}

pub fn rsa2048() -> &'static LocalKey {
    static K: OnceLock<LocalKey> = OnceLock::new();
    load(&K, include_str!("../keys/rsa2048.private.jwk.json"))
}

/// What the credential seeds are bound to.
pub fn binding() -> Binding {
    Binding {
        sub: "user-1".into(),
        cid: "0b7e4c1a-8f1e-4d52-9a53-3c1f0e2d4b6a".into(),
        exch: "binance".into(),
        aud: "signer".into(),
        now: Some(1_790_000_000),
    }
}
