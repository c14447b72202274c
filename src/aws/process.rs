//! `credential_process`: the command runs as botocore runs it (its line split as a POSIX shell
//! splits words, then executed without a shell), with no standard input, within a time limit,
//! and prints the credentials as JSON: `Version` 1, `AccessKeyId`, `SecretAccessKey`, and for
//! temporary credentials `SessionToken` and `Expiration` (ISO 8601).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::auth::AwsCredentials;
use crate::secret::Secret;

/// More output than this is not a credentials document.
const MAX_OUTPUT: u64 = 64 * 1024;
/// How much of the process's standard error goes to the log.
const STDERR_SHOWN: usize = 300;

/// Why a `credential_process` gave no credentials. Never carries its standard output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// It could not be started.
    #[error("cannot run credential_process {program:?}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        reason: String,
    },
    /// It ran past the time limit and was killed.
    #[error("credential_process gave no answer within {0}s and was stopped")]
    Timeout(u64),
    /// It exited with a failure (its standard error goes to the log, not here).
    #[error("credential_process exited with {0}")]
    Failed(String),
    /// Its output is not the credentials document.
    #[error("credential_process printed {0}")]
    Output(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Document {
    version: Option<serde_json::Value>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Runs `command` (program and arguments) and reads the credentials it prints; `profile`
/// names it in the log.
pub async fn run(
    command: &[String],
    timeout: Duration,
    profile: &str,
) -> Result<AwsCredentials, ProcessError> {
    let Some((program, args)) = command.split_first() else {
        return Err(ProcessError::Spawn {
            program: String::new(),
            reason: "the command is empty".into(),
        });
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProcessError::Spawn {
            program: program.clone(),
            reason: e.to_string(),
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let ran = async {
        let (out, err, status) =
            tokio::join!(read_capped(stdout), read_capped(stderr), child.wait());
        (out, err, status)
    };
    let (out, err, status) = tokio::time::timeout(timeout, ran)
        .await
        .map_err(|_| ProcessError::Timeout(timeout.as_secs().max(1)))?;
    let status = status.map_err(|e| ProcessError::Failed(e.to_string()))?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err);
        let first: String = stderr.trim().chars().take(STDERR_SHOWN).collect();
        tracing::warn!(profile, %status, stderr = %first, "credential_process failed");
        return Err(ProcessError::Failed(status.to_string()));
    }
    parse(&out)
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(pipe) = pipe {
        // A read error leaves what was read; the document check then refuses it.
        let _ = pipe.take(MAX_OUTPUT + 1).read_to_end(&mut buf).await;
    }
    buf
}

/// The credentials of a credential_process's standard output.
pub fn parse(out: &[u8]) -> Result<AwsCredentials, ProcessError> {
    let bad = |what: &str| ProcessError::Output(what.to_owned());
    if out.len() as u64 > MAX_OUTPUT {
        return Err(bad("more than 64 KiB"));
    }
    // serde_json's messages quote no input, so they cannot carry a key.
    let doc: Document = serde_json::from_slice(out)
        .map_err(|e| ProcessError::Output(format!("no JSON object ({e})")))?;
    match doc.version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(_) => return Err(bad("a Version other than 1")),
        None => return Err(bad("no Version")),
    }
    let required = |v: Option<String>, key: &str| {
        v.filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| ProcessError::Output(format!("no {key}")))
    };
    let expires_at = match doc.expiration {
        None => None,
        Some(text) => Some(
            parse_time(&text).ok_or_else(|| bad("an Expiration that is not an ISO 8601 time"))?,
        ),
    };
    Ok(AwsCredentials {
        access_key: required(doc.access_key_id, "AccessKeyId")?,
        secret_key: required(doc.secret_access_key, "SecretAccessKey")?,
        session_token: doc.session_token.filter(|t| !t.is_empty()).map(Secret::new),
        expires_at,
    })
}

/// An ISO 8601 / RFC 3339 time (`2024-01-01T00:00:00Z`, fractions and offsets allowed).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let format = time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text.trim(), &format).ok()?;
    Some(SystemTime::from(t))
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
