//! Canonical JSON (FORMAT.md §2) and lowercase hex.

use std::fmt::Write as _;

use serde_json::Value;

/// Append `s` as a JSON string: `"` and `\` escaped, the short escapes
/// `\b \f \n \r \t`, other controls below U+0020 as `\u00xx` (lowercase hex),
/// everything else as literal UTF-8. This is what serde_json and RFC 8785
/// emit for strings.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Append `v` canonically: object members sorted by the UTF-8 bytes of
/// their names, no whitespace, integers in plain decimal. Floating-point
/// numbers have no canonical form here and are refused, as is nesting
/// deeper than `max_depth` containers.
pub(crate) fn write_value(out: &mut String, v: &Value, max_depth: usize) -> Result<(), &'static str> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else {
                return Err("detail holds a floating-point number (only integers have a canonical form)");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            let depth = max_depth.checked_sub(1).ok_or("detail is nested too deeply")?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let depth = max_depth.checked_sub(1).ok_or("detail is nested too deeply")?;
            // str's Ord is the order of the UTF-8 bytes; not relying on
            // serde_json's Map order keeps this right under `preserve_order`.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, name);
                out.push(':');
                write_value(out, value, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Exactly 64 lowercase hex digits into 32 bytes. Uppercase is refused: the
/// export has one spelling per hash.
pub(crate) fn from_hex32(s: &str) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> Result<String, &'static str> {
        let mut s = String::new();
        write_value(&mut s, v, 4).map(|()| s)
    }

    #[test]
    fn sorted_compact_and_escaped() {
        let v = json!({"b": [1, -2, true, null], "a": {"z": "x\"\\\n\u{1}é", "y": {}}, "": 0});
        assert_eq!(canon(&v).expect("canon"), r#"{"":0,"a":{"y":{},"z":"x\"\\\n\u0001é"},"b":[1,-2,true,null]}"#);
    }

    #[test]
    fn matches_serde_json_for_integers_and_strings() {
        let v = json!({"k": "tab\there \u{7f} \u{1f} ∑ 😀", "n": u64::MAX, "m": i64::MIN});
        assert_eq!(canon(&v).expect("canon"), serde_json::to_string(&v).expect("json"));
    }

    #[test]
    fn refuses_floats_and_depth() {
        assert!(canon(&json!({"f": 1.5})).is_err());
        assert!(canon(&json!({"a": {"b": {"c": {"d": 1}}}})).is_ok());
        assert!(canon(&json!({"a": {"b": {"c": {"d": {}}}}})).is_err());
    }

    #[test]
    fn hex_round_trip_lowercase_only() {
        let b: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(from_hex32(&hex(&b)), Some(b));
        assert_eq!(from_hex32(&hex(&b).to_uppercase()), None);
        assert_eq!(from_hex32("00"), None);
    }
}
