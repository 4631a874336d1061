//! `niji demo`: from a fresh clone to a working platform on synthetic data,
//! in one command.
//!
//! Each step is what an operator would do by hand, and most are the very
//! commands they would type: `synth`, `ingest`, `link` and `release build`
//! run as child processes of this binary, so the demo goes through the same
//! code, checks and progress bars. The governance steps (organizations,
//! accounts, the application and its two approvals, the citizen's
//! enrolment) call the store as the API's handlers do, under the same
//! rules and audit events. The researcher's queries go over HTTP to the
//! real server, so that they pass the purpose gate, disclosure control and
//! the access log like any other.
//!
//! A second run reuses what exists: `demo.json` in the data directory
//! records the steps done, and marks the directory as a demo's, whose
//! passphrase and passwords are public (the README lists them). `niji init`
//! never creates these accounts, and the demo refuses a data directory it
//! did not make.

use crate::cli::DemoArgs;
use crate::commands::serve;
use anyhow::{Context, bail};
use niji_core::{Config, Role, SecretString};
use niji_ingest::Staging;
use niji_linkage::{Identity, Tokenizer};
use niji_store::{Account, ApplicationForm, Conditions, Decision, Item, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The demo keystore's passphrase: public, like the data it guards.
const PASSPHRASE: &str = "niji-demo-passphrase";
/// Every demo account's password.
pub const PASSWORD: &str = "niji-demo-password";
/// The file that marks a demo's data directory and records its progress.
const PROGRESS: &str = "demo.json";
/// The synthetic source files, inside the data directory.
const SOURCES: &str = "demo-sources";
/// The synthetic period: five fiscal years.
const PERIOD: (&str, &str) = ("2019-04", "2024-03");
/// The demo's releases and the example policies they are built from
/// (carried in the binary, so that it runs from anywhere).
const RELEASES: [(&str, &str, &str); 2] = [
    (
        "claims",
        "release-anonymized-example.toml",
        include_str!("../../policies/release-anonymized-example.toml"),
    ),
    (
        "charts",
        "release-pseudonymized-example.toml",
        include_str!("../../policies/release-pseudonymized-example.toml"),
    ),
];
/// Organizations: name and whether certified for the pseudonymized tier.
const ORGANIZATIONS: [(&str, bool); 3] = [
    ("demo-university", true),
    ("demo-startup", false),
    ("demo-review-board", false),
];
/// Accounts besides the admin (`niji init`'s) and the citizen.
const ACCOUNTS: [(&str, Role, &str); 4] = [
    ("reviewer1", Role::Reviewer, "demo-review-board"),
    ("reviewer2", Role::Reviewer, "demo-review-board"),
    ("researcher", Role::Researcher, "demo-university"),
    ("startup-researcher", Role::Researcher, "demo-startup"),
];
/// The citizen who appears in the data, enrolled.
const CITIZEN: &str = "citizen-demo";
/// The project's title.
const PROJECT: &str = "Care use by age and sex, with chart review";
/// Steps, for the progress lines.
const STEPS: usize = 9;

/// The demo's public passphrase, for `niji serve` on a demo's directory.
pub fn passphrase() -> SecretString {
    SecretString::new(PASSPHRASE.into())
}

/// Whether `data` is a directory the demo made.
pub fn is_demo(data: &Path) -> bool {
    data.join(PROGRESS).is_file()
}

/// What is done, so that a second run reuses it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Marks the directory: synthetic data, public secrets.
    note: String,
    synth: bool,
    /// The population's size, once generated.
    population: Option<u64>,
    ingest: bool,
    link: bool,
    /// The project (grant) the reviewers approved.
    project: Option<i64>,
    /// What the citizen's row looks like in the pseudonymized release, so
    /// that a row-level query can show it.
    citizen: Option<CitizenRow>,
    queries: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CitizenRow {
    birth_month: String,
    sex: String,
}

struct Demo {
    config: Config,
    persons: u64,
    exe: PathBuf,
    progress: Progress,
}

pub fn run(config: &Config, args: &DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut demo = Demo::open(config, args.persons)?;
    demo.init()?;
    demo.synth()?;
    demo.ingest()?;
    demo.link()?;
    demo.releases()?;
    demo.accounts()?;
    demo.project()?;
    demo.citizen()?;
    let listen = if args.no_serve {
        "127.0.0.1:0".parse()?
    } else {
        args.listen.unwrap_or(config.server.listen)
    };
    // The server holds the store from here on: the queries' token is made
    // before it starts.
    let token = demo.token()?;
    let state = serve::state(config, &passphrase())?;
    let runtime = serve::runtime()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("listening on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(niji_server::serve(listener, state, async move {
        tokio::select! {
            _ = stopped => {},
            () = serve::shutdown() => {},
        }
    }));
    let queried = demo.queries(&url, token);
    if queried.is_err() || args.no_serve {
        let _ = stop.send(());
        runtime.block_on(server)??;
        queried?;
        eprintln!(
            "niji demo: ready in {:.0} s; `niji serve` starts the server on {}",
            started.elapsed().as_secs_f64(),
            config.data.display()
        );
        return Ok(());
    }
    print_welcome(&url, started);
    runtime.block_on(server)??;
    drop(stop);
    Ok(())
}

impl Demo {
    fn open(config: &Config, persons: u64) -> anyhow::Result<Self> {
        let data = &config.data;
        let progress = match std::fs::read_to_string(data.join(PROGRESS)) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| data.join(PROGRESS).display().to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if Store::exists_in(data, super::store_url(config))? {
                    bail!(
                        "{}: this data directory holds a platform the demo did not make; \
                         the demo leaves it alone (give it another with --data)",
                        data.display()
                    );
                }
                Progress {
                    note: "made by `niji demo`: synthetic persons only; its passphrase and \
                           passwords are public (README, Demo). Never put real data here."
                        .into(),
                    ..Progress::default()
                }
            }
            Err(e) => return Err(e).context(data.join(PROGRESS).display().to_string()),
        };
        let demo = Self {
            config: config.clone(),
            persons,
            exe: std::env::current_exe().context("finding the niji binary")?,
            progress,
        };
        std::fs::create_dir_all(data).with_context(|| data.display().to_string())?;
        demo.save()?;
        Ok(demo)
    }

    fn data(&self) -> &Path {
        &self.config.data
    }

    fn sources(&self) -> PathBuf {
        self.data().join(SOURCES)
    }

    /// Records the progress: written aside and renamed, so that it is
    /// never half-written.
    fn save(&self) -> anyhow::Result<()> {
        let path = self.data().join(PROGRESS);
        let partial = self.data().join(format!("{PROGRESS}.partial"));
        std::fs::write(&partial, serde_json::to_string_pretty(&self.progress)?)
            .with_context(|| partial.display().to_string())?;
        std::fs::rename(&partial, &path).with_context(|| path.display().to_string())
    }

    /// Runs `niji ARGS` on the demo's data directory with its passphrase;
    /// its report (`--json`). Progress bars and errors go to the terminal.
    fn niji(&self, args: &[&str]) -> anyhow::Result<Value> {
        let output = Command::new(&self.exe)
            .arg("--data")
            .arg(self.data())
            .args(args)
            .arg("--json")
            .env(crate::secrets::PASSPHRASE, PASSPHRASE)
            .env(crate::secrets::ADMIN_PASSWORD, PASSWORD)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running niji {}", args.join(" ")))?;
        if !output.status.success() {
            bail!("`niji {}` failed ({})", args.join(" "), output.status);
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("the report of `niji {}`", args.join(" ")))
    }

    fn init(&mut self) -> anyhow::Result<()> {
        step(1, "initializing the data directory and its keystore");
        let report = self.niji(&["init"])?;
        done(match report["status"].as_str() {
            Some("created") => "store, keystore and platform keys created".to_owned(),
            _ => "already initialized".to_owned(),
        });
        Ok(())
    }

    fn synth(&mut self) -> anyhow::Result<()> {
        step(
            2,
            &format!(
                "generating a synthetic population: {} persons, {} to {}",
                self.progress.population.unwrap_or(self.persons),
                PERIOD.0,
                PERIOD.1
            ),
        );
        if self.progress.synth {
            return skipped();
        }
        let out = self.sources();
        // A run stopped half way left files that no report describes.
        if out.exists() {
            std::fs::remove_dir_all(&out).with_context(|| out.display().to_string())?;
        }
        let persons = self.persons.to_string();
        let out_arg = out.display().to_string();
        let report = self.niji(&[
            "synth",
            "--persons",
            &persons,
            "--from",
            PERIOD.0,
            "--to",
            PERIOD.1,
            "--out",
            &out_arg,
        ])?;
        done(format!(
            "{} claims, {} checkups, {} DPC stays, {} care claims, {} FHIR bundles; {:.0} MB in {:.1} s",
            report["claims"],
            report["checkups"],
            report["dpc_stays"],
            report["care_claims"],
            report["fhir_bundles"],
            report["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            report["seconds"].as_f64().unwrap_or(0.0)
        ));
        self.progress.synth = true;
        self.progress.population = report["persons"].as_u64();
        self.save()
    }

    fn ingest(&mut self) -> anyhow::Result<()> {
        step(
            3,
            "ingesting every source: UKE claims, DPC, care claims, checkups, JP-CLINS FHIR, eligibility",
        );
        if self.progress.ingest {
            return skipped();
        }
        // The population's ground truth is not a source.
        let dirs: Vec<String> = ["uke", "dpc", "care", "checkups", "fhir", "eligibility"]
            .iter()
            .map(|d| self.sources().join(d))
            .filter(|d| d.is_dir())
            .map(|d| d.display().to_string())
            .collect();
        let mut args = vec!["ingest"];
        args.extend(dirs.iter().map(String::as_str));
        let report = self.niji(&args)?;
        done(format!(
            "{} files, {} records in {:.1} s ({} already there)",
            report["ingested"],
            report["records"],
            report["seconds"].as_f64().unwrap_or(0.0),
            report["duplicates"]
        ));
        self.progress.ingest = true;
        self.save()
    }

    fn link(&mut self) -> anyhow::Result<()> {
        step(4, "linking records into persons by keyed hashes");
        if self.progress.link {
            return skipped();
        }
        let report = self.niji(&["link"])?;
        done(format!(
            "{} records into {} persons",
            report["records"], report["persons"]
        ));
        self.progress.link = true;
        self.save()
    }

    fn releases(&mut self) -> anyhow::Result<()> {
        step(
            5,
            "building an anonymized and a pseudonymized release from the example policies",
        );
        // The builds lock the store: look, and let go of it, first.
        let missing: Vec<(&str, &str, &str)> = {
            let store = super::open_store(&self.config)?;
            let mut missing = Vec::new();
            for release in RELEASES {
                if store.release(release.0)?.is_none() {
                    missing.push(release);
                }
            }
            missing
        };
        if missing.is_empty() {
            return skipped();
        }
        let policies = self.sources().join("policies");
        std::fs::create_dir_all(&policies).with_context(|| policies.display().to_string())?;
        let mut built = Vec::new();
        for (name, file, text) in missing {
            let policy = policies.join(file);
            std::fs::write(&policy, text).with_context(|| policy.display().to_string())?;
            let policy = policy.display().to_string();
            let report = self.niji(&["release", "build", "--policy", &policy, "--name", name])?;
            // Its dummy data, for the researcher to develop on: the same
            // policy over a small synthetic population of its own.
            let dummy = self.niji(&["release", "dummy", name, "--persons", "500"])?;
            built.push(format!(
                "{name}: {}, {} persons (dummy data: {} synthetic persons)",
                report["tier"].as_str().unwrap_or("?"),
                report["persons"],
                dummy["persons"]
            ));
        }
        done(built.join("; "));
        Ok(())
    }

    fn accounts(&mut self) -> anyhow::Result<()> {
        step(
            6,
            "creating the demo's organizations and accounts (public passwords)",
        );
        let store = super::open_store(&self.config)?;
        let known: HashSet<String> = store.organizations()?.into_iter().map(|o| o.name).collect();
        for (name, certified) in ORGANIZATIONS {
            if !known.contains(name) {
                store.add_organization(name, certified, niji_store::Actor::Operator("demo"))?;
            }
        }
        let password = SecretString::new(PASSWORD.into());
        let mut made = 0;
        for (name, role, organization) in ACCOUNTS {
            if store.account(name)?.is_none() {
                store.add_account(
                    name,
                    role,
                    &password,
                    Some(organization),
                    niji_store::Actor::Operator("demo"),
                )?;
                made += 1;
            }
        }
        done(format!("{made} accounts created"));
        Ok(())
    }

    fn project(&mut self) -> anyhow::Result<()> {
        step(
            7,
            "filing the researcher's application; two reviewers approve it",
        );
        if self.progress.project.is_some() {
            return skipped();
        }
        let store = super::open_store(&self.config)?;
        let researcher = account(&store, "researcher")?;
        let app = store.create_application(&researcher, &application())?;
        store.submit_application(&researcher, app.id)?;
        let quorum = self.config.review.quorum;
        let reviewers = ["reviewer1", "reviewer2"];
        let mut grant = None;
        for (n, reviewer) in reviewers.iter().enumerate() {
            let last = n + 1 == reviewers.len();
            let outcome = store.review_application(
                &account(&store, reviewer)?,
                app.id,
                Decision::Approve,
                "Purpose and columns match; the acro rules apply to every output.",
                last.then(conditions).as_ref(),
                quorum,
            )?;
            grant = outcome.grant.map(|g| g.id).or(grant);
        }
        let project = grant
            .context("the reviewers' approvals did not make a grant: is review.quorum above 2?")?;
        done(format!(
            "application {} approved: project {project}",
            app.id
        ));
        self.progress.project = Some(project);
        self.save()
    }

    fn citizen(&mut self) -> anyhow::Result<()> {
        step(
            8,
            &format!("enrolling `{CITIZEN}`, a person in both releases, with an enrolment code"),
        );
        if self.progress.citizen.is_some() {
            return skipped();
        }
        let store = super::open_store(&self.config)?;
        let keystore = store.unlock(&passphrase())?;
        let tokenizer = Tokenizer::new(store.open_key(&keystore, "linkage")?.hmac_key()?);
        let staging = Staging::open(self.data())?;
        let mut members = Vec::new();
        for (name, _, _) in RELEASES {
            let info = store
                .release(name)?
                .with_context(|| format!("release `{name}` is missing"))?;
            members.push(
                store
                    .release_members(info.release_id)?
                    .into_iter()
                    .collect::<HashSet<i64>>(),
            );
        }
        let truth = Truth::read(&self.sources().join("truth"))?;
        let (card, persons) = truth
            .candidates()
            .find_map(|card| {
                let persons = staging.insured_persons(&tokenizer, &card.identity()).ok()?;
                let everywhere = members
                    .iter()
                    .all(|m| persons.iter().any(|p| m.contains(p)));
                (everywhere && !persons.is_empty()).then_some((card, persons))
            })
            .context("no insured person of the population is in both releases")?;
        let claim = tokenizer
            .enrolment_claim(&card.identity())
            .context("the chosen person's card is incomplete")?;
        let admin = account(&store, "admin")?;
        let code = store.issue_enrolment_code(&admin, &claim)?;
        store.enrol_as(
            CITIZEN,
            code.code.expose(),
            &claim,
            &persons,
            &SecretString::new(PASSWORD.into()),
        )?;
        // The birth date parsed as a date above, so it is `YYYY-MM-DD`.
        let birth_month = card.birth.get(..7).unwrap_or_default().to_owned();
        done(format!(
            "enrolled with a synthetic card (insurer {}, born {birth_month})",
            card.insurer
        ));
        self.progress.citizen = Some(CitizenRow {
            birth_month,
            sex: card.sex.clone(),
        });
        self.save()
    }

    /// The researcher's queries, over HTTP with a token of the project:
    /// what gives the citizen something to see.
    fn queries(&mut self, url: &str, token: Option<SecretString>) -> anyhow::Result<()> {
        step(
            9,
            "running the researcher's queries through the gate: aggregate, DP and row-level",
        );
        if self.progress.queries {
            return skipped();
        }
        let (Some(project), Some(citizen), Some(token)) =
            (self.progress.project, self.progress.citizen.clone(), token)
        else {
            bail!("the project, its token and the citizen come before the queries");
        };
        let client = Api::new(url, token.expose());
        let base = format!("/api/v1/projects/{project}");
        let aggregate = client.post(
            &format!("{base}/queries"),
            json!({"sql": "SELECT prefecture, sex, count(*) AS persons FROM claims_persons \
                          GROUP BY prefecture, sex ORDER BY prefecture, sex"}),
        )?;
        let suppressed = aggregate["cells"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter(|c| *c == "suppressed" || *c == "secondary")
                    .count()
            })
            .unwrap_or(0);
        let dp = client.post(
            &format!("{base}/dp-queries"),
            json!({"table": "claims_persons", "group_by": [{"column": "sex", "keyset": "sex"}],
                   "measures": [{"kind": "count"}], "rho": 0.05}),
        )?;
        let rows = client.post(
            &format!("{base}/queries"),
            json!({"sql": format!(
                "SELECT pseudonym, birth_month, sex, main_diagnosis FROM charts_persons \
                 WHERE birth_month = '{}' AND sex = '{}' ORDER BY pseudonym",
                citizen.birth_month, citizen.sex
            )}),
        )?;
        // A maximum goes to the airlock: something for the reviewers.
        let held = client.post(
            &format!("{base}/queries"),
            json!({"sql": "SELECT sex, max(age) AS oldest_band, count(*) AS persons \
                           FROM claims_persons GROUP BY sex ORDER BY sex"}),
        )?;
        done(format!(
            "aggregate ({suppressed} small cells suppressed), DP count (ρ {:.2} spent), \
             {} chart rows shown, 1 result held in the airlock (#{})",
            dp["rho"].as_f64().unwrap_or(0.0),
            rows["rows"].as_array().map_or(0, Vec::len),
            held["airlock"]
        ));
        self.progress.queries = true;
        self.save()
    }

    /// A token of the project for the researcher, when the queries are
    /// still to run: its last day is the grant's, and it is never shown.
    fn token(&self) -> anyhow::Result<Option<SecretString>> {
        let Some(project) = self.progress.project.filter(|_| !self.progress.queries) else {
            return Ok(None);
        };
        let store = super::open_store(&self.config)?;
        let researcher = account(&store, "researcher")?;
        let grant = store.grant(project)?;
        let (_, token) = store.create_api_token(&researcher, project, &grant.conditions.expires)?;
        Ok(Some(token))
    }
}

fn account(store: &Store, name: &str) -> anyhow::Result<Account> {
    store
        .account(name)?
        .with_context(|| format!("the demo account `{name}` is missing"))
}

/// The researcher's application: both releases, the pseudonymized tier
/// (a certified organization).
fn application() -> ApplicationForm {
    ApplicationForm {
        title: PROJECT.into(),
        purpose: "public-health-policy".into(),
        lay_summary: "How often people of each age and sex use care, and a look at the charts \
                      of a few patients to check how diagnoses are recorded."
            .into(),
        members: Vec::new(),
        items: items(),
        tier: "pseudonymized".into(),
        starts: "2026-01-01".into(),
        ends: "2030-12-31".into(),
    }
}

fn items() -> Vec<Item> {
    let item = |release: &str, table: &str, column: &str| Item {
        release: release.into(),
        table: table.into(),
        column: column.into(),
    };
    vec![
        item("claims", "persons", "age"),
        item("claims", "persons", "sex"),
        item("claims", "persons", "prefecture"),
        item("claims", "claims", "kind"),
        item("claims", "claims", "start"),
        item("claims", "claims", "inpatient"),
        item("charts", "persons", "pseudonym"),
        item("charts", "persons", "birth_month"),
        item("charts", "persons", "sex"),
        item("charts", "persons", "main_diagnosis"),
    ]
}

fn conditions() -> Conditions {
    Conditions {
        items: items(),
        rule_set: "acro".into(),
        row_level: true,
        publish_queries: true,
        dp_rho: 1.0,
        expires: "2030-12-31".into(),
    }
}

/// One insured person of the synthetic population, from its ground truth
/// (the only place the demo's identifiers live: they are synthetic).
struct Card {
    insurer: String,
    symbol: String,
    number: String,
    branch: String,
    birth: String,
    sex: String,
}

impl Card {
    fn identity(&self) -> Identity<'_> {
        Identity {
            insurer: Some(&self.insurer),
            symbol: Some(&self.symbol),
            number: Some(&self.number),
            branch: Some(&self.branch),
            birth: chrono_date(&self.birth),
            ..Identity::default()
        }
    }
}

fn chrono_date(text: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// The ground truth's persons, cards and which sources hold their records.
struct Truth {
    /// Living persons with a current card: id → card.
    cards: BTreeMap<u64, Card>,
    /// Persons with chart (FHIR) records, and with claims.
    charted: HashSet<u64>,
    claimed: HashSet<u64>,
}

impl Truth {
    fn read(dir: &Path) -> anyhow::Result<Self> {
        let mut persons: BTreeMap<u64, (String, String)> = BTreeMap::new();
        for row in csv_rows(&dir.join("persons.csv"))? {
            // person_id, sex, birth_date, death_date, …
            if row[3].is_empty() {
                persons.insert(row[0].parse()?, (row[1].clone(), row[2].clone()));
            }
        }
        let mut cards = BTreeMap::new();
        for row in csv_rows(&dir.join("insurance.csv"))? {
            // person_id, valid_from, valid_to, insurer, symbol, number, branch
            let id: u64 = row[0].parse()?;
            if let (true, Some((sex, birth))) = (row[2].is_empty(), persons.get(&id)) {
                cards.insert(
                    id,
                    Card {
                        insurer: row[3].clone(),
                        symbol: row[4].clone(),
                        number: row[5].clone(),
                        branch: row[6].clone(),
                        birth: birth.clone(),
                        sex: sex.clone(),
                    },
                );
            }
        }
        let (mut charted, mut claimed) = (HashSet::new(), HashSet::new());
        for row in csv_rows(&dir.join("records.csv"))? {
            // file, locator, person_id
            let id: u64 = row[2].parse()?;
            if row[0].starts_with("fhir/") {
                charted.insert(id);
            } else if row[0].starts_with("uke/") {
                claimed.insert(id);
            }
        }
        Ok(Self {
            cards,
            charted,
            claimed,
        })
    }

    /// Persons with charts and claims, in id order.
    fn candidates(&self) -> impl Iterator<Item = &Card> {
        self.cards
            .iter()
            .filter(|(id, _)| self.charted.contains(id) && self.claimed.contains(id))
            .map(|(_, card)| card)
    }
}

fn csv_rows(path: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| path.display().to_string())?;
    reader
        .records()
        .map(|r| {
            r.map(|r| r.iter().map(str::to_owned).collect())
                .with_context(|| path.display().to_string())
        })
        .collect()
}

/// The API, as a project's token holder calls it.
struct Api {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl Api {
    fn new(url: &str, token: &str) -> Self {
        Self {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            url: url.to_owned(),
            token: token.to_owned(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let mut response = match body {
            Some(body) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            None if method == "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            None => bail!("{method} {path}: not a call the demo makes"),
        }
        .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{method} {path}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path}: {status}: {}",
                value["detail"].as_str().unwrap_or(&value.to_string())
            );
        }
        Ok(value)
    }

    /// POSTs an analysis request and follows it to its result when it
    /// became a job.
    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let answer = self.call("POST", path, Some(body))?;
        let Some(job) = answer["job"].as_str().map(str::to_owned) else {
            return Ok(answer);
        };
        loop {
            let status = self.call("GET", &format!("/api/v1/jobs/{job}"), None)?;
            if status["status"] != "running" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        self.call("GET", &format!("/api/v1/jobs/{job}/result"), None)
    }
}

fn step(n: usize, what: &str) {
    eprintln!("[{n}/{STEPS}] {what}");
}

fn done(summary: String) {
    eprintln!("      {summary}");
}

fn skipped() -> anyhow::Result<()> {
    eprintln!("      done before: reused");
    Ok(())
}

fn print_welcome(url: &str, started: Instant) {
    let mut out = format!(
        "\nniji demo is ready ({:.0} s). Synthetic data only: every password below is public.\n\n",
        started.elapsed().as_secs_f64()
    );
    for (what, path) in [
        ("web pages", "/"),
        ("citizen's page", "/me"),
        ("review board", "/reviews"),
        ("API description", "/api/openapi.json"),
        ("access log checkpoint", "/log/checkpoint"),
    ] {
        out += &format!("  {what:<22} {url}{path}\n");
    }
    out += &format!(
        "\n  {:<20} {:<11} {:<19} password\n",
        "account", "role", "organization"
    );
    out += &format!("  {:<20} {:<11} {:<19} {PASSWORD}\n", "admin", "admin", "-");
    for (name, role, organization) in ACCOUNTS {
        out += &format!(
            "  {name:<20} {:<11} {organization:<19} {PASSWORD}\n",
            role.as_str()
        );
    }
    out += &format!("  {CITIZEN:<20} {:<11} {:<19} {PASSWORD}\n", "citizen", "-");
    out += "\nStop with Ctrl-C. `niji serve` starts the server again on the same data.\n";
    println!("{out}");
}
