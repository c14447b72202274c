//! Jar tests. Expected headers come from the examples in RFC 6265 (sections 3.1, 5.1.4, 5.3,
//! 5.4) and RFC 6265bis, not from the code under test.

use super::*;
use crate::config::Config;
use http::Method;
use jar::is_public_suffix;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn header(jar: &Jar, to: &str) -> String {
    header_at(jar, to, Site::Same, OffsetDateTime::now_utc())
}

fn header_at(jar: &Jar, to: &str, site: Site, now: OffsetDateTime) -> String {
    jar.cookies_for(&url(to), site, now)
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn rfc6265_section_3_1_examples() {
    let jar = Jar::new();
    let from = url("https://www.example.com/");
    assert_eq!(
        jar.capture(&from, "SID=31d4d96e407aad42; Path=/; Secure; HttpOnly"),
        Outcome::Stored
    );
    assert_eq!(
        jar.capture(&from, "lang=en-US; Path=/; Domain=example.com"),
        Outcome::Stored
    );
    assert_eq!(
        header(&jar, "https://www.example.com/"),
        "SID=31d4d96e407aad42; lang=en-US"
    );
    // The domain cookie reaches the parent and siblings; the host-only SID does not.
    assert_eq!(header(&jar, "https://example.com/"), "lang=en-US");
    assert_eq!(header(&jar, "https://docs.example.com/"), "lang=en-US");
    // Secure: never over plain HTTP.
    assert_eq!(header(&jar, "http://www.example.com/"), "lang=en-US");
    // Removal with an Expires date in the past.
    assert_eq!(
        jar.capture(
            &from,
            "lang=; Path=/; Domain=example.com; Expires=Sun, 06 Nov 1994 08:49:37 GMT"
        ),
        Outcome::Deleted
    );
    assert_eq!(
        header(&jar, "https://www.example.com/"),
        "SID=31d4d96e407aad42"
    );
}

#[test]
fn max_age_zero_deletes() {
    let jar = Jar::new();
    let from = url("https://a.example/");
    jar.capture(&from, "k=v; Path=/");
    assert_eq!(
        jar.capture(&from, "k=gone; Path=/; Max-Age=0"),
        Outcome::Deleted
    );
    assert_eq!(header(&jar, "https://a.example/"), "");
    assert!(jar.entries(OffsetDateTime::now_utc()).is_empty());
}

#[test]
fn expired_cookies_are_not_sent() {
    let jar = Jar::new();
    jar.capture(&url("https://a.example/"), "k=v; Max-Age=60");
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        header_at(&jar, "https://a.example/", Site::Same, now),
        "k=v"
    );
    let later = now + time::Duration::seconds(61);
    assert_eq!(header_at(&jar, "https://a.example/", Site::Same, later), "");
}

#[test]
fn host_only_cookie_stays_on_its_host() {
    let jar = Jar::new();
    jar.capture(&url("https://example.com/"), "h=1");
    assert_eq!(header(&jar, "https://example.com/"), "h=1");
    assert_eq!(header(&jar, "https://www.example.com/"), "");
    assert_eq!(header(&jar, "https://evilexample.com/"), "");
}

#[test]
fn foreign_domain_attribute_is_refused() {
    let jar = Jar::new();
    let from = url("https://www.example.com/");
    assert!(matches!(
        jar.capture(&from, "x=1; Domain=other.com"),
        Outcome::Refused(_)
    ));
    assert!(matches!(
        jar.capture(&from, "x=1; Domain=ww.example.com"),
        Outcome::Refused(_)
    ));
    assert!(jar.is_empty());
}

#[test]
fn public_suffix_domains_are_refused() {
    let jar = Jar::new();
    for (from, set) in [
        ("https://www.example.com/", "x=1; Domain=com"),
        ("https://www.example.com/", "x=1; Domain=.com"),
        ("https://www.example.co.uk/", "x=1; Domain=co.uk"),
        ("https://me.github.io/", "x=1; Domain=github.io"),
    ] {
        match jar.capture(&url(from), set) {
            Outcome::Refused(reason) => assert!(reason.contains("public suffix"), "{reason}"),
            other => panic!("{set} from {from} was {other:?}"),
        }
    }
    assert!(jar.is_empty());
    assert!(is_public_suffix("co.uk") && is_public_suffix("com"));
    assert!(!is_public_suffix("example.co.uk") && !is_public_suffix("localhost"));
}

#[test]
fn public_suffix_equal_to_the_host_becomes_host_only() {
    // RFC 6265 5.3 step 5: the domain-attribute is identical to the request-host.
    let jar = Jar::new();
    assert_eq!(
        jar.capture(&url("https://co.uk/"), "x=1; Domain=co.uk"),
        Outcome::Stored
    );
    assert_eq!(header(&jar, "https://co.uk/"), "x=1");
    assert_eq!(header(&jar, "https://example.co.uk/"), "");
}

#[test]
fn path_match_follows_rfc6265_5_1_4() {
    let jar = Jar::new();
    jar.capture(&url("https://a.example/"), "d=1; Path=/docs");
    assert_eq!(header(&jar, "https://a.example/docs"), "d=1");
    assert_eq!(header(&jar, "https://a.example/docs/"), "d=1");
    assert_eq!(header(&jar, "https://a.example/docs/Web/HTTP"), "d=1");
    assert_eq!(header(&jar, "https://a.example/"), "");
    assert_eq!(header(&jar, "https://a.example/docsets"), "");
    assert_eq!(header(&jar, "https://a.example/fr/docs"), "");
}

#[test]
fn default_path_is_the_request_directory() {
    let jar = Jar::new();
    jar.capture(&url("https://a.example/a/b/c"), "p=1");
    let entries = jar.entries(OffsetDateTime::now_utc());
    assert_eq!(entries[0].path, "/a/b");
    assert_eq!(header(&jar, "https://a.example/a/b/x"), "p=1");
    assert_eq!(header(&jar, "https://a.example/a/"), "");
}

#[test]
fn order_is_longer_path_first_then_older_first() {
    let jar = Jar::new();
    let from = url("https://a.example/x/y/z");
    jar.capture(&from, "first=1; Path=/");
    jar.capture(&from, "deep=2; Path=/x/y");
    jar.capture(&from, "second=3; Path=/");
    jar.capture(&from, "mid=4; Path=/x");
    // Replacing a cookie keeps its creation time (RFC 6265 5.3 step 11.3).
    jar.capture(&from, "first=5; Path=/");
    assert_eq!(
        header(&jar, "https://a.example/x/y/z"),
        "deep=2; mid=4; first=5; second=3"
    );
}

#[test]
fn secure_cookie_from_plain_http_is_refused() {
    let jar = Jar::new();
    assert!(matches!(
        jar.capture(&url("http://a.example/"), "s=1; Secure"),
        Outcome::Refused(_)
    ));
    // Loopback counts as a secure origin, as in browsers.
    assert_eq!(
        jar.capture(&url("http://localhost:8000/"), "s=1; Secure"),
        Outcome::Stored
    );
}

#[test]
fn prefixes_and_samesite_none_need_secure() {
    let jar = Jar::new();
    let from = url("https://a.example/");
    for set in [
        "a=1; SameSite=None",
        "__Secure-a=1",
        "__Host-a=1; Secure; Path=/; Domain=a.example",
        "__Host-a=1; Secure; Path=/x",
    ] {
        assert!(
            matches!(jar.capture(&from, set), Outcome::Refused(_)),
            "{set}"
        );
    }
    assert_eq!(
        jar.capture(&from, "__Host-ok=1; Secure; Path=/"),
        Outcome::Stored
    );
}

#[test]
fn samesite_follows_fetch_metadata() {
    let jar = Jar::new();
    let from = url("https://a.example/");
    jar.capture(&from, "strict=1; SameSite=Strict");
    jar.capture(&from, "lax=2; SameSite=Lax");
    jar.capture(&from, "none=3; SameSite=None; Secure");
    jar.capture(&from, "plain=4");
    let now = OffsetDateTime::now_utc();
    let to = "https://a.example/";
    assert_eq!(
        header_at(&jar, to, Site::Same, now),
        "strict=1; lax=2; none=3; plain=4"
    );
    assert_eq!(
        header_at(&jar, to, Site::CrossNavigation, now),
        "lax=2; none=3; plain=4"
    );
    assert_eq!(header_at(&jar, to, Site::Cross, now), "none=3");

    let mut headers = HeaderMap::new();
    assert_eq!(Site::of(&headers, &Method::POST), Site::Same);
    headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
    headers.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
    assert_eq!(Site::of(&headers, &Method::GET), Site::CrossNavigation);
    assert_eq!(Site::of(&headers, &Method::POST), Site::Cross);
}

#[test]
fn clients_own_cookie_of_the_same_name_wins() {
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("session=mine; theme=dark"));
    headers.append(COOKIE, HeaderValue::from_static("x=1"));
    let jar_pairs = vec![
        ("session".to_owned(), "jar".to_owned()),
        ("csrf".to_owned(), "t".to_owned()),
    ];
    add_missing(&mut headers, &jar_pairs);
    let values: Vec<_> = headers.get_all(COOKIE).iter().collect();
    assert_eq!(values, vec!["session=mine; theme=dark; x=1; csrf=t"]);

    let mut untouched = HeaderMap::new();
    untouched.insert(COOKIE, HeaderValue::from_static("session=mine"));
    add_missing(&mut untouched, &jar_pairs[..1]);
    assert_eq!(untouched.get(COOKIE).unwrap(), "session=mine");
}

#[test]
fn jar_file_round_trips_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/cookies.json");
    let jar = Jar::new();
    let from = url("https://www.example.com/app/");
    jar.capture(
        &from,
        "b=2; Path=/; Domain=example.com; Max-Age=3600; HttpOnly",
    );
    jar.capture(&from, "a=1; Secure; SameSite=Strict");
    let now = OffsetDateTime::now_utc();
    save(&jar, &path, now).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let back = load(&path).unwrap();
    assert_eq!(back.entries(now), jar.entries(now));
    assert_eq!(
        header(&back, "https://www.example.com/app/x"),
        header(&jar, "https://www.example.com/app/x")
    );
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["cookies.json"]);
}

#[test]
fn a_jar_file_that_is_not_json_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cookies.json");
    std::fs::write(&path, "not json").unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert!(err.contains("not a signet cookie jar"), "{err}");
    assert!(load(&dir.path().join("absent.json")).unwrap().is_empty());
}

/// A cookies.txt as curl 7.88 writes it with `-c`.
const CURL_COOKIES: &str = "# Netscape HTTP Cookie File\n\
# https://curl.se/docs/http-cookies.html\n\
# This file was generated by libcurl! Edit at your own risk.\n\
\n\
#HttpOnly_app.example.test\tFALSE\t/\tTRUE\t0\tsession\tabc123\n\
.example.test\tTRUE\t/\tFALSE\t4102444800\tlang\ten\n\
app.example.test\tFALSE\t/api\tFALSE\t1\told\tx\n\
.com\tTRUE\t/\tFALSE\t0\ttracker\tevil\n";

#[test]
fn imports_a_curl_cookies_txt() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookies.txt");
    std::fs::write(&file, CURL_COOKIES).unwrap();
    let jar = Jar::new();
    let (stored, skipped) = import(&jar, &file).unwrap();
    assert_eq!(stored, 2);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].contains("expired"));
    assert!(skipped[1].contains("public suffix"));
    let entries = jar.entries(OffsetDateTime::now_utc());
    assert!(entries[0].http_only && entries[0].host_only && entries[0].secure);
    assert_eq!(entries[1].expires, Some(4102444800));
    assert_eq!(
        header(&jar, "https://app.example.test/"),
        "session=abc123; lang=en"
    );
    assert_eq!(header(&jar, "https://other.example.test/"), "lang=en");
}

#[test]
fn export_writes_what_import_reads() {
    let jar = Jar::new();
    let entries = netscape::parse(CURL_COOKIES).unwrap();
    for e in &entries[..2] {
        assert_eq!(jar.insert(e, None), Outcome::Stored);
    }
    let text = netscape::write(&jar.entries(OffsetDateTime::now_utc()));
    assert!(text.contains("#HttpOnly_app.example.test\tFALSE\t/\tTRUE\t0\tsession\tabc123\n"));
    assert!(text.contains("\n.example.test\tTRUE\t/\tFALSE\t4102444800\tlang\ten\n"));
    let again = netscape::parse(&text).unwrap();
    assert_eq!(again[..], entries[..2]);
}

#[test]
fn an_imported_domain_is_a_host_not_part_of_a_url() {
    // Found by the cookies_txt fuzz target: the domain went into a URL as text, so
    // "evil@victim.example" stored a cookie for victim.example, and "@." one for "." that the
    // export then wrote as a line its own import refuses.
    let text = "evil@victim.example\tFALSE\t/\tFALSE\t0\tuser\tinfo\n\
                @.\tFALSE\t\tFALSE\t0\tdot\t\n\
                a/b.example\tFALSE\t/\tFALSE\t0\tslash\tx\n\
                a#b.example\tTRUE\t/\tFALSE\t0\thash\tx\n\
                a.example:8443\tFALSE\t/\tFALSE\t0\tport\tx\n";
    let jar = Jar::new();
    for e in &netscape::parse(text).unwrap() {
        assert!(
            matches!(jar.insert(e, None), Outcome::Refused(_)),
            "{} ({}) was stored",
            e.name,
            e.domain
        );
    }
    assert!(jar.is_empty());
    assert_eq!(header(&jar, "https://victim.example/"), "");
    // Hosts of every kind still import.
    let text = "xn--bcher-kva.example\tFALSE\t/\tFALSE\t0\tidn\t1\n\
                .example.test\tTRUE\t/\tFALSE\t0\tdomain\t2\n\
                127.0.0.1\tFALSE\t/\tFALSE\t0\tv4\t3\n\
                ::1\tFALSE\t/\tFALSE\t0\tv6\t4\n";
    for e in &netscape::parse(text).unwrap() {
        assert_eq!(jar.insert(e, None), Outcome::Stored, "{}", e.name);
    }
    assert_eq!(header(&jar, "https://[::1]/"), "v6=4");
    assert_eq!(header(&jar, "https://a.example.test/"), "domain=2");
}

#[test]
fn an_imported_domain_is_taken_as_written_not_as_a_url_parser_decodes_it() {
    // Found by the cookies_txt fuzz target: `%2E` decoded to a dot, so a host-only cookie for
    // "%2Eexample.test" was stored for ".example.test" and exported as a domain cookie.
    let text = "%2Eexample.test\tFALSE\t/\tFALSE\t0\tdot\tx\n\
                b%C3%BCcher.example\tFALSE\t/\tFALSE\t0\tescaped\tx\n\
                bücher.example\tFALSE\t/\tFALSE\t0\tunicode\tx\n";
    let jar = Jar::new();
    for e in &netscape::parse(text).unwrap() {
        assert!(
            matches!(jar.insert(e, None), Outcome::Refused(_)),
            "{} ({}) was stored",
            e.name,
            e.domain
        );
    }
    assert!(jar.is_empty());
    // Letter case is not spelling: an upper-case name still imports, as its lower-case form.
    let upper = netscape::parse("Example.TEST\tFALSE\t/\tFALSE\t0\tcase\t1\n").unwrap();
    assert_eq!(jar.insert(&upper[0], None), Outcome::Stored);
    assert_eq!(header(&jar, "https://example.test/"), "case=1");
    assert_eq!(header(&jar, "https://a.example.test/"), "");
}

#[test]
fn malformed_cookies_txt_names_the_line() {
    let err = netscape::parse("# c\nexample.test\tMAYBE\t/\tFALSE\t0\tn\tv\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(netscape::parse("a\tb\n").is_err());
}

#[test]
fn debug_never_shows_values() {
    let e = &netscape::parse(CURL_COOKIES).unwrap()[0];
    assert!(!format!("{e:?}").contains("abc123"));
}

fn cookies_for_config(toml: &str, dir: &Path) -> Cookies {
    let path = dir.join("signet.toml");
    let config = Config::parse(&path, toml.to_owned(), &|_| None).unwrap();
    Cookies::open(&config.cookies.jar, crate::app::rule_cookies(&config))
        .unwrap()
        .unwrap()
}

fn request(uri: &str, cookie: Option<&str>) -> http::request::Parts {
    let mut b = http::Request::builder().uri(uri);
    if let Some(c) = cookie {
        b = b.header(COOKIE, c);
    }
    b.body(()).unwrap().into_parts().0
}

#[test]
fn cookies_from_sends_another_hosts_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let cookies = cookies_for_config(
        r#"
[[host]]
match = ["login.example.com"]
cookies = "capture"

[[host]]
match = ["api.example.net"]
cookies_from = "Login.Example.com"
"#,
        dir.path(),
    );
    let login = Destination::new(true, "login.example.com", 443).unwrap();
    let mut parts = request("/", None);
    let url = cookies.before_send(Some(0), &login, &mut parts, SystemTime::now());
    assert!(parts.headers.get(COOKIE).is_none(), "capture never injects");
    let mut answer = HeaderMap::new();
    answer.insert(
        SET_COOKIE,
        HeaderValue::from_static("sid=s1; Path=/; Secure"),
    );
    cookies.on_response(url.as_ref(), &answer);
    cookies.flush();
    assert!(dir.path().join("cookies.json").exists());

    let api = Destination::new(true, "api.example.net", 443).unwrap();
    let mut parts = request("/v1", Some("own=1"));
    let url = cookies.before_send(Some(1), &api, &mut parts, SystemTime::now());
    assert_eq!(parts.headers.get(COOKIE).unwrap(), "own=1; sid=s1");
    assert!(url.is_none(), "cookies_from alone means inject only");

    // A rule without cookies and a request with no rule are left alone.
    let mut parts = request("/", None);
    assert!(
        cookies
            .before_send(None, &api, &mut parts, SystemTime::now())
            .is_none()
    );
    assert!(parts.headers.get(COOKIE).is_none());
}

#[test]
fn cookies_from_with_capture_only_is_a_config_error() {
    let err = Config::parse(
        Path::new("signet.toml"),
        "[[host]]\nmatch = [\"a.test\"]\ncookies = \"capture\"\ncookies_from = \"b.test\"\n".into(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cookies_from"), "{err}");
}

#[test]
fn jar_path_defaults_beside_the_config() {
    let c = Config::parse(Path::new("/etc/signet/signet.toml"), String::new(), &|_| {
        None
    })
    .unwrap();
    assert_eq!(c.cookies.jar, Path::new("/etc/signet/cookies.json"));
    let c = Config::parse(
        Path::new("/etc/signet/signet.toml"),
        "[cookies]\njar = \"/var/lib/signet/jar.json\"\n".into(),
        &|_| None,
    )
    .unwrap();
    assert_eq!(c.cookies.jar, Path::new("/var/lib/signet/jar.json"));
}

#[test]
fn an_answers_cookies_are_carried_over_to_the_next_request_of_the_exchange() {
    let mut parts = request("http://app.test/dir/page", Some("own=1; lb=old; gone=x"));
    let mut answer = HeaderMap::new();
    for value in [
        "lb=node-2; Path=/",
        "new=1",
        "gone=; Max-Age=0",
        "elsewhere=1; Path=/other",
        "sec=1; Secure",
        "foreign=1; Domain=other.test",
    ] {
        answer.append(SET_COOKIE, HeaderValue::from_static(value));
    }
    carry_over(&mut parts, &answer);
    assert_eq!(parts.headers[COOKIE], "own=1; lb=node-2; new=1");

    // An answer that deletes the last cookie leaves no Cookie header.
    let mut parts = request("http://app.test/", Some("gone=x"));
    let mut answer = HeaderMap::new();
    answer.insert(SET_COOKIE, HeaderValue::from_static("gone=; Max-Age=0"));
    carry_over(&mut parts, &answer);
    assert!(parts.headers.get(COOKIE).is_none());
}

/// The jar file's temporary file made a FIFO: opening it for writing blocks until someone reads
/// it, as a stalled disk would block a write.
#[cfg(unix)]
#[test]
fn a_stalled_disk_never_blocks_capture_and_saves_coalesce() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cookies.json");
    // The first write blocks until the test lets it through, as a stalled disk would.
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate));
    let write = Box::new(move |jar: &Jar, file: &Path| {
        if let Some(gate) = gate.lock().unwrap().take() {
            let _ = gate.recv();
        }
        save(jar, file, OffsetDateTime::now_utc())
    });
    let jar = Arc::new(Jar::default());
    let cookies = Arc::new(Cookies {
        jar: jar.clone(),
        rules: vec![Some(RuleCookies {
            mode: CookieMode::Capture,
            from: None,
        })],
        saver: Arc::new(saver::Saver::start_with(jar, path.clone(), write).unwrap()),
        fleet: None,
    });
    let from = url("http://app.test/");
    let set = |i: usize| {
        let mut answer = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("c{i}=v; Path=/")).unwrap();
        answer.insert(SET_COOKIE, value);
        answer
    };

    let (done, returned) = mpsc::channel();
    let capturing = {
        let (cookies, from, answer) = (cookies.clone(), from.clone(), set(0));
        std::thread::spawn(move || {
            cookies.on_response(Some(&from), &answer);
            let _ = done.send(());
        })
    };
    assert!(
        returned.recv_timeout(Duration::from_secs(10)).is_ok(),
        "on_response waited for the disk"
    );
    capturing.join().unwrap();

    // Once the writer is stuck in its first save, fifty more changes ask for one more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cookies.saver.saves() == 0 {
        assert!(Instant::now() < deadline, "the writer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 1..=50 {
        cookies.on_response(Some(&from), &set(i));
    }
    assert_eq!(cookies.saver.saves(), 1, "a save began while one was stuck");
    release.send(()).unwrap();
    cookies.flush();
    let now = OffsetDateTime::now_utc();
    assert_eq!(load(&path).unwrap().entries(now).len(), 51);
    assert_eq!(cookies.saver.saves(), 2);

    // Dropping the jar writes what is pending.
    cookies.on_response(Some(&from), &set(51));
    drop(Arc::into_inner(cookies).expect("the only owner"));
    assert_eq!(load(&path).unwrap().entries(now).len(), 52);
}
