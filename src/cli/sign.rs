//! `signet sign`: a request exactly as signet would send it upstream.

use std::io::Write;

use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderName, HeaderValue, Method, Request};
use sha2::{Digest, Sha256};

use super::{Failure, SignArgs};
use crate::auth::ntlm::{Ntlm, Offer, offer};
use crate::auth::{BodyNeed, Entropy, OsEntropy, SignContext, SignedDetail};
use crate::config::Config;
use crate::policy::Policy;
use crate::proxy::pipeline;
use crate::rules::Destination;

pub(super) fn sign(config: &Config, args: SignArgs) -> Result<(), Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let (mut parts, mut body, dest) = request(&args)?;
    let uri = parts.uri.clone();
    let given = parts.headers.clone();
    if args.verbose {
        parts.extensions.insert(SignedDetail::default());
    }

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
    let mut scheme = decision.as_ref().and_then(|d| d.auth);
    if let (Some(challenge), Some(ntlm)) = (&args.challenge, scheme.and_then(|s| s.ntlm())) {
        let value = ntlm_answer(ntlm, challenge, now, args.nonce.as_deref())?;
        parts.headers.insert(http::header::AUTHORIZATION, value);
        // The answer is the whole of NTLM's part: nothing else signs this request.
        scheme = None;
    } else if let Some(challenge) = &args.challenge {
        let scheme = scheme.ok_or_else(|| {
            Failure::User("--challenge needs a rule with a challenge-response auth (digest, ntlm); no auth applies".into())
        })?;
        scheme
            .accept_challenge(&parts, challenge)
            .unwrap_or_else(|| {
                Err(crate::auth::AuthError::Unsignable(format!(
                    "--challenge needs a challenge-response rule (digest, ntlm); this one is {}",
                    scheme.type_name()
                )))
            })
            .map_err(|e| Failure::User(format!("--challenge: {e}")))?;
    }
    if let Some(scheme) = scheme {
        // As in the proxy: a scheme that may replay keeps the body when it fits (auth-int).
        let need = pipeline::body_plan(scheme, &parts, args.challenge.is_some());
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
        if let Some(rewrite) = crate::auth::BodyRewrite::take(&mut parts) {
            body = rewrite
                .apply(&body)
                .map_err(|e| Failure::User(format!("{}: {e}", scheme.type_name())))?;
        }
        if !body.is_empty() {
            parts
                .headers
                .insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }

    let shown = Shown {
        given_query: uri.query(),
        given_headers: &given,
        show_secrets: args.show_secrets,
    };
    let (mut out, redacted) = shown.request(&parts);
    let digest = Sha256::digest(&body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    out.push_str(&format!("\nbody {} bytes sha256 {hex}\n", body.len()));
    if args.verbose {
        out.push_str(&signed_detail(&mut parts, scheme, args.show_secrets));
    }
    if redacted {
        eprintln!("signet: credentials read *** (--show-secrets prints them)");
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| Failure::Runtime(e.to_string()))
}

/// `--- LABEL ---` and the text, for each string the scheme signed.
fn signed_detail(
    parts: &mut http::request::Parts,
    scheme: Option<&std::sync::Arc<crate::auth::Scheme>>,
    show_secrets: bool,
) -> String {
    let mut out = String::new();
    let detail = SignedDetail::take(parts).unwrap_or_default();
    for (label, text) in detail.entries(show_secrets) {
        out.push_str(&format!("\n--- {label} ---\n{text}\n"));
    }
    if out.is_empty() {
        let what = scheme.map_or("no auth", |s| s.type_name());
        out.push_str(&format!("\n--- {what}: no string is signed ---\n"));
    }
    out
}

/// How the signed request is printed: what signet added or changed reads `***` unless
/// `show_secrets`, apart from headers that never carry a credential.
struct Shown<'a> {
    given_query: Option<&'a str>,
    given_headers: &'a http::HeaderMap,
    show_secrets: bool,
}

/// Headers signet may add or change that never carry a credential.
const NOT_CREDENTIALS: &[&str] = &[
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "host",
    "date",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
];

impl Shown<'_> {
    /// The request line and headers, and whether anything was redacted.
    fn request(&self, parts: &http::request::Parts) -> (String, bool) {
        let mut redacted = false;
        let target = parts.uri.to_string();
        let target = match (target.split_once('?'), self.show_secrets) {
            (Some((before, query)), false) => {
                let (query, any) = self.query(query);
                redacted |= any;
                format!("{before}?{query}")
            }
            _ => target,
        };
        let mut out = format!("{} {target} HTTP/1.1\n", parts.method);
        for (name, value) in &parts.headers {
            let text = String::from_utf8_lossy(value.as_bytes());
            let added = !self.given_headers.get_all(name).iter().any(|v| v == value);
            let text = if added && !self.show_secrets && !NOT_CREDENTIALS.contains(&name.as_str()) {
                redacted = true;
                redact(&text)
            } else {
                text.into_owned()
            };
            out.push_str(&format!("{name}: {text}\n"));
        }
        (out, redacted)
    }

    /// The query with the value of every parameter the client did not send as `***`.
    fn query(&self, query: &str) -> (String, bool) {
        let given: Vec<&str> = self
            .given_query
            .map_or(Vec::new(), |q| q.split('&').collect());
        let mut any = false;
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if !given.contains(&pair) => {
                    any = true;
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        (pairs.join("&"), any)
    }
}

/// A credential's value as `***`, after its auth-scheme word when it has one (`Bearer ***`).
fn redact(value: &str) -> String {
    match value.split_once(' ') {
        Some((word, _))
            if !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            format!("{word} ***")
        }
        _ => "***".to_owned(),
    }
}

/// The request of `args`, prepared as the proxy prepares one, with its body and destination.
fn request(args: &SignArgs) -> Result<(http::request::Parts, Bytes, Destination), Failure> {
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| Failure::User(format!("bad method {:?}", args.method)))?;
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| Failure::User(format!("bad URL {:?}: {e}", args.url)))?;
    let dest = Destination::from_uri(&uri).map_err(|e| Failure::User(e.to_string()))?;
    let body = match (&args.data, &args.data_file) {
        (Some(data), _) => Bytes::from(data.clone()),
        (None, Some(file)) => Bytes::from(
            std::fs::read(file)
                .map_err(|e| Failure::User(format!("cannot read {}: {e}", file.display())))?,
        ),
        (None, None) => Bytes::new(),
    };
    let mut request = Request::builder().method(method).uri(uri);
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
    pipeline::prepare(&mut parts, &dest, false).map_err(|e| Failure::User(e.to_string()))?;
    Ok((parts, body, dest))
}

/// The AUTHENTICATE message answering `challenge` (`NTLM <base64>` or `Negotiate <base64>`).
/// `nonce` is hex: 8 bytes fix the client challenge, 8 more the RandomSessionKey (random
/// otherwise). There is no TLS connection here, so no channel binding.
fn ntlm_answer(
    ntlm: &Ntlm,
    challenge: &str,
    now: std::time::SystemTime,
    nonce: Option<&str>,
) -> Result<HeaderValue, Failure> {
    let mut headers = http::HeaderMap::new();
    let value = HeaderValue::from_str(challenge.trim())
        .map_err(|_| Failure::User("--challenge is not a valid header value".into()))?;
    headers.insert(WWW_AUTHENTICATE, value);
    let Offer::Challenge(word, message) = offer(&headers, &WWW_AUTHENTICATE) else {
        return Err(Failure::User(
            "--challenge: an ntlm rule answers 'NTLM <base64 CHALLENGE message>' or \
             'Negotiate <base64>'"
                .into(),
        ));
    };
    let script = match nonce {
        None => Vec::new(),
        Some(hex) => decode_hex(hex)
            .filter(|b| b.len() == 8 || b.len() == 24)
            .ok_or_else(|| {
                Failure::User(format!(
                    "--nonce {hex:?}: for NTLM, 16 hex digits (the client challenge), optionally \
                     followed by 32 more (the RandomSessionKey)"
                ))
            })?,
    };
    let entropy = Scripted(std::sync::Mutex::new(script));
    let cx = SignContext {
        now,
        fixed_nonce: None,
        entropy: &entropy,
    };
    let (negotiate, _) = ntlm.negotiate(word);
    ntlm.authenticate(word, &negotiate, &message, None, &cx)
        .map_err(|e| Failure::User(format!("--challenge: {e}")))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// Hands out the given bytes first, then the operating system's random bytes.
struct Scripted(std::sync::Mutex<Vec<u8>>);

impl Entropy for Scripted {
    fn fill(&self, buf: &mut [u8]) {
        let mut script = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = script.len().min(buf.len());
        buf[..n].copy_from_slice(&script[..n]);
        script.drain(..n);
        if n < buf.len() {
            OsEntropy.fill(&mut buf[n..]);
        }
    }
}

pub(super) fn parse_rfc3339(at: &str) -> Result<std::time::SystemTime, Failure> {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Failure::User(format!("--at {at:?} is not an RFC 3339 time: {e}")))?;
    Ok(parsed.into())
}
