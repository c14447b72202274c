use super::*;

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn unhex(s: &str) -> Vec<u8> {
    hex(s).unwrap()
}

#[test]
fn opens_what_an_independent_aes_gcm_sealed() {
    // Python's `cryptography` AESGCM: key bytes 0..32, nonce bytes 100..112, the name as AD.
    let k = Key::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let sealed =
        unhex("016465666768696a6b6c6d6e6f207eb20a16c930f25b072b5d81404a93ca2b6abf36201e8e2ee60e");
    let sealer = Sealer::new(&[k]).unwrap();
    assert_eq!(
        sealer.open("signet:token:ab", &sealed).unwrap(),
        b"hello fleet"
    );
}

#[test]
fn a_seal_opens_under_its_own_name_only_and_never_shows_the_plain_text() {
    let sealer = Sealer::new(&[key(7)]).unwrap();
    let sealed = sealer.seal("p:token:1", b"refresh-token-value").unwrap();
    assert!(!sealed.windows(7).any(|w| w == b"refresh"));
    assert_eq!(
        sealer.open("p:token:1", &sealed).unwrap(),
        b"refresh-token-value"
    );
    assert_eq!(sealer.open("p:token:2", &sealed), Err(OpenError));
    // Two seals of the same value differ (a fresh nonce each).
    assert_ne!(
        sealed,
        sealer.seal("p:token:1", b"refresh-token-value").unwrap()
    );
}

#[test]
fn any_flipped_bit_or_cut_is_refused() {
    let sealer = Sealer::new(&[key(7)]).unwrap();
    let sealed = sealer.seal("n", b"value").unwrap();
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        assert_eq!(sealer.open("n", &bad), Err(OpenError), "byte {i}");
    }
    for len in 0..sealed.len() {
        assert_eq!(
            sealer.open("n", &sealed[..len]),
            Err(OpenError),
            "length {len}"
        );
    }
}

#[test]
fn rotation_the_first_key_seals_and_every_key_opens() {
    let old = Sealer::new(&[key(1)]).unwrap();
    let rotated = Sealer::new(&[key(2), key(1)]).unwrap();
    let retired = Sealer::new(&[key(2)]).unwrap();
    let by_old = old.seal("n", b"v").unwrap();
    assert_eq!(rotated.open("n", &by_old).unwrap(), b"v");
    let by_rotated = rotated.seal("n", b"v").unwrap();
    assert_eq!(retired.open("n", &by_rotated).unwrap(), b"v");
    assert_eq!(old.open("n", &by_rotated), Err(OpenError));
    assert_eq!(retired.open("n", &by_old), Err(OpenError));
}

#[test]
fn key_names_hash_length_prefixed_parts() {
    // hashlib.sha256(b"token" + pack(">Q", 1) + b"a" + pack(">Q", 2) + b"bc").
    assert_eq!(
        key_name("signet:", "token", &[b"a", b"bc"]),
        "signet:token:4e631adc995c483bdf685a7b83c6d84b1f9eabd8ff982af8ae186f07ad749b85"
    );
    assert_ne!(
        key_name("", "token", &[b"ab", b"c"]),
        key_name("", "token", &[b"a", b"bc"])
    );
}

#[test]
fn keys_are_32_bytes_of_base64_or_hex() {
    let hex_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert_eq!(Key::parse(hex_key).unwrap(), Key::parse(b64).unwrap());
    assert_eq!(
        Key::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap(),
        Key::parse(b64).unwrap()
    );
    assert!(Key::parse("c2hvcnQ=").unwrap_err().contains("32 bytes"));
    assert!(Key::parse("not base64 !!").is_err());
    assert_eq!(format!("{:?}", Key::parse(b64).unwrap()), "Key(***)");
}
