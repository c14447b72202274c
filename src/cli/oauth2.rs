//! `signet login` and `signet token`: OAuth 2.0 profiles from the command line.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Failure, current_thread};
use crate::auth::Scheme;
use crate::config::Config;
use crate::oauth2::{Grant, Login, LoginError, LoginOptions, TokenSource};
use crate::policy::Policy;

/// The token source of oauth2 profile `name`.
pub(super) fn oauth2_source(config: &Config, name: &str) -> Result<Arc<TokenSource>, Failure> {
    let policy = Policy::from_config(config).map_err(|e| Failure::User(e.to_string()))?;
    let oauth2: Vec<&str> = policy
        .profiles
        .iter()
        .filter(|(_, s)| matches!(s.as_deref(), Some(Scheme::OAuth2(_))))
        .map(|(n, _)| n.as_str())
        .collect();
    let list = if oauth2.is_empty() {
        "none".to_owned()
    } else {
        oauth2.join(", ")
    };
    match (policy.token_source(name), policy.profiles.get(name)) {
        (Some(source), Some(_)) => Ok(source.clone()),
        (_, Some(_)) => Err(Failure::User(format!(
            "[auth.{name}] is not an oauth2 profile (oauth2 profiles: {list})"
        ))),
        (_, None) => Err(Failure::User(format!(
            "no [auth.{name}] profile (oauth2 profiles: {list})"
        ))),
    }
}

pub(super) fn login(
    config: &Config,
    name: &str,
    timeout: u64,
    open_browser: bool,
) -> Result<(), Failure> {
    let source = oauth2_source(config, name)?;
    let runtime = current_thread()?;
    let token = runtime.block_on(async {
        let login = Login::prepare(source.clone()).await.map_err(|e| match e {
            LoginError::NotBrowserGrant(..) | LoginError::Callback(_) => {
                Failure::User(e.to_string())
            }
            other => Failure::Runtime(other.to_string()),
        })?;
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "Open this URL in a browser to log in ({name}):\n\n  {}\n\nWaiting up to {timeout}s for the redirect to {} ...",
            login.url(),
            login.redirect_uri()
        );
        let _ = out.flush();
        let opts = LoginOptions {
            timeout: std::time::Duration::from_secs(timeout),
            open_browser,
        };
        login
            .finish(&opts)
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))
    })?;
    println!("logged in: {}", token_summary(&token, SystemTime::now()));
    println!("tokens stored in {}", source.store().path().display());
    Ok(())
}

pub(super) fn token(config: &Config, name: &str, refresh: bool) -> Result<(), Failure> {
    let source = oauth2_source(config, name)?;
    let settings = source.settings();
    if refresh {
        current_thread()?
            .block_on(source.force_refresh(std::time::SystemTime::now()))
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        println!("refreshed");
    }
    println!("profile {name} (grant {})", settings.grant.name());
    if let Grant::Fixed(_) = settings.grant {
        println!("a fixed access_token from the config; nothing is fetched or stored");
        return Ok(());
    }
    println!("store {}", settings.store_path.display());
    let status = source
        .status()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    match &status.token {
        None if settings.grant.is_interactive() => {
            println!("no token yet: run `signet login {name}`")
        }
        None => println!("no token yet: fetched on first use (or now with --refresh)"),
        Some(t) => {
            println!("{}", token_summary(t, SystemTime::now()));
        }
    }
    Ok(())
}

/// Expiry, scopes and which tokens exist (with the ID token's own expiry); never a token.
pub(super) fn token_summary(t: &crate::oauth2::Token, now: SystemTime) -> String {
    let expiry = match t.expires_at {
        None => "expiry not stated by the server".to_owned(),
        Some(at) => format!("expires {}", relative(at, now)),
    };
    let scopes = if t.scopes.is_empty() {
        "none".to_owned()
    } else {
        t.scopes.join(" ")
    };
    let id_token = match (&t.id_token, t.id_token_expires_at()) {
        (None, _) => "no".to_owned(),
        (Some(_), None) => "yes (no exp)".to_owned(),
        (Some(_), Some(at)) => format!("yes, expires {}", relative(at, now)),
    };
    format!(
        "{expiry}\nscopes {scopes}\nrefresh token {}\nid token {id_token}",
        if t.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        },
    )
}

/// `2026-12-02T10:00:00Z (in 30s)`, or `2026-12-02T10:00:00Z (past)` once gone.
fn relative(at: SystemTime, now: SystemTime) -> String {
    let when = time::OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .unwrap_or_else(|_| at.into())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into());
    match at.duration_since(now) {
        Ok(left) => format!("{when} (in {}s)", left.as_secs()),
        Err(_) => format!("{when} (past)"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::token_summary;
    use crate::oauth2::Token;
    use crate::secret::Secret;

    #[test]
    fn the_summary_gives_each_expiry_and_no_token() {
        // payload {"exp":1764670000}, unsigned: only the claim matters here.
        let id_token = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3NjQ2NzAwMDB9.";
        let token = Token {
            access_token: Secret::new("at-123"),
            refresh_token: Some(Secret::new("rt-456")),
            id_token: Some(Secret::new(id_token)),
            token_type: Some("Bearer".into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_764_673_600)),
            scopes: vec!["read".into(), "write".into()],
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_764_670_030);
        assert_eq!(
            token_summary(&token, now),
            "expires 2025-12-02T11:06:40Z (in 3570s)\nscopes read write\n\
             refresh token yes\nid token yes, expires 2025-12-02T10:06:40Z (past)"
        );
    }
}
