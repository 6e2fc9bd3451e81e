//! What a closed set of names (a role, a status) shares: it prints, serializes and
//! deserializes as its one spelling, through its `FromStr`.

/// `Display`, `Serialize` and `Deserialize` for `$ty`, spelled by `$ty::$name()` and parsed
/// by its `FromStr` (so serde refuses exactly what `parse` refuses).
macro_rules! spelled_by {
    ($ty:ty, $name:ident) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.$name())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.$name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use spelled_by;
