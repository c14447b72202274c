//! AWS Signature Version 4 (`type = "awsv4"`), in the `Authorization` header or as a presigned
//! query string.
//!
//! Region and service come, in this order, from the config's `region`/`service` keys, from the
//! credential scope of a SigV4 `Authorization` header (or `X-Amz-Credential` parameter) that the
//! client signed itself with a placeholder key, and from the host name; the region falls back to
//! `us-east-1`. So a tool that insists on signing can be pointed at signet with dummy keys and
//! signet re-signs with the real ones for the region and service the tool chose.
//!
//! S3 (and its variants) is signed by S3's rules: the path is neither normalised nor encoded
//! twice, `x-amz-content-sha256` is always sent, and a body too large to buffer (or a presigned
//! URL) is signed as `UNSIGNED-PAYLOAD`. Every other service needs the body's SHA-256.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HOST, HeaderName, HeaderValue};
use http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, BodyNeed, BuildError, SignContext};
use credentials::{AwsCredentials, CredentialsProvider};
use crate::secret::Secret;

#[path = "awsv4_credentials.rs"]
pub mod credentials;
#[path = "awsv4_scope.rs"]
mod scope;
#[path = "awsv4_canonical.rs"]
mod canonical;
pub(crate) use canonical::{canonical_uri, hex, hmac, query_pairs, signing_key, uri_encode};
use canonical::{amz_date, canonical_headers, canonical_query};

#[path = "awsv4_chunked.rs"]
pub mod chunked;

#[cfg(test)]
#[path = "awsv4_vectors.rs"]
mod vectors;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SigV4 presigned URLs are valid for at most seven days.
const MAX_EXPIRES: u64 = 7 * 24 * 3600;
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
/// Query parameters of a presigned request; a client's own are dropped before signing.
const QUERY_AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];
/// Headers left out of the signature because hops may add, drop or rewrite them.
const UNSIGNED_HEADERS: [&str; 12] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Where the signature goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddTo {
    /// `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`, `X-Amz-Content-Sha256`) headers.
    #[default]
    Header,
    /// A presigned query string (`X-Amz-Algorithm` … `X-Amz-Signature`).
    Query,
}

/// The `awsv4` auth table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsV4Config {
    /// Access key id (`AKIA…`); with `secret_key`, unless `profile` names the credentials.
    #[serde(default)]
    pub access_key: Option<Secret>,
    /// Secret access key.
    #[serde(default)]
    pub secret_key: Option<Secret>,
    /// Session token of temporary credentials; sent as `X-Amz-Security-Token` and signed.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// A profile of the AWS shared config and credentials files, read as the AWS CLI reads it.
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume through STS, with the table's (or the profile's) credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The session name of `role_arn`'s sessions (default `signet-<unix time>`).
    #[serde(default)]
    pub role_session_name: Option<String>,
    /// The external id the role's trust policy asks for.
    #[serde(default)]
    pub external_id: Option<Secret>,
    /// The STS endpoint for AssumeRole, instead of the one the AWS SDKs would pick.
    #[serde(default)]
    pub sts_endpoint: Option<String>,
    /// Signing region; when absent, the client's own SigV4 scope, then the host, then `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Signing service (`s3`, `sqs`, `execute-api`…); when absent, the client's scope, then the host.
    #[serde(default)]
    pub service: Option<String>,
    /// `header` (default) or `query` (a presigned URL).
    #[serde(default)]
    pub add_to: AddTo,
    /// Lifetime of a presigned URL in seconds (`X-Amz-Expires`, `add_to = "query"` only):
    /// default 3600, at most 604800 (seven days).
    #[serde(default = "default_expires")]
    pub expires: u64,
}

fn default_expires() -> u64 {
    3600
}

/// A ready SigV4 signer.
#[derive(Debug)]
pub struct AwsV4 {
    cfg: AwsV4Config,
    /// Where the keys come from at sign time.
    credentials: Arc<dyn CredentialsProvider>,
}

/// Everything one signature depends on besides the request.
pub(crate) struct Params<'a> {
    /// Access key id.
    pub access_key: &'a str,
    /// Secret access key.
    pub secret_key: &'a str,
    /// Session token, sent as `X-Amz-Security-Token`.
    pub session_token: Option<&'a str>,
    /// False only to reproduce services that want the token added after signing.
    pub sign_token: bool,
    /// Signing region.
    pub region: &'a str,
    /// Signing service.
    pub service: &'a str,
    /// Signing time (`X-Amz-Date`).
    pub time: SystemTime,
    /// Normalise the path and encode it a second time (every service but S3).
    pub normalize: bool,
    /// Send and sign `x-amz-content-sha256` (header form only).
    pub content_sha256_header: bool,
    /// `None` for the header form, `Some(expires)` for a presigned query.
    pub presign_expires: Option<u64>,
    /// Hex SHA-256 of the body, `UNSIGNED-PAYLOAD` or a streaming marker.
    pub payload_hash: String,
}

/// What a signing produced: the vector tests compare each step, and `signet sign` may show them.
#[derive(Debug)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Signed {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The hex signature.
    pub signature: String,
}

impl AwsV4 {
    /// Validates the config; the keys come from `credentials` at sign time.
    pub fn with_credentials(
        cfg: AwsV4Config,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Self, BuildError> {
        if !(1..=MAX_EXPIRES).contains(&cfg.expires) {
            return Err(BuildError::at(
                "expires",
                format!("`expires` must be between 1 and {MAX_EXPIRES} seconds"),
            ));
        }
        let aws_name = |v: &str| {
            let chars = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            !v.is_empty() && v.bytes().all(chars)
        };
        for (key, value) in [("region", &cfg.region), ("service", &cfg.service)] {
            if let Some(v) = value.as_deref().filter(|v| !aws_name(v)) {
                return Err(BuildError::at(
                    key,
                    format!("`{key}` is not an AWS name: {v:?}"),
                ));
            }
        }
        Ok(AwsV4 { cfg, credentials })
    }

    /// S3 can sign without the body (`UNSIGNED-PAYLOAD`); presigned S3 URLs never cover it;
    /// every other service needs its hash.
    pub fn body_need(&self, req: &Parts) -> BodyNeed {
        if let Ok(Some(_)) = chunked::Payload::of(req) {
            return BodyNeed::Preferred;
        }
        match scope::resolve(self.cfg.region.as_deref(), self.cfg.service.as_deref(), req) {
            Ok((_, service)) if is_s3(&service) => match self.cfg.add_to {
                AddTo::Query => BodyNeed::None,
                AddTo::Header => BodyNeed::Preferred,
            },
            _ => BodyNeed::Required,
        }
    }

    /// Signs `req` in place with `credentials`.
    pub(crate) fn sign_with(
        &self,
        req: &mut Parts,
        body: Option<&mut bytes::Bytes>,
        cx: &SignContext,
        credentials: &AwsCredentials,
    ) -> Result<(), AuthError> {
        let (region, service) =
            scope::resolve(self.cfg.region.as_deref(), self.cfg.service.as_deref(), req)?;
        let s3 = is_s3(&service);
        let streaming = chunked::Payload::of(req)?;
        let payload_hash = match (streaming, &body, s3, self.cfg.add_to) {
            (Some(_), _, _, AddTo::Query) => {
                return Err(AuthError::Unsignable(
                    "an aws-chunked upload cannot be presigned; use add_to = \"header\"".into(),
                ));
            }
            (Some(streaming), ..) => streaming.marker().to_owned(),
            (None, _, true, AddTo::Query) => UNSIGNED_PAYLOAD.to_owned(),
            (None, Some(b), _, _) => hex(&Sha256::digest(b)),
            (None, None, true, _) => UNSIGNED_PAYLOAD.to_owned(),
            (None, None, false, _) => {
                return Err(AuthError::Unsignable(format!(
                    "service {service} needs the SHA-256 of the whole body, which is \
                     streamed or larger than the buffer limit; only s3 accepts UNSIGNED-PAYLOAD"
                )));
            }
        };
        let client_hash_header = req.headers.contains_key(X_AMZ_CONTENT_SHA256);
        let params = Params {
            access_key: credentials.access_key.expose(),
            secret_key: credentials.secret_key.expose(),
            session_token: credentials.session_token.as_ref().map(Secret::expose),
            sign_token: true,
            region: &region,
            service: &service,
            time: cx.now,
            normalize: !s3,
            content_sha256_header: s3 || client_hash_header,
            presign_expires: (self.cfg.add_to == AddTo::Query).then_some(self.cfg.expires),
            payload_hash,
        };
        let path = req.uri.path().to_owned();
        if let Some(streaming) = streaming {
            chunked::prepare_head(req, streaming)?;
        }
        let signed = sign_parts(req, path.as_bytes(), &params)?;
        if super::SignedDetail::wanted(req) {
            let token = params.session_token.unwrap_or_default();
            let in_query = uri_encode(token.as_bytes(), false, false);
            let secrets = [token, in_query.as_str()];
            let detail = &signed;
            super::SignedDetail::record(
                req,
                "canonical request",
                detail.canonical_request.clone(),
                &secrets,
            );
            super::SignedDetail::record(req, "string to sign", detail.string_to_sign.clone(), &[]);
        }
        if let Some(streaming) = streaming {
            let rewrite = chunked::body_rewrite(req, streaming, &params, &signed.signature)?;
            req.extensions.insert(super::BodyRewrite::new(rewrite));
        }
        Ok(())
    }

    /// One line for `signet explain`/`check`.
    pub fn describe(&self) -> String {
        let auto = "(from request or host)";
        let region = self.cfg.region.as_deref().unwrap_or(auto);
        let service = self.cfg.service.as_deref().unwrap_or(auto);
        let mut out = format!("awsv4 region={region} service={service} add_to=");
        match self.cfg.add_to {
            AddTo::Header => out.push_str("header"),
            AddTo::Query => out.push_str(&format!("query expires={}s", self.cfg.expires)),
        }
        if self.cfg.session_token.is_some() {
            out.push_str(" session_token=set");
        }
        let source = self.credentials.describe();
        if !source.is_empty() {
            out.push(' ');
            out.push_str(&source);
        }
        out
    }
}

/// S3 and the services that share its signing rules.
fn is_s3(service: &str) -> bool {
    matches!(
        service,
        "s3" | "s3-object-lambda" | "s3-outposts" | "s3express"
    )
}

/// Signs `req`; `path` is the path exactly as it goes on the wire (normally `req.uri.path()`).
pub(crate) fn sign_parts(req: &mut Parts, path: &[u8], p: &Params) -> Result<Signed, AuthError> {
    let amz_date = amz_date(p.time)?;
    let scope = format!("{}/{}/{}/aws4_request", &amz_date[..8], p.region, p.service);

    reset_headers(req)?;
    let mut query = client_query(req);
    // S3 signs the path as sent; sending it in canonical form makes "as sent" unambiguous.
    let wire_path = if p.normalize {
        None
    } else {
        Some(canonical_uri(path, false))
    };

    let token_header = p.session_token.filter(|_| p.presign_expires.is_none());
    if p.presign_expires.is_none() {
        put(req, X_AMZ_DATE, &amz_date)?;
        if p.content_sha256_header {
            put(req, X_AMZ_CONTENT_SHA256, &p.payload_hash)?;
        }
        if let (Some(token), true) = (token_header, p.sign_token) {
            put(req, X_AMZ_SECURITY_TOKEN, token)?;
        }
    }

    let headers = canonical_headers(req);
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");

    let late_params = match p.presign_expires {
        Some(expires) => presign_params(&mut query, p, &scope, &amz_date, expires, &signed_headers),
        None => String::new(),
    };
    let creq = canonical_request(&req.method, path, p, &query, &headers, &signed_headers);

    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(&creq))
    );
    let key = signing_key(p.secret_key, &amz_date[..8], p.region, p.service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));

    if p.presign_expires.is_some() {
        if !late_params.is_empty() {
            query.push('&');
            query.push_str(&late_params);
        }
        let _ = write!(query, "&X-Amz-Signature={signature}");
        set_path_and_query(req, wire_path.as_deref(), &query)?;
    } else {
        let same_path = wire_path.as_deref().is_none_or(|w| w == req.uri.path());
        if !same_path || req.uri.query().unwrap_or("") != query {
            set_path_and_query(req, wire_path.as_deref(), &query)?;
        }
        let authz = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            p.access_key
        );
        put(req, "authorization", &authz)?;
        if let (Some(token), false) = (token_header, p.sign_token) {
            put(req, X_AMZ_SECURITY_TOKEN, token)?;
        }
    }
    Ok(Signed {
        canonical_request: String::from_utf8_lossy(&creq).into_owned(),
        string_to_sign,
        signature,
    })
}

/// Drops the signature headers a client may have sent, and adds Host when absent.
fn reset_headers(req: &mut Parts) -> Result<(), AuthError> {
    for name in [
        "authorization",
        X_AMZ_DATE,
        X_AMZ_SECURITY_TOKEN,
        X_AMZ_CONTENT_SHA256,
    ] {
        req.headers.remove(name);
    }
    if !req.headers.contains_key(HOST)
        && let Some(authority) = req.uri.authority()
    {
        let value = HeaderValue::from_str(authority.as_str()).map_err(bad_value)?;
        req.headers.insert(HOST, value);
    }
    Ok(())
}

/// The client's query minus any presigning of its own, each parameter re-encoded the way SigV4
/// canonicalises it, so that the request on the wire reads the same to verifiers that take it
/// as sent (botocore, moto) and to those that decode and re-encode it (AWS).
fn client_query(req: &Parts) -> String {
    let mut query = String::new();
    for (k, v) in query_pairs(req.uri.query().unwrap_or("")) {
        if !QUERY_AUTH_PARAMS
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(&k))
        {
            push_param(&mut query, &uri_encode(&k, false, false), &v);
        }
    }
    query
}

/// Adds the presigning parameters to `query`; returns those that go after the signature (an
/// unsigned session token).
fn presign_params(
    query: &mut String,
    p: &Params,
    scope: &str,
    amz_date: &str,
    expires: u64,
    signed_headers: &str,
) -> String {
    let credential = format!("{}/{scope}", p.access_key);
    let expires = expires.to_string();
    for (k, v) in [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", signed_headers),
    ] {
        push_param(query, k, v.as_bytes());
    }
    let mut late_params = String::new();
    if let Some(token) = p.session_token {
        let q = if p.sign_token {
            query
        } else {
            &mut late_params
        };
        push_param(q, "X-Amz-Security-Token", token.as_bytes());
    }
    late_params
}

/// The canonical request: method, URI, query, headers, signed headers, payload hash.
fn canonical_request(
    method: &http::Method,
    path: &[u8],
    p: &Params,
    query: &str,
    headers: &[(String, Vec<u8>)],
    signed_headers: &str,
) -> Vec<u8> {
    let mut creq = Vec::with_capacity(512);
    creq.extend_from_slice(method.as_str().as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(canonical_uri(path, p.normalize).as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(canonical_query(query).as_bytes());
    creq.push(b'\n');
    for (name, value) in headers {
        creq.extend_from_slice(name.as_bytes());
        creq.push(b':');
        creq.extend_from_slice(value);
        creq.push(b'\n');
    }
    creq.push(b'\n');
    creq.extend_from_slice(signed_headers.as_bytes());
    creq.push(b'\n');
    creq.extend_from_slice(p.payload_hash.as_bytes());
    creq
}

/// Appends `name=value`; `name` must already be encoded.
fn push_param(query: &mut String, name: &str, value: &[u8]) {
    if !query.is_empty() {
        query.push('&');
    }
    let _ = write!(query, "{name}={}", uri_encode(value, false, false));
}

fn put(req: &mut Parts, name: &'static str, value: &str) -> Result<(), AuthError> {
    let value = HeaderValue::from_str(value).map_err(bad_value)?;
    req.headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

fn bad_value(_: impl std::error::Error) -> AuthError {
    AuthError::Unsignable("a signing value is not a valid HTTP header or URI".into())
}

/// Replaces the URI's path (when given) and query (an empty one removes the `?`).
fn set_path_and_query(req: &mut Parts, path: Option<&str>, query: &str) -> Result<(), AuthError> {
    let mut uri = String::with_capacity(query.len() + 64);
    if let Some(scheme) = req.uri.scheme_str() {
        let _ = write!(uri, "{scheme}://");
    }
    if let Some(authority) = req.uri.authority() {
        uri.push_str(authority.as_str());
    }
    uri.push_str(path.unwrap_or(req.uri.path()));
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
    req.uri = uri.parse().map_err(bad_value)?;
    Ok(())
}
