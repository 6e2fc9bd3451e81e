//! The strict JSON reading every request body gets: one JSON object, no key given twice at
//! any depth (serde_json keeps the last; a struct parsed from bytes refuses only its own
//! level's duplicates), and no array where a struct is expected (serde would take `[]` for
//! `{}`). One request, one meaning: what the api judged is what the handler uses.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// At most 300 characters of `s` (error messages that quote input stay short).
pub fn bounded(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Parses `bytes` as a JSON object into `T`: anything but an object is refused, and so are
/// nested arrays where `T` has a struct (see [`object`]) and a key given twice in any object
/// (one request, one meaning). The message is safe to show.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let map = match strict_value(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("the request body must be a JSON object".to_owned()),
        Err(e) => return Err(format!("the request body is not JSON: {}", bounded(&e.to_string()))),
    };
    T::deserialize(Value::Object(map)).map_err(|e| bounded(&e.to_string()))
}

/// Parses JSON, refusing an object that names a key twice, at any depth (serde_json keeps
/// the last, and a struct parsed from bytes refuses only its own level's duplicates).
pub fn strict_value(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Strict>(bytes).map(|s| s.0)
}

/// A JSON value without duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
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
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
            if out.contains_key(&k) {
                let k: String = k.chars().take(64).collect();
                return Err(serde::de::Error::custom(format!("the key {k:?} appears twice")));
            }
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

fn from_map<T: DeserializeOwned, E: serde::de::Error>(m: Map<String, Value>) -> Result<T, E> {
    T::deserialize(Value::Object(m)).map_err(E::custom)
}

/// `deserialize_with` for a nested struct: only a JSON object is one (not an array).
pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    from_map(Map::deserialize(d)?)
}

/// `deserialize_with` for an optional nested struct: `null` or an object.
pub fn opt_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Map<String, Value>>::deserialize(d)?.map(from_map).transpose()
}

/// `deserialize_with` for a list of structs: an array of objects.
pub fn objects<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Map<String, Value>>::deserialize(d)?.into_iter().map(from_map).collect()
}

/// `deserialize_with` for an optional list of structs: `null` or an array of objects.
pub fn opt_objects<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Option::<Vec<Map<String, Value>>>::deserialize(d)?.map(|v| v.into_iter().map(from_map).collect()).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, deserialize_with = "opt_object")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "objects")]
        many: Vec<Inner>,
    }

    #[test]
    fn only_objects_are_structs() {
        assert_eq!(parse_object::<Outer>(b"{}"), Ok(Outer { one: None, many: vec![] }));
        let ok: Outer = parse_object(br#"{"one": {"a": 1}, "many": [{"a": 2}]}"#).expect("ok");
        assert_eq!(ok, Outer { one: Some(Inner { a: 1 }), many: vec![Inner { a: 2 }] });
        assert_eq!(parse_object::<Outer>(br#"{"one": null}"#), Ok(Outer { one: None, many: vec![] }));
        // serde alone takes each of these for a struct.
        for bad in [&b"[]"[..], b"[null, []]", br#"{"one": [1]}"#, br#"{"many": [[2]]}"#, b"null", b"1"] {
            assert!(parse_object::<Outer>(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_object::<Outer>(b"[]"), Err("the request body must be a JSON object".to_owned()));
        assert!(parse_object::<Outer>(b"{").is_err_and(|e| e.starts_with("the request body is not JSON")));
        assert!(parse_object::<Outer>(br#"{"x": 1}"#).is_err_and(|e| e.contains("unknown field")));
        // A key twice, at any depth: refused, not "the last one wins".
        for dup in [
            &br#"{"one": {"a": 1}, "one": null}"#[..],
            br#"{"one": {"a": 1, "a": 2}}"#,
            br#"{"many": [{"a": 1, "a": 1}]}"#,
        ] {
            assert!(
                parse_object::<Outer>(dup).is_err_and(|e| e.contains("appears twice")),
                "{}",
                String::from_utf8_lossy(dup)
            );
        }
        assert_eq!(
            strict_value(br#"[1, -2, 2.5, "x", true, null, {"a": [{}]}]"#).ok(),
            serde_json::from_str(r#"[1, -2, 2.5, "x", true, null, {"a": [{}]}]"#).ok()
        );
    }
}
