//! The NTLMv2 values of [MS-NLMP] section 4.2.4 (tests/vectors/ntlm), every one.
//!
//! signet neither signs nor seals messages, but the signing and sealing keys and the sealed
//! example are checked too: they exercise the same primitives (HMAC-MD5, MD5, RC4) on the
//! exported session key that the MIC is computed with.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use md5::{Digest, Md5};
use rc4::{KeyInit, Rc4, StreamCipher, consts::U16};
use serde_json::Value;

use super::context::{Entropy, SignContext};
use super::ntlm::{Ntlm, NtlmConfig, Word};
use super::ntlm_msg::{self, Challenge, ClientInput};
use crate::secret::Secret;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/ntlm/ms-nlmp-4.2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector file")).expect("JSON")
}

fn hex(v: &Value, key: &str) -> Vec<u8> {
    let s = v[key].as_str().unwrap_or_else(|| panic!("missing {key}"));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    hex(v, key).try_into().unwrap()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

struct Fixture {
    common: Value,
    v2: Value,
}

fn fixture() -> Fixture {
    let all = vectors();
    Fixture {
        common: all["common"].clone(),
        v2: all["ntlmv2"].clone(),
    }
}

fn response_key(f: &Fixture) -> [u8; 16] {
    let nt = ntlm_msg::nt_hash(&text(&f.common, "password"));
    ntlm_msg::ntowf_v2(&nt, &text(&f.common, "user"), &text(&f.common, "user_dom"))
}

#[test]
fn ntowfv2_and_response_keys() {
    let f = fixture();
    let key = response_key(&f);
    assert_eq!(key.to_vec(), hex(&f.v2, "ntowfv2"));
    assert_eq!(key.to_vec(), hex(&f.v2, "response_key_nt"));
    assert_eq!(key.to_vec(), hex(&f.v2, "response_key_lm"));
}

#[test]
fn challenge_message_fields() {
    let f = fixture();
    let c = Challenge::parse(&hex(&f.v2, "challenge_message")).unwrap();
    assert_eq!(format!("{:#x}", c.flags), text(&f.v2, "negotiate_flags"));
    assert_eq!(
        c.server_challenge.to_vec(),
        hex(&f.common, "server_challenge")
    );
    assert_eq!(c.target_info, hex(&f.v2, "av_pairs"));
    assert_eq!(c.timestamp(), None);
}

#[test]
fn responses_and_session_keys() {
    let f = fixture();
    let r = ntlm_msg::v2_responses(
        &response_key(&f),
        &arr(&f.common, "server_challenge"),
        &arr(&f.common, "client_challenge"),
        &arr(&f.common, "time"),
        &hex(&f.v2, "av_pairs"),
        false,
    );
    let temp = hex(&f.v2, "temp");
    assert_eq!(&r.nt[..16], hex(&f.v2, "nt_proof_str").as_slice());
    assert_eq!(&r.nt[16..], temp.as_slice());
    assert_eq!(r.nt, hex(&f.v2, "nt_challenge_response"));
    assert_eq!(r.lm, hex(&f.v2, "lm_challenge_response"));
    assert_eq!(r.session_base_key.to_vec(), hex(&f.v2, "session_base_key"));
    // NTLMv2: KeyExchangeKey is the SessionBaseKey.
    assert_eq!(r.session_base_key.to_vec(), hex(&f.v2, "key_exchange_key"));
    let random: [u8; 16] = arr(&f.common, "random_session_key");
    assert_eq!(
        ntlm_msg::rc4(&r.session_base_key, &random),
        hex(&f.v2, "encrypted_random_session_key")
    );
}

#[test]
fn authenticate_message_bytes() {
    let f = fixture();
    let c = Challenge::parse(&hex(&f.v2, "challenge_message")).unwrap();
    let input = ClientInput {
        user: &text(&f.common, "user"),
        domain: &text(&f.common, "user_dom"),
        workstation: &text(&f.common, "workstation_name"),
        response_key: response_key(&f),
        client_challenge: arr(&f.common, "client_challenge"),
        time: arr(&f.common, "time"),
        random_session_key: arr(&f.common, "random_session_key"),
        channel_bindings: None,
        negotiate: &ntlm_msg::negotiate_message(),
    };
    let m = ntlm_msg::authenticate_message(&c, &input).unwrap();
    assert_eq!(m, hex(&f.v2, "authenticate_message"));
    let flags = u32::from_le_bytes(m[60..64].try_into().unwrap());
    assert!(text(&f.v2, "authenticate_message_flags").starts_with(&format!("{flags:#x} ")));
}

/// Hands out the vector's client challenge, then its RandomSessionKey, as the "random" bytes.
struct Scripted(Mutex<Vec<u8>>);

impl Entropy for Scripted {
    fn fill(&self, buf: &mut [u8]) {
        let mut bytes = self.0.lock().unwrap();
        let rest = bytes.split_off(buf.len());
        buf.copy_from_slice(&bytes);
        *bytes = rest;
    }
}

#[test]
fn scheme_answers_the_challenge_header_with_injected_clock_and_rng() {
    let f = fixture();
    let ntlm = Ntlm::new(NtlmConfig {
        username: text(&f.common, "user"),
        password: Secret::new(text(&f.common, "password")),
        domain: Some(text(&f.common, "user_dom")),
        workstation: Some(text(&f.common, "workstation_name")),
        retry: true,
    })
    .unwrap();
    let mut script = hex(&f.common, "client_challenge");
    script.extend(hex(&f.common, "random_session_key"));
    let entropy = Scripted(Mutex::new(script));
    // FILETIME zero: 1601-01-01.
    let cx = SignContext {
        now: SystemTime::UNIX_EPOCH - Duration::from_secs(11_644_473_600),
        fixed_nonce: None,
        entropy: &entropy,
    };
    let (negotiate, _) = ntlm.negotiate(Word::Ntlm);
    let value = ntlm
        .authenticate(
            Word::Ntlm,
            &negotiate,
            &hex(&f.v2, "challenge_message"),
            None,
            &cx,
        )
        .unwrap();
    let expected =
        base64::engine::general_purpose::STANDARD.encode(hex(&f.v2, "authenticate_message"));
    assert_eq!(value.to_str().unwrap(), format!("NTLM {expected}"));
}

fn derive(key: &[u8], magic: &str) -> Vec<u8> {
    let mut h = Md5::new();
    h.update(key);
    h.update(magic.as_bytes());
    h.update([0]);
    h.finalize().to_vec()
}

#[test]
fn signing_and_sealing_keys() {
    let f = fixture();
    let exported = hex(&f.common, "random_session_key");
    let c2s = "session key to client-to-server";
    let s2c = "session key to server-to-client";
    assert_eq!(
        derive(&exported, &format!("{c2s} signing key magic constant")),
        hex(&f.v2, "sign_key_client")
    );
    assert_eq!(
        derive(&exported, &format!("{s2c} signing key magic constant")),
        hex(&f.v2, "sign_key_server")
    );
    for (len, suffix) in [(16, ""), (7, "_56bit"), (5, "_40bit")] {
        let key = &exported[..len];
        assert_eq!(
            derive(key, &format!("{c2s} sealing key magic constant")),
            hex(&f.v2, &format!("seal_key_client{suffix}"))
        );
        assert_eq!(
            derive(key, &format!("{s2c} sealing key magic constant")),
            hex(&f.v2, &format!("seal_key_server{suffix}"))
        );
    }
}

#[test]
fn sealed_plaintext_and_signature() {
    let f = fixture();
    let seal = &f.v2["seal"];
    let seal_key: [u8; 16] = arr(&f.v2, "seal_key_client");
    let sign_key = hex(&f.v2, "sign_key_client");
    let plaintext = hex(&f.common, "plaintext_for_seal_utf16le");
    let seq = 0u32.to_le_bytes();

    let mut handle = Rc4::<U16>::new(&seal_key.into());
    let mut sealed = plaintext.clone();
    handle.apply_keystream(&mut sealed);
    assert_eq!(sealed, hex(seal, "sealed_plaintext"));

    let checksum = ntlm_msg::hmac_md5(&sign_key, &[&seq, &plaintext]);
    let mut without = vec![1, 0, 0, 0];
    without.extend_from_slice(&checksum[..8]);
    without.extend_from_slice(&seq);
    assert_eq!(without, hex(seal, "signature_without_key_exch"));

    // With KEY_EXCH the checksum goes through the same RC4 handle, after the message.
    let mut encrypted = checksum[..8].to_vec();
    handle.apply_keystream(&mut encrypted);
    let mut with = vec![1, 0, 0, 0];
    with.extend_from_slice(&encrypted);
    with.extend_from_slice(&seq);
    assert_eq!(with, hex(seal, "signature"));
}
