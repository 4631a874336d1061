//! `POST /fhir/Bundle` on the real `niji serve`, over real HTTP: credentials
//! per facility, the answers a source system gets, and what lands in the
//! staging store.

use crate::common::*;

use serde_json::Value;

use std::path::PathBuf;

const FIXTURES: &str = "../shared/fixtures/fhir/jp-clins";
/// The custodian of the Referral example is facility 1319876543.
const REFERRAL: &str = "Bundle-Bundle-CLINS-Referral-Example-01.json";
const OBSERVATIONS: &str = "Bundle-Bundle-CLINS-Observations-Example-01.json";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(FIXTURES)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A running `niji serve`, killed when dropped.
struct Reply {
    status: u16,
    batch: Option<i64>,
    www_authenticate: Option<String>,
    content_type: String,
    body: Value,
}

fn post(server: &Server, credential: Option<&str>, content_type: &str, body: &[u8]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(format!("{}/fhir/Bundle", server.url))
        .header("Content-Type", content_type);
    if let Some(c) = credential {
        request = request.header("Authorization", format!("Bearer {c}"));
    }
    let mut response = request.send(body).unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let batch = header("x-niji-batch").map(|v| v.parse().unwrap());
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type").unwrap_or_default();
    let text = response.body_mut().read_to_string().unwrap();
    Reply {
        status: response.status().as_u16(),
        batch,
        www_authenticate,
        content_type,
        body: serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    }
}

fn add_source(env: &Env, facility: &str) -> String {
    let out = json(
        &env.niji(&["sources", "add", "--facility", facility, "--json"])
            .output()
            .unwrap(),
    );
    out["credential"].as_str().unwrap().to_owned()
}

/// The expressions of an OperationOutcome's issues.
fn expressions(body: &Value) -> Vec<String> {
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
    body["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str().map(str::to_owned))
        .collect()
}

const FHIR: &str = "application/fhir+json";

#[test]
fn source_systems_post_bundles_and_get_fhir_answers() {
    let env = Env::new();
    ok(&env.init(&[]));
    let referrer = add_source(&env, "1319876543");
    let other = add_source(&env, "1311234567");
    let server = Server::start(&env);
    let referral = fixture(REFERRAL);

    // Without a valid credential: 401, a challenge, an OperationOutcome.
    let mut wrong = other.clone();
    wrong.push('0');
    for credential in [None, Some("not-a-credential"), Some(wrong.as_str())] {
        let reply = post(&server, credential, FHIR, &referral);
        assert_eq!(reply.status, 401, "{credential:?}: {}", reply.body);
        assert_eq!(
            reply.www_authenticate.as_deref(),
            Some("Bearer realm=\"niji-fhir\"")
        );
        assert_eq!(reply.content_type, FHIR);
        assert_eq!(reply.body["issue"][0]["code"], "login");
    }

    // A valid credential of another facility than the document's custodian: 403.
    let reply = post(&server, Some(&other), FHIR, &referral);
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.body["issue"][0]["code"], "forbidden");

    // The custodian's own source system: 201 with the batch; again: 200, same batch.
    let created = post(&server, Some(&referrer), FHIR, &referral);
    assert_eq!(created.status, 201, "{}", created.body);
    let batch = created.batch.expect("x-niji-batch header");
    assert_eq!(created.body["issue"][0]["severity"], "information");
    assert!(
        created.body["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .ends_with(&format!("batch {batch}"))
    );
    let again = post(&server, Some(&referrer), FHIR, &referral);
    assert_eq!(
        (again.status, again.batch),
        (200, Some(batch)),
        "{}",
        again.body
    );

    // A collection Bundle names no custodian: any facility's system may send it.
    let observations = fixture(OBSERVATIONS);
    let reply = post(
        &server,
        Some(&other),
        "application/json; charset=utf-8",
        &observations,
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let observations_batch = reply.batch.unwrap();

    // Larger than the limit (16 MiB): 413, and the server goes on.
    // The server may answer before the body is all sent and close the
    // connection; the client then sees the pipe broken instead of the 413.
    let huge = vec![b' '; 17 << 20];
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    match agent
        .post(format!("{}/fhir/Bundle", server.url))
        .header("Content-Type", FHIR)
        .header("Authorization", format!("Bearer {other}"))
        .send(&huge[..])
    {
        Ok(reply) => assert_eq!(reply.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(e) => panic!("{e}"),
    }

    // Not FHIR JSON: 415. Not JSON, not a Bundle: 400 with where.
    assert_eq!(
        post(&server, Some(&other), "text/plain", &observations).status,
        415
    );
    let reply = post(
        &server,
        Some(&other),
        FHIR,
        b"{\"resourceType\": \"Bundle\", ",
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["issue"][0]["code"], "structure");
    let patient = fixture("Patient-Example-JP-Patient-eCS-MAKINO.json");
    let reply = post(&server, Some(&other), FHIR, &patient);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(expressions(&reply.body), ["resourceType"]);

    // A Bundle whose resources fail their checks: 422 naming each issue's
    // path, and nothing written.
    let mut bad: Value = serde_json::from_slice(&observations).unwrap();
    bad["id"] = "changed-so-the-bytes-differ".into();
    bad["entry"][1]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    bad["entry"][2]["resource"]["code"]["coding"] = Value::Array(vec![]);
    let reply = post(
        &server,
        Some(&other),
        FHIR,
        &serde_json::to_vec(&bad).unwrap(),
    );
    assert_eq!(reply.status, 422, "{}", reply.body);
    let paths = expressions(&reply.body);
    assert_eq!(paths.len(), 2, "{}", reply.body);
    assert!(
        paths[0].starts_with("Bundle.entry[1].resource.status"),
        "{paths:?}"
    );
    assert!(
        paths[1].starts_with("Bundle.entry[2].resource.code"),
        "{paths:?}"
    );
    assert!(
        reply.body.to_string().len() < 2000,
        "the answer echoes no resource"
    );

    server.stop();

    // What landed: two batches, stamped with the sending facility where the
    // Bundle names none, and the refused Bundle nowhere.
    let staging = niji_ingest::Staging::open(&env.data()).unwrap();
    let batches = staging.batches().unwrap();
    assert_eq!(batches.len(), 2, "{batches:?}");
    let facility = |batch: i64| -> Vec<String> {
        let mut stmt = staging
            .connection()
            .prepare("SELECT DISTINCT facility FROM subjects WHERE batch_id = ?")
            .unwrap();
        stmt.query_map([batch], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(facility(batch), ["1319876543"]);
    assert_eq!(facility(observations_batch), ["1311234567"]);
    drop(staging);

    // A revoked credential is refused from the next start on.
    let listed = json(&env.niji(&["sources", "list", "--json"]).output().unwrap());
    let id = listed[1]["client_id"].as_str().unwrap().to_owned();
    assert!(other.starts_with(&format!("{id}.")));
    assert!(
        !listed
            .to_string()
            .contains(other.split('.').nth(1).unwrap()),
        "list shows no secret"
    );
    ok(&env.niji(&["sources", "revoke", &id]).output().unwrap());
    let server = Server::start(&env);
    assert_eq!(post(&server, Some(&other), FHIR, &observations).status, 401);
    assert_eq!(post(&server, Some(&referrer), FHIR, &referral).status, 200);
}
