//! `signet import postman`: a Postman collection (with its environments and globals) as
//! signet's host rules and auth profiles. For every request: the auth Postman would use
//! ([`requests`]), its `{{variables}}` filled ([`variables`]), its URL parsed; then one profile
//! per distinct auth ([`auth_map`]) and one `[[host]]` per destination ([`layout`]), written
//! with credentials as `${NAME}` ([`emit`]). What cannot be carried over is reported, naming
//! the request; nothing is guessed.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod auth_map;
mod auth_table;
pub mod collection;
pub mod emit;
pub mod layout;
pub mod requests;
pub mod variables;

use crate::secret::Secret;
use auth_map::Mapped;
use emit::Profile;
use layout::{AuthRef, Placed};
use requests::{Effective, Owner, UrlProblem};

/// Why nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not JSON.
    #[error("{file}: not JSON (line {line}, column {column})")]
    NotJson {
        /// The file.
        file: String,
        /// Where the JSON breaks.
        line: usize,
        /// Where the JSON breaks.
        column: usize,
    },
    /// The file is JSON but not the Postman export asked for.
    #[error("{file}: not a Postman {what} export: {reason}")]
    NotPostman {
        /// The file.
        file: String,
        /// What it should have been.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No request gave a rule.
    #[error("nothing could be imported from {file}: no request has a usable URL and auth")]
    Nothing {
        /// The collection file.
        file: String,
    },
}

/// A file's name (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The name to show.
    pub file: &'a str,
    /// Its content.
    pub text: &'a str,
}

/// An environment variable the config reads.
#[derive(Debug, Clone)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value, when the export holds it.
    pub value: Option<Secret>,
    /// The Postman variable it came from.
    pub from: Option<String>,
}

/// What an import produced.
#[derive(Debug)]
pub struct Import {
    /// The config.
    pub toml: String,
    /// The variables it reads, in the order first used.
    pub vars: Vec<EnvVar>,
    /// Warnings, one line each, naming the request.
    pub reports: Vec<String>,
    /// How many requests it covers.
    pub imported: usize,
}

/// Imports `collection` with `environments` (a later one wins) and `globals`.
pub fn postman(
    collection: Input<'_>,
    environments: &[Input<'_>],
    globals: Option<Input<'_>>,
) -> Result<Import, ImportError> {
    let parsed = collection::parse_collection(collection.file, collection.text)?;
    let envs = environments
        .iter()
        .map(|e| collection::parse_environment(e.file, e.text))
        .collect::<Result<Vec<_>, _>>()?;
    let globals = globals
        .map(|g| collection::parse_environment(g.file, g.text))
        .transpose()?;
    let scope = variables::Scope::layered(
        globals.as_ref().map_or(&[][..], |g| &g.values[..]),
        &parsed.variable,
        envs.iter().map(|e| &e.values[..]),
    );
    let mut reports = Vec::new();
    let mut pending = Vec::new();
    let mut placed = Vec::new();
    for entry in requests::entries(&parsed, &scope) {
        let target = match requests::target(&entry.resolved) {
            Ok(target) => target,
            Err(problem) => {
                reports.push(url_report(&entry.name, &entry.written, &problem));
                continue;
            }
        };
        let auth = profile_of(&entry, &scope, &mut pending, &mut reports);
        placed.push(Placed {
            name: entry.name,
            method: entry.method,
            target,
            auth,
        });
    }
    if placed.is_empty() {
        return Err(ImportError::Nothing {
            file: collection.file.to_owned(),
        });
    }
    let profiles = name_profiles(pending, &mut reports);
    let mut hosts = layout::hosts(&placed, &mut reports);
    drop_unknown_methods(&mut hosts, &mut reports);
    let (names, vars) = emit::name_secrets(&profiles);
    Ok(Import {
        toml: emit::toml_text(&parsed.info.name, &profiles, &names, &hosts),
        vars,
        reports,
        imported: placed.len(),
    })
}

fn url_report(name: &str, written: &str, problem: &UrlProblem) -> String {
    // The URL as written, without its query (a key may sit there), never the substituted one.
    let written = written.split('?').next().unwrap_or(written);
    match problem {
        UrlProblem::HostVariables(vars) => format!(
            "request {name:?}: the host of {written:?} still holds {} after substitution (no \
             environment defines it): not imported",
            vars.iter()
                .map(|v| format!("{{{{{v}}}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        UrlProblem::Invalid(why) => {
            format!(
                "request {name:?}: {written:?} gives no http(s) destination ({why}): not imported"
            )
        }
    }
}

fn owner_label(owner: Owner, name: &str) -> String {
    match owner {
        Owner::Collection => format!("collection {name:?}"),
        Owner::Folder => format!("folder {name:?}"),
        Owner::Request => format!("request {name:?}"),
    }
}

/// A distinct auth while requests are read: where it was set, and who first used it.
struct Pending {
    mapped: Mapped,
    /// Each entity it was set on, in order of first use.
    origins: Vec<(Owner, String)>,
    first_request: String,
}

/// The profile a request's auth is served by (`None`: No Auth), added when new. A type signet
/// lacks is reported and the request is sent without auth: another profile's credentials never
/// go where Postman would not send them.
fn profile_of(
    entry: &requests::Entry<'_>,
    scope: &variables::Scope,
    pending: &mut Vec<Pending>,
    reports: &mut Vec<String>,
) -> AuthRef {
    let Effective::Set { auth, owner, name } = entry.auth else {
        return None;
    };
    let Some(mapped) = auth_map::map(auth, scope) else {
        reports.push(format!(
            "request {:?}: auth type {:?} (set on {}) has no signet equivalent (signet has: \
             noauth, {}): signet sends it without auth",
            entry.name,
            auth.kind,
            owner_label(owner, name),
            auth_map::supported_types().collect::<Vec<_>>().join(", ")
        ));
        return None;
    };
    let origin = (owner, name.to_owned());
    if let Some(at) = pending.iter().position(|p| p.mapped.same_as(&mapped)) {
        if let Some(p) = pending.get_mut(at)
            && !p.origins.contains(&origin)
        {
            p.origins.push(origin);
        }
        return Some(at);
    }
    pending.push(Pending {
        mapped,
        origins: vec![origin],
        first_request: entry.name.clone(),
    });
    Some(pending.len() - 1)
}

/// Names each profile after the widest entity it was set on (the collection, else a folder,
/// else a request; the first of them), and reports its notes under that name.
fn name_profiles(pending: Vec<Pending>, reports: &mut Vec<String>) -> Vec<Profile> {
    let rank = |o: Owner| match o {
        Owner::Collection => 0,
        Owner::Folder => 1,
        Owner::Request => 2,
    };
    let mut profiles: Vec<Profile> = Vec::new();
    for p in pending {
        let widest = p
            .origins
            .iter()
            .min_by_key(|(o, _)| rank(*o))
            .map_or("", |(_, n)| n.as_str());
        let name = unique_name(&emit::profile_name(widest), &profiles);
        let origin = p
            .origins
            .iter()
            .map(|(o, n)| owner_label(*o, n))
            .collect::<Vec<_>>()
            .join(", ");
        for note in &p.mapped.notes {
            reports.push(format!(
                "auth.{name} (set on {origin}; first used by request {:?}): {note}",
                p.first_request
            ));
        }
        profiles.push(Profile {
            name,
            origin,
            mapped: Mapped {
                notes: Vec::new(),
                ..p.mapped
            },
        });
    }
    profiles
}

fn unique_name(base: &str, profiles: &[Profile]) -> String {
    let mut name = base.to_owned();
    let mut n = 1;
    while profiles.iter().any(|p| p.name == name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// A route can only name methods signet knows (a custom method like `PURGE` is refused by the
/// config); such a route is left out and reported.
fn drop_unknown_methods(hosts: &mut [layout::HostBlock], reports: &mut Vec<String>) {
    for host in hosts {
        host.routes.retain(|route| {
            let unknown: Vec<&String> = route
                .methods
                .iter()
                .flatten()
                .filter(|m| !crate::config::is_known_method(m))
                .collect();
            if unknown.is_empty() {
                return true;
            }
            reports.push(format!(
                "{}: a route for {} would need a method signet's routes do not know ({}), so \
                 {} fall back to the host's auth",
                host.pattern,
                route.path,
                unknown
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                route.requests.join("; ")
            ));
            false
        });
    }
}
