//! The owner's ledger as the signer learns it (`sealgate-authority` AUTHORITY.md L1-L6):
//! which audit records make, narrow, freeze and approve an entry, read from the chain the
//! signer verifies ([`crate::revocation`]), and the `approval` member the api writes.
//!
//! An approval record carries everything needed to check it again, with no trust in the
//! database: the statement's canonical text, the WebAuthn assertion, the approving key as a
//! public JWK, and the relying party it was made for. The signer verifies the assertion
//! (at the record's time), and keeps the key's thumbprint; only when the credential is used
//! does it learn whether its envelope names that key (L5). A relying party taken from the
//! record does not weaken this: an authenticator signs for a relying party only with a key
//! registered there, and the key must be one the owner sealed into the envelope.

use sealgate_audit::Record;
use sealgate_authority::{
    Assertion, AuthorityKey, Ledger, OwnerState, OwnerStatus, Scope, Statement, verify_assertion,
};
use serde_json::{Map, Value, json};

/// The detail member of a `credential_created` or `envelope_replaced` record listing the
/// thumbprints the envelope's `own` names (absent: it names none).
pub const OWN_MEMBER: &str = "own";
/// The detail member holding an approval.
pub const APPROVAL_MEMBER: &str = "approval";
/// The action of a change of a credential's status by its owner.
pub const CREDENTIAL_STATUS: &str = "credential_status";
/// The action of a change of a credential's limits.
pub const LIMITS_CHANGED: &str = "limits_changed";
/// The action of the owner's approval of one withdrawal (detail: `approval`, `withdrawal`).
pub const WITHDRAWAL_APPROVED: &str = "withdrawal_approved";
/// The action the signer records before it signs an approved withdrawal (detail:
/// `approval_id`, the statement id it spends).
pub const WITHDRAWAL_USED: &str = "withdrawal_used";

/// The `approval` member of a record: what the signer checks again.
pub fn approval_member(
    statement: &Statement,
    assertion: &Assertion,
    key: &AuthorityKey,
    rp_id: &str,
    origin: &str,
) -> Value {
    use base64::Engine as _;
    let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
    json!({
        "statement": String::from_utf8_lossy(&statement.canonical()),
        "authenticator_data": b(assertion.authenticator_data()),
        "client_data_json": b(assertion.client_data_json()),
        "signature": b(assertion.signature()),
        "key": Value::Object(key.to_jwk()),
        "rp_id": rp_id,
        "origin": origin,
    })
}

/// Why an approval member does not count.
#[derive(Debug, thiserror::Error)]
pub enum BadApproval {
    /// A member is missing or of the wrong type.
    #[error("approval: {0}")]
    Shape(&'static str),
    /// The statement, key or assertion is refused.
    #[error("approval: {0}")]
    Refused(#[from] sealgate_authority::Error),
    /// The statement is about another credential than the record's.
    #[error("approval: the statement is about another credential")]
    OtherCredential,
}

/// A verified approval: the statement, and the approving key's thumbprint.
pub struct Approved {
    /// What the owner approved.
    pub statement: Statement,
    /// The RFC 7638 thumbprint of the key that signed.
    pub thumbprint: String,
}

/// Checks an `approval` member for `owner`'s credential `cid`, as of `now` (Unix seconds).
pub fn check_approval(a: &Value, owner: &str, cid: &str, now: u64) -> Result<Approved, BadApproval> {
    let s = |k: &'static str| a.get(k).and_then(Value::as_str).ok_or(BadApproval::Shape(k));
    let statement = Statement::parse(s("statement")?.as_bytes())?;
    if statement.owner() != owner || statement.cid() != cid {
        return Err(BadApproval::OtherCredential);
    }
    let key_json = a.get("key").filter(|k| k.is_object()).ok_or(BadApproval::Shape("key"))?;
    let key = AuthorityKey::from_jwk(key_json.to_string().as_bytes())?;
    let assertion = Assertion::from_parts(s("authenticator_data")?, s("client_data_json")?, s("signature")?)?;
    verify_assertion(&key, &statement, &assertion, &[s("origin")?], s("rp_id")?, now)?;
    Ok(Approved { thumbprint: key.thumbprint(), statement })
}

/// The owner state a `limits_changed` record's `limits` member sets (with the status left
/// active: the record does not change it).
fn limits_state(v: &Value) -> Option<OwnerState> {
    let l = v.as_object()?;
    let symbols = match l.get("symbols")? {
        Value::Null => None,
        Value::Array(a) => Some(a.iter().map(|s| s.as_str().map(str::to_owned)).collect::<Option<_>>()?),
        _ => return None,
    };
    let notional = match l.get("max_notional")? {
        Value::Null => None,
        Value::String(n) => Some(sealgate_authority::Decimal::parse(n)?),
        _ => return None,
    };
    let rate = match l.get("rate")? {
        Value::Null => None,
        Value::Object(r) => Some(sealgate_authority::RateLimit {
            max: u32::try_from(r.get("max")?.as_u64()?).ok()?,
            window_ms: r.get("window_ms")?.as_u64()?,
        }),
        _ => return None,
    };
    OwnerState::new(OwnerStatus::Active, false, symbols, notional, rate).ok()
}

fn frozen() -> OwnerState {
    OwnerState::new(OwnerStatus::Frozen, false, None, None, None).unwrap_or_else(|_| OwnerState::unrestricted())
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// The actions [`observe`] reads.
pub(crate) const OBSERVED: [&str; 10] = [
    "credential_created",
    crate::revocation::ENVELOPE_REPLACED,
    "revoked",
    LIMITS_CHANGED,
    CREDENTIAL_STATUS,
    "lockdown",
    "anomaly_frozen",
    crate::incident::INCIDENT_STEP,
    WITHDRAWAL_APPROVED,
    WITHDRAWAL_USED,
];

/// Applies one verified record to the ledger (L1-L4). A record that does not parse as
/// its action says changes nothing: it cannot loosen, and a narrowing the api wrote is
/// always well formed.
pub fn observe(ledger: &mut Ledger, r: &Record) {
    let action = r.action.as_str();
    if !OBSERVED.contains(&action) {
        return;
    }
    let detail = r.detail.to_value();
    let owner = detail.get("owner").and_then(Value::as_str).unwrap_or_default();
    let cid = r.subject.as_str();
    match action {
        "credential_created" => {
            if detail.get(OWN_MEMBER).is_some_and(|o| !strings(Some(o)).is_empty()) {
                let exchange = detail.get("exchange").and_then(Value::as_str).unwrap_or_default();
                ledger.track(owner, cid, exchange, strings(detail.get("roles")));
            }
        }
        crate::revocation::ENVELOPE_REPLACED => {
            let role = detail.get("role").and_then(Value::as_str).unwrap_or_default();
            if detail.get(OWN_MEMBER).is_some_and(|o| !strings(Some(o)).is_empty()) {
                let exchange = detail.get("exchange").and_then(Value::as_str).unwrap_or_default();
                ledger.track(owner, cid, exchange, [role]);
            }
        }
        "revoked" => {
            if let Some(role) = detail.get("role").and_then(Value::as_str) {
                ledger.drop_role(owner, cid, role);
            }
        }
        LIMITS_CHANGED | CREDENTIAL_STATUS => {
            if let Some(a) = detail.get(APPROVAL_MEMBER) {
                let exchange = ledger.get(owner, cid).map(|e| e.exchange.clone()).unwrap_or_default();
                match check_approval(a, owner, cid, r.time / 1000) {
                    Ok(ok) => {
                        if let Err(e) = ledger.approve(&ok.statement, &ok.thumbprint, &exchange) {
                            tracing::warn!(seq = r.seq, owner, credential = cid, error = %e, "owner approval not applied");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(seq = r.seq, owner, credential = cid, error = %e, "owner approval refused");
                    }
                }
                return;
            }
            let to = if action == LIMITS_CHANGED {
                detail.get("limits").and_then(limits_state)
            } else {
                match detail.get("status").and_then(Value::as_str) {
                    Some("frozen") => Some(frozen()),
                    _ => None,
                }
            };
            if let Some(to) = to {
                ledger.narrow(owner, cid, &to);
            }
        }
        WITHDRAWAL_APPROVED => {
            let exchange = ledger.get(owner, cid).map(|e| e.exchange.clone()).unwrap_or_default();
            match detail.get(APPROVAL_MEMBER).map(|a| check_approval(a, owner, cid, r.time / 1000)) {
                Some(Ok(ok)) => ledger.approve_withdrawal(&ok.statement, &ok.thumbprint, &exchange),
                Some(Err(e)) => {
                    tracing::warn!(seq = r.seq, owner, credential = cid, error = %e, "withdrawal approval refused")
                }
                None => {}
            }
        }
        WITHDRAWAL_USED => {
            if let Some(id) = detail.get("approval_id").and_then(Value::as_str) {
                ledger.spend(owner, cid, id);
            }
        }
        "lockdown" => {
            // The subject is the user locked down (by the api or by a link).
            ledger.freeze(&Scope::user(cid));
        }
        "anomaly_frozen" => {
            ledger.narrow(owner, cid, &frozen());
        }
        _ => {
            // An incident's freeze step, with the scope it froze.
            if detail.get("step").and_then(Value::as_str) == Some("freeze")
                && let Some(scope) = detail.get("scope").and_then(Value::as_object)
            {
                ledger.freeze(&scope_of(scope));
            }
        }
    }
}

fn scope_of(m: &Map<String, Value>) -> Scope {
    let f = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
    Scope { role: f("role"), exchange: f("exchange"), user: f("user"), credential: f("credential") }
}

/// An incident's scope as its freeze step records it (what [`observe`] reads back).
pub fn scope_member(role: Option<&str>, exchange: Option<&str>, user: Option<&str>, credential: Option<&str>) -> Value {
    json!({"role": role, "exchange": exchange, "user": user, "credential": credential})
}

// --- the signer's state file ---------------------------------------------------------------------

/// The ledger as the signer's state file keeps it.
pub fn to_json(l: &Ledger) -> Value {
    Value::Array(
        l.iter()
            .map(|(o, c, e)| {
                let destinations: Vec<Value> = e.destinations.iter().map(|((d, k), iat)| json!([d, k, iat])).collect();
                json!({"owner": o, "cid": c, "state": e.state.to_json(), "approver": e.approver,
                       "last_iat": e.last_iat, "ids": e.ids, "exchange": e.exchange, "roles": e.roles,
                       "destinations": destinations})
            })
            .collect(),
    )
}

/// Reads what [`to_json`] writes.
pub fn from_json(v: &Value) -> Result<Ledger, &'static str> {
    let mut l = Ledger::new();
    for item in v.as_array().ok_or("ledger is not an array")? {
        let s = |k: &str| item.get(k).and_then(Value::as_str).ok_or("a ledger entry lacks a string member");
        let state = OwnerState::from_json(s("state")?.as_bytes()).map_err(|_| "a ledger entry's state is invalid")?;
        let set = |k: &str| -> Result<std::collections::BTreeSet<String>, &'static str> {
            item.get(k)
                .and_then(Value::as_array)
                .ok_or("a ledger entry lacks a list")?
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or("a ledger entry's list holds a non-string"))
                .collect()
        };
        let entry = sealgate_authority::Entry {
            state,
            approver: item.get("approver").and_then(Value::as_str).map(str::to_owned),
            last_iat: item.get("last_iat").and_then(Value::as_u64).ok_or("a ledger entry lacks last_iat")?,
            ids: set("ids")?,
            exchange: s("exchange")?.to_owned(),
            roles: set("roles")?,
            destinations: item
                .get("destinations")
                .and_then(Value::as_array)
                .ok_or("a ledger entry lacks its destinations")?
                .iter()
                .map(|t| match t.as_array().map(Vec::as_slice) {
                    Some([Value::String(d), Value::String(k), Value::Number(n)]) => {
                        n.as_u64().map(|n| ((d.clone(), k.clone()), n)).ok_or("a destination's time is not an integer")
                    }
                    _ => Err("a ledger destination is not [destination, key, iat]"),
                })
                .collect::<Result<_, _>>()?,
        };
        l.restore(s("owner")?, s("cid")?, entry);
    }
    Ok(l)
}
