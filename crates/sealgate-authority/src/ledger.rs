//! The owner's ledger (AUTHORITY.md L1-L6): per credential that names an authority, the
//! strictest state its verified history allows, so that a loosening written straight into
//! the database, or by a stolen session, never reaches the signer.
//!
//! The ledger is a fold over the audit chain in order. It never loosens except by an
//! approval: a policy statement the caller verified ([`crate::verify_assertion`]) under a
//! key, whose thumbprint is kept and checked against the envelope's `own` when the state is
//! used. Everything else (a freeze, lower limits, a lockdown, an incident) can only narrow
//! it, so a record a database writer forges narrows it at most.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::OwnerState;
use crate::statement::{Statement, StatementKind};

/// Statement ids kept per credential (L4). An approval spends its id; a credential sees a
/// handful a year. Past this, the oldest id is forgotten: `iat` still only moves forward, so
/// a forgotten id is also refused unless it was issued at the very second of the newest.
pub const MAX_IDS: usize = 256;

/// One credential's entry (L2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The strictest state the history allows.
    pub state: OwnerState,
    /// Thumbprint of the key that made the last approval, if any (L5).
    pub approver: Option<String>,
    /// `iat` of the last approval (L4).
    pub last_iat: u64,
    /// The ids of the approvals spent, at most [`MAX_IDS`] (L4).
    pub ids: BTreeSet<String>,
    /// The credential's exchange, as created (for an incident's scope).
    pub exchange: String,
    /// The roles it was ever sealed to (for an incident's scope; a freeze by role that
    /// also reaches a revoked role's credential only narrows).
    pub roles: BTreeSet<String>,
    /// L7: when each (destination, approving key) first approved a withdrawal (the
    /// statement's `iat`), for the new-destination waiting period.
    pub destinations: BTreeMap<(String, String), u64>,
}

/// An incident's freeze scope (L3), as the incident recorded it: the filters it gave, all
/// of which a credential must match (none given: every credential).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Credentials sealed to this role.
    pub role: Option<String>,
    /// Credentials of this exchange.
    pub exchange: Option<String>,
    /// Credentials of this user.
    pub user: Option<String>,
    /// The credential with this id (of `user`, when given).
    pub credential: Option<String>,
}

impl Scope {
    /// Every credential of `owner` (a lockdown).
    pub fn user(owner: &str) -> Self {
        Self { user: Some(owner.to_owned()), ..Self::default() }
    }

    fn covers(&self, owner: &str, cid: &str, e: &Entry) -> bool {
        self.user.as_deref().is_none_or(|u| u == owner)
            && self.credential.as_deref().is_none_or(|c| c == cid)
            && self.exchange.as_deref().is_none_or(|x| x == e.exchange)
            && self.role.as_ref().is_none_or(|r| e.roles.contains(r))
    }
}

/// Why an approval is not applied (L4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalRefused {
    /// The statement approves a withdrawal, not a state.
    #[error("the statement does not approve an owner state")]
    NotPolicy,
    /// Its id was spent already.
    #[error("the approval was used before")]
    Replayed,
    /// It was issued before the last approval applied.
    #[error("the approval is older than the last one applied")]
    Superseded,
}

/// Why the signer may not use a credential's state (L5, L6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerRefusal {
    /// The envelope names an authority, but no record of the credential does.
    #[error("the owner's ledger has no record of this credential naming an authority")]
    Unknown,
    /// The last approval was made by a key the envelope does not name.
    #[error("the credential's last approval was not made by a key its envelope names")]
    ForeignApprover,
}

/// The ledger: entries keyed by (owner, credential id), ordered so an owner's are adjacent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: BTreeMap<(String, String), Entry>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a credential.
    pub fn get(&self, owner: &str, cid: &str) -> Option<&Entry> {
        self.entries.get(&(owner.to_owned(), cid.to_owned()))
    }

    /// Every entry, in order (for the signer's state file).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Entry)> {
        self.entries.iter().map(|((o, c), e)| (o.as_str(), c.as_str(), e))
    }

    /// Puts back an entry read from the signer's state file.
    pub fn restore(&mut self, owner: &str, cid: &str, entry: Entry) {
        self.entries.insert((owner.to_owned(), cid.to_owned()), entry);
    }

    /// L1: a credential sealed (or re-sealed) with an envelope that names an authority.
    /// A new entry starts unrestricted (as the credential does when created); an existing
    /// one keeps its state and learns the roles.
    pub fn track<'a>(&mut self, owner: &str, cid: &str, exchange: &str, roles: impl IntoIterator<Item = &'a str>) {
        let e = self.entries.entry((owner.to_owned(), cid.to_owned())).or_insert_with(|| Entry {
            state: OwnerState::unrestricted(),
            approver: None,
            last_iat: 0,
            ids: BTreeSet::new(),
            exchange: exchange.to_owned(),
            roles: BTreeSet::new(),
            destinations: BTreeMap::new(),
        });
        e.roles.extend(roles.into_iter().map(str::to_owned));
    }

    /// L2: a change that may only narrow (limits lowered, a freeze): the entry becomes the
    /// meet of what it was and `to`. A credential without an entry names no authority.
    pub fn narrow(&mut self, owner: &str, cid: &str, to: &OwnerState) {
        if let Some(e) = self.entries.get_mut(&(owner.to_owned(), cid.to_owned())) {
            e.state = e.state.meet(to);
        }
    }

    /// L3: a freeze of everything an incident's scope covers, or (a lockdown) of an owner's.
    /// Returns how many entries it froze.
    pub fn freeze(&mut self, scope: &Scope) -> usize {
        let frozen = frozen();
        let mut n = 0;
        let from = (scope.user.clone().unwrap_or_default(), String::new());
        for ((o, c), e) in self.entries.range_mut(from..) {
            if scope.user.as_ref().is_some_and(|u| u != o) {
                break;
            }
            if scope.covers(o, c, e) {
                e.state = e.state.meet(&frozen);
                n += 1;
            }
        }
        n
    }

    /// A role's envelope of a credential was revoked: an incident by that role no longer
    /// covers it (as the database's scope, which reads the envelopes, does not).
    pub fn drop_role(&mut self, owner: &str, cid: &str, role: &str) {
        if let Some(e) = self.entries.get_mut(&(owner.to_owned(), cid.to_owned())) {
            e.roles.remove(role);
        }
    }

    /// L4: an approval, verified by the caller under the key whose thumbprint is
    /// `approver`: the entry becomes exactly the approved state. Each id counts once, and an
    /// approval issued before the last one applied is refused (so an old approval replayed
    /// later cannot undo what came after it). An approval of a credential without an entry
    /// makes one (its envelope names the authority, or the signer refuses it anyway).
    pub fn approve(&mut self, statement: &Statement, approver: &str, exchange: &str) -> Result<(), ApprovalRefused> {
        let StatementKind::Policy(state) = statement.kind() else { return Err(ApprovalRefused::NotPolicy) };
        self.track(statement.owner(), statement.cid(), exchange, []);
        let key = (statement.owner().to_owned(), statement.cid().to_owned());
        let e = self.entries.get_mut(&key).expect("tracked above");
        if e.ids.contains(statement.id()) {
            return Err(ApprovalRefused::Replayed);
        }
        if statement.iat() < e.last_iat {
            return Err(ApprovalRefused::Superseded);
        }
        if e.ids.len() >= MAX_IDS
            && let Some(first) = e.ids.iter().next().cloned()
        {
            e.ids.remove(&first);
        }
        e.ids.insert(statement.id().to_owned());
        e.last_iat = statement.iat();
        e.state = state.clone();
        e.approver = Some(approver.to_owned());
        Ok(())
    }

    /// L7: a withdrawal approval, verified by the caller under the key `approver`: its
    /// destination is known from its `iat` on (the earliest such approval counts). Its id is
    /// spent only when the withdrawal is made ([`Ledger::spend`]).
    pub fn approve_withdrawal(&mut self, statement: &Statement, approver: &str, exchange: &str) {
        let StatementKind::Withdrawal(w) = statement.kind() else { return };
        self.track(statement.owner(), statement.cid(), exchange, []);
        if let Some(e) = self.entries.get_mut(&(statement.owner().to_owned(), statement.cid().to_owned())) {
            let first =
                e.destinations.entry((w.destination().to_owned(), approver.to_owned())).or_insert(statement.iat());
            *first = (*first).min(statement.iat());
        }
    }

    /// L7: an approval was used (a withdrawal made with it): its id counts no more.
    pub fn spend(&mut self, owner: &str, cid: &str, id: &str) {
        if let Some(e) = self.entries.get_mut(&(owner.to_owned(), cid.to_owned())) {
            if e.ids.len() >= MAX_IDS
                && let Some(first) = e.ids.iter().next().cloned()
            {
                e.ids.remove(&first);
            }
            e.ids.insert(id.to_owned());
        }
    }

    /// Whether approval `id` of the credential was spent.
    pub fn is_spent(&self, owner: &str, cid: &str, id: &str) -> bool {
        self.get(owner, cid).is_some_and(|e| e.ids.contains(id))
    }

    /// L7: when a key the envelope names (`own`) first approved a withdrawal to
    /// `destination` (Unix seconds), if one did.
    pub fn destination_since(&self, owner: &str, cid: &str, destination: &str, own: &[String]) -> Option<u64> {
        let e = self.get(owner, cid)?;
        own.iter().filter_map(|k| e.destinations.get(&(destination.to_owned(), k.clone())).copied()).min()
    }

    /// L5, L6: the state the signer applies to a credential whose envelope names `own`:
    /// the meet of the database's state and the entry's. Refused when no record names the
    /// credential's authority, or the last approval's key is not in `own`.
    pub fn effective(
        &self,
        owner: &str,
        cid: &str,
        db: &OwnerState,
        own: &[String],
    ) -> Result<OwnerState, LedgerRefusal> {
        let e = self.get(owner, cid).ok_or(LedgerRefusal::Unknown)?;
        if let Some(a) = &e.approver
            && !own.iter().any(|t| t == a)
        {
            return Err(LedgerRefusal::ForeignApprover);
        }
        Ok(db.meet(&e.state))
    }
}

fn frozen() -> OwnerState {
    OwnerState::new(crate::OwnerStatus::Frozen, false, None, None, None).expect("a frozen state obeys the rules")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decimal, OwnerStatus};

    fn state(status: OwnerStatus, cap: Option<&str>) -> OwnerState {
        OwnerState::new(status, false, None, cap.map(|c| Decimal::parse(c).expect("decimal")), None).expect("state")
    }

    fn approval(cid: &str, to: &OwnerState, iat: u64) -> Statement {
        Statement::new("u1", cid, StatementKind::Policy(to.clone()), iat).expect("statement")
    }

    #[test]
    fn narrows_without_approval_and_loosens_only_with_one() {
        let mut l = Ledger::new();
        l.track("u1", "c1", "binance", ["trader"]);
        l.narrow("u1", "c1", &state(OwnerStatus::Active, Some("1000")));
        l.freeze(&Scope::user("u1"));
        // A forged "unfreeze, no cap" narrows nothing.
        l.narrow("u1", "c1", &OwnerState::unrestricted());
        let db = OwnerState::unrestricted();
        let own = vec!["k1".to_owned()];
        assert_eq!(l.effective("u1", "c1", &db, &own), Ok(state(OwnerStatus::Frozen, Some("1000"))));
        // The owner's approval replaces it; the database's own narrowing still applies.
        let s = approval("c1", &state(OwnerStatus::Active, Some("2000")), 100);
        l.approve(&s, "k1", "binance").expect("applied");
        assert_eq!(
            l.effective("u1", "c1", &state(OwnerStatus::Active, Some("1500")), &own),
            Ok(state(OwnerStatus::Active, Some("1500")))
        );
        // Spent once; an older one cannot undo it.
        assert_eq!(l.approve(&s, "k1", "binance"), Err(ApprovalRefused::Replayed));
        let old = approval("c1", &OwnerState::unrestricted(), 99);
        assert_eq!(l.approve(&old, "k1", "binance"), Err(ApprovalRefused::Superseded));
        // An approval by a key the envelope does not name makes the credential unusable.
        let s = approval("c1", &OwnerState::unrestricted(), 101);
        l.approve(&s, "attacker", "binance").expect("recorded");
        assert_eq!(l.effective("u1", "c1", &db, &own), Err(LedgerRefusal::ForeignApprover));
        assert_eq!(l.effective("u1", "c2", &db, &own), Err(LedgerRefusal::Unknown));
    }

    #[test]
    fn freeze_scopes() {
        let mut l = Ledger::new();
        l.track("u1", "a", "binance", ["trader"]);
        l.track("u1", "b", "kraken", ["importer"]);
        l.track("u2", "a", "kraken", ["trader"]);
        l.track("u10", "a", "okx", ["trader"]);
        let s = |role: Option<&str>, exchange: Option<&str>, user: Option<&str>, credential: Option<&str>| Scope {
            role: role.map(Into::into),
            exchange: exchange.map(Into::into),
            user: user.map(Into::into),
            credential: credential.map(Into::into),
        };
        assert_eq!(l.freeze(&Scope::user("u1")), 2);
        assert_eq!(l.freeze(&s(Some("trader"), None, None, None)), 3);
        assert_eq!(l.freeze(&s(None, Some("kraken"), None, None)), 2);
        assert_eq!(l.freeze(&s(Some("trader"), Some("kraken"), None, None)), 1);
        assert_eq!(l.freeze(&s(None, None, Some("u2"), Some("a"))), 1);
        assert_eq!(l.freeze(&s(None, None, Some("u3"), Some("a"))), 0);
        assert_eq!(l.freeze(&s(None, None, None, Some("a"))), 3);
        l.drop_role("u1", "a", "trader");
        assert_eq!(l.freeze(&s(Some("trader"), None, None, None)), 2);
        assert_eq!(l.freeze(&Scope::default()), 4);
        assert!(l.iter().all(|(_, _, e)| e.state.status() == OwnerStatus::Frozen));
    }

    #[test]
    fn destinations_count_from_the_first_approval_by_a_named_key() {
        use crate::Withdrawal;
        let mut l = Ledger::new();
        let w = |dest: &str, iat: u64| {
            let w = Withdrawal::new("binance", "BTC", Decimal::parse("1").expect("d"), dest, None, [7; 32]).expect("w");
            Statement::new("u1", "c1", StatementKind::Withdrawal(w), iat).expect("statement")
        };
        let own = vec!["k1".to_owned()];
        l.approve_withdrawal(&w("bc1qa", 200), "k1", "binance");
        l.approve_withdrawal(&w("bc1qa", 100), "k1", "binance");
        l.approve_withdrawal(&w("bc1qa", 50), "attacker", "binance");
        assert_eq!(l.destination_since("u1", "c1", "bc1qa", &own), Some(100));
        assert_eq!(l.destination_since("u1", "c1", "bc1qb", &own), None);
        let s = w("bc1qa", 300);
        assert!(!l.is_spent("u1", "c1", s.id()));
        l.spend("u1", "c1", s.id());
        assert!(l.is_spent("u1", "c1", s.id()));
    }

    #[test]
    fn spent_ids_are_bounded() {
        let mut l = Ledger::new();
        for i in 0..(MAX_IDS as u64 + 10) {
            l.approve(&approval("c1", &OwnerState::unrestricted(), i), "k1", "x").expect("applied");
        }
        assert_eq!(l.get("u1", "c1").expect("entry").ids.len(), MAX_IDS);
    }
}
