//! PKCE (RFC 7636): the code verifier and its challenge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::auth::SignContext;

/// How the challenge is derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeMethod {
    /// BASE64URL(SHA256(verifier)).
    S256,
    /// The verifier itself.
    Plain,
}

impl ChallengeMethod {
    /// Parses the config value (`S256` or `plain`, case-insensitive).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "s256" => Ok(ChallengeMethod::S256),
            "plain" => Ok(ChallengeMethod::Plain),
            _ => Err(format!("{s:?} is not S256 or plain")),
        }
    }

    /// The name sent as `code_challenge_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }
}

/// Checks a configured verifier against RFC 7636 §4.1: 43–128 unreserved characters.
pub fn check_verifier(v: &str) -> Result<(), String> {
    if !(43..=128).contains(&v.len()) {
        return Err(format!(
            "must be 43 to 128 characters long (it has {})",
            v.len()
        ));
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
    {
        return Err(format!(
            "may only contain A-Z a-z 0-9 - . _ ~ (found {c:?})"
        ));
    }
    Ok(())
}

/// A fresh verifier: 32 random octets, base64url without padding (43 characters), as RFC 7636
/// Appendix B builds it.
pub fn generate_verifier(cx: &SignContext<'_>) -> String {
    let mut octets = [0u8; 32];
    cx.fill(&mut octets);
    verifier_from_octets(&octets)
}

/// The verifier for given random octets.
pub fn verifier_from_octets(octets: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(octets)
}

/// The `code_challenge` for `verifier`.
pub fn challenge(verifier: &str, method: ChallengeMethod) -> String {
    match method {
        ChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        ChallengeMethod::Plain => verifier.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/vectors/pkce/pkce-vectors.json"
        );
        let text = std::fs::read_to_string(path).expect("the PKCE vectors are missing");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn rfc7636_appendix_b_s256() {
        let v = vectors();
        let case = &v["cases"][0];
        let octets: Vec<u8> = case["random_octets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap() as u8)
            .collect();
        let verifier = verifier_from_octets(&octets);
        assert_eq!(verifier, case["code_verifier"].as_str().unwrap());
        assert_eq!(
            challenge(&verifier, ChallengeMethod::S256),
            case["code_challenge"].as_str().unwrap()
        );
        check_verifier(&verifier).unwrap();
    }

    #[test]
    fn rfc7636_plain() {
        let v = vectors();
        let case = &v["cases"][1];
        let verifier = case["code_verifier"].as_str().unwrap();
        assert_eq!(case["code_challenge_method"], "plain");
        assert_eq!(
            challenge(verifier, ChallengeMethod::Plain),
            case["code_challenge"].as_str().unwrap()
        );
    }

    #[test]
    fn generated_verifier_follows_the_grammar() {
        let cx = SignContext::system();
        let v = generate_verifier(&cx);
        check_verifier(&v).unwrap();
        assert_ne!(v, generate_verifier(&cx));
    }

    #[test]
    fn configured_verifier_is_checked() {
        assert!(check_verifier("short").is_err());
        assert!(check_verifier(&"a".repeat(129)).is_err());
        assert!(check_verifier(&format!("{}!", "a".repeat(43))).is_err());
        check_verifier(&"a~._-".repeat(9)).unwrap();
    }
}
