//! `Set-Cookie` values from an origin's answers, stored in the jar for the request's URL, then
//! the cookies the jar sends to other URLs; also the carry-over of an answer's cookies to the
//! replayed request of the same exchange.
//!
//! Input: one byte choosing the URL the answer came from, then up to eight `Set-Cookie` values
//! separated by `\n`.
//!
//! Properties: nothing panics; a cookie the jar sends is one that was set (by name); a `Secure`
//! cookie never goes over plain HTTP to a host that is not loopback; a host-only cookie never
//! reaches another host; what the jar lists survives an export and import.
#![no_main]

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use signet::cookies::{Jar, Site, carry_over};
use time::OffsetDateTime;
use url::Url;

const FROM: [&str; 8] = [
    "https://www.example.com/",
    "https://www.example.com/a/b/c?x=1",
    "http://www.example.com/docs/",
    "https://example.com/",
    "http://localhost:8080/",
    "https://[::1]:8443/p",
    "https://co.uk/",
    "https://a.b.github.io/x",
];

const TO: [&str; 12] = [
    "https://www.example.com/",
    "https://www.example.com/a/b/c/d",
    "http://www.example.com/",
    "https://example.com/",
    "https://docs.example.com/docs/x",
    "https://evilexample.com/",
    "https://example.com.evil.net/",
    "http://localhost:8080/",
    "https://[::1]:8443/p/q",
    "https://other.co.uk/",
    "https://c.github.io/",
    "https://a.b.github.io/",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let from = Url::parse(FROM[usize::from(choice & 7)]).unwrap();
    let values: Vec<&str> = rest
        .split(|b| *b == b'\n')
        .take(8)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();

    let jar = Jar::new();
    for value in &values {
        let _ = jar.capture(&from, value);
    }
    let held = jar.entries(now);
    for to in TO {
        let url = Url::parse(to).unwrap();
        for site in [Site::Same, Site::CrossNavigation, Site::Cross] {
            for (name, _value) in jar.cookies_for(&url, site, now) {
                let entry = held
                    .iter()
                    .find(|e| e.name == name)
                    .unwrap_or_else(|| panic!("{name:?} sent to {to} but never stored"));
                let _ = entry;
            }
        }
        let plain_remote = url.scheme() == "http" && url.host_str() != Some("localhost");
        let sent = jar.cookies_for(&url, Site::Same, now);
        for e in &held {
            let goes = sent.iter().any(|(n, v)| *n == e.name && *v == e.value);
            if !goes {
                continue;
            }
            assert!(!(e.secure && plain_remote), "Secure cookie {:?} sent to {to}", e.name);
            if e.host_only && held.iter().filter(|o| o.name == e.name).count() == 1 {
                let host = url.host_str().unwrap().trim_start_matches('[').trim_end_matches(']');
                assert_eq!(host, e.domain.trim_start_matches('[').trim_end_matches(']'),
                    "host-only cookie {:?} sent to {to}", e.name);
            }
        }
    }

    // Export and import: the jar file and cookies.txt paths.
    let copy = Jar::new();
    for e in &held {
        let _ = copy.insert(e, Some(e.created));
    }
    let names = |j: &Jar| {
        let mut v: Vec<(String, String, String, String)> = j
            .entries(now)
            .into_iter()
            .map(|e| (e.domain, e.path, e.name, e.value))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&jar), names(&copy), "a jar copied entry by entry differs");

    // The replay after a challenge carries the answer's cookies.
    let mut parts = Request::get(from.as_str()).body(()).unwrap().into_parts().0;
    parts.headers.insert(COOKIE, HeaderValue::from_static("client=1; other=2"));
    let mut answer = HeaderMap::new();
    for value in &values {
        if let Ok(v) = HeaderValue::from_str(value) {
            answer.append(SET_COOKIE, v);
        }
    }
    carry_over(&mut parts, &answer);
    assert!(parts.headers.get_all(COOKIE).iter().count() <= 1);
});
