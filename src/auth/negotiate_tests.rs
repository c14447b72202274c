use super::*;

fn headers(values: &[&'static str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append("www-authenticate", HeaderValue::from_static(v));
    }
    h
}

fn config() -> NegotiateConfig {
    NegotiateConfig {
        principal: None,
        password: None,
        keytab: None,
        ccache: None,
        spn: None,
        canonicalize: true,
        delegate: false,
        mech: MechName::Spnego,
    }
}

const WWW: HeaderName = http::header::WWW_AUTHENTICATE;

#[test]
fn token_is_read_among_other_challenges() {
    let h = headers(&["Basic realm=\"x\"", "NTLM", "negotiate oRQwEqADCgEA"]);
    assert_eq!(
        token(&h, &WWW),
        Some(Some(vec![0xa1, 0x14, 0x30, 0x12, 0xa0, 0x03, 0x0a, 0x01, 0x00]))
    );
}

#[test]
fn bare_negotiate_and_absent_negotiate_differ() {
    assert_eq!(token(&headers(&["Basic realm=\"x\", Negotiate"]), &WWW), Some(None));
    assert_eq!(token(&headers(&["NTLM", "Basic realm=\"x\""]), &WWW), None);
    // A token that is not base64 counts as no token.
    assert_eq!(token(&headers(&["Negotiate !!!"]), &WWW), None);
}

#[test]
fn password_needs_a_principal_and_excludes_a_keytab() {
    let mut cfg = config();
    cfg.password = Some(Secret::new("hunter2"));
    let e = Negotiate::new(cfg.clone()).unwrap_err();
    assert_eq!(e.key, Some("principal"));
    cfg.principal = Some("alice@TEST".into());
    cfg.keytab = Some("/k".into());
    assert_eq!(Negotiate::new(cfg).unwrap_err().key, Some("keytab"));
}

#[test]
fn ccache_only_goes_with_a_ticket_cache() {
    let mut cfg = config();
    cfg.keytab = Some("/k".into());
    cfg.ccache = Some("FILE:/tmp/x".into());
    assert_eq!(Negotiate::new(cfg).unwrap_err().key, Some("ccache"));
}

#[test]
fn spn_with_a_space_is_refused() {
    let mut cfg = config();
    cfg.spn = Some("HTTP@a b".into());
    assert_eq!(Negotiate::new(cfg).unwrap_err().key, Some("spn"));
}

fn inner(spn: Option<&str>, canonicalize: bool) -> Inner {
    Inner {
        source: Source::Cache(None, None),
        spn: spn.map(str::to_owned),
        canonicalize,
        delegate: false,
        mech: Mech::Spnego,
        id: 1,
        generation: AtomicU64::new(0),
        held: Mutex::new(Held::default()),
    }
}

#[test]
fn service_name_defaults_to_http_at_the_host() {
    assert_eq!(
        inner(None, true).target("intranet.example"),
        ("HTTP@intranet.example".to_owned(), NameKind::HostBased)
    );
    assert_eq!(
        inner(None, false).target("intranet.example"),
        ("HTTP/intranet.example".to_owned(), NameKind::Principal)
    );
    assert_eq!(
        inner(Some("HTTP/web.test@TEST"), true).target("127.0.0.1"),
        ("HTTP/web.test@TEST".to_owned(), NameKind::Principal)
    );
}

#[test]
fn renewal_leaves_a_quarter_of_the_life_at_most_five_minutes() {
    assert_eq!(renew_after(Duration::from_secs(80)), Duration::from_secs(60));
    assert_eq!(
        renew_after(Duration::from_secs(36_000)),
        Duration::from_secs(35_700)
    );
}

#[test]
fn password_stays_out_of_debug() {
    let mut cfg = config();
    cfg.principal = Some("alice@TEST".into());
    cfg.password = Some(Secret::new("hunter2"));
    // The library is there on machines that run these tests (tests/run installs it).
    let n = Negotiate::new(cfg).unwrap();
    let text = format!("{n:?}");
    assert!(text.contains("alice@TEST") && !text.contains("hunter2"), "{text}");
}
