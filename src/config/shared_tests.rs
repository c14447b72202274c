use std::path::Path;

use crate::config::Config;
use crate::shared::Key;

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn parse(text: &str) -> Result<Config, String> {
    let lookup = |name: &str| (name == "SHARED_KEY").then(|| "ab".repeat(32));
    Config::parse(Path::new("/etc/signet.toml"), text.to_owned(), &lookup)
        .map_err(|e| e.to_string())
}

#[test]
fn shared_takes_one_key_or_a_list_and_defaults_the_prefix() {
    let one = parse(&format!(
        "[shared]\nredis = \"redis://127.0.0.1:6379/0\"\nkey = \"{KEY_B64}\"\n"
    ))
    .unwrap();
    let shared = one.shared.unwrap();
    assert_eq!(shared.prefix, "signet:");
    assert_eq!(shared.keys, [Key::parse(KEY_B64).unwrap()]);
    let list = parse(&format!(
        "[shared]\nredis = \"unix:///run/redis.sock\"\nkey = [\"${{SHARED_KEY}}\", \"{KEY_B64}\"]\nprefix = \"a:\"\n"
    ))
    .unwrap();
    let shared = list.shared.unwrap();
    assert_eq!(shared.keys.len(), 2);
    assert_eq!(shared.keys[0], Key::from_bytes([0xab; 32]));
    assert_eq!(shared.prefix, "a:");
    assert!(parse("").unwrap().shared.is_none());
}

#[test]
fn shared_errors_name_file_line_and_key_and_never_the_key_itself() {
    let cases = vec![
        (
            format!("[shared]\nkey = \"{KEY_B64}\"\n"),
            "signet.toml:1:2: shared: needs `redis`",
        ),
        (
            "[shared]\nredis = \"redis://127.0.0.1\"\n".to_owned(),
            "signet.toml:1:2: shared: needs `key`",
        ),
        (
            format!("[shared]\nredis = \"http://127.0.0.1\"\nkey = \"{KEY_B64}\"\n"),
            "signet.toml:2:1: shared.redis: must start with redis://",
        ),
        (
            "[shared]\nredis = \"redis://127.0.0.1\"\nkey = \"c2hvcnRrZXk=\"\n".to_owned(),
            "signet.toml:3:1: shared.key: must be 32 bytes",
        ),
        (
            format!("[shared]\nredis = \"redis://127.0.0.1\"\nkey = [\"{KEY_B64}\", \"zz\"]\n"),
            "signet.toml:3:56: shared.key[1]: is neither base64",
        ),
        (
            format!("[shared]\nredis = \"redis://127.0.0.1\"\nkey = \"{KEY_B64}\"\nttl = 3\n"),
            "signet.toml:4:1: shared.ttl: unknown field `ttl`",
        ),
    ];
    for (text, expected) in cases {
        let e = parse(&text).unwrap_err();
        assert!(e.contains(expected), "{e}\n  expected: {expected}");
        assert!(!e.contains("c2hvcnRrZXk") && !e.contains(KEY_B64), "{e}");
    }
}
