//! A token endpoint's answer: status, content type and body as the server sends them.
//!
//! Input: one byte choosing the status, content type, clock and requested scope, then the body.
//!
//! Properties: nothing panics; an accepted token is non-empty and sendable, and expires no
//! earlier than the time it was received (at least a second later, at most `MAX_LIFETIME`).
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use signet::oauth2::token::{MAX_LIFETIME, check_sendable, parse_token_response};

const STATUSES: [u16; 8] = [200, 201, 299, 300, 400, 401, 500, 204];
const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain; charset=utf-8"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(choice & 7)];
    let content_type = CONTENT_TYPES[usize::from((choice >> 3) & 3)];
    let now = match (choice >> 5) & 3 {
        0 => UNIX_EPOCH,
        1 => UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        // Near the end of what SystemTime holds: a long expires_in cannot be added.
        2 => [i64::MAX as u64 - 100, u32::MAX as u64]
            .into_iter()
            .find_map(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .unwrap(),
        _ => SystemTime::now(),
    };
    let requested = (choice & 0x80 != 0).then_some("read  write");
    let Ok(token) = parse_token_response(status, content_type, body, now, requested) else {
        return;
    };
    assert!((200..300).contains(&status), "a token from a {status} answer");
    let access = token.access_token.expose();
    assert!(!access.is_empty(), "an empty access token");
    assert!(check_sendable(access).is_ok(), "an unsendable access token");
    if let Some(id) = &token.id_token {
        assert!(check_sendable(id.expose()).is_ok());
    }
    if let Some(at) = token.expires_at {
        let lifetime = at
            .duration_since(now)
            .expect("the token expires before it was received");
        assert!(lifetime >= Duration::from_secs(1));
        assert!(lifetime <= MAX_LIFETIME);
        assert!(token.expires_within(now, lifetime));
        assert!(!token.expires_within(now, Duration::ZERO));
    }
    let _ = token.expires_within(now, Duration::MAX);
});
