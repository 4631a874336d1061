//! A project as the benchmarks make one: an application submitted and
//! approved by two reviewers, through the store's own governance rules.

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
