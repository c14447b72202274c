//! Requests to the authorization server: token requests for each grant, refresh requests and
//! the authorization URL for browser grants, with client authentication and extra parameters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::settings::{Extra, Grant, SendIn, Settings};
use crate::auth::oauth2::ClientAuthentication;

/// A form POST to a token endpoint. Its `Debug` leaves out every value.
pub struct TokenRequest {
    /// The endpoint, query included.
    pub url: String,
    /// Form parameters in order.
    pub form: Vec<(String, String)>,
    /// Extra headers (client authentication, extra parameters).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.form.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TokenRequest")
            .field("form_keys", &keys)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    /// The form body, `application/x-www-form-urlencoded`.
    pub fn body(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.form {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

/// What a token request asks for.
pub enum Ask<'a> {
    /// The profile's own non-interactive grant (client credentials, password).
    Grant,
    /// A code from the authorization redirect.
    Code {
        /// The code.
        code: &'a str,
        /// The redirect URI used in the authorization request.
        redirect_uri: &'a str,
        /// The PKCE verifier, for `authorization_code_pkce`.
        verifier: Option<&'a str>,
    },
    /// A refresh.
    Refresh(&'a str),
}

/// Builds the token or refresh request for `ask`. `None` when the profile has no endpoint for it.
pub fn token_request(s: &Settings, ask: Ask<'_>) -> Option<TokenRequest> {
    let refresh = matches!(ask, Ask::Refresh(_));
    let endpoint = if refresh {
        s.refresh_endpoint()?
    } else {
        s.token_url.as_deref()?
    };
    let mut form: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| form.push((k.to_owned(), v.to_owned()));
    match ask {
        Ask::Refresh(token) => {
            push("grant_type", "refresh_token");
            push("refresh_token", token);
        }
        Ask::Code {
            code,
            redirect_uri,
            verifier,
        } => {
            push("grant_type", "authorization_code");
            push("code", code);
            push("redirect_uri", redirect_uri);
            if let Some(v) = verifier {
                push("code_verifier", v);
            }
        }
        Ask::Grant => match &s.grant {
            Grant::Password { username, password } => {
                push("grant_type", "password");
                push("username", username);
                push("password", password.expose());
            }
            _ => push("grant_type", "client_credentials"),
        },
    }
    // RFC 6749 §6: a refresh may narrow the scope but need not repeat it; leaving it out keeps
    // the originally granted scope.
    if !refresh
        && !matches!(ask, Ask::Code { .. })
        && let Some(scope) = &s.scope
    {
        push("scope", scope);
    }
    // A refresh repeats the target (RFC 8707 §2.2): without it the server picks one by its own
    // policy, and oidc-provider, for an `openid` scope, then issues a token for its userinfo
    // endpoint instead of the API. Servers that know no `audience` ignore it (RFC 6749 §3.2).
    if let Some(a) = &s.audience {
        push("audience", a);
    }
    if let Some(r) = &s.resource {
        push("resource", r);
    }
    let mut headers = Vec::new();
    if let Some(id) = &s.client_id {
        match (&s.client_secret, s.client_auth) {
            (Some(secret), ClientAuthentication::Header) => {
                headers.push(("authorization".to_owned(), basic(id, secret.expose())));
            }
            (Some(secret), ClientAuthentication::Body) => {
                push("client_id", id);
                push("client_secret", secret.expose());
            }
            // A public client identifies itself in the body (RFC 6749 §3.2.1).
            (None, _) => push("client_id", id),
        }
    }
    let extras = if refresh {
        &s.refresh_extra
    } else {
        &s.token_extra
    };
    let mut url = endpoint.to_owned();
    for e in extras {
        match e.send_in {
            SendIn::Body => push(&e.key, e.value.expose()),
            SendIn::Url => append_query(&mut url, &e.key, e.value.expose()),
            SendIn::Header => headers.push((e.key.clone(), e.value.expose().to_owned())),
        }
    }
    Some(TokenRequest { url, form, headers })
}

/// HTTP Basic with id and secret form-encoded first (RFC 6749 §2.3.1).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn append_query(url: &mut String, key: &str, value: &str) {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b.to_owned(), Some(f.to_owned())),
        None => (url.clone(), None),
    };
    let mut out = base;
    out.push(if out.contains('?') { '&' } else { '?' });
    out.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair(key, value)
            .finish(),
    );
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&f);
    }
    *url = out;
}

/// The authorization request URL for a browser grant.
pub fn authorization_url(
    s: &Settings,
    redirect_uri: &str,
    state: &str,
    challenge: Option<(&str, &str)>,
) -> Option<String> {
    let mut url = s.auth_url.clone()?;
    let implicit = s.grant == Grant::Implicit;
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", if implicit { "token" } else { "code" }),
        ("client_id", s.client_id.as_deref().unwrap_or_default()),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(scope) = &s.scope {
        params.push(("scope", scope));
    }
    params.push(("state", state));
    if let Some((challenge, method)) = challenge {
        params.push(("code_challenge", challenge));
        params.push(("code_challenge_method", method));
    }
    if let Some(a) = &s.audience {
        params.push(("audience", a));
    }
    if let Some(r) = &s.resource {
        params.push(("resource", r));
    }
    for (k, v) in params {
        append_query(&mut url, k, v);
    }
    for Extra { key, value, .. } in &s.auth_extra {
        append_query(&mut url, key, value.expose());
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::oauth2::OAuth2Config;

    fn settings(toml: &str) -> Settings {
        let cfg: OAuth2Config = toml::from_str(toml).unwrap();
        Settings::new(&cfg, "p", std::path::Path::new("/tmp")).unwrap()
    }

    fn form(req: &TokenRequest) -> Vec<(&str, &str)> {
        req.form
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn basic_client_authentication_form_encodes_id_and_secret() {
        let s = settings(
            r#"grant_type = "client_credentials"
               access_token_url = "https://as/token"
               client_id = "a b"
               client_secret = "p:w%d"
               scope = "read write""#,
        );
        let req = token_request(&s, Ask::Grant).unwrap();
        // RFC 6749 §2.3.1: "a b" -> "a+b", "p:w%d" -> "p%3Aw%25d", then Basic.
        let expected = format!("Basic {}", STANDARD.encode("a+b:p%3Aw%25d"));
        assert_eq!(req.headers, [("authorization".to_owned(), expected)]);
        assert_eq!(
            form(&req),
            [
                ("grant_type", "client_credentials"),
                ("scope", "read write")
            ]
        );
        assert_eq!(req.body(), "grant_type=client_credentials&scope=read+write");
    }

    #[test]
    fn body_client_authentication_and_extras_in_every_place() {
        let s = settings(
            r#"grant_type = "password"
               access_token_url = "https://as/token?x=1"
               client_id = "cid"
               client_secret = "sec"
               client_authentication = "body"
               username = "u"
               password = "pw"
               audience = "api"
               resource = "https://api/"
               token_request = [
                 { key = "b", value = "1" },
                 { key = "q", value = "2", send_in = "url" },
                 { key = "x-h", value = "3", send_in = "header" },
               ]
               refresh_request = [{ key = "r", value = "4" }]"#,
        );
        let req = token_request(&s, Ask::Grant).unwrap();
        assert_eq!(req.url, "https://as/token?x=1&q=2");
        assert_eq!(req.headers, [("x-h".to_owned(), "3".to_owned())]);
        assert_eq!(
            form(&req),
            [
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "pw"),
                ("audience", "api"),
                ("resource", "https://api/"),
                ("client_id", "cid"),
                ("client_secret", "sec"),
                ("b", "1"),
            ]
        );
        let refresh = token_request(&s, Ask::Refresh("rt")).unwrap();
        assert_eq!(
            form(&refresh),
            [
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt"),
                ("audience", "api"),
                ("resource", "https://api/"),
                ("client_id", "cid"),
                ("client_secret", "sec"),
                ("r", "4"),
            ]
        );
    }

    #[test]
    fn code_exchange_names_the_target_but_not_the_scope() {
        let s = settings(
            r#"grant_type = "authorization_code_pkce"
               access_token_url = "https://as/token"
               auth_url = "https://as/auth"
               client_id = "cid"
               scope = "openid"
               audience = "api"
               resource = "https://api/""#,
        );
        let ask = Ask::Code {
            code: "c",
            redirect_uri: "http://127.0.0.1:9/cb",
            verifier: Some("v"),
        };
        assert_eq!(
            token_request(&s, ask).unwrap().body(),
            "grant_type=authorization_code&code=c&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
             &code_verifier=v&audience=api&resource=https%3A%2F%2Fapi%2F&client_id=cid"
        );
    }

    #[test]
    fn authorization_url_carries_pkce_state_and_extras() {
        let s = settings(
            r#"grant_type = "authorization_code_pkce"
               access_token_url = "https://as/token"
               auth_url = "https://as/auth"
               client_id = "cid"
               scope = "openid email"
               auth_request = [{ key = "prompt", value = "consent" }]"#,
        );
        let url =
            authorization_url(&s, "http://127.0.0.1:9/cb", "st", Some(("ch", "S256"))).unwrap();
        assert_eq!(
            url,
            "https://as/auth?response_type=code&client_id=cid&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
             &scope=openid+email&state=st&code_challenge=ch&code_challenge_method=S256&prompt=consent"
        );
    }

    #[test]
    fn debug_shows_no_values() {
        let s = settings(
            r#"grant_type = "password"
               access_token_url = "https://as/token"
               client_id = "cid"
               username = "u"
               password = "hunter2""#,
        );
        let req = token_request(&s, Ask::Grant).unwrap();
        assert!(!format!("{req:?}").contains("hunter2"));
    }
}
