//! Postman's auth parameters as signet's auth table: each of Postman's 13 types keeps its name,
//! its keys go to their snake_case names (`apikey.in` → `add_to`, `oauth2.addTokenTo` →
//! `add_to`, `jwt.addTokenTo` → `add_token_to`, …), booleans may arrive as JSON booleans or as
//! strings, and credentials are set apart so that they never reach the TOML.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::Value;

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

/// How one Postman key becomes a signet key.
#[derive(Debug, Clone, Copy)]
enum How {
    Str,
    Secret,
    Bool,
    /// A boolean that says the opposite (`disableRetryRequest` → `retry`).
    NotBool,
    Int,
    /// Postman's value → signet's.
    Choice(&'static [(&'static str, &'static str)]),
    /// A boolean that picks one of two strings: (true, false).
    Pick(&'static str, &'static str),
    /// A comma-separated string → a list.
    List,
    /// OAuth 2.0's extra parameter rows.
    Extra,
    /// Postman's UI state: nothing to carry over.
    Ignore,
}

struct Key(&'static str, &'static str, How);

struct Type {
    name: &'static str,
    keys: &'static [Key],
    /// signet keys written even when empty.
    required: &'static [&'static str],
}

const SEND_AS: &[(&str, &str)] = &[
    ("request_body", "body"),
    ("request_url", "url"),
    ("request_header", "header"),
];

/// Keys of every type that only remember the state of Postman's form.
const UI_STATE: &[&str] = &["saveHelperData", "showPassword"];

const TYPES: &[Type] = &[
    Type {
        name: "apikey",
        keys: &[
            Key("key", "key", How::Str),
            Key("value", "value", How::Secret),
            Key(
                "in",
                "add_to",
                How::Choice(&[("header", "header"), ("query", "query")]),
            ),
        ],
        required: &["key", "value"],
    },
    Type {
        name: "bearer",
        keys: &[Key("token", "token", How::Secret)],
        required: &["token"],
    },
    Type {
        name: "basic",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "digest",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("disableRetryRequest", "retry", How::NotBool),
            Key("realm", "realm", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("algorithm", "algorithm", How::Str),
            Key("qop", "qop", How::Str),
            Key("nonceCount", "nonce_count", How::Str),
            Key("clientNonce", "client_nonce", How::Str),
            Key("opaque", "opaque", How::Str),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "ntlm",
        keys: &[
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("domain", "domain", How::Str),
            Key("workstation", "workstation", How::Str),
            Key("disableRetryRequest", "retry", How::NotBool),
            Key("showPassword", "", How::Ignore),
        ],
        required: &["username", "password"],
    },
    Type {
        name: "oauth1",
        keys: &[
            Key("consumerKey", "consumer_key", How::Secret),
            Key("consumerSecret", "consumer_secret", How::Secret),
            Key("token", "token", How::Secret),
            Key("tokenSecret", "token_secret", How::Secret),
            Key("signatureMethod", "signature_method", How::Str),
            Key("privateKey", "private_key", How::Secret),
            Key(
                "addParamsToHeader",
                "add_to",
                How::Pick("header", "query_or_body"),
            ),
            Key("callback", "callback", How::Str),
            Key("verifier", "verifier", How::Secret),
            Key("timestamp", "timestamp", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("version", "version", How::Str),
            Key("realm", "realm", How::Str),
            Key("includeBodyHash", "include_body_hash", How::Bool),
            Key("addEmptyParamsToSign", "add_empty_params", How::Bool),
            Key(
                "disableHeaderEncoding",
                "encode_header_params",
                How::NotBool,
            ),
        ],
        required: &["consumer_key"],
    },
    Type {
        name: "oauth2",
        keys: &[
            Key(
                "grant_type",
                "grant_type",
                How::Choice(&[
                    ("client_credentials", "client_credentials"),
                    ("password_credentials", "password"),
                    ("authorization_code", "authorization_code"),
                    ("authorization_code_with_pkce", "authorization_code_pkce"),
                    ("implicit", "implicit"),
                ]),
            ),
            Key("accessToken", "access_token", How::Secret),
            Key("accessTokenUrl", "access_token_url", How::Str),
            Key("authUrl", "auth_url", How::Str),
            Key("refreshTokenUrl", "refresh_token_url", How::Str),
            Key("redirect_uri", "callback_url", How::Str),
            Key("clientId", "client_id", How::Str),
            Key("clientSecret", "client_secret", How::Secret),
            Key(
                "client_authentication",
                "client_authentication",
                How::Choice(&[("header", "header"), ("body", "body")]),
            ),
            Key("scope", "scope", How::Str),
            Key("state", "state", How::Str),
            Key("audience", "audience", How::Str),
            Key("resource", "resource", How::Str),
            Key("username", "username", How::Str),
            Key("password", "password", How::Secret),
            Key("challengeAlgorithm", "code_challenge_method", How::Str),
            Key("code_verifier", "code_verifier", How::Secret),
            Key("headerPrefix", "header_prefix", How::Str),
            Key(
                "addTokenTo",
                "add_to",
                How::Choice(&[("header", "header"), ("queryParams", "query")]),
            ),
            Key("authRequestParams", "auth_request", How::Extra),
            Key("tokenRequestParams", "token_request", How::Extra),
            Key("refreshRequestParams", "refresh_request", How::Extra),
            Key("tokenName", "", How::Ignore),
            Key("tokenType", "", How::Ignore),
            Key("useBrowser", "", How::Ignore),
            Key("id", "", How::Ignore),
        ],
        required: &[],
    },
    Type {
        name: "hawk",
        keys: &[
            Key("authId", "auth_id", How::Str),
            Key("authKey", "auth_key", How::Secret),
            Key("algorithm", "algorithm", How::Str),
            Key("user", "user", How::Str),
            Key("nonce", "nonce", How::Str),
            Key("extraData", "ext", How::Str),
            Key("app", "app", How::Str),
            Key("delegation", "dlg", How::Str),
            Key("timestamp", "timestamp", How::Str),
            Key("includePayloadHash", "include_payload_hash", How::Bool),
        ],
        required: &["auth_id", "auth_key"],
    },
    Type {
        name: "awsv4",
        keys: &[
            Key("accessKey", "access_key", How::Secret),
            Key("secretKey", "secret_key", How::Secret),
            Key("sessionToken", "session_token", How::Secret),
            Key("region", "region", How::Str),
            Key("service", "service", How::Str),
            Key("addAuthDataToQuery", "add_to", How::Pick("query", "header")),
        ],
        required: &["access_key", "secret_key"],
    },
    Type {
        name: "edgegrid",
        keys: &[
            Key("accessToken", "access_token", How::Secret),
            Key("clientToken", "client_token", How::Secret),
            Key("clientSecret", "client_secret", How::Secret),
            Key("headersToSign", "headers_to_sign", How::List),
            Key("maxBodySize", "max_body", How::Int),
            Key("nonce", "nonce", How::Str),
            Key("timestamp", "timestamp", How::Str),
            // The host the rule is for already says where the credentials go.
            Key("baseURL", "", How::Ignore),
        ],
        required: &["access_token", "client_token", "client_secret"],
    },
    Type {
        name: "jwt",
        keys: &[
            Key("algorithm", "algorithm", How::Str),
            Key("secret", "secret", How::Secret),
            Key(
                "isSecretBase64Encoded",
                "is_secret_base64_encoded",
                How::Bool,
            ),
            Key("privateKey", "private_key", How::Secret),
            Key("payload", "payload", How::Str),
            Key("header", "header", How::Str),
            Key(
                "addTokenTo",
                "add_token_to",
                How::Choice(&[("header", "header"), ("queryParam", "query_param")]),
            ),
            Key("headerPrefix", "header_prefix", How::Str),
            Key("queryParamKey", "query_param_key", How::Str),
        ],
        required: &["algorithm"],
    },
    Type {
        name: "asap",
        keys: &[
            Key("alg", "alg", How::Str),
            Key("iss", "iss", How::Str),
            Key("aud", "aud", How::Str),
            Key("kid", "kid", How::Str),
            Key("sub", "sub", How::Str),
            Key("privateKey", "private_key", How::Secret),
            Key("claims", "claims", How::Str),
            Key("exp", "exp", How::Int),
        ],
        required: &["iss", "aud", "kid", "private_key"],
    },
];

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
