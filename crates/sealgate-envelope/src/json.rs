//! Strict JSON: RFC 7516 §4 and RFC 7159 §4 leave duplicate member names
//! undefined; JOSE parsers MUST reject them (RFC 7515 §5.2 step 4 / RFC 7516
//! §5.2 step 3), since two parsers that keep different duplicates see two
//! different headers. `serde_json::Value` silently keeps the last one, so we
//! deserialize through a visitor that refuses any repeat, at every depth.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::Error;

/// Longest member name we echo back in an error.
const MAX_NAME_IN_ERROR: usize = 64;

/// Parse `bytes` as one JSON object, refusing duplicate members anywhere.
/// `what` names the input in errors (never its content: it may be secret).
pub(crate) fn parse_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, Error> {
    match parse_value(bytes, what)? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Json(what)),
    }
}

/// Parse one JSON object strictly (duplicate members refused at any depth),
/// as every JOSE input is parsed here.
pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    parse_object(bytes, "JSON object")
}

/// Parse `bytes` as one JSON value, refusing duplicate members anywhere.
pub(crate) fn parse_value(bytes: &[u8], what: &'static str) -> Result<Value, Error> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed { duplicate: &duplicate }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        Err(_) => match duplicate.into_inner() {
            Some(name) => Err(Error::DuplicateMember(name)),
            // serde_json's message may quote the input; it is never surfaced.
            None => Err(Error::Json(what)),
        },
    }
}

#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let mut name = key;
                if name.len() > MAX_NAME_IN_ERROR {
                    let mut cut = MAX_NAME_IN_ERROR;
                    while !name.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    name.truncate(cut);
                }
                *self.duplicate.borrow_mut() = Some(name);
                return Err(de::Error::custom("duplicate member"));
            }
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A parsed object whose string values are zeroized when dropped: for JSON
/// that holds secrets (private JWKs, credential plaintexts).
pub(crate) struct Scrubbed(pub Map<String, Value>);

impl Drop for Scrubbed {
    fn drop(&mut self) {
        fn scrub(v: &mut Value) {
            match v {
                Value::String(s) => zeroize::Zeroize::zeroize(s),
                Value::Array(a) => a.iter_mut().for_each(scrub),
                Value::Object(o) => o.values_mut().for_each(scrub),
                _ => {}
            }
        }
        self.0.values_mut().for_each(scrub);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert!(matches!(
            parse_object(br#"{"a":1,"a":2}"#, "t"),
            Err(Error::DuplicateMember(n)) if n == "a"
        ));
        assert!(matches!(
            parse_object(br#"{"epk":{"x":"1","y":"2","x":"3"}}"#, "t"),
            Err(Error::DuplicateMember(n)) if n == "x"
        ));
        assert!(matches!(
            parse_object(br#"{"r":[{"k":1,"k":1}]}"#, "t"),
            Err(Error::DuplicateMember(n)) if n == "k"
        ));
    }

    #[test]
    fn escaped_duplicate_is_still_a_duplicate() {
        // "\u0061" is "a": the comparison is on decoded names.
        assert!(matches!(parse_object(br#"{"a":1,"\u0061":2}"#, "t"), Err(Error::DuplicateMember(_))));
    }

    #[test]
    fn refuses_trailing_data_and_non_objects() {
        assert!(matches!(parse_object(br#"{"a":1} x"#, "t"), Err(Error::Json("t"))));
        assert!(matches!(parse_object(b"[1]", "t"), Err(Error::Json("t"))));
        assert!(matches!(parse_object(b"", "t"), Err(Error::Json("t"))));
    }

    #[test]
    fn accepts_plain_object() {
        let m = parse_object(br#"{"a":{"b":[1,2,{"c":null}]},"d":"e"}"#, "t").expect("valid");
        assert_eq!(m.len(), 2);
    }
}
