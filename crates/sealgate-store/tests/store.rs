//! The store's behaviour, each test on SQLite and on PostgreSQL (see `harness`).

mod harness;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{TestDb, on_both};
use sealgate_store::{
    AuditTail, CredentialStatus, JobState, KeyStatus, NewAuditRecord, NewBalance, NewCredential, NewEnvelope, NewOrder,
    NewPasskey, NewPosition, NewSession, PasskeyPrecondition, PortfolioSnapshot, RetryOutcome, Side, Store, StoreError,
    StoredCheckpoint, Trade,
};

async fn connect(db: &TestDb) -> Store {
    Store::connect(&db.url).await.expect("connect")
}

/// A user with one credential sealed to `importer` (and `trader` if `trade`).
async fn user_with_credential(store: &Store, user: &str, cid: &str, jwe: &str) {
    if store.user(user).await.expect("user").is_none() {
        store.create_user(user, None).await.expect("create user");
    }
    let new =
        NewCredential { id: cid, owner: user, exchange: "kraken", label: "main", hint: "x7Qa", scope: "read,trade" };
    store
        .create_credential(&new, &[NewEnvelope { role: "importer", kid: "imp-1", jwe }])
        .await
        .expect("create credential");
}

const TABLES: [&str; 26] = [
    "anomaly_baselines",
    "anomaly_rules",
    "audit_log",
    "balances",
    "credentials",
    "disabled_keys",
    "email_confirm_tokens",
    "envelopes",
    "held_key_births",
    "import_jobs",
    "lockdown_tokens",
    "login_tokens",
    "nonces",
    "notification_outbox",
    "notify_contacts",
    "orders",
    "passkeys",
    "portfolio_snapshots",
    "positions",
    "rate_buckets",
    "recipient_keys",
    "sessions",
    "trades",
    "users",
    "webhook_endpoints",
    "withdrawal_approvals",
];

/// Every row of every table (including the migrator's own), as text: `(table, row)`.
async fn all_rows(db: &TestDb) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if db.backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite");
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .expect("tables");
        for t in tables {
            let cols: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(&pool)
                .await
                .expect("columns");
            let expr = cols.iter().map(|c| format!("quote(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {expr} FROM \"{t}\"")).fetch_all(&pool).await.expect("rows");
            out.extend(rows.into_iter().map(|r| (t.clone(), r)));
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .expect("tables");
        for t in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT r::text FROM \"{t}\" r")).fetch_all(&pool).await.expect("rows");
            out.extend(rows.into_iter().map(|r| (t.clone(), r)));
        }
        pool.close().await;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_apply_on_a_fresh_database_and_are_idempotent() {
    on_both("migrations", |db| async move {
        let store = connect(&db).await;
        assert_eq!(
            store.applied_migrations().await.expect("migrations"),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        );
        store.close().await;
        // A second start (another role instance, a restart) applies nothing new.
        let again = connect(&db).await;
        assert_eq!(
            again.applied_migrations().await.expect("migrations"),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        );
        let mut tables: Vec<String> = all_rows(&db).await.into_iter().map(|(t, _)| t).collect();
        tables.dedup();
        // The schema has every table (queried directly: fresh tables have no rows).
        for t in TABLES {
            let sql = format!("SELECT COUNT(*) FROM {t}");
            let n: i64 = if db.backend == "sqlite" {
                let p = sqlx::SqlitePool::connect(&db.url).await.expect("raw");
                sqlx::query_scalar(&sql).fetch_one(&p).await.expect(t)
            } else {
                let p = sqlx::PgPool::connect(&db.url).await.expect("raw");
                sqlx::query_scalar(&sql).fetch_one(&p).await.expect(t)
            };
            assert_eq!(n, 0, "{t} starts empty");
        }
        assert!(matches!(Store::connect("mysql://x").await, Err(StoreError::InvalidUrl(_))));
    })
    .await;
}

/// Rows a database at migration 3 holds (ids were global then), in the v3 schema.
const V3_ROWS: &str = "
    INSERT INTO users (id, created_ms) VALUES ('alice', 1), ('bob', 1);
    INSERT INTO credentials (id, owner, exchange, label, hint, scope, status, created_ms, last_used_ms)
        VALUES ('a1', 'alice', 'kraken', 'main', 'h1h1', 'read,trade', 'active', 10, NULL),
               ('b1', 'bob', 'okx', 'bee', 'h2h2', 'read', 'frozen', 11, 12);
    INSERT INTO envelopes (credential_id, role, kid, jwe, created_ms)
        VALUES ('a1', 'importer', 'imp-1', 'jwe.a1.imp', 10), ('a1', 'trader', 'trd-1', 'jwe.a1.trd', 10),
               ('b1', 'importer', 'imp-1', 'jwe.b1.imp', 11);
    INSERT INTO nonces (credential_id, last) VALUES ('a1', 500);
    INSERT INTO import_jobs (credential_id, kind, state, attempts, max_attempts, run_after_ms, cursor,
                             created_ms, updated_ms)
        VALUES ('b1', 'full', 'queued', 0, 3, 0, 'page-3', 1, 1), ('a1', 'full', 'done', 1, 3, 0, NULL, 1, 1),
               ('a1', 'full', 'done', 1, 3, 0, NULL, 1, 1);
    DELETE FROM import_jobs WHERE id = 3;
    INSERT INTO balances (credential_id, asset, free, locked, updated_ms) VALUES ('a1', 'BTC', '0.5', '0.1', 5);
    INSERT INTO trades (credential_id, exchange_trade_id, symbol, side, price, qty, fee, fee_asset, time_ms)
        VALUES ('a1', 'T1', 'XBTUSD', 'buy', '1', '1', '0', NULL, 1700000000000);
    INSERT INTO orders (id, credential_id, client_order_id, exchange_order_id, symbol, side, order_type, qty,
                        price, status, created_ms, updated_ms)
        VALUES ('o1', 'b1', 'c1', 'X9', 'BTC-USDT', 'sell', 'limit', '1', '2', 'open', 1, 2);
    INSERT INTO credential_limits (credential_id, symbols, max_notional, rate_max, rate_window_ms, updated_ms)
        VALUES ('a1', 'XBTUSD', '100', 5, 1000, 3);
";

/// Migration 0004 (ids scoped to their owner) keeps every row of a v3 database, gives each
/// child row its credential's owner, keeps ids and the job id sequence, and leaves working
/// keys and foreign keys behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migration_0004_keeps_every_row_and_gives_it_its_owner() {
    on_both("migration-0004", |db| async move {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(db.backend);
        let mut v3 = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
        v3.migrations = v3.migrations.iter().filter(|m| m.version <= 3).cloned().collect::<Vec<_>>().into();
        if db.backend == "sqlite" {
            let opts: sqlx::sqlite::SqliteConnectOptions = db.url.parse().expect("url");
            let pool = sqlx::SqlitePool::connect_with(opts.foreign_keys(true)).await.expect("raw sqlite");
            v3.run(&pool).await.expect("v3");
            sqlx::raw_sql(V3_ROWS).execute(&pool).await.expect("v3 rows");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("raw postgres");
            v3.run(&pool).await.expect("v3");
            sqlx::raw_sql(V3_ROWS).execute(&pool).await.expect("v3 rows");
            pool.close().await;
        }

        let store = connect(&db).await;
        assert_eq!(
            store.applied_migrations().await.expect("migrations"),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
        );
        let a1 = store.get_credential("alice", "a1").await.expect("get").expect("alice's a1");
        assert_eq!((a1.exchange.as_str(), a1.label.as_str(), a1.scope.as_str()), ("kraken", "main", "read,trade"));
        let b1 = store.get_credential("bob", "b1").await.expect("get").expect("bob's b1");
        assert_eq!((b1.status, b1.last_used_ms, b1.created_ms), (CredentialStatus::Frozen, Some(12), 11));
        assert!(store.get_credential("bob", "a1").await.expect("get").is_none());
        let roles = store.envelope_roles("alice", "a1").await.expect("roles");
        assert_eq!(roles.iter().map(|r| r.role.as_str()).collect::<Vec<_>>(), ["importer", "trader"]);
        let (_, env) = store.signer_envelope("alice", "a1", "trader").await.expect("signer").expect("envelope");
        assert_eq!((env.owner.as_str(), env.jwe.as_str()), ("alice", "jwe.a1.trd"));
        let (_, env) = store.signer_envelope("bob", "b1", "importer").await.expect("signer").expect("envelope");
        assert_eq!(env.jwe, "jwe.b1.imp");
        assert_eq!(store.next_nonce("alice", "a1", 1).await.expect("nonce"), 501, "the sequence goes on");
        let job = store.claim("w", Duration::from_secs(60)).await.expect("claim").expect("the queued job");
        assert_eq!(
            (job.id, job.owner.as_str(), job.credential_id.as_str(), job.cursor.as_deref()),
            (1, "bob", "b1", Some("page-3"))
        );
        assert_eq!(
            store.job(2).await.expect("job").map(|j| (j.owner, j.state)),
            Some(("alice".into(), JobState::Done))
        );
        let next = store.enqueue("alice", "a1", "full", 3, Duration::ZERO).await.expect("enqueue");
        assert_eq!(next, 4, "job ids are never reused (3 was deleted before the migration)");
        let bal = store.balances("alice").await.expect("balances");
        assert_eq!(
            bal.iter().map(|b| (b.asset.as_str(), b.free.as_str(), b.locked.as_str())).collect::<Vec<_>>(),
            [("BTC", "0.5", "0.1")]
        );
        store.upsert_trades("alice", "a1", &[trade("T1", "0.3")]).await.expect("upsert on the migrated key");
        assert_eq!(store.trade_count("alice", "a1").await.expect("count"), 1);
        let o = store.order("bob", "o1").await.expect("order").expect("bob's order");
        assert_eq!((o.owner.as_str(), o.status.as_str(), o.exchange_order_id.as_deref()), ("bob", "open", Some("X9")));
        assert!(store.orders("alice", 10).await.expect("orders").is_empty());
        let l = store.credential_limits("alice", "a1").await.expect("limits").expect("kept");
        assert_eq!(
            (l.symbols.as_deref(), l.max_notional.as_deref(), l.rate_max, l.rate_window_ms),
            (Some("XBTUSD"), Some("100"), Some(5), Some(1000))
        );
        // The new keys and foreign keys are in force.
        let bobs_a1 = NewCredential { id: "a1", owner: "bob", exchange: "gate", label: "", hint: "", scope: "read" };
        store.create_credential(&bobs_a1, &[]).await.expect("bob may now have an a1 too");
        assert!(matches!(
            store.enqueue("bob", "zz", "full", 3, Duration::ZERO).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(store.next_nonce("alice", "b1", 1).await, Err(StoreError::NotFound { .. })));
        if db.backend == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("raw sqlite");
            let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&pool)
                .await
                .expect("fk check");
            assert!(broken.is_empty(), "foreign key violations after the migration: {broken:?}");
            let leftovers: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name LIKE '%_v3'")
                .fetch_all(&pool)
                .await
                .expect("tables");
            assert!(leftovers.is_empty(), "{leftovers:?}");
            pool.close().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_and_envelopes_round_trip_and_owners_are_isolated() {
    on_both("credentials", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "alice", "cid-a1", "jwe.a1.importer").await;
        user_with_credential(&store, "bob", "cid-b1", "jwe.b1.importer").await;

        let list = store.list_credentials("alice").await.expect("list");
        assert_eq!(list.len(), 1);
        let c = &list[0];
        assert_eq!((c.id.as_str(), c.owner.as_str(), c.exchange.as_str()), ("cid-a1", "alice", "kraken"));
        assert_eq!((c.hint.as_str(), c.scope.as_str(), c.status), ("x7Qa", "read,trade", CredentialStatus::Active));
        assert_eq!(c.last_used_ms, None);

        // An id is unique per owner: alice cannot have two cid-a1 (bob could: see
        // credential_ids_are_scoped_to_their_owner).
        let dup = NewCredential { id: "cid-a1", owner: "alice", exchange: "okx", label: "", hint: "", scope: "read" };
        assert!(matches!(store.create_credential(&dup, &[]).await, Err(StoreError::AlreadyExists { .. })));
        let ghost =
            NewCredential { id: "cid-x", owner: "nobody", exchange: "kraken", label: "", hint: "", scope: "read" };
        assert!(matches!(store.create_credential(&ghost, &[]).await, Err(StoreError::NotFound { .. })));
        // The one credential id rule (the api's, the signer's, the CLI's): refused before SQL.
        let id65 = "x".repeat(65);
        for bad in [id65.as_str(), "", "a b", "a/b"] {
            let new = NewCredential { id: bad, owner: "alice", exchange: "kraken", label: "", hint: "", scope: "read" };
            let e = store.create_credential(&new, &[]).await.expect_err("invalid id");
            assert!(matches!(e, StoreError::Invalid { what: "credential id", .. }), "{e}");
            assert!(e.to_string().contains(sealgate_vocab::CREDENTIAL_ID_RULE), "{e}");
        }

        // Owner isolation: every read and write with the wrong owner sees nothing.
        assert!(store.get_credential("bob", "cid-a1").await.expect("get").is_none());
        assert!(store.get_credential("alice", "cid-a1").await.expect("get").is_some());
        assert!(store.envelope_roles("bob", "cid-a1").await.expect("roles").is_empty());
        let trader = NewEnvelope { role: "trader", kid: "trd-1", jwe: "jwe.a1.trader" };
        assert!(matches!(store.put_envelope("bob", "cid-a1", &trader).await, Err(StoreError::NotFound { .. })));
        assert!(!store.delete_envelope("bob", "cid-a1", "importer").await.expect("delete"));
        assert!(matches!(store.delete_credential("bob", "cid-a1").await, Err(StoreError::NotFound { .. })));
        assert!(matches!(
            store.set_credential_status("bob", "cid-a1", CredentialStatus::Frozen).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.lockdown("bob").await.expect("lockdown"), 1); // bob's own only
        assert_eq!(
            store.get_credential("alice", "cid-a1").await.expect("get").map(|c| c.status),
            Some(CredentialStatus::Active)
        );

        // Envelopes: put, replace, read (signer side), revoke.
        store.put_envelope("alice", "cid-a1", &trader).await.expect("put trader");
        let roles: Vec<(String, String)> = store
            .envelope_roles("alice", "cid-a1")
            .await
            .expect("roles")
            .into_iter()
            .map(|e| (e.role, e.kid))
            .collect();
        assert_eq!(roles, vec![("importer".into(), "imp-1".into()), ("trader".into(), "trd-1".into())]);
        let (cred, env) = store.signer_envelope("alice", "cid-a1", "trader").await.expect("signer").expect("present");
        assert_eq!((cred.owner.as_str(), env.kid.as_str(), env.jwe.as_str()), ("alice", "trd-1", "jwe.a1.trader"));
        assert!(!format!("{env:?}").contains("jwe.a1.trader"), "Debug shows no ciphertext");
        let resealed = NewEnvelope { role: "trader", kid: "trd-2", jwe: "jwe.a1.trader.v2" };
        store.put_envelope("alice", "cid-a1", &resealed).await.expect("replace");
        let (_, env) = store.signer_envelope("alice", "cid-a1", "trader").await.expect("signer").expect("present");
        assert_eq!((env.kid.as_str(), env.jwe.as_str()), ("trd-2", "jwe.a1.trader.v2"));
        assert!(store.delete_envelope("alice", "cid-a1", "trader").await.expect("revoke"));
        assert!(store.signer_envelope("alice", "cid-a1", "trader").await.expect("signer").is_none());
        assert!(!store.delete_envelope("alice", "cid-a1", "trader").await.expect("revoke twice"));
        store.touch_credential("alice", "cid-a1").await.expect("touch");
        assert!(store.get_credential("alice", "cid-a1").await.expect("get").and_then(|c| c.last_used_ms).is_some());

        // Recipient keys: retire refused while an envelope uses the key.
        store
            .add_recipient_key("imp-1", "importer", r#"{"kty":"EC","crv":"P-256","x":"..","y":".."}"#)
            .await
            .expect("key");
        store.add_recipient_key("imp-2", "importer", r#"{"kty":"OKP","crv":"X25519","x":".."}"#).await.expect("key");
        assert!(matches!(
            store.add_recipient_key("imp-2", "importer", "{}").await,
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(store.retire_recipient_key("imp-1").await, Err(StoreError::InUse { .. })));
        assert!(matches!(store.retire_recipient_key("nope").await, Err(StoreError::NotFound { .. })));
        // Re-wrap moves the envelope to imp-2 (compare-and-set on the old kid), then imp-1 retires.
        let batch = store.envelopes_for_kid("imp-1", None, 100).await.expect("by kid");
        assert_eq!(batch.len(), 2); // alice's and bob's importer envelopes
        for e in &batch {
            let new = NewEnvelope { role: "importer", kid: "imp-2", jwe: "jwe.rewrapped" };
            assert!(store.rewrap_envelope(&e.owner, &e.credential_id, &e.role, "imp-1", &new).await.expect("rewrap"));
            let stale = store.rewrap_envelope(&e.owner, &e.credential_id, &e.role, "imp-1", &new).await;
            assert!(!stale.expect("stale rewrap"));
        }
        store.retire_recipient_key("imp-1").await.expect("retire");
        let keys = store.recipient_keys(Some("importer")).await.expect("keys");
        assert_eq!(
            keys.iter().map(|k| (k.kid.as_str(), k.status)).collect::<Vec<_>>(),
            vec![("imp-1", KeyStatus::Retired), ("imp-2", KeyStatus::Active)]
        );
        assert!(store.recipient_keys(Some("trader")).await.expect("keys").is_empty());
        assert_eq!(store.recipient_keys(None).await.expect("keys").len(), 2);

        // Delete: envelopes destroyed, row kept as `deleted`, no longer listed.
        store.delete_credential("alice", "cid-a1").await.expect("delete");
        assert!(store.signer_envelope("alice", "cid-a1", "importer").await.expect("signer").is_none());
        assert!(store.list_credentials("alice").await.expect("list").is_empty());
        assert_eq!(
            store.get_credential("alice", "cid-a1").await.expect("get").map(|c| c.status),
            Some(CredentialStatus::Deleted)
        );
        let late = NewEnvelope { role: "importer", kid: "imp-2", jwe: "jwe.late" };
        assert!(matches!(store.put_envelope("alice", "cid-a1", &late).await, Err(StoreError::NotFound { .. })));

        // OIDC users: first sight creates, second returns the same user.
        let u1 = store.user_for_oidc_subject("sub-123", "u-new-1").await.expect("oidc");
        let u2 = store.user_for_oidc_subject("sub-123", "u-new-2").await.expect("oidc");
        assert_eq!((u1.id.as_str(), u2.id.as_str()), ("u-new-1", "u-new-1"));
    })
    .await;
}

/// Fails on a store keyed by the id alone: there, bob's `x` is a 409 (an oracle on alice's
/// ids, and a way to squat them), and every service-side call that names `x` reaches
/// whichever row holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credential_ids_are_scoped_to_their_owner() {
    on_both("owner-scoped-ids", |db| async move {
        let store = connect(&db).await;
        for user in ["alice", "bob"] {
            store.create_user(user, None).await.expect("user");
        }
        let new = |owner: &'static str, exchange: &'static str| NewCredential {
            id: "x",
            owner,
            exchange,
            label: owner,
            hint: "hint",
            scope: "read,trade",
        };
        let env = |jwe: &'static str| [NewEnvelope { role: "importer", kid: "imp-1", jwe }];
        store.create_credential(&new("alice", "kraken"), &env("jwe.alice")).await.expect("alice's x");
        let bobs = store.create_credential(&new("bob", "okx"), &env("jwe.bob")).await.expect("bob's x: no 409");
        assert_eq!((bobs.owner.as_str(), bobs.exchange.as_str()), ("bob", "okx"));
        assert!(matches!(
            store.create_credential(&new("alice", "gate"), &[]).await,
            Err(StoreError::AlreadyExists { .. })
        ));

        // Each owner sees only their own x, everywhere.
        for (owner, exchange, jwe) in [("alice", "kraken", "jwe.alice"), ("bob", "okx", "jwe.bob")] {
            let list = store.list_credentials(owner).await.expect("list");
            assert_eq!(
                list.iter().map(|c| (c.id.as_str(), c.exchange.as_str())).collect::<Vec<_>>(),
                [("x", exchange)]
            );
            let (row, e) = store.signer_envelope(owner, "x", "importer").await.expect("signer").expect("present");
            assert_eq!(
                (row.owner.as_str(), row.exchange.as_str(), e.owner.as_str(), e.jwe.as_str()),
                (owner, exchange, owner, jwe)
            );
            assert_eq!(
                store.job_credential(owner, "x").await.expect("job cred").map(|c| c.exchange),
                Some(exchange.into())
            );
        }
        assert!(store.signer_envelope("mallory", "x", "importer").await.expect("signer").is_none());

        // Nonces: one sequence per (owner, id).
        assert_eq!(store.next_nonce("alice", "x", 100).await.expect("nonce"), 100);
        assert_eq!(store.next_nonce("alice", "x", 1).await.expect("nonce"), 101);
        assert_eq!(store.next_nonce("bob", "x", 1).await.expect("nonce"), 1, "bob's x has its own sequence");
        assert!(matches!(store.next_nonce("mallory", "x", 1).await, Err(StoreError::NotFound { .. })));
        // Nonce locks: alice's held lock does not hold bob's.
        let held = store.nonce_guard("alice", "x").await.expect("alice's lock");
        let bob = tokio::time::timeout(Duration::from_secs(5), store.nonce_guard("bob", "x")).await;
        assert!(bob.expect("bob's lock is another lock").is_ok());
        drop(held);

        // Limits, last use, balances, trades, jobs and orders stay with their owner.
        let limits = sealgate_store::CredentialLimits { max_notional: Some("10".into()), ..Default::default() };
        store.set_credential_limits("alice", "x", &limits).await.expect("limits");
        assert_eq!(store.credential_limits("alice", "x").await.expect("limits"), Some(limits));
        assert_eq!(store.credential_limits("bob", "x").await.expect("limits"), None);
        store.touch_credential("alice", "x").await.expect("touch");
        assert!(store.get_credential("bob", "x").await.expect("get").and_then(|c| c.last_used_ms).is_none());
        store
            .replace_balances("alice", "x", &[NewBalance { asset: "BTC", free: "1", locked: "0" }])
            .await
            .expect("bal");
        store.replace_balances("bob", "x", &[NewBalance { asset: "ETH", free: "2", locked: "0" }]).await.expect("bal");
        store.replace_balances("bob", "x", &[]).await.expect("bob's snapshot is empty now");
        assert_eq!(store.balances("alice").await.expect("balances").len(), 1, "bob's snapshot left alice's alone");
        assert!(store.balances("bob").await.expect("balances").is_empty());
        store.upsert_trades("alice", "x", &[trade("T1", "0.1"), trade("T2", "0.1")]).await.expect("trades");
        store.upsert_trades("bob", "x", &[trade("T1", "0.5")]).await.expect("same exchange trade id, other owner");
        assert_eq!(store.trade_count("alice", "x").await.expect("count"), 2);
        assert_eq!(
            store.trades("bob", "x", 0, 10).await.expect("trades").iter().map(|t| t.fee.as_str()).collect::<Vec<_>>(),
            ["0.5"]
        );
        let job = store.enqueue("bob", "x", "full", 3, Duration::ZERO).await.expect("job");
        let claimed = store.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!((claimed.id, claimed.owner.as_str(), claimed.credential_id.as_str()), (job, "bob", "x"));
        assert_eq!(store.job(job).await.expect("job").map(|j| j.owner), Some("bob".into()));
        assert!(matches!(
            store.enqueue("mallory", "x", "full", 3, Duration::ZERO).await,
            Err(StoreError::NotFound { .. })
        ));
        let order = |id: &'static str, owner: &'static str| NewOrder {
            id,
            owner,
            credential_id: "x",
            client_order_id: "same-client-id",
            symbol: "BTCUSDT",
            side: Side::Buy,
            order_type: "market",
            qty: "1",
            price: None,
        };
        store.create_order(&order("o-a", "alice")).await.expect("alice's order");
        store.create_order(&order("o-b", "bob")).await.expect("bob's order, same client order id");
        assert!(matches!(store.update_order("bob", "o-a", None, "canceled").await, Err(StoreError::NotFound { .. })));
        assert_eq!(store.order("alice", "o-a").await.expect("order").map(|o| o.status), Some("new".into()));
        assert!(store.order("bob", "o-a").await.expect("order").is_none());

        // Re-wrap pages by (owner, id, role) and moves one owner's envelope only.
        let batch = store.envelopes_for_kid("imp-1", None, 1).await.expect("page 1");
        assert_eq!(batch.iter().map(|e| e.owner.as_str()).collect::<Vec<_>>(), ["alice"]);
        let next = store.envelopes_for_kid("imp-1", Some(("alice", "x", "importer")), 10).await.expect("page 2");
        assert_eq!(next.iter().map(|e| e.owner.as_str()).collect::<Vec<_>>(), ["bob"]);
        let rewrapped = NewEnvelope { role: "importer", kid: "imp-2", jwe: "jwe.alice.v2" };
        assert!(store.rewrap_envelope("alice", "x", "importer", "imp-1", &rewrapped).await.expect("rewrap"));
        let (_, e) = store.signer_envelope("bob", "x", "importer").await.expect("signer").expect("present");
        assert_eq!((e.kid.as_str(), e.jwe.as_str()), ("imp-1", "jwe.bob"));

        // Revoke, freeze and delete of alice's x leave bob's x as it was.
        assert!(store.delete_envelope("alice", "x", "importer").await.expect("revoke"));
        assert!(store.signer_envelope("bob", "x", "importer").await.expect("signer").is_some());
        store.set_credential_status("alice", "x", CredentialStatus::Frozen).await.expect("freeze");
        store.delete_credential("alice", "x").await.expect("delete");
        let b = store.get_credential("bob", "x").await.expect("get").expect("bob's x");
        assert_eq!(b.status, CredentialStatus::Active);
        assert_eq!(store.envelope_roles("bob", "x").await.expect("roles").len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lockdown_freezes_all_of_one_users_credentials() {
    on_both("lockdown", |db| async move {
        let store = connect(&db).await;
        for i in 0..5 {
            user_with_credential(&store, "carol", &format!("cid-c{i}"), "jwe").await;
        }
        user_with_credential(&store, "dave", "cid-d0", "jwe").await;
        store.delete_credential("carol", "cid-c4").await.expect("delete");
        assert_eq!(store.lockdown("carol").await.expect("lockdown"), 4);
        let statuses: Vec<_> =
            store.list_credentials("carol").await.expect("list").into_iter().map(|c| c.status).collect();
        assert_eq!(statuses, vec![CredentialStatus::Frozen; 4]);
        assert_eq!(
            store.get_credential("carol", "cid-c4").await.expect("get").map(|c| c.status),
            Some(CredentialStatus::Deleted)
        );
        assert_eq!(
            store.get_credential("dave", "cid-d0").await.expect("get").map(|c| c.status),
            Some(CredentialStatus::Active)
        );
        assert_eq!(store.lockdown("carol").await.expect("again"), 0);
        store.set_credential_status("carol", "cid-c0", CredentialStatus::Active).await.expect("unfreeze");
        assert!(matches!(
            store.set_credential_status("carol", "cid-c4", CredentialStatus::Active).await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anomaly_baselines_and_overrides_are_per_owner_and_freeze_is_once() {
    on_both("anomaly", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "erin", "cid-e0", "jwe").await;
        user_with_credential(&store, "frank", "cid-e0", "jwe").await;
        assert_eq!(store.anomaly_baseline("erin", "cid-e0").await.expect("read"), None);
        store.put_anomaly_baseline("erin", "cid-e0", r#"{"orders":1}"#).await.expect("put");
        store.put_anomaly_baseline("erin", "cid-e0", r#"{"orders":2}"#).await.expect("replace");
        assert_eq!(store.anomaly_baseline("erin", "cid-e0").await.expect("read").as_deref(), Some(r#"{"orders":2}"#));
        // Same id, another owner: nothing shared.
        assert_eq!(store.anomaly_baseline("frank", "cid-e0").await.expect("read"), None);
        assert!(matches!(store.put_anomaly_baseline("erin", "nope", "{}").await, Err(StoreError::NotFound { .. })));
        let huge = "x".repeat(256 * 1024 + 1);
        assert!(matches!(store.put_anomaly_baseline("erin", "cid-e0", &huge).await, Err(StoreError::Invalid { .. })));
        store.set_anomaly_overrides("frank", "cid-e0", Some(r#"{"burst_factor":8}"#)).await.expect("set");
        assert_eq!(store.anomaly_overrides("erin", "cid-e0").await.expect("read"), None);
        assert_eq!(
            store.anomaly_overrides("frank", "cid-e0").await.expect("read").as_deref(),
            Some(r#"{"burst_factor":8}"#)
        );
        store.set_anomaly_overrides("frank", "cid-e0", None).await.expect("clear");
        assert_eq!(store.anomaly_overrides("frank", "cid-e0").await.expect("read"), None);
        // The first freeze freezes; a second finds nothing to do; the other owner's stays active.
        assert!(store.freeze_if_active("erin", "cid-e0").await.expect("freeze"));
        assert!(!store.freeze_if_active("erin", "cid-e0").await.expect("again"));
        assert_eq!(
            store.get_credential("frank", "cid-e0").await.expect("get").map(|c| c.status),
            Some(CredentialStatus::Active)
        );
        store.delete_credential("frank", "cid-e0").await.expect("delete");
        assert!(!store.freeze_if_active("frank", "cid-e0").await.expect("deleted stays deleted"));
        assert!(matches!(
            store.set_anomaly_overrides("frank", "cid-e0", Some("{}")).await,
            Err(StoreError::NotFound { .. })
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nonces_are_strictly_increasing_across_pools_and_tasks() {
    const POOLS: usize = 2;
    const TASKS: usize = 8;
    const CALLS: usize = 200;
    on_both("nonce", |db| async move {
        let first = connect(&db).await;
        user_with_credential(&first, "erin", "cid-n", "jwe").await;
        user_with_credential(&first, "erin", "cid-m", "jwe").await;
        let second = connect(&db).await;
        let floor = 1_700_000_000_000u64;
        let started = Instant::now();
        let mut handles = Vec::new();
        for (p, store) in [first.clone(), second.clone()].into_iter().enumerate().take(POOLS) {
            for t in 0..TASKS {
                let store = store.clone();
                // Two credentials interleaved: one key's sequence never disturbs another's.
                let cid = if (p + t) % 4 == 3 { "cid-m" } else { "cid-n" };
                handles.push(tokio::spawn(async move {
                    let mut seen = Vec::with_capacity(CALLS);
                    for _ in 0..CALLS {
                        seen.push(store.next_nonce("erin", cid, floor).await.expect("nonce"));
                    }
                    (cid, seen)
                }));
            }
        }
        let mut per_cred: HashMap<&str, Vec<u64>> = HashMap::new();
        for h in handles {
            let (cid, seen) = h.await.expect("task");
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "each caller sees strictly increasing nonces");
            per_cred.entry(cid).or_default().extend(seen);
        }
        let elapsed = started.elapsed();
        let total = POOLS * TASKS * CALLS;
        for (cid, mut all) in per_cred {
            let n = all.len();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), n, "{cid}: every nonce unique");
            assert_eq!(all.first().copied(), Some(floor), "{cid}: starts at the floor");
            assert_eq!(all.last().copied(), Some(floor + n as u64 - 1), "{cid}: no gaps, max(last+1, floor)");
        }
        eprintln!(
            "nonce [{}]: {total} calls from {POOLS} pools x {TASKS} tasks in {elapsed:.2?} = {:.0} calls/s",
            db.backend,
            total as f64 / elapsed.as_secs_f64()
        );
        // A floor ahead of the last value jumps to it; one behind is ignored.
        assert_eq!(first.next_nonce("erin", "cid-n", floor + 1_000_000).await.expect("jump"), floor + 1_000_000);
        assert_eq!(second.next_nonce("erin", "cid-n", 5).await.expect("behind"), floor + 1_000_001);
        assert!(matches!(first.next_nonce("erin", "cid-n", u64::MAX).await, Err(StoreError::Invalid { .. })));
        assert!(matches!(first.next_nonce("erin", "no-such-cid", 1).await, Err(StoreError::NotFound { .. })));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_claim_concurrently_and_no_job_is_done_twice_or_lost() {
    const JOBS: usize = 300;
    on_both("queue", |db| async move {
        let a = connect(&db).await;
        user_with_credential(&a, "fay", "cid-q", "jwe").await;
        let b = connect(&db).await;
        let mut ids = Vec::new();
        for i in 0..JOBS {
            ids.push(
                a.enqueue("fay", "cid-q", if i % 2 == 0 { "full" } else { "trades" }, 3, Duration::ZERO)
                    .await
                    .expect("enqueue"),
            );
        }
        let done: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
        let started = Instant::now();
        let mut workers = Vec::new();
        for (name, store) in [("worker-a", a.clone()), ("worker-b", b.clone())] {
            let done = done.clone();
            workers.push(tokio::spawn(async move {
                while let Some(job) = store.claim(name, Duration::from_secs(60)).await.expect("claim") {
                    assert_eq!(job.attempts, 1);
                    // The work itself is idempotent: a trade keyed by the job.
                    let t = trade(&format!("job-{}", job.id), "0.1");
                    store.upsert_trades(&job.owner, &job.credential_id, &[t]).await.expect("work");
                    store.complete(&job).await.expect("complete");
                    done.lock().expect("lock").push((name.to_owned(), job.id));
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        let elapsed = started.elapsed();
        let done = done.lock().expect("lock").clone();
        let mut per_job: HashMap<i64, usize> = HashMap::new();
        let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
        for (w, id) in &done {
            *per_job.entry(*id).or_default() += 1;
            *per_worker.entry(w.clone()).or_default() += 1;
        }
        assert!(per_job.values().all(|&n| n == 1), "no job done twice");
        assert_eq!(per_job.len(), JOBS, "no job lost");
        assert_eq!(ids.iter().collect::<HashSet<_>>(), per_job.keys().collect::<HashSet<_>>());
        assert_eq!(a.job_counts().await.expect("counts"), (0, 0, JOBS as i64, 0));
        assert_eq!(a.trade_count("fay", "cid-q").await.expect("trades"), JOBS as i64);
        eprintln!(
            "queue [{}]: {JOBS} jobs claimed+completed by 2 workers in {elapsed:.2?} = {:.0} jobs/s ({per_worker:?})",
            db.backend,
            JOBS as f64 / elapsed.as_secs_f64()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_leases_are_reclaimed_backoff_is_respected_and_cursors_resume() {
    on_both("leases", |db| async move {
        let a = connect(&db).await;
        user_with_credential(&a, "gus", "cid-l", "jwe").await;
        let b = connect(&db).await;

        // A worker claims with a short lease and dies (never completes).
        let id = a.enqueue("gus", "cid-l", "full", 3, Duration::ZERO).await.expect("enqueue");
        let dead = a.claim("worker-dead", Duration::from_millis(300)).await.expect("claim").expect("job");
        assert_eq!((dead.id, dead.attempts), (id, 1));
        a.checkpoint(&dead, Some("page-7"), Duration::from_millis(300)).await.expect("checkpoint");
        assert!(b.claim("worker-b", Duration::from_secs(60)).await.expect("claim").is_none(), "lease still held");
        tokio::time::sleep(Duration::from_millis(450)).await;
        let live = b.claim("worker-b", Duration::from_secs(60)).await.expect("claim").expect("re-claimed");
        assert_eq!((live.id, live.attempts, live.cursor.as_deref()), (id, 2, Some("page-7")), "resumes at the cursor");
        // The dead worker wakes up: everything it tries is refused.
        assert!(matches!(a.complete(&dead).await, Err(StoreError::LeaseLost)));
        assert!(matches!(a.fail(&dead, "late", Duration::ZERO).await, Err(StoreError::LeaseLost)));
        assert!(matches!(a.checkpoint(&dead, Some("x"), Duration::from_secs(1)).await, Err(StoreError::LeaseLost)));

        // Failure with backoff: not claimable before run_after, claimable after.
        assert_eq!(b.fail(&live, "exchange 503", Duration::from_millis(600)).await.expect("fail"), JobState::Queued);
        let stored = b.job(id).await.expect("job").expect("exists");
        assert_eq!(
            (stored.state, stored.last_error.as_deref(), stored.locked_by),
            (JobState::Queued, Some("exchange 503"), None)
        );
        assert!(a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").is_none(), "backoff respected");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").is_none(), "still backing off");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let third = a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").expect("after backoff");
        assert_eq!((third.attempts, third.cursor.as_deref()), (3, Some("page-7")));
        // The last attempt fails: the job is failed, not queued again.
        assert_eq!(a.fail(&third, "exchange 503", Duration::ZERO).await.expect("fail"), JobState::Failed);
        assert!(a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").is_none());

        // A worker dying on the last attempt: the job is failed on the next claim sweep.
        let once = a.enqueue("gus", "cid-l", "full", 1, Duration::ZERO).await.expect("enqueue");
        let j = a.claim("worker-dead", Duration::from_millis(100)).await.expect("claim").expect("job");
        assert_eq!(j.id, once);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(b.claim("worker-b", Duration::from_secs(60)).await.expect("claim").is_none());
        assert_eq!(b.job(once).await.expect("job").map(|j| j.state), Some(JobState::Failed));

        // Delayed enqueue.
        let later = a.enqueue("gus", "cid-l", "trades", 2, Duration::from_millis(300)).await.expect("enqueue");
        assert!(a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").is_none());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let j = a.claim("worker-a", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(j.id, later);
        a.complete(&j).await.expect("complete");
        assert!(matches!(a.complete(&j).await, Err(StoreError::LeaseLost)), "completing twice is refused");
        assert!(matches!(a.enqueue("gus", "cid-l", "full", 0, Duration::ZERO).await, Err(StoreError::Invalid { .. })));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn give_up_ends_a_job_now_and_summaries_report_import_progress() {
    on_both("give_up_ends_a_job_now_and_summaries_report_import_progress", |db| async move {
        let s = connect(&db).await;
        user_with_credential(&s, "alice", "cid-g", "jwe").await;
        user_with_credential(&s, "alice", "cid-h", "jwe").await;
        user_with_credential(&s, "bob", "cid-b", "jwe").await;
        let none = s.import_summaries("alice").await.expect("summaries");
        assert_eq!(
            none.iter().map(|r| (r.credential_id.as_str(), r.state)).collect::<Vec<_>>(),
            [("cid-g", None), ("cid-h", None)]
        );

        // give_up: failed at once, with attempts left, and fenced like the rest.
        let id = s.enqueue("alice", "cid-g", "full", 5, Duration::ZERO).await.expect("enqueue");
        let j = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        s.give_up(&j, &"x".repeat(2000)).await.expect("give up");
        let stored = s.job(id).await.expect("job").expect("stored");
        assert_eq!(
            (stored.state, stored.attempts, stored.last_error.map(|e| e.len())),
            (JobState::Failed, 1, Some(500))
        );
        assert!(s.claim("w", Duration::from_secs(60)).await.expect("claim").is_none(), "not retried");
        assert!(matches!(s.give_up(&j, "again").await, Err(StoreError::LeaseLost)));

        // A later job that completes: its state, the trade count and the finish time.
        s.enqueue("alice", "cid-g", "full", 3, Duration::ZERO).await.expect("enqueue");
        let j = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        s.upsert_trades("alice", "cid-g", &[trade("t1", "0"), trade("t2", "0")]).await.expect("trades");
        s.complete(&j).await.expect("complete");
        s.enqueue("alice", "cid-h", "full", 3, Duration::ZERO).await.expect("enqueue");
        let rows = s.import_summaries("alice").await.expect("summaries");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].state, rows[0].trades, rows[0].exchange.as_str()), (Some(JobState::Done), 2, "kraken"));
        assert!(rows[0].last_done_ms.is_some_and(|t| t > 1_600_000_000_000));
        assert_eq!((rows[1].state, rows[1].trades, rows[1].last_done_ms), (Some(JobState::Queued), 0, None));
        assert_eq!(s.import_summaries("bob").await.expect("bob").len(), 1, "owner scoped");

        // job_credential: the named owner's, any status; None for an unknown id or the
        // wrong owner.
        let c = s.job_credential("bob", "cid-b").await.expect("cred").expect("exists");
        assert_eq!((c.owner.as_str(), c.exchange.as_str()), ("bob", "kraken"));
        assert!(s.job_credential("bob", "nope").await.expect("cred").is_none());
        assert!(s.job_credential("alice", "cid-b").await.expect("cred").is_none());
    })
    .await;
}

fn trade(id: &str, fee: &str) -> Trade {
    Trade {
        exchange_trade_id: id.to_owned(),
        symbol: "BTC/USD".into(),
        side: Side::Buy,
        price: "43000.10".into(),
        qty: "0.015".into(),
        fee: fee.into(),
        fee_asset: Some("USD".into()),
        time_ms: 1_700_000_000_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_buckets_are_shared_and_never_overspent_by_two_processes() {
    on_both("rate_buckets", |db| async move {
        // Two handles on one database: two importer processes.
        let (a, b) = (connect(&db).await, connect(&db).await);
        // 10 tokens, 1 back per second; the clock is held still while both spend.
        let refill = |have: u64, elapsed: u64| (have + elapsed).min(10_000);
        let wait = |have: u64| 1_000u64.saturating_sub(have);
        let spend = |s: Store| async move {
            let mut got = 0;
            for _ in 0..20 {
                if s.take_tokens("kraken:hal:c1", 1_000, 10_000, 5_000, refill, wait).await.expect("take").is_none() {
                    got += 1;
                }
            }
            got
        };
        let (ga, gb) = tokio::join!(tokio::spawn(spend(a.clone())), tokio::spawn(spend(b.clone())));
        assert_eq!(ga.expect("a") + gb.expect("b"), 10, "exactly the burst, whoever took it");
        // Empty: a wait, as long as one token takes to come back.
        let w = a.take_tokens("kraken:hal:c1", 1_000, 10_000, 5_000, refill, wait).await.expect("take");
        assert_eq!(w, Some(std::time::Duration::from_millis(1_000)));
        // 2.5 s later: 2 tokens back, and a third is refused.
        for expect in [None, None] {
            assert_eq!(b.take_tokens("kraken:hal:c1", 1_000, 10_000, 7_500, refill, wait).await.expect("t"), expect);
        }
        assert!(b.take_tokens("kraken:hal:c1", 1_000, 10_000, 7_500, refill, wait).await.expect("t").is_some());
        // Another bucket is untouched; a clock behind the row's never refills it.
        assert!(a.take_tokens("kraken:hal:c2", 1_000, 10_000, 5_000, refill, wait).await.expect("t").is_none());
        assert!(a.take_tokens("kraken:hal:c1", 1_000, 10_000, 1_000, refill, wait).await.expect("t").is_some());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_keep_one_close_per_day_and_owner_trades_span_credentials() {
    on_both("snapshots", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "hal", "cid-a", "jwe").await;
        user_with_credential(&store, "hal", "cid-b", "jwe").await;
        user_with_credential(&store, "ivy", "cid-i", "jwe").await;
        let snap = |day: &str, total: &str, complete: bool, taken_ms: i64| PortfolioSnapshot {
            day: day.into(),
            currency: "USD".into(),
            total: total.into(),
            complete,
            assets: r#"[["BTC","100"],["PUMP",null]]"#.into(),
            taken_ms,
        };
        store.put_portfolio_snapshot("hal", &snap("2026-12-04", "90", true, 1)).await.expect("put");
        store.put_portfolio_snapshot("hal", &snap("2026-12-05", "100", false, 2)).await.expect("put");
        // Later the same day: the close replaces the earlier value.
        store.put_portfolio_snapshot("hal", &snap("2026-12-05", "110", true, 3)).await.expect("replace");
        store.put_portfolio_snapshot("ivy", &snap("2026-12-05", "7", true, 4)).await.expect("other owner");
        let got = store.portfolio_snapshots("hal", "USD", "2026-12-01", 100).await.expect("list");
        assert_eq!(got, vec![snap("2026-12-04", "90", true, 1), snap("2026-12-05", "110", true, 3)]);
        assert_eq!(store.portfolio_snapshots("hal", "USD", "2026-12-05", 100).await.expect("since").len(), 1);
        assert!(store.portfolio_snapshots("hal", "EUR", "2026-01-01", 100).await.expect("eur").is_empty());
        assert_eq!(store.portfolio_snapshots("hal", "USD", "2026-01-01", 1).await.expect("limit").len(), 1);

        // The owner's trades on both credentials, oldest first; another owner's never.
        let t = |id: &str, time_ms: i64| Trade { time_ms, ..trade(id, "0.01") };
        store.upsert_trades("hal", "cid-b", &[t("B1", 20), t("B2", 40)]).await.expect("b");
        store.upsert_trades("hal", "cid-a", &[t("A1", 30), t("A0", 20)]).await.expect("a");
        store.upsert_trades("ivy", "cid-i", &[t("I1", 10)]).await.expect("i");
        let all = store.owner_trades("hal", 100).await.expect("owner trades");
        let seen: Vec<(&str, &str)> =
            all.iter().map(|o| (o.credential_id.as_str(), o.trade.exchange_trade_id.as_str())).collect();
        assert_eq!(seen, vec![("cid-a", "A0"), ("cid-b", "B1"), ("cid-a", "A1"), ("cid-b", "B2")]);
        assert!(all.iter().all(|o| o.exchange == "kraken"));
        assert_eq!(store.owner_trades("hal", 2).await.expect("limit").len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trades_upsert_is_idempotent_and_portfolio_is_owner_scoped() {
    on_both("portfolio", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "hal", "cid-p", "jwe").await;
        user_with_credential(&store, "ivy", "cid-i", "jwe").await;
        let batch: Vec<Trade> =
            (0..100).map(|i| Trade { time_ms: 1_700_000_000_000 + i, ..trade(&format!("T{i:04}"), "0.01") }).collect();
        store.upsert_trades("hal", "cid-p", &batch).await.expect("import");
        store.upsert_trades("hal", "cid-p", &batch).await.expect("re-import");
        store.upsert_trades("hal", "cid-p", &batch[..50]).await.expect("partial re-import");
        assert_eq!(store.trade_count("hal", "cid-p").await.expect("count"), 100);
        // The same exchange trade id under another credential is another trade.
        store.upsert_trades("ivy", "cid-i", &batch[..1]).await.expect("other");
        assert_eq!(store.trade_count("ivy", "cid-i").await.expect("count"), 1);
        // A corrected fee updates in place.
        store
            .upsert_trades("hal", "cid-p", &[Trade { time_ms: 1_700_000_000_000, ..trade("T0000", "0.02") }])
            .await
            .expect("fix");
        let got = store.trades("hal", "cid-p", 0, 1000).await.expect("trades");
        assert_eq!(got.len(), 100);
        assert_eq!(got[0].fee, "0.02");
        assert_eq!(got[1], batch[1]);
        assert!(store.trades("ivy", "cid-p", 0, 1000).await.expect("other owner").is_empty());
        assert_eq!(store.trades("hal", "cid-p", 1_700_000_000_049, 1000).await.expect("after").len(), 50);
        assert!(matches!(store.upsert_trades("hal", "nope", &batch[..1]).await, Err(StoreError::NotFound { .. })));

        let snap = [
            NewBalance { asset: "BTC", free: "0.5", locked: "0.1" },
            NewBalance { asset: "USD", free: "1000.00", locked: "0" },
        ];
        store.replace_balances("hal", "cid-p", &snap).await.expect("balances");
        store.replace_balances("hal", "cid-p", &snap[..1]).await.expect("balances again");
        let b = store.balances("hal").await.expect("balances");
        assert_eq!(
            b.iter().map(|b| (b.asset.as_str(), b.exchange.as_str(), b.free.as_str())).collect::<Vec<_>>(),
            vec![("BTC", "kraken", "0.5")]
        );
        assert!(store.balances("ivy").await.expect("balances").is_empty());

        let order = NewOrder {
            id: "ord-1",
            owner: "hal",
            credential_id: "cid-p",
            client_order_id: "sg-1",
            symbol: "BTC/USD",
            side: Side::Sell,
            order_type: "limit",
            qty: "0.01",
            price: Some("50000"),
        };
        let o = store.create_order(&order).await.expect("order");
        assert_eq!((o.status.as_str(), o.exchange_order_id), ("new", None));
        assert!(matches!(
            store.create_order(&NewOrder { id: "ord-2", ..order.clone() }).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        store.update_order("hal", "ord-1", Some("OX-77"), "open").await.expect("update");
        store.update_order("hal", "ord-1", None, "canceled").await.expect("update");
        let o = store.order("hal", "ord-1").await.expect("order").expect("exists");
        assert_eq!(
            (o.status.as_str(), o.exchange_order_id.as_deref(), o.side),
            ("canceled", Some("OX-77"), Side::Sell)
        );
        assert!(store.order("ivy", "ord-1").await.expect("order").is_none());
        assert_eq!(store.orders("hal", 10).await.expect("orders").len(), 1);
        assert!(store.orders("ivy", 10).await.expect("orders").is_empty());
    })
    .await;
}

/// A stand-in for the real audit hash (another crate): any function of prev hash and record.
fn toy_hash(prev: &str, seq: i64, actor: &str, action: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (prev, seq, actor, action).hash(&mut h);
    format!("{:016x}", h.finish())
}

fn records_after(tail: Option<&AuditTail>, actor: &str, n: usize) -> Vec<NewAuditRecord> {
    let (mut seq, mut prev) = tail.map_or((0, "genesis".to_owned()), |t| (t.seq, t.hash.clone()));
    (0..n)
        .map(|i| {
            seq += 1;
            let hash = toy_hash(&prev, seq, actor, "sign");
            NewAuditRecord {
                prev_hash: std::mem::replace(&mut prev, hash.clone()),
                hash,
                time_ms: 1_700_000_000_000,
                actor: actor.to_owned(),
                action: "sign".into(),
                subject: "cid-1".into(),
                owner: Some(if i % 2 == 0 { "alice".into() } else { "bob".into() }),
                detail: format!(r#"{{"n":{i},"b":"z","a":1}}"#),
            }
        })
        .collect()
}

fn position<'a>(instrument: &'a str, size: &'a str) -> NewPosition<'a> {
    NewPosition {
        instrument,
        currency: "BTC",
        kind: "future",
        size,
        average_price: "25000.50",
        mark_price: "27500",
        floating_pnl: "0.00363637",
        realized_pnl: "-0.0000001",
    }
}

/// Positions are kept as balances are: one credential's snapshot replaced whole (a closed
/// position disappears), exact text, per owner (the same credential id of another owner is
/// another credential), hidden once the credential is deleted; a snapshot too long or
/// naming an instrument twice is refused whole and leaves the stored one as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn positions_are_replaced_whole_per_owner_bounded_and_gone_with_their_credential() {
    on_both("positions", |db| async move {
        let store = connect(&db).await;
        for user in ["alice", "bob"] {
            store.create_user(user, None).await.expect("user");
            let new = NewCredential { id: "x", owner: user, exchange: "deribit", label: "", hint: "h", scope: "read" };
            store.create_credential(&new, &[]).await.expect("credential");
        }
        let seen = |rows: Vec<sealgate_store::Position>| {
            rows.into_iter()
                .map(|p| (p.credential_id, p.exchange, p.instrument, p.currency, p.kind, p.size, p.average_price))
                .collect::<Vec<_>>()
        };
        let row = |instrument: &str, size: &str| {
            (
                "x".to_owned(),
                "deribit".to_owned(),
                instrument.to_owned(),
                "BTC".to_owned(),
                "future".to_owned(),
                size.to_owned(),
                "25000.50".to_owned(),
            )
        };
        let two = [position("ETH-PERPETUAL", "-20"), position("BTC-PERPETUAL", "1000.0")];
        store.replace_positions("alice", "x", &two).await.expect("alice's");
        store.replace_positions("bob", "x", &[position("BTC-PERPETUAL", "-10")]).await.expect("bob's");
        assert_eq!(
            seen(store.positions("alice").await.expect("positions")),
            [row("BTC-PERPETUAL", "1000.0"), row("ETH-PERPETUAL", "-20")],
            "exact text, by instrument"
        );
        let all = store.positions("alice").await.expect("positions");
        assert_eq!(
            (all[0].mark_price.as_str(), all[0].floating_pnl.as_str(), all[0].realized_pnl.as_str()),
            ("27500", "0.00363637", "-0.0000001")
        );
        assert!(all[0].updated_ms > 0);
        assert_eq!(seen(store.positions("bob").await.expect("bob")), [row("BTC-PERPETUAL", "-10")]);

        // A fresh snapshot replaces the last: the closed ETH position is gone.
        store.replace_positions("alice", "x", &two[1..]).await.expect("again");
        assert_eq!(seen(store.positions("alice").await.expect("positions")), [row("BTC-PERPETUAL", "1000.0")]);

        // Refused whole, the stored snapshot untouched: too many, an instrument twice.
        let names: Vec<String> = (0..=sealgate_store::MAX_POSITIONS).map(|i| format!("BTC-{i}-C")).collect();
        let many: Vec<NewPosition<'_>> = names.iter().map(|n| position(n, "1")).collect();
        assert!(matches!(
            store.replace_positions("alice", "x", &many).await,
            Err(StoreError::Invalid { what: "positions", .. })
        ));
        store.replace_positions("alice", "x", &many[..sealgate_store::MAX_POSITIONS]).await.expect("at the cap");
        assert_eq!(store.positions("alice").await.expect("positions").len(), sealgate_store::MAX_POSITIONS);
        store.replace_positions("alice", "x", &two[1..]).await.expect("back to one");
        let twice = [position("BTC-PERPETUAL", "10"), position("BTC-PERPETUAL", "20")];
        assert!(matches!(
            store.replace_positions("alice", "x", &twice).await,
            Err(StoreError::Invalid { what: "positions", .. })
        ));
        assert_eq!(seen(store.positions("alice").await.expect("positions")), [row("BTC-PERPETUAL", "1000.0")]);
        // No such credential of the owner.
        for (owner, cid) in [("mallory", "x"), ("alice", "nope")] {
            assert!(matches!(
                store.replace_positions(owner, cid, &two).await,
                Err(StoreError::NotFound { what: "credential" })
            ));
        }

        // Deleting alice's x hides its positions; bob's x keeps his.
        store.delete_credential("alice", "x").await.expect("delete");
        assert!(store.positions("alice").await.expect("positions").is_empty());
        assert_eq!(seen(store.positions("bob").await.expect("bob")), [row("BTC-PERPETUAL", "-10")]);
        store.replace_positions("bob", "x", &[]).await.expect("bob's closed");
        assert!(store.positions("bob").await.expect("bob").is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_audit_appenders_cannot_fork_the_chain() {
    const APPENDS: usize = 60;
    on_both("audit", |db| async move {
        let a = connect(&db).await;
        let b = connect(&db).await;
        assert!(a.audit_tail().await.expect("tail").is_none());
        let started = Instant::now();
        let mut handles = Vec::new();
        for (name, store) in [("signer-a", a.clone()), ("signer-b", b.clone())] {
            handles.push(tokio::spawn(async move {
                let (mut written, mut builds) = (0, 0);
                for i in 0..APPENDS {
                    let n = 1 + i % 3; // group commits of 1..3 records
                    store
                        .append_audit_with(|tail| {
                            builds += 1;
                            records_after(tail, name, n)
                        })
                        .await
                        .expect("append");
                    written += n;
                }
                (written, builds - APPENDS)
            }));
        }
        let (mut total, mut retries) = (0, 0);
        for h in handles {
            let (written, conflicts) = h.await.expect("appender");
            total += written;
            retries += conflicts;
        }
        let elapsed = started.elapsed();
        let chain = a.audit_range(0, 100_000).await.expect("range");
        assert_eq!(chain.len(), total);
        let mut prev = "genesis".to_owned();
        for (i, r) in chain.iter().enumerate() {
            assert_eq!(r.seq, i as i64 + 1, "seq has no gaps");
            assert_eq!(r.prev_hash, prev, "record {} links to its predecessor", r.seq);
            assert_eq!(r.hash, toy_hash(&r.prev_hash, r.seq, &r.actor, &r.action), "hashed against the real tail");
            prev = r.hash.clone();
        }
        // The detail JSON is stored byte for byte (PostgreSQL JSONB would reorder the keys).
        assert_eq!(chain[0].detail, r#"{"n":0,"b":"z","a":1}"#);
        let tail = a.audit_tail().await.expect("tail").expect("non-empty");
        assert_eq!((tail.seq, tail.hash.as_str()), (total as i64, prev.as_str()));
        eprintln!(
            "audit [{}]: {total} records in {} appends from 2 appenders in {elapsed:.2?} ({retries} conflicts re-hashed and retried)",
            db.backend,
            2 * APPENDS
        );

        // A stale tail is a conflict, a wrong link is refused, and neither writes anything.
        let stale = AuditTail { seq: tail.seq - 1, hash: chain[chain.len() - 2].hash.clone() };
        let recs = records_after(Some(&stale), "x", 1);
        assert!(matches!(a.append_audit(Some(&stale), &recs).await, Err(StoreError::AuditConflict)));
        let forged = AuditTail { seq: tail.seq, hash: "forged".into() };
        let recs = records_after(Some(&forged), "x", 1);
        assert!(matches!(a.append_audit(Some(&forged), &recs).await, Err(StoreError::AuditConflict)));
        assert!(matches!(a.append_audit(None, &records_after(None, "x", 1)).await, Err(StoreError::AuditConflict)));
        let mut bad = records_after(Some(&tail), "x", 2);
        bad[1].prev_hash = "nope".into();
        assert!(matches!(a.append_audit(Some(&tail), &bad).await, Err(StoreError::Invalid { .. })));
        let mut bad = records_after(Some(&tail), "x", 1);
        bad[0].detail = "not json".into();
        assert!(matches!(a.append_audit(Some(&tail), &bad).await, Err(StoreError::Invalid { .. })));
        assert_eq!(a.audit_tail().await.expect("tail"), Some(tail));
        let alice = a.audit_for_owner("alice", 0, 100_000).await.expect("owner trail");
        assert!(!alice.is_empty() && alice.iter().all(|r| r.owner.as_deref() == Some("alice")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dedicated_sqlite_audit_appender_keeps_the_pool_semantics() {
    on_both("audit-appender", |db| async move {
        let store = connect(&db).await;
        let Some(mut app) = store.sqlite_audit_appender().expect("open appender") else {
            // PostgreSQL (and in-memory SQLite) write through the pool.
            assert_eq!(db.backend, "postgres");
            return;
        };
        assert_eq!(app.tail().expect("tail"), None);
        // The appender's thread and the pool race for the same chain: exactly one of two
        // appends naming the same tail succeeds, and the loser's retry extends the winner's.
        let thread = std::thread::spawn(move || {
            let mut written = 0;
            while written < 150 {
                let tail = app.tail().expect("tail");
                match app.append(tail.as_ref(), &records_after(tail.as_ref(), "thread", 3)) {
                    Ok(_) => written += 3,
                    Err(StoreError::AuditConflict) => {}
                    Err(e) => panic!("append: {e}"),
                }
            }
            app
        });
        for _ in 0..50 {
            store.append_audit_with(|t| records_after(t, "pool", 3)).await.expect("pool append");
        }
        let mut app = tokio::task::spawn_blocking(move || thread.join().expect("thread")).await.expect("join");
        let chain = store.audit_range(0, 100_000).await.expect("range");
        assert_eq!(chain.len(), 300);
        let mut prev = "genesis".to_owned();
        for (i, r) in chain.iter().enumerate() {
            assert_eq!((r.seq, r.prev_hash.as_str()), (i as i64 + 1, prev.as_str()), "no fork, no gap");
            prev = r.hash.clone();
        }
        let tail = app.tail().expect("tail").expect("non-empty");
        assert_eq!((tail.seq, tail.hash.as_str()), (300, prev.as_str()));

        // Same refusals as the pool's append, and none writes anything.
        let stale = AuditTail { seq: 299, hash: chain[298].hash.clone() };
        assert!(matches!(
            app.append(Some(&stale), &records_after(Some(&stale), "x", 1)),
            Err(StoreError::AuditConflict)
        ));
        assert!(matches!(app.append(None, &records_after(None, "x", 1)), Err(StoreError::AuditConflict)));
        let mut bad = records_after(Some(&tail), "x", 2);
        bad[1].prev_hash = "nope".into();
        assert!(matches!(app.append(Some(&tail), &bad), Err(StoreError::Invalid { .. })));
        let mut bad = records_after(Some(&tail), "x", 1);
        bad[0].detail = "not json".into();
        assert!(matches!(app.append(Some(&tail), &bad), Err(StoreError::Invalid { .. })));
        assert!(matches!(app.append(Some(&tail), &[]), Err(StoreError::Invalid { .. })));
        assert_eq!(store.audit_tail().await.expect("tail"), Some(tail.clone()));

        // Checkpoints through the appender land in the same table, once per seq.
        let cp = StoredCheckpoint {
            seq: tail.seq,
            hash: tail.hash.clone(),
            time_ms: 1,
            sig: "sig".into(),
            tree_size: None,
            tree_root: None,
        };
        app.add_checkpoint(&cp).expect("checkpoint");
        app.add_checkpoint(&StoredCheckpoint { sig: "other".into(), ..cp.clone() }).expect("duplicate ignored");
        assert_eq!(store.audit_checkpoints().await.expect("checkpoints"), vec![cp]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canary_ciphertext_only_in_envelopes_and_the_secret_nowhere() {
    // The plaintext secret the user typed; sealing happens in the client, so the store is
    // never given it. The marker stands for bytes of the ciphertext.
    const SECRET: &str = "kraken-api-secret-CANARY-5f1e0c9a";
    const MARKER: &str = "JWECANARY7d41b2";
    on_both("canary", |db| async move {
        let store = connect(&db).await;
        let jwe = format!("eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.{MARKER}.iv.{MARKER}ct.tag");
        user_with_credential(&store, "jan", "cid-k", &jwe).await;
        // Populate every other table so the scan has rows to look at.
        store.add_recipient_key("imp-1", "importer", r#"{"kty":"EC"}"#).await.expect("key");
        store.set_key_disabled("imp-1", true).await.expect("disable");
        store.next_nonce("jan", "cid-k", 1).await.expect("nonce");
        // A passkey: public material only.
        let pk = "p".repeat(22);
        store.add_passkey(&new_passkey(&pk, "jan", b"cred-jan"), PasskeyPrecondition::First).await.expect("passkey");
        // An anomaly baseline and rule overrides: counts and thresholds, no secret.
        store.put_anomaly_baseline("jan", "cid-k", r#"{"orders":3}"#).await.expect("baseline");
        store.set_anomaly_overrides("jan", "cid-k", Some(r#"{"burst_factor":8}"#)).await.expect("overrides");
        // A withdrawal waiting for approval: what the owner is shown, and a digest.
        let w = sealgate_store::WithdrawalApproval {
            id: "w1".into(),
            owner: "jan".into(),
            credential_id: "cid-k".into(),
            exchange: "kraken".into(),
            role: "trader".into(),
            asset: "XBT".into(),
            amount: "0.5".into(),
            destination: "bc1qjan".into(),
            network: None,
            request_digest: "AAAA".into(),
            state: "pending".into(),
            approval: None,
            created_ms: 1,
            expires_ms: i64::MAX,
            decided_ms: None,
        };
        let (row, created) = store.withdrawal_request(&w, 2).await.expect("withdrawal");
        assert!(created && row == w);
        let again = sealgate_store::WithdrawalApproval { id: "w2".into(), ..w.clone() };
        assert_eq!(
            store.withdrawal_request(&again, 2).await.expect("again"),
            (w, false),
            "one live request per digest"
        );
        let job = store.enqueue("jan", "cid-k", "full", 3, Duration::ZERO).await.expect("job");
        let claimed = store.claim("w", Duration::from_secs(5)).await.expect("claim").expect("job");
        assert_eq!(claimed.id, job);
        store.checkpoint(&claimed, Some("cursor-1"), Duration::from_secs(5)).await.expect("checkpoint");
        store.upsert_trades("jan", "cid-k", &[trade("T1", "0.1")]).await.expect("trade");
        let snapshot = PortfolioSnapshot {
            day: "2026-12-06".into(),
            currency: "USD".into(),
            total: "50000".into(),
            complete: true,
            assets: r#"[["BTC","50000"]]"#.into(),
            taken_ms: 1,
        };
        store.put_portfolio_snapshot("jan", &snapshot).await.expect("snapshot");
        store.take_tokens("binance", 1, 10, 1, |h, _| h, |_| 0).await.expect("rate bucket");
        store.record_held_key_birth("xk-00112233aabbccdd", "jan", "cid-1", 1).await.expect("held key birth");
        store
            .replace_balances("jan", "cid-k", &[NewBalance { asset: "BTC", free: "1", locked: "0" }])
            .await
            .expect("balance");
        store.replace_positions("jan", "cid-k", &[position("BTC-PERPETUAL", "1000")]).await.expect("position");
        let order = NewOrder {
            id: "o1",
            owner: "jan",
            credential_id: "cid-k",
            client_order_id: "c1",
            symbol: "BTC/USD",
            side: Side::Buy,
            order_type: "market",
            qty: "1",
            price: None,
        };
        store.create_order(&order).await.expect("order");
        store.append_audit_with(|t| records_after(t, "signer", 2)).await.expect("audit");
        let n = store
            .enqueue_notification("jan@example.com", "lockdown", "Your credentials were frozen.")
            .await
            .expect("outbox");
        assert_eq!(store.pending_notifications(10).await.expect("pending").len(), 1);
        assert!(store.mark_notification_sent(n).await.expect("sent"));
        assert!(!store.mark_notification_sent(n).await.expect("sent twice"));
        store.set_contact_email("jan", "jan@example.com", "confirmed").await.expect("contact");
        store.add_email_confirm_token(&[8u8; 32], "jan", "jan@example.com", i64::MAX).await.expect("confirm token");
        store.add_webhook_endpoint("wh1", Some("jan"), "https://hooks.example/x").await.expect("webhook");
        store.add_lockdown_token(&[9u8; 32], "jan", Some(n), i64::MAX).await.expect("lockdown token");
        store.add_login_token(&[5u8; 32], "jan", 1, i64::MAX).await.expect("login token");
        let session =
            NewSession { id_hash: &[6u8; 32], user_id: "jan", csrf_hash: &[7u8; 32], now_ms: 1, expires_ms: i64::MAX };
        store.add_session(&session).await.expect("session");

        // Errors never echo a parameter: a refused write whose parameters hold the marker.
        let dup =
            NewCredential { id: "cid-k", owner: "jan", exchange: "kraken", label: MARKER, hint: "", scope: "read" };
        let err = store
            .create_credential(&dup, &[NewEnvelope { role: "importer", kid: "k", jwe: &jwe }])
            .await
            .expect_err("dup");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(MARKER), "error text leaks a parameter: {shown}");
        let ghost =
            NewCredential { id: "cid-z", owner: MARKER, exchange: "kraken", label: "", hint: "", scope: "read" };
        let err = store.create_credential(&ghost, &[]).await.expect_err("no owner");
        assert!(!format!("{err} {err:?}").contains(MARKER));

        let rows = all_rows(&db).await;
        let tables: HashSet<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
        for t in TABLES {
            assert!(tables.contains(t), "{t} was scanned and has rows");
        }
        for (table, row) in &rows {
            assert!(!row.contains(SECRET), "plaintext secret found in {table}");
            if row.contains(MARKER) {
                assert_eq!(table, "envelopes", "ciphertext marker outside the envelopes table");
            }
        }
        assert!(rows.iter().any(|(t, r)| t == "envelopes" && r.contains(MARKER)), "the scan sees the envelope");
        // And not one byte of the SQLite files holds the secret.
        if let Some(path) = &db.sqlite_path {
            store.close().await;
            for suffix in ["", "-wal", "-shm"] {
                let file = format!("{}{suffix}", path.display());
                if let Ok(bytes) = std::fs::read(&file) {
                    assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "secret in {file}");
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_copied_beside_the_appender_and_reset_between_commits() {
    on_both("audit-wal", |db| async move {
        let store = connect(&db).await;
        let (Some(mut app), Some(mut copier)) = (
            store.sqlite_audit_appender().expect("open appender"),
            store.sqlite_wal_checkpointer().expect("open checkpointer"),
        ) else {
            assert_eq!(db.backend, "postgres");
            return;
        };
        let append = |app: &mut sealgate_store::SqliteAuditAppender, n: usize| {
            for _ in 0..n {
                let tail = app.tail().expect("tail");
                app.append(tail.as_ref(), &records_after(tail.as_ref(), "w", 5)).expect("append");
            }
        };
        // The appender never checkpoints on its own: its WAL only grows.
        append(&mut app, 40);
        let first = copier.run().expect("passive");
        assert!(first.frames >= 40, "{first:?}");
        assert_eq!(first.copied, first.frames, "nothing else writes: all of it is copied");
        // Once all of it is copied, the next commit starts the WAL again by itself.
        append(&mut app, 10);
        let second = copier.run().expect("passive");
        assert!(second.frames < first.frames, "{second:?} vs {first:?}");

        // Copies run on another thread while appends go on; nothing is lost or forked.
        let copying = std::thread::spawn(move || {
            for _ in 0..50 {
                copier.run().expect("passive beside appends");
            }
            copier
        });
        append(&mut app, 100);
        let mut copier = copying.join().expect("copier");
        let reset = app.restart_wal().expect("restart");
        assert_eq!(reset.copied, reset.frames);
        // After the reset the next commit writes the WAL from its start.
        append(&mut app, 1);
        let after = copier.run().expect("passive");
        assert!(after.frames < first.frames, "the WAL started again: {after:?} vs {first:?}");

        // A writer without a checkpointer thread goes back to checkpointing in its commits
        // (every 1000 frames): 600 commits of two or more frames each stay under that.
        app.checkpoint_in_commits().expect("autocheckpoint");
        append(&mut app, 600);
        let bounded = copier.run().expect("passive");
        assert!(bounded.frames < 1100, "{bounded:?}");

        let chain = store.audit_range(0, 100_000).await.expect("range");
        assert_eq!(chain.len(), 751 * 5);
        let mut prev = "genesis".to_owned();
        for (i, r) in chain.iter().enumerate() {
            assert_eq!((r.seq, r.prev_hash.as_str()), (i as i64 + 1, prev.as_str()), "no fork, no gap");
            prev = r.hash.clone();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_touches_only_the_recorded_envelope_and_reads_the_chain_by_seq() {
    on_both("revocation", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "alice", "cid-r1", "jwe.r1.importer").await;
        user_with_credential(&store, "bob", "cid-b1", "jwe.b1.importer").await;
        let trader = NewEnvelope { role: "trader", kid: "trd-1", jwe: "jwe.r1.trader" };
        store.put_envelope("alice", "cid-r1", &trader).await.expect("trader");
        // Carol has a credential with the same id, and (as a database writer could arrange)
        // rows with the same texts: only the owner tells them apart.
        user_with_credential(&store, "carol", "cid-r1", "jwe.r1.importer").await;
        store.put_envelope("carol", "cid-r1", &trader).await.expect("carol's trader");
        let carols = store.owner_envelopes("carol", "cid-r1").await.expect("carol's");
        assert_eq!(carols.len(), 2);
        assert!(carols.iter().all(|e| e.owner == "carol" && e.credential_id == "cid-r1"), "{carols:?}");

        // The owner's envelopes, ciphertext included, by role; another owner sees none.
        let envs = store.owner_envelopes("alice", "cid-r1").await.expect("envelopes");
        let texts: Vec<(&str, &str, &str)> =
            envs.iter().map(|e| (e.owner.as_str(), e.role.as_str(), e.jwe.as_str())).collect();
        assert_eq!(texts, [("alice", "importer", "jwe.r1.importer"), ("alice", "trader", "jwe.r1.trader")]);
        assert!(store.owner_envelopes("bob", "cid-r1").await.expect("envelopes").is_empty());

        // Compare-and-set delete: only the recorded text, only by its owner.
        assert!(!store.delete_envelope_if("alice", "cid-r1", "trader", "jwe.other").await.expect("cas"));
        assert!(!store.delete_envelope_if("bob", "cid-r1", "trader", "jwe.r1.trader").await.expect("owner"));
        assert!(store.delete_envelope_if("alice", "cid-r1", "trader", "jwe.r1.trader").await.expect("delete"));
        assert!(!store.delete_envelope_if("alice", "cid-r1", "trader", "jwe.r1.trader").await.expect("twice"));
        assert_eq!(store.owner_envelopes("carol", "cid-r1").await.expect("carol's"), carols, "carol's untouched");

        // Compare-and-set re-seal, with the credential's scope, in one transaction.
        let new = NewEnvelope { role: "importer", kid: "imp-2", jwe: "jwe.r1.importer.v2" };
        assert!(!store.replace_envelope("alice", "cid-r1", "jwe.stale", &new, "read").await.expect("stale"));
        assert!(!store.replace_envelope("bob", "cid-r1", "jwe.r1.importer", &new, "read").await.expect("owner"));
        let c = store.get_credential("alice", "cid-r1").await.expect("get").expect("exists");
        assert_eq!(c.scope, "read,trade", "a refused re-seal changes nothing");
        assert!(store.replace_envelope("alice", "cid-r1", "jwe.r1.importer", &new, "read").await.expect("replace"));
        let (c, env) = store.signer_envelope("alice", "cid-r1", "importer").await.expect("signer").expect("present");
        assert_eq!((c.scope.as_str(), env.kid.as_str(), env.jwe.as_str()), ("read", "imp-2", "jwe.r1.importer.v2"));
        assert_eq!(store.owner_envelopes("carol", "cid-r1").await.expect("carol's"), carols, "carol's untouched");
        let c = store.get_credential("carol", "cid-r1").await.expect("get").expect("carol's");
        assert_eq!(c.scope, "read,trade", "carol's scope untouched");

        // Delete returns what it destroyed; a deleted credential takes no re-seal and is not found again.
        let gone = store.delete_credential_envelopes("alice", "cid-r1").await.expect("delete");
        assert_eq!(
            gone.iter().map(|e| (e.owner.as_str(), e.jwe.as_str())).collect::<Vec<_>>(),
            [("alice", "jwe.r1.importer.v2")]
        );
        assert_eq!(store.owner_envelopes("carol", "cid-r1").await.expect("carol's"), carols, "carol's untouched");
        let c = store.get_credential("carol", "cid-r1").await.expect("get").expect("carol's");
        assert_eq!(c.status, CredentialStatus::Active, "carol's credential is not deleted");
        let again = NewEnvelope { role: "importer", kid: "imp-3", jwe: "jwe.r1.importer.v3" };
        assert!(!store.replace_envelope("alice", "cid-r1", "jwe.r1.importer.v2", &again, "read").await.expect("gone"));
        assert!(matches!(store.delete_credential_envelopes("alice", "cid-r1").await, Err(StoreError::NotFound { .. })));
        assert!(matches!(store.delete_credential_envelopes("alice", "cid-b1").await, Err(StoreError::NotFound { .. })));
        assert_eq!(store.owner_envelopes("bob", "cid-b1").await.expect("bob's").len(), 1, "bob's untouched");

        // The chain by seq, and checkpoints in a range.
        store.append_audit_with(|tail| records_after(tail, "x", 5)).await.expect("append");
        let third = store.audit_record(3).await.expect("record").expect("present");
        assert_eq!(third.seq, 3);
        assert!(store.audit_record(6).await.expect("record").is_none());
        for seq in [2, 4, 5] {
            let cp = StoredCheckpoint {
                seq,
                hash: format!("h{seq}"),
                time_ms: 1,
                sig: "s".into(),
                tree_size: None,
                tree_root: None,
            };
            store.add_audit_checkpoint(&cp).await.expect("checkpoint");
        }
        let seqs = |v: Vec<StoredCheckpoint>| v.into_iter().map(|c| c.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.audit_checkpoints_in(2, 5, 10).await.expect("in")), [4, 5]);
        assert_eq!(seqs(store.audit_checkpoints_in(0, 4, 10).await.expect("in")), [2, 4]);
        assert_eq!(seqs(store.audit_checkpoints_in(0, i64::MAX, 1).await.expect("in")), [2]);
        assert!(store.audit_checkpoints_in(5, i64::MAX, 10).await.expect("in").is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_token_is_taken_once_even_by_racing_servers_and_sessions_end() {
    on_both("login tokens and sessions", |db| async move {
        let store = connect(&db).await;
        store.create_user("alice", None).await.expect("user");
        let (now, token) = (1_700_000_000_000_i64, [1u8; 32]);
        store.add_login_token(&token, "alice", now, now + 900_000).await.expect("add");
        // An expired token is purged by the next add.
        store.add_login_token(&[2u8; 32], "alice", now - 2_000_000, now - 1_000_000).await.expect("add old");
        store.add_login_token(&[3u8; 32], "alice", now, now + 900_000).await.expect("add another");
        assert_eq!(store.take_login_token(&[2u8; 32]).await.expect("take"), None, "purged");
        let takers: Vec<_> = (0..8)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.take_login_token(&token).await.expect("take") })
            })
            .collect();
        let mut won = Vec::new();
        for t in takers {
            won.extend(t.await.expect("join"));
        }
        assert_eq!(won, vec![("alice".to_owned(), now + 900_000)], "exactly one taker");
        // An unknown user cannot be given a token (foreign key).
        assert!(store.add_login_token(&[4u8; 32], "nobody", now, now + 1).await.is_err());

        let id = [9u8; 32];
        let new =
            NewSession { id_hash: &id, user_id: "alice", csrf_hash: &[8u8; 32], now_ms: now, expires_ms: now + 10 };
        store.add_session(&new).await.expect("session");
        let got = store.session(&id).await.expect("get").expect("stored");
        assert_eq!((got.user_id.as_str(), got.csrf_hash.as_slice(), got.last_seen_ms), ("alice", &[8u8; 32][..], now));
        store.touch_session(&id, now + 5).await.expect("touch");
        store.touch_session(&id, now + 1).await.expect("touch back");
        assert_eq!(store.session(&id).await.expect("get").expect("stored").last_seen_ms, now + 5, "never moves back");
        store.delete_session(&id).await.expect("delete");
        assert_eq!(store.session(&id).await.expect("get"), None);
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_owner_retries_a_failed_job_from_its_cursor_and_no_one_else_can() {
    on_both("retry_job", |db| async move {
        let s = connect(&db).await;
        user_with_credential(&s, "rae", "cid-r", "jwe").await;
        user_with_credential(&s, "sam", "cid-s", "jwe").await;
        let id = s.enqueue("rae", "cid-r", "full", 2, Duration::ZERO).await.expect("enqueue");
        let j = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        s.checkpoint(&j, Some("page-3"), Duration::from_secs(60)).await.expect("checkpoint");
        // Running: not retryable; nobody else's either.
        assert_eq!(
            s.retry_job("rae", id, 2).await.expect("retry"),
            Some(RetryOutcome::NotRetryable(JobState::Running))
        );
        s.give_up(&j, "the importer's service key is not trusted by the signer").await.expect("give up");
        assert_eq!(s.retry_job("sam", id, 2).await.expect("retry"), None, "another user's job is not found");
        assert_eq!(s.retry_job("rae", id + 1000, 2).await.expect("retry"), None);
        let summary = s.import_summaries("rae").await.expect("summaries");
        assert_eq!(
            (summary[0].job_id, summary[0].last_error.as_deref()),
            (Some(id), Some("the importer's service key is not trusted by the signer"))
        );
        assert!(s.owner_job("sam", id).await.expect("job").is_none());
        assert_eq!(s.owner_jobs("rae", 10).await.expect("jobs").len(), 1);

        let Some(RetryOutcome::Queued(q)) = s.retry_job("rae", id, 2).await.expect("retry") else {
            panic!("not queued")
        };
        assert_eq!(
            (q.state, q.attempts, q.max_attempts, q.cursor.as_deref(), q.last_error, q.locked_by),
            (JobState::Queued, 1, 3, Some("page-3"), None, None)
        );
        // Runnable now, from the cursor, with a full budget of attempts again.
        let again = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("claimable");
        assert_eq!((again.id, again.attempts, again.cursor.as_deref()), (id, 2, Some("page-3")));
        // The old claim (same worker name, attempt 1) stays fenced out.
        assert!(matches!(s.complete(&j).await, Err(StoreError::LeaseLost)));
        // A job waiting out a long backoff is retried now.
        assert_eq!(s.fail(&again, "exchange 503", Duration::from_secs(3600)).await.expect("fail"), JobState::Queued);
        assert!(s.claim("w", Duration::from_secs(60)).await.expect("claim").is_none(), "backing off");
        assert!(matches!(s.retry_job("rae", id, 2).await.expect("retry"), Some(RetryOutcome::Queued(_))));
        assert!(matches!(s.retry_job("rae", id, 0).await, Err(StoreError::Invalid { .. })));
        let now = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("runnable now");
        assert_eq!(s.fail(&now, "exchange 503", Duration::ZERO).await.expect("fail"), JobState::Queued);
        let now = s.claim("w", Duration::from_secs(60)).await.expect("claim").expect("runnable now");
        s.complete(&now).await.expect("complete");
        let done = s.job(id).await.expect("job").expect("stored");
        assert_eq!((done.state, done.last_error), (JobState::Done, None), "a done job shows no old error");
        assert_eq!(s.retry_job("rae", id, 2).await.expect("retry"), Some(RetryOutcome::NotRetryable(JobState::Done)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_keep_their_reason_and_unknown_ones_are_found_for_reconciling() {
    on_both("order_outcomes", |db| async move {
        let s = connect(&db).await;
        user_with_credential(&s, "una", "cid-u", "jwe").await;
        user_with_credential(&s, "vic", "cid-v", "jwe").await;
        let order = |id: &'static str, owner: &'static str, cid: &'static str| NewOrder {
            id,
            owner,
            credential_id: cid,
            client_order_id: id,
            symbol: "XBTUSD",
            side: Side::Buy,
            order_type: "limit",
            qty: "1",
            price: Some("10"),
        };
        for (id, owner, cid) in [("o-1", "una", "cid-u"), ("o-2", "una", "cid-u"), ("o-3", "vic", "cid-v")] {
            let o = s.create_order(&order(id, owner, cid)).await.expect("order");
            assert_eq!((o.reason, o.status_checks), (None, 0));
        }
        let long = "é".repeat(400);
        s.set_order_outcome("una", "o-1", None, "rejected", Some(&long)).await.expect("reject");
        let o = s.order("una", "o-1").await.expect("order").expect("exists");
        assert_eq!(o.status, "rejected");
        assert!(o.reason.as_deref().is_some_and(|r| r.len() <= 300 && r.chars().all(|c| c == 'é')), "bounded");
        assert!(matches!(
            s.set_order_outcome("vic", "o-1", None, "rejected", None).await,
            Err(StoreError::NotFound { .. })
        ));
        s.set_order_outcome("una", "o-2", None, "unknown", Some("the exchange did not answer")).await.expect("unknown");
        s.set_order_outcome("vic", "o-3", Some("X-3"), "open", None).await.expect("open");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let far =
            i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_millis())
                .expect("ms")
                + 1000;
        let found = s.unknown_orders(far, 3, 10).await.expect("unknown");
        assert_eq!(found.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["o-2"]);
        assert!(s.unknown_orders(0, 3, 10).await.expect("unknown").is_empty(), "too recent");
        for n in 1..=3 {
            assert_eq!(s.count_status_check("una", "o-2").await.expect("check"), n);
        }
        assert!(s.unknown_orders(far, 3, 10).await.expect("unknown").is_empty(), "bounded checks");
        assert!(matches!(s.count_status_check("vic", "o-2").await, Err(StoreError::NotFound { .. })));

        // Open orders of frozen credentials (a lockdown's cancel-all).
        assert!(s.open_orders_on("vic", "frozen", 100).await.expect("open").is_empty());
        s.lockdown("vic").await.expect("lockdown");
        let open = s.open_orders_on("vic", "frozen", 100).await.expect("open");
        assert_eq!(open.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["o-3"]);
        let una = s.open_orders_on("una", "active", 100).await.expect("open");
        assert_eq!(una.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), ["o-2"], "rejected is not open");
        assert!(s.open_orders_on("una", "active", 0).await.expect("open").is_empty(), "bounded");
    })
    .await;
}

/// Re-wrap claims: a batch is replaced only where the row still holds the JWE read (a
/// concurrent re-seal wins); on PostgreSQL a second claimer skips the rows the first holds,
/// and a waiting claimer sees them only if they are still on the old version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rewrap_claims_compare_and_set_and_skip_locked_rows() {
    use sealgate_store::Rewrapped;
    on_both("rewrap_claims", |db| async move {
        let store = connect(&db).await;
        for i in 0..4 {
            user_with_credential(&store, &format!("u{i}"), &format!("c{i}"), &format!("old-{i}")).await;
        }
        assert_eq!(store.envelopes_on_kid("imp-1").await.expect("count"), 4);
        let claim = store.claim_rewrap("imp-1", None, 2, false).await.expect("claim");
        assert_eq!(claim.rows.iter().map(|r| r.credential_id.as_str()).collect::<Vec<_>>(), ["c0", "c1"]);
        assert_eq!(claim.rows[0].exchange, "kraken");
        if db.backend == "postgres" {
            // Another process skips the locked rows instead of waiting.
            let other = store.claim_rewrap("imp-1", None, 10, false).await.expect("other claim");
            assert_eq!(other.rows.iter().map(|r| r.credential_id.as_str()).collect::<Vec<_>>(), ["c2", "c3"]);
            drop(other);
        }
        // The owner re-seals c1 meanwhile (compare-and-set on its ciphertext).
        let reseal = NewEnvelope { role: "importer", kid: "imp-1", jwe: "resealed-1" };
        let mut reseal_task = Some({
            let store = store.clone();
            tokio::spawn(async move {
                let reseal = reseal;
                store.replace_envelope("u1", "c1", "old-1", &reseal, "read").await.expect("reseal")
            })
        });
        if db.backend == "sqlite" {
            let task = reseal_task.take().expect("task");
            assert!(task.await.expect("task"), "SQLite: the re-seal lands before the batch");
        }
        let rows = claim.rows.clone();
        let done: Vec<Rewrapped<'_>> =
            rows.iter().map(|r| Rewrapped { old: r, new_kid: "imp-2", new_jwe: "new" }).collect();
        let n = claim.finish(&done).await.expect("finish");
        if db.backend == "sqlite" {
            assert_eq!(n, 1, "the re-sealed row is left alone");
            assert_eq!(store.owner_envelopes("u1", "c1").await.expect("env")[0].jwe, "resealed-1");
        } else {
            // PostgreSQL: the re-seal waited for the batch's lock, then found its row changed.
            assert_eq!(n, 2);
            let task = reseal_task.take().expect("task");
            assert!(!task.await.expect("task"), "the re-seal's compare-and-set lost");
            assert_eq!(store.owner_envelopes("u1", "c1").await.expect("env")[0].jwe, "new");
        }
        assert_eq!(store.owner_envelopes("u0", "c0").await.expect("env")[0].kid, "imp-2");
        // A waiting claim from the start sees only rows still on the old version.
        let rest = store.claim_rewrap("imp-1", None, 10, true).await.expect("claim");
        let left: Vec<&str> = rest.rows.iter().map(|r| r.credential_id.as_str()).collect();
        let want: &[&str] = if db.backend == "sqlite" { &["c1", "c2", "c3"] } else { &["c2", "c3"] };
        assert_eq!(left, want, "the re-sealed c1 stays on imp-1 on SQLite");
        drop(rest);

        store.set_key_disabled("imp-1", true).await.expect("disable");
        store.set_key_disabled("imp-1", true).await.expect("twice is fine");
        assert_eq!(store.disabled_keys().await.expect("list"), ["imp-1"]);
        store.set_key_disabled("imp-1", false).await.expect("lift");
        assert!(store.disabled_keys().await.expect("list").is_empty());
    })
    .await;
}

fn new_passkey<'a>(id: &'a str, user: &'a str, cred: &'a [u8]) -> NewPasskey<'a> {
    NewPasskey {
        id,
        user_id: user,
        credential_id: cred,
        name: "laptop",
        thumbprint: "t".repeat(43).leak(),
        jwk: r#"{"kty":"EC"}"#,
        passkey: "{}",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passkeys_first_is_decided_once_and_the_last_is_never_removed_by_the_user() {
    on_both("passkeys", |db| async move {
        let store = connect(&db).await;
        store.create_user("ann", None).await.expect("ann");
        store.create_user("bob", None).await.expect("bob");
        let (a1, a2, b1) = ("a".repeat(22), "b".repeat(22), "c".repeat(22));
        // "Another" before any: refused (a step-up by a passkey that no longer exists).
        let err = store.add_passkey(&new_passkey(&a1, "ann", b"cred-1"), PasskeyPrecondition::Another).await;
        assert!(matches!(err, Err(StoreError::Conflict { .. })), "{err:?}");
        let first = store.add_passkey(&new_passkey(&a1, "ann", b"cred-1"), PasskeyPrecondition::First).await;
        let first = first.expect("first");
        assert_eq!((first.user_id.as_str(), first.last_used_ms), ("ann", None));
        // A second "first" (two registrations racing on trust-on-first-use) is refused.
        let again = store.add_passkey(&new_passkey(&a2, "ann", b"cred-2"), PasskeyPrecondition::First).await;
        assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");
        // One credential id belongs to one account: bob cannot register ann's.
        let stolen = store.add_passkey(&new_passkey(&b1, "bob", b"cred-1"), PasskeyPrecondition::First).await;
        assert!(matches!(stolen, Err(StoreError::AlreadyExists { .. })), "{stolen:?}");
        assert!(store.passkeys("bob").await.expect("bob's").is_empty());
        // Unknown user.
        let ghost = store.add_passkey(&new_passkey(&b1, "ghost", b"cred-9"), PasskeyPrecondition::First).await;
        assert!(matches!(ghost, Err(StoreError::NotFound { .. })), "{ghost:?}");
        store.add_passkey(&new_passkey(&a2, "ann", b"cred-2"), PasskeyPrecondition::Another).await.expect("second");
        store.add_passkey(&new_passkey(&b1, "bob", b"cred-3"), PasskeyPrecondition::First).await.expect("bob's");
        let ann = store.passkeys("ann").await.expect("ann's");
        assert_eq!(ann.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [a1.as_str(), a2.as_str()]);
        assert_eq!(ann[1].credential_id, b"cred-2");
        // Use: counter state and time; another user's passkey is not found.
        store.passkey_used("ann", &a2, r#"{"n":1}"#, 1234).await.expect("used");
        assert!(matches!(store.passkey_used("bob", &a2, "{}", 1).await, Err(StoreError::NotFound { .. })));
        let used = store.passkeys("ann").await.expect("ann's");
        assert_eq!((used[1].passkey.as_str(), used[1].last_used_ms), (r#"{"n":1}"#, Some(1234)));
        // Removal: not another user's; never the last.
        assert!(matches!(store.remove_passkey("bob", &a1).await, Err(StoreError::NotFound { .. })));
        let removed = store.remove_passkey("ann", &a1).await.expect("remove one of two");
        assert_eq!(removed.id, a1);
        let last = store.remove_passkey("ann", &a2).await;
        assert!(matches!(last, Err(StoreError::Conflict { .. })), "{last:?}");
        assert_eq!(store.passkeys("ann").await.expect("ann's").len(), 1);
        // Two removals at once of a user's two passkeys: exactly one succeeds.
        let a3 = "d".repeat(22);
        store.add_passkey(&new_passkey(&a3, "ann", b"cred-4"), PasskeyPrecondition::Another).await.expect("third");
        let (s1, s2) = (store.clone(), store.clone());
        let (x, y) = (a2.clone(), a3.clone());
        let (r1, r2) = tokio::join!(
            tokio::spawn(async move { s1.remove_passkey("ann", &x).await }),
            tokio::spawn(async move { s2.remove_passkey("ann", &y).await })
        );
        let oks = [r1.expect("join"), r2.expect("join")].iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1);
        assert_eq!(store.passkeys("ann").await.expect("ann's").len(), 1);
        // The operator's reset removes all (and only the user's).
        let reset = store.reset_passkeys("ann").await.expect("reset");
        assert_eq!(reset.len(), 1);
        assert!(store.passkeys("ann").await.expect("ann's").is_empty());
        assert_eq!(store.passkeys("bob").await.expect("bob's").len(), 1);
        store.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_refreshes_are_queued_once_per_slot_even_by_concurrent_processes() {
    on_both("enqueue-unless-pending", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "gus", "cid-s", "jwe").await;
        user_with_credential(&store, "gus", "cid-gone", "jwe").await;
        store.set_credential_status("gus", "cid-gone", CredentialStatus::Frozen).await.expect("freeze");
        // A credential with no importer envelope is no refresh target.
        let new =
            NewCredential { id: "cid-t", owner: "gus", exchange: "kraken", label: "t", hint: "x", scope: "trade" };
        store.create_credential(&new, &[NewEnvelope { role: "trader", kid: "t", jwe: "j" }]).await.expect("trader");
        let targets = store.refresh_targets().await.expect("targets");
        assert_eq!(
            targets.iter().map(|t| (t.owner.as_str(), t.credential_id.as_str())).collect::<Vec<_>>(),
            [("gus", "cid-s")]
        );

        // Two processes (two pools) race to queue the same slot, many times over.
        let other = connect(&db).await;
        let (slot, delay) = (Duration::from_secs(900), Duration::from_secs(60));
        let mut won = 0;
        for _ in 0..10 {
            let (a, b) = tokio::join!(
                store.enqueue_unless_pending("gus", "cid-s", "refresh", 3, delay, slot),
                other.enqueue_unless_pending("gus", "cid-s", "refresh", 3, delay, slot),
            );
            won += usize::from(a.expect("a").is_some()) + usize::from(b.expect("b").is_some());
        }
        assert_eq!(won, 1, "one job for the credential, whoever asked");
        let jobs = store.owner_jobs("gus", 10).await.expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].state == JobState::Queued && jobs[0].kind == "refresh");

        // Done, and the same slot asked again: nothing; the next slot: queued.
        store.retry_job("gus", jobs[0].id, 1).await.expect("runnable now");
        let job = store.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        store.complete(&job).await.expect("done");
        let again = store.enqueue_unless_pending("gus", "cid-s", "refresh", 3, delay, slot).await.expect("again");
        assert_eq!(again, None, "this slot already ran");
        let next = store.enqueue_unless_pending("gus", "cid-s", "refresh", 3, delay + slot, slot).await;
        assert!(next.expect("next slot").is_some());
        assert!(matches!(
            store.enqueue_unless_pending("gus", "nope", "refresh", 3, delay, slot).await,
            Err(StoreError::NotFound { what: "credential" })
        ));

        // After an order: the queued refresh is brought forward rather than doubled.
        let queued = store.owner_jobs("gus", 1).await.expect("jobs")[0].clone();
        let (a, b) = tokio::join!(
            store.enqueue_now("gus", "cid-s", "refresh", 3),
            other.enqueue_now("gus", "cid-s", "refresh", 3)
        );
        assert_eq!((a.expect("a"), b.expect("b")), (Some(queued.id), Some(queued.id)));
        let now_job = store.job(queued.id).await.expect("job").expect("exists");
        assert!(now_job.run_after_ms < queued.run_after_ms, "runnable now");
        assert_eq!(store.owner_jobs("gus", 10).await.expect("jobs").len(), 2);
        // While a refresh runs, one more is queued after it (the running one may have
        // read the history before the order's trades), but only one.
        let _running = store.claim("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        let (a, b) = tokio::join!(
            store.enqueue_now("gus", "cid-s", "refresh", 3),
            other.enqueue_now("gus", "cid-s", "refresh", 3)
        );
        let (a, b) = (a.expect("a").expect("queued"), b.expect("b").expect("queued"));
        assert_eq!(a, b);
        assert_eq!(store.owner_jobs("gus", 10).await.expect("jobs").len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trade_marks_are_the_newest_trades_per_symbol() {
    on_both("trade-marks", |db| async move {
        let store = connect(&db).await;
        user_with_credential(&store, "hal", "cid-m", "jwe").await;
        user_with_credential(&store, "ivy", "cid-m", "jwe").await;
        assert!(store.trade_marks("hal", "cid-m").await.expect("none").is_empty());
        let t = |id: &str, symbol: &str, time_ms| Trade { symbol: symbol.into(), time_ms, ..trade(id, "0") };
        let rows = [
            t("BTCUSDT-9", "BTCUSDT", 100),
            t("BTCUSDT-10", "BTCUSDT", 200),
            t("BTCUSDT-11", "BTCUSDT", 200),
            t("ETHUSDT-3", "ETHUSDT", 50),
        ];
        store.upsert_trades("hal", "cid-m", &rows).await.expect("trades");
        store.upsert_trades("ivy", "cid-m", &[t("BTCUSDT-99", "BTCUSDT", 900)]).await.expect("ivy's");
        let marks = store.trade_marks("hal", "cid-m").await.expect("marks");
        let got: Vec<(&str, &str, i64)> =
            marks.iter().map(|m| (m.symbol.as_str(), m.exchange_trade_id.as_str(), m.time_ms)).collect();
        assert_eq!(got, [("BTCUSDT", "BTCUSDT-10", 200), ("BTCUSDT", "BTCUSDT-11", 200), ("ETHUSDT", "ETHUSDT-3", 50)]);
    })
    .await;
}
