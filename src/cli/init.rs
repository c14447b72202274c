//! `signet init`: a commented starter config and the CA, so that `signet run` works at once.

use std::io::Write as _;
use std::path::Path;

use super::Failure;
use super::ca::print_ca;
use crate::config::CaConfig;
use crate::tls::CertificateAuthority;

/// The starter config: every active key is a default spelled out, the examples are commented.
const STARTER: &str = include_str!("starter.toml");

pub(super) fn init(path: &Path) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Failure::User(format!(
                "{} already exists; signet init never overwrites a config (remove it, or give \
                 another path with --config)",
                path.display()
            )),
            _ => Failure::Runtime(format!("cannot write {}: {e}", path.display())),
        })?;
    file.write_all(STARTER.as_bytes())
        .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}", path.display());
    let ca = CaConfig::load(path).map_err(|e| Failure::User(e.to_string()))?;
    let (authority, created) = CertificateAuthority::load_or_create(&ca.cert, &ca.key)
        .map_err(|e| Failure::User(e.to_string()))?;
    println!(
        "{}",
        if created {
            "created a new CA"
        } else {
            "kept the CA that was there"
        }
    );
    print_ca(&authority, &ca.cert, &ca.key);
    println!(
        "next: add a [[host]] rule to {}, `signet check`, then `signet run`",
        path.display()
    );
    Ok(())
}
