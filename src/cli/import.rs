//! `signet import postman`: reads the exports, writes the config (and the env file), and
//! reports on stderr what could not be carried over.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::import::{self, EnvVar, Input};

/// `signet import postman` arguments.
#[derive(Debug, clap::Args)]
pub(super) struct PostmanArgs {
    /// The collection export (v2.1 or v2.0).
    collection: PathBuf,
    /// An environment export (repeatable; a later one wins).
    #[arg(long = "environment", short = 'e', value_name = "ENV.json")]
    environments: Vec<PathBuf>,
    /// A globals export.
    #[arg(long, short = 'g', value_name = "G.json")]
    globals: Option<PathBuf>,
    /// Write the config here (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the credentials' values here as NAME=value lines (mode 0600).
    #[arg(long, value_name = "FILE")]
    env_out: Option<PathBuf>,
}

fn input((file, text): &(String, String)) -> Input<'_> {
    Input { file, text }
}

fn read(path: &Path) -> Result<(String, String), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::User(format!("cannot read {}: {e}", path.display())))?;
    Ok((path.display().to_string(), text))
}

pub(super) fn postman(args: PostmanArgs) -> Result<(), Failure> {
    let collection = read(&args.collection)?;
    let environments = args
        .environments
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let globals = args.globals.as_deref().map(read).transpose()?;
    let envs: Vec<Input<'_>> = environments.iter().map(input).collect();
    let imported = import::postman(input(&collection), &envs, globals.as_ref().map(input))
        .map_err(|e| Failure::User(e.to_string()))?;
    for report in &imported.reports {
        eprintln!("warning: {report}");
    }
    match &args.out {
        Some(out) => crate::fsutil::write_atomic(out, imported.toml.as_bytes(), 0o644, 0o755)
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", out.display())))?,
        None => print!("{}", imported.toml),
    }
    eprintln!(
        "imported {} requests{}",
        imported.imported,
        args.out
            .as_ref()
            .map_or(String::new(), |o| format!(" into {}", o.display()))
    );
    report_vars(&imported.vars, args.env_out.as_deref())
}

/// Writes the env file, or lists the names to set; never prints a value.
fn report_vars(vars: &[EnvVar], env_out: Option<&Path>) -> Result<(), Failure> {
    let origin = |v: &EnvVar| {
        v.from
            .as_ref()
            .map_or(String::new(), |f| format!(" (Postman {{{{{f}}}}})"))
    };
    let unknown: Vec<&EnvVar> = vars.iter().filter(|v| v.value.is_none()).collect();
    match env_out {
        Some(path) => {
            crate::fsutil::write_atomic(
                path,
                import::emit::env_file(vars).as_bytes(),
                0o600,
                0o700,
            )
            .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
            // `. FILE` looks a name without a slash up in PATH.
            let sourced = if path.components().count() == 1 && path.is_relative() {
                format!("./{}", path.display())
            } else {
                path.display().to_string()
            };
            eprintln!(
                "wrote {} credentials to {} (mode 0600); load them with: set -a; . {sourced}; set +a",
                vars.len() - unknown.len(),
                path.display(),
            );
        }
        None if !vars.is_empty() => {
            eprintln!("the config reads these environment variables (set them, or use --env-out):");
            for var in vars.iter().filter(|v| v.value.is_some()) {
                eprintln!("  {}{}", var.name, origin(var));
            }
        }
        None => {}
    }
    if !unknown.is_empty() {
        eprintln!("the export holds no value for these; set them yourself:");
        for var in unknown {
            eprintln!("  {}{}", var.name, origin(var));
        }
    }
    Ok(())
}
