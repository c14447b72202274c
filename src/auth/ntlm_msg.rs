//! NTLMv2 messages and cryptography ([MS-NLMP] 2.2 and 3.3.2), client side only.
//!
//! Hand-written because no crate fits a proxy: the published ones lack MIC and channel
//! bindings or do not let the client challenge and time be injected. The primitives (MD4,
//! HMAC-MD5, RC4) come from RustCrypto.
//!
//! CHALLENGE messages come from servers: nothing here may index past what they sent.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hmac::Hmac;
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{KeyInit as _, Rc4, StreamCipher, consts::U16};

/// `NTLMSSP\0`.
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NEGOTIATE_UNICODE.
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
/// REQUEST_TARGET.
pub const REQUEST_TARGET: u32 = 0x0000_0004;
/// NEGOTIATE_KEY_EXCH: the client picks the session key and sends it RC4-encrypted.
pub const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
/// NEGOTIATE_VERSION: messages carry an 8-byte version field.
pub const NEGOTIATE_VERSION: u32 = 0x0200_0000;

/// The flags signet offers: UNICODE, REQUEST_TARGET, SIGN, SEAL, NTLM, ALWAYS_SIGN,
/// EXTENDED_SESSIONSECURITY, TARGET_INFO, VERSION, 128, KEY_EXCH, 56. No OEM, no LM key, so
/// that nothing below NTLMv2 can be negotiated.
pub const CLIENT_FLAGS: u32 = 0xe288_8235;

/// The version signet reports (5.1.2600, NTLM revision 15); informational only.
const VERSION: [u8; 8] = [5, 1, 0x28, 0x0a, 0, 0, 0, 0x0f];

const AV_EOL: u16 = 0;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
const AV_CHANNEL_BINDINGS: u16 = 10;
/// MsvAvFlags bit: the AUTHENTICATE message carries a MIC.
const AV_FLAG_MIC: u32 = 0x2;

/// Why a CHALLENGE message cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    /// The bytes are not a CHALLENGE message or a field points outside it.
    #[error("malformed NTLM challenge: {0}")]
    Malformed(&'static str),
    /// The server did not offer what NTLMv2 needs.
    #[error("the server's NTLM challenge does not allow NTLMv2 ({0})")]
    Unsupported(&'static str),
}

type HmacMd5 = Hmac<Md5>;

/// HMAC-MD5 over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    super::mac::hmac::<HmacMd5>(key, parts).into()
}

/// RC4 of `data` under a 16-byte key.
pub fn rc4(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    Rc4::<U16>::new(key.into()).apply_keystream(&mut out);
    out
}

/// UTF-16LE, as NTLM sends every string once UNICODE is negotiated.
pub fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// NTOWFv1: MD4 of the UTF-16LE password (the "NT hash").
pub fn nt_hash(password: &str) -> [u8; 16] {
    Md4::digest(utf16le(password)).into()
}

/// NTOWFv2 from the NT hash: HMAC-MD5 over the upper-cased user and the domain.
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    hmac_md5(
        nt_hash,
        &[&utf16le(&format!("{}{domain}", user.to_uppercase()))],
    )
}

/// The parts of a CHALLENGE message that the answer depends on.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// NegotiateFlags as the server sent them.
    pub flags: u32,
    /// The 8-byte server challenge.
    pub server_challenge: [u8; 8],
    /// TargetInfo: the AV pairs, unparsed.
    pub target_info: Vec<u8>,
    /// The whole message, for the MIC.
    pub raw: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Challenge {
    /// Parses a CHALLENGE_MESSAGE (type 2).
    pub fn parse(raw: &[u8]) -> Result<Challenge, NtlmError> {
        if raw.get(..8) != Some(SIGNATURE.as_slice()) {
            return Err(NtlmError::Malformed("no NTLMSSP signature"));
        }
        if u32_at(raw, 8) != Some(2) {
            return Err(NtlmError::Malformed("not a CHALLENGE message (type 2)"));
        }
        let flags = u32_at(raw, 20).ok_or(NtlmError::Malformed("truncated"))?;
        let server_challenge: [u8; 8] = raw
            .get(24..32)
            .and_then(|b| b.try_into().ok())
            .ok_or(NtlmError::Malformed("truncated"))?;
        let target_info = if raw.len() >= 48 {
            let len = usize::from(u16_at(raw, 40).unwrap_or(0));
            let offset = u32_at(raw, 44).unwrap_or(0) as usize;
            raw.get(offset..offset + len)
                .ok_or(NtlmError::Malformed(
                    "TargetInfo points outside the message",
                ))?
                .to_vec()
        } else {
            Vec::new()
        };
        if target_info.is_empty() {
            return Err(NtlmError::Unsupported("no TargetInfo"));
        }
        if flags & NEGOTIATE_UNICODE == 0 {
            return Err(NtlmError::Unsupported("no Unicode"));
        }
        let challenge = Challenge {
            flags,
            server_challenge,
            target_info,
            raw: raw.to_vec(),
        };
        challenge.av_pairs()?;
        Ok(challenge)
    }

    /// The AV pairs of TargetInfo, up to (not including) MsvAvEOL.
    pub fn av_pairs(&self) -> Result<Vec<(u16, &[u8])>, NtlmError> {
        let mut pairs = Vec::new();
        let mut at = 0;
        loop {
            let (Some(id), Some(len)) = (
                u16_at(&self.target_info, at),
                u16_at(&self.target_info, at + 2),
            ) else {
                return Err(NtlmError::Malformed("TargetInfo has no MsvAvEOL"));
            };
            if id == AV_EOL {
                return Ok(pairs);
            }
            let value = self
                .target_info
                .get(at + 4..at + 4 + usize::from(len))
                .ok_or(NtlmError::Malformed("an AV pair runs past TargetInfo"))?;
            pairs.push((id, value));
            at += 4 + usize::from(len);
        }
    }

    /// MsvAvTimestamp, when the server sent one (then a MIC is required).
    pub fn timestamp(&self) -> Option<[u8; 8]> {
        let pairs = self.av_pairs().ok()?;
        let (_, value) = pairs.into_iter().find(|(id, _)| *id == AV_TIMESTAMP)?;
        value.try_into().ok()
    }
}

/// A NEGOTIATE_MESSAGE (type 1) with [`CLIENT_FLAGS`] and no domain or workstation.
pub fn negotiate_message() -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&CLIENT_FLAGS.to_le_bytes());
    // Empty DomainNameFields and WorkstationFields, pointing just past the header.
    for _ in 0..2 {
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&0u16.to_le_bytes());
        m.extend_from_slice(&40u32.to_le_bytes());
    }
    m.extend_from_slice(&VERSION);
    m
}

/// Everything the client contributes to an AUTHENTICATE message.
pub struct ClientInput<'a> {
    /// User name as sent (not upper-cased).
    pub user: &'a str,
    /// Domain name.
    pub domain: &'a str,
    /// Workstation name.
    pub workstation: &'a str,
    /// NTOWFv2 (= ResponseKeyNT = ResponseKeyLM).
    pub response_key: [u8; 16],
    /// The 8-byte client challenge (random).
    pub client_challenge: [u8; 8],
    /// FILETIME to use when the server sent no MsvAvTimestamp.
    pub time: [u8; 8],
    /// The session key to send under KEY_EXCH (random).
    pub random_session_key: [u8; 16],
    /// MD5 of the gss_channel_bindings_struct, for MsvAvChannelBindings.
    pub channel_bindings: Option<[u8; 16]>,
    /// The NEGOTIATE message that was sent, for the MIC.
    pub negotiate: &'a [u8],
}

/// The AV pairs the client sends back: the server's, plus MsvAvFlags (MIC) when the server sent
/// a timestamp and MsvAvChannelBindings when given.
fn client_target_info(
    challenge: &Challenge,
    with_mic: bool,
    bindings: Option<[u8; 16]>,
) -> Result<Vec<u8>, NtlmError> {
    let mut out = Vec::with_capacity(challenge.target_info.len() + 32);
    let mut flags = if with_mic { AV_FLAG_MIC } else { 0 };
    for (id, value) in challenge.av_pairs()? {
        match id {
            AV_FLAGS => {
                flags |= value.try_into().map(u32::from_le_bytes).unwrap_or(0);
                continue;
            }
            AV_CHANNEL_BINDINGS => continue,
            _ => {}
        }
        push_av(&mut out, id, value);
    }
    if flags != 0 {
        push_av(&mut out, AV_FLAGS, &flags.to_le_bytes());
    }
    if let Some(hash) = bindings {
        push_av(&mut out, AV_CHANNEL_BINDINGS, &hash);
    }
    push_av(&mut out, AV_EOL, &[]);
    Ok(out)
}

fn push_av(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

/// The NTLMv2 responses and keys for one challenge ([MS-NLMP] 3.3.2).
#[derive(Debug, Clone)]
pub struct V2Responses {
    /// NtChallengeResponse: NTProofStr followed by the `temp` blob.
    pub nt: Vec<u8>,
    /// LmChallengeResponse (LMv2, or 24 zero bytes when a MIC is sent).
    pub lm: Vec<u8>,
    /// SessionBaseKey (= KeyExchangeKey for NTLMv2).
    pub session_base_key: [u8; 16],
}

/// Computes the NTLMv2 responses over `target_info` at `time`.
pub fn v2_responses(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: &[u8; 8],
    target_info: &[u8],
    zero_lm: bool,
) -> V2Responses {
    let mut temp = Vec::with_capacity(28 + target_info.len() + 4);
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(time);
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    let proof = hmac_md5(response_key, &[server_challenge, &temp]);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&temp);
    let lm = if zero_lm {
        vec![0; 24]
    } else {
        let mut lm = hmac_md5(response_key, &[server_challenge, client_challenge]).to_vec();
        lm.extend_from_slice(client_challenge);
        lm
    };
    V2Responses {
        nt,
        lm,
        session_base_key: hmac_md5(response_key, &[&proof]),
    }
}

/// Builds the AUTHENTICATE_MESSAGE (type 3) answering `challenge`.
// The six fields and their offsets are fixed arrays indexed by constants; the MIC's place was
// written just above.
#[allow(clippy::indexing_slicing)]
pub fn authenticate_message(
    challenge: &Challenge,
    input: &ClientInput<'_>,
) -> Result<Vec<u8>, NtlmError> {
    let timestamp = challenge.timestamp();
    let with_mic = timestamp.is_some();
    let target_info = client_target_info(challenge, with_mic, input.channel_bindings)?;
    // Without channel bindings or a MIC to add, the server's AV pairs go back unchanged.
    let target_info = if !with_mic && input.channel_bindings.is_none() {
        challenge.target_info.clone()
    } else {
        target_info
    };
    let responses = v2_responses(
        &input.response_key,
        &challenge.server_challenge,
        &input.client_challenge,
        timestamp.as_ref().unwrap_or(&input.time),
        &target_info,
        with_mic,
    );
    let flags = (challenge.flags & CLIENT_FLAGS) | REQUEST_TARGET;
    let (encrypted_key, exported_key) = if flags & NEGOTIATE_KEY_EXCH != 0 {
        (
            rc4(&responses.session_base_key, &input.random_session_key),
            input.random_session_key,
        )
    } else {
        (Vec::new(), responses.session_base_key)
    };

    let domain = utf16le(input.domain);
    let user = utf16le(input.user);
    let workstation = utf16le(input.workstation);
    let header_len = 64 + 8 + if with_mic { 16 } else { 0 };
    // Payload order as Windows writes it: domain, user, workstation, LM, NT, session key.
    let fields: [&[u8]; 6] = [
        &domain,
        &user,
        &workstation,
        &responses.lm,
        &responses.nt,
        &encrypted_key,
    ];
    let mut offsets = [0usize; 6];
    let mut at = header_len;
    for (i, field) in fields.iter().enumerate() {
        offsets[i] = at;
        at += field.len();
    }
    let mut m = Vec::with_capacity(at);
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&3u32.to_le_bytes());
    // Header field order: LM, NT, domain, user, workstation, session key.
    for i in [3, 4, 0, 1, 2, 5] {
        let len = u16::try_from(fields[i].len())
            .map_err(|_| NtlmError::Malformed("TargetInfo too large"))?;
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&(offsets[i] as u32).to_le_bytes());
    }
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(&VERSION);
    let mic_at = m.len();
    if with_mic {
        m.extend_from_slice(&[0; 16]);
    }
    for field in fields {
        m.extend_from_slice(field);
    }
    if with_mic {
        let mic = hmac_md5(&exported_key, &[input.negotiate, &challenge.raw, &m]);
        m[mic_at..mic_at + 16].copy_from_slice(&mic);
    }
    Ok(m)
}

/// MD5 of the gss_channel_bindings_struct carrying `application_data` (RFC 5929's
/// `tls-server-end-point:` + certificate hash) with empty addresses.
pub fn channel_bindings_hash(application_data: &[u8]) -> [u8; 16] {
    let mut s = Vec::with_capacity(20 + application_data.len());
    s.extend_from_slice(&[0; 16]);
    s.extend_from_slice(&(application_data.len() as u32).to_le_bytes());
    s.extend_from_slice(application_data);
    Md5::digest(s).into()
}
