//! Importer and trader against the exchange sandbox (Binance, Kraken, OKX, Coinbase,
//! Bybit, Bitget, KuCoin, Gate, MEXC, Poloniex, Bitfinex, Gemini, Bitstamp, Coinbase
//! Exchange, Deribit), through a stand-in signer client, on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Exchanges, TestClient, VENUES, market_of, on_both, qty_of, start_exchanges, store_with_credentials};
use sealgate_server::importer::{
    Importer, enqueue_full_import, enqueue_refresh_now, portfolio, refresh_offset, schedule_refreshes,
};
use sealgate_server::trader::{OrderRequest, TradeError, Trader};
use sealgate_server::venues::Amount;
use sealgate_store::{JobState, Side, Store, Trade};

/// Trades seeded per venue: more than one page everywhere (Binance and Bitstamp page 1000).
fn seeded(exchange: &str) -> usize {
    if matches!(exchange, "binance" | "bitstamp") { 1_005 } else { 230 }
}

fn seed(ex: &Exchanges) {
    for (_, key, exchange) in VENUES {
        assert!(ex.sandbox.seed_trades(key, market_of(exchange).0, seeded(exchange)));
    }
}

fn norm(s: &str) -> String {
    Amount::parse(s).unwrap_or_else(|| panic!("decimal {s}")).normalized().to_string()
}

/// The normalized asset code of a sandbox asset.
fn asset(exchange: &str, a: &str) -> String {
    sealgate_server::venues::normalize_asset(sealgate_server::venues::Venue::from_exchange(exchange).expect("v"), a)
        .expect("asset")
}

/// The sandbox account as the portfolio should show it: asset → (free, locked), non-zero only.
/// Deribit: each currency's equity (its balance and its positions' PnL), free = the
/// available funds, locked = the margin.
fn sandbox_balances(ex: &Exchanges, key: &str, exchange: &str) -> BTreeMap<String, (String, String)> {
    if exchange == "deribit" {
        return sealgate_server::venues::DERIBIT_CURRENCIES
            .iter()
            .map(|c| (*c, ex.sandbox.deribit_summary(key, c)))
            .filter(|(_, (equity, _))| equity.0 != 0)
            .map(|(c, (equity, available))| {
                let locked = sealgate_sandbox::Amount(equity.0 - available.0);
                ((*c).to_owned(), (norm(&available.to_string()), norm(&locked.to_string())))
            })
            .collect();
    }
    ex.sandbox
        .balances(key)
        .into_iter()
        .filter(|(_, f, l)| f.0 != 0 || l.0 != 0)
        .map(|(a, f, l)| (asset(exchange, &a), (norm(&f.to_string()), norm(&l.to_string()))))
        .collect()
}

/// The sandbox trades as the importer should store them, keyed by exchange trade id.
fn sandbox_trades(ex: &Exchanges, key: &str, exchange: &str) -> BTreeMap<String, (String, Side, String, String, i64)> {
    ex.sandbox
        .trades(key)
        .into_iter()
        .map(|t| {
            let id = match exchange {
                "binance" | "okx" | "kucoin" | "gate" | "mexc" | "coinbase-exchange" => {
                    format!("{}-{}", t.symbol, t.id)
                }
                "kraken" => format!("T{:05}-SANDB-X{:05}", t.id, t.id),
                _ => t.id.to_string(),
            };
            let side = if t.side_buy { Side::Buy } else { Side::Sell };
            let row = (t.symbol, side, norm(&t.price.to_string()), norm(&t.qty.to_string()), t.time_ms as i64);
            (id, row)
        })
        .collect()
}

async fn stored_trades(store: &Store, cid: &str) -> BTreeMap<String, (String, Side, String, String, i64)> {
    let rows: Vec<Trade> = store.trades("alice", cid, -1, 1_000_000).await.expect("trades");
    let n = rows.len();
    let map: BTreeMap<_, _> = rows
        .into_iter()
        .map(|t| (t.exchange_trade_id, (t.symbol, t.side, norm(&t.price), norm(&t.qty), t.time_ms)))
        .collect();
    assert_eq!(map.len(), n, "no duplicate trade ids");
    map
}

/// These tests are about importing, not about the exchanges' request budgets (which
/// `importers_on_one_database_stay_within_the_limits_the_sandbox_enforces` proves): a scale
/// that makes every budget roomy, through the same code path.
const UNBUDGETED: u64 = 1_000;

async fn drain(importer: &Importer) -> usize {
    let mut jobs = 0;
    while importer.run_once().await.expect("run_once") {
        jobs += 1;
        assert!(jobs < 100, "the queue does not drain");
    }
    jobs
}

/// Checks the portfolio and the trades of every venue equal the sandbox.
async fn assert_imported(store: &Store, ex: &Exchanges) {
    let p = portfolio(store, "alice").await.expect("portfolio");
    for (cid, key, exchange) in VENUES {
        let want = sandbox_balances(ex, key, exchange);
        let got: BTreeMap<String, (String, String)> = p
            .assets
            .iter()
            .flat_map(|a| a.by_exchange.iter().map(move |h| (a.asset.clone(), h)))
            .filter(|(_, h)| h.credential_id == cid)
            .map(|(a, h)| {
                assert_eq!(h.exchange, exchange);
                (a, (norm(&h.free), norm(&h.locked)))
            })
            .collect();
        assert_eq!(got, want, "{exchange} balances");
        assert_eq!(stored_trades(store, cid).await, sandbox_trades(ex, key, exchange), "{exchange} trades");
        let status = p.imports.iter().find(|s| s.credential_id == cid).expect("import status");
        assert_eq!(status.state, "done", "{exchange}");
        assert_eq!(status.trades as usize, ex.sandbox.trades(key).len());
        assert!(status.last_import_ms.is_some());
    }
    // Totals are the exact sums across exchanges.
    let mut want: BTreeMap<String, Amount> = BTreeMap::new();
    for (_, key, exchange) in VENUES {
        for (a, (f, l)) in sandbox_balances(ex, key, exchange) {
            let e = want.entry(a).or_insert(Amount::ZERO);
            *e = e
                .checked_add(Amount::parse(&f).expect("f"))
                .and_then(|x| x.checked_add(Amount::parse(&l)?))
                .expect("sum");
        }
    }
    let got: BTreeMap<String, String> = p.assets.iter().map(|a| (a.asset.clone(), a.total.clone())).collect();
    let want: BTreeMap<String, String> = want.into_iter().map(|(a, t)| (a, t.normalized().to_string())).collect();
    assert_eq!(got, want, "totals");
    assert!(got.contains_key("BTC") && got.contains_key("USD") && got.contains_key("ETH"), "Kraken codes normalized");
    assert!(!got.contains_key("XXBT") && !got.contains_key("ZUSD"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_import_of_every_venue_equals_the_sandbox_and_is_idempotent() {
    on_both("full_import_of_every_venue_equals_the_sandbox_and_is_idempotent", |url| async move {
        let ex = start_exchanges().await;
        seed(&ex);
        let store = store_with_credentials(&url).await;
        // Live activity on top of the history: a market fill and a resting limit order per venue.
        let trader = Trader::new(store.clone(), TestClient::new(&ex, "trader"));
        for (cid, _, exchange) in VENUES {
            let symbol = market_of(exchange).0.to_owned();
            let market = OrderRequest {
                credential_id: cid.parse().expect("id"),
                symbol: symbol.clone(),
                side: "buy".into(),
                order_type: "market".into(),
                qty: qty_of(exchange, "0.01"),
                price: None,
            };
            let market = if matches!(exchange, "bitget" | "gate" | "poloniex") {
                // Bitget, Gate and Poloniex size a market buy in the quote currency: refused before it is sent.
                assert!(
                    matches!(trader.place("alice", &market).await, Err(TradeError::BadRequest(_))),
                    "{exchange} market buy"
                );
                OrderRequest { side: "sell".into(), ..market }
            } else {
                market
            };
            if exchange == "gemini" {
                // Gemini's API has no market order: refused before it is sent.
                assert!(matches!(trader.place("alice", &market).await, Err(TradeError::BadRequest(_))), "gemini");
            } else {
                trader.place("alice", &market).await.unwrap_or_else(|e| panic!("{exchange} market: {e}"));
            }
            let limit =
                OrderRequest { side: "buy".into(), order_type: "limit".into(), price: Some("20000".into()), ..market };
            trader.place("alice", &limit).await.unwrap_or_else(|e| panic!("{exchange} limit: {e}"));
        }

        // Each placed order queued a refresh of its credential, runnable now: one per
        // credential however many orders (a queued refresh is brought forward, not doubled).
        let jobs = store.owner_jobs("alice", 100).await.expect("jobs");
        assert_eq!(jobs.len(), VENUES.len(), "one refresh per credential");
        assert!(jobs.iter().all(|j| j.kind == "refresh" && j.state == JobState::Queued));
        let client = TestClient::new(&ex, "importer");
        let importer = Importer::new(store.clone(), client.clone(), "worker-1".into()).with_budget_scale(UNBUDGETED);
        for (cid, _, _) in VENUES {
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        }
        assert_eq!(drain(&importer).await, 2 * VENUES.len());
        assert_eq!(store.job_counts().await.expect("counts"), (0, 0, 2 * VENUES.len() as i64, 0));
        assert_imported(&store, &ex).await;
        // Reads only: nothing the importer sent is an order, a cancel or Binance openOrders.
        for (_, r) in client.requests() {
            assert!(!r.path.contains("openOrders") && !r.path.ends_with("/order") && !r.path.contains("AddOrder"));
            assert!(!r.path.ends_with("/buy") && !r.path.ends_with("/sell"), "Deribit's orders");
        }

        // Again: nothing duplicated, nothing lost.
        for (cid, _, _) in VENUES {
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        }
        assert_eq!(drain(&importer).await, VENUES.len());
        assert_imported(&store, &ex).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_import_resumes_from_its_cursor_with_the_same_rows() {
    on_both("an_interrupted_import_resumes_from_its_cursor_with_the_same_rows", |url| async move {
        let ex = start_exchanges().await;
        seed(&ex);
        let store = store_with_credentials(&url).await;
        let client = TestClient::new(&ex, "importer");
        let importer = Importer::new(store.clone(), client.clone(), "worker-1".into())
            .with_budget_scale(UNBUDGETED)
            .with_backoff(Duration::ZERO, Duration::ZERO)
            .with_idle_sleep(Duration::from_millis(10));
        for (cid, _, exchange) in VENUES {
            let job = enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
            // Balances (Binance: plus the pages of the symbols before BTCUSDT), one page of trades, then an outage.
            // KuCoin: plus its clock; Deribit: a balance page and the positions per currency.
            let before_trades = match exchange {
                "binance" => 1 + 3,
                "kucoin" => 2,
                "deribit" => 2 * sealgate_server::venues::DERIBIT_CURRENCIES.len(),
                _ => 1,
            };
            client.fail_after(before_trades + 1);
            assert!(importer.run_once().await.expect("run"));
            let stored = store.job(job).await.expect("job").expect("stored");
            assert_eq!(stored.state, JobState::Queued, "{exchange}: a transient failure is retried");
            let cursor = stored.cursor.clone().unwrap_or_else(|| panic!("{exchange}: checkpointed a cursor"));
            assert!(stored.last_error.as_deref().is_some_and(|e| e.contains("simulated outage")));
            let partial = store.trade_count("alice", cid).await.expect("count");
            assert!(
                partial > 0
                    && (partial as usize) < ex.sandbox.trades(VENUES.iter().find(|v| v.0 == cid).expect("v").1).len()
            );

            // The retry starts at the cursor, not at the first page.
            client.heal();
            let seen = client.requests().len();
            assert!(importer.run_once().await.expect("run"));
            let resumed: Vec<_> = client.requests()[seen..].iter().map(|(_, r)| r.clone()).collect();
            let first_trades = resumed
                .iter()
                .find(|r| {
                    !r.path.contains("alance")
                        && !r.path.contains("account")
                        && !r.path.contains("wallets")
                        && !r.path.contains("positions")
                })
                .expect("a trades call");
            let cursor_text = match exchange {
                "binance" => format!("fromId={}", cursor.split(':').nth(1).expect("fromId")),
                "kraken" => format!("ofs={cursor}"),
                "okx" => format!("after={cursor}"),
                "bitget" => format!("idLessThan={cursor}"),
                "kucoin" => format!("currentPage={}&", cursor.rsplit('@').next().expect("page")),
                "gate" => format!("page={cursor}"),
                "mexc" => format!("startTime={}", cursor.split(':').nth(1).expect("startTime")),
                "poloniex" => format!("from={cursor}&"),
                "bitfinex" => format!("\"end\":{cursor}"),
                "gemini" => format!("\"timestamp\":{}", cursor.split(':').nth(1).expect("timestamp")),
                "bitstamp" => format!("since_id={cursor}&"),
                "coinbase-exchange" => format!("after={}", cursor.split(':').nth(1).expect("after")),
                "deribit" => format!("start_timestamp={}&", cursor.split(':').nth(2).expect("start_timestamp")),
                _ => format!("cursor={cursor}"),
            };
            assert!(
                first_trades.query.contains(&cursor_text) || first_trades.body.contains(&cursor_text),
                "{exchange}: resumed with {first_trades:?}, cursor {cursor}"
            );
            assert_eq!(store.job(job).await.expect("job").map(|j| (j.state, j.attempts)), Some((JobState::Done, 2)));
        }
        assert_imported(&store, &ex).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permanent_failures_are_not_retried_and_shutdown_stops_the_worker() {
    on_both("permanent_failures_are_not_retried_and_shutdown_stops_the_worker", |url| async move {
        let ex = start_exchanges().await;
        let store = store_with_credentials(&url).await;
        // A credential on an exchange the importer does not speak.
        let new = sealgate_store::NewCredential {
            id: "cid-bitmex",
            owner: "alice",
            exchange: "bitmex",
            label: "x",
            hint: "x",
            scope: "read",
        };
        store.create_credential(&new, &[]).await.expect("credential");
        let job = enqueue_full_import(&store, "alice", "cid-bitmex").await.expect("enqueue");
        let importer = Importer::new(store.clone(), TestClient::new(&ex, "importer"), "w".into())
            .with_budget_scale(UNBUDGETED)
            .with_idle_sleep(Duration::from_millis(20));
        assert!(importer.run_once().await.expect("run"));
        let j = store.job(job).await.expect("job").expect("stored");
        assert_eq!((j.state, j.attempts), (JobState::Failed, 1));
        assert_eq!(j.last_error.as_deref(), Some("import is not supported for bitmex"));

        // run() drains the queue and stops promptly on shutdown.
        enqueue_full_import(&store, "alice", "cid-okx").await.expect("enqueue");
        let (tx, rx) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(importer.run(rx));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while store.job_counts().await.expect("counts").2 < 1 {
            assert!(std::time::Instant::now() < deadline, "the worker did not run the job");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(true).expect("shutdown");
        tokio::time::timeout(Duration::from_secs(2), worker).await.expect("stopped promptly").expect("no panic");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn place_and_cancel_on_every_venue_move_the_sandbox_account() {
    on_both("place_and_cancel_on_every_venue_move_the_sandbox_account", |url| async move {
        let ex = start_exchanges().await;
        let store = store_with_credentials(&url).await;
        let trader = Trader::new(store.clone(), TestClient::new(&ex, "trader"));
        let free = |key: &str, a: &str| ex.sandbox.free_balance(key, a).expect("balance");
        for (cid, key, exchange) in VENUES {
            if exchange == "deribit" {
                // No spot balance moves on a derivatives venue: its own test below.
                continue;
            }
            let (symbol, base, quote) = market_of(exchange);
            // A limit buy of 0.1 at 20000 locks 2000 of the quote.
            let quote_before = free(key, quote);
            let limit = OrderRequest {
                credential_id: cid.parse().expect("id"),
                symbol: symbol.into(),
                side: "buy".into(),
                order_type: "limit".into(),
                qty: "0.1".into(),
                price: Some("20000".into()),
            };
            let o = trader.place("alice", &limit).await.unwrap_or_else(|e| panic!("{exchange}: {e}"));
            assert!(o.exchange_order_id.is_some(), "{exchange}");
            assert_eq!(
                (o.status.as_str(), o.side, o.qty.as_str()),
                (
                    if matches!(exchange, "binance" | "gate" | "bitfinex" | "gemini" | "coinbase-exchange") {
                        "open"
                    } else {
                        "accepted"
                    },
                    Side::Buy,
                    "0.1"
                )
            );
            assert_eq!(quote_before.0 - free(key, quote).0, common::amt("2000").0, "{exchange}: quote locked");
            // Cancelled: the quote is free again.
            let c = trader.cancel("alice", &o.id).await.unwrap_or_else(|e| panic!("{exchange} cancel: {e}"));
            assert_eq!(c.status, "canceled");
            assert_eq!(free(key, quote), quote_before, "{exchange}: quote unlocked");
            assert!(matches!(trader.cancel("alice", &o.id).await, Err(TradeError::BadRequest(_))), "twice");

            // A market sell of 0.02 base at 25000 pays 500 of the quote.
            let base_before = free(key, base);
            let market = OrderRequest {
                side: "sell".into(),
                order_type: "market".into(),
                qty: "0.02".into(),
                price: None,
                ..limit.clone()
            };
            let market = if exchange == "gemini" {
                // Gemini's API has no market order: refused before it is sent. A limit sell
                // below the market fills at once, at the market's price.
                assert!(matches!(trader.place("alice", &market).await, Err(TradeError::BadRequest(_))), "gemini");
                assert_eq!(free(key, base), base_before);
                OrderRequest { order_type: "limit".into(), price: Some("20000".into()), ..market }
            } else {
                market
            };
            trader.place("alice", &market).await.unwrap_or_else(|e| panic!("{exchange} market: {e}"));
            assert_eq!(base_before.0 - free(key, base).0, common::amt("0.02").0, "{exchange}: base sold");
            assert_eq!(free(key, quote).0 - quote_before.0, common::amt("500").0, "{exchange}: quote received");

            // The exchange's refusal comes back bounded, and the order is recorded rejected.
            let too_big = OrderRequest { qty: "1000000".into(), ..limit.clone() };
            match trader.place("alice", &too_big).await {
                Err(TradeError::Exchange { message, .. }) => assert!(!message.is_empty() && message.len() <= 200),
                other => panic!("{exchange}: {other:?}"),
            }
            let orders = store.orders("alice", 100).await.expect("orders");
            assert!(orders.iter().any(|o| o.credential_id == cid && o.status == "rejected"), "{exchange}");
            // Client order ids are unique per order.
            let ids: std::collections::HashSet<_> = orders.iter().map(|o| &o.client_order_id).collect();
            assert_eq!(ids.len(), orders.len());

            // Someone else's credential or order: NotFound, exactly like a missing one.
            assert_eq!(trader.place("mallory", &limit).await, Err(TradeError::NotFound));
            assert_eq!(trader.cancel("mallory", &o.id).await, Err(TradeError::NotFound));
            let missing = OrderRequest { credential_id: "cid-nope".parse().expect("id"), ..limit.clone() };
            assert_eq!(trader.place("alice", &missing).await, Err(TradeError::NotFound));
        }
        assert!(matches!(trader.cancel("alice", "no-such-order").await, Err(TradeError::NotFound)));
        assert!(ex.sandbox.withdrawals().is_empty());
    })
    .await;
}

/// Alice and bob each have a credential `cid-binance`, on two sandbox accounts. Importing and
/// trading for bob's reaches bob's key only (every signer call names bob), stores rows under
/// bob only, and leaves alice's balances, trades and orders as they were — and the other way
/// round. Fails where a job, a call or a row names the credential by its id alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_owners_import_and_orders_never_touch_another_owners_credential_of_the_same_id() {
    on_both("owner_scoped_import_and_trade", |url| async move {
        let ex = start_exchanges().await;
        let (cid, alice_key, _) = VENUES[0];
        assert!(ex.sandbox.seed_trades(alice_key, "BTCUSDT", 5));
        assert!(ex.sandbox.seed_trades(common::BOB_BINANCE_KEY, "BTCUSDT", 3));
        let store = store_with_credentials(&url).await;
        let client = TestClient::new(&ex, "importer");
        let importer = Importer::new(store.clone(), client.clone(), "w".into()).with_budget_scale(UNBUDGETED);

        // Bob's import first: his key, his rows.
        enqueue_full_import(&store, "bob", cid).await.expect("enqueue");
        assert_eq!(drain(&importer).await, 1);
        let requests = client.requests();
        assert!(!requests.is_empty() && requests.iter().all(|((o, c), _)| o == "bob" && c == cid), "{requests:?}");
        let bob = portfolio(&store, "bob").await.expect("portfolio");
        let btc = bob.assets.iter().find(|a| a.asset == "BTC").expect("bob's BTC");
        assert_eq!((btc.total.as_str(), btc.by_exchange.len()), ("7", 1), "bob's own account");
        assert_eq!(store.trade_count("bob", cid).await.expect("count"), 3);
        assert_eq!(store.trade_count("alice", cid).await.expect("count"), 0, "alice's x untouched");
        assert!(portfolio(&store, "alice").await.expect("portfolio").assets.is_empty());

        // Alice's import: hers, and bob's rows stay as they were.
        enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        assert_eq!(drain(&importer).await, 1);
        assert_eq!(store.trade_count("alice", cid).await.expect("count"), 5);
        assert_eq!(store.trade_count("bob", cid).await.expect("count"), 3);
        let alice_btc = portfolio(&store, "alice").await.expect("portfolio");
        let alice_btc = alice_btc.assets.iter().find(|a| a.asset == "BTC").expect("alice's BTC").total.clone();
        assert_eq!(alice_btc, "1.5");
        assert_eq!(portfolio(&store, "bob").await.expect("portfolio"), bob, "bob's portfolio unchanged");

        // Bob trades on his x: his account moves, alice's does not; the order is his alone.
        let trader_client = TestClient::new(&ex, "trader");
        let trader = Trader::new(store.clone(), trader_client.clone());
        let alice_usdt = ex.sandbox.free_balance(alice_key, "USDT");
        let order = OrderRequest {
            credential_id: cid.parse().expect("id"),
            symbol: "BTCUSDT".into(),
            side: "sell".into(),
            order_type: "market".into(),
            qty: "0.5".into(),
            price: None,
        };
        let placed = trader.place("bob", &order).await.expect("bob sells");
        assert_eq!(ex.sandbox.free_balance(common::BOB_BINANCE_KEY, "BTC"), Some(common::amt("6.5")));
        assert_eq!(ex.sandbox.free_balance(alice_key, "USDT"), alice_usdt, "alice's account untouched");
        assert!(trader_client.requests().iter().all(|((o, _), _)| o == "bob"));
        assert!(store.orders("alice", 10).await.expect("orders").is_empty());
        assert_eq!(store.orders("bob", 10).await.expect("orders").len(), 1);
        assert_eq!(trader.cancel("alice", &placed.id).await, Err(TradeError::NotFound));
        // Mallory has no cid-binance: naming the id gets her nothing, though two others have one.
        assert_eq!(trader.place("mallory", &order).await, Err(TradeError::NotFound));
    })
    .await;
}

/// Trade-history requests `client` sent for `cid` (Binance: one per symbol page).
fn history_requests(client: &TestClient, cid: &str) -> usize {
    let history = [
        "myTrades",
        "TradesHistory",
        "fills-history",
        "historical/fills",
        "execution/list",
        "trade/fills",
        "/api/v1/fills",
        "my_trades",
        "/trades",
        "/r/trades/hist",
        "/v1/mytrades",
        "/user_transactions/",
        "/fills",
        "get_user_trades",
    ];
    client.requests().iter().filter(|((_, c), r)| c == cid && history.iter().any(|h| r.path.contains(h))).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_imports_only_the_new_trades_of_every_venue() {
    on_both("a_refresh_imports_only_the_new_trades_of_every_venue", |url| async move {
        let ex = start_exchanges().await;
        seed(&ex);
        let store = store_with_credentials(&url).await;
        let trader = Trader::new(store.clone(), TestClient::new(&ex, "trader"));
        let sell = |n: usize| {
            let trader = &trader;
            async move {
                for (cid, _, exchange) in VENUES {
                    let order = OrderRequest {
                        credential_id: cid.parse().expect("id"),
                        symbol: market_of(exchange).0.into(),
                        side: "sell".into(),
                        order_type: "market".into(),
                        qty: qty_of(exchange, "0.01"),
                        price: None,
                    };
                    // Gemini has no market order: a limit sell below the market fills at once.
                    let order = if exchange == "gemini" {
                        OrderRequest { order_type: "limit".into(), price: Some("20000".into()), ..order }
                    } else {
                        order
                    };
                    for _ in 0..n {
                        trader.place("alice", &order).await.unwrap_or_else(|e| panic!("{exchange}: {e}"));
                    }
                }
            }
        };
        // A trade of today on top of the day-old history (the seeded trades are a second
        // apart: all of them would be within the refresh's few minutes of overlap).
        sell(1).await;
        let full_client = TestClient::new(&ex, "importer");
        let importer =
            Importer::new(store.clone(), full_client.clone(), "worker-1".into()).with_budget_scale(UNBUDGETED);
        for (cid, _, _) in VENUES {
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        }
        // The orders' refreshes (nothing stored yet: the whole history) and the full imports.
        assert_eq!(drain(&importer).await, 2 * VENUES.len());

        // New trades (the trader queues a refresh after each order, one per credential).
        sell(3).await;
        let jobs = store.owner_jobs("alice", 100).await.expect("jobs");
        let queued: Vec<_> = jobs.iter().filter(|j| j.state == JobState::Queued).collect();
        assert_eq!(queued.len(), VENUES.len());
        assert!(queued.iter().all(|j| j.kind == "refresh"));

        let client = TestClient::new(&ex, "importer");
        let refresher = Importer::new(store.clone(), client.clone(), "worker-2".into()).with_budget_scale(UNBUDGETED);
        assert_eq!(drain(&refresher).await, VENUES.len());
        for (cid, key, exchange) in VENUES {
            assert_eq!(stored_trades(&store, cid).await, sandbox_trades(&ex, key, exchange), "{exchange} trades");
            // The full import paged through the history; the refresh asks one page per
            // symbol (Binance, MEXC) or one page in all.
            let (full, refresh) = (history_requests(&full_client, cid), history_requests(&client, cid));
            // Binance: every pair of the account's BTC, USDT and BNB; MEXC: of its BTC and USDT.
            let assets: &[&str] = match exchange {
                "binance" => &["BTC", "USDT", "BNB"],
                "mexc" => &["BTC", "USDT"],
                _ => &[],
            };
            let assets: Vec<String> = assets.iter().map(|a| (*a).to_owned()).collect();
            let symbols = match exchange {
                // Deribit: each currency's recent store (the new trades are today's).
                "deribit" => sealgate_server::venues::DERIBIT_CURRENCIES.len(),
                _ => sealgate_server::venues::binance_symbols(&assets).len().max(1),
            };
            assert!(refresh <= symbols && refresh < full, "{exchange}: refresh {refresh}, full {full}");
        }
        // Binance: each symbol asked from its largest stored id + 1.
        for ((_, c), r) in client.requests() {
            if c == "cid-binance" && r.path.contains("myTrades") && r.query.contains("BTCUSDT") {
                assert!(!r.query.contains("fromId=0"), "{}", r.query);
            }
        }
        assert_imported(&store, &ex).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_queues_one_refresh_per_credential_per_period_spread_over_it() {
    on_both("the_scheduler_queues_one_refresh_per_credential_per_period_spread_over_it", |url| async move {
        let store = store_with_credentials(&url).await;
        let every = Duration::from_secs(900);
        let other = Store::connect(&url).await.expect("a second process");
        let (a, b) = tokio::join!(schedule_refreshes(&store, every, 3), schedule_refreshes(&other, every, 3));
        // Alice's six credentials and bob's one, once whoever ran the scheduler.
        assert_eq!(a.expect("a") + b.expect("b"), VENUES.len() + 1);
        assert_eq!(schedule_refreshes(&store, every, 3).await.expect("again"), 0);
        let mut run_after = Vec::new();
        for owner in ["alice", "bob"] {
            for j in store.owner_jobs(owner, 100).await.expect("jobs") {
                assert_eq!((j.kind.as_str(), j.state), ("refresh", JobState::Queued));
                run_after.push(j.run_after_ms);
            }
        }
        assert_eq!(run_after.len(), VENUES.len() + 1);
        // Within the coming period, at each credential's own offset.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_millis();
        let now = i64::try_from(now).expect("ms");
        assert!(run_after.iter().all(|t| *t >= now - 5_000 && *t <= now + 900_000 + 5_000));
        let distinct: std::collections::BTreeSet<_> = run_after.iter().collect();
        assert_eq!(distinct.len(), run_after.len(), "spread, not all at once");
        let offsets: std::collections::BTreeSet<_> =
            VENUES.iter().map(|(cid, _, _)| refresh_offset("alice", cid, every)).collect();
        assert_eq!(offsets.len(), VENUES.len());
    })
    .await;
}

/// The exchanges' documented limits, enforced by the sandbox (Kraken's API counter: history
/// costs 2, refused above 15, decaying 0.33/s), and two importer processes on one database
/// with the documented budgets: the Kraken history needs more than the burst, so the
/// importers wait for the counter to decay instead of being refused, and the import still
/// equals the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn importers_on_one_database_stay_within_the_limits_the_sandbox_enforces() {
    on_both("budgets", |url| async move {
        let ex = start_exchanges().await;
        seed(&ex);
        // 170 more Kraken trades: 8 history pages of 50 and the balance, 17 counter points:
        // past Kraken's 15 (an importer that does not wait is refused) and the importer's
        // burst of 13, so four points come from waiting for the decay.
        assert!(ex.sandbox.seed_trades("kr-key", market_of("kraken").0, 170));
        ex.sandbox.enforce_rate_limits(true);
        let store = store_with_credentials(&url).await;
        for (cid, _, _) in VENUES {
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        }
        let second = Store::connect(&url).await.expect("a second importer process's store");
        let metrics = std::sync::Arc::new(sealgate_server::metrics::Metrics::default());
        let a =
            Importer::new(store.clone(), TestClient::new(&ex, "importer"), "a".into()).with_metrics(metrics.clone());
        let b = Importer::new(second, TestClient::new(&ex, "importer"), "b".into()).with_metrics(metrics.clone());
        tokio::join!(drain(&a), drain(&b));
        assert_eq!(ex.sandbox.rate_limit_refusals(), 0, "no request over an exchange's limit");
        assert!(
            metrics.import_rate_waits_total.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "the Kraken history had to wait for the counter"
        );
        assert_imported(&store, &ex).await;
    })
    .await;
}

/// Bybit and KuCoin answer at most 7 days per request (the last 7 without a window): a
/// full import walks the weeks back (Bybit 730 days, KuCoin 365) and a refresh after weeks
/// away walks forward to now, so trades of last month and of last year are found. Fails on
/// the importer that asked their default last 7 days only (it stored the recent trades alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_in_weekly_windows_is_walked_a_week_at_a_time() {
    on_both("history_in_weekly_windows_is_walked_a_week_at_a_time", |url| async move {
        let store = store_with_credentials(&url).await;
        // (venue index, history requests of a full import, the oldest age seeded in days)
        for (index, full, oldest) in [(4, 105, 729), (6, 53, 364)] {
            let ex = start_exchanges().await;
            let (cid, key, exchange) = VENUES[index];
            let day = Duration::from_secs(86_400);
            let seed = |days: &[u32]| {
                for d in days {
                    assert!(ex.sandbox.seed_trade_aged(key, market_of(exchange).0, day * *d));
                }
            };
            let run = |worker: &'static str| {
                let store = store.clone();
                let ex = &ex;
                async move {
                    let client = TestClient::new(ex, "importer");
                    let importer = Importer::new(store, client.clone(), worker.into()).with_budget_scale(UNBUDGETED);
                    assert_eq!(drain(&importer).await, 1);
                    history_requests(&client, cid)
                }
            };
            // A full import: the last 7 days, then the weeks before them.
            seed(&[30]);
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
            assert_eq!(run("worker-1").await, full, "{exchange}");
            assert_eq!(store.trade_count("alice", cid).await.expect("count"), 1, "{exchange}");

            // Weeks away: trades after the newest stored one (30 days old) in four of the
            // weeks since. The refresh walks forward from it, a week at a time, until now.
            seed(&[20, 9, 1]);
            enqueue_refresh_now(&store, "alice", cid).await.expect("enqueue").expect("queued");
            assert_eq!(run("worker-2").await, 5, "{exchange}: 30 days in weeks");
            assert_eq!(stored_trades(&store, cid).await, sandbox_trades(&ex, key, exchange), "{exchange}: since");

            // History older than a week but within the exchange's, found by a full import again.
            seed(&[200, oldest]);
            enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
            assert_eq!(run("worker-3").await, full, "{exchange}");
            assert_eq!(stored_trades(&store, cid).await, sandbox_trades(&ex, key, exchange), "{exchange}: all");
            assert_eq!(store.trade_count("alice", cid).await.expect("count"), 6, "{exchange}");
        }
    })
    .await;
}

/// Coinbase Exchange's "Get single order" by `client:{client_oid}`, as the trader's reconcile
/// asks it, against the sandbox: a resting order is found open under the id the placement
/// returned, a filled one filled; one never placed, and one cancelled without a match (the
/// docs: "might return the status code 404"), read as not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coinbase_exchange_finds_an_order_by_its_client_oid() {
    use sealgate_server::client::{ForwardCall, SignerClient as _};
    use sealgate_server::venues::{self, Venue};
    on_both("coinbase_exchange_status", |url| async move {
        let ex = start_exchanges().await;
        let store = store_with_credentials(&url).await;
        let trader = Trader::new(store.clone(), TestClient::new(&ex, "trader"));
        let client = TestClient::new(&ex, "trader");
        let (cid, _, exchange) = VENUES[13];
        assert_eq!(exchange, "coinbase-exchange");
        let status = |client_oid: String| {
            let client = client.clone();
            async move {
                let request = venues::status_request(Venue::CoinbaseExchange, "BTC-USD", &client_oid)
                    .expect("request")
                    .expect("Coinbase Exchange has a status query");
                let call = ForwardCall {
                    owner: "alice".parse().expect("owner"),
                    credential_id: cid.parse().expect("cid"),
                    request,
                };
                let resp = client.forward(&call).await.expect("answered");
                venues::parse_status(Venue::CoinbaseExchange, resp.view()).expect("read")
            }
        };
        let limit = OrderRequest {
            credential_id: cid.parse().expect("id"),
            symbol: "BTC-USD".into(),
            side: "buy".into(),
            order_type: "limit".into(),
            qty: "0.1".into(),
            price: Some("20000".into()),
        };
        let resting = trader.place("alice", &limit).await.expect("limit");
        let found = status(resting.client_order_id.clone()).await.expect("found");
        assert_eq!((Some(found.exchange_order_id), found.status), (resting.exchange_order_id.clone(), "open"));

        let market = OrderRequest { side: "sell".into(), order_type: "market".into(), price: None, ..limit.clone() };
        let filled = trader.place("alice", &market).await.expect("market");
        let found = status(filled.client_order_id.clone()).await.expect("found");
        assert_eq!((Some(found.exchange_order_id), found.status), (filled.exchange_order_id.clone(), "filled"));

        trader.cancel("alice", &resting.id).await.expect("cancel");
        assert_eq!(status(resting.client_order_id.clone()).await, None, "cancelled without a match: 404");
        assert_eq!(status("0badc0de-0000-4000-8000-000000000000".into()).await, None, "never placed");
    })
    .await;
}

/// Deribit, a derivatives venue: a limit order rests and is cancelled, a market buy opens a
/// long on the inverse perpetual, the price moves, and the import shows the BTC account's
/// equity — its balance and the position's PnL — split as available and margin; the fill is
/// a stored trade, the position reads through the importer's (read-only) credential, the
/// import stores it and the portfolio lists it (not as a holding) until a refresh after it
/// is closed, and the exchange's refusals come back bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deribit_position_orders_and_equity_import() {
    on_both("a_deribit_position_orders_and_equity_import", |url| async move {
        use sealgate_server::client::{ForwardCall, SignerClient as _};
        use sealgate_server::venues::{self, Response, Venue};

        let ex = start_exchanges().await;
        let store = store_with_credentials(&url).await;
        let trader = Trader::new(store.clone(), TestClient::new(&ex, "trader"));
        let (cid, key, _) = VENUES[14];
        let summary = || ex.sandbox.deribit_summary(key, "BTC");
        let (equity_before, available_before) = summary();
        assert_eq!(equity_before, common::amt("1.2"));

        // A limit buy of 100 USD at 20000 rests, holding margin; cancelled, it holds none.
        let limit = OrderRequest {
            credential_id: cid.parse().expect("id"),
            symbol: "BTC-PERPETUAL".into(),
            side: "buy".into(),
            order_type: "limit".into(),
            qty: "100".into(),
            price: Some("20000".into()),
        };
        let o = trader.place("alice", &limit).await.expect("limit");
        assert_eq!((o.status.as_str(), o.qty.as_str()), ("open", "100"));
        assert!(o.exchange_order_id.is_some());
        assert!(summary().1.0 < available_before.0, "the resting order holds margin");
        let c = trader.cancel("alice", &o.id).await.expect("cancel");
        assert_eq!(c.status, "canceled");
        assert_eq!(summary().1, available_before, "released");
        assert!(matches!(trader.cancel("alice", &o.id).await, Err(TradeError::BadRequest(_))), "twice");

        // A market buy of 1000 USD at 25000: a long; the price rises to 27500.
        let market = OrderRequest { order_type: "market".into(), qty: "1000".into(), price: None, ..limit.clone() };
        let m = trader.place("alice", &market).await.expect("market");
        assert_eq!(m.status, "filled");
        assert!(ex.sandbox.set_price("BTC-PERPETUAL", common::amt("27500")));
        let (equity, available) = summary();
        // 1000/25000 − 1000/27500 BTC of profit, in the equity.
        assert_eq!(equity.0 - equity_before.0, common::amt("0.00363637").0, "{equity}");

        // Refusals: Deribit's own (not a multiple of the 10 USD contract), bounded and
        // recorded; an instrument of no Deribit currency, before anything is sent.
        let odd = OrderRequest { qty: "15".into(), ..market.clone() };
        match trader.place("alice", &odd).await {
            Err(TradeError::Exchange { message, .. }) => {
                assert!(message.starts_with("10021 invalid_amount") && message.len() <= 200, "{message}")
            }
            other => panic!("{other:?}"),
        }
        let orders = store.orders("alice", 100).await.expect("orders");
        assert!(orders.iter().any(|o| o.credential_id == cid && o.status == "rejected"));
        let spot = OrderRequest { symbol: "BTCUSDT".into(), ..market.clone() };
        assert!(matches!(trader.place("alice", &spot).await, Err(TradeError::BadRequest(_))));

        // The import: BTC's equity (balance + PnL) as free available funds and locked margin.
        let client = TestClient::new(&ex, "importer");
        let importer = Importer::new(store.clone(), client.clone(), "w".into()).with_budget_scale(UNBUDGETED);
        enqueue_full_import(&store, "alice", cid).await.expect("enqueue");
        drain(&importer).await;
        let p = portfolio(&store, "alice").await.expect("portfolio");
        let btc = p.assets.iter().find(|a| a.asset == "BTC").expect("BTC");
        let h = btc.by_exchange.iter().find(|h| h.credential_id == cid).expect("deribit's BTC");
        assert_eq!(h.exchange, "deribit");
        assert_eq!(norm(&h.free), norm(&available.to_string()));
        assert_eq!(norm(&h.locked), norm(&sealgate_sandbox::Amount(equity.0 - available.0).to_string()));
        assert!(Amount::parse(&h.locked).is_some_and(|l| !l.is_zero() && !l.is_negative()), "the position's margin");
        assert_eq!(stored_trades(&store, cid).await, sandbox_trades(&ex, key, "deribit"));
        let rows = store.trades("alice", cid, -1, 10).await.expect("trades");
        assert_eq!(
            (rows.len(), rows[0].symbol.as_str(), rows[0].side, norm(&rows[0].qty)),
            (1, "BTC-PERPETUAL", Side::Buy, "1000".into())
        );
        // Every currency's account asked, and every call a read.
        let asked: Vec<_> = client.requests().into_iter().map(|(_, r)| r).collect();
        let currencies: std::collections::BTreeSet<_> =
            asked.iter().filter(|r| r.path.ends_with("/get_account_summary")).map(|r| r.query.clone()).collect();
        let want_currencies: std::collections::BTreeSet<_> =
            venues::DERIBIT_CURRENCIES.iter().map(|c| format!("currency={c}")).collect();
        assert_eq!(currencies, want_currencies);
        assert!(asked.iter().all(|r| r.method == "GET" && r.path.starts_with("/api/v2/private/get_")));

        // The position, read with the importer's credential.
        let call = ForwardCall {
            owner: "alice".parse().expect("owner"),
            credential_id: cid.parse().expect("id"),
            request: venues::deribit_positions_request("BTC").expect("request"),
        };
        let resp = client.forward(&call).await.expect("positions");
        let positions =
            venues::parse_deribit_positions(Response { status: resp.status, body: &resp.body }).expect("read");
        assert_eq!(positions.len(), 1, "{positions:?}");
        let pos = &positions[0];
        assert_eq!(
            (pos.instrument.as_str(), norm(&pos.size), norm(&pos.average_price), norm(&pos.mark_price)),
            ("BTC-PERPETUAL", "1000".into(), "25000".into(), "27500".into())
        );
        assert_eq!(norm(&pos.floating_pnl), "0.00363637");

        // The import stored that position (every currency's asked), and the portfolio shows
        // it beside the holdings, not in them.
        let stored = store.positions("alice").await.expect("stored positions");
        let got: Vec<_> = stored
            .iter()
            .map(|x| {
                let ids = (x.credential_id.as_str(), x.exchange.as_str(), x.currency.as_str(), x.kind.as_str());
                (ids, x.instrument.clone(), norm(&x.size), norm(&x.average_price), norm(&x.mark_price))
            })
            .collect();
        let from_sandbox = (pos.instrument.clone(), norm(&pos.size), norm(&pos.average_price), norm(&pos.mark_price));
        let want = ((cid, "deribit", "BTC", "future"), from_sandbox.0, from_sandbox.1, from_sandbox.2, from_sandbox.3);
        assert_eq!(got, vec![want], "the sandbox's open position");
        assert_eq!(
            (norm(&stored[0].floating_pnl), norm(&stored[0].realized_pnl)),
            (norm(&pos.floating_pnl), norm(&pos.realized_pnl))
        );
        let shown: Vec<_> = p
            .positions
            .iter()
            .map(|x| {
                (x.credential_id.as_str(), x.exchange.as_str(), x.instrument.as_str(), x.currency.as_str(), &x.size)
            })
            .collect();
        assert_eq!(shown, vec![(cid, "deribit", "BTC-PERPETUAL", "BTC", &stored[0].size)]);
        assert!(p.assets.iter().all(|a| a.asset != "BTC-PERPETUAL"), "a position is not a holding");
        let asked: std::collections::BTreeSet<_> = client
            .requests()
            .into_iter()
            .filter(|(_, r)| r.path.ends_with("/get_positions"))
            .map(|(_, r)| r.query)
            .collect();
        assert_eq!(asked, want_currencies);

        // Closed (a market sell of the 1000 USD), the position is gone after the refresh.
        let close = OrderRequest { side: "sell".into(), ..market.clone() };
        assert_eq!(trader.place("alice", &close).await.expect("close").status, "filled");
        enqueue_refresh_now(&store, "alice", cid).await.expect("refresh");
        assert!(drain(&importer).await >= 1);
        assert!(store.positions("alice").await.expect("positions").is_empty(), "the closed position is gone");
        assert!(portfolio(&store, "alice").await.expect("portfolio").positions.is_empty());
        assert_eq!(Venue::from_exchange("deribit"), Ok(Venue::Deribit));
        assert!(ex.sandbox.withdrawals().is_empty());
    })
    .await;
}
