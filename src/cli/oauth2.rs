//! `signet login` and `signet token`: OAuth 2.0 profiles from the command line.

use std::io::Write;
use std::sync::Arc;

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
    println!(
        "logged in: {}",
        token_summary(&token, std::time::SystemTime::now())
    );
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
            println!("{}", token_summary(t, std::time::SystemTime::now()));
        }
    }
    Ok(())
}

/// Expiry, scopes and which tokens exist; never a token.
pub(super) fn token_summary(t: &crate::oauth2::Token, now: std::time::SystemTime) -> String {
    let expiry = match t.expires_at {
        None => "expiry not stated by the server".to_owned(),
        Some(at) => {
            let when = time::OffsetDateTime::from(at)
                .replace_nanosecond(0)
                .unwrap_or_else(|_| at.into())
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| "?".into());
            match at.duration_since(now) {
                Ok(left) => format!("expires {when} (in {}s)", left.as_secs()),
                Err(_) => format!("expired {when}"),
            }
        }
    };
    let scopes = if t.scopes.is_empty() {
        "none".to_owned()
    } else {
        t.scopes.join(" ")
    };
    format!(
        "{expiry}\nscopes {scopes}\nrefresh token {}\nid token {}",
        if t.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        },
        if t.id_token.is_some() { "yes" } else { "no" },
    )
}
