//! The imported config as TOML text, and the environment variables its `${NAME}`s read. The
//! same input always gives the same bytes: everything is written in document order.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt::Write as _;

use super::EnvVar;
use super::auth_map::{Field, Mapped, Plain, SecretValue};
use super::layout::{AuthRef, HostBlock, RouteBlock};

/// A profile to write.
#[derive(Debug)]
pub struct Profile {
    /// `[auth.NAME]`.
    pub name: String,
    /// Where it was set (`folder "Orders"`), for the comment.
    pub origin: String,
    /// The table.
    pub mapped: Mapped,
}

/// A profile name: the entity's name in lower case, runs of anything but letters and digits
/// as one `-`; never `none`/`noauth`, never empty.
pub fn profile_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    match out.as_str() {
        "" => "auth".to_owned(),
        "none" | "noauth" => format!("{out}-auth"),
        _ => out,
    }
}

/// An environment variable name: upper case, words of camelCase apart (`apiToken` →
/// `API_TOKEN`), anything but letters and digits as `_`, never starting with a digit.
pub fn env_name(parts: &[&str]) -> String {
    let mut out = String::new();
    let mut after_lower = false;
    for c in parts.join("_").chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && after_lower {
                out.push('_');
            }
            after_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c.to_ascii_uppercase());
        } else {
            after_lower = false;
            if !out.ends_with('_') {
                out.push('_');
            }
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

/// Gives every credential of every profile its variable: from its Postman variable's name
/// when it came from one, else from profile and key. One name holds one value: a clash gets
/// `_2`, `_3`, ….
pub fn name_secrets(profiles: &[Profile]) -> (Vec<Vec<Vec<String>>>, Vec<EnvVar>) {
    let mut vars: Vec<EnvVar> = Vec::new();
    let mut names = Vec::new();
    for profile in profiles {
        let mut per_field = Vec::new();
        for (key, field) in &profile.mapped.fields {
            let mut row = Vec::new();
            match field {
                Field::Secret(secret) => {
                    row.push(claim(&mut vars, secret, &[&profile.name, key]));
                }
                Field::Params(params) => {
                    for p in params {
                        row.push(claim(&mut vars, &p.value, &[&profile.name, key, &p.key]));
                    }
                }
                Field::Plain(_) => {}
            }
            per_field.push(row);
        }
        names.push(per_field);
    }
    (names, vars)
}

fn claim(vars: &mut Vec<EnvVar>, secret: &SecretValue, fallback: &[&str]) -> String {
    let base = match &secret.var {
        Some(var) => env_name(&[var.strip_prefix("vault:").unwrap_or(var)]),
        None => env_name(fallback),
    };
    let mut name = base.clone();
    let mut n = 1;
    loop {
        match vars.iter().find(|v| v.name == name) {
            None => break,
            Some(v) if v.value == secret.value => return name,
            Some(_) => {
                n += 1;
                name = format!("{base}_{n}");
            }
        }
    }
    vars.push(EnvVar {
        name: name.clone(),
        value: secret.value.clone(),
        from: secret.var.clone(),
    });
    name
}

/// A TOML string; `${` is written `$${` so that signet reads it as written.
fn string(s: &str) -> String {
    toml::Value::String(s.replace("${", "$${")).to_string()
}

fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn plain(value: &Plain) -> String {
    match value {
        Plain::Str(s) => string(s),
        Plain::Bool(b) => b.to_string(),
        Plain::Int(n) => n.to_string(),
        Plain::List(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|s| string(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The whole file.
pub fn toml_text(
    collection: &str,
    profiles: &[Profile],
    names: &[Vec<Vec<String>>],
    hosts: &[HostBlock],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported from the Postman collection {:?} by `signet import postman`.",
        comment(collection)
    );
    out.push_str("# Credentials are read from the environment variables named in ${…}.\n");
    for (profile, names) in profiles.iter().zip(names) {
        out.push('\n');
        let _ = writeln!(out, "# Postman: {}", comment(&profile.origin));
        let _ = writeln!(out, "[auth.{}]", profile.name);
        let _ = writeln!(out, "type = {}", string(profile.mapped.kind));
        for ((key, field), row) in profile.mapped.fields.iter().zip(names) {
            let value = match field {
                Field::Plain(p) => plain(p),
                Field::Secret(_) => string_ref(row.first()),
                Field::Params(params) => {
                    let rows: Vec<String> = params
                        .iter()
                        .zip(row)
                        .map(|(p, name)| {
                            let mut t = format!(
                                "{{ key = {}, value = {}",
                                string(&p.key),
                                string_ref(Some(name))
                            );
                            if let Some(send_in) = &p.send_in {
                                let _ = write!(t, ", send_in = {}", string(send_in));
                            }
                            t.push_str(" }");
                            t
                        })
                        .collect();
                    format!("[{}]", rows.join(", "))
                }
            };
            let _ = writeln!(out, "{key} = {value}");
        }
    }
    for host in hosts {
        write_host(&mut out, host, profiles);
    }
    out
}

fn string_ref(name: Option<&String>) -> String {
    format!("\"${{{}}}\"", name.map_or("", String::as_str))
}

fn auth_value(auth: AuthRef, profiles: &[Profile]) -> String {
    match auth.and_then(|i| profiles.get(i)) {
        Some(p) => string(&p.name),
        None => string("none"),
    }
}

fn write_host(out: &mut String, host: &HostBlock, profiles: &[Profile]) {
    out.push('\n');
    if host.auth.is_none() && host.routes.is_empty() {
        let _ = writeln!(
            out,
            "# {}: every request is \"No Auth\", so no rule: {}",
            host.pattern,
            comment(&host.requests.join("; "))
        );
        return;
    }
    if !host.requests.is_empty() {
        let _ = writeln!(out, "# Postman: {}", comment(&host.requests.join("; ")));
    }
    out.push_str("[[host]]\n");
    let _ = writeln!(out, "match = [{}]", string(&host.pattern));
    let _ = writeln!(out, "auth = {}", auth_value(host.auth, profiles));
    for route in &host.routes {
        write_route(out, route, profiles);
    }
}

fn write_route(out: &mut String, route: &RouteBlock, profiles: &[Profile]) {
    out.push('\n');
    let _ = writeln!(out, "  # Postman: {}", comment(&route.requests.join("; ")));
    out.push_str("  [[host.route]]\n");
    let _ = writeln!(out, "  path = {}", string(&route.path));
    if let Some(methods) = &route.methods {
        let list: Vec<String> = methods.iter().map(|m| string(m)).collect();
        let _ = writeln!(out, "  methods = [{}]", list.join(", "));
    }
    let _ = writeln!(out, "  auth = {}", auth_value(route.auth, profiles));
}

/// `NAME=value` lines in shell syntax (`set -a; . FILE` reads them): a value with anything but
/// letters, digits and `_./:@%+=,-` is single-quoted, which keeps newlines (PEM keys) as they
/// are. Variables without a value are left out.
pub fn env_file(vars: &[EnvVar]) -> String {
    let mut out = String::new();
    for var in vars {
        let Some(value) = &var.value else { continue };
        let value = value.expose();
        let safe = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c));
        if safe {
            let _ = writeln!(out, "{}={value}", var.name);
        } else {
            let _ = writeln!(out, "{}='{}'", var.name, value.replace('\'', "'\\''"));
        }
    }
    out
}

#[cfg(test)]
#[path = "emit_tests.rs"]
mod tests;
