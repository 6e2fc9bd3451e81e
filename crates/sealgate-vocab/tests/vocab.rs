//! The vocabulary's rules, at their edges, and through serde.

use proptest::prelude::*;
use sealgate_vocab::{
    CREDENTIAL_ID_MAX, CREDENTIAL_ID_RULE, CredentialId, CredentialStatus, IdError, OWNER_ID_MAX, OwnerId, Role,
};

#[test]
fn credential_ids_at_the_edges_of_the_rule() {
    for ok in ["a", "A-Z_a.z:0-9", &"x".repeat(CREDENTIAL_ID_MAX), "cid-1", "c:1.2_3"] {
        let id = CredentialId::parse(ok).expect(ok);
        assert_eq!(id.as_str(), ok);
        assert_eq!(id.to_string(), ok, "prints as it parses");
        assert_eq!(ok.parse::<CredentialId>().expect(ok), id);
    }
    for bad in [
        "",
        &"x".repeat(CREDENTIAL_ID_MAX + 1),
        "has space",
        "a/b",
        "a%2Fb",
        "..%2e",
        "a\\b",
        "caf\u{e9}",
        "a\0b",
        "a\nb",
        "a\u{200b}b", // zero-width space: looks like "ab"
        "Ａ",         // fullwidth A: looks like "A"
        "a?b",
        "a#b",
        "a+b",
    ] {
        assert_eq!(CredentialId::parse(bad), Err(IdError::Credential), "{bad:?} accepted");
        assert_eq!(IdError::Credential.to_string(), CREDENTIAL_ID_RULE);
    }
}

#[test]
fn owner_ids_at_the_edges_of_the_rule() {
    for ok in ["local", "u-AbC_12", "alice@example.com", "j\u{f6}rg", &"u".repeat(OWNER_ID_MAX)] {
        assert_eq!(OwnerId::parse(ok).expect(ok).as_str(), ok);
    }
    for bad in ["", &"u".repeat(OWNER_ID_MAX + 1), "a\nb", "a\0", "\u{7f}", "a\u{85}b"] {
        assert_eq!(OwnerId::parse(bad), Err(IdError::Owner), "{bad:?} accepted");
    }
}

#[test]
fn serde_builds_ids_only_through_the_rule() {
    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct Call {
        owner: OwnerId,
        credential_id: CredentialId,
        role: Role,
        status: CredentialStatus,
    }
    let ok: Call =
        serde_json::from_str(r#"{"owner":"alice","credential_id":"cid-1","role":"trader","status":"frozen"}"#)
            .expect("valid");
    assert_eq!(ok.credential_id, "cid-1");
    assert_eq!((ok.role, ok.status), (Role::Trader, CredentialStatus::Frozen));
    assert_eq!(
        serde_json::to_string(&ok).expect("print"),
        r#"{"owner":"alice","credential_id":"cid-1","role":"trader","status":"frozen"}"#
    );
    for bad in [
        // JSON escapes decode before the rule sees the id: "\u0020" is a space.
        r#"{"owner":"alice","credential_id":"cid\u0020x","role":"trader","status":"active"}"#,
        r#"{"owner":"alice","credential_id":"","role":"trader","status":"active"}"#,
        r#"{"owner":"alice","credential_id":7,"role":"trader","status":"active"}"#,
        r#"{"owner":"alice","credential_id":["cid"],"role":"trader","status":"active"}"#,
        r#"{"owner":"a\u000ab","credential_id":"cid","role":"trader","status":"active"}"#,
        r#"{"owner":"","credential_id":"cid","role":"trader","status":"active"}"#,
        r#"{"owner":"alice","credential_id":"cid","role":"Trader","status":"active"}"#,
        r#"{"owner":"alice","credential_id":"cid","role":"trader","status":"ACTIVE"}"#,
    ] {
        assert!(serde_json::from_str::<Call>(bad).is_err(), "{bad} accepted");
    }
    let long = format!(r#"{{"owner":"a","credential_id":"{}","role":"agent","status":"deleted"}}"#, "y".repeat(65));
    let err = serde_json::from_str::<Call>(&long).expect_err("65 bytes");
    assert!(err.to_string().contains(CREDENTIAL_ID_RULE), "{err}");
}

#[test]
fn roles_and_statuses_parse_what_they_print() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.name()), Some(r));
        assert_eq!(r.to_string().parse::<Role>(), Ok(r));
    }
    assert_eq!(Role::parse("Importer"), None);
    assert!("signer".parse::<Role>().is_err());
    for s in [CredentialStatus::Active, CredentialStatus::Frozen, CredentialStatus::Deleted] {
        assert_eq!(s.as_str().parse::<CredentialStatus>(), Ok(s));
        assert_eq!(CredentialStatus::try_from(s.to_string()), Ok(s));
    }
    assert!("revoked".parse::<CredentialStatus>().is_err());
}

proptest! {
    /// The rule, stated independently: the parser accepts exactly these strings.
    #[test]
    fn credential_id_parser_matches_the_stated_rule(s in "\\PC{0,70}|[A-Za-z0-9._:-]{0,70}") {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        let expected = !s.is_empty() && s.len() <= 64 && s.chars().all(allowed);
        prop_assert_eq!(CredentialId::parse(&s).is_ok(), expected);
        prop_assert_eq!(CredentialId::try_from(s.clone()).is_ok(), expected);
    }
}
