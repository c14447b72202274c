//! The Digest response (RFC 7616 section 3.4): HA1, HA2, the response hash, and the
//! `Authorization` value carrying them.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use md5::Md5;
use sha2::{Sha256, Sha512_256};

use super::{DigestAlgorithm, DigestQop};

impl DigestAlgorithm {
    /// Reads an RFC 7616 algorithm name (case-insensitive); `None` for any other.
    pub fn from_name(name: &str) -> Option<DigestAlgorithm> {
        use DigestAlgorithm::*;
        [Md5, Md5Sess, Sha256, Sha256Sess, Sha512_256, Sha512_256Sess]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The RFC 7616 name.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Md5Sess => "MD5-sess",
            DigestAlgorithm::Sha256 => "SHA-256",
            DigestAlgorithm::Sha256Sess => "SHA-256-sess",
            DigestAlgorithm::Sha512_256 => "SHA-512-256",
            DigestAlgorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether HA1 also covers the nonce and client nonce (`-sess`).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            DigestAlgorithm::Md5Sess
                | DigestAlgorithm::Sha256Sess
                | DigestAlgorithm::Sha512_256Sess
        )
    }

    /// Preference when a server offers several: the stronger hash wins.
    pub fn strength(self) -> u8 {
        match self {
            DigestAlgorithm::Md5 | DigestAlgorithm::Md5Sess => 1,
            DigestAlgorithm::Sha256 | DigestAlgorithm::Sha256Sess => 2,
            DigestAlgorithm::Sha512_256 | DigestAlgorithm::Sha512_256Sess => 3,
        }
    }

    /// `H(parts joined by ':')` as lowercase hex. SHA-512-256 is FIPS 180-4 SHA-512/256 (its
    /// own initial values), not truncated SHA-512.
    pub fn hash(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> String {
            let mut hasher = D::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    hasher.update(b":");
                }
                hasher.update(part);
            }
            hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }
        match self.strength() {
            1 => run::<Md5>(parts),
            2 => run::<Sha256>(parts),
            _ => run::<Sha512_256>(parts),
        }
    }
}

impl DigestQop {
    /// The token sent in `qop=`.
    pub fn name(self) -> &'static str {
        match self {
            DigestQop::Auth => "auth",
            DigestQop::AuthInt => "auth-int",
        }
    }
}

/// Everything one response is computed from.
pub struct Inputs<'a> {
    /// Hash algorithm.
    pub algorithm: DigestAlgorithm,
    /// Echo `algorithm=` (servers that named none get none back).
    pub algorithm_named: bool,
    /// Chosen qop; `None` is the RFC 2069 form.
    pub qop: Option<DigestQop>,
    /// User name, UTF-8.
    pub username: &'a str,
    /// Password, UTF-8.
    pub password: &'a str,
    /// Realm from the challenge.
    pub realm: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// Nonce count.
    pub nc: u32,
    /// Client nonce.
    pub cnonce: &'a str,
    /// Request method.
    pub method: &'a str,
    /// The request target exactly as sent.
    pub uri: &'a str,
    /// `H(entity-body)` for auth-int.
    pub body_hash: Option<&'a str>,
    /// Opaque value to echo.
    pub opaque: Option<&'a str>,
    /// Send `H(username:realm)` as the user name.
    pub userhash: bool,
}

impl Inputs<'_> {
    /// HA1: `H(user:realm:password)`, and for `-sess` `H(that:nonce:cnonce)`.
    pub fn ha1(&self) -> String {
        let alg = self.algorithm;
        let base = alg.hash(&[
            self.username.as_bytes(),
            self.realm.as_bytes(),
            self.password.as_bytes(),
        ]);
        if !alg.is_session() {
            return base;
        }
        alg.hash(&[
            base.as_bytes(),
            self.nonce.as_bytes(),
            self.cnonce.as_bytes(),
        ])
    }

    /// HA2: `H(method:uri)`, and for auth-int `H(method:uri:H(body))`.
    pub fn ha2(&self) -> String {
        let mut parts = vec![self.method.as_bytes(), self.uri.as_bytes()];
        if self.qop == Some(DigestQop::AuthInt) {
            parts.push(self.body_hash.unwrap_or_default().as_bytes());
        }
        self.algorithm.hash(&parts)
    }

    /// `nc` as sent: eight hex digits.
    pub fn nc_hex(&self) -> String {
        format!("{:08x}", self.nc)
    }

    /// The response hash.
    pub fn response(&self) -> String {
        let (ha1, ha2) = (self.ha1(), self.ha2());
        match self.qop {
            None => self
                .algorithm
                .hash(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
            Some(qop) => self.algorithm.hash(&[
                ha1.as_bytes(),
                self.nonce.as_bytes(),
                self.nc_hex().as_bytes(),
                self.cnonce.as_bytes(),
                qop.name().as_bytes(),
                ha2.as_bytes(),
            ]),
        }
    }

    /// The `Authorization` value, fields in RFC 7616's order.
    pub fn authorization(&self) -> String {
        let mut fields: Vec<String> = Vec::with_capacity(11);
        if self.userhash {
            let hashed = self
                .algorithm
                .hash(&[self.username.as_bytes(), self.realm.as_bytes()]);
            fields.push(format!("username={}", quote(&hashed)));
        } else if self.username.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            fields.push(format!("username={}", quote(self.username)));
        } else {
            fields.push(format!("username*=UTF-8''{}", ext_value(self.username)));
        }
        fields.push(format!("realm={}", quote(self.realm)));
        fields.push(format!("uri={}", quote(self.uri)));
        if self.algorithm_named || self.algorithm != DigestAlgorithm::Md5 {
            fields.push(format!("algorithm={}", self.algorithm.name()));
        }
        fields.push(format!("nonce={}", quote(self.nonce)));
        if let Some(qop) = self.qop {
            fields.push(format!("nc={}", self.nc_hex()));
            fields.push(format!("cnonce={}", quote(self.cnonce)));
            fields.push(format!("qop={}", qop.name()));
        }
        fields.push(format!("response={}", quote(&self.response())));
        if let Some(opaque) = self.opaque {
            fields.push(format!("opaque={}", quote(opaque)));
        }
        if self.userhash {
            fields.push("userhash=true".to_owned());
        }
        format!("Digest {}", fields.join(", "))
    }
}

/// `H(entity-body)` for auth-int.
pub fn body_hash(algorithm: DigestAlgorithm, body: &[u8]) -> String {
    algorithm.hash(&[body])
}

/// A quoted-string, with `"` and `\` escaped.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// RFC 8187 `value-chars`: attr-char kept, every other byte percent-encoded.
fn ext_value(value: &str) -> String {
    const ATTR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, ATTR).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_user_goes_in_username_star() {
        // RFC 7616 section 3.9.2 shows this encoding of the same user.
        assert_eq!(ext_value("Jäsøn Doe"), "J%C3%A4s%C3%B8n%20Doe");
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        assert_eq!(
            DigestAlgorithm::from_name("sha-512-256-SESS"),
            Some(DigestAlgorithm::Sha512_256Sess)
        );
        assert_eq!(DigestAlgorithm::from_name("SHA-512"), None);
    }
}
