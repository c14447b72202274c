use super::*;
use crate::import::collection::parse_collection;

const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

fn collection(body: serde_json::Value) -> Collection {
    let mut json = body;
    json["info"] = serde_json::json!({"name": "C", "schema": SCHEMA});
    parse_collection("c.json", &json.to_string()).unwrap()
}

fn basic(user: &str) -> serde_json::Value {
    serde_json::json!({"type": "basic", "basic": [{"key": "username", "value": user}]})
}

fn request(name: &str, auth: Option<serde_json::Value>) -> serde_json::Value {
    let mut req = serde_json::json!({"method": "get", "url": "https://a.example/x"});
    if let Some(auth) = auth {
        req["auth"] = auth;
    }
    serde_json::json!({"name": name, "request": req})
}

/// (name, who set the auth, its type) per request.
fn auths(c: &Collection) -> Vec<(String, String)> {
    entries(c, &Scope::default())
        .into_iter()
        .map(|e| {
            let auth = match e.auth {
                Effective::None => "none".to_owned(),
                Effective::Set { auth, name, .. } => format!("{} from {name}", auth.kind),
            };
            (e.name, auth)
        })
        .collect()
}

#[test]
fn auth_comes_from_the_request_else_the_nearest_folder_else_the_collection() {
    let c = collection(serde_json::json!({
        "auth": basic("c"),
        "item": [
            request("root", None),
            {"name": "F", "auth": basic("f"), "item": [
                request("in f", None),
                request("own", Some(basic("r"))),
                {"name": "G", "item": [request("in g", Some(serde_json::Value::Null))]},
                {"name": "Open", "auth": {"type": "noauth"}, "item": [
                    request("open", None),
                    request("stray inherit", Some(serde_json::json!({"type": "inherit"}))),
                    request("own in open", Some(basic("o"))),
                ]},
            ]},
        ]
    }));
    assert_eq!(
        auths(&c),
        [
            ("root", "basic from C"),
            ("F / in f", "basic from F"),
            ("F / own", "basic from own"),
            ("F / G / in g", "basic from F"),
            ("F / Open / open", "none"),
            ("F / Open / stray inherit", "none"),
            ("F / Open / own in open", "basic from own in open"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(
        entries(&c, &Scope::default())
            .iter()
            .all(|e| e.method == "GET")
    );
}

#[test]
fn without_any_auth_requests_go_untouched() {
    let c = collection(serde_json::json!({"item": [request("r", None)]}));
    assert_eq!(auths(&c), [("r".to_owned(), "none".to_owned())]);
}

fn written(url: serde_json::Value) -> String {
    let c = collection(serde_json::json!({"item": [{"name": "r", "request": {"url": url}}]}));
    entries(&c, &Scope::default()).remove(0).written
}

#[test]
fn a_url_objects_parts_win_over_its_raw() {
    let url = serde_json::json!({
        "raw": "https://stale.example/old?q=1",
        "protocol": "https",
        "host": ["api", "example", "com"],
        "port": "8443",
        "path": ["v1", {"type": "string", "value": "users"}, ":id"],
        "query": [{"key": "a", "value": "1"}, {"key": "off", "value": "x", "disabled": true}, {"key": "flag", "value": null}]
    });
    assert_eq!(
        written(url),
        "https://api.example.com:8443/v1/users/:id?a=1&flag"
    );
    assert_eq!(
        written(serde_json::json!({"raw": "{{base}}/x", "host": "{{base}}", "path": "/x"})),
        "{{base}}/x"
    );
    assert_eq!(
        written(serde_json::json!({"raw": " https://a.example/r "})),
        "https://a.example/r"
    );
    assert_eq!(
        written(serde_json::json!("https://a.example/s")),
        "https://a.example/s"
    );
}

fn target_of(text: &str) -> Result<Target, UrlProblem> {
    target(&Resolved {
        text: text.to_owned(),
        ..Resolved::default()
    })
}

#[test]
fn urls_are_parsed_after_substitution_with_a_real_parser() {
    let t = target_of("https://API.Example.com/base/v1/users?x=1").unwrap();
    assert_eq!(
        (t.scheme.as_str(), t.host.as_str(), t.port, t.path.as_str()),
        ("https", "api.example.com", 443, "/base/v1/users")
    );
    // Postman sends a URL without a scheme over http.
    let t = target_of("api.example.com:8080/x").unwrap();
    assert_eq!((t.scheme.as_str(), t.port), ("http", 8080));
    let t = target_of("http://[::1]:9000/").unwrap();
    assert_eq!((t.host.as_str(), t.port), ("[::1]", 9000));
    let t = target_of("https://bücher.example/").unwrap();
    assert_eq!(t.host, "xn--bcher-kva.example");
}

#[test]
fn a_host_that_still_holds_a_variable_or_no_http_url_gives_no_destination() {
    assert_eq!(
        target_of("{{base}}/users"),
        Err(UrlProblem::HostVariables(vec!["base".to_owned()]))
    );
    assert_eq!(
        target_of("https://{{tenant}}.example.com/{{path}}"),
        Err(UrlProblem::HostVariables(vec!["tenant".to_owned()]))
    );
    assert!(target_of("https://a.example/{{path}}").is_ok());
    assert!(matches!(
        target_of("ftp://a.example/"),
        Err(UrlProblem::Invalid(_))
    ));
    assert!(matches!(target_of(""), Err(UrlProblem::Invalid(_))));
}
