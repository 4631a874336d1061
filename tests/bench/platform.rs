//! What the server benchmarks share: a project as they make one (an
//! application submitted and approved by two reviewers, through the
//! store's own governance rules), and the server on a data directory.

use niji_store::{Account, ApplicationForm, Conditions, Decision, Store};

/// `form` by `applicant`, submitted and approved by `reviewers` (two) under
/// `conditions`: the grant's id.
pub fn approved(
    store: &Store,
    applicant: &Account,
    reviewers: &[Account],
    form: &ApplicationForm,
    conditions: &Conditions,
) -> i64 {
    let app = store.create_application(applicant, form).unwrap();
    store.submit_application(applicant, app.id).unwrap();
    let mut grant = None;
    for reviewer in reviewers {
        let outcome = store
            .review_application(reviewer, app.id, Decision::Approve, "", Some(conditions), 2)
            .unwrap();
        grant = outcome.grant.or(grant);
    }
    grant.expect("two approvals make the grant").id
}

/// The server on the data directory (keystore unlocked with `passphrase`),
/// on a loopback port, its state changed by `with`: its URL.
pub async fn serve(
    dir: &std::path::Path,
    passphrase: &str,
    with: impl FnOnce(niji_server::AppState) -> niji_server::AppState,
) -> String {
    let store = Store::open(dir).unwrap();
    let keystore = store
        .unlock(&niji_core::SecretString::new(passphrase.into()))
        .unwrap();
    let key = store
        .open_key(&keystore, "linkage")
        .unwrap()
        .hmac_key()
        .unwrap();
    let state = niji_server::AppState::new(store, dir, niji_linkage::Tokenizer::new(key));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(niji_server::serve(
        listener,
        with(state),
        std::future::pending(),
    ));
    url
}
