//! `signet ca init | show | export | install | uninstall`. They read only `[ca]`, so they work
//! before the credentials of the auth profiles are set.

use std::path::Path;

use super::{CaAction, Failure};
use crate::config::CaConfig;
use crate::tls::{CertificateAuthority, TlsError};

pub(super) fn ca(config: &CaConfig, action: CaAction) -> Result<(), Failure> {
    let (cert, key) = (&config.cert, &config.key);
    match action {
        CaAction::Init => {
            let (ca, created) = CertificateAuthority::load_or_create(cert, key)
                .map_err(|e| Failure::User(e.to_string()))?;
            println!(
                "{}",
                if created {
                    "created a new CA"
                } else {
                    "the CA already exists"
                }
            );
            print_ca(&ca, cert, key);
        }
        CaAction::Show => print_ca(&load(cert, key)?, cert, key),
        CaAction::Export { out, bundle } => {
            let ca = load(cert, key)?;
            let pem = if bundle {
                let (pem, roots) = crate::tls::bundle::bundle_pem(&ca)
                    .map_err(|e| Failure::Runtime(e.to_string()))?;
                eprintln!("signet: {roots} system roots, then signet's CA");
                pem
            } else {
                ca.cert_pem().to_owned()
            };
            match out {
                Some(path) => std::fs::write(&path, pem).map_err(|e| {
                    Failure::Runtime(format!("cannot write {}: {e}", path.display()))
                })?,
                None => print!("{pem}"),
            }
        }
        CaAction::Install(args) => super::trust::install(&load(cert, key)?, &args)?,
        CaAction::Uninstall(args) => super::trust::uninstall(&load(cert, key)?, &args)?,
    }
    Ok(())
}

/// The existing CA, with advice that fits what is missing: `ca init` creates a CA only where
/// neither file exists, and refuses (rightly) to replace half of one.
fn load(cert: &Path, key: &Path) -> Result<CertificateAuthority, Failure> {
    let half_missing = |present: &Path, missing: &Path| TlsError::CaHalfMissing {
        present: present.to_owned(),
        missing: missing.to_owned(),
    };
    let error = match (cert.exists(), key.exists()) {
        (false, false) => {
            return Err(Failure::User(format!(
                "there is no CA yet ({} and {} are absent); run `signet ca init` to create it",
                cert.display(),
                key.display()
            )));
        }
        (true, false) => half_missing(cert, key),
        (false, true) => half_missing(key, cert),
        (true, true) => match CertificateAuthority::load(cert, key) {
            Ok(ca) => return Ok(ca),
            Err(e) => e,
        },
    };
    Err(Failure::User(error.to_string()))
}

pub(super) fn print_ca(ca: &CertificateAuthority, cert: &Path, key: &Path) {
    println!("certificate {}", cert.display());
    println!("key         {}", key.display());
    println!("sha256      {}", ca.fingerprint_sha256());
}
