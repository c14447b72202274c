//! STS AssumeRole, signed with signet's own SigV4 signer (service `sts`) and sent through the
//! dialer, so that the parent proxy and its credentials apply as for proxied requests. The
//! endpoint is the one the AWS SDKs pick: `sts_endpoint` of the rule, else
//! `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL` (both ignored when
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`), else `https://sts.REGION.amazonaws.com`, or the
//! global `https://sts.amazonaws.com` without a region.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Request};

use super::Env;
use super::process::parse_time;
use super::profile::Role;
use super::xml;
use crate::auth::awsv4::{AwsV4, AwsV4Config};
use crate::auth::{AwsCredentials, OsEntropy, SignContext};
use crate::net::Dialer;
use crate::net::buffered::BufferedClient;
use crate::secret::Secret;

/// The region AWS's global STS endpoint signs for.
const GLOBAL_REGION: &str = "us-east-1";

/// Why STS gave no credentials. Never carries one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// No answer (connection, TLS, timeout).
    #[error("STS at {endpoint} unreachable: {reason}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// STS refused (its error code and message).
    #[error("STS refused AssumeRole of {role} ({status}): {code}: {message}")]
    Refused {
        /// The role.
        role: String,
        /// The HTTP status.
        status: u16,
        /// STS's error code.
        code: String,
        /// STS's message.
        message: String,
    },
    /// The answer is not an AssumeRole answer.
    #[error("STS answered AssumeRole of {role} with {reason}")]
    Answer {
        /// The role.
        role: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request cannot be made (bad endpoint, unsignable).
    #[error("{0}")]
    Request(String),
}

/// Where AssumeRole goes and the region it is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL posted to.
    pub url: String,
    /// The SigV4 region.
    pub region: String,
}

impl Endpoint {
    /// The endpoint the AWS SDKs would use for `region` under `env`, unless `configured`.
    pub fn resolve(
        configured: Option<&str>,
        region: Option<&str>,
        env: &Env,
    ) -> Result<Endpoint, String> {
        let ignore_env = env
            .get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let from_env = || {
            ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|var| env.get(var).filter(|v| !v.is_empty()).map(|v| (*var, v)))
        };
        let chosen = match configured {
            Some(url) => Some(("sts_endpoint", url.to_owned())),
            None if !ignore_env => from_env(),
            None => None,
        };
        if let Some((from, url)) = chosen {
            let parsed = url::Url::parse(&url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| format!("{from} {url:?} is not an http(s) URL"))?;
            return Ok(Endpoint {
                url: parsed.to_string(),
                region: region.unwrap_or(GLOBAL_REGION).to_owned(),
            });
        }
        Ok(Endpoint::regional(region))
    }

    /// AWS's own endpoint for `region`, or the global one.
    pub fn regional(region: Option<&str>) -> Endpoint {
        let url = match region {
            None => "https://sts.amazonaws.com/".to_owned(),
            Some(r) if r.starts_with("cn-") => format!("https://sts.{r}.amazonaws.com.cn/"),
            Some(r) => format!("https://sts.{r}.amazonaws.com/"),
        };
        Endpoint {
            url,
            region: region.unwrap_or(GLOBAL_REGION).to_owned(),
        }
    }
}

/// Asks STS for temporary credentials.
#[derive(Clone, Debug)]
pub struct StsClient {
    /// Times out after the profile's timeout, connection included.
    inner: BufferedClient,
}

impl StsClient {
    /// A client that connects with `dialer` and gives up on a request after `timeout`.
    pub fn new(dialer: Dialer, timeout: Duration) -> Self {
        StsClient {
            inner: BufferedClient::new(dialer, timeout),
        }
    }

    /// Assumes `role` with `source` credentials at `endpoint`, the session named
    /// `session_name`, signed at `now`.
    pub async fn assume_role(
        &self,
        endpoint: &Endpoint,
        role: &Role,
        session_name: &str,
        source: &AwsCredentials,
        now: SystemTime,
    ) -> Result<AwsCredentials, StsError> {
        let request = signed_request(endpoint, role, session_name, source, now)?;
        let (parts, body) = self
            .inner
            .exchange(request, xml::MAX_DOCUMENT)
            .await
            .map_err(|e| StsError::Unreachable {
                endpoint: endpoint.url.clone(),
                reason: e.to_string(),
            })?;
        parse_answer(parts.status.as_u16(), &body, &role.arn)
    }
}

/// The AssumeRole form, signed.
fn signed_request(
    endpoint: &Endpoint,
    role: &Role,
    session_name: &str,
    source: &AwsCredentials,
    now: SystemTime,
) -> Result<Request<Bytes>, StsError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", "AssumeRole")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", &role.arn)
        .append_pair("RoleSessionName", session_name);
    if let Some(id) = &role.external_id {
        form.append_pair("ExternalId", id.expose());
    }
    if let Some(seconds) = role.duration_seconds {
        form.append_pair("DurationSeconds", &seconds.to_string());
    }
    let mut body = Bytes::from(form.finish());
    let bad = |e: &dyn std::fmt::Display| StsError::Request(format!("AssumeRole request: {e}"));
    let uri: http::Uri = endpoint.url.parse().map_err(|e| bad(&e))?;
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let (mut parts, ()) = Request::post(uri)
        .header(HOST, HeaderValue::from_str(&host).map_err(|e| bad(&e))?)
        .header(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(())
        .map_err(|e| bad(&e))?
        .into_parts();
    let signer = AwsV4::new(AwsV4Config {
        access_key: Some(source.access_key.clone()),
        secret_key: Some(source.secret_key.clone()),
        session_token: source.session_token.clone(),
        region: Some(endpoint.region.clone()),
        service: Some("sts".into()),
        ..AwsV4Config::default()
    })
    .map_err(|e| bad(&e))?;
    let cx = SignContext {
        now,
        fixed_nonce: None,
        entropy: &OsEntropy,
    };
    signer
        .sign(&mut parts, Some(&mut body), &cx)
        .map_err(|e| bad(&e))?;
    for value in parts.headers.values_mut() {
        value.set_sensitive(true);
    }
    Ok(Request::from_parts(parts, body))
}

/// The credentials of an AssumeRole answer, or STS's error.
pub fn parse_answer(status: u16, body: &[u8], role: &str) -> Result<AwsCredentials, StsError> {
    let answer = |reason: &str| StsError::Answer {
        role: role.to_owned(),
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(body).map_err(|_| answer("a body that is not UTF-8"))?;
    let texts = xml::texts(text);
    if !(200..300).contains(&status) {
        let texts = texts.unwrap_or_default();
        let code = xml::find_named(&texts, "Code").unwrap_or_else(|| "(no code)".into());
        let message: String = xml::find_named(&texts, "Message")
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        return Err(StsError::Refused {
            role: role.to_owned(),
            status,
            code,
            message,
        });
    }
    let texts = texts.map_err(|e| answer(&e.to_string()))?;
    let field = |name: &str| {
        let path = [
            "AssumeRoleResponse",
            "AssumeRoleResult",
            "Credentials",
            name,
        ];
        xml::find(&texts, &path)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| answer(&format!("no Credentials/{name}")))
    };
    let expiration = field("Expiration")?;
    let expires_at =
        parse_time(&expiration).ok_or_else(|| answer("an Expiration that is not a time"))?;
    Ok(AwsCredentials {
        access_key: Secret::new(field("AccessKeyId")?),
        secret_key: Secret::new(field("SecretAccessKey")?),
        session_token: Some(Secret::new(field("SessionToken")?)),
        expires_at: Some(expires_at),
    })
}

#[cfg(test)]
#[path = "sts_tests.rs"]
mod tests;
