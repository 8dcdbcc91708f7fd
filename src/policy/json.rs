//! A minimal JSON tree for policy parsing that keeps object keys in document order, numbers as
//! written, and rejects duplicated keys.
//!
//! `serde_json::Value` silently keeps the last of two equal keys; in an authorization document
//! that would let `{"Effect":"Deny","Effect":"Allow"}` mean something other than what a reviewer
//! reads, so duplicates are a parse error here (IAM rejects them too). serde_json hands a number
//! over as an `f64` (`1.10` as `1.1`, `1e2` as `100`, a long integer rounded), so each number is
//! taken as its literal text instead: policies compare unquoted numbers as strings too.

use core::cell::RefCell;
use core::fmt;
use std::collections::VecDeque;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value. Numbers keep their literal text because policies compare them as
/// strings or re-parse them for numeric operators.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parse `text`; errors carry serde_json's line/column.
    pub(crate) fn parse(text: &str) -> Result<Self, serde_json::Error> {
        let numbers = RefCell::new(number_literals(text));
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let json = JsonSeed { numbers: &numbers }.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(json)
    }

    /// Appends the value to `out` as compact JSON: no white space, keys in document order,
    /// numbers in their parsed textual form, strings escaped as `serde_json` escapes them.
    pub(crate) fn write_compact(&self, out: &mut String) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Number(n) => out.push_str(n),
            Self::String(s) => write_string(s, out),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            Self::Object(fields) => {
                out.push('{');
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(name, out);
                    out.push(':');
                    value.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// A short noun phrase naming the JSON type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Number(_) => "a number",
            Self::String(_) => "a string",
            Self::Array(_) => "an array",
            Self::Object(_) => "an object",
        }
    }
}

/// `s` as a JSON string literal.
fn write_string(s: &str, out: &mut String) {
    // invariant: serializing a string into JSON cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// The number literals of JSON `text` in document order, strings skipped (RFC 8259 §6: a
/// number starts with `-` or a digit; §7: in a string, `\\` escapes the next character).
/// Meaningful only for text serde_json accepts, whose numbers it visits in the same order.
fn number_literals(text: &str) -> VecDeque<&str> {
    let bytes = text.as_bytes();
    let mut numbers = VecDeque::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                numbers.push_back(text.get(start..i).unwrap_or_default());
            }
            _ => i += 1,
        }
    }
    numbers
}

/// Deserializes one [`Json`] value, taking its numbers' text from `numbers`.
#[derive(Clone, Copy)]
struct JsonSeed<'a, 't> {
    numbers: &'a RefCell<VecDeque<&'t str>>,
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_, '_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl JsonSeed<'_, '_> {
    /// The next number's literal text; `parsed` printed should the literals run out (they do
    /// not for text serde_json parsed).
    fn number(&self, parsed: impl ToString) -> Json {
        let literal = self.numbers.borrow_mut().pop_front();
        Json::Number(literal.map_or_else(|| parsed.to_string(), str::to_owned))
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(self.number(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        Ok(self.number(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Ok(self.number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value_seed(self)?;
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_types() {
        let json = Json::parse(r#"{"b":1,"a":[true,null,"x",1.5]}"#).unwrap();
        assert_eq!(
            json,
            Json::Object(vec![
                ("b".into(), Json::Number("1".into())),
                (
                    "a".into(),
                    Json::Array(vec![
                        Json::Bool(true),
                        Json::Null,
                        Json::String("x".into()),
                        Json::Number("1.5".into())
                    ])
                ),
            ])
        );
    }

    #[test]
    fn keeps_numbers_as_written() {
        let text = r#"{"a":1.10,"b":["1.5",-0.0,1e2,12345678901234567890123,{"c":"x\"7","d":3E-2}],"e":0}"#;
        let mut compact = String::new();
        Json::parse(text).unwrap().write_compact(&mut compact);
        assert_eq!(compact, text);
        assert_eq!(
            number_literals(text),
            ["1.10", "-0.0", "1e2", "12345678901234567890123", "3E-2", "0"]
        );
    }

    #[test]
    fn rejects_duplicate_keys() {
        let err = Json::parse(r#"{"Effect":"Deny","Effect":"Allow"}"#).unwrap_err();
        assert!(err.to_string().starts_with("duplicate key \"Effect\""), "{err}");
    }
}
