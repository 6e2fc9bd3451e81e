//! A deployment seeded for the CLI tests that act on many envelopes at once (`keys
//! rewrap`, `incident`): a local keyring with trader and importer keys, and `n` trader
//! envelopes sealed to trader v1 over 500 users, each secret starting with a canary.

#![allow(dead_code)] // each test file uses its own part

use sealgate_custody::config::CustodyConfig;
use sealgate_envelope::{OwnerKeys, Scope, SealRequest, seal_credential};
use sealgate_store::{NewCredential, NewEnvelope, Store};
use sqlx::Connection as _;

use crate::common::{TempDir, ok, p, run};

pub struct Deployment {
    pub dir: TempDir,
    pub config: String,
    pub url: String,
    pub pin: String,
    pub old: String,
    pub canary: &'static str,
}

impl Deployment {
    pub fn secret(&self, i: usize) -> String {
        format!("{}-{i:06}", self.canary)
    }
}

pub fn cid(i: usize) -> String {
    format!("c{i:06}")
}

/// Every seventh credential names an owner authority (PROFILE C8), which a re-wrap must keep.
pub fn own(i: usize) -> Option<OwnerKeys> {
    const A: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    const B: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    match i % 7 {
        0 => Some(OwnerKeys::new([A, B]).expect("own")),
        3 => Some(OwnerKeys::new([B]).expect("own")),
        _ => None,
    }
}

pub fn owner(i: usize) -> String {
    format!("u{:04}", i % 500)
}

/// A keyring with trader and importer keys, and `n` trader envelopes sealed to trader v1.
pub async fn deploy(tag: &str, url: &str, n: usize, canary: &'static str) -> Deployment {
    let dir = TempDir::new(tag);
    let config = dir.0.join("custody.toml");
    std::fs::write(
        &config,
        format!(
            "backend = \"local\"\n[local]\nkeyring = \"{}\"\nkey_file = \"{}\"\n",
            p(&dir.0.join("keyring")),
            p(&dir.0.join("master.key"))
        ),
    )
    .expect("config");
    let config = p(&config).to_owned();
    let pin = ok(run(&["keys", "init", "--custody", &config], b"")).trim().to_owned();
    let old = ok(run(&["keys", "rotate", "--custody", &config, "--role", "trader"], b"")).trim().to_owned();
    ok(run(&["keys", "rotate", "--custody", &config, "--role", "importer"], b""));
    let custody = CustodyConfig::load(std::path::Path::new(&config)).expect("load").open().await.expect("open");
    let key = custody.keys().await.expect("keys").into_iter().find(|k| k.kid == old).expect("old key").public;
    let store = Store::connect(url).await.expect("store");
    for u in 0..n.min(500) {
        store.create_user(&owner(u), None).await.expect("user");
    }
    for i in 0..n {
        let cred = format!(r#"{{"api_key":"KEY-{i:08}","api_secret":"{canary}-{i:06}"}}"#);
        let req = SealRequest {
            sub: owner(i),
            cid: cid(i),
            exch: "binance".into(),
            aud: "trader".into(),
            scope: Scope::parse_list("read,trade").expect("scope"),
            iat: 1_700_000_000 + i as u64,
            own: own(i),
        };
        let (jwe, _) = seal_credential(cred.as_bytes(), &key, &req).expect("seal");
        let (o, c) = (owner(i), cid(i));
        let new =
            NewCredential { id: &c, owner: &o, exchange: "binance", label: "t", hint: "0000", scope: "read,trade" };
        store
            .create_credential(&new, &[NewEnvelope { role: "trader", kid: &old, jwe: &jwe }])
            .await
            .expect("credential");
    }
    store.close().await;
    Deployment { dir, config, url: url.to_owned(), pin, old, canary }
}

/// A seed from the clock (printed by the caller, so a failure can be replayed).
pub fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

pub fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1
}

// --- PostgreSQL: a database of its own per test, dropped after ----------------------------

pub fn admin_url() -> String {
    std::env::var("SEALGATE_TEST_POSTGRES_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create(test: &str) -> Option<PgDb> {
        let mut conn = match sqlx::PgConnection::connect(&admin_url()).await {
            Ok(c) => c,
            Err(e) => {
                sealgate_testkit::skip_or_fail(
                    "SEALGATE_SKIP_POSTGRES",
                    &format!("the test {test} on PostgreSQL"),
                    &format!("PostgreSQL is unreachable: {e}"),
                    "start PostgreSQL, or point SEALGATE_TEST_POSTGRES_ADMIN at one (postgres://USER@HOST:PORT/DB)",
                );
                return None;
            }
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let name = format!("sealgate_seeded_{}_{nanos}", std::process::id());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
        let _ = conn.close().await;
        let admin = admin_url();
        let cut = admin.rfind('/').expect("the admin URL ends in /DATABASE");
        Some(PgDb { url: format!("{}/{name}", &admin[..cut]), name })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await.ok()?;
                c.close().await.ok()
            })
        })
        .join();
    }
}
