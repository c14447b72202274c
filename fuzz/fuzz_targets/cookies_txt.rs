//! A Netscape cookies.txt (curl `-c`, browser exports), imported into the jar as
//! `signet cookies import` does, then exported and imported again.
//!
//! Properties: nothing panics; what the jar holds after an import survives an export and a
//! second import unchanged (every field the format carries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet::cookies::{Entry, Jar, Outcome, netscape};
use time::OffsetDateTime;

/// The fields cookies.txt carries (not SameSite, not the creation order).
fn key(e: &Entry) -> (String, bool, String, bool, bool, Option<i64>, String, String) {
    (
        e.domain.clone(),
        e.host_only,
        e.path.clone(),
        e.secure,
        e.http_only,
        e.expires,
        e.name.clone(),
        e.value.clone(),
    )
}

fn import(entries: &[Entry], now: i64) -> Jar {
    let jar = Jar::new();
    for entry in entries {
        if entry.expires.is_some_and(|at| at <= now) {
            continue;
        }
        match jar.insert(entry, None) {
            Outcome::Stored | Outcome::Deleted | Outcome::Refused(_) => {}
        }
    }
    jar
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = netscape::parse(text) else {
        return;
    };
    for e in &entries {
        assert!(!e.domain.is_empty() && !e.name.is_empty());
        assert!(!e.domain.starts_with('.'));
        assert!(e.path.starts_with('/'));
    }
    let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let now = at.unix_timestamp();
    let jar = import(&entries, now);
    let held = jar.entries(at);

    let exported = netscape::write(&held);
    let reread = netscape::parse(&exported)
        .unwrap_or_else(|e| panic!("signet cannot read its own export: {e}\n{exported}"));
    let mut before: Vec<_> = held.iter().map(key).collect();
    let mut after: Vec<_> = reread.iter().map(key).collect();
    before.sort();
    after.sort();
    assert_eq!(before, after, "export then parse changed the cookies");

    let again = import(&reread, now);
    let mut after: Vec<_> = again.entries(at).iter().map(key).collect();
    after.sort();
    assert_eq!(before, after, "export then import changed the jar");
});
