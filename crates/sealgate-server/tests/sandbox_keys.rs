//! `sealgate serve --sandbox-keys FILE`: the keys file is read into exactly
//! the sandbox keys it describes, every field compared; mistakes are named.

use sealgate_sandbox::{Amount, KeySpec, Permissions, Venue};
use sealgate_server::serve::load_sandbox_keys;

fn load(text: &str) -> Result<Vec<KeySpec>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("sandbox-keys.json");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    load_sandbox_keys(&path).map_err(|e| e.0)
}

fn amount(s: &str) -> Amount {
    Amount::parse(s).unwrap_or_else(|| panic!("{s} is an amount"))
}

/// Every field of a key spec, in a form that compares.
#[allow(clippy::type_complexity)]
fn fields(k: &KeySpec) -> (Venue, &str, &str, Permissions, usize, Option<&str>, Vec<(&str, Amount)>) {
    (
        k.venue,
        k.api_key.as_str(),
        k.secret.as_str(),
        k.permissions,
        k.allowed_ips.len(),
        k.passphrase.as_deref(),
        k.balances.iter().map(|(a, v)| (a.as_str(), *v)).collect(),
    )
}

#[test]
fn every_field_of_every_key_is_read() {
    let keys = load(
        r#"[
          {"exchange": "okx", "api_key": "okx-key-1", "secret": "okx-secret-1", "passphrase": "okx-pass-1",
           "permissions": ["read", "withdraw"], "balances": {"USDT": "1500.25", "BTC": "0.5"}},
          {"exchange": "binance", "api_key": "bin-key-2", "secret": "bin-secret-2",
           "permissions": ["trade"], "balances": {}},
          {"exchange": "kraken", "api_key": "krk-key-3", "secret": "a3Jr", "permissions": [], "balances": {"ZUSD": "7"}},
          {"exchange": "coinbase", "api_key": "organizations/o/apiKeys/k", "secret": "BASE64POINT",
           "permissions": ["read", "trade", "withdraw"], "balances": {"USD": "0"}}
        ]"#,
    )
    .expect("a valid keys file");
    let p = |read, trade, withdraw| Permissions { read, trade, withdraw };
    assert_eq!(
        keys.iter().map(fields).collect::<Vec<_>>(),
        vec![
            (
                Venue::Okx,
                "okx-key-1",
                "okx-secret-1",
                p(true, false, true),
                0,
                Some("okx-pass-1"),
                // The file's object is read in key order.
                vec![("BTC", amount("0.5")), ("USDT", amount("1500.25"))],
            ),
            (Venue::Binance, "bin-key-2", "bin-secret-2", p(false, true, false), 0, None, vec![]),
            (Venue::Kraken, "krk-key-3", "a3Jr", p(false, false, false), 0, None, vec![("ZUSD", amount("7"))]),
            (
                Venue::Coinbase,
                "organizations/o/apiKeys/k",
                "BASE64POINT",
                p(true, true, true),
                0,
                None,
                vec![("USD", amount("0"))],
            ),
        ]
    );
    assert_eq!(load("[]").map(|k| k.len()), Ok(0));
}

#[test]
fn mistakes_are_named() {
    let key = |extra: &str| {
        format!(
            r#"[{{"exchange": "binance", "api_key": "k", "secret": "s", "permissions": ["read"], "balances": {{}}{extra}}}]"#
        )
    };
    for (text, want) in [
        (key("").replace("binance", "bitmex"), "exchange \"bitmex\" is not in the sandbox"),
        (key("").replace("{}", r#"{"USDT": "ten"}"#), "balance USDT \"ten\" is not an amount"),
        (key(r#", "withdraw": true"#), "unknown field `withdraw`"),
        (key("").replace(r#""secret": "s", "#, ""), "missing field `secret`"),
        ("{}".to_owned(), "not a keys file"),
    ] {
        match load(&text) {
            Err(m) => assert!(m.contains(want), "{text}: {m}"),
            Ok(keys) => panic!("{text}: accepted as {keys:?}"),
        }
    }
    let missing = load_sandbox_keys(std::path::Path::new("/nonexistent/sandbox-keys.json")).expect_err("missing file");
    assert!(missing.0.starts_with("/nonexistent/sandbox-keys.json: "), "{}", missing.0);
}
