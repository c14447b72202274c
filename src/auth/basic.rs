//! `basic`: HTTP Basic (RFC 7617), user and password as UTF-8.

use http::HeaderValue;
use http::header::AUTHORIZATION;
use serde::Deserialize;

use crate::secret::Secret;
use bytes::Bytes;

use super::{AuthError, BuildError, SignContext, SyncSigner};

/// `type = "basic"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// Adds `Authorization: Basic …`.
#[derive(Debug)]
pub struct Basic {
    username: String,
    header: HeaderValue,
}

impl SyncSigner for Basic {
    type Config = BasicConfig;

    /// Builds the header once; RFC 7617 forbids a colon in the user name.
    fn new(cfg: BasicConfig) -> Result<Self, BuildError> {
        if cfg.username.contains(':') {
            return Err(BuildError::at(
                "username",
                "a Basic user name cannot contain ':'",
            ));
        }
        let header = basic_header(&cfg.username, cfg.password.expose());
        Ok(Basic {
            username: cfg.username,
            header,
        })
    }

    /// Replaces any client `Authorization` header.
    fn sign(
        &self,
        req: &mut http::request::Parts,
        _body: Option<&mut Bytes>,
        _cx: &SignContext<'_>,
    ) -> Result<(), AuthError> {
        req.headers.insert(AUTHORIZATION, self.header.clone());
        Ok(())
    }

    /// One line for `explain`, without the password.
    fn describe(&self) -> String {
        format!("basic username={}", self.username)
    }
}

/// `Basic base64(user:password)`, marked sensitive so that it is never logged by hyper.
pub fn basic_header(username: &str, password: &str) -> HeaderValue {
    super::mac::base64_header("Basic", format!("{username}:{password}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7617 / RFC 2617 examples from the shared vectors.
    #[test]
    fn matches_published_vectors() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/http-basic/basic-vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("vectors present");
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut checked = 0;
        for case in doc["cases"].as_array().expect("cases array") {
            // signet always encodes as UTF-8 (RFC 7617 2.1); the Latin-1 case shows the contrast.
            if case["charset"] == "ISO-8859-1" {
                continue;
            }
            let user = case["user_id"].as_str().unwrap();
            let password = case["password"].as_str().unwrap();
            assert_eq!(
                basic_header(user, password).to_str().unwrap(),
                case["authorization"].as_str().unwrap(),
                "case {}",
                case["name"]
            );
            checked += 1;
        }
        assert_eq!(checked, 4, "every UTF-8 basic vector is checked");
    }

    #[test]
    fn replaces_client_authorization() {
        let basic = Basic::new(BasicConfig {
            username: "Aladdin".into(),
            password: Secret::new("open sesame"),
        })
        .unwrap();
        let (mut parts, ()) = http::Request::builder()
            .header(AUTHORIZATION, "Bearer client")
            .body(())
            .unwrap()
            .into_parts();
        basic
            .sign(&mut parts, None, &SignContext::system())
            .unwrap();
        let values: Vec<_> = parts.headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(values, ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]);
    }

    #[test]
    fn colon_in_username_is_refused() {
        let err = Basic::new(BasicConfig {
            username: "a:b".into(),
            password: Secret::new("x"),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("username"));
    }
}
