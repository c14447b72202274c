//! What a scheme signed, for `signet sign -v`: the text a server's error can be compared with.
//!
//! A caller that wants it puts an empty [`SignedDetail`] in the request's extensions before
//! signing; the schemes that sign a string (awsv4, oauth1, hawk, edgegrid) add theirs to it. The
//! proxy never asks, so signing costs it one lookup in empty extensions. The output is still a
//! function of the request alone: a signer stays pure.

use std::fmt;

/// The strings a scheme signed, each also with its secrets replaced by `***`.
#[derive(Clone, Default)]
pub struct SignedDetail(Vec<SignedText>);

#[derive(Clone)]
struct SignedText {
    label: &'static str,
    text: String,
    redacted: String,
}

impl SignedDetail {
    /// Whether `req` asks for the detail (then building it is worth the work).
    pub fn wanted(req: &http::request::Parts) -> bool {
        req.extensions.get::<SignedDetail>().is_some()
    }

    /// Adds `text` under `label` when `req` asks for the detail. Every non-empty string of
    /// `secrets` is replaced by `***` in the redacted copy.
    pub fn record(
        req: &mut http::request::Parts,
        label: &'static str,
        text: String,
        secrets: &[&str],
    ) {
        let Some(detail) = req.extensions.get_mut::<SignedDetail>() else {
            return;
        };
        let mut redacted = text.clone();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            redacted = redacted.replace(secret, "***");
        }
        detail.0.push(SignedText {
            label,
            text,
            redacted,
        });
    }

    /// The detail a signed request carries, taken out of it.
    pub fn take(req: &mut http::request::Parts) -> Option<SignedDetail> {
        req.extensions.remove::<SignedDetail>()
    }

    /// Each label with its text: in full when `show_secrets`, redacted otherwise.
    pub fn entries(&self, show_secrets: bool) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(move |t| {
            let text = if show_secrets { &t.text } else { &t.redacted };
            (t.label, text.as_str())
        })
    }
}

impl fmt::Debug for SignedDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|t| (t.label, &t.redacted)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> http::request::Parts {
        http::Request::new(()).into_parts().0
    }

    #[test]
    fn nothing_is_recorded_unless_asked() {
        let mut req = parts();
        assert!(!SignedDetail::wanted(&req));
        SignedDetail::record(&mut req, "string to sign", "x".into(), &[]);
        assert!(SignedDetail::take(&mut req).is_none());
    }

    #[test]
    fn the_redacted_copy_hides_each_secret() {
        let mut req = parts();
        req.extensions.insert(SignedDetail::default());
        SignedDetail::record(
            &mut req,
            "data",
            "a=tok1;b=tok2;c=x".into(),
            &["tok1", "", "tok2"],
        );
        let detail = SignedDetail::take(&mut req).unwrap();
        assert_eq!(
            detail.entries(false).collect::<Vec<_>>(),
            [("data", "a=***;b=***;c=x")]
        );
        assert_eq!(
            detail.entries(true).collect::<Vec<_>>(),
            [("data", "a=tok1;b=tok2;c=x")]
        );
        assert!(!format!("{detail:?}").contains("tok1"));
    }
}
