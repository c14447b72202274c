//! JSON as Postman writes it: a `payload` or `header` given as a JSON string (kept as written)
//! or an inline TOML table (written compactly), with object keys in their written order.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

use super::*;

impl JsonOrTable {
    /// The value, and its text: a JSON string as written (trimmed; empty means `{}`, as in
    /// Postman), a table as compact JSON.
    pub(super) fn parse(&self) -> Result<(Json, String), String> {
        match self {
            JsonOrTable::Json(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return Ok((Json::Object(Vec::new()), "{}".to_owned()));
                }
                let value: Json =
                    serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))?;
                Ok((value, text.to_owned()))
            }
            JsonOrTable::Table(table) => {
                let value = Json::from_table(table)?;
                let text = serde_json::to_string(&value)
                    .map_err(|e| format!("cannot be serialized: {e}"))?;
                Ok((value, text))
            }
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

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => items.serialize(s),
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}
