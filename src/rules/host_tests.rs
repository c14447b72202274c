//! Tests of host normalisation and host patterns.

use super::*;

fn pat(p: &str) -> HostPattern {
    HostPattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn norm(h: &str) -> String {
    normalize_host(h).unwrap_or_else(|e| panic!("{h}: {e}"))
}

#[test]
fn normalize_lowercases_and_drops_trailing_dot() {
    assert_eq!(norm("API.Example.COM."), "api.example.com");
    assert_eq!(norm("localhost"), "localhost");
}

#[test]
fn normalize_turns_idn_into_punycode() {
    assert_eq!(norm("bücher.example"), "xn--bcher-kva.example");
    assert_eq!(norm("BÜCHER.example"), "xn--bcher-kva.example");
    assert_eq!(norm("xn--bcher-kva.example"), "xn--bcher-kva.example");
    assert_eq!(norm("XN--BCHER-KVA.EXAMPLE."), "xn--bcher-kva.example");
}

#[test]
fn normalize_maps_fullwidth_dots_and_letters() {
    assert_eq!(norm("ｅｘａｍｐｌｅ。com"), "example.com");
}

#[test]
fn normalize_strips_ipv6_brackets_and_canonicalises() {
    assert_eq!(norm("[::1]"), "::1");
    assert_eq!(norm("::1"), "::1");
    assert_eq!(norm("[0:0:0:0:0:0:0:1]"), "::1");
    assert_eq!(norm("[2001:DB8::A]"), "2001:db8::a");
}

#[test]
fn normalize_reads_numeric_names_as_ipv4() {
    assert_eq!(norm("127.0.0.1"), "127.0.0.1");
    assert_eq!(norm("127.1"), "127.0.0.1");
    assert_eq!(norm("0x7f.0.0.1"), "127.0.0.1");
    assert_eq!(norm("0177.0.0.1"), "127.0.0.1");
    assert_eq!(norm("2130706433"), "127.0.0.1");
    assert_eq!(norm("169.254.43518"), "169.254.169.254");
    assert_eq!(norm("１２７.０.０.１"), "127.0.0.1");
    assert_eq!(norm("127.0.0.1."), "127.0.0.1");
}

#[test]
fn normalize_rejects_bad_numeric_names() {
    for h in [
        "256.0.0.1",
        "1.2.3.4.5",
        "08.0.0.1",
        "1.2.foo.4",
        "4294967296",
        "1.2.3.256",
    ] {
        assert!(normalize_host(h).is_err(), "{h}");
    }
}

#[test]
fn shortcut_spellings_agree_with_the_general_path() {
    // Left: takes the shortcut (canonical IPv4, plain lowercase name); right: the same host
    // spelled so that it must go through UTS 46 and the numeric reading.
    for (shortcut, general) in [
        ("127.0.0.1", "127.0.0.1."),
        ("10.20.30.40", "0xa.20.30.40"),
        ("0.0.0.0", "0"),
        ("api.example.com", "API.Example.com"),
        ("a-b--c.example", "A-B--C.EXAMPLE"),
        ("1.2.3.example", "１.2.3.example"),
    ] {
        assert!(
            shortcut.parse::<Ipv4Addr>().is_ok() || is_plain_ascii_name(shortcut),
            "{shortcut}"
        );
        assert_eq!(norm(shortcut), norm(general), "{shortcut} / {general}");
    }
}

#[test]
fn normalize_keeps_names_that_merely_contain_digits() {
    assert_eq!(norm("1.2.3.example"), "1.2.3.example");
    assert_eq!(
        norm("s3-eu-west-1.amazonaws.com"),
        "s3-eu-west-1.amazonaws.com"
    );
    assert_eq!(norm("my_service.internal"), "my_service.internal");
}

#[test]
fn normalize_rejects_invalid_names() {
    let long_label = "a".repeat(64);
    let long_name = format!("{}.com", ["abcdefghij"; 24].join("."));
    for h in [
        "",
        ".",
        "a..b",
        ".example.com",
        "example.com..",
        "exa mple.com",
        "example.com:443",
        "[::1",
        "[example.com]",
        "user@example.com",
        "a/b",
        "*.example.com",
        "xn--zz.example",
        long_label.as_str(),
        long_name.as_str(),
    ] {
        assert!(normalize_host(h).is_err(), "{h:?}");
    }
}

#[test]
fn bare_host_means_https_on_443_only() {
    let p = pat("api.example.com");
    assert!(p.matches("api.example.com", 443, true));
    // Plain HTTP on its default port would carry the credential in clear text.
    assert!(!p.matches("api.example.com", 80, false));
    assert!(!p.matches("api.example.com", 443, false));
    assert!(!p.matches("api.example.com", 80, true));
    assert!(!p.matches("api.example.com", 8443, true));
    assert!(!p.matches("www.example.com", 443, true));
    assert!(!p.matches("example.com", 443, true));
}

#[test]
fn explicit_port_does_not_match_default_port() {
    let p = pat("api.example.com:8443");
    assert!(p.matches("api.example.com", 8443, true));
    assert!(!p.matches("api.example.com", 443, true));
    assert_eq!(p.port(), PortSpec::Exact(8443));
}

#[test]
fn star_port_matches_every_port() {
    let p = pat("host:*");
    assert!(p.matches("host", 1, true));
    assert!(p.matches("host", 65535, false));
    assert!(!p.matches("other", 443, true));
}

#[test]
fn wildcard_matches_subdomains_at_any_depth() {
    let p = pat("*.example.com");
    assert!(p.matches("a.example.com", 443, true));
    assert!(p.matches("a.b.example.com", 443, true));
    assert!(!p.matches("example.com", 443, true));
}

#[test]
fn wildcard_never_matches_lookalike_suffix() {
    let p = pat("*.example.com");
    for h in [
        "evilexample.com",
        "example.com.evil.net",
        "a.example.com.evil.net",
        "a.example.co",
        "xample.com",
        ".example.com",
    ] {
        assert!(!p.matches(h, 443, true), "{h}");
    }
}

#[test]
fn wildcard_never_matches_an_ip_address() {
    assert!(HostPattern::parse("*.0.0.1").is_err());
    assert!(HostPattern::parse("*.[::1]").is_err());
    let p = pat("*.com");
    assert!(!p.matches("127.0.0.1", 443, true));
    assert!(!p.matches("::1", 443, true));
    assert!(p.matches("x.com", 443, true));
}

#[test]
fn matching_ignores_case_and_trailing_dot() {
    let p = pat("API.Example.COM.");
    assert_eq!(p.as_str(), "API.Example.COM.");
    assert!(p.matches("api.example.com", 443, true));
    assert!(p.matches("API.EXAMPLE.COM.", 443, true));
    let w = pat("*.EXAMPLE.com");
    assert!(w.matches("A.Example.Com", 443, true));
    assert!(w.matches("a.example.com.", 443, true));
}

#[test]
fn idn_pattern_matches_punycode_destination() {
    let p = pat("bücher.example");
    assert!(p.matches("xn--bcher-kva.example", 443, true));
    assert!(p.matches(&norm("Bücher.Example"), 443, true));
    let w = pat("*.bücher.example:8443");
    assert!(w.matches("shop.xn--bcher-kva.example", 8443, true));
    let puny = pat("xn--bcher-kva.example");
    assert!(puny.matches(&norm("bücher.example"), 443, true));
}

#[test]
fn ipv4_pattern_matches_only_the_same_address() {
    let p = pat("127.0.0.1");
    assert!(p.matches("127.0.0.1", 443, true));
    assert!(!p.matches("127.0.0.2", 443, true));
    assert!(!p.matches("localhost", 443, true));
    assert!(pat("127.1:8080").matches("127.0.0.1", 8080, false));
}

#[test]
fn ipv4_mapped_ipv6_is_a_different_host() {
    let v4 = pat("127.0.0.1");
    assert!(!v4.matches("::ffff:127.0.0.1", 443, true));
    let mapped = pat("::ffff:127.0.0.1");
    assert!(!mapped.matches("127.0.0.1", 443, true));
    assert!(mapped.matches("::ffff:7f00:1", 443, true));
}

#[test]
fn ipv6_pattern_with_and_without_brackets() {
    let bare = pat("::1");
    assert_eq!(bare.port(), PortSpec::Default);
    assert!(bare.matches("::1", 443, true));
    assert!(bare.matches("[::1]", 443, true));
    assert!(bare.matches("0:0:0:0:0:0:0:1", 443, true));
    assert!(!bare.matches("::2", 443, true));

    let bracketed = pat("[::1]");
    assert!(bracketed.matches("::1", 443, true));

    let with_port = pat("[::1]:8443");
    assert!(with_port.matches("::1", 8443, true));
    assert!(!with_port.matches("::1", 443, true));
    assert!(pat("[::1]:*").matches("::1", 9, true));

    // Without brackets the last group is part of the address, never a port.
    let ambiguous = pat("::1:8443");
    assert_eq!(ambiguous.port(), PortSpec::Default);
    assert!(!ambiguous.matches("::1", 8443, true));
}

#[test]
fn rejects_misplaced_wildcards() {
    for p in [
        "*",
        "*:443",
        "a*.example.com",
        "*example.com",
        "foo.*.com",
        "*.*.example.com",
        "**.example.com",
    ] {
        assert!(HostPattern::parse(p).is_err(), "{p}");
    }
}

#[test]
fn rejects_bad_ports() {
    for p in [
        "host:",
        "host:0",
        "host:65536",
        "host:+80",
        "host:8o",
        "host:123456",
        "[::1]:",
        "[::1]x",
        "[::1]:0",
    ] {
        assert!(HostPattern::parse(p).is_err(), "{p}");
    }
    assert_eq!(pat("host:65535").port(), PortSpec::Exact(65535));
}

#[test]
fn rejects_empty_labels_and_garbage() {
    for p in [
        "",
        "a..b",
        ".example.com",
        "*.",
        "*..com",
        "exa mple.com",
        "[::1",
        "[nope]",
        "a:b:c",
    ] {
        assert!(HostPattern::parse(p).is_err(), "{p:?}");
    }
}

#[test]
fn error_names_the_pattern_and_the_reason() {
    let msg = HostPattern::parse("a*.example.com")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("a*.example.com"), "{msg}");
    assert!(msg.contains("first label"), "{msg}");
    let msg = HostPattern::parse("host:70000").unwrap_err().to_string();
    assert!(msg.contains("host:70000") && msg.contains("port"), "{msg}");
}

#[test]
fn matches_any_port_respects_explicit_ports() {
    assert!(pat("example.com").matches_any_port("example.com", 22));
    assert!(pat("example.com:*").matches_any_port("example.com", 22));
    assert!(pat("example.com:8080").matches_any_port("example.com", 8080));
    assert!(!pat("example.com:8080").matches_any_port("example.com", 443));
    assert!(!pat("*.example.com").matches_any_port("example.com", 443));
}

#[test]
fn http_scheme_means_plain_http_on_80_only() {
    let p = pat("http://api.example.com");
    assert!(p.matches("api.example.com", 80, false));
    assert!(!p.matches("api.example.com", 443, true));
    assert!(!p.matches("api.example.com", 80, true));
    assert!(!p.matches("api.example.com", 8080, false));
    assert_eq!(p.scheme(), Some(UrlScheme::Http));
    assert_eq!(p.port(), PortSpec::Default);
}

#[test]
fn https_scheme_without_port_is_the_bare_host() {
    let p = pat("https://api.example.com");
    assert!(p.matches("api.example.com", 443, true));
    assert!(!p.matches("api.example.com", 80, false));
    assert!(!p.matches("api.example.com", 443, false));
}

#[test]
fn explicit_port_admits_both_schemes() {
    let p = pat("api.example.com:8443");
    assert!(p.matches("api.example.com", 8443, true));
    assert!(p.matches("api.example.com", 8443, false));
    assert!(!p.matches("api.example.com", 443, true));
    assert_eq!(p.scheme(), None);
}

#[test]
fn scheme_and_port_pin_both() {
    let tls = pat("https://api.example.com:8443");
    assert!(tls.matches("api.example.com", 8443, true));
    assert!(!tls.matches("api.example.com", 8443, false));
    assert!(!tls.matches("api.example.com", 443, true));
    let plain = pat("http://api.example.com:8080");
    assert!(plain.matches("api.example.com", 8080, false));
    assert!(!plain.matches("api.example.com", 8080, true));
    assert!(!plain.matches("api.example.com", 80, false));
}

#[test]
fn star_port_admits_both_schemes_unless_one_is_written() {
    let any = pat("host:*");
    assert!(any.matches("host", 80, false));
    assert!(any.matches("host", 443, true));
    let tls = pat("https://host:*");
    assert!(tls.matches("host", 8443, true));
    assert!(tls.matches("host", 80, true));
    assert!(!tls.matches("host", 8443, false));
    assert!(!tls.matches("host", 443, false));
    let plain = pat("http://host:*");
    assert!(plain.matches("host", 3000, false));
    assert!(!plain.matches("host", 3000, true));
}

#[test]
fn scheme_is_case_insensitive_and_kept_in_the_written_form() {
    let p = pat("HTTPS://API.Example.com:8443");
    assert_eq!(p.as_str(), "HTTPS://API.Example.com:8443");
    assert_eq!(p.without_scheme(), "API.Example.com:8443");
    assert!(p.matches("api.example.com", 8443, true));
    assert!(!p.matches("api.example.com", 8443, false));
    assert!(pat("Http://a.test").matches("a.test", 80, false));
}

#[test]
fn wildcard_with_a_scheme() {
    let tls = pat("https://*.example.com");
    assert!(tls.matches("a.example.com", 443, true));
    assert!(!tls.matches("a.example.com", 80, false));
    assert!(!tls.matches("example.com", 443, true));
    assert!(!tls.matches("evilexample.com", 443, true));
    let plain = pat("http://*.example.com:8080");
    assert!(plain.matches("a.b.example.com", 8080, false));
    assert!(!plain.matches("a.b.example.com", 8080, true));
    assert!(!pat("*.example.com").matches("a.example.com", 80, false));
}

#[test]
fn ip_literals_with_a_scheme() {
    let v6 = pat("http://[::1]:8080");
    assert!(v6.matches("::1", 8080, false));
    assert!(v6.matches("[::1]", 8080, false));
    assert!(!v6.matches("::1", 8080, true));
    assert!(!v6.matches("::2", 8080, false));
    let v6_default = pat("https://[::1]");
    assert!(v6_default.matches("::1", 443, true));
    assert!(!v6_default.matches("::1", 80, false));
    let v4 = pat("http://127.0.0.1");
    assert!(v4.matches("127.0.0.1", 80, false));
    assert!(!v4.matches("127.0.0.1", 443, true));
    assert!(pat("https://127.1:8443").matches("127.0.0.1", 8443, true));
    assert!(!pat("[::1]").matches("::1", 80, false));
}

#[test]
fn ipv6_after_a_scheme_needs_brackets() {
    let msg = HostPattern::parse("http://::1:8080")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"http://::1:8080\""), "{msg}");
    assert!(msg.contains("brackets"), "{msg}");
}

#[test]
fn refuses_other_schemes_naming_them() {
    for (p, scheme) in [
        ("ftp://host", "ftp"),
        ("ws://host:8080", "ws"),
        ("wss://host", "wss"),
        ("file://host", "file"),
        ("://host", ""),
        ("htps://host", "htps"),
    ] {
        let msg = HostPattern::parse(p).unwrap_err().to_string();
        assert!(msg.contains(&format!("{p:?}")), "{msg}");
        assert!(msg.contains(&format!("scheme {scheme:?}")), "{msg}");
        assert!(msg.contains("\"https://\""), "{msg}");
    }
}

#[test]
fn refuses_a_path_query_or_fragment_after_the_host() {
    for (p, rest) in [
        ("https://host/x", "/x"),
        ("https://host/", "/"),
        ("http://host:8080/api/v1", "/api/v1"),
        ("https://host?q=1", "?q=1"),
        ("https://host#top", "#top"),
        ("https://[::1]:8443/x", "/x"),
        ("api.example.com/v1", "/v1"),
    ] {
        let msg = HostPattern::parse(p).unwrap_err().to_string();
        assert!(msg.contains(&format!("{p:?}")), "{msg}");
        assert!(msg.contains(&format!("remove {rest:?}")), "{msg}");
    }
}

#[test]
fn refuses_a_scheme_without_a_usable_host() {
    for p in [
        "https://",
        "http://:8080",
        "https://*",
        "https://host:",
        "https://host:0",
        "http://[::1",
        "https://user@host",
        "https://https://host",
    ] {
        assert!(HostPattern::parse(p).is_err(), "{p:?}");
    }
}

#[test]
fn required_scheme_and_plain_http() {
    for (p, required, plain) in [
        ("a.test", Some(UrlScheme::Https), false),
        ("https://a.test", Some(UrlScheme::Https), false),
        ("https://a.test:8443", Some(UrlScheme::Https), false),
        ("https://a.test:*", Some(UrlScheme::Https), false),
        ("http://a.test", Some(UrlScheme::Http), true),
        ("http://a.test:8080", Some(UrlScheme::Http), true),
        ("a.test:8443", None, true),
        ("a.test:*", None, true),
    ] {
        let pattern = pat(p);
        assert_eq!(pattern.required_scheme(), required, "{p}");
        assert_eq!(pattern.admits_plain_http(), plain, "{p}");
    }
}

#[test]
fn loopback_patterns() {
    for p in [
        "localhost",
        "http://localhost:3000",
        "LOCALHOST.",
        "127.0.0.1",
        "http://127.1.2.3:8080",
        "[::1]:8080",
        "::1",
        "::ffff:127.0.0.1",
    ] {
        assert!(pat(p).is_loopback(), "{p}");
    }
    for p in [
        "localhost.example.com",
        "*.localhost",
        "128.0.0.1",
        "10.0.0.1",
        "[::2]",
        "api.example.com",
    ] {
        assert!(!pat(p).is_loopback(), "{p}");
    }
}

#[test]
fn host_kind_is_the_normalised_host() {
    assert_eq!(
        pat("https://*.Bücher.example:8443").host_kind(),
        &HostKind::Wildcard(".xn--bcher-kva.example".into())
    );
    assert_eq!(
        pat("http://API.example.com").host_kind(),
        &HostKind::Name("api.example.com".into())
    );
    assert_eq!(
        pat("http://[::1]:8080").host_kind(),
        &HostKind::Ip("::1".parse().unwrap())
    );
}
