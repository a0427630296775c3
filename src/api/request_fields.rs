//! How the optional fields of a request body are read, so that what the server accepts is what
//! `assets/connector-api.yaml` allows: absent is `None` but `null` is refused (no optional field
//! is nullable there), and an integer is what JSON Schema calls one — `3` and `3.0` alike.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// An optional field of a request: absent is `None` (with `#[serde(default)]`); `null` is
/// refused like any other value that is not of the field's type.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An optional `integer` field within `0..=u32::MAX`: a number with no fractional part, written
/// `3` or `3.0` (JSON Schema's `integer`); `null` is refused.
pub(crate) fn present_u32<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(WholeU32).map(Some)
}

struct WholeU32;

impl Visitor<'_> for WholeU32 {
    type Value = u32;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer from 0 to 4294967295")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u32, E> {
        if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
            // Whole and in range, so the conversion is exact.
            Ok(v as u32)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::present_u32")]
        level: Option<u32>,
        #[serde(default, deserialize_with = "super::present")]
        note: Option<String>,
    }

    fn read(json: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integers_as_json_schema_counts_them() {
        assert_eq!(read(r#"{"level": 3}"#).unwrap().level, Some(3));
        assert_eq!(read(r#"{"level": 3.0}"#).unwrap().level, Some(3));
        assert_eq!(
            read(r#"{"level": 4294967295}"#).unwrap().level,
            Some(u32::MAX)
        );
        assert_eq!(read("{}").unwrap().level, None);
        for bad in ["3.5", "-1", "4294967296", "1e300", "null", "\"3\""] {
            assert!(read(&format!(r#"{{"level": {bad}}}"#)).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_is_not_absent() {
        assert_eq!(read(r#"{"note": "x"}"#).unwrap().note.as_deref(), Some("x"));
        assert_eq!(read("{}").unwrap().note, None);
        assert!(read(r#"{"note": null}"#).is_err());
    }
}
