//! Whether every string of a serialisable value (each key and each value, as `serde_json` would
//! write them) is clean, without building the value: a serde [`Serializer`] that visits the
//! strings only and stops at the first one that is not clean.
//!
//! The whole-record redaction pass (`Enricher::redact_own_fields`) asks this first; only a record
//! that holds something to redact pays for the `serde_json::Value` round trip that rewrites it.

use super::redact::Redactor;
use serde::ser::{self, Serialize, Serializer};
use std::fmt::Display;

/// `true` when every string `value` serialises to (keys included) is clean to `redactor`.
pub(crate) fn all_clean<T: Serialize + ?Sized>(value: &T, redactor: &mut Redactor) -> bool {
    value.serialize(&mut Probe { redactor }).is_ok()
}

struct Probe<'r> {
    redactor: &'r mut Redactor,
}

/// A string that is not clean (the walk stops there), or a serialisation error of the value.
#[derive(Debug)]
struct Stop;

impl Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string to redact")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: Display>(_: T) -> Self {
        Stop
    }
}

impl Probe<'_> {
    fn text(&mut self, s: &str) -> Result<(), Stop> {
        if self.redactor.is_clean(s) {
            Ok(())
        } else {
            Err(Stop)
        }
    }
}

impl<'a, 'r> Serializer for &'a mut Probe<'r> {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_char(self, c: char) -> Result<(), Stop> {
        self.text(c.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, s: &str) -> Result<(), Stop> {
        self.text(s)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Stop> {
        Ok(()) // an array of numbers in JSON
    }
    fn serialize_none(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Stop> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Stop> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Stop> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Stop> {
        self.text(variant)?;
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Self, Stop> {
        self.text(variant)?;
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Self, Stop> {
        self.text(variant)?;
        Ok(self)
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), Stop> {
        self.text(&value.to_string())
    }
}

/// The sequence-like compounds: each element is walked in turn.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Probe<'_> {
            type Ok = ();
            type Error = Stop;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Probe<'_> {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Stop> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Stop> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Stop> {
        Ok(())
    }
}

/// The struct-like compounds: each field's name is a key, then its value is walked.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Probe<'_> {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Stop> {
                self.text(key)?;
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Stop> {
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clean_values_pass_and_any_secret_stops() {
        let mut r = Redactor::new();
        let clean = json!({"a": ["ls -la", 1, true, null], "b": {"c": "hello"}});
        assert!(all_clean(&clean, &mut r));
        let key = "AKIAIOSFODNN7EXAMPLE";
        for dirty in [
            json!({"a": ["ls", format!("aws {key}")]}),
            json!({"b": {(key): 1}}),
            json!([{"x": {"y": [format!("export TOKEN=ghp_{}", "a".repeat(36))]}}]),
        ] {
            assert!(!all_clean(&dirty, &mut r), "{dirty}");
            let mut v = dirty.clone();
            let before = r.count;
            r.redact_value(&mut v);
            assert!(r.count > before, "the Value walk agrees: {dirty}");
        }
    }
}
