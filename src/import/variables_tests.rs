use super::*;

fn var(key: &str, value: &str) -> Variable {
    Variable {
        key: Some(key.to_owned()),
        value: Some(serde_json::Value::String(value.to_owned())),
        kind: None,
        enabled: None,
        disabled: false,
    }
}

#[test]
fn environment_wins_over_collection_which_wins_over_globals() {
    let globals = [var("a", "global"), var("b", "global"), var("c", "global")];
    let collection = [var("a", "collection"), var("b", "collection")];
    let first = [var("a", "first env")];
    let second = [var("a", "second env")];
    let scope = Scope::layered(&globals, &collection, [&first[..], &second[..]]);
    assert_eq!(
        scope.resolve("{{a}} {{b}} {{c}}").text,
        "second env collection global"
    );
}

#[test]
fn unticked_values_are_skipped_in_environments_and_collections() {
    let globals = [var("a", "global")];
    let mut unticked_collection = var("a", "collection");
    unticked_collection.disabled = true;
    let mut unticked_env = var("a", "env");
    unticked_env.enabled = Some(false);
    let scope = Scope::layered(&globals, &[unticked_collection], [&[unticked_env][..]]);
    assert_eq!(scope.resolve("{{a}}").text, "global");
}

#[test]
fn nested_references_are_resolved_again() {
    let env = [
        var("url", "{{scheme}}://{{host}}/v1"),
        var("scheme", "https"),
        var("host", "api.{{domain}}"),
        var("domain", "example.com"),
        var("env", "prod"),
        var("key_prod", "k-123"),
    ];
    let scope = Scope::layered(&[], &[], [&env[..]]);
    assert_eq!(
        scope.resolve("{{url}}/x").text,
        "https://api.example.com/v1/x"
    );
    // The inner reference first, as Postman's pattern finds it.
    assert_eq!(scope.resolve("{{key_{{env}}}}").text, "k-123");
}

#[test]
fn an_unknown_name_stays_as_written_and_is_listed() {
    let scope = Scope::layered(&[], &[var("a", "1")], []);
    let r = scope.resolve("{{a}}/{{missing}}");
    assert_eq!(r.text, "1/{{missing}}");
    assert_eq!(r.unresolved.iter().collect::<Vec<_>>(), ["missing"]);
    assert!(!r.is_complete());
}

#[test]
fn dynamic_values_and_vault_secrets_are_never_filled() {
    let scope = Scope::layered(&[], &[var("$guid", "fixed"), var("vault:x", "leak")], []);
    let r = scope.resolve("{{$guid}} {{vault:x}}");
    assert_eq!(r.text, "{{$guid}} {{vault:x}}");
    assert!(r.dynamic.contains("$guid") && r.vault.contains("vault:x"));
}

#[test]
fn a_reference_to_itself_ends_after_the_pass_limit() {
    let scope = Scope::layered(&[], &[var("a", "<{{a}}>")], []);
    let r = scope.resolve("{{a}}");
    assert_eq!(
        r.text,
        format!("{}{{{{a}}}}{}", "<".repeat(19), ">".repeat(19))
    );
}

#[test]
fn whole_references_secret_marks_and_other_value_types() {
    let mut secret = var("token", "t0k");
    secret.kind = Some("secret".to_owned());
    let mut number = var("port", "");
    number.value = Some(serde_json::json!(8443));
    let scope = Scope::layered(&[], &[number], [&[secret][..]]);
    let r = scope.resolve("{{token}}");
    assert_eq!((r.whole.as_deref(), r.secret), (Some("token"), true));
    let r = scope.resolve("Bearer {{token}}");
    assert_eq!((r.whole, r.secret), (None, true));
    let r = scope.resolve("host:{{port}}");
    assert_eq!((r.text.as_str(), r.secret), ("host:8443", false));
    // Braces around a reference stay; the reference inside them is filled.
    assert_eq!(scope.resolve("{{{port}}}").text, "{8443}");
    assert_eq!(scope.resolve("{{a}b}}").text, "{{a}b}}");
}
