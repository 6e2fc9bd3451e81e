//! Never panic, never open to other plaintext: valid JWEs (compact, flattened
//! and general JSON; plain and credential envelopes; P-256, P-384, X25519 and
//! RSA-2048) are mutated — bit flips, byte changes, truncations, insertions,
//! deletions, base64url segments swapped or taken from another JWE, header
//! members duplicated, retyped, given huge numbers or deep nesting, the JSON
//! serializations respelled — and then parsed and opened. Each mutated input
//! must either be refused with a typed error or open to exactly the original
//! plaintext; and it may open only if it is semantically the original (the
//! same compact bytes up to surrounding whitespace, or a JSON serialization
//! whose integrity-protected members are the same values).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::prelude::*;
use sealgate_envelope::secrecy::ExposeSecret as _;
use sealgate_envelope::{
    AlgPolicy, Binding, Curve, Error, Jwe, LocalKey, Scope, SealRequest, open_credential_now, parse_json_object,
    seal_compact, seal_credential,
};
use serde_json::{Map, Value};
use std::sync::OnceLock;

const PLAINTEXT: &str = r#"{"api_key":"AKIAEXAMPLEKEY0000WXYZ","api_secret":"CANARY-s3cr3t-9f8e7d6c5b4a"}"#;
const SECRET: &str = "CANARY-s3cr3t-9f8e7d6c5b4a";

fn keys() -> &'static [LocalKey] {
    static KEYS: OnceLock<Vec<LocalKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            LocalKey::generate_ec(Curve::P256, "p256").expect("key"),
            LocalKey::generate_ec(Curve::P384, "p384").expect("key"),
            LocalKey::generate_ec(Curve::X25519, "x25519").expect("key"),
            LocalKey::generate_rsa(2048, "rsa").expect("key"),
        ]
    })
}

fn binding() -> Binding {
    Binding {
        sub: "user-1".into(),
        cid: "cred-1".into(),
        exch: "okx".into(),
        aud: "trader".into(),
        now: Some(1_700_000_100),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Compact,
    Flattened,
    General,
}

/// The five base64url parts of a JWE with one recipient.
#[derive(Debug, Clone)]
struct Parts([String; 5]);

impl Parts {
    fn of_compact(s: &str) -> Self {
        let v: Vec<String> = s.split('.').map(str::to_owned).collect();
        Self(v.try_into().expect("five parts"))
    }

    fn render(&self, form: Form) -> String {
        let [p, ek, iv, ct, tag] = &self.0;
        let q = |s: &str| Value::String(s.to_owned()).to_string();
        match form {
            Form::Compact => self.0.join("."),
            Form::Flattened => format!(
                r#"{{"protected":{},"encrypted_key":{},"iv":{},"ciphertext":{},"tag":{}}}"#,
                q(p),
                q(ek),
                q(iv),
                q(ct),
                q(tag)
            ),
            Form::General => format!(
                r#"{{"protected":{},"recipients":[{{"encrypted_key":{}}}],"iv":{},"ciphertext":{},"tag":{}}}"#,
                q(p),
                q(ek),
                q(iv),
                q(ct),
                q(tag)
            ),
        }
    }
}

/// The valid JWEs: for each key, a plain JWE and a credential envelope.
struct Sample {
    key: usize,
    credential: bool,
    parts: Parts,
}

fn samples() -> &'static [Sample] {
    static S: OnceLock<Vec<Sample>> = OnceLock::new();
    S.get_or_init(|| {
        let mut out = Vec::new();
        for (i, k) in keys().iter().enumerate() {
            let plain = seal_compact(PLAINTEXT.as_bytes(), k.public(), &Map::new()).expect("seal");
            out.push(Sample { key: i, credential: false, parts: Parts::of_compact(&plain) });
            let req = SealRequest {
                sub: "user-1".into(),
                cid: "cred-1".into(),
                exch: "okx".into(),
                aud: "trader".into(),
                scope: Scope::parse_list("read,trade").expect("scope"),
                iat: 1_700_000_000,
                own: None,
            };
            let (env, _) = seal_credential(PLAINTEXT.as_bytes(), k.public(), &req).expect("seal credential");
            out.push(Sample { key: i, credential: true, parts: Parts::of_compact(&env) });
        }
        out
    })
}

/// Header values that are wrong in type, size, range or depth.
fn hostile_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "1",
        "-1",
        "0",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        r#""""#,
        r#""x""#,
        "1e400",
        "-1e400",
        "0.5",
        "1E2",
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890123456789012345678901234567890",
        r#""\ud800""#,
        r#""\u0000""#,
        r#"["x"]"#,
        r#""none""#,
        r#""dir""#,
        r#""ECDH-ES""#,
        r#""RSA1_5""#,
        r#""PBES2-HS256+A128KW""#,
        r#""A128CBC-HS256""#,
        r#""ECDH-ES+A256KW""#,
        r#""RSA-OAEP-256""#,
        r#""A256GCM""#,
        r#""DEF""#,
        r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#,
        r#"{"kty":"OKP","crv":"X25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
    ]
    .map(str::to_owned)
    .to_vec();
    for n in [64, 127, 128, 129, 3000] {
        v.push(format!("{}1{}", "[".repeat(n), "]".repeat(n)));
        v.push(format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n)));
    }
    v.push(format!("\"{}\"", "A".repeat(70_000)));
    v
}

const HEADER_NAMES: [&str; 16] = [
    "alg", "enc", "kid", "epk", "zip", "crit", "typ", "sub", "cid", "exch", "aud", "scope", "iat", "hint", "apu", "p2c",
];

/// A change to the protected header's JSON text.
#[derive(Debug, Clone)]
enum HeaderEdit {
    /// Repeat a member (same or hostile value).
    Duplicate { name: usize, value: Option<usize> },
    /// Give a member (existing or new) a hostile value.
    Set { name: usize, value: usize },
    /// Give a member of `epk` a hostile value.
    SetEpk { member: usize, value: usize },
    /// Drop a member.
    Remove { name: usize },
    /// Re-serialize in another member order (same values, other bytes).
    Reorder,
}

/// A mutation at the level of the JWE's parts or its JSON text.
#[derive(Debug, Clone)]
enum Structural {
    None,
    SwapSegments(usize, usize),
    /// A segment taken from another valid JWE.
    Transplant {
        from: usize,
        segment: usize,
    },
    Header(HeaderEdit),
    /// JSON forms: whitespace between every token (same JWE).
    Whitespace,
    /// JSON forms: a top-level member repeated (same or other value).
    DuplicateTop {
        name: usize,
        other: bool,
    },
    /// JSON forms: a top-level member with a hostile value.
    RetypeTop {
        name: usize,
        value: usize,
    },
    /// JSON forms: an extra unprotected header (integrity is unaffected).
    Unprotected {
        name: usize,
        value: usize,
    },
    /// JSON forms: an `aad` member (changes what the tag covers).
    Aad,
    /// Compact: surrounding whitespace (same JWE).
    Padding,
}

/// A byte-level mutation applied after the structural one.
#[derive(Debug, Clone)]
enum ByteEdit {
    None,
    FlipBit { at: prop::sample::Index, bit: u8 },
    Set { at: prop::sample::Index, byte: u8 },
    Truncate { at: prop::sample::Index },
    Insert { at: prop::sample::Index, bytes: Vec<u8> },
    Delete { at: prop::sample::Index, len: usize },
}

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let nv = hostile_values().len();
    prop_oneof![
        (0..HEADER_NAMES.len(), proptest::option::of(0..nv))
            .prop_map(|(name, value)| HeaderEdit::Duplicate { name, value }),
        (0..HEADER_NAMES.len(), 0..nv).prop_map(|(name, value)| HeaderEdit::Set { name, value }),
        (0usize..4, 0..nv).prop_map(|(member, value)| HeaderEdit::SetEpk { member, value }),
        (0..HEADER_NAMES.len()).prop_map(|name| HeaderEdit::Remove { name }),
        Just(HeaderEdit::Reorder),
    ]
}

fn structural() -> impl Strategy<Value = Structural> {
    let nv = hostile_values().len();
    prop_oneof![
        2 => Just(Structural::None),
        1 => (0usize..5, 0usize..5).prop_map(|(a, b)| Structural::SwapSegments(a, b)),
        1 => (0usize..8, 0usize..5).prop_map(|(from, segment)| Structural::Transplant { from, segment }),
        4 => header_edit().prop_map(Structural::Header),
        1 => Just(Structural::Whitespace),
        1 => (0usize..6, any::<bool>()).prop_map(|(name, other)| Structural::DuplicateTop { name, other }),
        1 => (0usize..6, 0..nv).prop_map(|(name, value)| Structural::RetypeTop { name, value }),
        1 => (0..HEADER_NAMES.len(), 0..nv).prop_map(|(name, value)| Structural::Unprotected { name, value }),
        1 => Just(Structural::Aad),
        1 => Just(Structural::Padding),
    ]
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        3 => Just(ByteEdit::None),
        1 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::FlipBit { at, bit }),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| ByteEdit::Set { at, byte }),
        1 => any::<prop::sample::Index>().prop_map(|at| ByteEdit::Truncate { at }),
        1 => (any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        1 => (any::<prop::sample::Index>(), 1usize..16).prop_map(|(at, len)| ByteEdit::Delete { at, len }),
    ]
}

/// The protected header's members as (name, raw JSON value) pairs.
fn header_members(protected_b64: &str) -> Vec<(String, String)> {
    let bytes = B64.decode(protected_b64).expect("valid sample");
    let map: Map<String, Value> = serde_json::from_slice(&bytes).expect("valid sample");
    map.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

fn header_text(members: &[(String, String)]) -> String {
    let body: Vec<String> = members.iter().map(|(k, v)| format!("{}:{v}", Value::String(k.clone()))).collect();
    format!("{{{}}}", body.join(","))
}

fn edit_header(protected_b64: &str, edit: &HeaderEdit) -> String {
    let values = hostile_values();
    let mut m = header_members(protected_b64);
    let pos = |m: &[(String, String)], name: &str| m.iter().position(|(k, _)| k == name);
    match edit {
        HeaderEdit::Duplicate { name, value } => {
            let name = HEADER_NAMES[*name];
            let raw = match (value, pos(&m, name)) {
                (Some(v), _) => values[*v].clone(),
                (None, Some(i)) => m[i].1.clone(),
                (None, None) => "1".to_owned(),
            };
            m.push((name.to_owned(), raw.clone()));
            m.insert(0, (name.to_owned(), raw));
        }
        HeaderEdit::Set { name, value } => {
            let name = HEADER_NAMES[*name];
            match pos(&m, name) {
                Some(i) => m[i].1 = values[*value].clone(),
                None => m.push((name.to_owned(), values[*value].clone())),
            }
        }
        HeaderEdit::SetEpk { member, value } => {
            if let Some(i) = pos(&m, "epk") {
                let mut epk: Map<String, Value> = serde_json::from_str(&m[i].1).expect("epk object");
                let name = ["kty", "crv", "x", "y"][*member];
                // Hostile values that are not valid JSON for serde_json (deep
                // nesting, lone surrogates) are spliced in as text.
                epk.insert(name.to_owned(), Value::String("\u{1}PLACEHOLDER".into()));
                let text = Value::Object(epk).to_string();
                m[i].1 = text.replacen(r#""\u0001PLACEHOLDER""#, &values[*value], 1);
            }
        }
        HeaderEdit::Remove { name } => m.retain(|(k, _)| k != HEADER_NAMES[*name]),
        HeaderEdit::Reorder => m.reverse(),
    }
    B64.encode(header_text(&m))
}

/// Inserts whitespace between the tokens of compact JSON text (outside strings).
fn spaced(json: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut escaped = false;
    for c in json.chars() {
        out.push(c);
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
        } else if matches!(c, '{' | '[' | ':' | ',') {
            out.push_str(" \n\t");
        }
    }
    format!("\r\n {out} \n")
}

const TOP: [&str; 6] = ["protected", "encrypted_key", "iv", "ciphertext", "tag", "recipients"];

/// Applies a structural mutation; the text may no longer be a JWE.
fn mutate(sample: &Sample, form: Form, s: &Structural) -> String {
    let mut parts = sample.parts.clone();
    let values = hostile_values();
    match s {
        Structural::None => {}
        Structural::SwapSegments(a, b) => parts.0.swap(*a, *b),
        Structural::Transplant { from, segment } => {
            let other = &samples()[*from % samples().len()].parts;
            parts.0[*segment] = other.0[*segment].clone();
        }
        Structural::Header(edit) => parts.0[0] = edit_header(&parts.0[0], edit),
        Structural::Padding => return format!(" \t\n{}\r\n ", parts.render(form)),
        _ => {}
    }
    let text = parts.render(form);
    if form == Form::Compact {
        return text;
    }
    let top_member = |name: usize| {
        let name = TOP[name];
        let v: Value = serde_json::from_str(&text).expect("rendered JSON");
        (name, v.get(name).map_or_else(|| "1".to_owned(), Value::to_string))
    };
    match s {
        Structural::Whitespace => spaced(&text),
        Structural::DuplicateTop { name, other } => {
            let (name, raw) = top_member(*name);
            let raw = if *other { r#""AAAA""#.to_owned() } else { raw };
            text.replacen('{', &format!(r#"{{"{name}":{raw},"#), 1)
        }
        Structural::RetypeTop { name, value } => {
            let (name, _) = top_member(*name);
            let mut v: Map<String, Value> = serde_json::from_str(&text).expect("rendered JSON");
            v.insert(name.to_owned(), Value::String("\u{1}PLACEHOLDER".into()));
            Value::Object(v).to_string().replacen(r#""\u0001PLACEHOLDER""#, &values[*value], 1)
        }
        Structural::Unprotected { name, value } => {
            text.replacen('{', &format!(r#"{{"unprotected":{{"{}":{}}},"#, HEADER_NAMES[*name], values[*value]), 1)
        }
        Structural::Aad => text.replacen('{', r#"{"aad":"c2VhbGdhdGU","#, 1),
        _ => text,
    }
}

fn apply_bytes(mut b: Vec<u8>, e: &ByteEdit) -> Vec<u8> {
    match e {
        ByteEdit::None => {}
        ByteEdit::FlipBit { at, bit } => {
            let i = at.index(b.len());
            b[i] ^= 1 << bit;
        }
        ByteEdit::Set { at, byte } => {
            let i = at.index(b.len());
            b[i] = *byte;
        }
        ByteEdit::Truncate { at } => b.truncate(at.index(b.len())),
        ByteEdit::Insert { at, bytes } => {
            let i = at.index(b.len() + 1);
            b.splice(i..i, bytes.iter().copied());
        }
        ByteEdit::Delete { at, len } => {
            let i = at.index(b.len());
            b.drain(i..(i + len).min(b.len()));
        }
    }
    b
}

/// The members a JWE's integrity rests on, as values (so respelling the JSON
/// — whitespace, member order, escapes — keeps them equal); `None` if the
/// input is not one strict JSON object.
fn protected_members(input: &[u8]) -> Option<Vec<Option<Value>>> {
    let m = parse_json_object(input).ok()?;
    let ek = match m.get("recipients") {
        Some(Value::Array(list)) => list.iter().map(|r| r.get("encrypted_key").cloned()).collect(),
        Some(other) => Some(other.clone()),
        None => m.get("encrypted_key").cloned(),
    };
    Some(vec![
        m.get("protected").cloned(),
        ek,
        m.get("iv").cloned(),
        m.get("ciphertext").cloned(),
        m.get("tag").cloned(),
        m.get("aad").cloned(),
    ])
}

/// Whether `mutated` is the same JWE as `original`, so that opening it is no fault.
fn same_jwe(original: &str, mutated: &[u8], form: Form) -> bool {
    match form {
        Form::Compact => mutated.trim_ascii() == original.as_bytes(),
        Form::Flattened | Form::General => {
            protected_members(mutated).is_some_and(|m| Some(m) == protected_members(original.as_bytes()))
        }
    }
}

fn check_refusal(e: &Error, input: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(!matches!(e, Error::Usage(_) | Error::Rng), "an input fault reported as misuse: {e:?}");
    let text = format!("{e} {e:?}");
    prop_assert!(!text.contains(SECRET), "the error shows the secret");
    prop_assert!(text.len() < 1024, "the error echoes too much of the input ({} bytes in)", input.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn mutated_valid_jwes_never_panic_and_never_open_to_other_plaintext(
        which in 0usize..8,
        form in prop_oneof![Just(Form::Compact), Just(Form::Flattened), Just(Form::General)],
        s in structural(),
        b in byte_edit(),
    ) {
        let sample = &samples()[which];
        let key = &keys()[sample.key];
        let original = sample.parts.render(form);
        let mutated = apply_bytes(mutate(sample, form, &s).into_bytes(), &b);
        let same = same_jwe(&original, &mutated, form);
        if sample.credential {
            match open_credential_now(&mutated, key, &binding()) {
                Ok(opened) => {
                    prop_assert!(same, "a changed envelope opened: {}", String::from_utf8_lossy(&mutated));
                    let secret = opened.credential.get("api_secret").map(|s| s.expose_secret().to_owned());
                    prop_assert_eq!(secret.as_deref(), Some(SECRET));
                    prop_assert_eq!(opened.header.sub, "user-1");
                    prop_assert_eq!(opened.header.aud, "trader");
                }
                Err(e) => check_refusal(&e, &mutated)?,
            }
        }
        for policy in [AlgPolicy::INTEROP, AlgPolicy::CREDENTIAL] {
            let opened = Jwe::parse(&mutated, &policy).and_then(|jwe| {
                // Accessors hold up on anything that parsed.
                let _ = (jwe.serialization(), jwe.enc(), jwe.protected_header().len(), jwe.recipient_count());
                jwe.open_now(key)
            });
            match opened {
                Ok(pt) => {
                    prop_assert!(same, "a changed JWE opened: {}", String::from_utf8_lossy(&mutated));
                    prop_assert_eq!(pt.expose_secret(), PLAINTEXT.as_bytes());
                }
                Err(e) => check_refusal(&e, &mutated)?,
            }
        }
        // The unchanged samples themselves open (the property is not vacuous).
        if matches!((&s, &b), (Structural::None, ByteEdit::None)) {
            let pt = Jwe::parse(&mutated, &AlgPolicy::INTEROP).and_then(|j| j.open_now(key));
            prop_assert!(pt.is_ok(), "an unchanged {form:?} sample did not open: {pt:?}");
        }
    }
}

/// The mutations that keep the JWE must open, the others must not: checked
/// once each, so the property above cannot pass by refusing everything.
#[test]
fn respelled_json_opens_and_changed_json_does_not() {
    for sample in samples() {
        let key = &keys()[sample.key];
        for form in [Form::Flattened, Form::General] {
            let original = sample.parts.render(form);
            let opens = |s: &Structural| {
                let m = mutate(sample, form, s);
                (
                    same_jwe(&original, m.as_bytes(), form),
                    Jwe::parse(m.as_bytes(), &AlgPolicy::INTEROP).and_then(|j| j.open_now(key)).is_ok(),
                )
            };
            assert_eq!(opens(&Structural::None), (true, true));
            assert_eq!(opens(&Structural::Whitespace), (true, true));
            assert_eq!(opens(&Structural::Unprotected { name: 4, value: 5 }), (true, false), "zip is refused");
            assert_eq!(opens(&Structural::Aad), (false, false));
            assert_eq!(opens(&Structural::Header(HeaderEdit::Reorder)), (false, false));
            assert_eq!(
                opens(&Structural::DuplicateTop { name: 2, other: false }),
                (false, false),
                "duplicates refused"
            );
        }
        let compact = sample.parts.render(Form::Compact);
        let padded = mutate(sample, Form::Compact, &Structural::Padding);
        assert!(same_jwe(&compact, padded.as_bytes(), Form::Compact));
        assert!(Jwe::parse(padded.as_bytes(), &AlgPolicy::INTEROP).and_then(|j| j.open_now(key)).is_ok());
    }
}
