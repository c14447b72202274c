//! `signet cookies import | export | list`.

use super::{CookiesAction, Failure};
use crate::config::Config;

pub(super) fn run(config: &Config, action: CookiesAction) -> Result<(), Failure> {
    let path = &config.cookies.jar;
    let jar = crate::cookies::load(path).map_err(|e| Failure::User(e.to_string()))?;
    let now = time::OffsetDateTime::now_utc();
    match action {
        CookiesAction::Import { file } => {
            let (stored, skipped) =
                crate::cookies::import(&jar, &file).map_err(|e| Failure::User(e.to_string()))?;
            crate::cookies::save(&jar, path, now).map_err(|e| Failure::Runtime(e.to_string()))?;
            println!("imported {stored} cookies into {}", path.display());
            for reason in skipped {
                println!("skipped {reason}");
            }
        }
        CookiesAction::Export { file } => {
            let entries = jar.entries(now);
            crate::cookies::write_private(
                &file,
                crate::cookies::netscape::write(&entries).as_bytes(),
            )
            .map_err(|e| Failure::Runtime(e.to_string()))?;
            println!("exported {} cookies to {}", entries.len(), file.display());
        }
        CookiesAction::List { host, show_values } => {
            let host = match host {
                Some(h) => Some(
                    crate::rules::normalize_host(&h).map_err(|e| Failure::User(e.to_string()))?,
                ),
                None => None,
            };
            for e in jar.entries(now) {
                let sent_to_host = host.as_deref().is_none_or(|h| {
                    h == e.domain || (!e.host_only && h.ends_with(&format!(".{}", e.domain)))
                });
                if !sent_to_host {
                    continue;
                }
                let domain = if e.host_only {
                    e.domain.clone()
                } else {
                    format!(".{}", e.domain)
                };
                let expires = match e.expires {
                    None => "session".to_owned(),
                    Some(at) => time::OffsetDateTime::from_unix_timestamp(at)
                        .ok()
                        .and_then(|t| {
                            t.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_else(|| at.to_string()),
                };
                let mut flags = Vec::new();
                if e.secure {
                    flags.push("Secure".to_owned());
                }
                if e.http_only {
                    flags.push("HttpOnly".to_owned());
                }
                if let Some(s) = e.same_site {
                    flags.push(format!("SameSite={s:?}"));
                }
                let value = if show_values {
                    format!("={}", e.value)
                } else {
                    String::new()
                };
                println!(
                    "{domain}\t{}\t{}{value}\t{expires}\t{}",
                    e.path,
                    e.name,
                    flags.join(",")
                );
            }
        }
    }
    Ok(())
}
