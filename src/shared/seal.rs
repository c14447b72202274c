//! Values in Redis are sealed with AES-256-GCM under the first of the configured keys and opened
//! with any of them (so that a key can be rotated in without a flag day), the Redis key as
//! associated data (a value copied under another name does not open). Key names are SHA-256
//! hashes of what makes a value distinct: nothing in them in clear.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The first byte of every sealed value: the format, so that a later one can be told apart.
const FORMAT: u8 = 1;

/// A 32-byte sealing key; its Debug output shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    /// A key from its text: 32 bytes in base64 (standard or URL-safe, padded or not) or in hex.
    pub fn parse(text: &str) -> Result<Key, &'static str> {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex(text)
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .ok()
        };
        let bytes = bytes.ok_or("is neither base64 nor 64 hex digits")?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 32 bytes (base64 of 32 random bytes, or 64 hex digits)")?;
        Ok(Key(key))
    }

    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A sealed value did not open under any key: tampered with, written under another name, or
/// sealed with a key this instance does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a shared value does not open with any configured key")]
pub struct OpenError;

/// Seals with the first key, opens with any.
pub struct Sealer {
    keys: Vec<LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Sealer {
    /// A sealer for `keys`, the first sealing; `None` when there is none.
    pub fn new(keys: &[Key]) -> Option<Sealer> {
        if keys.is_empty() {
            return None;
        }
        let keys = keys
            .iter()
            .filter_map(|k| UnboundKey::new(&AES_256_GCM, &k.0).ok())
            .map(LessSafeKey::new)
            .collect();
        Some(Sealer {
            keys,
            random: SystemRandom::new(),
        })
    }

    /// `plain` sealed for the Redis key `name`: format byte, random nonce, ciphertext and tag.
    pub fn seal(&self, name: &str, plain: &[u8]) -> Option<Vec<u8>> {
        let key = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut body = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(name.as_bytes()),
            &mut body,
        )
        .ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    /// What `sealed` holds, if it was sealed for `name` under one of the keys.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (&format, rest) = sealed.split_first().ok_or(OpenError)?;
        if format != FORMAT || rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        for key in &self.keys {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
            let mut buf = body.to_vec();
            if let Ok(plain) = key.open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf) {
                return Ok(plain.to_vec());
            }
        }
        Err(OpenError)
    }
}

/// The Redis key for a value of `kind` told apart by `parts`: `prefix`, the kind, and the hex
/// SHA-256 of the parts, each preceded by its length so that no two lists hash alike.
pub fn key_name(prefix: &str, kind: &str, parts: &[&[u8]]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(kind.as_bytes());
    for part in parts {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let digest = ctx.finish();
    let mut out = String::with_capacity(prefix.len() + kind.len() + 1 + 64);
    out.push_str(prefix);
    out.push_str(kind);
    out.push(':');
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
