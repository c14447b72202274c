use super::*;

fn placed(name: &str, method: &str, url: &str, auth: AuthRef) -> Placed {
    let u = url::Url::parse(url).unwrap();
    Placed {
        name: name.to_owned(),
        method: method.to_owned(),
        target: Target {
            scheme: u.scheme().to_owned(),
            host: u.host_str().unwrap().to_owned(),
            port: u.port_or_known_default().unwrap(),
            path: u.path().to_owned(),
        },
        auth,
    }
}

fn route(
    path: &str,
    methods: Option<&[&str]>,
    auth: AuthRef,
) -> (String, Option<Vec<String>>, AuthRef) {
    (
        path.to_owned(),
        methods.map(|m| m.iter().map(|s| (*s).to_owned()).collect()),
        auth,
    )
}

fn routes(block: &HostBlock) -> Vec<(String, Option<Vec<String>>, AuthRef)> {
    block
        .routes
        .iter()
        .map(|r| (r.path.clone(), r.methods.clone(), r.auth))
        .collect()
}

#[test]
fn one_pattern_per_scheme_host_and_port() {
    let t = |url: &str| placed("r", "GET", url, None).target;
    assert_eq!(pattern(&t("https://a.example/")), "a.example");
    assert_eq!(pattern(&t("http://a.example/")), "http://a.example");
    assert_eq!(
        pattern(&t("https://a.example:8443/")),
        "https://a.example:8443"
    );
    assert_eq!(
        pattern(&t("http://127.0.0.1:8080/")),
        "http://127.0.0.1:8080"
    );
    assert_eq!(pattern(&t("http://[::1]:9/")), "http://[::1]:9");
}

#[test]
fn path_variables_match_one_segment() {
    assert_eq!(path_glob("/v1/users/:id/posts"), "/v1/users/*/posts");
    assert_eq!(path_glob("/hooks/%7B%7Bid%7D%7D"), "/hooks/*");
    assert_eq!(path_glob("/"), "/");
}

#[test]
fn the_host_takes_the_auth_most_requests_use_and_routes_the_rest() {
    let reqs = [
        placed("list", "GET", "https://a.example/users", Some(0)),
        placed("get", "GET", "https://a.example/users/:id", Some(0)),
        placed("delete", "DELETE", "https://a.example/users/:id", Some(1)),
        placed("health", "GET", "https://a.example/health", None),
        placed("health head", "HEAD", "https://a.example/health", None),
        placed("other host", "GET", "http://b.example:8080/", Some(1)),
    ];
    let mut reports = Vec::new();
    let hosts = hosts(&reqs, &mut reports);
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(hosts.len(), 2);
    assert_eq!(
        (hosts[0].pattern.as_str(), hosts[0].auth),
        ("a.example", Some(0))
    );
    assert_eq!(
        routes(&hosts[0]),
        [
            route("/health", None, None),
            route("/users/*", Some(&["DELETE"]), Some(1))
        ]
    );
    assert_eq!(
        hosts[0].requests,
        ["list (GET /users)", "get (GET /users/:id)"]
    );
    assert_eq!(
        (hosts[1].pattern.as_str(), hosts[1].auth),
        ("http://b.example:8080", Some(1))
    );
    assert!(hosts[1].routes.is_empty());
}

#[test]
fn a_tie_goes_to_the_auth_that_comes_first() {
    let reqs = [
        placed("a", "GET", "https://a.example/a", Some(3)),
        placed("b", "GET", "https://a.example/b", Some(2)),
    ];
    let hosts = hosts(&reqs, &mut Vec::new());
    assert_eq!(hosts[0].auth, Some(3));
    assert_eq!(routes(&hosts[0]), [route("/b", None, Some(2))]);
}

#[test]
fn conflicting_auth_for_one_path_and_method_is_reported_and_the_first_kept() {
    let reqs = [
        placed("first", "GET", "https://a.example/x", Some(0)),
        placed("second", "GET", "https://a.example/x", Some(1)),
        placed("third", "GET", "https://a.example/y", Some(0)),
    ];
    let mut reports = Vec::new();
    let hosts = hosts(&reqs, &mut reports);
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0]
            .starts_with("request \"second\": conflicting auth for GET /x on a.example: \"first\""),
        "{}",
        reports[0]
    );
    assert_eq!(hosts[0].auth, Some(0));
    assert!(hosts[0].routes.is_empty());
}

#[test]
fn a_literal_path_under_a_routes_glob_keeps_the_hosts_auth() {
    let reqs = [
        placed("me", "GET", "https://a.example/users/me", Some(0)),
        placed("list", "GET", "https://a.example/users", Some(0)),
        placed("get", "GET", "https://a.example/users/:id", Some(1)),
    ];
    let hosts = hosts(&reqs, &mut Vec::new());
    assert_eq!(hosts[0].auth, Some(0));
    assert_eq!(
        routes(&hosts[0]),
        [
            route("/users/me", Some(&["GET"]), Some(0)),
            route("/users/*", None, Some(1))
        ]
    );
    assert_eq!(hosts[0].requests, ["list (GET /users)"]);
}
