use super::*;
use crate::auth::oauth2::OAuth2Config;
use crate::shared::Key;

fn settings(toml: &str) -> Settings {
    let cfg: OAuth2Config = toml::from_str(toml).unwrap();
    Settings::new(&cfg, "p", std::path::Path::new("/tmp")).unwrap()
}

fn store() -> Arc<SharedStore> {
    Arc::new(
        SharedStore::new(crate::shared::Settings {
            redis: "redis://127.0.0.1:9/0".into(),
            keys: vec![Key::from_bytes([3; 32])],
            prefix: "fleet:".into(),
        })
        .unwrap(),
    )
}

const BASE: &str = r#"grant_type = "client_credentials"
access_token_url = "https://as.example/token"
client_id = "billing-client"
client_secret = "s3cret"
scope = "invoices:read""#;

fn names(toml: &str) -> (String, String) {
    let fleet = Fleet::new(store(), &settings(toml), Duration::from_secs(10));
    (fleet.token_key, fleet.lock_key)
}

#[test]
fn names_are_hashes_under_the_prefix_with_nothing_in_clear() {
    let (token, lock) = names(BASE);
    for name in [&token, &lock] {
        for clear in [
            "billing",
            "as.example",
            "invoices",
            "s3cret",
            "client_credentials",
        ] {
            assert!(!name.contains(clear), "{name} shows {clear}");
        }
        assert!(name.starts_with("fleet:oauth2-"), "{name}");
        let hash = name.rsplit(':').next().unwrap();
        assert_eq!(hash.len(), 64);
    }
    assert_ne!(token, lock);
    // The same settings on another instance: the same names.
    assert_eq!(names(BASE), (token, lock));
}

#[test]
fn every_setting_that_makes_a_token_distinct_changes_the_name() {
    let (base, _) = names(BASE);
    let variants = [
        BASE.replace("s3cret", "rotated"),
        BASE.replace("billing-client", "other-client"),
        BASE.replace("invoices:read", "invoices:write"),
        BASE.replace("as.example/token", "as.example/other"),
        format!("{BASE}\naudience = \"https://api\""),
        format!("{BASE}\nresource = \"https://api\""),
    ];
    for variant in variants {
        assert_ne!(names(&variant).0, base, "{variant}");
    }
}

#[test]
fn a_refreshable_token_is_kept_long_and_another_just_past_its_expiry() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let token = Token {
        access_token: Secret::new("at"),
        refresh_token: None,
        id_token: None,
        token_type: None,
        expires_at: Some(now + Duration::from_secs(2)),
        scopes: vec![],
    };
    assert_eq!(keep_for(&token, now), Duration::from_secs(62));
    let expired = Token {
        expires_at: Some(now - Duration::from_secs(5)),
        ..token.clone()
    };
    assert_eq!(keep_for(&expired, now), KEEP_PAST_EXPIRY);
    let refreshable = Token {
        refresh_token: Some(Secret::new("rt")),
        ..token
    };
    assert_eq!(keep_for(&refreshable, now), KEEP_LONG);
}
