//! The text access log line, written by a layer of its own: one line per request is the one
//! event on the request path, and the general text formatter (a formatting pass per field, with
//! styling, and a calendar conversion per timestamp) costs several times what the request
//! itself does. This layer writes the same layout as that formatter
//! (`2026-12-02T02:35:06.973697Z  INFO signet::access: access client=… status=200 …`) from the
//! event's string and integer fields, with the date of the current second kept per thread.

use std::cell::RefCell;
use std::fmt::Debug;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::proxy::access::TARGET;

/// Writes `signet::access` events to stderr as text lines.
pub(super) struct AccessLines;

/// Whether the general formatter should leave an event to [`AccessLines`].
pub(super) fn is_access(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() == TARGET
}

thread_local! {
    /// The line being written, and the second whose `YYYY-MM-DDTHH:MM:SS.` it starts with.
    static LINE: RefCell<(Vec<u8>, u64, [u8; 20])> = const { RefCell::new((Vec::new(), u64::MAX, [0; 20])) };
}

impl<S: Subscriber> Layer<S> for AccessLines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !is_access(event.metadata()) {
            return;
        }
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
            event.record(&mut Fields(line));
            line.push(b'\n');
            let _ = std::io::stderr().lock().write_all(line);
        });
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

/// ` name=value` for every field but the message; a value with a space, a quote or a control
/// character is quoted as the general formatter quotes it.
struct Fields<'a>(&'a mut Vec<u8>);

impl Fields<'_> {
    fn name(&mut self, field: &Field) {
        self.0.push(b' ');
        self.0.extend_from_slice(field.name().as_bytes());
        self.0.push(b'=');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        if value
            .bytes()
            .any(|b| b == b' ' || b == b'"' || b == b'\\' || b.is_ascii_control())
        {
            let _ = write!(self.0, "{value:?}");
        } else {
            self.0.extend_from_slice(value.as_bytes());
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = value;
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
        self.0
            .extend_from_slice(digits.get(at..).unwrap_or_default());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            return;
        }
        self.name(field);
        let _ = write!(self.0, "{value:?}");
    }
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
}
