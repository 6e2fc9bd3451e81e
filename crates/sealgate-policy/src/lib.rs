//! Sealgate's request policy, pure and deterministic: the one place that
//! decides whether a concrete exchange request may be signed for a
//! credential. The signer and the desktop agent both use it, so they
//! refuse exactly the same things.
//!
//! An approval is a [`PolicyApproved`] value that only [`evaluate`] can
//! make: signing code that takes one cannot be reached without a decision.
//!
//! Order of checks (the first failure is the reason given):
//! 1. the global kill switch;
//! 2. the credential's status: a frozen credential may still cancel orders
//!    (a request whose facts say it only cancels, [`RequestFacts::cancels_only`]):
//!    cancelling only tightens, and a user who locked a credential down needs
//!    its open orders gone. Amends, cancel-and-replace and batches that place
//!    are placements and stay refused;
//! 3. unknown and account-management endpoints (always denied);
//! 4. the class against the role;
//! 5. the class against the scope the user sealed;
//! 6. the symbol allow-list;
//! 7. the maximum order notional, summed over every leg of a placement, a
//!    market order valued at the exchange's reference price plus
//!    [`MARKET_MARGIN_PERCENT`], never at a price the caller wrote
//!    ([`RequestFacts::from_order`]); an unknown notional is refused;
//! 8. the rate limit (only approved requests consume it).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sealgate_envelope::{Class, Scope};
pub use sealgate_exchanges::EndpointClass;
pub use sealgate_vocab::{Decimal, Limits, RateLimit};

use std::collections::BTreeSet;

/// The consumer roles and credential statuses are the vocabulary's; what a role may ever
/// do is decided here.
pub use sealgate_vocab::{CredentialStatus, Role};

/// What a role may ever do, before the sealed scope.
trait RoleAllows {
    /// Whether the role may ever use endpoints of `class` (before scope).
    fn allows(self, class: Class) -> bool;
}

impl RoleAllows for Role {
    fn allows(self, class: Class) -> bool {
        match self {
            Role::Importer => matches!(class, Class::Read),
            Role::Trader | Role::Agent => true,
        }
    }
}

/// The policy of one credential, as configured by its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialPolicy {
    /// Classes the user sealed in the envelope's `scope`.
    pub scope: Scope,
    /// Status.
    pub status: CredentialStatus,
    /// Symbols trades may touch (exchange spelling); `None` = any.
    pub symbols: Option<BTreeSet<String>>,
    /// Largest order notional (quantity × price, in quote units); `None` = no cap.
    pub max_notional: Option<Decimal>,
    /// Rate limit; `None` = none.
    pub rate: Option<RateLimit>,
}

impl CredentialPolicy {
    /// The default for a scope: active, any symbol, no caps.
    pub fn new(scope: Scope) -> Self {
        Self { scope, status: CredentialStatus::Active, symbols: None, max_notional: None, rate: None }
    }

    /// This policy under the owner's `limits` (replacing any set before).
    #[must_use]
    pub fn with_limits(mut self, limits: &Limits) -> Self {
        self.symbols = limits.symbols().map(|s| s.iter().cloned().collect());
        self.max_notional = limits.max_notional();
        self.rate = limits.rate();
        self
    }
}

/// What is known about the request being decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// Its endpoint class (from the exchange's table, by path).
    pub class: EndpointClass,
    /// The symbol it trades, if any.
    pub symbol: Option<String>,
    /// Whether it places (or amends) an order; cancels do not.
    pub places_order: bool,
    /// The order's notional (quantity × price) in quote units, when known.
    pub notional: Option<Decimal>,
    /// Whether it only cancels orders ([`sealgate_exchanges::OrderFacts::cancels_only`]):
    /// the one trade request a frozen credential may make.
    pub cancels_only: bool,
}

/// The margin over the reference price at which an order that no limit
/// price bounds (a market order, a stop that turns into one, a pegged
/// order) is valued: 5 %. A market order fills at whatever the book
/// offers, and the reference (the exchange's public ticker, read by the
/// signer just before) is a moment old; 5 % covers the slippage of an
/// order a cap lets through and the move of a price between the two reads
/// on a liquid market. An order that would move the book further is larger
/// than any cap this protects.
pub const MARKET_MARGIN_PERCENT: u32 = 5;

impl RequestFacts {
    /// Facts of a request that is not an order placement.
    pub fn of_class(class: EndpointClass) -> Self {
        Self { class, symbol: None, places_order: false, notional: None, cancels_only: false }
    }

    /// Facts from what the exchange module read off the canonical request
    /// ([`sealgate_exchanges::canonicalize`]). The notional of a placement
    /// is the sum over its legs (every leg of an OCO or a batch, although
    /// an OCO executes one: an upper bound) of:
    /// - a quote-sized leg: its quote amount;
    /// - a limit buy: quantity × limit price (it never pays more);
    /// - a limit sell: quantity × the larger of its limit and the
    ///   reference with the margin (a sell limit below the market executes
    ///   at the market, so its size is the market's);
    /// - a leg no limit price bounds: quantity × `reference` × (1 +
    ///   [`MARKET_MARGIN_PERCENT`] %), never a price in the request.
    ///
    /// `reference` is the exchange's public ticker price of the request's
    /// one symbol ([`sealgate_exchanges::ticker_request`]); without it, or
    /// for a leg on another market, such a leg's notional is unknown, and an
    /// unknown notional is refused wherever a cap is set, as is a placement
    /// whose size was not read ([`sealgate_exchanges::Size::Unknown`]).
    pub fn from_order(
        class: EndpointClass,
        order: &sealgate_exchanges::OrderFacts,
        reference: Option<Decimal>,
    ) -> Self {
        let notional = match &order.size {
            sealgate_exchanges::Size::Legs(legs) if order.places_order => {
                let at_market = reference.and_then(with_margin);
                legs.iter().try_fold(Decimal::ZERO, |sum, leg| {
                    // The reference is the price of the request's one symbol.
                    let market = at_market.filter(|_| order.symbol.is_some() && leg.symbol == order.symbol);
                    sum.checked_add(leg_notional(leg, market)?)
                })
            }
            _ => None,
        };
        Self {
            class,
            symbol: order.symbol.clone(),
            places_order: order.places_order,
            notional,
            cancels_only: order.cancels_only && !order.places_order,
        }
    }
}

/// `price × (1 + margin)`.
fn with_margin(price: Decimal) -> Option<Decimal> {
    price.checked_mul(Decimal::from_percent(100 + MARKET_MARGIN_PERCENT))
}

/// One leg's notional; `market` is the reference price with the margin.
fn leg_notional(leg: &sealgate_exchanges::Leg, market: Option<Decimal>) -> Option<Decimal> {
    use sealgate_exchanges::{Amount, Price, Side};
    match (&leg.amount, &leg.price) {
        (Amount::Quote(q), _) => Decimal::parse(q),
        (Amount::Base(b), Price::Market) => Decimal::parse(b)?.checked_mul(market?),
        (Amount::Base(b), Price::Limit(p)) => {
            let (qty, limit) = (Decimal::parse(b)?, Decimal::parse(p)?);
            let price = match (leg.side, market) {
                (Some(Side::Buy), _) | (_, None) => limit,
                (_, Some(m)) => limit.max(m),
            };
            qty.checked_mul(price)
        }
    }
}

/// Why a request is denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// The global kill switch is on.
    #[error("the kill switch is on")]
    KillSwitch,
    /// The credential is frozen or deleted.
    #[error("the credential is {0}")]
    CredentialInactive(&'static str),
    /// The endpoint is not in the exchange's table.
    #[error("unknown endpoint: denied by default")]
    UnknownEndpoint,
    /// The role may never use this class.
    #[error("role {role} may not use {class} endpoints")]
    RoleForbids {
        /// The role.
        role: &'static str,
        /// The class.
        class: &'static str,
    },
    /// The user did not seal this class.
    #[error("the user did not grant {0}")]
    NotGranted(&'static str),
    /// Account management is never signed for a consumer role.
    #[error("account management endpoints are never signed")]
    AccountEndpoint,
    /// A trade on a symbol outside the allow-list (or without a symbol
    /// while an allow-list is set).
    #[error("symbol not allowed")]
    SymbolNotAllowed,
    /// An order above the notional cap, or one whose notional is unknown
    /// while a cap is set.
    #[error("order notional above the limit")]
    NotionalTooLarge,
    /// Too many requests.
    #[error("rate limit reached")]
    RateLimited,
}

/// Proof that [`evaluate`] approved a request. It cannot be made elsewhere.
#[derive(Debug)]
#[must_use]
pub struct PolicyApproved {
    _private: (),
}

/// Token-bucket state of one credential's rate limit (kept by the caller,
/// per credential).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateState {
    /// Tokens available, in thousandths.
    milli_tokens: u64,
    /// When the bucket was last refilled (Unix ms).
    last_ms: u64,
    /// Whether the bucket has been initialised.
    started: bool,
}

/// The decision context shared by all credentials.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The role asking.
    pub role: Role,
    /// The global kill switch.
    pub kill_switch: bool,
    /// Now, Unix ms (rate limiting).
    pub now_ms: u64,
}

/// Decide. On approval the rate state is charged one request.
pub fn evaluate(
    ctx: &Context,
    policy: &CredentialPolicy,
    req: &RequestFacts,
    rate: &mut RateState,
) -> Result<PolicyApproved, Denial> {
    if ctx.kill_switch {
        return Err(Denial::KillSwitch);
    }
    match policy.status {
        CredentialStatus::Active => {}
        // Cancelling only tightens: still allowed, through every check below.
        CredentialStatus::Frozen if req.class == EndpointClass::Trade && req.cancels_only && !req.places_order => {}
        CredentialStatus::Frozen => return Err(Denial::CredentialInactive("frozen")),
        CredentialStatus::Deleted => return Err(Denial::CredentialInactive("deleted")),
    }
    let class = match req.class {
        EndpointClass::Unknown => return Err(Denial::UnknownEndpoint),
        EndpointClass::Account => return Err(Denial::AccountEndpoint),
        EndpointClass::Read => Class::Read,
        EndpointClass::Trade => Class::Trade,
        EndpointClass::Withdraw => Class::Withdraw,
    };
    if !ctx.role.allows(class) {
        return Err(Denial::RoleForbids { role: ctx.role.name(), class: class.name() });
    }
    if !policy.scope.contains(class) {
        return Err(Denial::NotGranted(class.name()));
    }
    if class == Class::Trade {
        if let Some(allowed) = &policy.symbols {
            match &req.symbol {
                Some(s) if allowed.contains(s) => {}
                _ => return Err(Denial::SymbolNotAllowed),
            }
        }
        if let (Some(cap), true) = (policy.max_notional, req.places_order) {
            // An order whose size is unknown cannot be shown to be under the cap.
            if req.notional.is_none_or(|n| n > cap) {
                return Err(Denial::NotionalTooLarge);
            }
        }
    }
    if let Some(limit) = policy.rate {
        take_token(limit, rate, ctx.now_ms)?;
    }
    Ok(PolicyApproved { _private: () })
}

fn take_token(limit: RateLimit, state: &mut RateState, now: u64) -> Result<(), Denial> {
    let capacity = u64::from(limit.max).saturating_mul(1000);
    if !state.started {
        *state = RateState { milli_tokens: capacity, last_ms: now, started: true };
    }
    // Refill: `max` tokens per `window_ms`, continuously; a clock that goes
    // backwards refills nothing.
    let elapsed = now.saturating_sub(state.last_ms);
    let refill = if limit.window_ms == 0 {
        capacity
    } else {
        u64::try_from(u128::from(elapsed) * u128::from(capacity) / u128::from(limit.window_ms)).unwrap_or(u64::MAX)
    };
    state.milli_tokens = state.milli_tokens.saturating_add(refill).min(capacity);
    state.last_ms = state.last_ms.max(now);
    if state.milli_tokens < 1000 {
        return Err(Denial::RateLimited);
    }
    state.milli_tokens -= 1000;
    Ok(())
}
