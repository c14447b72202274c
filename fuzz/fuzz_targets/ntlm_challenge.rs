//! NTLM CHALLENGE (type 2) message bytes as a server sends them (base64-decoded), and the
//! AUTHENTICATE (type 3) message signet builds from one with fixed credentials.
//!
//! Properties: nothing panics; an accepted CHALLENGE has a Unicode flag and well-formed AV
//! pairs; every field of the AUTHENTICATE message lies inside it, the domain, user and
//! workstation read back as given, and the NT response carries the server challenge's AV pairs
//! (or a copy of TargetInfo); the header value of `Ntlm::authenticate` decodes to a type-3
//! message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet::auth::ntlm::{Ntlm, NtlmConfig, Word};
use signet::auth::ntlm_msg::{
    Challenge, ClientInput, NEGOTIATE_UNICODE, authenticate_message, negotiate_message,
    ntowf_v2, nt_hash, utf16le,
};
use signet::auth::{Entropy, SignContext};
use signet::secret::Secret;

struct Fixed;

impl Entropy for Fixed {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0xaa);
    }
}

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

fuzz_target!(|data: &[u8]| {
    let Ok(challenge) = Challenge::parse(data) else {
        return;
    };
    assert!(challenge.flags & NEGOTIATE_UNICODE != 0);
    assert!(!challenge.target_info.is_empty());
    let pairs = challenge.av_pairs().expect("parse checked the AV pairs");
    let _ = challenge.timestamp();

    let negotiate = negotiate_message();
    for bindings in [None, Some([7u8; 16])] {
        let input = ClientInput {
            user: "User",
            domain: "Domain",
            workstation: "COMPUTER",
            response_key: ntowf_v2(&nt_hash("Password"), "User", "Domain"),
            client_challenge: [0xaa; 8],
            time: [0; 8],
            random_session_key: [0x55; 16],
            channel_bindings: bindings,
            negotiate: &negotiate,
        };
        let Ok(m) = authenticate_message(&challenge, &input) else {
            continue;
        };
        assert_eq!(&m[..8], b"NTLMSSP\0");
        assert_eq!(u32_at(&m, 8), 3);
        // LM, NT, domain, user, workstation, session key.
        let field = |i: usize| {
            let at = 12 + 8 * i;
            let (len, max, offset) = (u16_at(&m, at), u16_at(&m, at + 2), u32_at(&m, at + 4));
            assert_eq!(len, max);
            assert!(offset + len <= m.len(), "field {i} runs past the message");
            &m[offset..offset + len]
        };
        assert_eq!(field(2), utf16le("Domain"));
        assert_eq!(field(3), utf16le("User"));
        assert_eq!(field(4), utf16le("COMPUTER"));
        let nt = field(1);
        assert!(nt.len() >= 16 + 28 + 4);
        let blob_info = &nt[16 + 28..nt.len() - 4];
        if bindings.is_none() && challenge.timestamp().is_none() {
            assert_eq!(blob_info, &challenge.target_info[..]);
        } else {
            // Every server pair but MsvAvFlags and MsvAvChannelBindings goes back, in order.
            let mut at = 0;
            for (id, value) in pairs.iter().filter(|(id, _)| *id != 6 && *id != 10) {
                assert_eq!(u16_at(blob_info, at), usize::from(*id));
                assert_eq!(&blob_info[at + 4..at + 4 + value.len()], *value);
                at += 4 + value.len();
            }
        }
    }

    let ntlm = Ntlm::new(NtlmConfig {
        username: "Domain\\User".into(),
        password: Secret::new("Password"),
        domain: None,
        workstation: Some("COMPUTER".into()),
        retry: true,
    })
    .expect("valid config");
    let cx = SignContext {
        now: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        fixed_nonce: None,
        entropy: &Fixed,
    };
    let (negotiate, _) = ntlm.negotiate(Word::Ntlm);
    if let Ok(value) = ntlm.authenticate(Word::Ntlm, &negotiate, data, Some(b"cert"), &cx) {
        use base64::Engine as _;
        let text = value.to_str().expect("ASCII");
        let token = text.strip_prefix("NTLM ").expect("the NTLM word");
        let m = base64::engine::general_purpose::STANDARD
            .decode(token)
            .expect("base64");
        assert_eq!(&m[..12], b"NTLMSSP\0\x03\0\0\0");
    }
});
