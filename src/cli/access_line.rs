//! The text access log line of `signet run`. One line per request is the one log write on
//! the request path, and the general text formatter (an event dispatched through the
//! subscriber, a formatting pass per field, with styling, and a calendar conversion per
//! timestamp) costs several times what signet's own work on a request does. So the line is
//! written here, straight from the record, in the general formatter's layout
//! (`2026-12-02T02:35:06.973697Z  INFO signet::access: access client=… status=200 …`), with the
//! date of the current second kept per thread; `RUST_LOG` still decides whether it is written.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::proxy::access::{AccessRecord, TARGET};

thread_local! {
    /// The line being written, and the second whose `YYYY-MM-DDTHH:MM:SS.` it starts with.
    static LINE: RefCell<(Vec<u8>, u64, [u8; 20])> = const { RefCell::new((Vec::new(), u64::MAX, [0; 20])) };
}

/// Writes `record` to stderr as one text line.
pub(super) fn write(record: &AccessRecord) {
    LINE.with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return;
        };
        let (line, second, date) = &mut *cell;
        line.clear();
        timestamp(line, second, date);
        line.extend_from_slice(b"  INFO ");
        line.extend_from_slice(TARGET.as_bytes());
        line.extend_from_slice(b": access");
        fields(line, record);
        line.push(b'\n');
        let _ = std::io::stderr().lock().write_all(line);
    });
}

/// ` name=value` for each field, in the order and with the names of the `tracing` event.
fn fields(line: &mut Vec<u8>, r: &AccessRecord) {
    if let Some(client) = r.client {
        line.extend_from_slice(b" client=");
        socket_addr(line, client);
    }
    text(line, "method", r.method.as_str());
    text(line, "scheme", r.scheme);
    line.extend_from_slice(b" host=");
    if r.host.contains(':') {
        line.push(b'[');
        line.extend_from_slice(r.host.as_bytes());
        line.push(b']');
    } else {
        line.extend_from_slice(r.host.as_bytes());
    }
    line.push(b':');
    number(line, u64::from(r.port));
    text(line, "path", &r.path);
    if let Some(rule) = &r.rule {
        text(line, "rule", rule);
    }
    text(line, "auth", r.auth);
    text(line, "action", r.action.as_str());
    if let Some(reason) = &r.reason {
        text(line, "reason", reason);
    }
    for (name, n) in [
        (&b" status="[..], u64::from(r.status)),
        (b" bytes_in=", r.bytes_in),
        (b" bytes_out=", r.bytes_out),
        (
            b" duration_us=",
            u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX),
        ),
    ] {
        line.extend_from_slice(name);
        number(line, n);
    }
}

/// ` name=value`, the value quoted as the general formatter quotes a string when it holds a
/// space, a quote, a backslash or a control character (or is empty).
fn text(line: &mut Vec<u8>, name: &str, value: &str) {
    line.push(b' ');
    line.extend_from_slice(name.as_bytes());
    line.push(b'=');
    if value.is_empty()
        || value
            .bytes()
            .any(|b| b == b' ' || b == b'"' || b == b'\\' || b.is_ascii_control())
    {
        let _ = write!(line, "{value:?}");
    } else {
        line.extend_from_slice(value.as_bytes());
    }
}

fn number(line: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    line.extend_from_slice(digits.get(at..).unwrap_or_default());
}

/// `ip:port` (`[ip]:port` for IPv6), IPv4 without the formatting machinery.
fn socket_addr(line: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    line.push(b'.');
                }
                number(line, u64::from(octet));
            }
            line.push(b':');
            number(line, u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, as the general formatter writes it.
fn timestamp(line: &mut Vec<u8>, second: &mut u64, date: &mut [u8; 20]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if now.as_secs() != *second {
        *second = now.as_secs();
        let at = i64::try_from(*second)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        let n = text.len().min(date.len());
        if let (Some(to), Some(from)) = (date.get_mut(..n), text.as_bytes().get(..n)) {
            to.copy_from_slice(from);
        }
    }
    line.extend_from_slice(date);
    let micros = now.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    line.extend_from_slice(&digits);
    line.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_is_the_general_formatters_rfc_3339_in_microseconds() {
        let (mut line, mut second, mut date) = (Vec::new(), u64::MAX, [0; 20]);
        timestamp(&mut line, &mut second, &mut date);
        let text = String::from_utf8(line).unwrap();
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        let now = time::OffsetDateTime::now_utc();
        assert!((now - parsed).whole_seconds().abs() <= 2, "{text}");
        assert_eq!(text.len(), "2026-12-02T02:35:06.973697Z".len(), "{text}");
    }

    #[test]
    fn a_value_is_quoted_only_when_it_must_be() {
        let mut line = Vec::new();
        text(&mut line, "path", "/a?b=1");
        text(&mut line, "reason", "denied by \"x\"");
        text(&mut line, "path", "");
        number(&mut line, 0);
        socket_addr(&mut line, "10.0.255.1:8080".parse().unwrap());
        socket_addr(&mut line, "[::1]:9".parse().unwrap());
        assert_eq!(
            String::from_utf8(line).unwrap(),
            " path=/a?b=1 reason=\"denied by \\\"x\\\"\" path=\"\"010.0.255.1:8080[::1]:9"
        );
    }
}
