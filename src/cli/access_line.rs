//! The text access log line of `signet run`. One line per request is the one log write on
//! the request path, and the general text formatter (an event dispatched through the
//! subscriber, a formatting pass per field, with styling, and a calendar conversion per
//! timestamp) costs several times what signet's own work on a request does. So the line is
//! written here, straight from the record, in the general formatter's layout
//! (`2026-12-02T02:35:06.973697Z  INFO signet::access: access client=… status=200 …`), with the
//! date of the current second kept per thread; `RUST_LOG` still decides whether it is written.
//!
//! Lines are gathered per thread and written whole, many in one write: when a thread has
//! [`FULL`] bytes waiting, and by [`Flushing`] every [`FLUSH_INTERVAL`] and when `signet run`
//! stops, so that no line waits longer than that or is lost on a stop.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::proxy::access::AccessRecord;

/// What follows the timestamp: `  INFO {TARGET}: access`.
const LEVEL_TARGET_MESSAGE: &[u8] = b"  INFO signet::access: access";

/// A thread writes its lines out once this many bytes wait (some 60 lines).
const FULL: usize = 16 * 1024;

/// The longest a line waits to be written.
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One thread's lines not yet written, and the second whose `YYYY-MM-DDTHH:MM:SS.` the
/// date it keeps is.
struct Pending {
    lines: Vec<u8>,
    second: u64,
    date: [u8; 20],
    client: Client,
}

/// The client address last written, as text: the requests of a keep-alive connection follow
/// one another on its thread, and each would format the same address again.
#[derive(Default)]
struct Client {
    addr: Option<SocketAddr>,
    text: Vec<u8>,
}

/// Every thread's [`Pending`], for [`flush`].
static PENDING: Mutex<Vec<Arc<Mutex<Pending>>>> = Mutex::new(Vec::new());

thread_local! {
    static OWN: Arc<Mutex<Pending>> = {
        let own = Arc::new(Mutex::new(Pending {
            lines: Vec::with_capacity(FULL + 1024),
            second: u64::MAX,
            date: [0; 20],
            client: Client::default(),
        }));
        PENDING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(own.clone());
        own
    };
}

/// Adds `record` as one text line to the lines waiting to go to stderr.
pub(super) fn write(record: &AccessRecord) {
    OWN.with(|own| {
        let mut pending = own.lock().unwrap_or_else(PoisonError::into_inner);
        let Pending {
            lines,
            second,
            date,
            client,
        } = &mut *pending;
        // When the exchange ended, from the record's own clock readings rather than a third.
        timestamp(lines, second, date, record.time + record.duration);
        lines.extend_from_slice(LEVEL_TARGET_MESSAGE);
        fields(lines, client, record);
        lines.push(b'\n');
        if lines.len() >= FULL {
            write_out(lines);
        }
    });
}

/// Writes every thread's waiting lines to stderr.
pub(super) fn flush() {
    let all = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    for pending in all.iter() {
        write_out(&mut pending.lock().unwrap_or_else(PoisonError::into_inner).lines);
    }
}

/// Whole lines, in one write under stderr's lock (no other log line cuts into them).
fn write_out(lines: &mut Vec<u8>) {
    if !lines.is_empty() {
        let _ = std::io::stderr().lock().write_all(lines);
        lines.clear();
    }
}

/// Flushes the waiting lines every [`FLUSH_INTERVAL`], on a thread of its own, until dropped;
/// then once more.
pub(super) struct Flushing {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flushing {
    pub(super) fn start() -> Flushing {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("signet-log".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::park_timeout(FLUSH_INTERVAL);
                    flush();
                }
            })
            .ok();
        Flushing { stop, thread }
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        flush();
    }
}

/// ` name=value` for each field, in the order and with the names of the `tracing` event.
fn fields(line: &mut Vec<u8>, last: &mut Client, r: &AccessRecord) {
    if let Some(client) = r.client {
        line.extend_from_slice(b" client=");
        if last.addr != Some(client) {
            last.text.clear();
            socket_addr(&mut last.text, client);
            last.addr = Some(client);
        }
        line.extend_from_slice(&last.text);
    }
    // A method is a token (no space, quote or control character), the scheme, auth type and
    // action are signet's own names: none is ever quoted.
    plain(line, b" method=", r.method.as_str());
    plain(line, b" scheme=", r.scheme);
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
    plain(line, b" auth=", r.auth);
    plain(line, b" action=", r.action.as_str());
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
    let quoted = value.bytes().any(|b| QUOTED[usize::from(b)]);
    if value.is_empty() || quoted {
        let _ = write!(line, "{value:?}");
    } else {
        line.extend_from_slice(value.as_bytes());
    }
}

/// The bytes that make a value quoted: space, `"`, backslash and the control characters.
static QUOTED: [bool; 256] = {
    let mut quoted = [false; 256];
    let mut b = 0;
    while b < 256 {
        quoted[b] = b <= 0x20 || b == b'"' as usize || b == b'\\' as usize || b == 0x7f;
        b += 1;
    }
    quoted
};

/// `name` (` name=`) and a value that needs no quoting.
fn plain(line: &mut Vec<u8>, name: &[u8], value: &str) {
    line.extend_from_slice(name);
    line.extend_from_slice(value.as_bytes());
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
fn timestamp(line: &mut Vec<u8>, second: &mut u64, date: &mut [u8; 20], at: SystemTime) {
    let now = at.duration_since(UNIX_EPOCH).unwrap_or_default();
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
    use crate::proxy::access::TARGET;

    #[test]
    fn a_timestamp_is_the_general_formatters_rfc_3339_in_microseconds() {
        let (mut line, mut second, mut date) = (Vec::new(), u64::MAX, [0; 20]);
        timestamp(&mut line, &mut second, &mut date, SystemTime::now());
        let text = String::from_utf8(line).unwrap();
        let parsed =
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
        let now = time::OffsetDateTime::now_utc();
        assert!((now - parsed).whole_seconds().abs() <= 2, "{text}");
        assert_eq!(text.len(), "2026-12-02T02:35:06.973697Z".len(), "{text}");
    }

    #[test]
    fn the_level_target_and_message_are_the_general_formatters() {
        let expected = format!("  INFO {TARGET}: access");
        assert_eq!(LEVEL_TARGET_MESSAGE, expected.as_bytes());
    }

    #[test]
    fn each_line_names_its_own_client() {
        let record = |client: &str| AccessRecord {
            time: SystemTime::now(),
            client: Some(client.parse().unwrap()),
            method: http::Method::GET,
            scheme: "http",
            host: "::1".into(),
            port: 8080,
            path: "/".into(),
            rule: None,
            auth: "none",
            action: crate::proxy::access::Action::Forwarded,
            reason: None,
            status: 200,
            bytes_in: 0,
            bytes_out: 12,
            duration: Duration::from_micros(1500),
        };
        let (mut line, mut last) = (Vec::new(), Client::default());
        for client in ["10.0.0.1:1", "10.0.0.1:1", "10.0.0.2:2"] {
            fields(&mut line, &mut last, &record(client));
            line.push(b'\n');
        }
        let rest = " method=GET scheme=http host=[::1]:8080 path=/ auth=none action=forwarded \
                    status=200 bytes_in=0 bytes_out=12 duration_us=1500";
        assert_eq!(
            String::from_utf8(line).unwrap(),
            format!(
                " client=10.0.0.1:1{rest}\n client=10.0.0.1:1{rest}\n client=10.0.0.2:2{rest}\n"
            )
        );
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
