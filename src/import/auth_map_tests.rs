use super::*;
use crate::import::collection::Variable;

fn auth(json: serde_json::Value) -> Auth {
    serde_json::from_value(json).unwrap()
}

fn scope(vars: &[(&str, &str, &str)]) -> Scope {
    let vars: Vec<Variable> = vars
        .iter()
        .map(|(k, v, kind)| Variable {
            key: Some((*k).to_owned()),
            value: Some(serde_json::Value::String((*v).to_owned())),
            kind: Some((*kind).to_owned()),
            enabled: None,
            disabled: false,
        })
        .collect();
    Scope::layered(&[], &[], [&vars[..]])
}

fn plain(m: &Mapped, key: &str) -> Option<Plain> {
    m.fields
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, f)| match f {
            Field::Plain(p) => Some(p.clone()),
            _ => None,
        })
}

fn secret(m: &Mapped, key: &str) -> Option<(Option<String>, Option<String>)> {
    m.fields
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, f)| match f {
            Field::Secret(s) => Some((
                s.var.clone(),
                s.value.as_ref().map(|v| v.expose().to_owned()),
            )),
            _ => None,
        })
}

fn s(text: &str) -> Option<Plain> {
    Some(Plain::Str(text.to_owned()))
}

#[test]
fn v2_1_rows_and_v2_0_objects_give_the_same_table() {
    let rows = auth(serde_json::json!({"type": "basic", "basic": [
        {"key": "password", "value": "pw", "type": "string"},
        {"key": "username", "value": "me", "type": "string"}]}));
    let object = auth(serde_json::json!({"type": "basic", "basic": {
        "username": "me", "password": "pw", "saveHelperData": true, "showPassword": false}}));
    let (a, b) = (
        map(&rows, &Scope::default()).unwrap(),
        map(&object, &Scope::default()).unwrap(),
    );
    assert!(a.same_as(&b));
    assert_eq!(plain(&a, "username"), s("me"));
    assert_eq!(secret(&a, "password"), Some((None, Some("pw".to_owned()))));
    assert!(b.notes.is_empty(), "{:?}", b.notes);
}

#[test]
fn placements_are_renamed_to_signets_words() {
    let none = Scope::default();
    let apikey = map(&auth(serde_json::json!({"type": "apikey", "apikey": {"key": "k", "value": "v", "in": "query"}})), &none).unwrap();
    assert_eq!(plain(&apikey, "add_to"), s("query"));
    let oauth2 = map(&auth(serde_json::json!({"type": "oauth2", "oauth2": {"accessToken": "t", "addTokenTo": "queryParams"}})), &none).unwrap();
    assert_eq!(plain(&oauth2, "add_to"), s("query"));
    let jwt = map(&auth(serde_json::json!({"type": "jwt", "jwt": {"algorithm": "HS256", "addTokenTo": "queryParam"}})), &none).unwrap();
    assert_eq!(plain(&jwt, "add_token_to"), s("query_param"));
    let aws = map(&auth(serde_json::json!({"type": "awsv4", "awsv4": {"accessKey": "a", "secretKey": "b", "addAuthDataToQuery": "true"}})), &none).unwrap();
    assert_eq!(plain(&aws, "add_to"), s("query"));
    let odd = map(&auth(serde_json::json!({"type": "apikey", "apikey": {"key": "k", "value": "v", "in": "cookie"}})), &none).unwrap();
    assert_eq!(plain(&odd, "add_to"), None);
    assert!(
        odd.notes.iter().any(|n| n.contains("`in` = \"cookie\"")),
        "{:?}",
        odd.notes
    );
}

#[test]
fn booleans_arrive_as_json_or_strings_and_some_say_the_opposite() {
    let none = Scope::default();
    for flag in [serde_json::json!(true), serde_json::json!("true")] {
        let m = map(&auth(serde_json::json!({"type": "digest", "digest": {"username": "u", "password": "p", "disableRetryRequest": flag}})), &none).unwrap();
        assert_eq!(plain(&m, "retry"), Some(Plain::Bool(false)));
        let h = map(&auth(serde_json::json!({"type": "hawk", "hawk": {"authId": "i", "authKey": "k", "includePayloadHash": flag}})), &none).unwrap();
        assert_eq!(plain(&h, "include_payload_hash"), Some(Plain::Bool(true)));
    }
    let m = map(&auth(serde_json::json!({"type": "hawk", "hawk": {"authId": "i", "authKey": "k", "includePayloadHash": "yes"}})), &none).unwrap();
    assert_eq!(plain(&m, "include_payload_hash"), None);
    assert!(m.notes.iter().any(|n| n.contains("not a boolean")));
}

#[test]
fn oauth1_goes_to_the_query_or_body_unless_told_the_header() {
    let none = Scope::default();
    let absent = map(
        &auth(serde_json::json!({"type": "oauth1", "oauth1": {"consumerKey": "c"}})),
        &none,
    )
    .unwrap();
    assert_eq!(plain(&absent, "add_to"), s("query_or_body"));
    let header = map(&auth(serde_json::json!({"type": "oauth1", "oauth1": {"consumerKey": "c", "addParamsToHeader": true, "disableHeaderEncoding": false}})), &none).unwrap();
    assert_eq!(plain(&header, "add_to"), s("header"));
    assert_eq!(
        plain(&header, "encode_header_params"),
        Some(Plain::Bool(true))
    );
    assert_eq!(
        secret(&header, "consumer_key"),
        Some((None, Some("c".to_owned())))
    );
}

#[test]
fn oauth2_grants_are_renamed_and_a_held_token_gives_way_to_the_grant() {
    let none = Scope::default();
    for (postman, signet) in [
        ("password_credentials", "password"),
        ("authorization_code_with_pkce", "authorization_code_pkce"),
        ("client_credentials", "client_credentials"),
    ] {
        let m = map(
            &auth(serde_json::json!({"type": "oauth2", "oauth2": [
            {"key": "grant_type", "value": postman},
            {"key": "accessToken", "value": "old"},
            {"key": "redirect_uri", "value": "http://127.0.0.1:1/cb"},
            {"key": "tokenName", "value": "t"},
            {"key": "refreshRequestParams", "value": [
                {"key": "a", "value": "1", "enabled": true, "send_as": "request_url"},
                {"key": "b", "value": "2", "enabled": false, "send_as": "request_body"}]}]})),
            &none,
        )
        .unwrap();
        assert_eq!(plain(&m, "grant_type"), s(signet));
        assert_eq!(plain(&m, "callback_url"), s("http://127.0.0.1:1/cb"));
        assert!(secret(&m, "access_token").is_none());
        assert!(
            m.notes
                .iter()
                .any(|n| n.contains("access token Postman holds"))
        );
        let rows = m.fields.iter().find_map(|(k, f)| match f {
            Field::Params(p) if *k == "refresh_request" => Some(p.clone()),
            _ => None,
        });
        let rows = rows.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].key.as_str(), rows[0].send_in.as_deref()),
            ("a", Some("url"))
        );
    }
}

#[test]
fn credentials_keep_their_variable_and_secret_variables_stay_secret() {
    let vars = scope(&[("pw", "hunter2", "default"), ("user", "alice", "secret")]);
    let m = map(&auth(serde_json::json!({"type": "ntlm", "ntlm": {"username": "{{user}}", "password": "{{pw}}", "domain": "D{{pw}}"}})), &vars).unwrap();
    assert_eq!(
        secret(&m, "password"),
        Some((Some("pw".to_owned()), Some("hunter2".to_owned())))
    );
    // Marked secret in its environment: written as ${…} even in a non-secret key.
    assert_eq!(
        secret(&m, "username"),
        Some((Some("user".to_owned()), Some("alice".to_owned())))
    );
    assert_eq!(plain(&m, "domain"), s("Dhunter2"));
}

#[test]
fn what_an_export_cannot_give_is_reported() {
    let vars = scope(&[]);
    let m = map(
        &auth(serde_json::json!({"type": "hawk", "hawk": {
        "authId": "{{who}}", "authKey": "{{vault:hawk}}", "nonce": "{{$randomUUID}}",
        "ext": "x", "extraData": "a-{{missing}}"}})),
        &vars,
    )
    .unwrap();
    assert_eq!(secret(&m, "auth_id"), Some((Some("who".to_owned()), None)));
    assert_eq!(
        secret(&m, "auth_key"),
        Some((Some("vault:hawk".to_owned()), None))
    );
    assert!(m.fields.iter().all(|(k, _)| *k != "nonce" && *k != "ext"));
    let notes = m.notes.join("\n");
    for expected in [
        "{{who}}, which no environment defines",
        "vault secret {{vault:hawk}}",
        "dynamic value {{$randomUUID}}",
        "`ext` has no signet setting",
        "uses {{missing}}",
    ] {
        assert!(notes.contains(expected), "{expected:?} not in {notes}");
    }
}

#[test]
fn only_signets_types_are_mapped() {
    assert!(
        map(
            &auth(serde_json::json!({"type": "kerberos"})),
            &Scope::default()
        )
        .is_none()
    );
    let names: Vec<&str> = supported_types().collect();
    assert_eq!(names.len(), 12, "Postman's 13 types less noauth");
    for name in names {
        assert!(crate::auth::TYPE_NAMES.contains(&name), "{name}");
        assert!(map(&auth(serde_json::json!({"type": name})), &Scope::default()).is_some());
    }
}
