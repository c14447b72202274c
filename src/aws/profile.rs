//! Profiles of the AWS shared files, resolved as botocore (the AWS CLI) resolves a named
//! profile: the config file (`AWS_CONFIG_FILE`, default `~/.aws/config`, sections `[default]`
//! and `[profile NAME]`) and the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
//! `~/.aws/credentials`, sections `[NAME]`) merged, the credentials file winning for a key both
//! set. A profile's credentials are, in botocore's order: a role to assume (`role_arn` with
//! `source_profile` or `credential_source = Environment`), the credentials file's keys, a
//! `credential_process`, the config file's keys.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::Env;
use super::ini::{self, Entry, IniError, Section};
use crate::auth::AwsCredentials;
use crate::secret::Secret;

/// What a profile's credentials are made of, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Keys written in a file (or, for `credential_source = Environment`, the environment).
    Static {
        /// The profile.
        profile: String,
        /// The keys.
        credentials: AwsCredentials,
    },
    /// A `credential_process` command line, split as a POSIX shell would.
    Process {
        /// The profile.
        profile: String,
        /// Program and arguments.
        command: Vec<String>,
    },
    /// An STS AssumeRole, signed with the credentials of `source`.
    AssumeRole {
        /// The profile (or the rule) that names the role.
        profile: String,
        /// The role.
        role: Role,
        /// Where the credentials that assume it come from.
        source: Box<Plan>,
    },
}

/// A role to assume and the parameters of its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// `role_arn`.
    pub arn: String,
    /// `role_session_name`.
    pub session_name: Option<String>,
    /// `external_id`.
    pub external_id: Option<Secret>,
    /// `duration_seconds` (900 to 43200).
    pub duration_seconds: Option<u32>,
}

/// A profile, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Its credentials.
    pub plan: Plan,
    /// Its `region`.
    pub region: Option<String>,
}

/// Why a profile cannot be used. Names files, lines and keys; never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A file exists but cannot be read.
    #[error("cannot read {}: {reason}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file is not INI.
    #[error(transparent)]
    Ini(#[from] IniError),
    /// Neither file has the profile.
    #[error("no AWS profile {name:?} in {} or {}", config.display(), credentials.display())]
    NotFound {
        /// The profile.
        name: String,
        /// The config file looked in.
        config: PathBuf,
        /// The credentials file looked in.
        credentials: PathBuf,
    },
    /// A key of the profile is wrong or missing, or the profile asks for what signet cannot do.
    #[error("{at}: AWS profile {profile:?}: {reason}")]
    Invalid {
        /// `file:line` (of the key, or of the section header).
        at: String,
        /// The profile.
        profile: String,
        /// Why.
        reason: String,
    },
}

/// The two shared files, read.
#[derive(Debug)]
pub struct SharedFiles {
    config: PathBuf,
    credentials: PathBuf,
    config_sections: Vec<Section>,
    credentials_sections: Vec<Section>,
}

/// A value of a merged profile and where it was written.
struct Found<'a> {
    entry: &'a Entry,
    file: &'a Path,
}

impl Found<'_> {
    fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.entry.line)
    }
}

impl SharedFiles {
    /// Reads the files the AWS CLI would read under `env` (a missing file is an empty one).
    pub fn load(env: &Env) -> Result<SharedFiles, ProfileError> {
        let home = || env.get("HOME").unwrap_or_default();
        let path = |var: &str, default: &str| match env.get(var).filter(|v| !v.is_empty()) {
            Some(p) => expand_home(&p, &home()),
            None => Path::new(&home()).join(".aws").join(default),
        };
        let config = path("AWS_CONFIG_FILE", "config");
        let credentials = path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        Ok(SharedFiles {
            config_sections: read(&config)?,
            credentials_sections: read(&credentials)?,
            config,
            credentials,
        })
    }

    /// Resolves profile `name`: its credentials and region.
    pub fn resolve(&self, name: &str, env: &Env) -> Result<Resolved, ProfileError> {
        self.section_of(name)?;
        let region = self.get(name, "region").map(|f| f.entry.value.clone());
        let plan = self.plan(name, env, &mut Vec::new())?;
        Ok(Resolved { plan, region })
    }

    fn config_section(&self, name: &str) -> Option<&Section> {
        self.config_sections.iter().rev().find(|s| {
            if s.name == "default" {
                return name == "default";
            }
            match shlex::split(&s.name).as_deref() {
                Some([word, profile]) => word == "profile" && profile == name,
                _ => false,
            }
        })
    }

    fn credentials_section(&self, name: &str) -> Option<&Section> {
        self.credentials_sections.iter().find(|s| s.name == name)
    }

    /// A section of the profile (for errors), or that it exists nowhere.
    fn section_of(&self, name: &str) -> Result<(&Section, &Path), ProfileError> {
        if let Some(s) = self.credentials_section(name) {
            return Ok((s, &self.credentials));
        }
        match self.config_section(name) {
            Some(s) => Ok((s, &self.config)),
            None => Err(ProfileError::NotFound {
                name: name.to_owned(),
                config: self.config.clone(),
                credentials: self.credentials.clone(),
            }),
        }
    }

    /// `key` of the merged profile: the credentials file's, else the config file's.
    fn get(&self, name: &str, key: &str) -> Option<Found<'_>> {
        fn in_file<'a>(
            section: Option<&'a Section>,
            file: &'a Path,
            key: &str,
        ) -> Option<Found<'a>> {
            let entry = section?.get(key)?;
            Some(Found { entry, file })
        }
        in_file(self.credentials_section(name), &self.credentials, key)
            .or_else(|| in_file(self.config_section(name), &self.config, key))
    }

    fn invalid(&self, name: &str, at: Option<String>, reason: impl Into<String>) -> ProfileError {
        let at = at.unwrap_or_else(|| match self.section_of(name) {
            Ok((section, file)) => format!("{}:{}", file.display(), section.line),
            Err(_) => self.config.display().to_string(),
        });
        ProfileError::Invalid {
            at,
            profile: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// The credentials of profile `name`; `visited` holds the profiles that led to it.
    fn plan(&self, name: &str, env: &Env, visited: &mut Vec<String>) -> Result<Plan, ProfileError> {
        self.section_of(name)?;
        self.refuse_unsupported(name)?;
        if self.get(name, "role_arn").is_some() {
            return self.assume_role(name, env, visited);
        }
        self.plain(name)
    }

    /// Keys and processes only (botocore's profile providers, no role).
    fn plain(&self, name: &str) -> Result<Plan, ProfileError> {
        if let Some(keys) = self.keys_in(name, self.credentials_section(name), &self.credentials)? {
            return Ok(keys);
        }
        if let Some(found) = self.get(name, "credential_process") {
            let command = shlex::split(&found.entry.value)
                .filter(|words| !words.is_empty())
                .ok_or_else(|| {
                    self.invalid(
                        name,
                        Some(found.at()),
                        "credential_process is not a command line (empty, or unbalanced quotes)",
                    )
                })?;
            return Ok(Plan::Process {
                profile: name.to_owned(),
                command,
            });
        }
        if let Some(keys) = self.keys_in(name, self.config_section(name), &self.config)? {
            return Ok(keys);
        }
        Err(self.invalid(
            name,
            None,
            "no credentials: aws_access_key_id and aws_secret_access_key, credential_process or \
             role_arn",
        ))
    }

    /// The static keys of one file's section, when it has them.
    fn keys_in(
        &self,
        name: &str,
        section: Option<&Section>,
        file: &Path,
    ) -> Result<Option<Plan>, ProfileError> {
        let Some(section) = section else {
            return Ok(None);
        };
        let value = |key: &str| section.get(key).filter(|e| !e.value.is_empty());
        let at = |e: &Entry| Some(format!("{}:{}", file.display(), e.line));
        match (value("aws_access_key_id"), value("aws_secret_access_key")) {
            (None, None) => Ok(None),
            (Some(e), None) => Err(self.invalid(
                name,
                at(e),
                "aws_access_key_id without aws_secret_access_key",
            )),
            (None, Some(e)) => Err(self.invalid(
                name,
                at(e),
                "aws_secret_access_key without aws_access_key_id",
            )),
            (Some(id), Some(secret)) => {
                let token = value("aws_session_token").or_else(|| value("aws_security_token"));
                Ok(Some(Plan::Static {
                    profile: name.to_owned(),
                    credentials: AwsCredentials {
                        access_key: Secret::new(id.value.clone()),
                        secret_key: Secret::new(secret.value.clone()),
                        session_token: token.map(|t| Secret::new(t.value.clone())),
                        expires_at: None,
                    },
                }))
            }
        }
    }

    fn refuse_unsupported(&self, name: &str) -> Result<(), ProfileError> {
        let refusals = [
            (
                "mfa_serial",
                "mfa_serial asks a person for a code, which a proxy cannot do; use a \
                 credential_process that does",
            ),
            (
                "web_identity_token_file",
                "web_identity_token_file (AssumeRoleWithWebIdentity) is not supported",
            ),
        ];
        for (key, reason) in refusals {
            if let Some(found) = self.get(name, key) {
                return Err(self.invalid(name, Some(found.at()), reason));
            }
        }
        let has_keys = self.get(name, "aws_access_key_id").is_some();
        let has_other = ["credential_process", "role_arn"]
            .iter()
            .any(|k| self.get(name, k).is_some());
        if let Some(found) = self
            .get(name, "sso_session")
            .or(self.get(name, "sso_start_url"))
            && !has_keys
            && !has_other
        {
            return Err(self.invalid(
                name,
                Some(found.at()),
                "AWS IAM Identity Center (SSO) profiles are not read directly; use \
                 `credential_process = aws configure export-credentials --profile NAME --format \
                 process` in another profile",
            ));
        }
        Ok(())
    }

    /// A profile with `role_arn`: the role and where the credentials that assume it come from.
    fn assume_role(
        &self,
        name: &str,
        env: &Env,
        visited: &mut Vec<String>,
    ) -> Result<Plan, ProfileError> {
        visited.push(name.to_owned());
        let role = self.role(name)?;
        let source = match (
            self.get(name, "source_profile"),
            self.get(name, "credential_source"),
        ) {
            (Some(a), Some(_)) => {
                return Err(self.invalid(
                    name,
                    Some(a.at()),
                    "source_profile and credential_source exclude each other",
                ));
            }
            (Some(found), None) => self.source_profile(name, &found, env, visited)?,
            (None, Some(found)) => self.credential_source(name, &found, env)?,
            (None, None) => {
                let at = self.get(name, "role_arn").map(|f| f.at());
                return Err(self.invalid(
                    name,
                    at,
                    "role_arn needs source_profile or credential_source",
                ));
            }
        };
        Ok(Plan::AssumeRole {
            profile: name.to_owned(),
            role,
            source: Box::new(source),
        })
    }

    fn role(&self, name: &str) -> Result<Role, ProfileError> {
        let value = |key| self.get(name, key).map(|f| f.entry.value.clone());
        let duration_seconds = match self.get(name, "duration_seconds") {
            None => None,
            Some(found) => Some(
                found
                    .entry
                    .value
                    .parse::<u32>()
                    .ok()
                    .filter(|d| (900..=43200).contains(d))
                    .ok_or_else(|| {
                        self.invalid(
                            name,
                            Some(found.at()),
                            "duration_seconds must be a number of seconds from 900 to 43200",
                        )
                    })?,
            ),
        };
        Ok(Role {
            arn: value("role_arn").unwrap_or_default(),
            session_name: value("role_session_name"),
            external_id: value("external_id").map(Secret::new),
            duration_seconds,
        })
    }

    /// botocore: a source profile with keys of its own (or without a role) gives its keys or
    /// process, even if it names a role too; otherwise its role is assumed in turn.
    fn source_profile(
        &self,
        name: &str,
        found: &Found<'_>,
        env: &Env,
        visited: &mut Vec<String>,
    ) -> Result<Plan, ProfileError> {
        let source = found.entry.value.as_str();
        let has_keys = self.get(source, "aws_access_key_id").is_some()
            && self.get(source, "aws_secret_access_key").is_some();
        if source == name {
            if !has_keys {
                return Err(self.invalid(
                    name,
                    Some(found.at()),
                    "source_profile names the profile itself, which has no keys",
                ));
            }
            return self.plain(name);
        }
        if visited.iter().any(|v| v == source) {
            let chain = format!("{} -> {source}", visited.join(" -> "));
            let reason = format!("source_profile makes a loop: {chain}");
            return Err(self.invalid(name, Some(found.at()), reason));
        }
        self.section_of(source).map_err(|_| {
            self.invalid(
                name,
                Some(found.at()),
                format!("source_profile {source:?} is in neither file"),
            )
        })?;
        if has_keys || self.get(source, "role_arn").is_none() {
            self.refuse_unsupported(source)?;
            return self.plain(source);
        }
        self.plan(source, env, visited)
    }

    fn credential_source(
        &self,
        name: &str,
        found: &Found<'_>,
        env: &Env,
    ) -> Result<Plan, ProfileError> {
        if found.entry.value != "Environment" {
            return Err(self.invalid(
                name,
                Some(found.at()),
                "credential_source: only Environment is supported (not instance or container \
                 metadata)",
            ));
        }
        let var = |k: &str| env.get(k).filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Plan::Static {
                profile: format!("{name} (environment)"),
                credentials: AwsCredentials {
                    access_key: Secret::new(id),
                    secret_key: Secret::new(secret),
                    session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
                    expires_at: None,
                },
            }),
            _ => Err(self.invalid(
                name,
                Some(found.at()),
                "credential_source = Environment, but AWS_ACCESS_KEY_ID or \
                 AWS_SECRET_ACCESS_KEY is not set",
            )),
        }
    }
}

/// `~/x` as the AWS CLI expands it.
fn expand_home(path: &str, home: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) if !home.is_empty() => Path::new(home).join(rest),
        _ if path == "~" && !home.is_empty() => PathBuf::from(home),
        _ => PathBuf::from(path),
    }
}

fn read(file: &Path) -> Result<Vec<Section>, ProfileError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(ini::parse(file, &text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ProfileError::Read {
            file: file.to_owned(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
