//! JSON as Postman writes it: a `payload` or `header` given as a JSON string or an inline TOML
//! table, read as `JSON.parse` reads it and written back as `JSON.stringify` writes it (Postman's
//! signer, jose's `SignJWT`, signs `JSON.stringify` of the parsed value, not the text typed in).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;

use super::*;

impl JsonOrTable {
    /// The value: a JSON string parsed (blank means `{}`, as in Postman), a table converted.
    pub(super) fn parse(&self) -> Result<Json, String> {
        match self {
            JsonOrTable::Json(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(Json::Object(Vec::new()));
                }
                serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))
            }
            JsonOrTable::Table(table) => Json::from_table(table),
        }
    }
}

pub(super) fn json_string(s: &str) -> String {
    // Serializing a string cannot fail; the fallback is never taken.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A JSON value that keeps object members in the order written (a repeated name keeps its first
/// place and takes the last value, as `JSON.parse` does), so that header fields come out in the
/// order Postman writes them.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(super) fn from_table(table: &toml::Table) -> Result<Json, String> {
        let members = table
            .iter()
            .map(|(k, v)| Ok((k.clone(), Json::from_toml(v)?)))
            .collect::<Result<_, String>>()?;
        Ok(Json::Object(members))
    }

    pub(super) fn from_toml(value: &toml::Value) -> Result<Json, String> {
        Ok(match value {
            toml::Value::String(s) => Json::String(s.clone()),
            toml::Value::Integer(i) => Json::Number((*i).into()),
            toml::Value::Float(f) => Json::Number(
                serde_json::Number::from_f64(*f)
                    .ok_or_else(|| format!("has {f}, which JSON cannot express"))?,
            ),
            toml::Value::Boolean(b) => Json::Bool(*b),
            toml::Value::Datetime(d) => Json::String(d.to_string()),
            toml::Value::Array(items) => Json::Array(
                items
                    .iter()
                    .map(Json::from_toml)
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(t) => Json::from_table(t)?,
        })
    }
}

impl Json {
    /// The text `JSON.stringify` writes for this value: compact; object members whose names are
    /// array indices first, in numeric order, then the others in the order written (JavaScript's
    /// property order); every number as JavaScript prints a double.
    pub(super) fn to_js(&self) -> String {
        let mut out = String::new();
        self.write_js(&mut out);
        out
    }

    fn write_js(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&js_number(n.as_f64().unwrap_or(0.0))),
            Json::String(v) => out.push_str(&json_string(v)),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_js(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                let mut ordered: Vec<&(String, Json)> = members.iter().collect();
                // Stable: names that are not indices keep the order written.
                ordered.sort_by_key(|(name, _)| array_index(name).map_or((1, 0), |i| (0, i)));
                out.push('{');
                for (i, (name, value)) in ordered.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(name));
                    out.push(':');
                    value.write_js(out);
                }
                out.push('}');
            }
        }
    }
}

/// The index a property name stands for in JavaScript's property order: the canonical decimal
/// form of an integer below 2^32 - 1.
fn array_index(name: &str) -> Option<u32> {
    let canonical = name == "0"
        || (name.len() <= 10
            && name.starts_with(|c: char| matches!(c, '1'..='9'))
            && name.bytes().all(|b| b.is_ascii_digit()));
    let index: u64 = name.parse().ok().filter(|_| canonical)?;
    u32::try_from(index).ok().filter(|&i| i != u32::MAX)
}

/// JavaScript's `Number.prototype.toString()` of a finite double (ECMA-262 Number::toString):
/// the shortest digits that read back as `v`, laid out plainly for exponents from -7 to 20 and
/// as `d.ddde+n` beyond.
pub(super) fn js_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        // -0 prints as 0; JSON cannot carry the others, which JSON.stringify writes as null.
        return if v == 0.0 { "0" } else { "null" }.to_owned();
    }
    // Rust's `{:e}` is the shortest round-trip form, `d.ddde-7`.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    let k = digits.len() as i64;
    let (head, tail) = digits.split_at(1);
    let zeros = |count: i64| "0".repeat(usize::try_from(count).unwrap_or(0));
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", zeros(n - k))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(usize::try_from(n).unwrap_or(0));
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", zeros(-n))
    } else {
        let e = n - 1;
        let sign = if e >= 0 { '+' } else { '-' };
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        format!("{head}{frac}e{sign}{}", e.abs())
    };
    if v < 0.0 { format!("-{body}") } else { body }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JsonVisitor;

        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }

            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }

            fn visit_none<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }

            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }

            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
                serde_json::Number::from_f64(v)
                    .map(Json::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }

            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut members: Vec<(String, Json)> = Vec::new();
                let mut index: HashMap<String, usize> = HashMap::new();
                while let Some((name, value)) = map.next_entry::<String, Json>()? {
                    match index.get(&name).and_then(|&at| members.get_mut(at)) {
                        Some(member) => member.1 = value,
                        None => {
                            index.insert(name.clone(), members.len());
                            members.push((name, value));
                        }
                    }
                }
                Ok(Json::Object(members))
            }
        }

        d.deserialize_any(JsonVisitor)
    }
}
