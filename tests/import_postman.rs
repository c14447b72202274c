//! `signet import postman` run as a user runs it, on the sample collections in
//! tests/vectors/postman: the config it writes passes `signet check` once its env file is loaded
//! the way the import says (`set -a; . FILE`), and `signet explain` / `signet sign` give, for each
//! request, the auth and credentials Postman would use (written out here by hand).

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cli::{SIGNET, stderr, stdout, vectors};

fn postman(name: &str) -> PathBuf {
    vectors().join("postman").join(name)
}

/// `signet import postman` with `args`, writing into `dir`.
fn import(dir: &Path, collection: &str, extra: &[&str]) -> Output {
    Command::new(SIGNET)
        .args(["import", "postman"])
        .arg(postman(collection))
        .args(extra)
        .arg("--out")
        .arg(dir.join("signet.toml"))
        .arg("--env-out")
        .arg(dir.join("signet.env"))
        .output()
        .unwrap()
}

/// Runs signet on the imported config with the env file loaded by the shell, plus `more`.
fn with_env(dir: &Path, more: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"set -a; . "$1"; set +a; shift; exec "$@""#)
        .arg("-")
        .arg(dir.join("signet.env"))
        .arg(SIGNET)
        .args(args)
        .arg("--config")
        .arg(dir.join("signet.toml"))
        .env_remove("RUST_LOG");
    for (k, v) in more {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The `auth …` line (or `rule none…`) that `signet explain -X method url` prints.
fn explained(dir: &Path, more: &[(&str, &str)], method: &str, url: &str) -> String {
    let out = with_env(dir, more, &["explain", "-X", method, url]);
    assert_eq!(out.status.code(), Some(0), "{url}: {}", stderr(&out));
    let text = stdout(&out);
    text.lines()
        .find(|l| l.starts_with("auth ") || l.starts_with("rule none"))
        .unwrap_or_else(|| panic!("no auth line in {text}"))
        .to_owned()
}

fn import_team(dir: &Path) -> Output {
    import(
        dir,
        "team-api.postman_collection.json",
        &[
            "--environment",
            postman("team-api.production.postman_environment.json")
                .to_str()
                .unwrap(),
            "--globals",
            postman("team-api.globals.postman_globals.json")
                .to_str()
                .unwrap(),
        ],
    )
}

#[test]
fn team_collection_keeps_postmans_inheritance_overrides_and_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = import_team(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    assert!(
        report.contains(r#"request "Legacy report": the host of "{{legacyHost}}/reports/daily" still holds {{legacyHost}}"#),
        "{report}"
    );
    let check = with_env(dir.path(), &[], &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    let cases = [
        // The collection's bearer, through a folder without auth.
        (
            "GET",
            "https://api.example.com/v1/users?page=1",
            "auth bearer",
        ),
        ("GET", "https://api.example.com/v1/users/42", "auth bearer"),
        // A request's own basic, over the path variable's glob; the user from globals.
        (
            "GET",
            "https://api.example.com/v1/users/me",
            "auth basic username=ops-admin",
        ),
        // The Admin folder's basic: the same path as "Get user", told apart by method.
        (
            "DELETE",
            "https://api.example.com/v1/users/42",
            "auth basic username=ops-admin",
        ),
        (
            "GET",
            "https://api.example.com/v1/admin/audit",
            "auth basic",
        ),
        // A stray `inherit` is no auth of its own: the folder's applies.
        (
            "POST",
            "https://api.example.com/v1/admin/audit/export",
            "auth basic",
        ),
        // The Public folder's noauth stops inheritance; a request below it overrides it.
        ("GET", "https://api.example.com/v1/health", "auth none"),
        (
            "GET",
            "https://api.example.com/v1/ping",
            "auth apikey query parameter api_key",
        ),
        // A host with only No Auth requests gets no rule.
        (
            "GET",
            "https://status.example.com/api/v2/status.json",
            "rule none",
        ),
        // A root request with `auth: null` inherits the collection's; the environment's
        // hooksHost wins over the collection's.
        (
            "POST",
            "http://hooks.internal.example:8080/hooks/h-7731",
            "auth bearer",
        ),
        ("POST", "http://localhost:9999/hooks/h-7731", "rule none"),
        // The environment's baseUrl is unticked: the collection's is used, not it.
        ("GET", "https://staging.example.com/v1/users", "rule none"),
    ];
    for (method, url, expected) in cases {
        let got = explained(dir.path(), &[], method, url);
        assert!(got.starts_with(expected), "{method} {url}: {got}");
    }
}

#[test]
fn credentials_reach_the_env_file_only_and_sign_as_postman_would() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(import_team(dir.path()).status.code(), Some(0));
    let toml = std::fs::read_to_string(dir.path().join("signet.toml")).unwrap();
    for secret in ["tok_live_4f9a8b7c6d5e", "s3cret", "pk_collection_value"] {
        assert!(!toml.contains(secret), "{secret} in {toml}");
    }
    assert!(toml.contains(r#"token = "${API_TOKEN}""#), "{toml}");
    let env_file = dir.path().join("signet.env");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        std::fs::read_to_string(&env_file).unwrap(),
        "API_TOKEN=tok_live_4f9a8b7c6d5e\nADMIN_PASSWORD='s3cret pass'\\''word'\nPUBLIC_KEY=pk_collection_value\n"
    );
    let sign = |url: &str| {
        let out = with_env(dir.path(), &[], &["sign", "--show-secrets", url]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(
        sign("https://api.example.com/v1/users")
            .contains("authorization: Bearer tok_live_4f9a8b7c6d5e")
    );
    // base64("ops-admin:s3cret pass'word"): the quote survives the env file.
    assert!(
        sign("https://api.example.com/v1/users/me")
            .contains("authorization: Basic b3BzLWFkbWluOnMzY3JldCBwYXNzJ3dvcmQ=")
    );
    // The collection variable wins over the globals' value of the same name.
    assert!(sign("https://api.example.com/v1/ping").contains("api_key=pk_collection_value"));
}

#[test]
fn every_auth_type_maps_to_its_signet_type() {
    let dir = tempfile::tempdir().unwrap();
    let out = import(
        dir.path(),
        "every-auth-type.postman_collection.json",
        &[
            "--environment",
            postman("every-auth-type.postman_environment.json")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    for expected in [
        r#"request "Other / Kerberos from another tool": auth type "kerberos""#,
        "{{vault:deploy-token}}, which is never exported",
        "{{$guid}}, which has no fixed value",
        "the access token Postman holds is not imported",
        "DEPLOY_TOKEN (Postman {{vault:deploy-token}})",
    ] {
        assert!(report.contains(expected), "{expected:?} not in {report}");
    }
    // The vault secret has no value in the export: check names the variable until it is set.
    let check = with_env(dir.path(), &[], &["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stderr(&check).contains("DEPLOY_TOKEN"),
        "{}",
        stderr(&check)
    );
    let by_hand = [("DEPLOY_TOKEN", "set-by-hand")];
    let check = with_env(dir.path(), &by_hand, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));

    let cases = [
        ("apikey", "auth apikey header x-api-key"),
        ("bearer", "auth bearer"),
        ("jwt/hs256", "auth jwt HS256 query parameter access_token"),
        ("jwt/rs256", "auth jwt RS256 header"),
        (
            "asap",
            "auth asap iss=my-service kid=my-service/key-1 exp=600s",
        ),
        ("vault", "auth bearer"),
        ("basic", "auth basic username=team-${bot}"),
        ("digest", "auth digest username=alice realm=types"),
        ("ntlm", "auth ntlm (NTLMv2) username=CORP\\alice"),
        (
            "oauth1",
            "auth oauth1 signature_method=HMAC-SHA256 add_to=header",
        ),
        (
            "hawk",
            "auth hawk id=types-hawk algorithm=sha256 payload_hash=true",
        ),
        // The environment's awsRegion is unticked: the collection's.
        (
            "aws",
            "auth awsv4 region=eu-west-1 service=execute-api add_to=header",
        ),
        (
            "edgegrid",
            "auth edgegrid headers_to_sign=[x-test1,x-test2] max_body=131072",
        ),
        ("oauth2/cc", "auth oauth2 grant=client_credentials"),
        ("oauth2/pkce", "auth oauth2 grant=authorization_code_pkce"),
        (
            "oauth2/fixed",
            "auth oauth2 grant=access_token add_to=query",
        ),
        ("open", "auth none"),
        // A type signet lacks: sent without auth, never with another profile's.
        ("kerberos", "auth none"),
    ];
    for (path, expected) in cases {
        let url = format!("https://types.example.com/{path}");
        let got = explained(dir.path(), &by_hand, "GET", &url);
        assert!(got.starts_with(expected), "{url}: {got}");
    }
    // Nested variables: jwtSubject = "user-{{userId}}".
    let toml = std::fs::read_to_string(dir.path().join("signet.toml")).unwrap();
    assert!(toml.contains(r#""sub": "user-77""#), "{toml}");
    assert!(!toml.contains("BEGIN PRIVATE KEY"), "{toml}");
}

#[test]
fn v2_0_object_form_and_string_urls() {
    let dir = tempfile::tempdir().unwrap();
    let env = postman("legacy-v2.0.postman_environment.json");
    let out = import(
        dir.path(),
        "legacy-v2.0.postman_collection.json",
        &["--environment", env.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    let check = with_env(dir.path(), &[], &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    let cases = [
        (
            "GET",
            "https://intranet.example.com:8443/reports?year=2017",
            "auth digest username=legacy-user realm=intranet",
        ),
        (
            "POST",
            "https://intranet.example.com:8443/reports",
            "auth hawk id=legacy-hawk algorithm=sha256 payload_hash=true",
        ),
        (
            "GET",
            "https://legacy-bucket.s3.amazonaws.com/?list-type=2",
            "auth awsv4 region=us-east-1 service=s3 add_to=query",
        ),
        (
            "GET",
            "http://legacy.example.com/ping",
            "auth basic username=legacy-basic",
        ),
    ];
    for (method, url, expected) in cases {
        let got = explained(dir.path(), &[], method, url);
        assert!(got.starts_with(expected), "{method} {url}: {got}");
    }
}

#[test]
fn the_same_input_gives_the_same_files() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        assert_eq!(import_team(dir.path()).status.code(), Some(0));
    }
    for file in ["signet.toml", "signet.env"] {
        assert_eq!(
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn without_env_out_the_names_are_listed_and_never_the_values() {
    let out = Command::new(SIGNET)
        .args(["import", "postman"])
        .arg(postman("team-api.postman_collection.json"))
        .arg("--environment")
        .arg(postman("team-api.production.postman_environment.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (toml, report) = (stdout(&out), stderr(&out));
    assert!(toml.contains("[[host]]"), "{toml}");
    assert!(
        report.contains("API_TOKEN (Postman {{apiToken}})")
            && report.contains("ADMIN_PASSWORD (Postman {{adminPassword}})"),
        "{report}"
    );
    assert!(!report.contains("tok_live") && !toml.contains("tok_live"));
    // Without the globals, adminUser is defined nowhere: the user is told to set it.
    assert!(toml.contains(r#"username = "${ADMIN_USER}""#), "{toml}");
    assert!(
        report.contains("{{adminUser}}, which no environment defines"),
        "{report}"
    );
}

#[test]
fn what_is_not_a_postman_export_is_refused_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |collection: &Path, extra: &[&Path]| {
        let mut cmd = Command::new(SIGNET);
        cmd.args(["import", "postman"]).arg(collection);
        for env in extra {
            cmd.arg("--environment").arg(env);
        }
        cmd.output().unwrap()
    };
    let cases: Vec<(PathBuf, Vec<PathBuf>, &str)> = vec![
        (
            write("broken.json", "{\"info\": "),
            vec![],
            "broken.json: not JSON (line 1, column 9)",
        ),
        (
            postman("team-api.production.postman_environment.json"),
            vec![],
            "pass it with --environment",
        ),
        (
            write("v1.json", r#"{"id": "x", "name": "old", "requests": []}"#),
            vec![],
            "not a Postman collection v2.0/v2.1 export",
        ),
        (
            postman("team-api.postman_collection.json"),
            vec![postman("team-api.postman_collection.json")],
            "not a Postman environment or globals export",
        ),
        (
            write(
                "unreachable.json",
                r#"{"info": {"name": "u", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
                    "item": [{"name": "r", "request": {"method": "GET", "url": "{{nowhere}}/x"}}]}"#,
            ),
            vec![],
            "nothing could be imported",
        ),
        (
            write(
                "shape.json",
                r#"{"info": {"name": "s", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
                    "item": [{"name": "r", "request": {"url": "https://a.example/", "auth": {"type": 7}}}]}"#,
            ),
            vec![],
            "not a Postman collection export: at item",
        ),
    ];
    for (collection, envs, message) in cases {
        let envs: Vec<&Path> = envs.iter().map(PathBuf::as_path).collect();
        let out = run(&collection, &envs);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{message:?} not in {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
}
