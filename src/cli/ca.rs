//! `signet ca init | show | export`.

use std::path::Path;

use super::{CaAction, Failure};
use crate::config::Config;
use crate::tls::CertificateAuthority;

pub(super) fn ca(config: &Config, action: CaAction) -> Result<(), Failure> {
    let (cert, key) = (&config.ca.cert, &config.ca.key);
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
        CaAction::Show => {
            let ca = CertificateAuthority::load(cert, key).map_err(|e| {
                Failure::User(format!("{e} (run `signet ca init` to create the CA)"))
            })?;
            print_ca(&ca, cert, key);
        }
        CaAction::Export { out } => {
            let ca = CertificateAuthority::load(cert, key).map_err(|e| {
                Failure::User(format!("{e} (run `signet ca init` to create the CA)"))
            })?;
            match out {
                Some(path) => std::fs::write(&path, ca.cert_pem()).map_err(|e| {
                    Failure::Runtime(format!("cannot write {}: {e}", path.display()))
                })?,
                None => print!("{}", ca.cert_pem()),
            }
        }
    }
    Ok(())
}

pub(super) fn print_ca(ca: &CertificateAuthority, cert: &Path, key: &Path) {
    println!("certificate {}", cert.display());
    println!("key         {}", key.display());
    println!("sha256      {}", ca.fingerprint_sha256());
}
