//! `signet sign -v` prints what each scheme signed, as the published vectors give it, and
//! `signet sign` without `--show-secrets` prints no credential.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{header, signet, stderr, stdout, vectors};

/// The request line's target and the headers of an aws-c-auth `request.txt` without a body.
fn aws_request(dir: &Path) -> (String, String, Vec<(String, String)>) {
    let text = std::fs::read_to_string(dir.join("request.txt")).unwrap();
    let mut lines = text.lines();
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let target = request_line.next().unwrap().to_owned();
    let headers = lines
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (method, target, headers)
}

#[test]
fn verbose_sigv4_prints_the_suites_canonical_request_and_string_to_sign() {
    let suite = vectors().join("aws-sigv4/aws-c-auth/v4");
    let cases = [
        "get-vanilla",
        "get-vanilla-query-order-key-case",
        "get-vanilla-query-unreserved",
        "get-header-value-trim",
        "get-slash-dot-slash-normalized",
        "post-header-key-sort",
        "post-vanilla-query",
        "get-vanilla-with-session-token",
    ];
    let dir = tempfile::tempdir().unwrap();
    for case in cases {
        let case_dir = suite.join(case);
        let context: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case_dir.join("context.json")).unwrap())
                .unwrap();
        let (method, target, headers) = aws_request(&case_dir);
        let host = &headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .unwrap()
            .1;
        for mode in ["header", "query"] {
            let creds = &context["credentials"];
            let token = creds["token"]
                .as_str()
                .map(|t| format!(", session_token = \"{t}\""))
                .unwrap_or_default();
            let config = format!(
                "[[host]]\nmatch = [\"{host}\"]\nauth = {{ type = \"awsv4\", access_key = \"{}\", secret_key = \"{}\", region = \"us-east-1\", service = \"service\", add_to = \"{mode}\", expires = 3600{token} }}\n",
                creds["access_key_id"].as_str().unwrap(),
                creds["secret_access_key"].as_str().unwrap(),
            );
            let url = format!("https://{host}{target}");
            let mut args = vec!["sign", "-v", "--show-secrets", "-X", &method, &url];
            args.extend(["--at", context["timestamp"].as_str().unwrap()]);
            let extra: Vec<String> = headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            for h in &extra {
                args.extend(["-H", h]);
            }
            let out = signet(dir.path(), &config, &args);
            assert!(out.status.success(), "{case} {mode}: {}", stderr(&out));
            let read = |name: &str| {
                std::fs::read_to_string(case_dir.join(format!("{mode}-{name}.txt"))).unwrap()
            };
            let want = format!(
                "\n--- canonical request ---\n{}\n\n--- string to sign ---\n{}\n",
                read("canonical-request"),
                read("string-to-sign")
            );
            assert!(
                stdout(&out).ends_with(&want),
                "{case} {mode}:\n{}\nwanted:\n{want}",
                stdout(&out)
            );
        }
    }
}

#[test]
fn verbose_sigv4_hides_the_session_token_without_show_secrets() {
    let case_dir = vectors().join("aws-sigv4/aws-c-auth/v4/get-vanilla-with-session-token");
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir.join("context.json")).unwrap())
            .unwrap();
    let token = context["credentials"]["token"].as_str().unwrap();
    let secret = context["credentials"]["secret_access_key"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[host]]\nmatch = [\"example.amazonaws.com\"]\nauth = {{ type = \"awsv4\", access_key = \"AKIDEXAMPLE\", secret_key = \"{secret}\", region = \"us-east-1\", service = \"service\", session_token = \"{token}\" }}\n"
    );
    let out = signet(
        dir.path(),
        &config,
        &[
            "sign",
            "-v",
            "https://example.amazonaws.com/",
            "--at",
            "2015-08-30T12:36:00Z",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(token) && !text.contains(secret), "{text}");
    assert!(text.contains("\nx-amz-security-token:***\n"), "{text}");
    assert_eq!(
        header(&text, "x-amz-security-token").as_deref(),
        Some("***")
    );
    assert_eq!(
        header(&text, "authorization").as_deref(),
        Some("AWS4-HMAC-SHA256 ***")
    );
    assert_eq!(
        header(&text, "x-amz-date").as_deref(),
        Some("20150830T123600Z")
    );
}

#[test]
fn verbose_oauth1_prints_the_rfc_5849_base_string() {
    let dir = tempfile::tempdir().unwrap();
    // RFC 5849 section 1.2, the protected resource request.
    let config = "[[host]]\nmatch = [\"http://photos.example.net\"]\nauth = { type = \"oauth1\", consumer_key = \"dpf43f3p2l4k3l03\", consumer_secret = \"kd94hf93k423kf44\", token = \"nnch734d00sl2jdk\", token_secret = \"pfkkdhi9sl3r4s00\", timestamp = \"137131202\", nonce = \"chapoH\", version = \"\", realm = \"Photos\" }\n";
    let out = signet(
        dir.path(),
        config,
        &[
            "sign",
            "-v",
            "http://photos.example.net/photos?file=vacation.jpg&size=original",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.ends_with("\n--- signature base string ---\nGET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal\n"),
        "{text}"
    );
    assert_eq!(header(&text, "authorization").as_deref(), Some("OAuth ***"));
}

#[test]
fn verbose_hawk_prints_the_normalized_string_of_the_readme_example() {
    let dir = tempfile::tempdir().unwrap();
    // Hawk's README request: id dh37fgj492je, ts 1353832234, nonce j4h3g2.
    let config = "[[host]]\nmatch = [\"http://example.com:8000\"]\nauth = { type = \"hawk\", auth_id = \"dh37fgj492je\", auth_key = \"werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn\", algorithm = \"sha256\", timestamp = 1353832234, ext = \"some-app-ext-data\" }\n";
    let out = signet(
        dir.path(),
        config,
        &[
            "sign",
            "-v",
            "http://example.com:8000/resource/1?b=1&a=2",
            "--nonce",
            "j4h3g2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.ends_with("\n--- normalized string ---\nhawk.1.header\n1353832234\nj4h3g2\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n\nsome-app-ext-data\n\n"),
        "{text}"
    );
    assert!(!text.contains("werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"));
}

#[test]
fn verbose_edgegrid_prints_the_data_to_sign_with_its_tokens_hidden() {
    // Akamai's testdata.json and its "simple GET" case (expectedDataToSign), followed by the
    // authorization header up to its signature, as EdgeGrid signs it.
    let host = "akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net";
    let config = format!(
        "[[host]]\nmatch = [\"{host}\"]\nauth = {{ type = \"edgegrid\", client_token = \"akab-client-token-xxx-xxxxxxxxxxxxxxxx\", access_token = \"akab-access-token-xxx-xxxxxxxxxxxxxxxx\", client_secret = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\", timestamp = \"20140321T19:34:21+0000\" }}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://{host}/");
    let nonce = "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    let data = format!("GET\thttps\t{host}\t/\t\t\t");
    let shown = signet(
        dir.path(),
        &config,
        &["sign", "-v", "--show-secrets", &url, "--nonce", nonce],
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(
        stdout(&shown).ends_with(&format!("\n--- data to sign ---\n{data}EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx;access_token=akab-access-token-xxx-xxxxxxxxxxxxxxxx;timestamp=20140321T19:34:21+0000;nonce={nonce};\n")),
        "{}",
        stdout(&shown)
    );
    let hidden = signet(dir.path(), &config, &["sign", "-v", &url, "--nonce", nonce]);
    assert!(
        stdout(&hidden).ends_with(&format!("\n--- data to sign ---\n{data}EG1-HMAC-SHA256 client_token=***;access_token=***;timestamp=20140321T19:34:21+0000;nonce={nonce};\n")),
        "{}",
        stdout(&hidden)
    );
    assert!(!stdout(&hidden).contains("akab-"), "{}", stdout(&hidden));
}

#[test]
fn sign_redacts_what_it_added_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[[host]]\nmatch = [\"api.test\"]\nauth = { type = \"bearer\", token = \"tok-secret\" }\n\n[[host]]\nmatch = [\"q.test\"]\nauth = { type = \"apikey\", key = \"api_key\", value = \"q-secret\", add_to = \"query\" }\n\n[[host]]\nmatch = [\"h.test\"]\nauth = { type = \"apikey\", key = \"X-Api-Key\", value = \"h-secret\" }\n";
    let out = signet(
        dir.path(),
        config,
        &["sign", "https://api.test/x", "-H", "X-Mine: kept"],
    );
    let text = stdout(&out);
    assert_eq!(
        header(&text, "authorization").as_deref(),
        Some("Bearer ***")
    );
    assert_eq!(header(&text, "x-mine").as_deref(), Some("kept"));
    assert!(stderr(&out).contains("--show-secrets"), "{}", stderr(&out));
    let out = signet(dir.path(), config, &["sign", "https://q.test/x?a=1"]);
    assert!(
        stdout(&out).starts_with("GET https://q.test/x?a=1&api_key=*** HTTP/1.1\n"),
        "{}",
        stdout(&out)
    );
    let out = signet(dir.path(), config, &["sign", "https://h.test/"]);
    assert_eq!(header(&stdout(&out), "x-api-key").as_deref(), Some("***"));
    let out = signet(
        dir.path(),
        config,
        &["sign", "--show-secrets", "https://q.test/x?a=1"],
    );
    assert!(
        stdout(&out).starts_with("GET https://q.test/x?a=1&api_key=q-secret HTTP/1.1\n"),
        "{}",
        stdout(&out)
    );
    let out = signet(dir.path(), config, &["sign", "-v", "https://api.test/x"]);
    assert!(
        stdout(&out).ends_with("\n--- bearer: no string is signed ---\n"),
        "{}",
        stdout(&out)
    );
}
