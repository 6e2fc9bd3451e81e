//! The whole journey through HTTP against a real `sealgate serve` process,
//! on SQLite and on PostgreSQL: sign in with the printed link, verify the
//! signed recipient key set against the printed pin, seal a Binance key to
//! the importer and trader roles (as a client does), store it, watch the
//! import make the portfolio equal the exchange account, place an order,
//! try a withdrawal (refused, audited, and the exchange logged none), an
//! authorization matrix across users, service roles and the anonymous, a
//! lockdown — then the canary secret is searched for in every log line,
//! every HTTP response (status line, headers, body) and every byte of the
//! database: it is nowhere. Finally `sealgate audit verify --database`
//! checks the chain and its signed checkpoints.

mod common;
#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::api::{Client, Who, holding, login, seal, wait_for_import};
use common::serve::Server;
use sealgate_sandbox::{Amount, KeySpec, Market, Permissions, Sandbox, Venue};
use sealgate_server::service_auth::ServiceKey;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_sealgate");
const API_KEY: &str = "journey-api-key-7Qx2";
/// The canary: if any byte sequence of it shows up outside the signer, the test fails.
const SECRET: &str = "CANARY-7f1e9b2c-journey-secret-d4a8";
const OTHER_KEY: &str = "other-user-api-key-9Zz1";
const OTHER_SECRET: &str = "CANARY-other-user-secret-3b7e";

fn amt(s: &str) -> Amount {
    Amount::parse(s).expect("amount")
}

/// Every byte the database holds: the SQLite files, or every row of every
/// table of the PostgreSQL database as text.
async fn database_bytes(db: &harness::TestDb, data: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    match db.backend {
        "sqlite" => {
            for entry in std::fs::read_dir(data).expect("data dir").flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("sealgate.db") {
                    out.extend(std::fs::read(entry.path()).expect("db file"));
                }
            }
            assert!(!out.is_empty(), "no SQLite files found");
        }
        _ => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("pg");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut c)
            .await
            .expect("tables");
            assert!(tables.len() >= 10, "{tables:?}");
            for t in tables {
                let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{t}\" t"))
                    .fetch_all(&mut c)
                    .await
                    .expect("rows");
                for r in rows {
                    out.extend(r.into_bytes());
                }
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_through_http() {
    harness::on_both("journey", |db| async move {
        // The exchange: a key that may do everything, withdrawals included.
        let all = Permissions { read: true, trade: true, withdraw: true };
        let spec = |key: &str, secret: &str| KeySpec {
            venue: Venue::Binance,
            api_key: key.into(),
            secret: secret.into(),
            permissions: all,
            allowed_ips: vec![],
            passphrase: None,
            balances: vec![("BTC".into(), amt("1.5")), ("USDT".into(), amt("25000"))],
        };
        let market = Market { symbol: "BTCUSDT".into(), base: "BTC".into(), quote: "USDT".into(), price: amt("50000") };
        let sandbox = Sandbox::start("127.0.0.1:0".parse().expect("addr"), vec![spec(API_KEY, SECRET), spec(OTHER_KEY, OTHER_SECRET)], vec![market])
            .await
            .expect("sandbox");
        assert!(sandbox.seed_trades(API_KEY, "BTCUSDT", 25));

        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        let database = (db.backend == "postgres").then_some(db.url.as_str());
        let server = Server::start(&data, database, &format!("http://{}", sandbox.addr()), &["binance"]).await;
        let base = server.base.clone();
        let service = server.service.clone();
        let client = Client::new();

        // Health, readiness, metrics; the process holding opened credentials is hardened.
        for path in ["/healthz", "/readyz"] {
            let r = client.http.get(format!("{base}{path}")).send().await.expect("health");
            assert_eq!(r.status().as_u16(), 200, "{path}");
        }
        let metrics = client.http.get(format!("{service}/metrics")).send().await.expect("metrics").text().await.expect("text");
        // The service routes are on the service listener only.
        for path in ["/metrics", "/v1/sign", "/v1/forward"] {
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let r = client.http.request(method.clone(), format!("{base}{path}")).send().await.expect("public");
                assert_eq!(r.status().as_u16(), 404, "{method} {path} on the public listener");
            }
        }
        assert!(metrics.contains("sealgate_non_dumpable 1"), "{metrics}");
        if metrics.contains("sealgate_memory_locked 1") {
            let status = std::fs::read_to_string(format!("/proc/{}/status", server.proc.child.id())).expect("status");
            let locked = status.lines().find(|l| l.starts_with("VmLck:")).expect("VmLck");
            assert_ne!(locked.split_whitespace().nth(1), Some("0"), "{locked}");
        }

        // Sign in; the recipient key set verifies against the printed pin.
        let me = login(&client, &server.login).await;
        let (s, who) = client.call(&base, &me, "GET", "/v1/me", None).await;
        assert_eq!(s, 200, "{who}");
        let user = who["id"].as_str().or(who["user_id"].as_str()).expect("user id").to_owned();
        let (s, set) = client.call(&base, &Who::Anonymous, "GET", "/v1/recipients", None).await;
        assert_eq!(s, 200);
        assert_eq!(set["root_pin"], server.pin.as_str());
        let keys = sealgate_custody::keyset::verify(set["keyset"].as_str().expect("jws"), &server.pin, sealgate_server::now_ms() / 1000)
            .expect("key set verifies against the pin");

        // Seal at the edge, store.
        let cred = json!({"api_key": API_KEY, "api_secret": SECRET}).to_string();
        let cid = sealgate_envelope::new_credential_id().expect("cid");
        let body = json!({"id": cid, "exchange": "binance", "label": "main", "envelopes": [
            seal(&keys, "binance", "importer", &user, &cid, "read", &cred),
            seal(&keys, "binance", "trader", &user, &cid, "read,trade", &cred),
        ]});
        let (s, created) = client.call(&base, &me, "POST", "/v1/credentials", Some(body)).await;
        assert_eq!(s, 201, "{created}");

        // Import: the portfolio equals the exchange account.
        let p = wait_for_import(&client, &base, &me, &cid).await;
        assert_eq!(norm(&holding(&p, "BTC")), norm(&sandbox.free_balance(API_KEY, "BTC").expect("btc").to_string()), "{p}");
        assert_eq!(norm(&holding(&p, "USDT")), norm(&sandbox.free_balance(API_KEY, "USDT").expect("usdt").to_string()), "{p}");
        let imported = p["imports"].as_array().expect("imports").iter().find(|i| i["credential_id"] == cid.as_str()).expect("import")["trades"].clone();
        assert_eq!(imported, json!(sandbox.trades(API_KEY).len()), "{p}");

        // An order, through the trader and the signer.
        let order = json!({"credential_id": cid, "symbol": "BTCUSDT", "side": "buy", "order_type": "market", "qty": "0.1"});
        let btc_before = sandbox.free_balance(API_KEY, "BTC").expect("btc");
        let (s, placed) = client.call(&base, &me, "POST", "/v1/orders", Some(order.clone())).await;
        assert!(s == 200 || s == 201, "{s} {placed}");
        assert!(sandbox.free_balance(API_KEY, "BTC").expect("btc") > btc_before);

        // The owner's limits narrow what the trader may do, at once.
        let limits = format!("/v1/credentials/{cid}/limits");
        let (s, v) = client.call(&base, &me, "PUT", &limits, Some(json!({"symbols": ["ETHUSDT"]}))).await;
        assert_eq!((s, v["limits"]["symbols"].clone()), (200, json!(["ETHUSDT"])), "{v}");
        let (s, v) = client.call(&base, &me, "POST", "/v1/orders", Some(order.clone())).await;
        assert_eq!(s, 403, "an order outside the allow-list: {v}");
        for bad in [json!({"max_notional": "-1"}), json!({"symbols": []}), json!({"rate": {"max": 0, "window_ms": 1000}}), json!({"nope": 1})] {
            let (s, v) = client.call(&base, &me, "PUT", &limits, Some(bad.clone())).await;
            assert_eq!(s, 400, "{bad}: {v}");
        }
        let (s, v) = client.call(&base, &me, "PUT", &limits, Some(json!({}))).await;
        assert_eq!(s, 200, "{v}");

        // A withdrawal, tried by each service role with its own key: refused, audited, never sent.
        let service_dir = server.data.join("service");
        let token = |role: &str| ServiceKey::load_or_create(&service_dir, role).expect("service key").token(sealgate_server::now_ms() / 1000);
        let withdraw = json!({"owner": user, "credential_id": cid, "request": {"method": "POST", "path": "/sapi/v1/capital/withdraw/apply", "query": "coin=BTC&address=attacker&amount=1", "body": ""}});
        for role in ["trader", "importer"] {
            let (s, v) = client.call(&service, &Who::Service(token(role)), "POST", "/v1/forward", Some(withdraw.clone())).await;
            assert_eq!(s, 403, "{role}: {v}");
        }
        assert!(sandbox.withdrawals().is_empty(), "the exchange logged a withdrawal");
        let (s, trail) = client.call(&base, &me, "GET", "/v1/audit?limit=500", None).await;
        assert_eq!(s, 200);
        let records = trail["records"].as_array().expect("records");
        let has = |action: &str, needle: &str| records.iter().any(|r| r["action"] == action && r.to_string().contains(needle));
        assert!(has("denied", "withdraw"), "{trail}");
        assert!(has("credential_created", "binance") && has("unsealed", "importer") && has("forwarded", "/api/v3/order"), "{trail}");

        // Authorization matrix: another user, the anonymous, service roles, the wrong role.
        // (Another user's view of all of this is covered route by route in sealgate-server's api tests.)
        let order_id = placed["id"].as_str().unwrap_or("none").to_owned();
        let user_routes: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", "/v1/me".into(), None),
            ("GET", "/v1/credentials".into(), None),
            ("GET", format!("/v1/credentials/{cid}"), None),
            ("DELETE", format!("/v1/credentials/{cid}/roles/trader"), None),
            ("DELETE", format!("/v1/credentials/{cid}"), None),
            ("POST", "/v1/lockdown".into(), Some(json!({}))),
            ("GET", "/v1/portfolio".into(), None),
            ("GET", "/v1/orders".into(), None),
            ("POST", "/v1/orders".into(), Some(order.clone())),
            ("DELETE", format!("/v1/orders/{order_id}"), None),
            ("GET", "/v1/audit".into(), None),
            ("GET", "/v1/audit/export".into(), None),
        ];
        for (m, path, body) in &user_routes {
            // Anonymous, and a service token (services are not users): 401, nothing changed.
            for who in [Who::Anonymous, Who::Service(token("trader")), Who::Service(token("importer"))] {
                let (s, v) = client.call(&base, &who, m, path, body.clone()).await;
                assert_eq!(s, 401, "{m} {path}: {v}");
            }
            // A session without its CSRF token cannot change anything.
            if *m != "GET" {
                let Who::Session { cookie, .. } = &me else { unreachable!() };
                let (s, v) = client.call(&base, &Who::Session { cookie: cookie.clone(), csrf: "wrong".into() }, m, path, body.clone()).await;
                assert_eq!(s, 403, "{m} {path}: {v}");
            }
        }
        // The signer refuses users and the anonymous; a role cannot act beyond itself.
        let read = json!({"owner": user, "credential_id": cid, "request": {"method": "GET", "path": "/api/v3/account", "query": "", "body": ""}});
        for who in [Who::Anonymous, me.clone()] {
            for path in ["/v1/forward", "/v1/sign"] {
                let (s, v) = client.call(&service, &who, "POST", path, Some(read.clone())).await;
                assert_eq!(s, 401, "{path}: {v}");
            }
        }
        let buy = json!({"owner": user, "credential_id": cid, "request": {"method": "POST", "path": "/api/v3/order", "query": "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01", "body": ""}});
        let (s, v) = client.call(&service, &Who::Service(token("importer")), "POST", "/v1/forward", Some(buy.clone())).await;
        assert_eq!(s, 403, "importer placing an order: {v}");
        let (s, v) = client.call(&service, &Who::Service(token("trader")), "POST", "/v1/sign", Some(read.clone())).await;
        assert_eq!(s, 401, "signatures are not returned to the trader by default: {v}");

        // The operator's kill switch stops every signature within the revalidation interval, and is audited.
        let url = db.url_or_sqlite(&data);
        for state in ["on", "off"] {
            let out = Command::new(BIN).args(["admin", "kill-switch", state, "--database", &url]).output().expect("admin");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            tokio::time::sleep(Duration::from_millis(700)).await;
            let (s, v) = client.call(&service, &Who::Service(token("importer")), "POST", "/v1/forward", Some(read.clone())).await;
            match state {
                "on" => assert_eq!((s, v["error"].as_str()), (403, Some("denied: the kill switch is on")), "{v}"),
                _ => assert_eq!(s, 200, "{v}"),
            }
        }

        // Revoke the trader: orders are refused; the importer still reads.
        let (s, v) = client.call(&base, &me, "DELETE", &format!("/v1/credentials/{cid}/roles/trader"), None).await;
        assert!(s == 200 || s == 204, "{s} {v}");
        let (s, v) = client.call(&service, &Who::Service(token("trader")), "POST", "/v1/forward", Some(read.clone())).await;
        assert_eq!(s, 404, "revoked: {v}");
        let (s, v) = client.call(&service, &Who::Service(token("importer")), "POST", "/v1/forward", Some(read.clone())).await;
        assert_eq!(s, 200, "{v}");

        // Lockdown: every use stops at once (the api tells the signer in its process).
        let (s, v) = client.call(&base, &me, "POST", "/v1/lockdown", Some(json!({}))).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = client.call(&service, &Who::Service(token("importer")), "POST", "/v1/forward", Some(read.clone())).await;
        assert_eq!(s, 403, "frozen: {v}");
        let (s, v) = client.call(&base, &me, "GET", &format!("/v1/credentials/{cid}"), None).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("frozen")), "{v}");

        // The canary: nowhere in logs, HTTP traffic or the database.
        tokio::time::sleep(Duration::from_millis(1500)).await; // the idle checkpoint
        // The user checks their own trail alone: the export, saved, verified by the CLI
        // against the pin printed at start (FORMAT.md §7).
        let (s, export) = client.call(&base, &me, "GET", "/v1/audit/export", None).await;
        assert_eq!(s, 200, "{export}");
        let saved = data.join("my-trail.json");
        std::fs::write(&saved, export.to_string()).expect("save the export");
        let out = Command::new(BIN)
            .args(["audit", "verify", "--user-export", saved.to_str().expect("path"), "--pin", &server.pin])
            .output()
            .expect("audit verify --user-export");
        assert!(out.status.success(), "{}\nthe export: {export}", String::from_utf8_lossy(&out.stderr));
        let mine = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(mine.starts_with(&format!("ok: user {user}: ")) && !mine.contains(": 0 records"), "{mine}");
        let logs = server.logs();
        drop(server); // SIGKILL: the database files are what a crash leaves behind.
        let transcript = client.transcript();
        let db_bytes = database_bytes(&db, &data).await;
        // The signer's audit journal: every use was written there before its answer, so it
        // must hold them (else the search below proves nothing) and nothing secret.
        let journal = std::fs::read(data.join("audit.journal")).expect("the signer's audit journal");
        assert!(contains(&journal, "forwarded") && contains(&journal, "denied"), "the journal holds no uses");
        for (what, hay) in [
            ("logs", logs.as_bytes()),
            ("HTTP responses", transcript.as_bytes()),
            ("database", &db_bytes),
            ("audit journal", &journal),
        ] {
            assert!(!hay.is_empty(), "{what} is empty: nothing was searched");
            assert!(!contains(hay, SECRET), "the secret is in the {what}");
            assert!(!contains(hay, &SECRET[..16]), "part of the secret is in the {what}");
        }
        // And it did get where it must: the sandbox saw valid signatures (orders filled above).
        assert!(logs.contains("forward") || logs.contains("signer"), "debug logs were captured");

        // The chain verifies, checkpoints included, pinned to the root printed at start.
        let out = Command::new(BIN)
            .args(["audit", "verify", "--database", &db.url_or_sqlite(&data), &format!("--pin={}", keys_pin(&logs))])
            .output()
            .expect("audit verify");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(summary.starts_with("ok: ") && !summary.contains(" 0 checkpoints verified"), "{summary}");
    })
    .await;
}

/// A decimal without trailing zeros (exact comparison of amounts printed at different scales).
fn norm(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s.to_owned() }
}

fn keys_pin(logs: &str) -> String {
    logs.lines().find_map(|l| l.strip_prefix("sealgate: root key pin ")).expect("pin").trim().to_owned()
}

trait DbUrl {
    fn url_or_sqlite(&self, data: &Path) -> String;
}

impl DbUrl for harness::TestDb {
    /// The URL serve used: PostgreSQL as given, SQLite in the data directory.
    fn url_or_sqlite(&self, data: &Path) -> String {
        if self.backend == "postgres" {
            self.url.clone()
        } else {
            format!("sqlite://{}?mode=rwc", data.join("sealgate.db").display())
        }
    }
}
