//! The config loader on arbitrary text: TOML, `${…}` expansion, the schema and its checks,
//! then, for a config that loads, the policy with every auth scheme built.
//!
//! Properties: nothing panics (errors are fine); expansion without a `$` is the identity, and
//! `$${` always comes out as a literal `${`.
//!
//! `${file:PATH}` reads a file: inputs that could name one outside the fuzzer's own directory
//! (an absolute or `..` path, or text the TOML escapes could turn into one) are not loaded, so
//! that the fuzzer never reads `/dev/zero` or the like.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet::config::{Config, expand};
use signet::net::Dialer;
use signet::policy::Policy;

fn lookup(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("t0k3n".into()),
        "EMPTY" => Some(String::new()),
        "SPACED" => Some("a b\tc".into()),
        "PEM" => Some("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into()),
        _ => None,
    }
}

/// A directory of the fuzzer's own, holding the files `${file:…}` may name.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("signet-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret.txt"), "s3cret\n").unwrap();
        std::fs::write(dir.join("crlf.txt"), "s3cret\r\n").unwrap();
        dir
    })
}

/// Whether every `${file:…}` in `text` names a plain file name inside [`dir`].
fn file_refs_stay_inside(text: &str) -> bool {
    text.match_indices("file:").all(|(at, _)| {
        let rest = &text[at + 5..];
        let name = &rest[..rest.find('}').unwrap_or(rest.len())];
        !name.contains(['/', '\\']) && name != ".." && !name.starts_with("..")
    })
}

/// Whether TOML could decode `text` into a string holding `file:` where the text shows none:
/// escapes (`\u0066`, `\x66`) and line-ending backslashes in multi-line strings.
fn toml_could_hide_a_file_ref(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).any(|w| {
        w[0] == b'\\' && matches!(w[1], b'u' | b'U' | b'x' | b' ' | b'\t' | b'\r' | b'\n')
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = dir();

    if file_refs_stay_inside(text) {
        match expand(text, dir, &lookup) {
            Ok(out) => {
                if !text.contains('$') {
                    assert_eq!(out, text);
                }
            }
            Err(e) => assert!(text.contains("${"), "{e} without a placeholder"),
        }
    }

    if !file_refs_stay_inside(text) || toml_could_hide_a_file_ref(text) {
        return;
    }
    let Ok(config) = Config::parse(&dir.join("signet.toml"), text.to_owned(), &lookup) else {
        return;
    };
    let _ = Policy::with_dialer(&config, &Dialer::default());
});
