//! `signet sign`: a request exactly as signet would send it upstream.

use std::io::Write;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use sha2::{Digest, Sha256};

use super::{Failure, SignArgs};
use crate::auth::{BodyNeed, OsEntropy, SignContext};
use crate::config::Config;
use crate::policy::Policy;
use crate::proxy::forward;
use crate::rules::Destination;

pub(super) fn sign(config: &Config, args: SignArgs) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {:?}", args.method)))?;
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {:?}: {e}", args.url)))?;
    let dest = Destination::from_uri(&uri).map_err(Failure::User)?;
    let mut body = match (&args.data, &args.data_file) {
        (Some(data), _) => Bytes::from(data.clone()),
        (None, Some(file)) => Bytes::from(
            std::fs::read(file)
                .map_err(|e| Failure::User(format!("cannot read {}: {e}", file.display())))?,
        ),
        (None, None) => Bytes::new(),
    };
    let mut request = Request::builder().method(method).uri(uri.clone());
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::User(format!("header {header:?} is not 'Name: value'")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Failure::User(format!("bad header name in {header:?}")))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Failure::User(format!("bad header value in {header:?}")))?;
        request = request.header(name, value);
    }
    let (mut parts, ()) = request
        .body(())
        .map_err(|e| Failure::User(e.to_string()))?
        .into_parts();
    if !body.is_empty() {
        // As curl does: the body's length, replacing any Content-Length given with -H.
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    forward::prepare(&mut parts, &dest, false).map_err(Failure::User)?;

    let now = match &args.at {
        Some(at) => parse_rfc3339(at)?,
        None => std::time::SystemTime::now(),
    };
    let cx = SignContext {
        now,
        fixed_nonce: args.nonce.as_deref(),
        entropy: &OsEntropy,
    };
    let decision = policy
        .table
        .decide(&dest, &parts.method, uri.path())
        .map_err(|e| Failure::User(e.to_string()))?;
    let scheme = decision.as_ref().and_then(|d| d.auth);
    if let Some(challenge) = &args.challenge {
        let scheme = scheme.ok_or_else(|| {
            Failure::User("--challenge needs a rule with a challenge-response auth (digest, ntlm); no auth applies".into())
        })?;
        scheme
            .accept_challenge(&parts, challenge)
            .map_err(|e| Failure::User(format!("--challenge: {e}")))?;
    }
    if let Some(scheme) = scheme {
        // As in the proxy: a scheme that may replay keeps the body when it fits (auth-int).
        let need = match scheme.body_need(&parts) {
            BodyNeed::None if scheme.may_replay() || args.challenge.is_some() => {
                BodyNeed::Preferred
            }
            need => need,
        };
        let fits = body.len() <= config.proxy.buffer_limit;
        let body_for_scheme = match need {
            BodyNeed::None => None,
            BodyNeed::Preferred if !fits => None,
            BodyNeed::Required if !fits => {
                return Err(Failure::User(format!(
                    "the body is larger than [proxy] buffer_limit ({} bytes); the proxy would answer 413",
                    config.proxy.buffer_limit
                )));
            }
            _ => Some(&mut body),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        runtime
            .block_on(scheme.sign(&mut parts, body_for_scheme, &cx))
            .map_err(|e| Failure::User(format!("{}: {e}", scheme.type_name())))?;
        if !body.is_empty() {
            parts
                .headers
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }

    let mut out = format!("{} {} HTTP/1.1\n", parts.method, parts.uri);
    for (name, value) in &parts.headers {
        out.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let digest = Sha256::digest(&body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    out.push_str(&format!("\nbody {} bytes sha256 {hex}\n", body.len()));
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Failure::Runtime(e.to_string()))
}

pub(super) fn parse_rfc3339(at: &str) -> Result<std::time::SystemTime, Failure> {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::User(format!("--at {at:?} is not an RFC 3339 time: {e}")))?;
    Ok(parsed.into())
}
