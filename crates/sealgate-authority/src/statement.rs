//! What the owner approves (AUTHORITY.md S1-S5): a statement v1 with one
//! canonical byte form, whose SHA-256 is the WebAuthn challenge.

use std::collections::BTreeSet;

use aws_lc_rs::digest;
use sealgate_vocab::{CredentialId, Decimal, OwnerId, RateLimit};
use serde_json::{Map, Value};

use crate::state::{OwnerState, OwnerStatus};
use crate::{Error, b64};

/// The `typ` of a statement v1 (S1).
pub const STATEMENT_TYP: &str = "sealgate-approval+v1";
/// Largest statement we parse (S1).
pub const MAX_STATEMENT: usize = 8 * 1024;
/// Largest `iat`: the largest integer JavaScript holds exactly (S2).
const MAX_IAT: u64 = (1 << 53) - 1;
/// Random bytes in a statement `id` (S2).
const ID_BYTES: usize = 16;

/// One withdrawal the owner approves (S4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    exch: String,
    asset: String,
    amount: Decimal,
    destination: String,
    network: Option<String>,
    request: [u8; 32],
}

fn exch_ok(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
}

fn asset_ok(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn destination_ok(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

impl Withdrawal {
    /// A withdrawal (S4): `exch` as the envelope's (`[a-z0-9_-]{1,32}`), `asset`
    /// and `network` 1-32 of `A-Z a-z 0-9 . _ -`, a positive `amount`, a
    /// `destination` of 1-256 printable ASCII characters (an address, with its
    /// tag or memo as the exchange spells it), and `request`, the SHA-256
    /// digest of the exact canonical withdrawal request the signer will judge.
    pub fn new(
        exch: &str,
        asset: &str,
        amount: Decimal,
        destination: &str,
        network: Option<&str>,
        request: [u8; 32],
    ) -> Result<Self, Error> {
        if !exch_ok(exch) {
            return Err(Error::Statement("exch must be 1 to 32 of a-z 0-9 _ -"));
        }
        if !asset_ok(asset) {
            return Err(Error::Statement("asset must be 1 to 32 of A-Z a-z 0-9 . _ -"));
        }
        if amount == Decimal::ZERO {
            return Err(Error::Statement("amount must be positive"));
        }
        if !destination_ok(destination) {
            return Err(Error::Statement("destination must be 1 to 256 printable ASCII characters"));
        }
        if network.is_some_and(|n| !asset_ok(n)) {
            return Err(Error::Statement("network must be 1 to 32 of A-Z a-z 0-9 . _ -"));
        }
        Ok(Self {
            exch: exch.into(),
            asset: asset.into(),
            amount,
            destination: destination.into(),
            network: network.map(Into::into),
            request,
        })
    }

    /// Exchange id.
    pub fn exch(&self) -> &str {
        &self.exch
    }
    /// Asset.
    pub fn asset(&self) -> &str {
        &self.asset
    }
    /// Amount.
    pub fn amount(&self) -> Decimal {
        self.amount
    }
    /// Destination address (with tag or memo).
    pub fn destination(&self) -> &str {
        &self.destination
    }
    /// Network, when the exchange needs one.
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }
    /// The request's canonical digest.
    pub fn request(&self) -> &[u8; 32] {
        &self.request
    }
}

/// The terms of an exchange key born in the custody that the owner grants (S6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    exch: String,
    roles: Vec<String>,
    scope: Vec<String>,
    key: String,
    api_key: String,
}

const ROLES: [&str; 2] = ["importer", "trader"];
const CLASSES: [&str; 3] = ["read", "trade", "withdraw"];

impl GrantTerms {
    /// The terms (S6): `exch` as an envelope's; `roles` a non-empty subset of
    /// `importer`, `trader` and `scope` of `read`, `trade`, `withdraw`, each in that
    /// order without repeats; `key` the SHA-256 of the key's public key
    /// (SubjectPublicKeyInfo) in base64url (43 characters); `api_key` the exchange's id
    /// of it, 1-256 printable ASCII characters.
    pub fn new(exch: &str, roles: &[&str], scope: &[&str], key: &str, api_key: &str) -> Result<Self, Error> {
        if !exch_ok(exch) {
            return Err(Error::Statement("exch must be 1 to 32 of a-z 0-9 _ -"));
        }
        let ordered = |list: &[&str], all: &[&str]| {
            !list.is_empty()
                && list.iter().all(|x| all.contains(x))
                && list.windows(2).all(|w| all.iter().position(|a| a == &w[0]) < all.iter().position(|a| a == &w[1]))
        };
        if !ordered(roles, &ROLES) {
            return Err(Error::Statement("roles must list importer and/or trader, in that order, each once"));
        }
        if !ordered(scope, &CLASSES) {
            return Err(Error::Statement("scope must list read, trade, withdraw (a subset, in that order)"));
        }
        if key.len() != 43 || b64::decode("key", key).map(|k| k.len()) != Ok(32) {
            return Err(Error::Statement("key must be a SHA-256 digest in base64url (43 characters)"));
        }
        if !destination_ok(api_key) {
            return Err(Error::Statement("api_key must be 1 to 256 printable ASCII characters"));
        }
        let own = |l: &[&str]| l.iter().map(|x| (*x).to_owned()).collect();
        Ok(Self { exch: exch.into(), roles: own(roles), scope: own(scope), key: key.into(), api_key: api_key.into() })
    }
    /// Exchange id.
    pub fn exch(&self) -> &str {
        &self.exch
    }
    /// The roles granted.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }
    /// The classes granted.
    pub fn scope(&self) -> &[String] {
        &self.scope
    }
    /// SHA-256 of the key's public key, base64url.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The exchange's API key id.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

/// What is approved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementKind {
    /// The full new owner state of the credential (S3).
    Policy(OwnerState),
    /// One withdrawal (S4).
    Withdrawal(Withdrawal),
    /// An exchange key born in the custody, granted to roles (S6).
    Grant(GrantTerms),
}

/// A statement v1 (S1-S5): a kind, the credential it is about, a random `id`
/// (the caller records used ids: an approval is spent once) and `iat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    id: String,
    iat: u64,
    owner: OwnerId,
    cid: CredentialId,
    kind: StatementKind,
}

impl Statement {
    /// A statement with a fresh random id, issued at `iat` (Unix seconds).
    pub fn new(owner: &str, cid: &str, kind: StatementKind, iat: u64) -> Result<Self, Error> {
        let mut id = [0u8; ID_BYTES];
        aws_lc_rs::rand::fill(&mut id).map_err(|_| Error::Rng)?;
        Self::with_id(&b64::encode(&id), owner, cid, kind, iat)
    }

    fn with_id(id: &str, owner: &str, cid: &str, kind: StatementKind, iat: u64) -> Result<Self, Error> {
        if id.len() != 22 || b64::decode("id", id).map(|b| b.len()) != Ok(ID_BYTES) {
            return Err(Error::Statement("id must be 16 random bytes in base64url (22 characters)"));
        }
        if iat > MAX_IAT {
            return Err(Error::Statement("iat must be a non-negative integer below 2^53"));
        }
        let owner = OwnerId::parse(owner).map_err(|_| Error::Statement(sealgate_vocab::OWNER_ID_RULE))?;
        let cid = CredentialId::parse(cid).map_err(|_| Error::Statement(sealgate_vocab::CREDENTIAL_ID_RULE))?;
        Ok(Self { id: id.into(), iat, owner, cid, kind })
    }

    /// The random id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Issued at (Unix seconds).
    pub fn iat(&self) -> u64 {
        self.iat
    }
    /// The credential's owner.
    pub fn owner(&self) -> &str {
        self.owner.as_str()
    }
    /// The credential id.
    pub fn cid(&self) -> &str {
        self.cid.as_str()
    }
    /// What is approved.
    pub fn kind(&self) -> &StatementKind {
        &self.kind
    }

    /// The canonical bytes (S1): compact JSON, members in the fixed order of
    /// AUTHORITY.md, strings as `JSON.stringify` writes them, symbols sorted,
    /// decimals in their shortest form, absent optional values as `null`.
    pub fn canonical(&self) -> Vec<u8> {
        let q = |s: &str| Value::from(s).to_string();
        let mut out = format!(
            "{{\"typ\":{},\"id\":{},\"iat\":{},\"owner\":{},\"cid\":{},",
            q(STATEMENT_TYP),
            q(&self.id),
            self.iat,
            q(self.owner.as_str()),
            q(self.cid.as_str())
        );
        match &self.kind {
            StatementKind::Policy(s) => {
                out.push_str(&format!("\"kind\":\"policy\",\"state\":{}}}", s.to_json()));
            }
            StatementKind::Grant(g) => {
                let list = |l: &[String]| Value::from(l.to_vec()).to_string();
                out.push_str(&format!(
                    "\"kind\":\"grant\",\"grant\":{{\"exch\":{},\"roles\":{},\"scope\":{},\"key\":{},\"api_key\":{}}}}}",
                    q(&g.exch),
                    list(&g.roles),
                    list(&g.scope),
                    q(&g.key),
                    q(&g.api_key)
                ));
            }
            StatementKind::Withdrawal(w) => {
                out.push_str(&format!(
                    "\"kind\":\"withdrawal\",\"withdrawal\":{{\"exch\":{},\"asset\":{},\"amount\":{},\"destination\":{},\"network\":{},\"request\":{}}}}}",
                    q(&w.exch),
                    q(&w.asset),
                    q(&w.amount.to_string()),
                    q(&w.destination),
                    w.network.as_deref().map_or("null".to_owned(), q),
                    q(&b64::encode(&w.request))
                ));
            }
        }
        out.into_bytes()
    }

    /// SHA-256 of [`Statement::canonical`]: the WebAuthn challenge (S5).
    pub fn challenge(&self) -> [u8; 32] {
        let mut c = [0u8; 32];
        c.copy_from_slice(digest::digest(&digest::SHA256, &self.canonical()).as_ref());
        c
    }

    /// Parse a statement in its canonical form (S1): at most [`MAX_STATEMENT`]
    /// bytes, exactly the members of its kind, each of its type and rule, and
    /// byte for byte what [`Statement::canonical`] writes (else [`Error::NotCanonical`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_STATEMENT {
            return Err(Error::TooLarge("statement"));
        }
        let m = sealgate_envelope::parse_json_object(bytes)
            .map_err(|_| Error::Malformed("statement is not a JSON object (without repeated members)"))?;
        // The kind and the member that holds its body.
        let (kind, body) = match m.get("kind") {
            Some(Value::String(k)) if k == "policy" => ("policy", "state"),
            Some(Value::String(k)) if k == "withdrawal" => ("withdrawal", "withdrawal"),
            Some(Value::String(k)) if k == "grant" => ("grant", "grant"),
            _ => return Err(Error::Statement("kind must be \"policy\", \"withdrawal\" or \"grant\"")),
        };
        only(&m, &["typ", "id", "iat", "owner", "cid", "kind", body], "statement has a member v1 does not define")?;
        if m.get("typ").and_then(Value::as_str) != Some(STATEMENT_TYP) {
            return Err(Error::Statement("typ must be \"sealgate-approval+v1\""));
        }
        let iat = m
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or(Error::Statement("iat must be a non-negative integer below 2^53"))?;
        let body = match m.get(body) {
            Some(Value::Object(b)) => b,
            _ => return Err(Error::Statement("the kind's member must be an object")),
        };
        let kind = match kind {
            "policy" => StatementKind::Policy(state_from(body)?),
            "grant" => StatementKind::Grant(grant_from(body)?),
            _ => StatementKind::Withdrawal(withdrawal_from(body)?),
        };
        let s = Self::with_id(str_of(&m, "id")?, str_of(&m, "owner")?, str_of(&m, "cid")?, kind, iat)?;
        if s.canonical() != bytes {
            return Err(Error::NotCanonical);
        }
        Ok(s)
    }
}

fn only(m: &Map<String, Value>, names: &[&str], why: &'static str) -> Result<(), Error> {
    if m.keys().any(|k| !names.contains(&k.as_str())) {
        return Err(Error::Statement(why));
    }
    if names.iter().any(|n| !m.contains_key(*n)) {
        return Err(Error::Statement("statement lacks a member its kind requires"));
    }
    Ok(())
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, Error> {
    m.get(k).and_then(Value::as_str).ok_or(Error::Statement("a member that must be a string is not"))
}

pub(crate) fn state_from(m: &Map<String, Value>) -> Result<OwnerState, Error> {
    only(m, &["status", "kill_switch", "symbols", "max_notional", "rate"], "state has a member v1 does not define")?;
    let status = match m.get("status").and_then(Value::as_str) {
        Some("active") => OwnerStatus::Active,
        Some("frozen") => OwnerStatus::Frozen,
        _ => return Err(Error::Statement("status must be \"active\" or \"frozen\"")),
    };
    let kill =
        m.get("kill_switch").and_then(Value::as_bool).ok_or(Error::Statement("kill_switch must be a boolean"))?;
    let symbols = match m.get("symbols") {
        Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let mut set = BTreeSet::new();
            for s in a {
                let s = s.as_str().ok_or(Error::Statement("symbols must be null or an array of strings"))?;
                if !set.insert(s.to_owned()) {
                    return Err(Error::Statement("symbols lists a symbol twice"));
                }
            }
            Some(set)
        }
        _ => return Err(Error::Statement("symbols must be null or an array of strings")),
    };
    let notional = match m.get("max_notional") {
        Some(Value::Null) => None,
        Some(Value::String(n)) => {
            Some(Decimal::parse(n).ok_or(Error::Statement("max_notional must be null or a decimal string"))?)
        }
        _ => return Err(Error::Statement("max_notional must be null or a decimal string")),
    };
    let rate = match m.get("rate") {
        Some(Value::Null) => None,
        Some(Value::Object(r)) => {
            only(r, &["max", "window_ms"], "rate has a member v1 does not define")?;
            let max = r.get("max").and_then(Value::as_u64).and_then(|x| u32::try_from(x).ok());
            let window_ms = r.get("window_ms").and_then(Value::as_u64);
            match (max, window_ms) {
                (Some(max), Some(window_ms)) => Some(RateLimit { max, window_ms }),
                _ => return Err(Error::Statement("rate.max must be 1 to 100000 and rate.window_ms 1000 to 86400000")),
            }
        }
        _ => return Err(Error::Statement("rate must be null or an object")),
    };
    OwnerState::new(status, kill, symbols, notional, rate)
}

fn grant_from(m: &Map<String, Value>) -> Result<GrantTerms, Error> {
    only(m, &["exch", "roles", "scope", "key", "api_key"], "grant has a member v1 does not define")?;
    let list = |k: &str| -> Result<Vec<&str>, Error> {
        m.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .ok_or(Error::Statement("roles and scope must be arrays of strings"))
    };
    GrantTerms::new(str_of(m, "exch")?, &list("roles")?, &list("scope")?, str_of(m, "key")?, str_of(m, "api_key")?)
}

fn withdrawal_from(m: &Map<String, Value>) -> Result<Withdrawal, Error> {
    only(
        m,
        &["exch", "asset", "amount", "destination", "network", "request"],
        "withdrawal has a member v1 does not define",
    )?;
    let amount = Decimal::parse(str_of(m, "amount")?).ok_or(Error::Statement("amount must be a decimal string"))?;
    let network = match m.get("network") {
        Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.as_str()),
        _ => return Err(Error::Statement("network must be null or a string")),
    };
    let request = b64::decode("request", str_of(m, "request")?)
        .ok()
        .and_then(|r| <[u8; 32]>::try_from(r).ok())
        .ok_or(Error::Statement("request must be a SHA-256 digest in base64url (43 characters)"))?;
    Withdrawal::new(str_of(m, "exch")?, str_of(m, "asset")?, amount, str_of(m, "destination")?, network, request)
}
