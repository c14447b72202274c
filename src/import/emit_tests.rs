use super::*;
use crate::import::auth_map::{ExtraParam, Mapped};
use crate::secret::Secret;

#[test]
fn profile_names_are_safe_toml_keys() {
    assert_eq!(profile_name("Team API"), "team-api");
    assert_eq!(profile_name("  OAuth 2.0 / PKCE!  "), "oauth-2-0-pkce");
    assert_eq!(profile_name("snake_case"), "snake_case");
    assert_eq!(profile_name("None"), "none-auth");
    assert_eq!(profile_name("→"), "auth");
}

#[test]
fn env_names_are_upper_snake_case() {
    assert_eq!(env_name(&["apiToken"]), "API_TOKEN");
    assert_eq!(
        env_name(&["team-api", "client_secret"]),
        "TEAM_API_CLIENT_SECRET"
    );
    assert_eq!(env_name(&["AWS secret-key"]), "AWS_SECRET_KEY");
    assert_eq!(env_name(&["oauth1ConsumerKey"]), "OAUTH1_CONSUMER_KEY");
    assert_eq!(env_name(&["2fa"]), "_2FA");
}

fn secret(var: Option<&str>, value: Option<&str>) -> Field {
    Field::Secret(SecretValue {
        var: var.map(str::to_owned),
        value: value.map(Secret::new),
    })
}

fn profile(name: &str, kind: &'static str, fields: Vec<(&'static str, Field)>) -> Profile {
    Profile {
        name: name.to_owned(),
        origin: format!("folder {name:?}"),
        mapped: Mapped {
            kind,
            fields,
            notes: Vec::new(),
        },
    }
}

#[test]
fn one_name_holds_one_value() {
    let profiles = [
        profile(
            "a",
            "basic",
            vec![("password", secret(Some("pw"), Some("1")))],
        ),
        profile(
            "b",
            "basic",
            vec![("password", secret(Some("pw"), Some("1")))],
        ),
        profile("c", "bearer", vec![("token", secret(None, Some("2")))]),
        // The same name as c's token, from a variable, with another value.
        profile(
            "d",
            "bearer",
            vec![("token", secret(Some("C_TOKEN"), Some("3")))],
        ),
        profile(
            "e",
            "bearer",
            vec![("token", secret(Some("vault:deploy"), None))],
        ),
    ];
    let (names, vars) = name_secrets(&profiles);
    let names: Vec<&str> = names.iter().map(|p| p[0][0].as_str()).collect();
    assert_eq!(names, ["PW", "PW", "C_TOKEN", "C_TOKEN_2", "DEPLOY"]);
    let values: Vec<Option<&str>> = vars
        .iter()
        .map(|v| v.value.as_ref().map(Secret::expose))
        .collect();
    assert_eq!(values, [Some("1"), Some("2"), Some("3"), None]);
}

#[test]
fn the_file_writes_values_as_read_and_secrets_as_references() {
    let profiles = [profile(
        "api",
        "oauth2",
        vec![
            (
                "client_id",
                Field::Plain(Plain::Str("id ${x} \"q\"".to_owned())),
            ),
            ("client_secret", secret(Some("clientSecret"), Some("s"))),
            ("auto_refresh", Field::Plain(Plain::Bool(true))),
            ("refresh_skew", Field::Plain(Plain::Int(30))),
            (
                "token_request",
                Field::Params(vec![ExtraParam {
                    key: "audience".to_owned(),
                    value: SecretValue {
                        var: None,
                        value: Some(Secret::new("aud")),
                    },
                    send_in: Some("body".to_owned()),
                }]),
            ),
        ],
    )];
    let hosts = [HostBlock {
        pattern: "a.example".to_owned(),
        auth: Some(0),
        requests: vec!["R\n1 (GET /)".to_owned()],
        routes: vec![RouteBlock {
            path: "/open".to_owned(),
            methods: Some(vec!["GET".to_owned()]),
            auth: None,
            requests: vec!["O (GET /open)".to_owned()],
        }],
    }];
    let (names, _) = name_secrets(&profiles);
    let text = toml_text("C", &profiles, &names, &hosts);
    let expected = r#"# Imported from the Postman collection "C" by `signet import postman`.
# Credentials are read from the environment variables named in ${…}.

# Postman: folder "api"
[auth.api]
type = "oauth2"
client_id = 'id $${x} "q"'
client_secret = "${CLIENT_SECRET}"
auto_refresh = true
refresh_skew = 30
token_request = [{ key = "audience", value = "${API_TOKEN_REQUEST_AUDIENCE}", send_in = "body" }]

# Postman: R 1 (GET /)
[[host]]
match = ["a.example"]
auth = "api"

  # Postman: O (GET /open)
  [[host.route]]
  path = "/open"
  methods = ["GET"]
  auth = "none"
"#;
    assert_eq!(text, expected);
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        parsed["auth"]["api"]["client_id"].as_str(),
        Some("id $${x} \"q\"")
    );
}

#[test]
fn env_file_lines_are_shell_words() {
    let var = |name: &str, value: Option<&str>| EnvVar {
        name: name.to_owned(),
        value: value.map(Secret::new),
        from: None,
    };
    let text = env_file(&[
        var("PLAIN", Some("a-b_c.d/e:f@g%h+i=j,k")),
        var("SPACE", Some("a b")),
        var("QUOTE", Some("it's $HOME")),
        var("PEM", Some("-----BEGIN-----\nAA==\n-----END-----\n")),
        var("EMPTY", Some("")),
        var("UNKNOWN", None),
    ]);
    assert_eq!(
        text,
        "PLAIN=a-b_c.d/e:f@g%h+i=j,k\nSPACE='a b'\nQUOTE='it'\\''s $HOME'\nPEM='-----BEGIN-----\nAA==\n-----END-----\n'\nEMPTY=\n"
    );
}
