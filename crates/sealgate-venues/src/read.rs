//! Bounded, precise readers of the exchanges' JSON: every refusal names the field and why.

use serde_json::{Map, Value};

use crate::{
    Amount, BalancePage, MAX_BODY, MAX_FIELD, MAX_ITEMS, MAX_MESSAGE, Response, Result, Side, Venue, VenueBalance,
    VenueError, bad_input, bounded, check_symbol, malformed, normalize_asset,
};

/// A decimal field as the exchange printed it, checked: non-negative unless
/// `signed`. Returns the exact text (canonical: a leading `.` gets a `0`).
pub(crate) fn decimal_text(v: &str, field: &'static str, signed: bool) -> Result<String> {
    if v.len() > MAX_FIELD {
        return Err(malformed(field, "is too long"));
    }
    let a = Amount::parse(v).ok_or(malformed(field, "is not a plain decimal number"))?;
    if a.is_negative() && !signed {
        return Err(malformed(field, "is negative"));
    }
    Ok(if v.starts_with('.') || v.starts_with("-.") { a.to_string() } else { v.to_owned() })
}

pub(crate) fn parse_json(body: &str) -> Result<Value> {
    if body.len() > MAX_BODY {
        return Err(VenueError::TooLarge("body"));
    }
    serde_json::from_str(body).map_err(|e| VenueError::NotJson { line: e.line(), column: e.column() })
}

pub(crate) fn obj<'a>(v: &'a Value, field: &'static str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or(malformed(field, "is not an object"))
}

pub(crate) fn arr<'a>(v: &'a Value, field: &'static str) -> Result<&'a Vec<Value>> {
    let a = v.as_array().ok_or(malformed(field, "is not an array"))?;
    if a.len() > MAX_ITEMS {
        return Err(VenueError::TooLarge(field));
    }
    Ok(a)
}

pub(crate) fn get<'a>(o: &'a Map<String, Value>, key: &str, field: &'static str) -> Result<&'a Value> {
    o.get(key).ok_or(malformed(field, "is missing"))
}

pub(crate) fn string<'a>(o: &'a Map<String, Value>, key: &str, field: &'static str) -> Result<&'a str> {
    let s = get(o, key, field)?.as_str().ok_or(malformed(field, "is not a string"))?;
    if s.len() > MAX_FIELD {
        return Err(malformed(field, "is too long"));
    }
    Ok(s)
}

pub(crate) fn dec(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    decimal_text(string(o, key, field)?, field, false)
}

/// An id: a non-empty string of printable ASCII without spaces, or a non-negative integer.
pub(crate) fn id(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    let s = match get(o, key, field)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_u64().ok_or(malformed(field, "is not a non-negative integer"))?.to_string(),
        _ => return Err(malformed(field, "is not a string or integer")),
    };
    if s.is_empty() || s.len() > MAX_FIELD || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(field, "is not a printable id"));
    }
    Ok(s)
}

pub(crate) fn symbol_of(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<String> {
    let s = string(o, key, field)?;
    check_symbol(s).map_err(|_| malformed(field, "is not a symbol"))?;
    Ok(s.to_owned())
}

/// Milliseconds from an integer or a decimal-string of milliseconds.
pub(crate) fn ms(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<i64> {
    match get(o, key, field)? {
        Value::Number(n) => n.as_i64().filter(|t| *t >= 0).ok_or(malformed(field, "is not a millisecond time")),
        Value::String(s) if s.len() <= 20 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| malformed(field, "is not a millisecond time"))
        }
        _ => Err(malformed(field, "is not a millisecond time")),
    }
}

/// Milliseconds from seconds with a fraction (Kraken's `1688667796.8802`),
/// read from the number's decimal text so no float rounding creeps in.
pub(crate) fn seconds_to_ms(v: &Value, field: &'static str) -> Result<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.len() <= 40 => s.clone(),
        _ => return Err(malformed(field, "is not a time in seconds")),
    };
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    if int.is_empty()
        || int.len() > 12
        || frac.len() > 12
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(malformed(field, "is not a time in seconds"));
    }
    let secs: i64 = int.parse().map_err(|_| malformed(field, "is not a time in seconds"))?;
    let millis: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().unwrap_or(0);
    Ok(secs * 1000 + millis)
}

pub(crate) fn side_of(s: &str, field: &'static str) -> Result<Side> {
    match s {
        "buy" | "BUY" => Ok(Side::Buy),
        "sell" | "SELL" => Ok(Side::Sell),
        _ => Err(malformed(field, "is not buy or sell")),
    }
}

pub(crate) fn fee_asset(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<Option<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            normalize_asset(Venue::Binance, s).map(Some).map_err(|_| malformed(field, "is not an asset code"))
        }
        Some(_) => Err(malformed(field, "is not a string")),
    }
}

/// An exchange's own error text, trimmed and bounded to [`MAX_MESSAGE`]; `None` if empty.
pub(crate) fn message(text: &str) -> Option<String> {
    let text = bounded(text.trim(), MAX_MESSAGE);
    (!text.is_empty()).then_some(text)
}

/// The body as JSON when the HTTP status is 2xx; the exchange's error otherwise, read by
/// the venue's `error_text` (or `HTTP <status>` when it says nothing readable). A venue
/// that reports failures inside a 200 checks the returned value itself.
pub(crate) fn body(resp: Response<'_>, error_text: fn(&Value) -> Option<String>) -> Result<Value> {
    let parsed = parse_json(resp.body);
    if !(200..300).contains(&resp.status) {
        let message = parsed
            .ok()
            .and_then(|v| error_text(&v))
            .and_then(|t| message(&t))
            .unwrap_or_else(|| format!("HTTP {}", resp.status));
        return Err(VenueError::Exchange { status: resp.status, message });
    }
    parsed
}

/// A refusal the exchange reported inside an answer (`status` is the HTTP status).
pub(crate) fn refused(status: u16, text: Option<String>, fallback: &str) -> VenueError {
    VenueError::Exchange { status, message: text.and_then(|t| message(&t)).unwrap_or_else(|| fallback.to_owned()) }
}

/// Unix ms of an RFC 3339 time field.
pub(crate) fn rfc3339(o: &Map<String, Value>, key: &str, field: &'static str) -> Result<i64> {
    crate::rfc3339_ms(string(o, key, field)?).ok_or(malformed(field, "is not an RFC 3339 time"))
}

/// Where the next page of a per-symbol history starts, from a `SYMBOL:n` cursor (`n` a
/// trade id or a time; `spelled` names the two in the error): the first of `symbols` at
/// or after the cursor's (it may have left the list since), at `n` if it is that symbol,
/// at `0` otherwise or without a cursor. `symbols` is sorted; `n` has at most `digits`
/// digits (no sign, no space).
pub(crate) fn symbol_cursor<'a, T: std::str::FromStr + Default + Copy>(
    symbols: &'a [String],
    cursor: Option<&str>,
    digits: usize,
    spelled: &'static str,
) -> Result<Option<(&'a str, T)>> {
    let (sym, at) = match cursor {
        None => return Ok(symbols.first().map(|s| (s.as_str(), T::default()))),
        Some(c) => {
            let bad = || bad_input("cursor", spelled);
            let (s, n) = c.split_once(':').ok_or_else(bad)?;
            if n.is_empty() || n.len() > digits || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            (s, n.parse::<T>().map_err(|_| bad())?)
        }
    };
    Ok(symbols.iter().find(|s| s.as_str() >= sym).map(|s| (s.as_str(), if s == sym { at } else { T::default() })))
}

/// An array of `{currency, available, <locked>}` objects, one page (Gate's `locked`,
/// Coinbase Exchange's `hold`): each currency's free and held amounts.
pub(crate) fn currency_balances(v: &Value, venue: Venue, locked: (&str, &'static str)) -> Result<BalancePage> {
    let mut balances = Vec::new();
    for a in arr(v, "$")? {
        let a = obj(a, "[]")?;
        balances.push(VenueBalance {
            asset: normalize_asset(venue, string(a, "currency", "[].currency")?)?,
            free: dec(a, "available", "[].available")?,
            locked: dec(a, locked.0, locked.1)?,
        });
    }
    Ok(BalancePage { balances, next: None })
}
