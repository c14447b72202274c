//! Postman's export files as they are written: collections (v2.1, and v2.0's object form of
//! auth parameters), environments and globals. Only what the import reads is modelled; every
//! other field is ignored.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde::Deserialize;
use serde_json::Value;

use super::ImportError;

/// A collection export.
#[derive(Debug, Deserialize)]
pub struct Collection {
    /// Name and schema.
    pub info: Info,
    /// Folders and requests, in order.
    #[serde(default)]
    pub item: Vec<Item>,
    /// The collection's own auth.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Collection variables.
    #[serde(default)]
    pub variable: Vec<Variable>,
}

/// `info`.
#[derive(Debug, Deserialize)]
pub struct Info {
    /// The collection's name.
    #[serde(default)]
    pub name: String,
    /// The schema URL (`…/collection/v2.1.0/collection.json`).
    #[serde(default)]
    pub schema: String,
}

/// A folder (it has `item`) or a request (it has `request`).
#[derive(Debug, Deserialize)]
pub struct Item {
    /// Its name as shown in Postman.
    #[serde(default)]
    pub name: String,
    /// A folder's children.
    #[serde(default)]
    pub item: Option<Vec<Item>>,
    /// A request item's request.
    #[serde(default)]
    pub request: Option<Request>,
    /// A folder's auth (a request's auth lives in its `request`).
    #[serde(default)]
    pub auth: Option<Auth>,
}

/// `request`: a bare URL string, or the full object.
#[derive(Debug)]
pub enum Request {
    /// `"request": "https://…"` (a GET without auth).
    Url(String),
    /// The request object.
    Full(Box<RequestObject>),
}

/// The request object.
#[derive(Debug, Deserialize)]
pub struct RequestObject {
    /// Where it goes.
    #[serde(default)]
    pub url: Option<Url>,
    /// The method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// The request's own auth.
    #[serde(default)]
    pub auth: Option<Auth>,
}

/// A URL: a string, or Postman's object whose parts win over its `raw`.
#[derive(Debug)]
pub enum Url {
    /// `"url": "https://…"`.
    Raw(String),
    /// `"url": {"raw", "protocol", "host", "port", "path", "query"}`.
    Parts(UrlParts),
}

/// The parts of a URL object.
#[derive(Debug, Deserialize)]
pub struct UrlParts {
    /// The URL as typed.
    #[serde(default)]
    pub raw: Option<String>,
    /// `http` or `https` (without `://`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// The host: a string, or its labels.
    #[serde(default)]
    pub host: Option<StringOrList>,
    /// The port, as a string (numbers accepted).
    #[serde(default)]
    pub port: Option<Value>,
    /// The path: a string, or its segments.
    #[serde(default)]
    pub path: Option<Path>,
    /// Query parameters.
    #[serde(default)]
    pub query: Vec<QueryParam>,
}

/// A string or a list of strings (`host`).
#[derive(Debug)]
pub enum StringOrList {
    /// `"api.example.com"`.
    One(String),
    /// `["api", "example", "com"]`.
    List(Vec<String>),
}

/// `path`: a string, or segments (each a string or `{"value": …}`).
#[derive(Debug)]
pub enum Path {
    /// `"/v1/users"`.
    One(String),
    /// `["v1", "users"]`.
    Segments(Vec<Segment>),
}

/// A path segment.
#[derive(Debug)]
pub enum Segment {
    /// `"users"`.
    Text(String),
    /// `{"type": "string", "value": "users"}`.
    Object(SegmentObject),
}

/// A path segment written as an object.
#[derive(Debug, Deserialize)]
pub struct SegmentObject {
    /// The segment's text.
    #[serde(default)]
    pub value: Option<String>,
}

/// Deserializes an enum that is a string or one other shape, by what the JSON holds, so that an
/// error inside the other shape keeps its path (serde's untagged enums would only say that no
/// variant matched).
macro_rules! text_or {
    ($name:ident, $text:ident, $other:ident($inner:ty), $access:ident, $visit:ident, $wrap:ident, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Shape;
                impl<'de> serde::de::Visitor<'de> for Shape {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        Ok($name::$text(s.to_owned()))
                    }
                    fn $visit<A: serde::de::$access<'de>>(self, a: A) -> Result<$name, A::Error> {
                        <$inner>::deserialize(serde::de::value::$wrap::new(a)).map($name::$other)
                    }
                }
                d.deserialize_any(Shape)
            }
        }
    };
}

text_or!(
    Request,
    Url,
    Full(Box<RequestObject>),
    MapAccess,
    visit_map,
    MapAccessDeserializer,
    "a URL or a request object"
);
text_or!(
    Url,
    Raw,
    Parts(UrlParts),
    MapAccess,
    visit_map,
    MapAccessDeserializer,
    "a URL string or object"
);
text_or!(
    StringOrList,
    One,
    List(Vec<String>),
    SeqAccess,
    visit_seq,
    SeqAccessDeserializer,
    "a host or a list of labels"
);
text_or!(
    Path,
    One,
    Segments(Vec<Segment>),
    SeqAccess,
    visit_seq,
    SeqAccessDeserializer,
    "a path or a list of segments"
);
text_or!(
    Segment,
    Text,
    Object(SegmentObject),
    MapAccess,
    visit_map,
    MapAccessDeserializer,
    "a path segment"
);

/// A query parameter.
#[derive(Debug, Deserialize)]
pub struct QueryParam {
    /// Name.
    #[serde(default)]
    pub key: Option<String>,
    /// Value (`null`: `?key` alone).
    #[serde(default)]
    pub value: Option<String>,
    /// Unticked in Postman: not sent.
    #[serde(default)]
    pub disabled: bool,
}

/// An auth object: its `type` and the parameters under the key of that type.
#[derive(Debug, Deserialize)]
pub struct Auth {
    /// `basic`, `oauth2`, `noauth`, … (any name: the app writes types the schema predates).
    #[serde(rename = "type")]
    pub kind: String,
    /// Every other key: the parameters of each type the user has filled in.
    #[serde(flatten)]
    pub by_type: serde_json::Map<String, Value>,
}

impl Auth {
    /// The parameters of the selected type, in order: v2.1's `[{key, value}]` or v2.0's object.
    pub fn params(&self) -> Vec<(String, Value)> {
        match self.by_type.get(&self.kind) {
            Some(Value::Array(rows)) => rows
                .iter()
                .filter_map(|row| {
                    let key = row.get("key")?.as_str()?.to_owned();
                    Some((key, row.get("value").cloned().unwrap_or(Value::Null)))
                })
                .collect(),
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Vec::new(),
        }
    }
}

/// A collection variable, or a value of an environment or globals export.
#[derive(Debug, Deserialize)]
pub struct Variable {
    /// Name (v2.0 collections may use `id`).
    #[serde(default, alias = "id")]
    pub key: Option<String>,
    /// Value: usually a string, sometimes a number or boolean.
    #[serde(default)]
    pub value: Option<Value>,
    /// `default`, `secret`, `text`, `string`, …
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Environments: unticked when `false`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Collection variables: unticked when `true`.
    #[serde(default)]
    pub disabled: bool,
}

impl Variable {
    /// Whether Postman would use it.
    pub fn is_active(&self) -> bool {
        self.enabled != Some(false) && !self.disabled
    }
}

/// An environment or globals export.
#[derive(Debug, Deserialize)]
pub struct Environment {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its variables.
    pub values: Vec<Variable>,
}

/// Reads a collection export; `file` names it in errors.
pub fn parse_collection(file: &str, text: &str) -> Result<Collection, ImportError> {
    let value = parse_json(file, text)?;
    let looks_like_one = value
        .get("info")
        .and_then(|info| info.get("schema"))
        .and_then(Value::as_str)
        .is_some_and(|schema| schema.contains("/collection/v2"));
    if !looks_like_one {
        let hint = if value.get("values").is_some() {
            " (it looks like an environment: pass it with --environment)"
        } else if value.get("info").is_some() {
            " (only collection format v2.0 and v2.1 are read: export it again as v2.1)"
        } else {
            ""
        };
        return Err(ImportError::NotPostman {
            file: file.to_owned(),
            what: "collection v2.0/v2.1",
            reason: format!("no info.schema naming collection/v2.x{hint}"),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| ImportError::NotPostman {
        file: file.to_owned(),
        what: "collection",
        reason: shape_error(&e),
    })
}

/// Reads an environment or globals export.
pub fn parse_environment(file: &str, text: &str) -> Result<Environment, ImportError> {
    let value = parse_json(file, text)?;
    if value.get("info").is_some() || !value.get("values").is_some_and(Value::is_array) {
        return Err(ImportError::NotPostman {
            file: file.to_owned(),
            what: "environment or globals",
            reason: "no `values` list".to_owned(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| ImportError::NotPostman {
        file: file.to_owned(),
        what: "environment or globals",
        reason: shape_error(&e),
    })
}

fn parse_json(file: &str, text: &str) -> Result<Value, ImportError> {
    serde_json::from_str(text).map_err(|e| ImportError::NotJson {
        file: file.to_owned(),
        line: e.line(),
        column: e.column(),
    })
}

/// Where the shape went wrong, without the value found there (it may be a credential).
fn shape_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner().to_string();
    let what = inner.split(" at line").next().unwrap_or(&inner);
    // "invalid type: string \"…\", expected a map" would quote the value: keep what was expected.
    let what = what
        .find("expected")
        .and_then(|at| what.get(at..))
        .unwrap_or(what);
    format!("at {}: {what}", e.path())
}
