//! Running the `signet` binary from tests: a config in a temp dir, its output as text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SIGNET: &str = env!("CARGO_BIN_EXE_signet");

pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

pub fn signet(dir: &Path, config: &str, args: &[&str]) -> Output {
    let path = dir.join("signet.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(SIGNET)
        .arg("--config")
        .arg(&path)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The value of header `name` in `signet sign` output.
pub fn header(out: &str, name: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
}
