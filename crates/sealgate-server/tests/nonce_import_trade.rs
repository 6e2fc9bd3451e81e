//! Importing and trading at once on one Bitfinex and one Gemini key (the nonce
//! exchanges: Bitfinex refuses a nonce not above the last, Gemini one that does not
//! increase), through two signer instances — the importer's and the trader's — on one
//! store (SQLite and PostgreSQL). Each nonce comes from the store's per-credential
//! sequence and is sent under the credential's nonce lock, so no request may carry a
//! nonce that was used or that is below one already sent. Fails on a signer that keeps
//! nonces per process or per role, or sends outside the lock: the sandbox refuses such a
//! request, which the signer re-sends once (two audited sends for one call) or fails.

#[path = "../../sealgate-store/tests/harness/mod.rs"]
mod harness;
mod session;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sealgate_policy::Role;
use sealgate_server::client::{CallFuture, ExchangeResponse, ForwardCall, SignerClient};
use sealgate_server::importer::{Importer, enqueue_full_import};
use sealgate_server::signer::LocalSignerClient;
use sealgate_server::trader::{OrderRequest, Trader};
use support::*;

/// A signer client that counts the calls it forwards.
struct Counting {
    inner: LocalSignerClient,
    calls: AtomicUsize,
}

impl SignerClient for Counting {
    fn role(&self) -> &str {
        self.inner.role()
    }
    fn forward<'a>(&'a self, call: &'a ForwardCall) -> CallFuture<'a, ExchangeResponse> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.forward(call)
    }
}

const KEYS: [(&str, &str, &str, &str); 2] =
    [("cid-bfx", "bitfinex", BITFINEX_KEY, "tBTCUST"), ("cid-gem", "gemini", GEMINI_KEY, "btcusd")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn importing_and_trading_on_one_key_never_reuse_or_lower_a_nonce() {
    harness::on_both("nonce_import_trade", |db| async move {
        let world = World::new(&db.url).await;
        for (cid, exchange, key, symbol) in KEYS {
            let json = if exchange == "bitfinex" { bitfinex_json() } else { gemini_json() };
            world.credential("alice", cid, exchange, &json, &[("importer", "read"), ("trader", "read,trade")]).await;
            assert!(world.sandbox.seed_trades(key, symbol, 230));
        }
        let counting =
            |signer, role| Arc::new(Counting { inner: LocalSignerClient::new(signer, role), calls: 0.into() });
        let importer_client = counting(world.signer(world.signer_config()), Role::Importer);
        let trader_client = counting(world.signer(world.signer_config()), Role::Trader);
        let importer = Importer::new(world.store.clone(), importer_client.clone(), "w".into()).with_budget_scale(1_000);
        let trader = Trader::new(world.store.clone(), trader_client.clone());
        for (cid, ..) in KEYS {
            enqueue_full_import(&world.store, "alice", cid).await.expect("enqueue");
        }
        let drain = || async { while importer.run_once().await.expect("run") {} };
        let trade = async {
            for _ in 0..6 {
                for (cid, _, _, symbol) in KEYS {
                    let order = OrderRequest {
                        credential_id: cid.parse().expect("id"),
                        symbol: symbol.into(),
                        side: "buy".into(),
                        order_type: "limit".into(),
                        qty: "0.01".into(),
                        price: Some("40000".into()),
                    };
                    let placed = trader.place("alice", &order).await.unwrap_or_else(|e| panic!("{cid}: {e}"));
                    trader.cancel("alice", &placed.id).await.unwrap_or_else(|e| panic!("{cid} cancel: {e}"));
                }
            }
        };
        tokio::join!(drain(), trade);
        // The refreshes the orders queued, then nothing failed.
        drain().await;
        let (queued, running, done, failed) = world.store.job_counts().await.expect("counts");
        assert_eq!((queued, running, failed), (0, 0, 0), "done: {done}");
        for (cid, _, key, _) in KEYS {
            let stored = world.store.trade_count("alice", cid).await.expect("count");
            assert_eq!(stored as usize, world.sandbox.trades(key).len(), "{cid}: the whole history");
        }
        // One audited send per call: no request was refused for its nonce and sent again.
        let trail = world.store.audit_for_owner("alice", 0, 100_000).await.expect("trail");
        let sends = trail.iter().filter(|r| r.action == "forwarded").count();
        let calls = importer_client.calls.load(Ordering::SeqCst) + trader_client.calls.load(Ordering::SeqCst);
        assert!(calls > 24, "both roles used the keys: {calls}");
        assert_eq!(sends, calls, "a nonce was refused and the request re-sent");
    })
    .await;
}
