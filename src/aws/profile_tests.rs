use std::collections::HashMap;

use super::*;

/// Both files in a temp dir, and an environment pointing at them.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(config: &str, credentials: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("credentials"), credentials).unwrap();
        Files { dir }
    }

    fn env(&self, extra: &[(&str, &str)]) -> Env {
        let mut vars: HashMap<String, String> = HashMap::new();
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        vars.insert("AWS_CONFIG_FILE".into(), path("config"));
        vars.insert("AWS_SHARED_CREDENTIALS_FILE".into(), path("credentials"));
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        Env::from_fn(move |k| vars.get(k).cloned())
    }

    fn resolve(&self, name: &str) -> Result<Resolved, ProfileError> {
        let env = self.env(&[]);
        SharedFiles::load(&env)?.resolve(name, &env)
    }
}

fn keys(plan: &Plan) -> (&str, &str, Option<&str>) {
    match plan {
        Plan::Static { credentials: c, .. } => (
            c.access_key.expose(),
            c.secret_key.expose(),
            c.session_token.as_ref().map(Secret::expose),
        ),
        other => panic!("not static: {other:?}"),
    }
}

#[test]
fn credentials_file_keys_win_over_the_config_file() {
    let f = Files::new(
        "[profile dev]\naws_access_key_id = CONFIGKEY\naws_secret_access_key = config-secret\nregion = eu-west-3\n",
        "[dev]\naws_access_key_id = CREDKEY\naws_secret_access_key = cred-secret\naws_session_token = tok\n",
    );
    let r = f.resolve("dev").unwrap();
    assert_eq!(keys(&r.plan), ("CREDKEY", "cred-secret", Some("tok")));
    assert_eq!(r.region.as_deref(), Some("eu-west-3"));
}

#[test]
fn config_file_keys_serve_when_the_credentials_file_has_none() {
    let f = Files::new(
        "[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = def-secret\naws_security_token = legacy\n\
         [profile other]\nregion = us-west-2\n",
        "",
    );
    assert_eq!(
        keys(&f.resolve("default").unwrap().plan),
        ("DEFKEY", "def-secret", Some("legacy"))
    );
    // `[other]` in the config file is no profile: only `[profile other]` is.
    let err = f.resolve("other").unwrap_err().to_string();
    assert!(err.contains("no credentials"), "{err}");
}

#[test]
fn a_config_section_needs_the_profile_prefix_and_the_credentials_file_does_not() {
    let f = Files::new(
        "[dev]\naws_access_key_id = NOPE\naws_secret_access_key = nope\n\
         [profile \"with space\"]\naws_access_key_id = SPACEKEY\naws_secret_access_key = s\n",
        "[profile dev]\naws_access_key_id = NOPE2\naws_secret_access_key = nope2\n",
    );
    assert!(matches!(
        f.resolve("dev"),
        Err(ProfileError::NotFound { .. })
    ));
    assert_eq!(keys(&f.resolve("with space").unwrap().plan).0, "SPACEKEY");
    assert_eq!(keys(&f.resolve("profile dev").unwrap().plan).0, "NOPE2");
}

#[test]
fn credentials_file_keys_win_over_a_process_and_a_process_over_config_keys() {
    let f = Files::new(
        "[profile a]\ncredential_process = helper --profile a\n\
         [profile b]\ncredential_process = helper 'two words' \"x y\"\naws_access_key_id = CONFIGKEY\naws_secret_access_key = s\n",
        "[a]\naws_access_key_id = CREDKEY\naws_secret_access_key = s\n",
    );
    assert_eq!(keys(&f.resolve("a").unwrap().plan).0, "CREDKEY");
    assert_eq!(
        f.resolve("b").unwrap().plan,
        Plan::Process {
            profile: "b".into(),
            command: vec!["helper".into(), "two words".into(), "x y".into()],
        }
    );
}

#[test]
fn a_role_profile_assumes_its_role_with_the_source_profiles_credentials() {
    let f = Files::new(
        "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = base\n\
         external_id = ext-1\nrole_session_name = me\nduration_seconds = 1800\nregion = ap-south-1\n\
         [profile base]\nrole_arn = arn:aws:iam::123456789012:role/ignored\n",
        "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = base-secret\n",
    );
    let r = f.resolve("ops").unwrap();
    let Plan::AssumeRole {
        profile,
        role,
        source,
    } = r.plan
    else {
        panic!("no role: {:?}", r.plan);
    };
    assert_eq!(profile, "ops");
    assert_eq!(role.arn, "arn:aws:iam::123456789012:role/ops");
    assert_eq!(role.session_name.as_deref(), Some("me"));
    assert_eq!(role.external_id.as_ref().map(Secret::expose), Some("ext-1"));
    assert_eq!(role.duration_seconds, Some(1800));
    // base has keys of its own: botocore uses them rather than base's role.
    assert_eq!(keys(&source).0, "BASEKEY");
    assert_eq!(r.region.as_deref(), Some("ap-south-1"));
}

#[test]
fn roles_chain_and_loops_are_refused() {
    let f = Files::new(
        "[profile top]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = mid\n\
         [profile mid]\nrole_arn = arn:aws:iam::1:role/mid\nsource_profile = leaf\n\
         [profile leaf]\ncredential_process = get-creds\n\
         [profile x]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = y\n\
         [profile y]\nrole_arn = arn:aws:iam::1:role/y\nsource_profile = x\n",
        "",
    );
    let Plan::AssumeRole { source, .. } = f.resolve("top").unwrap().plan else {
        panic!()
    };
    let Plan::AssumeRole { role, source, .. } = *source else {
        panic!()
    };
    assert_eq!(role.arn, "arn:aws:iam::1:role/mid");
    assert!(matches!(*source, Plan::Process { .. }));
    let err = f.resolve("x").unwrap_err().to_string();
    assert!(err.contains("loop: x -> y -> x"), "{err}");
}

#[test]
fn a_role_profile_may_name_itself_as_source_when_it_has_keys() {
    let f = Files::new(
        "[profile self]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = self\n\
         aws_access_key_id = SELFKEY\naws_secret_access_key = s\n",
        "",
    );
    let Plan::AssumeRole { source, .. } = f.resolve("self").unwrap().plan else {
        panic!()
    };
    assert_eq!(keys(&source).0, "SELFKEY");
}

#[test]
fn credential_source_environment_reads_the_variables() {
    let f = Files::new(
        "[profile env]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Environment\n\
         [profile imds]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Ec2InstanceMetadata\n",
        "",
    );
    let env = f.env(&[
        ("AWS_ACCESS_KEY_ID", "ENVKEY"),
        ("AWS_SECRET_ACCESS_KEY", "env-secret"),
    ]);
    let files = SharedFiles::load(&env).unwrap();
    let Plan::AssumeRole { source, .. } = files.resolve("env", &env).unwrap().plan else {
        panic!()
    };
    assert_eq!(keys(&source), ("ENVKEY", "env-secret", None));
    assert!(files.resolve("imds", &env).is_err());
}

#[test]
fn errors_name_file_and_line_and_never_a_secret() {
    let f = Files::new(
        "[profile half]\naws_access_key_id = HALFKEY\n\
         [profile mfa]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = half\nmfa_serial = arn:aws:iam::1:mfa/me\n\
         [profile sso]\nsso_session = corp\n",
        "[bad]\naws_secret_access_key = sup3r-secret\n",
    );
    let config = f.dir.path().join("config").display().to_string();
    let err = f.resolve("half").unwrap_err().to_string();
    assert!(err.starts_with(&format!("{config}:2: ")), "{err}");
    assert!(!err.contains("HALFKEY"), "{err}");
    let err = f.resolve("bad").unwrap_err().to_string();
    assert!(err.contains("credentials:2: "), "{err}");
    assert!(!err.contains("sup3r-secret"), "{err}");
    let err = f.resolve("mfa").unwrap_err().to_string();
    assert!(err.contains(":6: ") && err.contains("mfa_serial"), "{err}");
    let err = f.resolve("sso").unwrap_err().to_string();
    assert!(err.contains("export-credentials"), "{err}");
    let err = f.resolve("absent").unwrap_err().to_string();
    assert!(err.contains("no AWS profile \"absent\""), "{err}");
}

#[test]
fn default_paths_are_under_home_and_missing_files_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = HOMEKEY\naws_secret_access_key = s\n",
    )
    .unwrap();
    let home = dir.path().display().to_string();
    let env = Env::from_fn(move |k| (k == "HOME").then(|| home.clone()));
    let files = SharedFiles::load(&env).unwrap();
    assert_eq!(
        keys(&files.resolve("default", &env).unwrap().plan).0,
        "HOMEKEY"
    );
    assert_eq!(expand_home("~/x/y", "/h"), PathBuf::from("/h/x/y"));
}
