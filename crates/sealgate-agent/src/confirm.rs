//! Confirm-on-use: the agent asks the user, through a confirmation program
//! (like ssh-agent's `SSH_ASKPASS` with `ssh-add -c`), before it signs a
//! request of a class the credential marks `confirm`.
//!
//! The program gets one argument: a one-line, non-secret description of
//! the request (exchange, label, class, method, path, and symbol, side and
//! size when the request says them), printable ASCII only and bounded in
//! length, since a bot chooses most of it. Exit status 0 allows the request;
//! any other status, a failure to start, or no answer within the timeout
//! denies it. The program runs as a child process while the agent keeps
//! serving its other clients.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sealgate_exchanges::{OrderFacts, Request};

/// Longest value of one field in the description.
const MAX_FIELD: usize = 64;

/// Printable ASCII only (anything else becomes `?`), at most [`MAX_FIELD`]
/// characters (longer values end in `…`).
fn clean(s: &str) -> String {
    let mut out: String =
        s.chars().take(MAX_FIELD).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if s.chars().count() > MAX_FIELD {
        out.push_str("...");
    }
    out
}

/// The order side, when the request says it: `side` (Binance, OKX,
/// Coinbase, in the query, a form body or a JSON body) or Kraken's
/// `type=buy|sell`.
fn side(req: &Request) -> Option<String> {
    let form = [req.query.as_str(), req.body.as_str()];
    let pairs = form.iter().flat_map(|s| s.split('&')).filter_map(|kv| kv.split_once('='));
    let mut kind = None;
    for (k, v) in pairs {
        match k {
            "side" => return Some(v.to_ascii_lowercase()),
            "type" if v.eq_ignore_ascii_case("buy") || v.eq_ignore_ascii_case("sell") => {
                kind = Some(v.to_ascii_lowercase());
            }
            _ => {}
        }
    }
    if kind.is_none() && req.body.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&req.body).ok()?;
        return v.get("side").and_then(serde_json::Value::as_str).map(str::to_ascii_lowercase);
    }
    kind
}

/// The one-line notice the confirm program shows when an anomaly froze a
/// credential (its answer is not read: the freeze stands until the user
/// unlocks the agent again).
pub fn describe_freeze(exchange: &str, label: &str, verdict: &str) -> String {
    let v: String = verdict.chars().take(200).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    format!(
        "sealgate agent: FROZEN {} \"{}\": {v}. Nothing is signed with it until you unlock the agent again.",
        clean(exchange),
        clean(label)
    )
}

/// The one-line description the confirm program shows.
pub fn describe(exchange: &str, label: &str, class: &str, req: &Request, order: &OrderFacts) -> String {
    let mut d = format!(
        "sealgate agent: allow {} \"{}\" {} {} {}",
        clean(exchange),
        clean(label),
        clean(class),
        clean(&req.method),
        clean(&req.path)
    );
    use sealgate_exchanges::{Amount, Price, Size};
    let leg = order.leg();
    let amount = |quote: bool| match leg.map(|l| &l.amount) {
        Some(Amount::Base(q)) if !quote => Some(q.clone()),
        Some(Amount::Quote(q)) if quote => Some(q.clone()),
        _ => None,
    };
    let price = leg.map(|l| match &l.price {
        Price::Limit(p) => p.clone(),
        Price::Market => "market".to_owned(),
    });
    let legs = match &order.size {
        Size::Legs(l) if l.len() > 1 => Some(l.len().to_string()),
        Size::Unknown(_) if order.places_order => Some("unknown size".to_owned()),
        _ => None,
    };
    let fields = [
        ("symbol", order.symbol.clone()),
        ("side", side(req)),
        ("quantity", amount(false)),
        ("price", price),
        ("quote_amount", amount(true)),
        ("orders", legs),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            d.push_str(&format!(" {name}={}", clean(&v)));
        }
    }
    d.push('?');
    d
}

/// Why a request was not confirmed.
#[derive(Debug)]
pub enum NotConfirmed {
    /// The program could not be started.
    Spawn(String),
    /// The program said no (its exit status).
    Refused(String),
    /// No answer in time.
    Timeout(Duration),
}

impl std::fmt::Display for NotConfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "not confirmed: the confirm program could not start ({e})"),
            Self::Refused(st) => write!(f, "not confirmed: the user refused (confirm program {st})"),
            Self::Timeout(t) => write!(f, "not confirmed: no answer within {} s", t.as_secs()),
        }
    }
}

/// Run `program description`; `Ok` when it exits 0 within `timeout`.
pub async fn ask(program: &Path, description: &str, timeout: Duration) -> Result<(), NotConfirmed> {
    let mut child = tokio::process::Command::new(program)
        .arg(description)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // The program needs no path to the keystore passphrase.
        .env_remove("SEALGATE_AGENT_PASSPHRASE_FILE")
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NotConfirmed::Spawn(format!("{}: {e}", program.display())))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(st)) if st.success() => Ok(()),
        Ok(Ok(st)) => Err(NotConfirmed::Refused(st.to_string())),
        Ok(Err(e)) => Err(NotConfirmed::Spawn(e.to_string())),
        Err(_) => {
            let _ = child.kill().await;
            Err(NotConfirmed::Timeout(timeout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &str, body: &str) -> Request {
        serde_json::from_value(serde_json::json!({"method": method, "path": path, "query": query, "body": body}))
            .unwrap_or_else(|e| panic!("request: {e}"))
    }

    #[test]
    fn description_is_one_bounded_printable_line() {
        let r = req("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.01&price=40000", "");
        let facts = sealgate_exchanges::canonicalize("binance", &r).expect("canonical").order;
        let d = describe("binance", "main", "trade", &r, &facts);
        assert_eq!(
            d,
            "sealgate agent: allow binance \"main\" trade POST /api/v3/order symbol=BTCUSDT side=buy \
             quantity=0.01 price=40000?"
        );
        let evil = format!("x\ny\u{1b}[2J{}", "A".repeat(500));
        let d = describe("binance", &evil, "trade", &r, &facts);
        assert!(!d.contains('\n') && !d.contains('\u{1b}') && d.len() < 400, "{d}");
        let k = req("POST", "/0/private/AddOrder", "", "nonce=1&ordertype=limit&pair=XBTUSD&type=sell&volume=1");
        assert!(describe("kraken", "k", "trade", &k, &OrderFacts::default()).contains("side=sell"));
        let c = req("POST", "/api/v3/brokerage/orders", "", r#"{"product_id":"BTC-USD","side":"BUY"}"#);
        assert!(describe("coinbase", "c", "trade", &c, &OrderFacts::default()).contains("side=buy"));
    }
}
