//! Postman's auth parameters as signet's auth table: each of Postman's 13 types keeps its name,
//! its keys go to their snake_case names (`apikey.in` → `add_to`, `oauth2.addTokenTo` →
//! `add_to`, `jwt.addTokenTo` → `add_token_to`, …), booleans may arrive as JSON booleans or as
//! strings, and credentials are set apart so that they never reach the TOML.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::Value;

use super::auth_table::{How, Key, SEND_AS, TYPES, Type, UI_STATE};
use super::collection::Auth;
use super::variables::{Resolved, Scope};
use crate::secret::Secret;

/// A setting written as its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plain {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(u64),
    /// A list of strings.
    List(Vec<String>),
}

/// A setting written as `${NAME}`, its value going to the env file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretValue {
    /// The Postman variable it came from, when it was exactly one `{{name}}`.
    pub var: Option<String>,
    /// The value; `None` when the export cannot give it (a vault secret, a variable defined
    /// nowhere) and the user must set it.
    pub value: Option<Secret>,
}

/// One OAuth 2.0 extra parameter (Postman's advanced rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraParam {
    /// Name.
    pub key: String,
    /// Value (a credential for signet).
    pub value: SecretValue,
    /// `body`, `url` or `header`.
    pub send_in: Option<String>,
}

/// One key of a mapped table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Written as a value.
    Plain(Plain),
    /// Written as `${NAME}`.
    Secret(SecretValue),
    /// `auth_request` / `token_request` / `refresh_request`.
    Params(Vec<ExtraParam>),
}

/// A Postman auth as signet's table.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// signet's type name.
    pub kind: &'static str,
    /// Its keys, in the order of the mapping table.
    pub fields: Vec<(&'static str, Field)>,
    /// What could not be carried over, for the report.
    pub notes: Vec<String>,
}

impl Mapped {
    /// The same table (notes aside): one profile serves both.
    pub fn same_as(&self, other: &Mapped) -> bool {
        self.kind == other.kind && self.fields == other.fields
    }
}

/// Postman's type names that signet maps (besides `noauth`).
pub fn supported_types() -> impl Iterator<Item = &'static str> {
    TYPES.iter().map(|t| t.name)
}

/// Maps `auth`, filling its variables from `scope`; `None` for a type signet lacks.
pub fn map(auth: &Auth, scope: &Scope) -> Option<Mapped> {
    let spec = TYPES.iter().find(|t| t.name == auth.kind)?;
    let mut mapped = Mapped {
        kind: spec.name,
        fields: Vec::new(),
        notes: Vec::new(),
    };
    let params = auth.params();
    for Key(from, to, how) in spec.keys {
        let Some((_, value)) = params.iter().find(|(k, _)| k == from) else {
            continue;
        };
        if let Some(field) = convert(from, to, *how, value, spec, scope, &mut mapped.notes) {
            mapped.fields.push((to, field));
        }
    }
    for (key, value) in &params {
        let known =
            spec.keys.iter().any(|Key(from, _, _)| from == key) || UI_STATE.contains(&key.as_str());
        if !known && !is_blank(value) {
            mapped
                .notes
                .push(format!("`{key}` has no signet setting and is not imported"));
        }
    }
    finish(&mut mapped, &params);
    Some(mapped)
}

/// Rules that span keys.
fn finish(mapped: &mut Mapped, params: &[(String, Value)]) {
    let has = |key: &str| params.iter().any(|(k, _)| k == key);
    match mapped.kind {
        // postman-runtime puts the parameters in the header only when told to.
        "oauth1" if !has("addParamsToHeader") => mapped
            .fields
            .push(("add_to", Field::Plain(Plain::Str("query_or_body".into())))),
        "oauth2" => {
            let granted = mapped.fields.iter().any(|(k, _)| *k == "grant_type");
            let token_at = mapped.fields.iter().position(|(k, _)| *k == "access_token");
            if let (true, Some(at)) = (granted, token_at) {
                mapped.fields.remove(at);
                mapped.notes.push(
                    "the access token Postman holds is not imported: signet gets its own by the \
                     grant"
                        .to_owned(),
                );
            }
            if !granted && token_at.is_none() {
                mapped
                    .notes
                    .push("neither a grant type nor an access token is set".to_owned());
            }
        }
        _ => {}
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn convert(
    from: &str,
    to: &'static str,
    how: How,
    value: &Value,
    spec: &Type,
    scope: &Scope,
    notes: &mut Vec<String>,
) -> Option<Field> {
    match how {
        How::Ignore => return None,
        How::Extra => return extra_params(from, value, scope, notes),
        _ => {}
    }
    let resolved = scope.resolve(&text_of(value));
    let required = spec.required.contains(&to);
    if resolved.text.is_empty() && !required {
        return None;
    }
    if !resolved.is_complete() {
        return incomplete(from, how, &resolved, notes);
    }
    let text = resolved.text.clone();
    let field = match how {
        How::Secret => secret(&resolved),
        How::Str if resolved.secret => secret(&resolved),
        How::Str => Field::Plain(Plain::Str(text)),
        How::Bool | How::NotBool | How::Pick(..) => {
            let Some(b) = boolean(&text) else {
                notes.push(format!("`{from}` is not a boolean and is not imported"));
                return None;
            };
            match how {
                How::NotBool => Field::Plain(Plain::Bool(!b)),
                How::Pick(yes, no) => Field::Plain(Plain::Str((if b { yes } else { no }).into())),
                _ => Field::Plain(Plain::Bool(b)),
            }
        }
        How::Int => match text.trim().parse::<u64>() {
            Ok(n) => Field::Plain(Plain::Int(n)),
            Err(_) => {
                notes.push(format!(
                    "`{from}` is not a whole number and is not imported"
                ));
                return None;
            }
        },
        How::Choice(choices) => match choices.iter().find(|(p, _)| *p == text) {
            Some((_, mine)) => Field::Plain(Plain::Str((*mine).to_owned())),
            None => {
                notes.push(format!(
                    "`{from}` = {text:?} is none of {}: not imported",
                    choices
                        .iter()
                        .map(|(p, _)| *p)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                return None;
            }
        },
        How::List => Field::Plain(Plain::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        How::Extra | How::Ignore => return None,
    };
    Some(field)
}

fn secret(resolved: &Resolved) -> Field {
    Field::Secret(SecretValue {
        var: resolved.whole.clone(),
        value: Some(Secret::new(resolved.text.clone())),
    })
}

/// A value that holds what an export cannot give: a `{{vault:…}}` secret or a variable
/// defined nowhere becomes `${NAME}` for the user to set; a `{{$dynamic}}` value is left out
/// (signet makes its own nonces and times).
fn incomplete(from: &str, how: How, resolved: &Resolved, notes: &mut Vec<String>) -> Option<Field> {
    let settable = matches!(how, How::Str | How::Secret);
    if let Some(name) = resolved.dynamic.iter().next() {
        notes.push(format!(
            "`{from}` holds Postman's dynamic value {{{{{name}}}}}, which has no fixed value: not \
             imported"
        ));
        return None;
    }
    let whole = resolved.whole.as_deref();
    if let Some(name) = resolved.vault.iter().next() {
        return match (settable, whole) {
            (true, Some(w)) if w == name => {
                notes.push(format!(
                    "`{from}` is the vault secret {{{{{name}}}}}, which is never exported: set it \
                     in the environment"
                ));
                Some(Field::Secret(SecretValue {
                    var: Some(name.clone()),
                    value: None,
                }))
            }
            _ => {
                notes.push(format!(
                    "`{from}` uses the vault secret {{{{{name}}}}}, which is never exported: not \
                     imported"
                ));
                None
            }
        };
    }
    let names: Vec<&str> = resolved.unresolved.iter().map(String::as_str).collect();
    match (settable, whole) {
        (true, Some(w)) if names == [w] => {
            notes.push(format!(
                "`{from}` is {{{{{w}}}}}, which no environment defines: set it in the environment"
            ));
            Some(Field::Secret(SecretValue {
                var: Some(w.to_owned()),
                value: None,
            }))
        }
        _ => {
            notes.push(format!(
                "`{from}` uses {}, which no environment defines: not imported",
                names
                    .iter()
                    .map(|n| format!("{{{{{n}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            None
        }
    }
}

fn boolean(text: &str) -> Option<bool> {
    match text.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `[{key, value, enabled, send_as}]` → signet's rows (unticked rows are not sent by Postman).
fn extra_params(
    from: &str,
    value: &Value,
    scope: &Scope,
    notes: &mut Vec<String>,
) -> Option<Field> {
    let rows = value.as_array()?;
    let mut out = Vec::new();
    for row in rows {
        if row.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let Some(key) = row.get("key").and_then(Value::as_str) else {
            continue;
        };
        let resolved = scope.resolve(&text_of(row.get("value").unwrap_or(&Value::Null)));
        if !resolved.is_complete() {
            notes.push(format!(
                "`{from}` row `{key}` holds a value the export cannot give: not imported"
            ));
            continue;
        }
        let send_in = match row.get("send_as").and_then(Value::as_str) {
            None => None,
            Some(p) => match SEND_AS.iter().find(|(postman, _)| *postman == p) {
                Some((_, mine)) => Some((*mine).to_owned()),
                None => {
                    notes.push(format!(
                        "`{from}` row `{key}`: send_as {p:?} is not imported"
                    ));
                    continue;
                }
            },
        };
        out.push(ExtraParam {
            key: key.to_owned(),
            value: SecretValue {
                var: resolved.whole.clone(),
                value: Some(Secret::new(resolved.text)),
            },
            send_in,
        });
    }
    (!out.is_empty()).then_some(Field::Params(out))
}

#[cfg(test)]
#[path = "auth_map_tests.rs"]
mod tests;
