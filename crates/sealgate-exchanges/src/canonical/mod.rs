//! Canonical requests: one request, one meaning. See the crate docs
//! ("Canonical requests") for the rule; this module holds the shared
//! machinery (the form and strict JSON readers, the endpoint tables) and
//! one reader per exchange that has one.

mod binance;
mod bitfinex;
mod bitget;
mod bitstamp;
mod bybit;
mod coinbase;
mod coinbase_exchange;
mod deribit;
pub(crate) mod form;
mod gate;
mod gemini;
pub(crate) mod json;
mod kraken;
mod kucoin;
mod okx;
mod poloniex;
mod rest;

use crate::class::EndpointClass;
use crate::{Error, OrderFacts, Request};

/// A request as the exchange will read it: the bytes to sign and send,
/// produced from the parsed form, and the order facts read from that same
/// parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical {
    /// What to sign and send (method and path as given; query and body
    /// re-produced from what was parsed).
    pub request: Request,
    /// What the request does with orders, for the policy.
    pub order: OrderFacts,
    /// What it withdraws, where the reader knows the endpoint (Binance's and MEXC's
    /// withdrawals today); `None` for every other request, withdraw-class ones included.
    pub withdrawal: Option<WithdrawalFacts>,
}

/// A withdrawal as the exchange will execute it, read from the canonical request: what the
/// owner approves (`sealgate-authority` statement S4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalFacts {
    /// The asset, as the exchange spells it.
    pub asset: String,
    /// The amount, as sent (a decimal string).
    pub amount: String,
    /// The address, with its tag or memo after a space when there is one.
    pub destination: String,
    /// The network, when the request names one.
    pub network: Option<String>,
}

/// Read `req` as exchange `id` reads it, refuse anything ambiguous, and
/// return the bytes to send with the facts the policy judges. The one path
/// rule ([`crate::check_path`]) and [`Request::validate`] apply first.
///
/// Exchanges with a reader (Binance, MEXC, Kraken, OKX, Coinbase Advanced,
/// Bybit, Bitget, KuCoin, Gate, Poloniex, Bitfinex, Gemini, Bitstamp, Coinbase
/// Exchange, Deribit: all fifteen) get the full rule; an exchange without one keeps its
/// request as given, with a JSON body checked for duplicate members and
/// trade-class requests given unknown facts ([`OrderFacts::unknown`]).
pub fn canonicalize(id: &str, req: &Request) -> Result<Canonical, Error> {
    let scheme = crate::scheme(id)?;
    read_as(id, req, crate::class::compiled(scheme).classify(&req.path))
}

/// [`crate::classify`] and [`canonicalize`] with one pass over the exchange's table (the
/// signer's hot path asks both): the path rule's refusal or an unknown exchange is the
/// outer error; inside, the class and the request's one reading, or why it has none.
pub fn classify_and_canonicalize(id: &str, req: &Request) -> Result<(EndpointClass, Result<Canonical, Error>), Error> {
    let class = crate::classify(id, &req.path)?;
    Ok((class, read_as(id, req, class)))
}

/// [`canonicalize`] once `class` is `req.path`'s class in `id`'s table.
fn read_as(id: &str, req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    req.validate()?;
    match id {
        "binance" => binance::read(req, class, &binance::BINANCE),
        "mexc" => binance::read(req, class, &binance::MEXC),
        "kraken" => kraken::read(req, class),
        "okx" => okx::read(req, class),
        "coinbase" => coinbase::read(req, class),
        "bybit" => bybit::read(req, class),
        "bitget" => bitget::read(req, class),
        "kucoin" => kucoin::read(req, class),
        "gate" => gate::read(req, class),
        "poloniex" => poloniex::read(req, class),
        "bitfinex" => bitfinex::read(req, class),
        "gemini" => gemini::read(req, class),
        "bitstamp" => bitstamp::read(req, class),
        "coinbase-exchange" => coinbase_exchange::read(req, class),
        "deribit" => deribit::read(req, class),
        _ => unread(id, req, class),
    }
}

/// An exchange without a reader (none of the fifteen today; the fallback for one added
/// before its reader): the request travels as given. A JSON body must still be one JSON
/// value without duplicate members (cheap, and a duplicate is read differently by
/// different JSON libraries); a trade-class request has unknown facts.
fn unread(id: &str, req: &Request, class: EndpointClass) -> Result<Canonical, Error> {
    if !req.body.is_empty() && crate::content_type(id, &req.method, &req.body)? == Some(crate::JSON) {
        json::parse(&req.body, json::Numbers::Any)?;
    }
    let order = if class == EndpointClass::Trade { OrderFacts::unknown() } else { OrderFacts::no_order(None) };
    Ok(Canonical { request: req.clone(), order, withdrawal: None })
}

/// A refusal naming what is ambiguous.
pub(crate) fn refuse(why: impl Into<String>) -> Error {
    Error::Ambiguous(why.into())
}

/// A parameter or member name as an error shows it: quoted, escaped, at
/// most 40 characters (it is caller-chosen text).
pub(crate) fn shown(name: &str) -> String {
    let cut: String = name.chars().take(40).collect();
    let more = if name.chars().count() > 40 { "…" } else { "" };
    format!("{cut:?}{more}")
}

/// What an endpoint does, by its per-exchange entry. Everything of the
/// trade class places an order unless its entry says otherwise.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<R> {
    /// Only reads (a GET on a path that also places).
    Reads,
    /// Only cancels.
    Cancels,
    /// Changes an order it names without being able to enlarge it (an amend that may only
    /// lower a quantity): places nothing, but is no cancel either.
    Reduces,
    /// Changes an account setting; places nothing.
    Setting,
    /// Places orders, read by `R`.
    Places(R),
    /// Places, but its size is not read here (why).
    Unsized(&'static str),
    /// Withdraw-class: moves funds (its amount is not a notional).
    Moves,
}

/// One documented call of a trade or withdraw endpoint: its method, its
/// path pattern (`{}` = one segment), the parameters (or top-level JSON
/// members) the documentation lists, and what it does.
#[derive(Debug)]
pub(crate) struct Endpoint<R: 'static> {
    pub method: &'static str,
    pub path: &'static str,
    pub params: &'static [&'static str],
    pub kind: Kind<R>,
}

impl<R> Endpoint<R> {
    /// A table row (a `const fn`, so the tables stay `static`).
    pub(crate) const fn new(
        method: &'static str,
        path: &'static str,
        params: &'static [&'static str],
        kind: Kind<R>,
    ) -> Self {
        Endpoint { method, path, params, kind }
    }
}

/// The entry of `method path` in `table`.
pub(crate) fn find<'t, R>(table: &'t [Endpoint<R>], method: &str, path: &str) -> Option<&'t Endpoint<R>> {
    table.iter().find(|e| e.method == method && matches(e.path, path))
}

fn matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b || (a == "{}" && !b.is_empty()) => {}
            _ => return false,
        }
    }
}

/// The entry for a trade- or withdraw-class request, or the refusal that
/// names the undocumented call.
pub(crate) fn entry<'t, R>(
    table: &'t [Endpoint<R>],
    req: &Request,
    class: EndpointClass,
) -> Result<Option<&'t Endpoint<R>>, Error> {
    if !matches!(class, EndpointClass::Trade | EndpointClass::Withdraw) {
        return Ok(None);
    }
    find(table, &req.method, &req.path).map(Some).ok_or_else(|| {
        refuse(format!(
            "{} {} is not a documented call of this {} endpoint (no parameter list is known for it)",
            req.method,
            req.path,
            class.name()
        ))
    })
}

/// Refuse a name that is not in `listed` (nor in `always`).
pub(crate) fn check_listed<'a>(
    names: impl IntoIterator<Item = &'a str>,
    listed: &[&str],
    always: &[&str],
    what: &str,
) -> Result<(), Error> {
    for n in names {
        if !listed.contains(&n) && !always.contains(&n) {
            return Err(refuse(format!(
                "{} is not a parameter the exchange documents for {what}; undocumented parameters are refused on \
                 trade and withdraw endpoints",
                shown(n)
            )));
        }
    }
    Ok(())
}

/// Whether an instrument is spot: exactly `BASE-QUOTE` (OKX, Coinbase);
/// futures, swaps and options carry more segments.
pub(crate) fn is_spot_pair(inst: &str) -> bool {
    let mut parts = inst.split('-');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// What the readers' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Canonical;
    use crate::facts::{Amount, Price, Side};

    /// An order's one leg: its symbol, side, amount and price.
    pub(crate) fn leg(c: &Canonical) -> (Option<&str>, Option<Side>, &Amount, &Price) {
        let l = c.order.leg().expect("one leg");
        (l.symbol.as_deref(), l.side, &l.amount, &l.price)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        assert!(matches("/v2/accounts/{}/transactions", "/v2/accounts/abc/transactions"));
        assert!(!matches("/v2/accounts/{}/transactions", "/v2/accounts//transactions"));
        assert!(!matches("/v2/accounts/{}/transactions", "/v2/accounts/a/b/transactions"));
        assert!(matches("/a", "/a") && !matches("/a", "/a/"));
    }

    #[test]
    fn spot_pairs() {
        assert!(is_spot_pair("BTC-USDT") && is_spot_pair("1INCH-USD"));
        for d in ["BTC-USDT-SWAP", "BTC-USD-240329", "BTC-USD-240329-60000-C", "BTCUSDT", "BTC-", "-USD", "BTC-US D"] {
            assert!(!is_spot_pair(d), "{d}");
        }
    }

    #[test]
    fn shown_is_bounded() {
        assert_eq!(shown("a\"b"), "\"a\\\"b\"");
        assert!(shown(&"x".repeat(500)).len() < 50);
    }

    #[test]
    fn unread_exchanges_keep_their_bytes_but_not_duplicates() {
        let r = Request::new("POST", "/api/v2/private/buy", "", r#"{"instrument_name":"BTC-PERPETUAL", "amount":0.5}"#);
        let c = unread("deribit", &r, EndpointClass::Trade).expect("unread");
        assert_eq!(c.request, r);
        assert_eq!(c.order, OrderFacts::unknown());
        let dup = Request::new("POST", "/api/v2/private/buy", "", r#"{"amount":1,"amount":9}"#);
        assert!(matches!(unread("deribit", &dup, EndpointClass::Trade), Err(Error::Ambiguous(_))));
        let bad = Request::new("POST", "/api/v2/private/buy", "", "{");
        assert!(matches!(unread("deribit", &bad, EndpointClass::Trade), Err(Error::Ambiguous(_))));
        assert!(canonicalize("nope", &r).is_err());
    }

    #[test]
    fn one_pass_reads_as_the_two_calls_do() {
        // The signer's one pass must give the class and the reading (or the refusal) that
        // `classify` and `canonicalize` give apart, on good, ambiguous and refused paths.
        let cases = [
            ("gate", Request::new("GET", "/api/v4/spot/accounts", "", "")),
            (
                "gate",
                Request::new(
                    "POST",
                    "/api/v4/spot/orders",
                    "",
                    r#"{"currency_pair":"BTC_USDT","side":"buy","amount":"1","price":"2"}"#,
                ),
            ),
            ("gate", Request::new("POST", "/api/v4/spot/orders", "", r#"{"amount":"1","amount":"9"}"#)),
            ("binance", Request::new("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1", "")),
            ("binance", Request::new("GET", "/api/v3/../v3/order", "", "")),
            ("okx", Request::new("POST", "/api/v5/trade/order", "", "")),
            ("kraken", Request::new("POST", "/0/private/Balance", "", "nonce=1")),
            ("nope", Request::new("GET", "/x", "", "")),
        ];
        for (id, r) in cases {
            let apart = crate::classify(id, &r.path).map(|c| (c, canonicalize(id, &r)));
            let one = classify_and_canonicalize(id, &r);
            assert_eq!(format!("{one:?}"), format!("{apart:?}"), "{id} {r:?}");
        }
    }
}
