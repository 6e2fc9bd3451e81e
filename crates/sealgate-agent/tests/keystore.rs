//! Keystore: round trip, wrong passphrase, corruption, truncation, `.bak`.

use sealgate_agent::{Entry, KdfParams, Keystore, KeystoreError, Secret, Secrets};

fn entry(label: &str) -> Entry {
    Entry {
        label: label.into(),
        exchange: "binance".into(),
        hint: "…KEY1".into(),
        classes: vec!["read".into(), "trade".into()],
        symbols: Some(vec!["BTCUSDT".into()]),
        max_notional: Some("1000".into()),
        rate: None,
        added_ms: 0,
        lifetime_s: None,
        confirm: vec![],
        allow_sign: false,
        secrets: Secrets {
            api_key: Some(Secret::new("KEY1".into())),
            api_secret: Some(Secret::new("SECRET-VALUE-1".into())),
            ..Secrets::default()
        },
    }
}

#[test]
fn keystore_errors_are_clear_and_nothing_is_lost() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("agent.keystore");
    let mut ks = Keystore::create(&path, b"pass", KdfParams::TEST)?;
    ks.add(entry("a"))?;
    ks.save()?;
    assert!(matches!(ks.add(entry("a")), Err(KeystoreError::Exists(_))));
    ks.add(entry("b"))?;
    ks.save()?; // previous (one entry) kept as .bak
    assert!(format!("{:?}", ks.entries[0].secrets).contains("[REDACTED]"));
    assert!(!format!("{:?}", ks.entries[0]).contains("SECRET-VALUE-1"));

    let bytes = std::fs::read(&path)?;
    assert!(!bytes.windows(14).any(|w| w == b"SECRET-VALUE-1"), "secret in clear at rest");
    let again = Keystore::open(&path, b"pass")?;
    assert_eq!(again.entries.len(), 2);
    let bak = dir.path().join("agent.keystore.bak");
    assert_eq!(Keystore::open(&bak, b"pass")?.entries.len(), 1);

    let e = Keystore::open(&path, b"wrong").err().ok_or("wrong passphrase accepted")?;
    assert!(matches!(e, KeystoreError::WrongPassphrase(_)), "{e}");
    assert!(e.to_string().contains("wrong passphrase"));

    // Corrupted body.
    let mut bad = bytes.clone();
    let last = bad.len() - 20;
    bad[last] ^= 1;
    std::fs::write(&path, &bad)?;
    let e = Keystore::open(&path, b"pass").err().ok_or("corruption accepted")?;
    assert!(matches!(e, KeystoreError::Corrupted { .. }), "{e}");
    assert!(e.to_string().contains(".bak"), "{e}");

    // Truncated write.
    std::fs::write(&path, &bytes[..bytes.len() - 7])?;
    let e = Keystore::open(&path, b"pass").err().ok_or("truncation accepted")?;
    assert!(matches!(e, KeystoreError::Truncated { .. }), "{e}");
    std::fs::write(&path, &bytes[..40])?;
    assert!(matches!(Keystore::open(&path, b"pass"), Err(KeystoreError::Truncated { .. })));
    // The backup is intact throughout.
    assert_eq!(Keystore::open(&bak, b"pass")?.entries.len(), 1);
    Ok(())
}

/// Entries written before `allow_sign` existed open with `sign` off.
#[test]
fn older_entries_have_sign_off() -> Result<(), Box<dyn std::error::Error>> {
    let old = serde_json::json!({
        "label": "a", "exchange": "gate", "hint": "…KEY1", "classes": ["read"], "added_ms": 0,
        "secrets": {"api_key": "KEY1", "api_secret": "S"},
    });
    let e: Entry = serde_json::from_value(old)?;
    assert!(!e.allow_sign);
    Ok(())
}

/// The agent's limits go through the api's one limits parser (`sealgate_vocab::Limits`):
/// what the api refuses, `agent add` refuses too, and nothing is added.
#[test]
fn limits_follow_the_one_rule() -> Result<(), Box<dyn std::error::Error>> {
    use sealgate_agent::Rate;
    let dir = tempfile::tempdir()?;
    let mut ks = Keystore::create(&dir.path().join("ks"), b"pass", KdfParams::TEST)?;
    type Edit = Box<dyn Fn(&mut Entry)>;
    let bad: Vec<(&str, Edit)> = vec![
        ("symbols", Box::new(|e| e.symbols = Some(vec!["BTC USDT".into()]))),
        ("symbols", Box::new(|e| e.symbols = Some(vec![]))),
        ("max_notional", Box::new(|e| e.max_notional = Some("0".into()))),
        ("max_notional", Box::new(|e| e.max_notional = Some("1e3".into()))),
        ("rate", Box::new(|e| e.rate = Some(Rate { max: 5, window_ms: 100 }))),
        ("rate", Box::new(|e| e.rate = Some(Rate { max: 0, window_ms: 1000 }))),
    ];
    for (what, edit) in bad {
        let mut e = entry("x");
        edit(&mut e);
        match ks.add(e) {
            Err(KeystoreError::Invalid(m)) => assert!(m.starts_with(what), "{what}: {m}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(ks.entries.is_empty(), "nothing was added");
    let mut e = entry("ok");
    e.symbols = Some(vec!["BTCUSDT".into(), "BTCUSDT".into()]);
    e.max_notional = Some("1000.50".into());
    e.rate = Some(Rate { max: 5, window_ms: 1000 });
    assert_eq!(e.limits()?.to_string(), "symbols=BTCUSDT max_notional=1000.5 rate=5/1000ms");
    ks.add(e)?;
    Ok(())
}
