//! `signet init`, `signet ca export --bundle` and `signet ca install | uninstall`, on temp dirs:
//! the system store under a scratch root, NSS in a scratch database. Nothing here touches the
//! machine's own trust stores.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;
use std::process::{Command, Output};

use cli::{SIGNET, stderr, stdout, vectors};

fn signet_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(SIGNET)
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The base64 body lines of each PEM certificate in `text`, in order.
fn pem_bodies(text: &str) -> Vec<String> {
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|block| {
            let body = block.split("-----END CERTIFICATE-----").next().unwrap();
            body.split_whitespace().collect::<String>()
        })
        .collect()
}

#[test]
fn init_writes_a_config_that_checks_and_creates_the_ca_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet_in(dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("wrote signet.toml"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("created a new CA"),
        "{}",
        stdout(&out)
    );
    let written = std::fs::read_to_string(dir.path().join("signet.toml")).unwrap();
    assert!(written.starts_with("# "), "{written}");
    assert!(dir.path().join("certs/ca.crt").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(dir.path().join("certs/ca.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
    let check = signet_in(dir.path(), &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(stdout(&check).contains("(present)"), "{}", stdout(&check));

    // Never over an existing file: the config and the CA stay as they were.
    let ca = std::fs::read(dir.path().join("certs/ca.crt")).unwrap();
    std::fs::write(dir.path().join("signet.toml"), "# mine\n").unwrap();
    let again = signet_in(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("signet.toml")).unwrap(),
        "# mine\n"
    );
    assert_eq!(std::fs::read(dir.path().join("certs/ca.crt")).unwrap(), ca);
}

#[test]
fn the_starters_commented_examples_are_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = signet_in(dir.path(), &["init", "--config", "conf/signet.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("conf/certs/ca.crt").exists());
    let written = std::fs::read_to_string(dir.path().join("conf/signet.toml")).unwrap();
    // Examples are commented as `#key`, prose as `# text`.
    let uncommented: String = written
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("conf/signet.toml"), uncommented).unwrap();
    let check = Command::new(SIGNET)
        .current_dir(dir.path())
        .args(["check", "--config", "conf/signet.toml"])
        .env("API_TOKEN", "t")
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "s")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let text = stdout(&check);
    assert!(
        text.contains("host[0] (api.example.com) match [\"api.example.com\"] -> bearer"),
        "{text}"
    );
    assert!(
        text.contains("host[1] (s3.us-east-1.amazonaws.com)"),
        "{text}"
    );
    assert!(text.contains("  route[0] path /public/**"), "{text}");
}

#[test]
fn export_bundle_is_the_system_roots_then_signets_ca() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet_in(dir.path(), &["init"]).status.success());
    // The "system" store: a file of two certificates, as SSL_CERT_FILE names one.
    let roots = [
        std::fs::read_to_string(vectors().join("client-certs/ca.pem")).unwrap(),
        std::fs::read_to_string(vectors().join("client-certs/client.pem")).unwrap(),
    ];
    let store = dir.path().join("roots.pem");
    std::fs::write(&store, roots.concat()).unwrap();
    let out = Command::new(SIGNET)
        .current_dir(dir.path())
        .args(["ca", "export", "--bundle", "--out", "bundle.pem"])
        .env("SSL_CERT_FILE", &store)
        .env_remove("SSL_CERT_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("2 system roots"), "{}", stderr(&out));
    let bundle = std::fs::read_to_string(dir.path().join("bundle.pem")).unwrap();
    let ca = std::fs::read_to_string(dir.path().join("certs/ca.crt")).unwrap();
    let mut want = pem_bodies(&roots.concat());
    want.extend(pem_bodies(&ca));
    assert_eq!(pem_bodies(&bundle), want);
    assert_eq!(want.len(), 3);
}

#[test]
fn install_and_uninstall_in_a_scratch_system_store() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet_in(dir.path(), &["init"]).status.success());
    // A Debian layout with one CA of its own, as a real system has.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/ca-certificates/test")).unwrap();
    let other = std::fs::read_to_string(vectors().join("client-certs/ca.pem")).unwrap();
    std::fs::write(
        root.join("usr/share/ca-certificates/test/other.crt"),
        &other,
    )
    .unwrap();
    std::fs::write(root.join("etc/ca-certificates.conf"), "test/other.crt\n").unwrap();
    let root_arg = root.to_str().unwrap();
    let bundle = root.join("etc/ssl/certs/ca-certificates.crt");
    let ca = std::fs::read_to_string(dir.path().join("certs/ca.crt")).unwrap();

    let out = signet_in(
        dir.path(),
        &["ca", "install", "--system", "--system-root", root_arg],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let installed: Vec<_> = std::fs::read_dir(root.join("usr/local/share/ca-certificates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(installed.len(), 1);
    assert!(
        installed[0].starts_with("signet-") && installed[0].ends_with(".crt"),
        "{installed:?}"
    );
    let mut want = pem_bodies(&other);
    want.extend(pem_bodies(&ca));
    assert_eq!(pem_bodies(&std::fs::read_to_string(&bundle).unwrap()), want);

    let out = signet_in(
        dir.path(),
        &["ca", "uninstall", "--system", "--system-root", root_arg],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed"), "{}", stdout(&out));
    assert_eq!(
        pem_bodies(&std::fs::read_to_string(&bundle).unwrap()),
        pem_bodies(&other)
    );
    let again = signet_in(
        dir.path(),
        &["ca", "uninstall", "--system", "--system-root", root_arg],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("nothing to remove"),
        "{}",
        stdout(&again)
    );
}

/// The nicknames and trust flags `certutil -L` lists for the database in `db`.
fn nss_list(db: &Path) -> String {
    let out = Command::new("certutil")
        .args(["-L", "-d"])
        .arg(format!("sql:{}", db.display()))
        .output()
        .expect("certutil (libnss3-tools) is needed for this test");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn install_creates_a_fresh_nss_database_and_uninstall_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet_in(dir.path(), &["init"]).status.success());
    let db = dir.path().join("profile/nssdb");
    let db_arg = db.to_str().unwrap();
    let out = signet_in(dir.path(), &["ca", "install", "--nss-db", db_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created the database"),
        "{}",
        stdout(&out)
    );
    let listed = nss_list(&db);
    let line = listed
        .lines()
        .find(|l| l.starts_with("signet-"))
        .unwrap_or_else(|| panic!("no signet CA in\n{listed}"));
    assert!(line.trim_end().ends_with("C,,"), "{line}");

    // The database certutil holds is the CA signet wrote.
    let name = line.split_whitespace().next().unwrap();
    let exported = Command::new("certutil")
        .args(["-L", "-a", "-n", name, "-d"])
        .arg(format!("sql:{}", db.display()))
        .output()
        .unwrap();
    let ca = std::fs::read_to_string(dir.path().join("certs/ca.crt")).unwrap();
    assert_eq!(pem_bodies(&stdout(&exported)), pem_bodies(&ca));

    // Installing again keeps one entry.
    let out = signet_in(dir.path(), &["ca", "install", "--nss-db", db_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(nss_list(&db).matches("signet-").count(), 1);

    let out = signet_in(dir.path(), &["ca", "uninstall", "--nss-db", db_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!nss_list(&db).contains("signet-"), "{}", nss_list(&db));
}

#[test]
fn install_without_a_store_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(signet_in(dir.path(), &["init"]).status.success());
    let out = signet_in(dir.path(), &["ca", "install"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--system"), "{}", stderr(&out));
}
