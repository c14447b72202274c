//! aws-chunked uploads (`Content-Encoding: aws-chunked`), re-signed as they stream.
//!
//! `x-amz-content-sha256` names the framing. `STREAMING-UNSIGNED-PAYLOAD-TRAILER` carries no
//! signatures in the body: it is checked and passes byte for byte. The chunk-signed forms
//! (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, and `-TRAILER` with a signed trailer) carry a chain of
//! signatures that starts at the request's own (the seed): signet signs the head with the real
//! key, so every signature of the chain is its own to compute.
//!
//! A chunk's signature is written before its data and covers it, so a chunk cannot go out
//! before all of its data has been seen. Rather than hold a client's chunk of any size, the
//! signed forms are cut again into chunks of [`SIGNED_CHUNK`] bytes (the size of AWS's own
//! example): memory stays at one such chunk whatever the client sends, and the body's length
//! depends only on the decoded length ([`signed_length`]).
//!
//! Nothing reaches the origin as a complete body unless the client's was: the stream's last two
//! bytes are held until the client's body has ended cleanly ([`AwsChunked::finish`]).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;

use bytes::{BufMut, BytesMut};
use http::HeaderValue;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use sha2::{Digest, Sha256};

use super::{AuthError, Params, amz_date, hex, hmac, signing_key};

/// The data size of the chunks signet writes in the signed forms (every one but the last).
pub const SIGNED_CHUNK: usize = 64 * 1024;
/// The longest chunk-size line or trailer line read.
const MAX_LINE: usize = 4096;
/// The most trailer bytes held for signing.
const MAX_TRAILER: usize = 16 * 1024;
/// SHA-256 of nothing: the "previous headers" hash of every chunk's string to sign.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CHUNK_SIGNATURE: &[u8] = b"chunk-signature=";
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
const DECODED_LENGTH: &str = "x-amz-decoded-content-length";

/// The aws-chunked forms signet takes, by their `x-amz-content-sha256` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: no signatures in the body.
    UnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    SignedTrailer,
}

impl Payload {
    /// The form `req` announces; `None` when it is no aws-chunked upload.
    pub fn of(req: &Parts) -> Result<Option<Payload>, AuthError> {
        let Some(value) = req.headers.get(super::X_AMZ_CONTENT_SHA256) else {
            return Ok(None);
        };
        Ok(Some(match value.as_bytes() {
            b"STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::UnsignedTrailer,
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::Signed,
            b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => Payload::SignedTrailer,
            v if v.starts_with(b"STREAMING-") => {
                return Err(AuthError::Unsignable(format!(
                    "x-amz-content-sha256 {:?} is not an aws-chunked form signet can re-sign \
                     (it takes STREAMING-UNSIGNED-PAYLOAD-TRAILER and \
                     STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER])",
                    String::from_utf8_lossy(v)
                )));
            }
            _ => return Ok(None),
        }))
    }

    /// The `x-amz-content-sha256` value, which is also the payload hash the head is signed with.
    pub fn marker(self) -> &'static str {
        match self {
            Payload::UnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            Payload::Signed => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Payload::SignedTrailer => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        }
    }
}

/// Readies the head before it is signed: the signed forms change the body's length, so a
/// `Content-Length` is set to the new one when the decoded length tells it, and dropped (the
/// body then goes chunked) when it cannot be known in advance.
pub(super) fn prepare_head(req: &mut Parts, payload: Payload) -> Result<(), AuthError> {
    if payload == Payload::UnsignedTrailer || !req.headers.contains_key(CONTENT_LENGTH) {
        return Ok(());
    }
    match (payload, decoded_length(req)?) {
        (Payload::Signed, Some(decoded)) => {
            let length = signed_length(decoded).ok_or_else(|| {
                AuthError::Unsignable(format!("{DECODED_LENGTH} {decoded} is out of range"))
            })?;
            req.headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
        _ => {
            req.headers.remove(CONTENT_LENGTH);
        }
    }
    Ok(())
}

/// The re-signer for a request whose head was just signed with `seed`: put in the request's
/// extensions for the proxy to run the body through.
pub(super) fn body_rewrite(
    req: &Parts,
    payload: Payload,
    p: &Params,
    seed: &str,
) -> Result<AwsChunked, AuthError> {
    let decoded = decoded_length(req)?;
    if payload == Payload::UnsignedTrailer {
        return Ok(AwsChunked::unsigned(decoded));
    }
    let date = amz_date(p.time)?;
    let day = date.get(..8).unwrap_or_default();
    let scope = format!("{day}/{}/{}/aws4_request", p.region, p.service);
    let key = signing_key(p.secret_key, day, p.region, p.service);
    let signer = ChunkSigner::new(key, &date, &scope, seed);
    Ok(AwsChunked::signed(
        signer,
        payload == Payload::SignedTrailer,
        decoded,
    ))
}

fn decoded_length(req: &Parts) -> Result<Option<u64>, AuthError> {
    let Some(value) = req.headers.get(DECODED_LENGTH) else {
        return Ok(None);
    };
    let parsed = value.to_str().ok().and_then(|v| v.trim().parse().ok());
    parsed.map(Some).ok_or_else(|| {
        AuthError::Unsignable(format!("{DECODED_LENGTH} is not a number of bytes"))
    })
}

/// The length of the signed stream signet writes for `decoded` bytes of data, without a
/// trailer; `None` past `u64`.
pub fn signed_length(decoded: u64) -> Option<u64> {
    let chunk = |size: u64| -> u64 {
        let hex_digits = u64::from((64 - size.leading_zeros()).div_ceil(4).max(1));
        hex_digits + (1 + CHUNK_SIGNATURE.len() as u64 + 64 + 2) + size + 2
    };
    let full = SIGNED_CHUNK as u64;
    let last = decoded % full;
    let body = (decoded / full).checked_mul(chunk(full))?;
    let last = if last > 0 { chunk(last) } else { 0 };
    // The final chunk: `0;chunk-signature=<64>\r\n\r\n`.
    body.checked_add(last)?.checked_add(chunk(0))
}

/// Why an aws-chunked body cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A chunk-size line is not `<hex size>[;extensions]`.
    #[error("aws-chunked: a chunk-size line is malformed")]
    BadSizeLine,
    /// A signed chunk has no `chunk-signature`.
    #[error("aws-chunked: a chunk has no chunk-signature")]
    NoSignature,
    /// A chunk's data is not followed by CRLF.
    #[error("aws-chunked: a chunk's data is not followed by CRLF")]
    NoCrlf,
    /// A line does not end in CRLF.
    #[error("aws-chunked: a line does not end in CRLF")]
    BareLf,
    /// A line is longer than the limit.
    #[error("aws-chunked: a line is longer than {MAX_LINE} bytes")]
    LongLine,
    /// A trailer line is not `name:value`, or the trailer is too long.
    #[error("aws-chunked: the trailer is malformed or longer than {MAX_TRAILER} bytes")]
    BadTrailer,
    /// The form announced has no trailer, and one came.
    #[error("aws-chunked: a trailer came after the last chunk of a form that has none")]
    UnexpectedTrailer,
    /// The data is longer or shorter than `x-amz-decoded-content-length`.
    #[error("aws-chunked: the chunks carry {got} bytes, x-amz-decoded-content-length says {expected}")]
    DecodedLength {
        /// What the header said.
        expected: u64,
        /// What the chunks carried (at least).
        got: u64,
    },
    /// Bytes came after the end of the stream.
    #[error("aws-chunked: bytes follow the end of the stream")]
    TrailingBytes,
    /// The body ended before the stream did.
    #[error("aws-chunked: the body ended in the middle of the stream")]
    Incomplete,
    /// An earlier error stopped the stream.
    #[error("aws-chunked: the stream already failed")]
    Failed,
}

/// The chain of signatures of a signed stream, from the seed signature on.
#[derive(Clone)]
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("key", &"***")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// A chain under the derived signing `key`, at `amz_date` (`YYYYMMDD'T'HHMMSS'Z'`) in
    /// `scope` (`date/region/service/aws4_request`), starting from the head's `seed` signature.
    pub fn new(key: [u8; 32], amz_date: &str, scope: &str, seed: &str) -> Self {
        ChunkSigner {
            key,
            amz_date: amz_date.to_owned(),
            scope: scope.to_owned(),
            previous: seed.to_owned(),
        }
    }

    /// The signature of the next chunk, whose data is `data`.
    fn chunk(&mut self, data: &[u8]) -> String {
        let data_hash = hex(&Sha256::digest(data));
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_hash}",
            self.amz_date, self.scope, self.previous
        );
        self.previous = hex(&hmac(&self.key, sts.as_bytes()));
        self.previous.clone()
    }

    /// The signature of the trailer, whose canonical form (`name:value\n`, sorted) is `canonical`.
    fn trailer(&mut self, canonical: &[u8]) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex(&Sha256::digest(canonical))
        );
        self.previous = hex(&hmac(&self.key, sts.as_bytes()));
        self.previous.clone()
    }
}

/// Where the reader is in the client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    SizeLine,
    /// Reading this many more bytes of chunk data.
    Data(u64),
    /// The CR after a chunk's data, then the LF.
    DataCr,
    DataLf,
    /// Reading trailer lines after the last chunk.
    Trailer,
    /// The stream's end was read; its last CRLF is held until the body ends.
    Ended,
    /// The held CRLF went out.
    Finished,
    Failed,
}

/// An aws-chunked body on its way upstream: bytes in, bytes out, in bounded memory.
///
/// The output does not depend on how the input is split between calls to [`AwsChunked::feed`].
#[derive(Debug, Clone)]
pub struct AwsChunked {
    /// `None`: the unsigned form, which passes as it came.
    signer: Option<ChunkSigner>,
    /// Whether the signed form has a signed trailer.
    signed_trailer: bool,
    decoded_length: Option<u64>,
    decoded: u64,
    state: State,
    line: Vec<u8>,
    /// Signed forms: the data of the chunk being put together.
    pending: Vec<u8>,
    /// Signed trailer: its lines as received, and as `(lowercase name, trimmed value)`.
    trailer_lines: Vec<u8>,
    trailer_fields: Vec<(String, String)>,
}

impl AwsChunked {
    /// The unsigned form (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`): checked, passed unchanged.
    pub fn unsigned(decoded_length: Option<u64>) -> Self {
        Self::with(None, false, decoded_length)
    }

    /// A signed form: chunks re-cut and signed by `signer`, and the trailer signed when
    /// `signed_trailer`.
    pub fn signed(signer: ChunkSigner, signed_trailer: bool, decoded_length: Option<u64>) -> Self {
        Self::with(Some(signer), signed_trailer, decoded_length)
    }

    fn with(signer: Option<ChunkSigner>, signed_trailer: bool, decoded: Option<u64>) -> Self {
        AwsChunked {
            signer,
            signed_trailer,
            decoded_length: decoded,
            decoded: 0,
            state: State::SizeLine,
            line: Vec::new(),
            pending: Vec::new(),
            trailer_lines: Vec::new(),
            trailer_fields: Vec::new(),
        }
    }

    /// Reads the next bytes of the client's body and appends what goes upstream to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), ChunkError> {
        let result = self.feed_all(input, out);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// The client's body ended: appends the stream's last bytes, or fails if it was cut short.
    pub fn finish(&mut self, out: &mut BytesMut) -> Result<(), ChunkError> {
        match self.state {
            State::Ended => {
                out.put_slice(b"\r\n");
                self.state = State::Finished;
                Ok(())
            }
            State::Failed => Err(ChunkError::Failed),
            State::Finished => Err(ChunkError::TrailingBytes),
            _ => {
                self.state = State::Failed;
                Err(ChunkError::Incomplete)
            }
        }
    }

    fn feed_all(&mut self, mut input: &[u8], out: &mut BytesMut) -> Result<(), ChunkError> {
        while !input.is_empty() {
            input = match self.state {
                State::SizeLine | State::Trailer => self.read_line(input, out)?,
                State::Data(left) => {
                    let take = usize::try_from(left).map_or(input.len(), |l| l.min(input.len()));
                    let (data, rest) = input.split_at_checked(take).unwrap_or((input, &[]));
                    self.data(data, out);
                    let left = left - data.len() as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data(left)
                    };
                    rest
                }
                State::DataCr | State::DataLf => {
                    let (expected, next) = match self.state {
                        State::DataCr => (b'\r', State::DataLf),
                        _ => (b'\n', State::SizeLine),
                    };
                    let (first, rest) = input.split_first().ok_or(ChunkError::NoCrlf)?;
                    if *first != expected {
                        return Err(ChunkError::NoCrlf);
                    }
                    if self.signer.is_none() {
                        out.put_u8(expected);
                    }
                    self.state = next;
                    rest
                }
                State::Ended | State::Finished => return Err(ChunkError::TrailingBytes),
                State::Failed => return Err(ChunkError::Failed),
            };
        }
        Ok(())
    }

    /// Adds to the line being read; at its end, acts on it. Returns what follows the line.
    fn read_line<'a>(&mut self, input: &'a [u8], out: &mut BytesMut) -> Result<&'a [u8], ChunkError> {
        let end = input.iter().position(|&b| b == b'\n');
        let (part, rest) = match end {
            Some(i) => input.split_at_checked(i + 1).unwrap_or((input, &[])),
            None => (input, &[][..]),
        };
        if self.line.len() + part.len() > MAX_LINE {
            return Err(ChunkError::LongLine);
        }
        self.line.extend_from_slice(part);
        if end.is_none() {
            return Ok(rest);
        }
        let line = std::mem::take(&mut self.line);
        let content = line
            .strip_suffix(b"\r\n")
            .ok_or(ChunkError::BareLf)?;
        if content.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(ChunkError::BareLf);
        }
        match self.state {
            State::SizeLine => self.size_line(content, &line, out)?,
            _ => self.trailer_line(content, &line, out)?,
        }
        Ok(rest)
    }

    fn size_line(&mut self, content: &[u8], line: &[u8], out: &mut BytesMut) -> Result<(), ChunkError> {
        let digits = content.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let (size_hex, extensions) = content.split_at_checked(digits).unwrap_or((content, &[]));
        if size_hex.is_empty() || size_hex.len() > 16 {
            return Err(ChunkError::BadSizeLine);
        }
        let size = std::str::from_utf8(size_hex)
            .ok()
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or(ChunkError::BadSizeLine)?;
        if !(extensions.is_empty() || extensions.first() == Some(&b';'))
            || extensions.iter().any(|&b| b < 0x20 || b == 0x7f)
        {
            return Err(ChunkError::BadSizeLine);
        }
        if self.signer.is_some() && !has_signature(extensions) {
            return Err(ChunkError::NoSignature);
        }
        let decoded = self.decoded.checked_add(size).ok_or(ChunkError::BadSizeLine)?;
        if let Some(expected) = self.decoded_length
            && (decoded > expected || (size == 0 && decoded != expected))
        {
            return Err(ChunkError::DecodedLength {
                expected,
                got: decoded,
            });
        }
        self.decoded = decoded;
        if self.signer.is_none() {
            out.put_slice(line);
        }
        if size > 0 {
            self.state = State::Data(size);
            return Ok(());
        }
        if let Some(signer) = self.signer.as_mut() {
            if !self.pending.is_empty() {
                write_chunk(signer, &self.pending, out);
                self.pending.clear();
            }
            let signature = signer.chunk(b"");
            out.put_slice(format!("0;chunk-signature={signature}\r\n").as_bytes());
        }
        self.state = State::Trailer;
        Ok(())
    }

    fn trailer_line(&mut self, content: &[u8], line: &[u8], out: &mut BytesMut) -> Result<(), ChunkError> {
        if content.is_empty() {
            if let (Some(signer), true) = (self.signer.as_mut(), self.signed_trailer) {
                out.put_slice(&self.trailer_lines);
                let signature = signer.trailer(&canonical_trailer(&mut self.trailer_fields));
                out.put_slice(format!("{TRAILER_SIGNATURE}:{signature}\r\n").as_bytes());
            }
            // The empty line closes the stream: held until the body has ended.
            self.state = State::Ended;
            return Ok(());
        }
        let text = std::str::from_utf8(content).map_err(|_| ChunkError::BadTrailer)?;
        let (name, value) = text.split_once(':').ok_or(ChunkError::BadTrailer)?;
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(ChunkError::BadTrailer);
        }
        match (self.signer.is_some(), self.signed_trailer) {
            (false, _) => out.put_slice(line),
            (true, false) => return Err(ChunkError::UnexpectedTrailer),
            (true, true) => {
                if name.eq_ignore_ascii_case(TRAILER_SIGNATURE) {
                    return Ok(());
                }
                if self.trailer_lines.len() + line.len() > MAX_TRAILER {
                    return Err(ChunkError::BadTrailer);
                }
                self.trailer_lines.extend_from_slice(line);
                let value = value.trim_matches(|c| c == ' ' || c == '\t');
                self.trailer_fields
                    .push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
        Ok(())
    }

    /// Chunk data: passed on (unsigned), or gathered into signet's own chunks (signed).
    fn data(&mut self, mut data: &[u8], out: &mut BytesMut) {
        let Some(signer) = self.signer.as_mut() else {
            out.put_slice(data);
            return;
        };
        while !data.is_empty() {
            if self.pending.is_empty()
                && let Some((whole, rest)) = data.split_at_checked(SIGNED_CHUNK)
            {
                write_chunk(signer, whole, out);
                data = rest;
                continue;
            }
            let room = SIGNED_CHUNK - self.pending.len();
            let (part, rest) = data.split_at_checked(room).unwrap_or((data, &[]));
            self.pending.extend_from_slice(part);
            data = rest;
            if self.pending.len() == SIGNED_CHUNK {
                write_chunk(signer, &self.pending, out);
                self.pending.clear();
            }
        }
    }
}

fn write_chunk(signer: &mut ChunkSigner, data: &[u8], out: &mut BytesMut) {
    let signature = signer.chunk(data);
    out.reserve(data.len() + 96);
    out.put_slice(format!("{:x};chunk-signature={signature}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Whether the chunk extensions (`;name=value…`) include a `chunk-signature`.
fn has_signature(extensions: &[u8]) -> bool {
    extensions
        .split(|&b| b == b';')
        .any(|ext| ext.len() > CHUNK_SIGNATURE.len() && ext.starts_with(CHUNK_SIGNATURE))
}

/// The trailer as its signature covers it: `name:value\n` by name, a repeated name's values
/// joined by commas.
fn canonical_trailer(fields: &mut [(String, String)]) -> Vec<u8> {
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    for (name, value) in fields.iter() {
        if previous == Some(name.as_str()) {
            out.pop();
            out.push(b',');
        } else {
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
        previous = Some(name);
    }
    out
}

/// An HTTP token character (RFC 9110), as header names are made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "awsv4_chunked_tests.rs"]
mod tests;
