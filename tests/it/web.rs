//! The web pages over HTTP on the real binary, below the browser: the
//! language choice, the login form's and every form's CSRF token, the
//! session cookie's flags, error pages, and a refused form that keeps what
//! was typed. The journey itself runs in Chromium (tests/it/browser.rs).

use crate::common::*;

const PASSWORD: &str = "web-pages-password";

struct Page {
    status: u16,
    location: String,
    cookies: Vec<String>,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Page {
    let header = |name: &str| {
        response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let location = header("location").pop().unwrap_or_default();
    let cookies = header("set-cookie");
    Page {
        status: response.status().as_u16(),
        location,
        cookies,
        body: response.body_mut().read_to_string().unwrap(),
    }
}

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Page {
    let mut request = agent().get(format!("{}{path}", server.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.call().unwrap())
}

fn post(server: &Server, path: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Page {
    let mut request = agent().post(format!("{}{path}", server.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.send_form(form.iter().copied()).unwrap())
}

/// The value of the page's first hidden `csrf` field.
fn csrf_of(body: &str) -> String {
    let start = body.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    body[start..start + body[start..].find('"').unwrap()].to_owned()
}

/// `name=value` of the cookie `name` among Set-Cookie headers.
fn cookie<'a>(cookies: &'a [String], name: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
}

fn pair(cookie: &str) -> &str {
    cookie.split(';').next().unwrap()
}

/// Logs in through the login page; returns the session cookie header line.
fn log_in(server: &Server, name: &str, password: &str, headers: &[(&str, &str)]) -> Page {
    let form = get(server, "/login", &[]);
    let login_cookie = pair(cookie(&form.cookies, "niji_login")).to_owned();
    let mut all = vec![("cookie", login_cookie.as_str())];
    all.extend_from_slice(headers);
    let csrf = csrf_of(&form.body);
    post(
        server,
        "/login",
        &all,
        &[("name", name), ("password", password), ("csrf", &csrf)],
    )
}

fn setup(env: &Env) {
    ok(&env.init(&[]));
    env.organizations(&[("univ", true)]);
    env.accounts(&[("alice", "researcher", "univ")], PASSWORD);
}

/// The account of `setup`, made once per test build; a copy for the test.
fn accounts() -> Env {
    Env::from_fixture("web-accounts", setup)
}

#[test]
fn pages_are_japanese_unless_english_is_asked_for() {
    let env = accounts();
    let server = Server::start(&env);
    let ja = get(&server, "/register", &[]);
    assert_eq!(ja.status, 200);
    assert!(ja.body.contains(r#"<html lang="ja">"#));
    assert!(ja.body.contains("<h1>公開登録簿</h1>"), "{}", ja.body);

    let en = get(&server, "/register?lang=en", &[]);
    assert!(en.body.contains(r#"<html lang="en">"#));
    assert!(en.body.contains("<h1>Public register</h1>"));
    assert!(pair(cookie(&en.cookies, "niji_lang")) == "niji_lang=en");
    // The remembered choice, and a browser that prefers English.
    let remembered = get(&server, "/", &[("cookie", "niji_lang=en")]);
    assert!(remembered.body.contains("Welcome to niji"));
    let preferred = get(
        &server,
        "/login",
        &[("accept-language", "en-US,en;q=0.9,ja;q=0.5")],
    );
    assert!(preferred.body.contains("<h1>Log in</h1>"));
    // Every input of the login form has its label.
    let login = get(&server, "/login", &[]);
    for id in ["name", "password"] {
        assert!(
            login.body.contains(&format!(r#"<label for="{id}">"#)),
            "{id}"
        );
        assert!(login.body.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    server.stop();
}

#[test]
fn the_login_form_and_every_form_carry_a_token() {
    let env = accounts();
    let server = Server::start(&env);

    // A login posted without the form's token (another site's form).
    let forged = post(
        &server,
        "/login",
        &[],
        &[("name", "alice"), ("password", PASSWORD), ("csrf", "x")],
    );
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("フォームの有効期限が切れました"));

    let wrong = log_in(&server, "alice", "not-the-password", &[]);
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .body
            .contains("アカウント名またはパスワードが違います")
    );
    assert!(!wrong.body.contains("not-the-password"));

    let done = log_in(&server, "alice", PASSWORD, &[]);
    assert_eq!((done.status, done.location.as_str()), (303, "/"));
    let session = cookie(&done.cookies, "niji_session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let session = pair(session).to_owned();
    // Behind a TLS-terminating proxy the cookie is Secure.
    let tls = log_in(
        &server,
        "alice",
        PASSWORD,
        &[("x-forwarded-proto", "https")],
    );
    assert!(cookie(&tls.cookies, "niji_session").contains("; Secure"));

    // The researcher lands on their applications; the form page has a token.
    let home = get(&server, "/", &[("cookie", &session)]);
    assert_eq!(home.location, "/applications");
    let form = get(&server, "/applications/new", &[("cookie", &session)]);
    let csrf = csrf_of(&form.body);
    let fields = |token: &str| {
        vec![
            ("csrf", token.to_owned()),
            ("title", "転倒の研究".to_owned()),
            ("purpose", "academic-research".to_owned()),
            ("lay_summary", "概要".to_owned()),
            ("items", "claims.persons.age".to_owned()),
            ("tier", "anonymized".to_owned()),
            ("starts", "2026-01-01".to_owned()),
            ("ends", "2026-12-31".to_owned()),
        ]
    };
    let send = |f: Vec<(&str, String)>| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&server, "/applications/new", &[("cookie", &session)], &refs)
    };
    let refused = send(fields("stale-token"));
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("security token"), "{}", refused.body);

    // A refused form comes back with what was typed and the reason.
    let mut bad = fields(&csrf);
    bad[4].1 = "claims.persons.age\nclaims.persons".to_owned();
    let kept = send(bad);
    assert_eq!(kept.status, 422);
    assert!(kept.body.contains("line 2: expected release.table.column"));
    assert!(kept.body.contains(r#"value="転倒の研究""#), "{}", kept.body);

    let created = send(fields(&csrf));
    assert_eq!(created.status, 303, "{}", created.body);
    assert!(created.location.starts_with("/applications/"));
    let page = get(&server, &created.location, &[("cookie", &session)]);
    assert!(page.body.contains("下書き"));

    // Logging out ends the session.
    let out = post(
        &server,
        "/logout",
        &[("cookie", &session)],
        &[("csrf", &csrf)],
    );
    assert_eq!((out.status, out.location.as_str()), (303, "/login"));
    let after = get(&server, "/applications", &[("cookie", &session)]);
    assert_eq!((after.status, after.location.as_str()), (303, "/login"));
    server.stop();
}

#[test]
fn refusals_are_pages_in_the_viewers_language() {
    let env = accounts();
    let server = Server::start(&env);
    let session = pair(cookie(
        &log_in(&server, "alice", PASSWORD, &[]).cookies,
        "niji_session",
    ))
    .to_owned();
    let missing = get(&server, "/applications/999", &[("cookie", &session)]);
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("<h1>エラー (404)</h1>"),
        "{}",
        missing.body
    );
    assert!(missing.body.contains("no application 999"));
    let english = get(
        &server,
        "/applications/999?lang=en",
        &[("cookie", &session)],
    );
    assert!(english.body.contains("<h1>Error (404)</h1>"));
    // A researcher is not an admin.
    let admin = get(&server, "/admin/accounts", &[("cookie", &session)]);
    assert_eq!(admin.status, 403);
    assert!(admin.body.contains("only an admin"));
    // Nor on the review board: its pages refuse them before anything is
    // read, whichever application they name.
    for page in ["/reviews", "/reviews/1", "/reviews/999"] {
        let board = get(&server, page, &[("cookie", &session)]);
        assert_eq!(board.status, 403, "{page}");
        assert!(board.body.contains("only the review board"), "{page}");
    }
    // Not logged in: to the login page.
    let anonymous = get(&server, "/reviews", &[]);
    assert_eq!(
        (anonymous.status, anonymous.location.as_str()),
        (303, "/login")
    );
    server.stop();
}
