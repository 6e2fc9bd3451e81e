//! JSON bodies read strictly: one JSON value (serde_json's grammar, nesting
//! at most 128 deep), no object member given twice at any depth — also when
//! the two names differ only in ASCII case (Go's `encoding/json`, behind
//! Coinbase, matches names case-insensitively and keeps the last), member
//! names in ASCII (Unicode case folding would make `K` and `K`, U+212A, one
//! name), and for exchanges with a reader, no control character in a
//! string (a NUL ends a string for some readers) and numbers that are
//! integers only:
//! a decimal amount in a JSON number means what the reader's floating point
//! makes of it, so amounts travel as strings. The body sent is printed from
//! the parsed value ([`print`]): compact, members sorted.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{refuse, shown};
use crate::Error;

/// Which JSON numbers are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbers {
    /// Integers only (exchanges with a reader: the body is re-printed).
    Integers,
    /// Any (a body sent as given, checked for duplicates only).
    Any,
}

struct Strict(Value);

struct StrictVisitor(Numbers);

impl<'de> de::DeserializeSeed<'de> for StrictVisitor {
    type Value = Strict;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        match self.0 {
            Numbers::Any => {
                serde_json::Number::from_f64(v).map(|n| Strict(Value::Number(n))).ok_or_else(|| E::custom("NaN"))
            }
            Numbers::Integers => Err(E::custom(
                "a number with a fraction, an exponent or beyond 64 bits: give decimal amounts as strings",
            )),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Strict, E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Strict, E> {
        // A NUL or other control character ends or splits a string for some readers.
        if self.0 == Numbers::Integers && v.chars().any(char::is_control) {
            return Err(E::custom("a string holds a control character"));
        }
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element_seed(StrictVisitor(self.0))? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !key.is_ascii() || key.chars().any(|c| c.is_ascii_control()) {
                return Err(de::Error::custom(format!("member name {} is not printable ASCII", shown(&key))));
            }
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(de::Error::custom(format!(
                    "member {} is given twice (JSON libraries disagree on which one counts)",
                    shown(&key)
                )));
            }
            let Strict(v) = map.next_value_seed(StrictVisitor(self.0))?;
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// Parse `body` strictly (see the module docs).
pub(crate) fn parse(body: &str, numbers: Numbers) -> Result<Value, Error> {
    let mut de = serde_json::Deserializer::from_str(body);
    let parsed = de::DeserializeSeed::deserialize(StrictVisitor(numbers), &mut de).and_then(|v| de.end().map(|()| v));
    match parsed {
        Ok(Strict(v)) => Ok(v),
        Err(e) => {
            // serde_json's message may quote caller text: keep it short.
            let msg: String = e.to_string().chars().take(200).collect();
            Err(refuse(format!("the JSON body: {msg}")))
        }
    }
}

/// Parse a body that must be one JSON object.
pub(crate) fn object(body: &str) -> Result<Map<String, Value>, Error> {
    match parse(body, Numbers::Integers)? {
        Value::Object(o) => Ok(o),
        _ => Err(refuse("the JSON body must be an object")),
    }
}

/// The compact text of a parsed value (members sorted).
pub(crate) fn print(v: &Value) -> String {
    v.to_string()
}

/// Member `name` of `o` as a string: absent is `None`, any other type is
/// refused (the policy reads it, so it has one spelling: a string).
pub(crate) fn text<'a>(o: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Error> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(refuse(format!("member {} must be a string", shown(name)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(s: &str) -> bool {
        matches!(parse(s, Numbers::Integers), Err(Error::Ambiguous(_)))
    }

    #[test]
    fn duplicates_at_any_depth_and_case_are_refused() {
        assert!(bad(r#"{"a":1,"a":2}"#));
        assert!(bad(r#"{"a":1,"A":2}"#));
        assert!(bad(r#"{"x":{"b":{"c":1,"c":1}}}"#));
        assert!(bad(r#"[{"c":1},{"d":[{"e":1,"e":2}]}]"#));
        // The same name spelled with an escape is the same name.
        assert!(bad(r#"{"price":"1","pr\u0069ce":"2"}"#));
        assert!(bad(r#"{"\u212aey":1}"#));
        assert!(bad(r#"{"product_id":"BTC-USD\u0000"}"#));
        assert!(bad(r#"{"a\nb":1}"#));
        assert!(!bad(r#"{"a":{"c":1},"b":{"c":1}}"#));
    }

    #[test]
    fn numbers_and_shape() {
        assert!(bad(r#"{"sz":0.5}"#));
        assert!(bad(r#"{"sz":1e3}"#));
        assert!(bad(r#"{"sz":18446744073709551616}"#));
        assert!(parse(r#"{"sz":0.5}"#, Numbers::Any).is_ok());
        assert_eq!(print(&parse(r#" { "b" : 1 , "a" : -2 } "#, Numbers::Integers).expect("ok")), r#"{"a":-2,"b":1}"#);
        assert!(bad("{} {}"));
        assert!(bad("{"));
        assert!(bad(""));
        assert!(bad("\u{feff}{}"));
        assert!(object("[]").is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(bad(&deep));
    }
}
