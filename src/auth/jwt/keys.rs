//! The keys of the `jwt` scheme: HMAC secrets, RSA keys (PKCS#8 or PKCS#1) and EC keys (PKCS#8
//! or SEC1) from PEM, and the signatures they make.

use super::super::{AuthError, BuildError};
use crate::context::Entropy;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use pkcs8::{ObjectIdentifier, PrivateKeyInfo, SecretDocument};
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use sha2::{Sha256, Sha384, Sha512};
use std::fmt;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(super) const ALL: [(Curve, ObjectIdentifier); 3] = [
        (
            Curve::P256,
            ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
        ),
        (Curve::P384, ObjectIdentifier::new_unwrap("1.3.132.0.34")),
        (Curve::P521, ObjectIdentifier::new_unwrap("1.3.132.0.35")),
    ];

    pub(super) fn of(oid: ObjectIdentifier) -> Option<Curve> {
        Curve::ALL.iter().find(|(_, o)| *o == oid).map(|(c, _)| *c)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
const MIN_RSA_BITS: usize = 2048;

/// Base64 as Node reads it for Postman's `is_secret_base64_encoded`: either alphabet, padding
/// optional.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The signing key, ready for its algorithm.
pub(super) enum Key {
    Hmac(Vec<u8>),
    Rs256(rsa::pkcs1v15::SigningKey<Sha256>),
    Rs384(rsa::pkcs1v15::SigningKey<Sha384>),
    Rs512(rsa::pkcs1v15::SigningKey<Sha512>),
    Ps256(rsa::pss::BlindedSigningKey<Sha256>),
    Ps384(rsa::pss::BlindedSigningKey<Sha384>),
    Ps512(rsa::pss::BlindedSigningKey<Sha512>),
    /// P-256 and P-384, through ring.
    Ecdsa(ring::signature::EcdsaKeyPair),
    P521(p521::ecdsa::SigningKey),
}

/// A private key as found in `private_key`: its DER and what it is.
pub(super) enum Pem {
    Pkcs8(SecretDocument),
    Pkcs1(SecretDocument),
    Sec1(SecretDocument),
}

impl Key {
    pub(super) fn load(alg: Algorithm, cfg: &JwtConfig) -> Result<Key, BuildError> {
        if alg.is_hmac() {
            return Key::hmac(alg, cfg);
        }
        let pem = cfg
            .private_key
            .as_ref()
            .filter(|k| !k.expose().trim().is_empty())
            .ok_or_else(|| {
                BuildError::at(
                    "private_key",
                    format!("is required for {alg} (a PEM private key: {})", alg.wants()),
                )
            })?;
        let pem = Pem::read(pem.expose())?;
        match alg.curve() {
            None => Key::rsa(alg, pem),
            Some(Curve::P521) => Key::p521(alg, pem),
            Some(curve) => Key::ecdsa(alg, curve, pem),
        }
    }

    pub(super) fn hmac(alg: Algorithm, cfg: &JwtConfig) -> Result<Key, BuildError> {
        let secret = cfg
            .secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
            .ok_or_else(|| BuildError::at("secret", format!("is required for {alg}")))?;
        if !cfg.is_secret_base64_encoded {
            return Ok(Key::Hmac(secret.expose().as_bytes().to_vec()));
        }
        let text: String = secret
            .expose()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = BASE64_STANDARD
            .decode(&text)
            .or_else(|_| BASE64_URL.decode(&text))
            .map_err(|_| {
                BuildError::at(
                    "secret",
                    "is not base64, but is_secret_base64_encoded = true says it is",
                )
            })?;
        if bytes.is_empty() {
            return Err(BuildError::at("secret", "decodes to no bytes"));
        }
        Ok(Key::Hmac(bytes))
    }

    pub(super) fn rsa(alg: Algorithm, pem: Pem) -> Result<Key, BuildError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;

        let key = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                rsa::RsaPrivateKey::from_pkcs8_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Pkcs1(der) => {
                rsa::RsaPrivateKey::from_pkcs1_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Sec1(_) => return Err(wrong_key(alg, "an EC key")),
        }
        .map_err(|e| BuildError::at("private_key", format!("is not a usable RSA key ({e})")))?;
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(BuildError::at(
                "private_key",
                format!("is a {bits}-bit RSA key; JWS needs at least {MIN_RSA_BITS} bits"),
            ));
        }
        Ok(match alg {
            Algorithm::Rs256 => Key::Rs256(rsa::pkcs1v15::SigningKey::new(key)),
            Algorithm::Rs384 => Key::Rs384(rsa::pkcs1v15::SigningKey::new(key)),
            Algorithm::Rs512 => Key::Rs512(rsa::pkcs1v15::SigningKey::new(key)),
            // `new` sets the salt length to the hash length, as RFC 7518 §3.5 requires.
            Algorithm::Ps256 => Key::Ps256(rsa::pss::BlindedSigningKey::new(key)),
            Algorithm::Ps384 => Key::Ps384(rsa::pss::BlindedSigningKey::new(key)),
            _ => Key::Ps512(rsa::pss::BlindedSigningKey::new(key)),
        })
    }

    pub(super) fn ecdsa(alg: Algorithm, curve: Curve, pem: Pem) -> Result<Key, BuildError> {
        use ring::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        };

        let signing = if curve == Curve::P256 {
            &ECDSA_P256_SHA256_FIXED_SIGNING
        } else {
            &ECDSA_P384_SHA384_FIXED_SIGNING
        };
        let rng = ring::rand::SystemRandom::new();
        let unusable = |e: ring::error::KeyRejected| {
            BuildError::at(
                "private_key",
                format!("is not a usable {} key ({e})", curve.name()),
            )
        };
        let pair = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                EcdsaKeyPair::from_pkcs8(signing, der.as_bytes(), &rng).map_err(unusable)?
            }
            Pem::Sec1(der) => {
                let key = sec1_key(alg, der)?;
                let public = key.public_key.ok_or_else(|| {
                    BuildError::at(
                        "private_key",
                        "is a SEC1 key without its public key; convert it to PKCS#8 with \
                         `openssl pkcs8 -topk8 -nocrypt`",
                    )
                })?;
                EcdsaKeyPair::from_private_key_and_public_key(
                    signing,
                    key.private_key,
                    public,
                    &rng,
                )
                .map_err(unusable)?
            }
            Pem::Pkcs1(_) => return Err(wrong_key(alg, "an RSA key")),
        };
        Ok(Key::Ecdsa(pair))
    }

    pub(super) fn p521(alg: Algorithm, pem: Pem) -> Result<Key, BuildError> {
        use p521::pkcs8::DecodePrivateKey;

        let secret = match &pem {
            Pem::Pkcs8(der) => {
                pem.expect_pkcs8_family(alg)?;
                p521::SecretKey::from_pkcs8_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Sec1(der) => {
                sec1_key(alg, der)?;
                p521::SecretKey::from_sec1_der(der.as_bytes()).map_err(|e| e.to_string())
            }
            Pem::Pkcs1(_) => return Err(wrong_key(alg, "an RSA key")),
        }
        .map_err(|e| BuildError::at("private_key", format!("is not a usable P-521 key ({e})")))?;
        let key = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes()).map_err(|e| {
            BuildError::at("private_key", format!("is not a usable P-521 key ({e})"))
        })?;
        Ok(Key::P521(key))
    }

    pub(super) fn sign(
        &self,
        alg: Algorithm,
        input: &[u8],
        entropy: &dyn Entropy,
    ) -> Result<Vec<u8>, AuthError> {
        let failed =
            |e: &dyn fmt::Display| AuthError::BadCredential(format!("{alg} signing failed: {e}"));
        let mut rng = EntropyRng(entropy);
        match self {
            Key::Hmac(key) => match alg {
                Algorithm::Hs256 => mac::<Hmac<Sha256>>(key, input),
                Algorithm::Hs384 => mac::<Hmac<Sha384>>(key, input),
                _ => mac::<Hmac<Sha512>>(key, input),
            }
            .map_err(|e| failed(&e)),
            Key::Rs256(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Rs384(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Rs512(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps256(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps384(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            Key::Ps512(k) => randomized(k, &mut rng, input).map_err(|e| failed(&e)),
            // ring draws the nonce itself: its random source cannot be replaced.
            Key::Ecdsa(k) => k
                .sign(&ring::rand::SystemRandom::new(), input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| failed(&e)),
            // The nonce comes from the injected randomness (p521 0.13 has no RFC 6979 signer).
            Key::P521(k) => {
                randomized::<_, p521::ecdsa::Signature>(k, &mut rng, input).map_err(|e| failed(&e))
            }
        }
    }
}

impl Pem {
    pub(super) fn read(text: &str) -> Result<Pem, BuildError> {
        let text = text.trim();
        let label = pkcs8::der::pem::decode_label(text.as_bytes()).map_err(|_| {
            BuildError::at(
                "private_key",
                "is not a PEM private key (-----BEGIN PRIVATE KEY----- …)",
            )
        })?;
        let kind: fn(SecretDocument) -> Pem = match label {
            "PRIVATE KEY" => Pem::Pkcs8,
            "RSA PRIVATE KEY" => Pem::Pkcs1,
            "EC PRIVATE KEY" => Pem::Sec1,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(BuildError::at(
                    "private_key",
                    "is encrypted; give the key unencrypted (`openssl pkcs8 -topk8 -nocrypt`)",
                ));
            }
            other => {
                return Err(BuildError::at(
                    "private_key",
                    format!("is a PEM {other}, not a private key"),
                ));
            }
        };
        let (_, der) = SecretDocument::from_pem(text).map_err(|e| {
            BuildError::at("private_key", format!("is not a valid PEM {label} ({e})"))
        })?;
        Ok(kind(der))
    }

    /// For PKCS#8: that its algorithm (and curve) is the one `alg` signs with.
    pub(super) fn expect_pkcs8_family(&self, alg: Algorithm) -> Result<(), BuildError> {
        let Pem::Pkcs8(der) = self else {
            return Ok(());
        };
        let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| {
            BuildError::at("private_key", format!("is not a PKCS#8 private key ({e})"))
        })?;
        let oid = info.algorithm.oid;
        let is = if oid == RSA_ENCRYPTION {
            None
        } else if oid == EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().ok().and_then(Curve::of);
            match (curve, alg.curve()) {
                (Some(have), Some(want)) if have == want => return Ok(()),
                (Some(have), _) => Some(format!("an EC {} key", have.name())),
                (None, _) => Some("an EC key on a curve JWS has no algorithm for".to_owned()),
            }
        } else if oid == RSASSA_PSS {
            Some("an RSASSA-PSS-only key (export it as a plain RSA key)".to_owned())
        } else if oid == ED25519 {
            Some("an Ed25519 key".to_owned())
        } else {
            Some(format!("a key of algorithm {oid}"))
        };
        match (is, alg.curve()) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(wrong_key(alg, "an RSA key")),
            (Some(is), _) => Err(wrong_key(alg, &is)),
        }
    }
}

pub(super) fn wrong_key(alg: Algorithm, is: &str) -> BuildError {
    BuildError::at(
        "private_key",
        format!("is {is}; {alg} needs {}", alg.wants()),
    )
}

/// A SEC1 `ECPrivateKey`, checked to be on `alg`'s curve when it names one.
pub(super) fn sec1_key(
    alg: Algorithm,
    der: &SecretDocument,
) -> Result<sec1::EcPrivateKey<'_>, BuildError> {
    let key = sec1::EcPrivateKey::try_from(der.as_bytes()).map_err(|e| {
        BuildError::at("private_key", format!("is not a SEC1 EC private key ({e})"))
    })?;
    if let Some(oid) = key.parameters.and_then(|p| p.named_curve()) {
        let have = Curve::of(oid);
        if have != alg.curve() {
            let is = match have {
                Some(curve) => format!("an EC {} key", curve.name()),
                None => "an EC key on a curve JWS has no algorithm for".to_owned(),
            };
            return Err(wrong_key(alg, &is));
        }
    }
    Ok(key)
}

pub(super) fn mac<M: Mac + KeyInit>(
    key: &[u8],
    input: &[u8],
) -> Result<Vec<u8>, hmac::digest::InvalidLength> {
    let mut mac = <M as Mac>::new_from_slice(key)?;
    mac.update(input);
    Ok(mac.finalize().into_bytes().to_vec())
}

pub(super) fn randomized<K, S>(
    key: &K,
    rng: &mut EntropyRng<'_>,
    input: &[u8],
) -> Result<Vec<u8>, rsa::signature::Error>
where
    K: RandomizedSigner<S>,
    S: SignatureEncoding,
{
    Ok(key.try_sign_with_rng(rng, input)?.to_vec())
}

/// The injected randomness as the RNG the `rsa` crate takes (PSS salts, blinding).
pub(super) struct EntropyRng<'a>(pub(super) &'a dyn Entropy);

impl rsa::rand_core::RngCore for EntropyRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for EntropyRng<'_> {}
