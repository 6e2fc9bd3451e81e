//! What a request does with orders — the market it names, whether it
//! places one, and the size and price of every order it places — read by
//! [`crate::canonicalize`] from the request exactly as the exchange reads
//! it, so the policy can apply symbol allow-lists and notional caps to what
//! will execute.
//!
//! Facts never guess: a placement whose size is not read here (an algo
//! order, a conversion, a derivative whose contract size is unknown, an
//! endpoint of an exchange without a reader) is [`Size::Unknown`], which
//! the policy refuses wherever a cap is set; a placement is never mistaken
//! for a cancel, because every trade endpoint places unless a per-exchange
//! list says it only cancels, reads or changes a setting.

/// The order-relevant facts of a request; amounts as the request spells them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// The one market the request names, in the exchange's spelling
    /// (`BTCUSDT`, `XBTUSD`, `BTC-USD`); `None` when it names none, or
    /// several (a batch across markets).
    pub symbol: Option<String>,
    /// Whether the request places, amends, replaces or converts — anything
    /// that can make an order execute. Cancels, reads and settings do not.
    pub places_order: bool,
    /// The size of what it places (meaningful when `places_order`).
    pub size: Size,
    /// Whether the request only cancels orders: its endpoint's entry says it cancels
    /// (one order, a batch of cancels, all orders, a cancel-after timer). Never an amend,
    /// a cancel-and-replace or a batch that places: those are placements. The one kind of
    /// trade request a frozen credential may still make (it only tightens).
    pub cancels_only: bool,
}

/// What a placement puts on the market.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Size {
    /// Nothing: not a placement.
    #[default]
    None,
    /// Every order (leg) it places, each sized. An OCO's legs are all
    /// counted, although only one executes: an upper bound.
    Legs(Vec<Leg>),
    /// A placement whose size is not read here, and why: the policy
    /// refuses it wherever a notional cap is set.
    Unknown(&'static str),
}

/// One order of a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    /// Its market, when the request names it (a Kraken `AmendOrder` or a
    /// Coinbase edit names only the order id).
    pub symbol: Option<String>,
    /// Buy or sell, when the request says it.
    pub side: Option<Side>,
    /// How much.
    pub amount: Amount,
    /// At what price.
    pub price: Price,
}

/// The side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Buys the base asset.
    Buy,
    /// Sells the base asset.
    Sell,
}

/// How an order is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    /// In the base asset (BTC of BTC-USDT).
    Base(String),
    /// In the quote asset: what is spent or received (USDT of BTC-USDT).
    Quote(String),
}

/// What bounds an order's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Price {
    /// A limit price, as spelled: a buy never pays more, a sell never
    /// receives less.
    Limit(String),
    /// Nothing the caller wrote: a market order, a stop or take-profit that
    /// turns into one, a pegged order. The policy values it at the
    /// exchange's reference price, never at a price in the request.
    Market,
}

impl OrderFacts {
    /// Nothing known: a placement of unknown size on an unknown market
    /// (exchanges without a reader).
    pub fn unknown() -> Self {
        Self {
            symbol: None,
            places_order: true,
            size: Size::Unknown("this exchange's orders are not read"),
            cancels_only: false,
        }
    }

    /// Not a placement (a cancel, a read, a setting), naming `symbol`.
    pub fn no_order(symbol: Option<String>) -> Self {
        Self { symbol, places_order: false, size: Size::None, cancels_only: false }
    }

    /// A request that only cancels orders (see [`OrderFacts::cancels_only`]), naming `symbol`.
    pub fn cancel(symbol: Option<String>) -> Self {
        Self { symbol, places_order: false, size: Size::None, cancels_only: true }
    }

    /// A placement of unknown size, naming `symbol`.
    pub fn size_unknown(symbol: Option<String>, why: &'static str) -> Self {
        Self { symbol, places_order: true, size: Size::Unknown(why), cancels_only: false }
    }

    /// A placement of these legs; the request's symbol is the legs' one
    /// market (`None` when they name several or one names none).
    pub fn legs(legs: Vec<Leg>) -> Self {
        let first = legs.first().and_then(|l| l.symbol.clone());
        let symbol = first.filter(|s| legs.iter().all(|l| l.symbol.as_deref() == Some(s.as_str())));
        let size = if legs.is_empty() { Size::Unknown("a placement without orders") } else { Size::Legs(legs) };
        Self { symbol, places_order: true, size, cancels_only: false }
    }

    /// The one leg of a single-order placement.
    pub fn leg(&self) -> Option<&Leg> {
        match &self.size {
            Size::Legs(l) if l.len() == 1 => l.first(),
            _ => None,
        }
    }
}
