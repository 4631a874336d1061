//! Applications, reviews and grants in the store: the whole flow and each
//! refusal the rules make.

use niji_audit::event::{EventKind, Subject};
use niji_core::{Role, SecretString};
use niji_store::{
    Account, ApplicationForm, Conditions, Decision, Item, Store, StoreError, Verdict,
};

fn account(name: &str, role: Role) -> Account {
    Account {
        name: name.into(),
        role,
        created_at: String::new(),
    }
}

fn item(table: &str, column: &str) -> Item {
    Item {
        release: "claims-2024".into(),
        table: table.into(),
        column: column.into(),
    }
}

fn form(tier: &str) -> ApplicationForm {
    ApplicationForm {
        title: "Statins and falls in the elderly".into(),
        purpose: "academic-research".into(),
        lay_summary: "Do statins change how often older people fall?".into(),
        members: vec!["carol".into()],
        items: vec![
            item("persons", "age"),
            item("persons", "sex"),
            item("drugs", "code"),
        ],
        tier: tier.into(),
        starts: "2026-01-01".into(),
        ends: "2027-12-31".into(),
    }
}

fn conditions() -> Conditions {
    Conditions {
        // Sorted, as the store returns them.
        items: vec![item("drugs", "code"), item("persons", "age")],
        rule_set: "ndb".into(),
        row_level: false,
        publish_queries: false,
        dp_rho: 0.5,
        expires: "2099-12-31".into(),
    }
}

/// A store with organizations: certified `univ`, uncertified `startup`,
/// and the review board's `board`; researchers alice (univ), bob
/// (startup); reviewers rev1 and rev2 (board) and rev3 (univ).
fn setup() -> (crate::Place, Store) {
    let dir = crate::Place::new();
    let mut store = dir.create();
    store
        .initialize(
            &SecretString::new("governance-test-passphrase".into()),
            "admin",
            &SecretString::new("governance-admin-password".into()),
        )
        .unwrap();
    store
        .add_organization("univ", true, niji_store::Actor::Operator("admin"))
        .unwrap();
    store
        .add_organization("startup", false, niji_store::Actor::Operator("admin"))
        .unwrap();
    store
        .add_organization("board", false, niji_store::Actor::Operator("admin"))
        .unwrap();
    // Accounts, since an application's members must be researchers'.
    let password = SecretString::new("governance-account-password".into());
    for (who, role, org) in [
        ("alice", Role::Researcher, "univ"),
        ("carol", Role::Researcher, "univ"),
        ("bob", Role::Researcher, "startup"),
        ("rev1", Role::Reviewer, "board"),
        ("rev2", Role::Reviewer, "board"),
        ("rev3", Role::Reviewer, "univ"),
    ] {
        store
            .add_account(
                who,
                role,
                &password,
                Some(org),
                niji_store::Actor::Operator("admin"),
            )
            .unwrap();
    }
    (dir, store)
}

/// Alice's application, submitted and approved by `rev1` alone (a
/// quorum of one): its grant.
fn alices_grant(store: &Store, alice: &Account, rev1: &Account) -> niji_store::Grant {
    let app = store
        .create_application(alice, &form("anonymized"))
        .unwrap();
    store.submit_application(alice, app.id).unwrap();
    store
        .review_application(rev1, app.id, Decision::Approve, "", Some(&conditions()), 1)
        .unwrap()
        .grant
        .unwrap()
}

fn refusal(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Refused(reason) | StoreError::Forbidden(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_application_is_reviewed_granted_registered_and_revoked() {
    let (_dir, store) = setup();
    let (alice, rev1, rev2, rev3) = (
        account("alice", Role::Researcher),
        account("rev1", Role::Reviewer),
        account("rev2", Role::Reviewer),
        account("rev3", Role::Reviewer),
    );
    let app = store
        .create_application(&alice, &form("anonymized"))
        .unwrap();
    assert_eq!(
        (app.status.as_str(), app.organization.as_str()),
        ("draft", "univ")
    );
    assert_eq!(app.form.members, ["carol"]);
    assert!(
        store.review_queue(&rev1).unwrap().is_empty(),
        "a draft is not in the queue"
    );
    let app = store.submit_application(&alice, app.id).unwrap();
    assert_eq!((app.status.as_str(), app.round), ("submitted", 1));

    // Conflict of interest: rev3 is of the applicant's organization.
    assert!(store.review_queue(&rev3).unwrap().is_empty());
    let coi = refusal(store.review_application(&rev3, app.id, Decision::Approve, "", None, 2));
    assert!(coi.contains("conflict of interest"), "{coi}");
    // A researcher does not review.
    let role = refusal(store.review_application(&alice, app.id, Decision::Approve, "", None, 2));
    assert!(role.contains("may not do this"), "{role}");

    assert_eq!(store.review_queue(&rev1).unwrap().len(), 1);
    let first = store
        .review_application(&rev1, app.id, Decision::Approve, "fine", None, 2)
        .unwrap();
    assert_eq!(
        (
            first.status.as_str(),
            first.approvals,
            first.grant.is_none()
        ),
        ("submitted", 1, true)
    );
    let twice = refusal(store.review_application(&rev1, app.id, Decision::Approve, "", None, 2));
    assert!(twice.contains("has reviewed"), "{twice}");
    assert!(store.review_queue(&rev1).unwrap().is_empty());

    // The approval completing the quorum sets conditions within the request.
    let none = refusal(store.review_application(&rev2, app.id, Decision::Approve, "", None, 2));
    assert!(none.contains("sets the grant's conditions"), "{none}");
    let mut wider = conditions();
    wider.items.push(item("persons", "prefecture"));
    let wider =
        refusal(store.review_application(&rev2, app.id, Decision::Approve, "", Some(&wider), 2));
    assert!(
        wider.contains("claims-2024.persons.prefecture was not"),
        "{wider}"
    );
    let mut rows = conditions();
    rows.row_level = true;
    let rows =
        refusal(store.review_application(&rev2, app.id, Decision::Approve, "", Some(&rows), 2));
    assert!(rows.contains("row-level results only"), "{rows}");
    let done = store
        .review_application(
            &rev2,
            app.id,
            Decision::Approve,
            "ok",
            Some(&conditions()),
            2,
        )
        .unwrap();
    assert_eq!(done.status, "approved");
    let grant = done.grant.unwrap();
    assert!(grant.active);
    assert_eq!(grant.conditions, conditions());

    let register = store.register().unwrap();
    assert_eq!(register.len(), 1);
    assert_eq!(register[0].title, "Statins and falls in the elderly");
    assert_eq!(register[0].releases, ["claims-2024"]);
    assert!(register[0].active);

    // Revocation: by the board's quorum, never by one reviewer alone, and
    // never by one in conflict with the project; always with reasons.
    assert!(
        refusal(store.revoke_grant(&rev1, grant.id, " ", 2)).contains("reasons"),
        "no reasons"
    );
    let coi = refusal(store.revoke_grant(&rev3, grant.id, "I dislike it", 2));
    assert!(coi.contains("conflict of interest"), "{coi}");
    let asked = store
        .revoke_grant(&rev1, grant.id, "data used beyond the grant", 2)
        .unwrap();
    assert!(asked.grant.active, "one reviewer does not revoke");
    assert_eq!((asked.asked, asked.needed), (1, 2));
    assert!(
        refusal(store.revoke_grant(&rev1, grant.id, "again", 2)).contains("already"),
        "one request per reviewer"
    );
    let revoked = store
        .revoke_grant(&rev2, grant.id, "confirmed with the data holder", 2)
        .unwrap();
    assert!(!revoked.grant.active && revoked.grant.revoked_at.is_some());
    assert!(!store.register().unwrap()[0].active);
    let again =
        refusal(store.revoke_grant(&account("admin", Role::Admin), grant.id, "a reason", 2));
    assert!(again.contains("already revoked"), "{again}");
    assert!(
        refusal(store.revoke_grant(&alice, grant.id, "a reason", 2)).contains("may not do this")
    );

    let kinds: Vec<String> = store
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "application.create",
        "application.submit",
        "application.review",
        "grant.create",
        "grant.revoke",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn the_rules_refuse_what_they_must() {
    let (_dir, store) = setup();
    let (alice, bob, rev1, rev2) = (
        account("alice", Role::Researcher),
        account("bob", Role::Researcher),
        account("rev1", Role::Reviewer),
        account("rev2", Role::Reviewer),
    );
    // The pseudonymized tier from an uncertified organization: refused at
    // submission, not before.
    let app = store
        .create_application(&bob, &form("pseudonymized"))
        .unwrap();
    let uncertified = refusal(store.submit_application(&bob, app.id));
    assert!(
        uncertified.contains("`startup` is not certified"),
        "{uncertified}"
    );
    // A certified one may.
    let ok = store
        .create_application(&alice, &form("pseudonymized"))
        .unwrap();
    assert_eq!(
        store.submit_application(&alice, ok.id).unwrap().status,
        "submitted"
    );

    // A purpose outside the catalogue.
    let mut f = form("anonymized");
    f.purpose = "marketing".into();
    let app = store.create_application(&alice, &f).unwrap();
    assert!(refusal(store.submit_application(&alice, app.id)).contains("not in the catalogue"));
    // Someone else's draft.
    assert!(refusal(store.submit_application(&bob, app.id)).contains("is not `bob`'s"));

    // A reviewer cannot be listed as a member (and so leave the review).
    let mut f = form("anonymized");
    f.members.push("rev1".into());
    assert!(refusal(store.create_application(&alice, &f)).contains("members are researchers"));

    // One rejection returns it with reasons; the next round starts afresh.
    let app = store
        .create_application(&alice, &form("anonymized"))
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    store
        .review_application(&rev1, app.id, Decision::Approve, "", None, 2)
        .unwrap();
    assert!(
        refusal(store.review_application(&rev2, app.id, Decision::Reject, " ", None, 2))
            .contains("needs its reasons")
    );
    let back = store
        .review_application(&rev2, app.id, Decision::Reject, "too many columns", None, 2)
        .unwrap();
    assert_eq!(back.status, "returned");
    let mut f = form("anonymized");
    f.items.pop();
    store.update_application(&alice, app.id, &f).unwrap();
    let resubmitted = store.submit_application(&alice, app.id).unwrap();
    assert_eq!(resubmitted.round, 2);
    let one = store
        .review_application(&rev2, app.id, Decision::Approve, "", None, 2)
        .unwrap();
    assert_eq!(
        (one.status.as_str(), one.approvals),
        ("submitted", 1),
        "round 1's approval does not count"
    );

    // Withdrawn is final for that submission.
    let app = store
        .create_application(&alice, &form("anonymized"))
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    assert_eq!(
        store.withdraw_application(&alice, app.id).unwrap().status,
        "withdrawn"
    );
    assert!(refusal(store.submit_application(&alice, app.id)).contains("is withdrawn"));
    assert!(
        refusal(store.update_application(&alice, app.id, &form("anonymized")))
            .contains("is withdrawn")
    );

    // A grant past its expiry is not in force.
    let app = store
        .create_application(&alice, &form("anonymized"))
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    let mut past = conditions();
    past.expires = "2020-01-31".into();
    let done = store
        .review_application(&rev1, app.id, Decision::Approve, "", Some(&past), 1)
        .unwrap();
    let grant = done.grant.unwrap();
    assert!(!grant.active, "expired");
    assert_eq!(grant.conditions.expires, "2020-01-31");
}

#[test]
fn api_tokens_follow_their_project() {
    let (_dir, store) = setup();
    let (alice, bob, rev1) = (
        account("alice", Role::Researcher),
        account("bob", Role::Researcher),
        account("rev1", Role::Reviewer),
    );
    let grant = alices_grant(&store, &alice, &rev1);
    // Members only, and never past the grant.
    assert!(refusal(store.create_api_token(&bob, grant.id, "2030-01-01")).contains("not a member"));
    assert!(
        refusal(store.create_api_token(&alice, grant.id, "2100-01-01")).contains("may not outlive")
    );
    let (token, secret) = store
        .create_api_token(&alice, grant.id, "2030-01-01")
        .unwrap();
    assert!(secret.expose().starts_with(&format!("{}.", token.token_id)));
    assert_eq!(store.check_api_token(&secret).unwrap(), Ok(token.clone()));
    // A wrong secret, a malformed one.
    let wrong = SecretString::new(format!("{}.{}", token.token_id, "0".repeat(64)));
    assert_eq!(
        store.check_api_token(&wrong).unwrap(),
        Err(niji_store::TokenRefusal::Unknown)
    );
    assert_eq!(
        store
            .check_api_token(&SecretString::new("nodot".into()))
            .unwrap(),
        Err(niji_store::TokenRefusal::Malformed)
    );
    // Revoking the grant stops the token at its next use.
    store.revoke_grant(&rev1, grant.id, "ended", 1).unwrap();
    assert_eq!(
        store.check_api_token(&secret).unwrap(),
        Err(niji_store::TokenRefusal::GrantInactive)
    );
    // Revoking the token: by its holder, not by another researcher.
    assert!(refusal(store.revoke_api_token(&bob, &token.token_id)).contains("is not `bob`'s"));
    store.revoke_api_token(&alice, &token.token_id).unwrap();
    let listed = store.api_tokens_of("alice").unwrap();
    assert!(
        listed
            .iter()
            .any(|t| t.token_id == token.token_id && t.revoked_at.is_some())
    );
    assert!(store.api_tokens_of("bob").unwrap().is_empty());
    assert_eq!(
        store.check_api_token(&secret).unwrap(),
        Err(niji_store::TokenRefusal::Revoked)
    );
    let kinds: Vec<String> = store
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"token.create".to_owned()) && kinds.contains(&"token.revoke".to_owned())
    );
    // The secret is in no stored row.
    let status = format!("{:?}", store.audit_events().unwrap());
    assert!(!status.contains(secret.expose().split_once('.').unwrap().1));
}

#[test]
fn the_purpose_catalogue_parses_and_has_legal_bases() {
    let purposes = niji_store::governance::purposes();
    assert!(purposes.len() >= 4);
    for id in [
        "academic-research",
        "drug-safety",
        "public-health-policy",
        "commercial-rd",
    ] {
        let p = purposes
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("{id}"));
        assert!(!p.legal_basis.is_empty() && !p.name_ja.is_empty());
    }
}

#[test]
fn organizations_list_their_members_and_certification() {
    let (_dir, store) = setup();
    let orgs = store.organizations().unwrap();
    let names: Vec<&str> = orgs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["board", "startup", "univ"]);
    let univ = orgs.iter().find(|o| o.name == "univ").unwrap();
    assert!(univ.certified);
    assert_eq!(univ.members, ["alice", "carol", "rev3"]);

    store
        .set_certified("startup", true, niji_store::Actor::Operator("admin"))
        .unwrap();
    let startup = store
        .organizations()
        .unwrap()
        .into_iter()
        .find(|o| o.name == "startup");
    assert!(startup.unwrap().certified);
    assert!(
        refusal(store.set_certified("nowhere", true, niji_store::Actor::Operator("admin")))
            .contains("no organization")
    );
    assert!(
        refusal(store.add_organization("univ", false, niji_store::Actor::Operator("admin")))
            .contains("exists")
    );
    assert!(
        refusal(store.add_organization(" ", false, niji_store::Actor::Operator("admin")))
            .contains("name")
    );
    assert_eq!(
        store.organization_name("alice").unwrap().as_deref(),
        Some("univ")
    );
    assert_eq!(store.organization_name("admin").unwrap(), None);
    let kinds: Vec<String> = store
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"organization.certify".to_string()));
}

#[test]
fn an_account_in_an_unknown_organization_is_not_created() {
    let (_dir, store) = setup();
    let password = SecretString::new("a long enough password".into());
    let err = refusal(store.add_account(
        "dave",
        Role::Researcher,
        &password,
        Some("nowhere"),
        niji_store::Actor::Operator("admin"),
    ));
    assert!(err.contains("no organization `nowhere`"), "{err}");
    assert_eq!(store.account("dave").unwrap(), None);
    store
        .add_account(
            "dave",
            Role::Researcher,
            &password,
            Some("startup"),
            niji_store::Actor::Operator("admin"),
        )
        .unwrap();
    assert_eq!(
        store.organization_name("dave").unwrap().as_deref(),
        Some("startup")
    );
}

#[test]
fn reviews_keep_their_rounds_and_reasons() {
    let (_dir, store) = setup();
    let (alice, rev1) = (
        account("alice", Role::Researcher),
        account("rev1", Role::Reviewer),
    );
    let app = store
        .create_application(&alice, &form("anonymized"))
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    store
        .review_application(&rev1, app.id, Decision::Changes, "name the drugs", None, 2)
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    store
        .review_application(
            &rev1,
            app.id,
            Decision::Approve,
            "fine now",
            Some(&conditions()),
            2,
        )
        .unwrap();
    let reviews = store.reviews_of(app.id).unwrap();
    let seen: Vec<(i32, &str, &str)> = reviews
        .iter()
        .map(|r| (r.round, r.decision.as_str(), r.comment.as_str()))
        .collect();
    assert_eq!(
        seen,
        [(1, "changes", "name the drugs"), (2, "approve", "fine now")]
    );
    assert_eq!(reviews[0].at.len(), 16, "{}", reviews[0].at);
}

#[test]
fn a_held_result_needs_two_outside_reviewers_and_one_rejection_stops_it() {
    let (_dir, store) = setup();
    let alice = account("alice", Role::Researcher);
    let (rev1, rev2, rev3) = (
        account("rev1", Role::Reviewer),
        account("rev2", Role::Reviewer),
        account("rev3", Role::Reviewer),
    );
    let mut f = form("anonymized");
    f.members = vec!["carol".into()];
    let app = store.create_application(&alice, &f).unwrap();
    store.submit_application(&alice, app.id).unwrap();
    store
        .review_application(&rev1, app.id, Decision::Approve, "", None, 2)
        .unwrap();
    let grant = store
        .review_application(&rev2, app.id, Decision::Approve, "", Some(&conditions()), 2)
        .unwrap()
        .grant
        .unwrap();

    let held = store
        .hold_result(
            "alice",
            grant.id,
            "SELECT max(x) FROM t",
            "{\"rows\":[]}",
            "[]",
        )
        .unwrap();
    // The author, a researcher and a member of the project may not check it.
    let carol = account("carol", Role::Researcher);
    assert!(refusal(store.review_result(&alice, held, Verdict::Release, "")).contains("reviewers"));
    assert!(refusal(store.review_result(&carol, held, Verdict::Release, "")).contains("reviewers"));
    assert!(refusal(store.review_result(&rev3, held, Verdict::Release, "")).contains("conflict"));
    assert_eq!(store.airlock_queue(&rev3).unwrap().len(), 0);
    assert_eq!(store.airlock_queue(&rev1).unwrap().len(), 1);

    let once = store
        .review_result(&rev1, held, Verdict::Release, "fine")
        .unwrap();
    assert_eq!(once.status, "held");
    assert!(refusal(store.review_result(&rev1, held, Verdict::Release, "")).contains("already"));
    assert_eq!(
        store.airlock_queue(&rev1).unwrap().len(),
        0,
        "checked already"
    );
    let twice = store
        .review_result(&rev2, held, Verdict::Release, "fine")
        .unwrap();
    assert_eq!(twice.status, "released");
    assert_eq!(twice.reviews.len(), 2);

    // Another one is rejected by one reviewer, with reasons.
    let other = store
        .hold_result("alice", grant.id, "SELECT min(x) FROM t", "{}", "[]")
        .unwrap();
    assert!(refusal(store.review_result(&rev2, other, Verdict::Reject, " ")).contains("reasons"));
    let rejected = store
        .review_result(&rev2, other, Verdict::Reject, "one person's value")
        .unwrap();
    assert_eq!(rejected.status, "rejected");
    assert!(
        refusal(store.review_result(&rev1, other, Verdict::Release, ""))
            .contains("rejected already")
    );
    let kinds: Vec<String> = store
        .audit_events()
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "airlock.hold",
        "airlock.review",
        "airlock.released",
        "airlock.rejected",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind}");
    }
}

#[test]
fn a_pseudonymized_release_is_for_certified_pseudonymized_projects_only() {
    let (_dir, mut store) = setup();
    let keystore = store
        .unlock(&SecretString::new("governance-test-passphrase".into()))
        .unwrap();
    store
        .add_release(
            &keystore,
            &niji_store::NewRelease {
                name: "charts",
                tier: "pseudonymized",
                policy_sha256: "0",
                policy: "",
                file: "releases/charts.duckdb",
                built_by: "admin",
                manifest: "{}",
                members: &[1, 2, 3],
                escrow: Some(&[7u8; 32]),
                tags: &[],
            },
        )
        .unwrap();
    let (alice, bob, rev1, rev2) = (
        account("alice", Role::Researcher),
        account("bob", Role::Researcher),
        account("rev1", Role::Reviewer),
        account("rev2", Role::Reviewer),
    );
    let charts = |tier: &str| {
        let mut f = form(tier);
        f.items = vec![Item {
            release: "charts".into(),
            table: "persons".into(),
            column: "sex".into(),
        }];
        f
    };
    // The anonymized tier does not reach a pseudonymized release, whoever
    // asks.
    for who in [&alice, &bob] {
        let app = store
            .create_application(who, &charts("anonymized"))
            .unwrap();
        let refused = refusal(store.submit_application(who, app.id));
        assert!(
            refused.contains("release `charts` is pseudonymized"),
            "{refused}"
        );
    }
    let app = store
        .create_application(&alice, &charts("pseudonymized"))
        .unwrap();
    store.submit_application(&alice, app.id).unwrap();
    let mut c = conditions();
    c.items = charts("pseudonymized").items;
    store
        .review_application(&rev1, app.id, Decision::Approve, "", None, 2)
        .unwrap();
    let grant = store
        .review_application(&rev2, app.id, Decision::Approve, "", Some(&c), 2)
        .unwrap()
        .grant
        .unwrap();
    assert!(grant.active);
    // Certification withdrawn: the grant is out of force at once.
    store
        .set_certified("univ", false, niji_store::Actor::Operator("admin"))
        .unwrap();
    let suspended = store.grant(grant.id).unwrap();
    assert!(!suspended.active && suspended.uncertified);
    store
        .set_certified("univ", true, niji_store::Actor::Operator("admin"))
        .unwrap();
    assert!(store.grant(grant.id).unwrap().active);
}

/// The store checks the role again, whatever its caller checked: an
/// account that is not an admin's creates no account or organization and
/// certifies none.
#[test]
fn only_an_admin_account_changes_accounts_and_organizations() {
    let (_dir, store) = setup();
    let password = SecretString::new("a long enough password".into());
    let admin = store.account("admin").unwrap().expect("the admin");
    for role in [Role::Researcher, Role::Reviewer, Role::Citizen] {
        let who = account("someone", role);
        let as_them = niji_store::Actor::Account(&who);
        let err = store
            .add_account("eve", Role::Admin, &password, None, as_them)
            .unwrap_err();
        assert!(matches!(err, StoreError::Forbidden(_)), "{err}");
        assert!(matches!(
            store.add_organization("lab", true, as_them),
            Err(StoreError::Forbidden(_))
        ));
        assert!(matches!(
            store.set_certified("startup", true, as_them),
            Err(StoreError::Forbidden(_))
        ));
    }
    assert_eq!(store.account("eve").unwrap(), None);
    assert!(
        !store
            .organizations()
            .unwrap()
            .iter()
            .any(|o| o.name == "lab")
    );
    store
        .add_account(
            "eve",
            Role::Reviewer,
            &password,
            Some("board"),
            niji_store::Actor::Account(&admin),
        )
        .unwrap();
}

/// A result's event is written only while its grant is in force for the
/// researcher, read in the transaction that writes it: lapsed (disabled,
/// revoked), a refusal takes its place in the log, with the reason.
#[test]
fn a_result_leaves_only_while_its_grant_is_in_force() {
    let (_dir, store) = setup();
    let (alice, rev1) = (
        account("alice", Role::Researcher),
        account("rev1", Role::Reviewer),
    );
    let grant = alices_grant(&store, &alice, &rev1);
    let result = |actor: &'static str| niji_store::NewEvent {
        actor,
        kind: EventKind::AnalysisQuery,
        subject: Subject::Project(grant.id),
        detail: r#"{"sql":"SELECT sex, count(*) FROM persons GROUP BY sex"}"#,
        persons: &[],
        releases_under: Some(grant.id),
    };
    let log = |events: &[niji_store::NewEvent<'_>]| store.audit_many(events).unwrap();

    // In force: written as it is. For an account that is not a member,
    // or a disabled one, not.
    let logged = log(&[result("alice"), result("bob")]);
    let niji_store::Logged::Entry(index) = logged[0] else {
        panic!("{logged:?}")
    };
    assert_eq!(store.log_entry(index).unwrap().kind, "analysis.query");
    assert!(
        matches!(&logged[1], niji_store::Logged::Withheld { reason, .. }
        if reason.contains("no longer a member")),
        "{logged:?}"
    );
    store
        .disable_account(
            &account("admin", Role::Admin),
            "carol",
            "left the university",
        )
        .unwrap();
    let carol = log(&[result("carol")]);
    assert!(
        matches!(&carol[0], niji_store::Logged::Withheld { reason, .. }
        if reason.contains("disabled")),
        "{carol:?}"
    );

    // Revoked after the gate let the request in: the refusal is logged,
    // with the request's detail, and the log still verifies.
    store
        .revoke_grant(
            &account("admin", Role::Admin),
            grant.id,
            "data used beyond the grant",
            2,
        )
        .unwrap();
    let logged = log(&[result("alice")]);
    let niji_store::Logged::Withheld { index, reason } = &logged[0] else {
        panic!("{logged:?}")
    };
    assert!(reason.contains("was revoked at"), "{reason}");
    let entry = store.log_entry(*index).unwrap();
    assert_eq!(entry.kind, "analysis.refused");
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["outcome"], "withheld");
    assert_eq!(detail["withheld"], "analysis.query");
    assert!(detail["sql"].as_str().unwrap().starts_with("SELECT sex"));
    // Events that release nothing are written whatever the grant says.
    let refused = niji_store::NewEvent {
        kind: EventKind::AnalysisRefused,
        releases_under: None,
        ..result("alice")
    };
    assert!(matches!(log(&[refused])[0], niji_store::Logged::Entry(_)));
    assert_eq!(store.verify_log().unwrap(), store.log_size().unwrap());
}
