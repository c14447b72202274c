//! What signers and handshakes draw on besides the request: the time and randomness, injected
//! so that tests and `signet sign --at/--nonce` can fix them.

use std::time::SystemTime;

/// A source of random bytes. Injected so that signers can be tested with fixed values.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's random number generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        getrandom::fill(buf).expect("the operating system's random source failed");
    }
}

/// Time and randomness for one signing. Tests and `signet sign --at/--nonce` fix both.
#[derive(Clone, Copy)]
pub struct SignContext<'a> {
    /// The current time, as far as the signer is concerned.
    pub now: SystemTime,
    /// When set, every nonce a scheme generates is exactly this string.
    pub fixed_nonce: Option<&'a str>,
    /// Randomness for nonces, client challenges and the like.
    pub entropy: &'a dyn Entropy,
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl<'a> SignContext<'a> {
    /// A context with the real clock and the OS random source.
    pub fn system() -> SignContext<'static> {
        SignContext {
            now: SystemTime::now(),
            fixed_nonce: None,
            entropy: &OsEntropy,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> u64 {
        self.now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&self, buf: &mut [u8]) {
        self.entropy.fill(buf)
    }

    /// The fixed nonce if there is one, else `len` random letters and digits.
    pub fn nonce_alphanumeric(&self, len: usize) -> String {
        if let Some(fixed) = self.fixed_nonce {
            return fixed.to_owned();
        }
        let mut bytes = vec![0u8; len];
        self.fill(&mut bytes);
        // 248 is the largest multiple of 62 below 256; rejecting above it keeps the draw uniform.
        let mut out = String::with_capacity(len);
        while out.len() < len {
            for &b in &bytes {
                if b < 248 && out.len() < len {
                    out.push(ALPHANUMERIC[(b % 62) as usize] as char);
                }
            }
            self.fill(&mut bytes);
        }
        out
    }

    /// The fixed nonce if there is one, else `bytes` random bytes as lowercase hex.
    pub fn nonce_hex(&self, bytes: usize) -> String {
        if let Some(fixed) = self.fixed_nonce {
            return fixed.to_owned();
        }
        let mut buf = vec![0u8; bytes];
        self.fill(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The time source. Injected so that signers and token lifetimes can be tested at fixed times.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> std::time::SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }
}
