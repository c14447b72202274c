//! HMAC and `WORD base64` header values: the two steps every signer shares whose library API
//! is fallible for inputs that never reach it, answered here once instead of in each scheme.

use base64::Engine as _;
use hmac::Mac;
use hmac::digest::{KeyInit, Output};
use http::HeaderValue;

/// HMAC of `parts`, in order, under `key`.
pub(crate) fn hmac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Output<M> {
    // HMAC takes keys of any length (a long one is hashed first): the `hmac` crate's
    // `new_from_slice` has an error only for fixed-key MACs, never for `Hmac<D>`.
    #[allow(clippy::expect_used)]
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes()
}

/// `WORD base64(bytes)` (Basic, NTLM, Negotiate), marked sensitive so that hyper never logs it.
pub(crate) fn base64_header(word: &'static str, bytes: &[u8]) -> HeaderValue {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    // A scheme word from this crate, a space and base64 are visible ASCII, which any header
    // value may hold.
    #[allow(clippy::expect_used)]
    let mut value = HeaderValue::try_from(format!("{word} {encoded}"))
        .expect("a scheme word and base64 form a valid header value");
    value.set_sensitive(true);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Hmac;
    use sha2::Sha256;

    #[test]
    fn hmac_matches_rfc_4231_case_2_whether_or_not_the_message_is_split() {
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let whole = hmac::<Hmac<Sha256>>(b"Jefe", &[b"what do ya want for nothing?"]);
        let split = hmac::<Hmac<Sha256>>(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(hex_of(&whole), expected);
        assert_eq!(hex_of(&split), expected);
    }

    #[test]
    fn a_key_longer_than_the_block_is_accepted_as_rfc_4231_case_6_says() {
        let key = [0xaa_u8; 131];
        let mac = hmac::<Hmac<Sha256>>(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex_of(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn basic_credentials_are_base64_after_the_word_and_sensitive() {
        let v = base64_header("Basic", b"Aladdin:open sesame");
        assert_eq!(v, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(v.is_sensitive());
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
