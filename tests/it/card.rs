//! Sign-in with the My Number Card against a real OpenID provider on
//! loopback (idpyoidc, `tests/oidc/provider.py`): the authorization-code
//! flow with PKCE from `/login/card` through the provider's login page to
//! the citizen's own view; the same citizen's enrolment letter and card
//! reaching one account; and every refusal — a replayed or foreign state,
//! an ID token with another sign-in's nonce, expired, signed by another
//! key, unsigned, for another client or from another issuer, a provider
//! that is down, a card nobody's records carry and one that fits two
//! people — each a clear page, an audit entry and no session. Afterwards
//! none of the test users' claims is in any file of the data directory,
//! the control plane or the server's log.

use crate::common::client::*;
use crate::common::scan::{csv_rows, files_under, stored_values};
use crate::common::*;

use niji_testkit::oidc::{CardHolder, Provider};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

const CLIENT: &str = "niji-test";
const SECRET: &str = "client-secret-of-the-test-provider";
const PASSWORD: &str = "citizen-test-password";

/// A browser without scripts: follows nothing by itself, keeps cookies by
/// name (niji's and the provider's names differ).
struct Browser {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

/// A reply: status, `Location`, the cookies it set, the body.
struct Page {
    status: u16,
    location: Option<String>,
    set: Vec<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &mut ureq::http::Response<ureq::Body>) -> Page {
        let set: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set,
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    fn get(&mut self, url: &str) -> Page {
        let mut response = self
            .agent
            .get(url)
            .header("Cookie", self.cookie_header())
            .call()
            .unwrap();
        self.keep(&mut response)
    }

    fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let mut response = self
            .agent
            .post(url)
            .header("Cookie", self.cookie_header())
            .send_form(form.iter().copied())
            .unwrap();
        self.keep(&mut response)
    }
}

/// The value of hidden field `name` in a page.
fn hidden(body: &str, name: &str) -> String {
    let at = body
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no field {name} in {body}"));
    let rest = &body[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// From niji's `/login/card` through the provider's login page, as
/// `login`: the provider's redirect back to niji (not yet followed).
fn to_the_callback(browser: &mut Browser, niji: &str, login: &CardHolder<'_>) -> String {
    let departure = browser.get(&format!("{niji}/login/card"));
    assert_eq!(departure.status, 303, "{}", departure.body);
    assert!(
        browser.cookies.contains_key("niji_card"),
        "{:?}",
        departure.set
    );
    let authorize = departure.location.unwrap();
    assert!(
        authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="),
        "{authorize}"
    );
    let form = browser.get(&authorize);
    assert_eq!(form.status, 200, "{}", form.body);
    let token = hidden(&form.body, "token");
    let issuer = authorize.split("/authorization").next().unwrap().to_owned();
    let back = browser.post_form(
        &format!("{issuer}/verify/user"),
        &[
            ("token", &token),
            ("username", login.login),
            ("password", login.password),
        ],
    );
    assert_eq!(back.status, 302, "{}", back.body);
    let callback = back.location.unwrap();
    assert!(callback.starts_with(niji), "{callback}");
    callback
}

/// A provider on loopback with `users`, niji's client secret in the
/// keystore, and `niji serve` on a port chosen first (the provider
/// registers its callback), logging to `log`.
pub(crate) fn serve_with_card(
    env: &Env,
    users: &[CardHolder<'_>],
    log: &Path,
) -> (Provider, Server) {
    let port = niji_testkit::ballista::free_port().unwrap();
    let niji = format!("http://127.0.0.1:{port}");
    let redirect = format!("{niji}/login/card/callback");
    let provider = Provider::start(CLIENT, SECRET, &redirect, users).unwrap();
    ok(&env
        .niji(&["keys", "import", "card-client"])
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .env("NIJI_CLIENT_SECRET", SECRET)
        .output()
        .unwrap());
    let vars = [
        ("NIJI_CARD_ISSUER", provider.issuer.as_str()),
        ("NIJI_CARD_CLIENT_ID", CLIENT),
        ("NIJI_CARD_REDIRECT", redirect.as_str()),
    ];
    let server = Server::start_with_log(env, &format!("127.0.0.1:{port}"), &vars, log);
    assert_eq!(server.url, niji);
    (provider, server)
}

/// The provider's user `login` with the claims of `h`.
pub(crate) fn user<'a>(login: &'a str, h: &'a (String, String, String, String)) -> CardHolder<'a> {
    CardHolder {
        login,
        password: "card-pin-1234",
        name: &h.1,
        birthdate: &h.2,
        gender: &h.3,
        address: "東京都千代田区霞が関一丁目二番二号",
    }
}

/// A person of the population to sign in as: one name all their life,
/// claims (レセ電 carries the kanji name), and a name, birth date and sex
/// no one else shares. `(person_id, name, birth, gender)`.
pub(crate) fn card_holders(pop: &Path, how_many: usize) -> Vec<(String, String, String, String)> {
    let truth = pop.join("truth");
    let persons: HashMap<String, HashMap<String, String>> = csv_rows(&truth.join("persons.csv"))
        .into_iter()
        .map(|r| (r["person_id"].clone(), r))
        .collect();
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for n in csv_rows(&truth.join("names.csv")) {
        names
            .entry(n["person_id"].clone())
            .or_default()
            .push(format!("{} {}", n["family_kanji"], n["given_kanji"]));
    }
    let mut with_claims: Vec<String> = csv_rows(&truth.join("records.csv"))
        .into_iter()
        .filter(|r| r["file"].starts_with("uke/"))
        .map(|r| r["person_id"].clone())
        .collect();
    with_claims.sort();
    with_claims.dedup();
    let key = |id: &str| {
        let p = &persons[id];
        (
            names[id][0].replace(' ', ""),
            p["birth_date"].clone(),
            p["sex"].clone(),
        )
    };
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for id in persons.keys() {
        for name in names.get(id).into_iter().flatten() {
            let (_, birth, sex) = key(id);
            *seen.entry((name.replace(' ', ""), birth, sex)).or_default() += 1;
        }
    }
    with_claims
        .into_iter()
        .filter(|id| names[id].len() == 1 && seen[&key(id)] == 1)
        .take(how_many)
        .map(|id| {
            let p = &persons[&id];
            let gender = if p["sex"] == "1" { "male" } else { "female" };
            (
                id.clone(),
                names[&id][0].clone(),
                p["birth_date"].clone(),
                gender.to_owned(),
            )
        })
        .collect()
}

/// The population's FHIR bundle line of `person`'s first record there,
/// and its file: to copy with another insurance card.
fn bundle_of(pop: &Path, person: &str) -> Option<(String, String)> {
    let row = csv_rows(&pop.join("truth/records.csv"))
        .into_iter()
        .find(|r| r["person_id"] == person && r["file"].starts_with("fhir/"))?;
    let line: usize = row["locator"].strip_prefix("line:")?.parse().ok()?;
    let text = std::fs::read_to_string(pop.join(&row["file"])).ok()?;
    Some((row["file"].clone(), text.lines().nth(line - 1)?.to_owned()))
}

#[test]
fn a_citizen_signs_in_with_the_card_and_every_forged_answer_is_refused() {
    let env = Env::new();
    ok(&env.init(&[]));
    let pop = env.synth(300, 8, "2021-01", "2022-12");
    env.ingest_and_link(&pop);
    let holders = card_holders(&pop, 40);
    assert!(
        holders.len() >= 3,
        "too few card holders: {}",
        holders.len()
    );

    // A namesake: another person (another insurance card) with the same
    // name, birth date and sex as a person with a FHIR record, in the same
    // month, so that linkage keeps them apart.
    let (twin_file, twin_line, twin) = holders
        .iter()
        .find_map(|h| bundle_of(&pop, &h.0).map(|(f, l)| (f, l, h.clone())))
        .expect("a card holder with a FHIR record");
    let member = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";
    let mut bundle: serde_json::Value = serde_json::from_str(&twin_line).unwrap();
    for entry in bundle["entry"].as_array_mut().unwrap() {
        let resource = &mut entry["resource"];
        if resource["resourceType"] == "Patient" {
            resource["identifier"] = json!([{"system": member, "value": "39999999:99:9999999:01"}]);
        }
    }
    let extra = env.root.path().join("namesake").join(&twin_file);
    std::fs::create_dir_all(extra.parent().unwrap()).unwrap();
    std::fs::write(&extra, format!("{bundle}\n")).unwrap();
    ok(&env
        .niji(&["ingest"])
        .arg(env.root.path().join("namesake/fhir"))
        .env("NIJI_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap());
    ok(&env.niji(&["link"]).output().unwrap());

    let (holder, letter_holder) = (
        holders.iter().find(|h| h.0 != twin.0).unwrap().clone(),
        holders
            .iter()
            .filter(|h| h.0 != twin.0)
            .nth(1)
            .unwrap()
            .clone(),
    );
    let citizen = user("card-user-first", &holder);
    let letter = user("card-user-letter", &letter_holder);
    let namesake = user("card-user-namesake", &twin);
    let nobody = CardHolder {
        login: "card-user-nobody",
        password: "card-pin-1234",
        name: "存在 しない",
        birthdate: "1901-01-01",
        gender: "female",
        address: "北海道札幌市",
    };

    let log = env.root.path().join("server.log");
    let (mut provider, server) = serve_with_card(&env, &[citizen, letter, namesake, nobody], &log);
    let niji = server.url.clone();

    // The login page offers the card.
    let login_page = Client::new(&server).text("GET", "/login");
    assert!(login_page.contains("href=\"/login/card\""), "{login_page}");

    // The whole flow: a session, and the citizen's own view.
    let mut browser = Browser::new();
    let callback = to_the_callback(&mut browser, &niji, &citizen);
    let arrived = browser.get(&callback);
    assert_eq!(arrived.status, 303, "{}", arrived.body);
    assert_eq!(arrived.location.as_deref(), Some("/me"));
    assert!(browser.cookies.contains_key("niji_session"));
    assert!(
        !browser.cookies.contains_key("niji_card"),
        "the state cookie is cleared"
    );
    let me = browser.get(&format!("{niji}/api/v1/me/accesses?lang=en"));
    assert_eq!(me.status, 200, "{}", me.body);
    let view: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    let kinds: Vec<&str> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"citizen.card"), "{kinds:?}");

    // A replayed answer: the state was spent.
    let mut replay = Browser::new();
    replay.cookies = browser.cookies.clone();
    replay.cookies.insert(
        "niji_card".into(),
        callback
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .into(),
    );
    replay.cookies.remove("niji_session");
    refused(&mut replay, &callback, 403, "state");

    // A provider that gives the items at its userinfo endpoint only: the
    // same person, the same account.
    let mut bare = Browser::new();
    let callback = to_the_callback(&mut bare, &niji, &citizen);
    provider.tamper("bare").unwrap();
    assert_eq!(bare.get(&callback).status, 303);

    // A second sign-in finds the same account.
    let mut again = Browser::new();
    let callback = to_the_callback(&mut again, &niji, &citizen);
    assert_eq!(again.get(&callback).status, 303);
    let first = account_of(&mut browser, &niji);
    assert_eq!(
        account_of(&mut again, &niji),
        first,
        "one account for one card"
    );
    assert_eq!(
        account_of(&mut bare, &niji),
        first,
        "the items from userinfo"
    );

    // The letter leads to the account the card made: its password then
    // signs in to the same account.
    let admin = Client::login(&server, "admin", ADMIN_PASSWORD);
    let anonymous = Client::new(&server);
    let mut people = insured_where(&pop, |id| id == holder.0);
    let (by_letter, _) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
    assert_eq!(by_letter, first, "the letter reaches the card's account");
    let with_password = Client::login(&server, &by_letter, PASSWORD);
    assert_eq!(
        with_password.send("GET", "/api/v1/me/opt-out", None).status,
        200
    );

    // A foreign state: another browser's answer lands in this one.
    let mut victim = Browser::new();
    let mut attacker = Browser::new();
    let foreign = to_the_callback(&mut attacker, &niji, &citizen);
    victim.get(&format!("{niji}/login/card"));
    refused(&mut victim, &foreign, 403, "state");

    // The letter first, then the card: one account too.
    let mut people = insured_where(&pop, |id| id == letter_holder.0);
    let (letter_account, _) = enrol_next(&admin, &anonymous, &mut people, PASSWORD);
    let mut card = Browser::new();
    let callback = to_the_callback(&mut card, &niji, &letter);
    assert_eq!(card.get(&callback).status, 303);
    assert_eq!(account_of(&mut card, &niji), letter_account);

    // Forged ID tokens: each refused, with its class in the log.
    for (mode, reason) in [
        ("nonce", "the ID token's nonce did not match"),
        ("expired", "the ID token had expired"),
        ("other-key", "the ID token's signature did not verify"),
        ("alg-none", "the ID token's signature did not verify"),
        ("audience", "the ID token was for another client"),
        ("issuer", "the ID token was from another issuer"),
    ] {
        let mut b = Browser::new();
        let callback = to_the_callback(&mut b, &niji, &citizen);
        provider.tamper(mode).unwrap();
        refused(&mut b, &callback, 403, "invalid");
        assert!(logged(&env, reason), "{mode}: no `{reason}` entry");
    }

    // Nobody's card, and a card that fits two people.
    let mut b = Browser::new();
    let callback = to_the_callback(&mut b, &niji, &nobody);
    refused(&mut b, &callback, 409, "not_found");
    let mut b = Browser::new();
    let callback = to_the_callback(&mut b, &niji, &namesake);
    let page = refused(&mut b, &callback, 409, "ambiguous");
    assert!(page.contains("/login"), "the letter is offered: {page}");

    // The provider is down: leaving, and coming back.
    let mut b = Browser::new();
    let callback = to_the_callback(&mut b, &niji, &citizen);
    provider.kill();
    refused(&mut b, &callback, 502, "unreachable");
    refused(
        &mut Browser::new(),
        &format!("{niji}/login/card"),
        502,
        "unreachable",
    );
    assert!(logged(&env, "the provider could not be reached"));
    // One address cannot fill the table of sign-ins under way: past its
    // share of departures it is told to wait.
    let anyone = Client::new(&server);
    let busy = (0..400)
        .map(|_| anyone.status("GET", "/login/card"))
        .position(|status| status == 429)
        .expect("departures from one address are limited");
    assert!(busy <= 300, "{busy}");
    refused(
        &mut Browser::new(),
        &format!("{niji}/login/card"),
        429,
        "busy",
    );

    server.stop();
    no_claims_anywhere(&env, &log, &[&citizen, &letter, &namesake, &nobody]);
}

/// Follows `url` and checks the refusal page: `status`, the message of
/// `class` in Japanese, no session. The page.
fn refused(browser: &mut Browser, url: &str, status: u16, class: &str) -> String {
    let page = browser.get(url);
    assert_eq!(page.status, status, "{class}: {}", page.body);
    assert!(
        !page
            .set
            .iter()
            .any(|c| c.starts_with("niji_session=") && !c.contains("Max-Age=0")),
        "{class}: a session was opened: {:?}",
        page.set
    );
    let catalogue = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/niji-server/i18n/ja.toml"),
    )
    .unwrap();
    let section = &catalogue[catalogue.find("\n[card]\n").unwrap()..];
    let line = section
        .lines()
        .find(|l| l.starts_with(&format!("{class} = ")))
        .unwrap();
    let message = line.split_once(" = \"").unwrap().1.trim_end_matches('"');
    assert!(page.body.contains(message), "{class}: {}", page.body);
    page.body
}

/// The account a browser's session is, as its page's header names it.
fn account_of(browser: &mut Browser, niji: &str) -> String {
    let page = browser.get(&format!("{niji}/me"));
    assert_eq!(page.status, 200, "{}", page.body);
    let at = page.body.find("citizen-").expect("a citizen's page");
    page.body[at..at + "citizen-".len() + 10].to_owned()
}

/// Whether a `login.card.refused` entry says `reason`.
fn logged(env: &Env, reason: &str) -> bool {
    env.open_store()
        .unwrap()
        .audit_events()
        .unwrap()
        .iter()
        .any(|e| e.kind == "login.card.refused" && e.detail.starts_with(reason))
}

/// None of the users' claims (name in any spacing, address, subject, and
/// the birth date beside them in the control plane and the log) is in any
/// file of the data directory, any value of the control plane or the
/// server's log.
fn no_claims_anywhere(env: &Env, log: &Path, users: &[&CardHolder<'_>]) {
    let mut needles: Vec<String> = Vec::new();
    for u in users {
        let compact = u.name.replace([' ', '　'], "");
        needles.extend([
            u.name.to_owned(),
            compact,
            u.name.replace(' ', "　"),
            u.address.to_owned(),
            u.login.to_owned(),
        ]);
    }
    let mut files = Vec::new();
    files_under(&env.data(), &mut files);
    files.push(log.to_path_buf());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{}: holds a claim of the card",
                file.display()
            );
        }
    }
    let log_text = std::fs::read_to_string(log).unwrap();
    for u in users {
        assert!(
            !log_text.contains(u.birthdate),
            "the log holds a birth date"
        );
    }
    let values = stored_values(env);
    for u in users {
        for needle in needles.iter().chain([&u.birthdate.to_owned()]) {
            assert!(
                !values.iter().any(|v| v.contains(needle.as_str())),
                "the control plane holds a claim of the card"
            );
        }
    }
}
