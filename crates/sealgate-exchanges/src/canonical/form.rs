//! Query strings and form bodies (`name=value&…`) in one spelling.
//!
//! Accepted: pairs joined by `&`, each `name=value` with a non-empty ASCII
//! name; each character an RFC 3986 unreserved one (`A-Z a-z 0-9 - . _ ~`),
//! one of `! $ ' ( ) * , : @ / ?` (which every decoder reads as itself), or
//! `%XX` with upper-case hex for a byte that is *not* unreserved. Refused:
//! `+` (a space to form decoders, a plus to others: spell `%20` or `%2B`),
//! `%41`-style encodings of unreserved characters and lower-case hex (a
//! second spelling of the same text), a bare `%`, a second `=` in a pair,
//! an empty pair (`a=1&&b=2`) or a pair without `=`, `;` (a separator to
//! some servers), any other character (`"`, `[`, space, non-ASCII: they
//! must be percent-encoded), decoded text that is not UTF-8 or holds a
//! control character, and a name given twice (also when the two differ
//! only in ASCII case).
//!
//! Produced: [`encode`] writes unreserved characters literally and every
//! other byte as `%XX`, so what is sent has exactly one spelling.

use super::{refuse, shown};
use crate::Error;

/// Decoded `(name, value)` pairs, in order.
pub(crate) type Pairs = Vec<(String, String)>;

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn literal(b: u8) -> bool {
    unreserved(b) || matches!(b, b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b',' | b':' | b'@' | b'/' | b'?')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one name or value under the rule.
fn decode(s: &str, what: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) else {
                return Err(refuse(format!(
                    "{what}: a % that is not followed by two upper-case hex digits (write %XX with A-F, not a-f)"
                )));
            };
            let v = h * 16 + l;
            if unreserved(v) {
                return Err(refuse(format!(
                    "{what}: %{:02X} encodes {:?}, which must be written as itself",
                    v,
                    char::from(v)
                )));
            }
            out.push(v);
            i += 3;
        } else if c == b'+' {
            return Err(refuse(format!(
                "{what}: a literal + (a space to some readers, a plus to others): write %20 or %2B"
            )));
        } else if literal(c) {
            out.push(c);
            i += 1;
        } else {
            return Err(refuse(format!(
                "{what}: the character {:?} must be percent-encoded",
                s[i..].chars().next().unwrap_or('?')
            )));
        }
    }
    let text =
        String::from_utf8(out).map_err(|_| refuse(format!("{what}: percent-encoded bytes that are not UTF-8")))?;
    if text.chars().any(char::is_control) {
        return Err(refuse(format!("{what}: a control character")));
    }
    Ok(text)
}

/// Parse a query string or form body under the rule (see the module docs);
/// `what` names it in errors (`query`, `body`).
pub(crate) fn parse(s: &str, what: &str) -> Result<Pairs, Error> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for kv in s.split('&') {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(refuse(if kv.is_empty() {
                format!("{what}: an empty parameter (&& or a trailing &)")
            } else {
                format!("{what}: parameter {} has no = (is it a value or a flag?)", shown(kv))
            }));
        };
        if v.contains('=') {
            return Err(refuse(format!("{what}: parameter {} holds a second =: write %3D", shown(k))));
        }
        let name = decode(k, what)?;
        if name.is_empty() || !name.is_ascii() {
            return Err(refuse(format!("{what}: a parameter name that is empty or not ASCII")));
        }
        let value = decode(v, &format!("{what} parameter {}", shown(&name)))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Refuse a name that appears twice across `parts` (query and body where
/// the exchange merges them), also when the two differ only in ASCII case.
pub(crate) fn unique(parts: &[&Pairs]) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for (n, _) in parts.iter().flat_map(|p| p.iter()) {
        if !seen.insert(n.to_ascii_lowercase()) {
            return Err(refuse(format!(
                "parameter {} is given twice (exchanges disagree on which one counts)",
                shown(n)
            )));
        }
    }
    Ok(())
}

/// Encode decoded pairs: unreserved characters as themselves, every other
/// byte as `%XX`.
pub(crate) fn encode(pairs: &Pairs) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        push(&mut s, k);
        s.push('=');
        push(&mut s, v);
    }
    s
}

fn push(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The value of `name`.
pub(crate) fn get<'a>(p: &'a Pairs, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Pairs {
        parse(s, "query").unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn one_spelling_in_one_out() {
        assert_eq!(ok("a=1&b=x%20y"), vec![("a".into(), "1".into()), ("b".into(), "x y".into())]);
        assert_eq!(encode(&ok("a=1&b=x%20y")), "a=1&b=x%20y");
        // Sub-delimiters read as themselves are accepted and sent encoded.
        assert_eq!(encode(&ok("ccy=BTC,ETH&t=2024-01-01T00:00:00Z")), "ccy=BTC%2CETH&t=2024-01-01T00%3A00%3A00Z");
        assert_eq!(encode(&ok("x=%E2%82%AC")), "x=%E2%82%AC");
        assert_eq!(ok("a="), vec![("a".into(), String::new())]);
        assert!(ok("").is_empty());
    }

    #[test]
    fn second_spellings_and_ambiguities_are_refused() {
        for bad in [
            "symbol=BTC%55SDT",
            "a=%2b",
            "a=1+2",
            "a=%",
            "a=%4",
            "a=%zz",
            "a=1&&b=2",
            "a=1&",
            "a",
            "a=b=c",
            "=1",
            "a=1;b=2",
            "a=x y",
            "a=\"q\"",
            "a=[1]",
            "a=%00",
            "a=%FF",
            "%C3%A9=1",
            "a=\u{e9}",
        ] {
            assert!(matches!(parse(bad, "query"), Err(Error::Ambiguous(_))), "{bad}");
        }
    }

    #[test]
    fn duplicates_across_parts_and_case() {
        let q = ok("symbol=BTCUSDT");
        assert!(unique(&[&q, &ok("symbol=ETHUSDT")]).is_err());
        assert!(unique(&[&q, &ok("Symbol=ETHUSDT")]).is_err());
        assert!(unique(&[&ok("a=1&A=2")]).is_err());
        assert!(unique(&[&q, &ok("side=BUY")]).is_ok());
    }
}
