//! `signet ca install | uninstall`: signet's CA in the Debian system store and in NSS databases
//! (Chromium's, a Firefox profile's), and out of them again.
//!
//! Each store gets the CA under a name with its fingerprint's first bytes, so that uninstall
//! removes this CA and nothing else, and a new CA does not collide with an old one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Failure, TrustArgs};
use crate::tls::CertificateAuthority;

/// `signet-0123ABCD`: the CA's name in every store.
fn nickname(ca: &CertificateAuthority) -> String {
    let hex: String = ca
        .fingerprint_sha256()
        .chars()
        .filter(|c| *c != ':')
        .take(8)
        .collect();
    format!("signet-{hex}")
}

/// Where the store the arguments name lives.
struct Stores {
    /// The system store's local certificate directory, and the update command's arguments.
    system: Option<SystemStore>,
    /// The NSS database directory.
    nss: Option<PathBuf>,
}

struct SystemStore {
    local_dir: PathBuf,
    update_args: Vec<String>,
}

impl Stores {
    fn of(args: &TrustArgs) -> Result<Stores, Failure> {
        if !args.system && !args.nss && args.nss_db.is_none() {
            return Err(Failure::User(
                "say which store: --system (Debian/Ubuntu, needs root), --nss (Chromium's \
                 ~/.pki/nssdb) or --nss-db DIR (a Firefox profile, say)"
                    .into(),
            ));
        }
        let nss = match (&args.nss_db, args.nss) {
            (Some(dir), _) => Some(dir.clone()),
            (None, true) => Some(default_nss_db()?),
            (None, false) => None,
        };
        let system = args.system.then(|| SystemStore::under(&args.system_root));
        Ok(Stores { system, nss })
    }
}

fn default_nss_db() -> Result<PathBuf, Failure> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Failure::User("HOME is not set; give the database with --nss-db".into()))?;
    Ok(PathBuf::from(home).join(".pki/nssdb"))
}

impl SystemStore {
    /// Debian's paths under `root` (`/` but in tests), which update-ca-certificates is told of
    /// when they are not its defaults.
    fn under(root: &Path) -> SystemStore {
        let at = |path: &str| root.join(path).display().to_string();
        let update_args = if root == Path::new("/") {
            Vec::new()
        } else {
            vec![
                "--certsconf".into(),
                at("etc/ca-certificates.conf"),
                "--certsdir".into(),
                at("usr/share/ca-certificates"),
                "--localcertsdir".into(),
                at("usr/local/share/ca-certificates"),
                "--etccertsdir".into(),
                at("etc/ssl/certs"),
                "--hooksdir".into(),
                at("etc/ca-certificates/update.d"),
            ]
        };
        SystemStore {
            local_dir: root.join("usr/local/share/ca-certificates"),
            update_args,
        }
    }

    fn file(&self, ca: &CertificateAuthority) -> PathBuf {
        self.local_dir.join(format!("{}.crt", nickname(ca)))
    }

    fn install(&self, ca: &CertificateAuthority) -> Result<(), Failure> {
        let file = self.file(ca);
        std::fs::create_dir_all(&self.local_dir)
            .and_then(|()| std::fs::write(&file, ca.cert_pem()))
            .map_err(|e| {
                Failure::Runtime(format!(
                    "cannot write {}: {e} (the system store needs root: sudo signet ca install \
                     --system)",
                    file.display()
                ))
            })?;
        self.update()?;
        println!("system store: added {}", file.display());
        Ok(())
    }

    fn uninstall(&self, ca: &CertificateAuthority) -> Result<(), Failure> {
        let file = self.file(ca);
        if !file.exists() {
            println!(
                "system store: {} is absent, nothing to remove",
                file.display()
            );
            return Ok(());
        }
        std::fs::remove_file(&file)
            .map_err(|e| Failure::Runtime(format!("cannot remove {}: {e}", file.display())))?;
        self.update()?;
        println!("system store: removed {}", file.display());
        Ok(())
    }

    fn update(&self) -> Result<(), Failure> {
        let out = run(Command::new("update-ca-certificates").args(&self.update_args))?;
        expect_success("update-ca-certificates", &out)
    }
}

/// Adds the CA to the stores `args` names.
pub(super) fn install(ca: &CertificateAuthority, args: &TrustArgs) -> Result<(), Failure> {
    let stores = Stores::of(args)?;
    if let Some(system) = &stores.system {
        system.install(ca)?;
    }
    if let Some(db) = &stores.nss {
        nss_install(ca, db)?;
    }
    Ok(())
}

/// Removes the CA from the stores `args` names.
pub(super) fn uninstall(ca: &CertificateAuthority, args: &TrustArgs) -> Result<(), Failure> {
    let stores = Stores::of(args)?;
    if let Some(system) = &stores.system {
        system.uninstall(ca)?;
    }
    if let Some(db) = &stores.nss {
        nss_uninstall(ca, db)?;
    }
    Ok(())
}

/// `sql:DIR`, as certutil names a database.
fn sql(db: &Path) -> String {
    format!("sql:{}", db.display())
}

fn nss_install(ca: &CertificateAuthority, db: &Path) -> Result<(), Failure> {
    if !db.join("cert9.db").exists() {
        // A fresh profile has no database yet, and certutil -A then fails with
        // SEC_ERROR_BAD_DATABASE: create an empty one, without a password as browsers do.
        create_private_dir(db)?;
        let out = run(Command::new("certutil")
            .args(["-N", "--empty-password", "-d"])
            .arg(sql(db)))?;
        expect_success("certutil -N", &out)?;
        println!("nss {}: created the database", db.display());
    }
    let name = nickname(ca);
    let out = run(Command::new("certutil")
        .args(["-A", "-t", "C,,", "-n", &name, "-d"])
        .arg(sql(db))
        .arg("-i")
        .arg(ca.cert_path()))?;
    expect_success("certutil -A", &out)?;
    println!(
        "nss {}: added {name} (trusted for TLS servers)",
        db.display()
    );
    Ok(())
}

fn nss_uninstall(ca: &CertificateAuthority, db: &Path) -> Result<(), Failure> {
    let name = nickname(ca);
    if !db.join("cert9.db").exists() {
        println!("nss {}: no database, nothing to remove", db.display());
        return Ok(());
    }
    let listed = run(Command::new("certutil")
        .args(["-L", "-n", &name, "-d"])
        .arg(sql(db)))?;
    if !listed.status.success() {
        println!("nss {}: {name} is absent, nothing to remove", db.display());
        return Ok(());
    }
    let out = run(Command::new("certutil")
        .args(["-D", "-n", &name, "-d"])
        .arg(sql(db)))?;
    expect_success("certutil -D", &out)?;
    println!("nss {}: removed {name}", db.display());
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))
}

/// Runs a store's tool, naming the package to install when it is missing.
fn run(command: &mut Command) -> Result<Output, Failure> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.output().map_err(|e| {
        let package = match program.as_str() {
            "certutil" => " (Debian/Ubuntu package libnss3-tools)",
            "update-ca-certificates" => " (Debian/Ubuntu package ca-certificates)",
            _ => "",
        };
        Failure::Runtime(format!("cannot run {program}{package}: {e}"))
    })
}

fn expect_success(what: &str, out: &Output) -> Result<(), Failure> {
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        text
    };
    Err(Failure::Runtime(format!(
        "{what} failed ({}): {}",
        out.status,
        text.trim()
    )))
}
