//! Tokens and token-endpoint answers, parsed leniently: servers differ in how they write
//! `expires_in` (number or string), `scope` (string or list) and whether they send `token_type`.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The longest lifetime signet takes from a token endpoint: a longer `expires_in` is cut to it.
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The latest expiry a token can have, 9999-12-31T23:59:59Z (the last second RFC 3339 can
/// write): a stored `expires_at` beyond it is read as it.
const LATEST_EXPIRY_SECS: u64 = 253_402_300_799;

/// A token set as issued by the authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, when the server issued one.
    pub refresh_token: Option<Secret>,
    /// The OpenID Connect ID token, when the server issued one.
    pub id_token: Option<Secret>,
    /// `token_type` as sent (often `Bearer`).
    pub token_type: Option<String>,
    /// When the access token stops being valid; `None` when the server did not say.
    pub expires_at: Option<SystemTime>,
    /// Granted scopes (the requested ones when the server did not list them).
    pub scopes: Vec<String>,
}

impl Token {
    /// Whether the access token is past its expiry at `now`, or within `skew` of it.
    pub fn expires_within(&self, now: SystemTime, skew: Duration) -> bool {
        expiry_within(self.expires_at, now, skew)
    }

    /// Whether the ID token's `exp` is past at `now`, or within `skew` of it. An ID token may
    /// expire long before the access token issued with it (Auth0: 10 hours against 24), and
    /// `expires_in` speaks only of the access token.
    pub fn id_token_expires_within(&self, now: SystemTime, skew: Duration) -> bool {
        expiry_within(self.id_token_expires_at(), now, skew)
    }

    /// The ID token's `exp` (OpenID Connect Core §2), read without checking the signature: it
    /// only says when to renew a token this client got from its own token endpoint. `None`
    /// when there is no ID token or it is not a JWT with a numeric `exp`.
    /// The ID token's `exp`, when there is an ID token and its payload states one.
    pub fn id_token_expires_at(&self) -> Option<SystemTime> {
        let payload = self.id_token.as_ref()?.expose().split('.').nth(1)?;
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let exp = claims
            .get("exp")?
            .as_f64()
            .filter(|e| e.is_finite() && *e >= 0.0)?;
        // `as` saturates; a fractional NumericDate loses its fraction.
        let secs = (exp as u64).min(LATEST_EXPIRY_SECS);
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }
}

fn expiry_within(expires_at: Option<SystemTime>, now: SystemTime, skew: Duration) -> bool {
    match expires_at {
        None => false,
        // Past the end of representable time, every expiry is within the margin.
        Some(at) => now.checked_add(skew).is_none_or(|edge| edge >= at),
    }
}

/// Why `token` cannot be sent as a credential. A token goes in a header or a URL, so it must be
/// one or more visible ASCII characters: RFC 6750's b64token, and the other visible characters
/// that real servers put in tokens (`|`, `:`, `%` and the like).
pub fn check_sendable(token: &str) -> Result<(), &'static str> {
    if token.is_empty() {
        return Err("is empty");
    }
    match token.bytes().find(|b| !b.is_ascii_graphic()) {
        None => Ok(()),
        Some(b' ' | b'\t') => Err("contains whitespace"),
        Some(b) if b.is_ascii_control() => Err("contains a control character"),
        Some(_) => Err("contains a non-ASCII character"),
    }
}

/// The token endpoint said no, or said something signet cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// An OAuth error answer (RFC 6749 §5.2).
    #[error("{}", oauth_error_text(.status, .error, .description))]
    OAuth {
        /// HTTP status of the answer.
        status: u16,
        /// The `error` code.
        error: String,
        /// `error_description`, when given.
        description: Option<String>,
    },
    /// The answer was not a token response.
    #[error("the token endpoint answered {status} without a usable token: {reason}")]
    Malformed {
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong.
        reason: String,
    },
    /// The endpoint could not be reached.
    #[error("the token endpoint is unreachable: {0}")]
    Unreachable(String),
}

fn oauth_error_text(status: &u16, error: &str, description: &Option<String>) -> String {
    match description {
        Some(d) => format!("the token endpoint answered {status}: {error}: {d}"),
        None => format!("the token endpoint answered {status}: {error}"),
    }
}

/// The fields of a token or error answer, each accepted in any shape servers are known to use.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    access_token: Option<Loose>,
    refresh_token: Option<Loose>,
    id_token: Option<Loose>,
    token_type: Option<Loose>,
    expires_in: Option<Loose>,
    scope: Option<Loose>,
    error: Option<Loose>,
    error_description: Option<Loose>,
}

/// A JSON value that may be a string, a number or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Number(f64),
    List(Vec<String>),
    Other(serde::de::IgnoredAny),
}

impl Loose {
    fn text(self) -> Option<String> {
        match self {
            Loose::Text(s) => Some(s),
            Loose::Number(n) => Some(n.to_string()),
            Loose::List(l) => Some(l.join(" ")),
            Loose::Other(_) => None,
        }
        .filter(|s| !s.is_empty())
    }

    /// `expires_in` as a lifetime: a number of seconds (or a string holding one) of at least 1,
    /// fractions dropped, cut to [`MAX_LIFETIME`].
    fn lifetime(self) -> Result<Duration, &'static str> {
        let n = match self {
            Loose::Number(n) => Some(n),
            Loose::Text(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 1.0 => {
                // In range of u64 after the cut, so the cast neither saturates nor wraps.
                Ok(Duration::from_secs(n.min(MAX_LIFETIME.as_secs_f64()) as u64))
            }
            Some(n) if n.is_finite() => Err("expires_in is below 1 second"),
            _ => Err("expires_in is not a number of seconds"),
        }
    }

    fn words(self) -> Vec<String> {
        match self {
            Loose::List(l) => l,
            other => other
                .text()
                .map(|s| {
                    s.split([' ', ','])
                        .filter(|w| !w.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Parses a token endpoint's answer received at `now`. `requested_scope` fills in the scopes
/// when the server leaves them out (RFC 6749 §5.1: then they equal the request's).
pub fn parse_token_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    now: SystemTime,
    requested_scope: Option<&str>,
) -> Result<Token, TokenError> {
    let raw = parse_raw(content_type, body).ok_or_else(|| TokenError::Malformed {
        status,
        reason: if body.is_empty() {
            "empty body".into()
        } else {
            "the body is neither JSON nor form-encoded".into()
        },
    })?;
    if let Some(error) = raw.error.and_then(Loose::text) {
        return Err(TokenError::OAuth {
            status,
            error,
            description: raw.error_description.and_then(Loose::text),
        });
    }
    if !(200..300).contains(&status) {
        return Err(TokenError::Malformed {
            status,
            reason: "no OAuth error code in the answer".into(),
        });
    }
    let malformed = |reason: String| TokenError::Malformed { status, reason };
    let access_token = raw
        .access_token
        .and_then(Loose::text)
        .ok_or_else(|| malformed("no access_token".into()))?;
    check_sendable(&access_token).map_err(|why| malformed(format!("the access_token {why}")))?;
    let id_token = raw.id_token.and_then(Loose::text);
    if let Some(id) = &id_token {
        check_sendable(id).map_err(|why| malformed(format!("the id_token {why}")))?;
    }
    // Absent: no stated expiry (the token is renewed when the API refuses it).
    let expires_at = match raw.expires_in {
        None => None,
        Some(loose) => {
            let lifetime = loose.lifetime().map_err(|why| malformed(why.into()))?;
            let at = now
                .checked_add(lifetime)
                .ok_or_else(|| malformed("expires_in is past the end of time".into()))?;
            Some(at)
        }
    };
    let mut scopes = raw.scope.map(Loose::words).unwrap_or_default();
    if scopes.is_empty()
        && let Some(requested) = requested_scope
    {
        scopes = requested.split_whitespace().map(str::to_owned).collect();
    }
    Ok(Token {
        access_token: Secret::new(access_token),
        refresh_token: raw.refresh_token.and_then(Loose::text).map(Secret::new),
        id_token: id_token.map(Secret::new),
        token_type: raw.token_type.and_then(Loose::text),
        expires_at,
        scopes,
    })
}

/// JSON first (what RFC 6749 requires); form encoding as some older servers send it.
fn parse_raw(content_type: Option<&str>, body: &[u8]) -> Option<Raw> {
    let form_first = content_type.is_some_and(|c| c.contains("x-www-form-urlencoded"));
    if !form_first && let Ok(raw) = serde_json::from_slice::<Raw>(body) {
        return Some(raw);
    }
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains('=') {
        return None;
    }
    let mut raw = Raw::default();
    for (k, v) in form_urlencoded::parse(text.trim().as_bytes()) {
        let v = Some(Loose::Text(v.into_owned()));
        match k.as_ref() {
            "access_token" => raw.access_token = v,
            "refresh_token" => raw.refresh_token = v,
            "id_token" => raw.id_token = v,
            "token_type" => raw.token_type = v,
            "expires_in" => raw.expires_in = v,
            "scope" => raw.scope = v,
            "error" => raw.error = v,
            "error_description" => raw.error_description = v,
            _ => {}
        }
    }
    Some(raw)
}

/// A token as kept in the store file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stored {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_type: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl From<&Token> for Stored {
    fn from(t: &Token) -> Self {
        Stored {
            access_token: t.access_token.expose().to_owned(),
            refresh_token: t.refresh_token.as_ref().map(|s| s.expose().to_owned()),
            id_token: t.id_token.as_ref().map(|s| s.expose().to_owned()),
            token_type: t.token_type.clone(),
            expires_at: t.expires_at.and_then(|at| {
                at.duration_since(SystemTime::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            }),
            scopes: t.scopes.clone(),
        }
    }
}

impl From<Stored> for Token {
    fn from(s: Stored) -> Self {
        Token {
            access_token: Secret::new(s.access_token),
            refresh_token: s.refresh_token.map(Secret::new),
            id_token: s.id_token.map(Secret::new),
            token_type: s.token_type,
            expires_at: s.expires_at.map(|secs| {
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs.min(LATEST_EXPIRY_SECS))
            }),
            scopes: s.scopes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn expires_in_as_a_string_and_scope_as_a_list() {
        let body = br#"{"access_token":"a","expires_in":"3600","scope":["read","write"]}"#;
        let t = parse_token_response(200, Some("application/json"), body, at(1000), None).unwrap();
        assert_eq!(t.expires_at, Some(at(4600)));
        assert_eq!(t.scopes, ["read", "write"]);
        assert_eq!(t.token_type, None);
        assert_eq!(t.access_token.expose(), "a");
    }

    #[test]
    fn missing_scope_means_the_requested_one() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":60.0}"#;
        let t = parse_token_response(200, None, body, at(0), Some("a b")).unwrap();
        assert_eq!(t.scopes, ["a", "b"]);
        assert_eq!(t.expires_at, Some(at(60)));
        assert_eq!(t.token_type.as_deref(), Some("bearer"));
    }

    #[test]
    fn form_encoded_answer() {
        let body = b"access_token=x%2By&scope=repo%2Cuser&token_type=bearer";
        let ct = Some("application/x-www-form-urlencoded");
        let t = parse_token_response(200, ct, body, at(0), None).unwrap();
        assert_eq!(t.access_token.expose(), "x+y");
        assert_eq!(t.scopes, ["repo", "user"]);
        assert_eq!(t.expires_at, None);
    }

    #[test]
    fn oauth_error_keeps_code_and_description() {
        let body = br#"{"error":"invalid_client","error_description":"bad secret"}"#;
        let e = parse_token_response(401, None, body, at(0), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the token endpoint answered 401: invalid_client: bad secret"
        );
    }

    #[test]
    fn html_error_page_is_malformed_not_a_panic() {
        let e = parse_token_response(502, Some("text/html"), b"<h1>Bad gateway</h1>", at(0), None)
            .unwrap_err();
        assert!(
            matches!(e, TokenError::Malformed { status: 502, .. }),
            "{e}"
        );
    }

    #[test]
    fn success_without_access_token_is_refused() {
        let e = parse_token_response(200, None, br#"{"token_type":"bearer"}"#, at(0), None)
            .unwrap_err();
        assert!(e.to_string().contains("no access_token"), "{e}");
    }

    fn expiry_of(expires_in: &str) -> Result<Option<SystemTime>, TokenError> {
        let body = format!(r#"{{"access_token":"a","expires_in":{expires_in}}}"#);
        parse_token_response(200, None, body.as_bytes(), at(1000), None).map(|t| t.expires_at)
    }

    #[test]
    fn an_absurd_expires_in_is_cut_to_ten_years() {
        let ten_years = 1000 + 315_360_000;
        assert_eq!(expiry_of("1e30"), Ok(Some(at(ten_years))));
        assert_eq!(expiry_of("18446744073709551615"), Ok(Some(at(ten_years))));
        assert_eq!(expiry_of(r#""1e30""#), Ok(Some(at(ten_years))));
    }

    #[test]
    fn an_expires_in_below_one_second_or_not_a_number_is_a_bad_answer() {
        for value in [
            "-5",
            "0",
            "0.5",
            r#""soon""#,
            r#""NaN""#,
            r#""inf""#,
            "[]",
            "{}",
        ] {
            match expiry_of(value) {
                Err(TokenError::Malformed {
                    status: 200,
                    reason,
                }) => {
                    assert!(reason.starts_with("expires_in is"), "{value}: {reason}")
                }
                other => panic!("expires_in {value} gave {other:?}"),
            }
        }
        // Absent, or null, means the server did not say.
        assert_eq!(expiry_of("null"), Ok(None));
        let t = parse_token_response(200, None, br#"{"access_token":"a"}"#, at(0), None);
        assert_eq!(t.map(|t| t.expires_at), Ok(None));
    }

    #[test]
    fn a_token_that_cannot_go_in_a_header_is_a_bad_answer() {
        let cases: [(&[u8], &str); 5] = [
            (
                br#"{"access_token":"abc\r\ndef"}"#,
                "the access_token contains a control character",
            ),
            (
                br#"{"access_token":"abc def"}"#,
                "the access_token contains whitespace",
            ),
            (
                br#"{"access_token":"abc\u00e9"}"#,
                "the access_token contains a non-ASCII character",
            ),
            (
                br#"{"access_token":"ok","id_token":"a\tb"}"#,
                "the id_token contains whitespace",
            ),
            (
                b"access_token=a%0Ab",
                "the access_token contains a control character",
            ),
        ];
        for (body, reason) in cases {
            let e = parse_token_response(200, None, body, at(0), None).unwrap_err();
            assert_eq!(
                e,
                TokenError::Malformed {
                    status: 200,
                    reason: reason.into()
                },
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // What real servers send: b64token, JWTs, and other visible characters.
        for token in ["mF_9.B5f-4.1JqM", "a.b.c==", "123|abc:def%2F!"] {
            let body = format!(r#"{{"access_token":"{token}"}}"#);
            let t = parse_token_response(200, None, body.as_bytes(), at(0), None).unwrap();
            assert_eq!(t.access_token.expose(), token);
        }
    }

    #[test]
    fn a_stored_expiry_past_the_year_9999_is_read_as_its_end() {
        let stored: Stored = serde_json::from_str(
            r#"{"access_token":"a","expires_at":18446744073709551615,"scopes":[]}"#,
        )
        .unwrap();
        // 9999-12-31T23:59:59Z.
        assert_eq!(Token::from(stored).expires_at, Some(at(253_402_300_799)));
    }

    #[test]
    fn expiry_checks_with_a_margin_past_the_end_of_time_do_not_overflow() {
        let token = Token {
            expires_at: Some(at(2000)),
            ..parse_token_response(200, None, br#"{"access_token":"a"}"#, at(0), None).unwrap()
        };
        assert!(token.expires_within(at(1000), Duration::MAX));
        assert!(!token.expires_within(at(1000), Duration::from_secs(999)));
        assert!(token.expires_within(at(1000), Duration::from_secs(1000)));
    }

    #[test]
    fn the_id_token_expiry_is_its_exp_claim() {
        let with_id = |id: &str| Token {
            id_token: Some(Secret::new(id.to_owned())),
            ..parse_token_response(200, None, br#"{"access_token":"a"}"#, at(0), None).unwrap()
        };
        // Claims as in OpenID Connect Core's examples: {"iss": "http://server.example.com",
        // "sub": "248289761001", "aud": "s6BhdRkqt3", "nonce": "n-0S6_WzA2Mj",
        // "exp": 1311281970, "iat": 1311280970}.
        let core = with_id(
            "eyJraWQiOiIxZTlnZGs3IiwiYWxnIjoiUlMyNTYifQ.ewogImlzcyI6ICJodHRwOi8vc2VydmVyLmV4YW1w\
             bGUuY29tIiwKICJzdWIiOiAiMjQ4Mjg5NzYxMDAxIiwKICJhdWQiOiAiczZCaGRSa3F0MyIsCiAibm9uY2Ui\
             OiAibi0wUzZfV3pBMk1qIiwKICJleHAiOiAxMzExMjgxOTcwLAogImlhdCI6IDEzMTEyODA5NzAKfQ.sig",
        );
        assert!(!core.id_token_expires_within(at(1_311_281_969), Duration::ZERO));
        assert!(core.id_token_expires_within(at(1_311_281_970), Duration::ZERO));
        assert!(core.id_token_expires_within(at(1_311_281_960), Duration::from_secs(10)));
        // Not a JWT, or no numeric exp: no stated expiry.
        for id in [
            "opaque",
            "a.%%%.c",
            "a.eyJleHAiOiJzb29uIn0.c",
            "a.eyJzdWIiOiJ4In0.c",
        ] {
            assert!(
                !with_id(id).id_token_expires_within(at(u32::MAX.into()), Duration::ZERO),
                "{id}"
            );
        }
    }

    #[test]
    fn debug_hides_the_secrets() {
        let body = br#"{"access_token":"topsecret","refresh_token":"alsosecret"}"#;
        let t = parse_token_response(200, None, body, at(0), None).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("alsosecret"));
    }
}
