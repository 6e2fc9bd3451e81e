//! The sandbox's own admin surface, not an exchange's: `POST /sandbox/v1/keys` registers a
//! self-generated key by its public key over HTTP, as an exchange's API management page
//! does (what [`crate::Sandbox::register_public_key_with_passphrase`] does in-process), so
//! that a browser test or a user trying `serve --sandbox` can register the PEM Sealgate's
//! custody made and get the API key id to paste back.
//!
//! Body (JSON, unknown members refused):
//! `{"exchange": "binance"|"bybit"|"bitget", "public_pem": "-----BEGIN PUBLIC KEY-----…",
//!   "permissions": ["read","trade"], "balances": {"BTC": "1.5"}, "allowed_ips": ["127.0.0.1"],
//!   "passphrase": "…"}`; `permissions` defaults to `["read","trade"]` (never withdraw unless
//! named), `balances` to none, `allowed_ips` to any, `passphrase` (Bitget only) to none.
//! Answer: `201 {"api_key", "exchange", "permissions"}`; every refusal is
//! `{"error": "…"}` with 400 (bad input), 405 (not a POST) or 413 (too large).

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::json;

use crate::{Amount, Incoming, Permissions, RegisterError, Shared, Venue, register};

/// Where the sandbox takes public keys.
pub(crate) const KEYS_PATH: &str = "/sandbox/v1/keys";

/// Largest body read: a 4096-bit RSA PEM is under 1 KiB.
const MAX_BODY: usize = 64 * 1024;
/// Most balances one key starts with.
const MAX_BALANCES: usize = 100;
/// Most allowed source addresses.
const MAX_IPS: usize = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterKey {
    exchange: String,
    public_pem: String,
    #[serde(default)]
    permissions: Option<Vec<String>>,
    #[serde(default)]
    balances: BTreeMap<String, String>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    #[serde(default)]
    passphrase: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn venue(exchange: &str) -> Option<Venue> {
    match exchange {
        "binance" => Some(Venue::Binance),
        "bybit" => Some(Venue::Bybit),
        "bitget" => Some(Venue::Bitget),
        _ => None,
    }
}

fn permissions(names: Option<&[String]>) -> Result<Permissions, String> {
    let Some(names) = names else {
        return Ok(Permissions { read: true, trade: true, withdraw: false });
    };
    if names.is_empty() {
        return Err("permissions: name at least one of read, trade, withdraw".into());
    }
    let mut p = Permissions::default();
    for name in names {
        let slot = match name.as_str() {
            "read" => &mut p.read,
            "trade" => &mut p.trade,
            "withdraw" => &mut p.withdraw,
            other => return Err(format!("permissions: {other:?} is not one of read, trade, withdraw")),
        };
        if *slot {
            return Err(format!("permissions: {name:?} is named twice"));
        }
        *slot = true;
    }
    Ok(p)
}

fn balances(given: &BTreeMap<String, String>) -> Result<Vec<(String, Amount)>, String> {
    if given.len() > MAX_BALANCES {
        return Err(format!("balances: at most {MAX_BALANCES} assets"));
    }
    given
        .iter()
        .map(|(asset, amount)| {
            if asset.is_empty() || asset.len() > 20 || !asset.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("balances: {asset:?} is not an asset name (1 to 20 letters and digits)"));
            }
            let a = Amount::parse(amount).ok_or_else(|| {
                format!("balances.{asset}: {amount:?} is not a non-negative decimal string with at most 8 decimals")
            })?;
            Ok((asset.clone(), a))
        })
        .collect()
}

fn ips(given: &[String]) -> Result<Vec<IpAddr>, String> {
    if given.len() > MAX_IPS {
        return Err(format!("allowed_ips: at most {MAX_IPS} addresses"));
    }
    given.iter().map(|ip| ip.parse().map_err(|_| format!("allowed_ips: {ip:?} is not an IP address"))).collect()
}

/// `POST /sandbox/v1/keys`.
pub(crate) fn handle(state: &Shared, req: &Incoming) -> Response {
    if req.method != Method::POST {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, format!("{KEYS_PATH} takes POST only"));
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if req.body.len() > MAX_BODY {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {MAX_BODY} bytes"));
    }
    let body: RegisterKey = match serde_json::from_str(&req.body) {
        Ok(b) => b,
        Err(e) => {
            return bad(format!(
                "the body is not the JSON object this route takes ({e}): \
                 {{\"exchange\", \"public_pem\", \"permissions\"?, \"balances\"?, \"allowed_ips\"?, \"passphrase\"?}}"
            ));
        }
    };
    let Some(venue) = venue(&body.exchange) else {
        return bad(format!(
            "exchange: {:?} does not take self-generated keys here; binance, bybit or bitget",
            body.exchange
        ));
    };
    let checked = permissions(body.permissions.as_deref())
        .and_then(|p| Ok((p, balances(&body.balances)?, ips(&body.allowed_ips)?)));
    let (perms, balances, allowed_ips) = match checked {
        Ok(c) => c,
        Err(m) => return bad(m),
    };
    match register(state, venue, &body.public_pem, body.passphrase.as_deref(), perms, allowed_ips, balances) {
        Ok(api_key) => {
            let names: Vec<&str> = [("read", perms.read), ("trade", perms.trade), ("withdraw", perms.withdraw)]
                .into_iter()
                .filter_map(|(n, on)| on.then_some(n))
                .collect();
            (
                StatusCode::CREATED,
                axum::Json(json!({"api_key": api_key, "exchange": body.exchange, "permissions": names})),
            )
                .into_response()
        }
        Err(e @ (RegisterError::NeedsPassphrase(_) | RegisterError::NoPassphrase(_))) => {
            bad(format!("passphrase: {e}"))
        }
        Err(e) => bad(format!("public_pem: {e}")),
    }
}
