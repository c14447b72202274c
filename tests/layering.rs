//! The floors of the crate, kept by reading `src/**`: each top-level module may use only the
//! modules listed for it (the floors below it). A `use crate::x` or `crate::x::…` outside that
//! list fails here, so the import graph stays free of circles without splitting the crate.
//! Test code (inline `#[cfg(test)]` modules, `tests.rs`, `*_tests.rs`, `*_vectors.rs`) may
//! reach anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each top-level module may import, bottom floor first.
const FLOORS: &[(&str, &[&str])] = &[
    ("context", &[]),
    ("secret", &[]),
    ("fsutil", &[]),
    ("metrics", &[]),
    ("rules", &[]),
    ("gss", &[]),
    ("shared", &[]),
    ("auth", &["context", "gss", "secret"]),
    ("tls", &["fsutil"]),
    ("net", &["auth", "context", "secret", "tls"]),
    ("cookies", &["fsutil", "rules", "shared"]),
    (
        "config",
        &["auth", "cookies", "net", "rules", "secret", "shared"],
    ),
    ("import", &["config", "secret"]),
    (
        "oauth2",
        &[
            "auth", "context", "fsutil", "net", "secret", "shared", "tls",
        ],
    ),
    (
        "aws",
        &["auth", "context", "fsutil", "net", "secret", "tls"],
    ),
    (
        "policy",
        &[
            "auth", "aws", "config", "context", "net", "oauth2", "rules", "secret", "shared", "tls",
        ],
    ),
    (
        "upstream",
        &[
            "auth", "context", "cookies", "net", "rules", "secret", "tls",
        ],
    ),
    (
        "proxy",
        &[
            "auth", "config", "context", "cookies", "metrics", "net", "policy", "rules", "secret",
            "tls", "upstream",
        ],
    ),
    (
        "admin",
        &[
            "auth", "config", "context", "cookies", "metrics", "net", "policy", "proxy", "rules",
            "secret", "tls",
        ],
    ),
    (
        "app",
        &[
            "admin", "auth", "aws", "config", "context", "cookies", "fsutil", "metrics", "net",
            "oauth2", "policy", "proxy", "rules", "secret", "shared", "tls", "upstream",
        ],
    ),
    (
        "cli",
        &[
            "admin", "app", "auth", "aws", "config", "context", "cookies", "fsutil", "import",
            "metrics", "net", "oauth2", "policy", "proxy", "rules", "secret", "shared", "tls",
            "upstream",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/auth/digest.rs` → `auth`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs") || name.contains("_vectors")
}

/// The file without its inline test module, which by convention closes the file.
fn without_tests(text: &str) -> &str {
    let mut from = 0;
    while let Some(at) = text[from..].find("#[cfg(test)]") {
        let start = from + at;
        let rest = text[start + "#[cfg(test)]".len()..].trim_start();
        if rest.starts_with("mod ") && !rest.split('\n').next().unwrap().ends_with(';') {
            return &text[..start];
        }
        from = start + 1;
    }
    text
}

/// Every `crate::name` a text refers to, outside comments, with its line.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let before = rest[..at].chars().last();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

fn floors() -> BTreeMap<&'static str, &'static [&'static str]> {
    FLOORS.iter().copied().collect()
}

#[test]
fn every_module_imports_only_the_floors_below_it() {
    let floors = floors();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let module = module_of(file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(allowed) = floors.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module {module} has no floor in FLOORS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, dep) in crate_references(without_tests(&text)) {
            if dep != module && !allowed.contains(&dep.as_str()) {
                wrong.push(format!(
                    "{}:{line}: {module} uses crate::{dep}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports across floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_floors_allow_no_circle() {
    // A module may only list modules that come before it in FLOORS.
    let mut seen: Vec<&str> = Vec::new();
    for (module, allowed) in FLOORS {
        for dep in *allowed {
            assert!(
                seen.contains(dep),
                "{module} may use {dep}, which is not below it"
            );
        }
        seen.push(module);
    }
}

#[test]
fn only_the_wire_and_upstream_branch_on_the_parent_proxy() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let module = module_of(file);
        if matches!(module.as_str(), "net" | "upstream") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in without_tests(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if code.contains("dialer.parent()") || code.contains("dialer().parent()") {
                wrong.push(format!("{}:{}: {}", file.display(), n + 1, code.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "parent-proxy branching outside net/ and upstream/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reference_finder_sees_uses_and_paths_but_not_comments() {
    let text = "use crate::auth::Scheme;\nlet x = crate::net::dial();\n// crate::proxy in a comment\nmy_crate::other";
    let names: Vec<String> = crate_references(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["auth", "net"]);
    let with_tests = "fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::proxy;\n}\n";
    assert!(!without_tests(with_tests).contains("crate::proxy"));
}
