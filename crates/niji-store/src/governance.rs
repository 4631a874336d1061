//! Governance: organizations, applications, reviews and grants — who may
//! use which data for which purpose, and until when.
//!
//! The rules live here, next to the rows they guard, so that every way in
//! (the API, the web pages, the command line) meets the same ones:
//!
//! - only a certified organization may apply for the pseudonymized tier,
//!   checked at submission; a pseudonymized release is reachable only from
//!   that tier, checked at submission and at the grant, and a grant that
//!   covers one is out of force while its organization is not certified;
//! - nobody reviews an application of their own organization (conflict of
//!   interest) or one they are a member of;
//! - a grant needs `quorum` approvals in the current round; one rejection
//!   (or a request for changes) returns the application with its reasons,
//!   and the next submission starts a new round;
//! - a grant's items are a subset of the request; row-level results only
//!   for the pseudonymized tier of a certified organization;
//! - a grant is active until it expires or is revoked.
//!
//! Every action is an audit event, in the same transaction as its change.

use crate::db::{Conn, Row, Value};
use crate::{Account, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use niji_audit::event::{EventKind, Subject};
use niji_core::Role;
use serde::Deserialize;
use std::collections::BTreeSet;

/// The purpose catalogue this build carries (`policies/purposes.toml`).
pub const PURPOSES_TOML: &str = include_str!("../../../policies/purposes.toml");

/// The default number of approvals a grant needs.
pub const DEFAULT_QUORUM: usize = 2;

/// A purpose of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// Its id, as applications name it.
    pub id: String,
    /// Its name in English.
    pub name: String,
    /// Its name in Japanese.
    pub name_ja: String,
    /// The law that allows it, in a sentence.
    pub legal_basis: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    purpose: Vec<Purpose>,
}

/// The purposes of the catalogue this build carries, parsed once (pages
/// name a purpose on every row they show).
pub fn purposes() -> &'static [Purpose] {
    static PURPOSES: std::sync::LazyLock<Vec<Purpose>> = std::sync::LazyLock::new(|| {
        // Checked by a unit test; a broken catalogue cannot ship.
        toml::from_str::<Catalogue>(PURPOSES_TOML)
            .map(|c| c.purpose)
            .unwrap_or_else(|e| panic!("policies/purposes.toml: {e}"))
    });
    &PURPOSES
}

/// One column of one table of one release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    /// The release.
    pub release: String,
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
}

/// What a researcher fills in.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplicationForm {
    /// Title.
    pub title: String,
    /// A purpose id from the catalogue.
    pub purpose: String,
    /// The summary the public register shows.
    pub lay_summary: String,
    /// Other members' accounts (the applicant is always one).
    pub members: Vec<String>,
    /// What is requested.
    pub items: Vec<Item>,
    /// `anonymized` or `pseudonymized`.
    pub tier: String,
    /// First day, `YYYY-MM-DD`.
    pub starts: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends: String,
}

/// An application as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    /// Its id.
    pub id: i64,
    /// The researcher who applied.
    pub applicant: String,
    /// Their organization.
    pub organization: String,
    /// `draft`, `submitted`, `returned`, `withdrawn` or `approved`.
    pub status: String,
    /// Submissions so far.
    pub round: i32,
    /// What was filled in.
    pub form: ApplicationForm,
}

impl Application {
    /// Whether `account` is in the project: its applicant or a member.
    pub fn has_member(&self, account: &str) -> bool {
        self.applicant == account || self.form.members.iter().any(|m| m == account)
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve.
    Approve,
    /// Reject, with reasons.
    Reject,
    /// Ask for changes.
    Changes,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Changes => "changes",
        }
    }
}

/// The conditions of a grant, set with the approval that completes the
/// quorum.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// Allowed items: a subset of the request.
    pub items: Vec<Item>,
    /// The output rule set (a name from `policies/disclosure*.toml`).
    pub rule_set: String,
    /// Whether row-level results may leave.
    pub row_level: bool,
    /// Whether the project's public activity log shows the text of its
    /// queries (never their results).
    pub publish_queries: bool,
    /// The differential-privacy budget (zCDP ρ).
    pub dp_rho: f64,
    /// When the grant ends, `YYYY-MM-DD`.
    pub expires: String,
}

/// A grant: an approved application's project.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Its id (the project's).
    pub id: i64,
    /// The application.
    pub application_id: i64,
    /// The conditions.
    pub conditions: Conditions,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// Whether it covers a pseudonymized release while its organization is
    /// not certified (certification withdrawn after the grant).
    pub uncertified: bool,
    /// Whether it is in force now: not expired, not revoked, not
    /// uncertified.
    pub active: bool,
}

/// What a review did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewOutcome {
    /// The application's status after it.
    pub status: String,
    /// Approvals in this round so far.
    pub approvals: usize,
    /// The grant, when this review completed the quorum.
    pub grant: Option<Grant>,
}

/// One project of the public register.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterEntry {
    /// The project (its grant's id).
    pub project: i64,
    /// Title.
    pub title: String,
    /// Organization.
    pub organization: String,
    /// Purpose id.
    pub purpose: String,
    /// Lay summary.
    pub lay_summary: String,
    /// Period.
    pub starts: String,
    /// Period.
    pub ends: String,
    /// Releases the grant allows.
    pub releases: Vec<String>,
    /// Whether the grant is still in force.
    pub active: bool,
}

/// One reviewer's decision on one round of an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The submission round it judged.
    pub round: i32,
    /// The reviewer.
    pub reviewer: String,
    /// `approve`, `reject` or `changes`.
    pub decision: String,
    /// The reasons.
    pub comment: String,
    /// When (UTC, to the minute).
    pub at: String,
}

/// An organization and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it is certified for the pseudonymized tier.
    pub certified: bool,
    /// Its members' account names.
    pub members: Vec<String>,
}

/// A date the caller checked is `YYYY-MM-DD`, as a date.
fn date(what: &str, day: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| refused(format!("{what} `{day}` is not a date (YYYY-MM-DD)")))
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Puts an account in an organization inside a transaction.
pub(crate) fn join_in(
    conn: &Conn,
    account: &str,
    organization: &str,
    actor: &str,
) -> Result<(), StoreError> {
    let id: i64 = conn
        .opt_value(
            "SELECT id FROM organizations WHERE name = $1",
            &[&organization],
        )?
        .ok_or_else(|| refused(format!("no organization `{organization}`")))?;
    conn.execute(
        "INSERT INTO account_organizations (account, organization_id) VALUES ($1, $2) \
         ON CONFLICT (account) DO UPDATE SET organization_id = excluded.organization_id",
        &[&account, &id],
    )?;
    crate::releases::audit_in(
        conn,
        actor,
        EventKind::OrganizationMember,
        Subject::Organization(organization),
        account,
    )?;
    Ok(())
}

fn refused(reason: impl Into<String>) -> StoreError {
    StoreError::Refused(reason.into())
}

fn forbidden(reason: impl Into<String>) -> StoreError {
    StoreError::Forbidden(reason.into())
}

fn require(who: &Account, roles: &[Role]) -> Result<(), StoreError> {
    if roles.contains(&who.role) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "account `{}` ({}) may not do this",
            who.name,
            who.role.as_str()
        )))
    }
}

/// A grant after a request for its revocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    /// The grant: revoked, or still in force until enough have asked.
    pub grant: Grant,
    /// Reviewers who have asked (0 when an admin revoked it).
    pub asked: usize,
    /// Reviewers a revocation needs (0 when an admin revoked it).
    pub needed: usize,
}

/// The longest reasons for a revocation, in characters.
pub const MAX_REASON: usize = 2_000;

/// The most other members an application lists.
pub const MAX_MEMBERS: usize = 50;

/// Refuses free text longer than `max` characters or with control
/// characters (line breaks and tabs aside), before anything is written;
/// the text itself is not repeated.
pub(crate) fn check_text(what: &str, text: &str, max: usize) -> Result<(), StoreError> {
    if text.chars().count() > max {
        return Err(refused(format!(
            "the {what} is longer than {max} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(refused(format!("the {what} holds control characters")));
    }
    Ok(())
}

fn check_form(form: &ApplicationForm) -> Result<(), StoreError> {
    check_text("title", &form.title, 200)?;
    check_text("purpose", &form.purpose, 64)?;
    check_text("lay summary", &form.lay_summary, 4_000)?;
    if form.title.trim().is_empty() {
        return Err(refused("the application needs a title"));
    }
    if !["anonymized", "pseudonymized"].contains(&form.tier.as_str()) {
        return Err(refused(format!(
            "tier `{}`: anonymized or pseudonymized",
            form.tier
        )));
    }
    for (what, day) in [("starts", &form.starts), ("ends", &form.ends)] {
        if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() {
            return Err(refused(format!(
                "{what} `{day}` is not a date (YYYY-MM-DD)"
            )));
        }
    }
    if form.ends < form.starts {
        return Err(refused("the period ends before it starts"));
    }
    Ok(())
}

impl Store {
    /// Creates an organization.
    pub fn add_organization(
        &self,
        name: &str,
        certified: bool,
        actor: crate::Actor<'_>,
    ) -> Result<i64, StoreError> {
        actor.must_be_admin("creates organizations")?;
        let actor = actor.name();
        if name.trim().is_empty() || name.trim() != name {
            return Err(refused(
                "an organization's name is not empty and has no surrounding spaces",
            ));
        }
        let tx = self.conn.transaction()?;
        let id: i64 = tx
            .opt_value(
                "INSERT INTO organizations (name, certified) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING id",
                &[&name, &certified],
            )?
            .ok_or_else(|| refused(format!("organization `{name}` exists")))?;
        crate::releases::audit_in(
            &tx,
            actor,
            EventKind::OrganizationCreate,
            Subject::Organization(name),
            if certified {
                "certified"
            } else {
                "not certified"
            },
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Puts an account in an organization.
    pub fn join_organization(
        &self,
        account: &str,
        organization: &str,
        actor: crate::Actor<'_>,
    ) -> Result<(), StoreError> {
        actor.must_be_admin("puts accounts in organizations")?;
        let tx = self.conn.transaction()?;
        join_in(&tx, account, organization, actor.name())?;
        tx.commit()?;
        Ok(())
    }

    /// Every organization with its members, by name.
    pub fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let orgs: Vec<(i64, String, bool)> = self.conn.all(
            "SELECT id, name, certified FROM organizations ORDER BY name",
            &[],
        )?;
        let members: Vec<(i64, String)> = self.conn.all(
            "SELECT organization_id, account FROM account_organizations ORDER BY account",
            &[],
        )?;
        Ok(orgs
            .into_iter()
            .map(|(id, name, certified)| Organization {
                id,
                name,
                certified,
                members: members
                    .iter()
                    .filter(|(org, _)| *org == id)
                    .map(|(_, account)| account.clone())
                    .collect(),
            })
            .collect())
    }

    /// Certifies an organization for the pseudonymized tier, or withdraws
    /// its certification. Applications already approved keep their grants;
    /// a reviewer revokes those that no longer hold.
    pub fn set_certified(
        &self,
        name: &str,
        certified: bool,
        actor: crate::Actor<'_>,
    ) -> Result<(), StoreError> {
        actor.must_be_admin("certifies organizations")?;
        let actor = actor.name();
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE organizations SET certified = $1 WHERE name = $2",
            &[&certified, &name],
        )?;
        if changed == 0 {
            return Err(refused(format!("no organization `{name}`")));
        }
        let kind = if certified {
            EventKind::OrganizationCertify
        } else {
            EventKind::OrganizationDecertify
        };
        crate::releases::audit_in(&tx, actor, kind, Subject::Organization(name), "")?;
        tx.commit()?;
        Ok(())
    }

    /// The reviews of an application, every round, oldest first.
    pub fn reviews_of(&self, application: i64) -> Result<Vec<Review>, StoreError> {
        let rows: Vec<(i32, String, String, String, DateTime<Utc>)> = self.conn.all(
            "SELECT round, reviewer, decision, comment, reviewed_at \
             FROM reviews WHERE application_id = $1 ORDER BY reviewed_at, reviewer",
            &[&application],
        )?;
        Ok(rows
            .into_iter()
            .map(|(round, reviewer, decision, comment, at)| Review {
                round,
                reviewer,
                decision,
                comment,
                at: at.format("%Y-%m-%d %H:%M").to_string(),
            })
            .collect())
    }

    /// The organization an account belongs to, if any.
    pub fn organization_name(&self, account: &str) -> Result<Option<String>, StoreError> {
        Ok(self.organization_of(account)?.map(|(_, name, _)| name))
    }

    fn organization_of(&self, account: &str) -> Result<Option<(i64, String, bool)>, StoreError> {
        self.conn.opt(
            "SELECT o.id, o.name, o.certified FROM account_organizations a JOIN organizations o ON o.id = a.organization_id WHERE a.account = $1",
            &[&account],
        )
    }

    /// Checks an application's other members: at most [`MAX_MEMBERS`],
    /// each a researcher's account, and on the pseudonymized tier of a
    /// certified organization. Members can change only while the
    /// application is a draft or returned, so a change always goes
    /// through a review round.
    fn check_members(&self, form: &ApplicationForm) -> Result<(), StoreError> {
        if form.members.len() > MAX_MEMBERS {
            return Err(refused(format!(
                "{} members; an application lists at most {MAX_MEMBERS}",
                form.members.len()
            )));
        }
        for (i, name) in form.members.iter().enumerate() {
            if crate::accounts::check_account_name(name).is_err() {
                return Err(refused(format!(
                    "member {}: not an account name (2–64 characters: a lower-case letter, then lower-case letters, digits, `.`, `_` or `-`)",
                    i + 1
                )));
            }
            let account = self
                .account(name)?
                .ok_or_else(|| refused(format!("member `{name}`: no such account")))?;
            if account.role != Role::Researcher {
                return Err(refused(format!(
                    "member `{name}`: members are researchers, not {}s",
                    account.role.as_str()
                )));
            }
            if form.tier == "pseudonymized"
                && !self
                    .organization_of(name)?
                    .is_some_and(|(_, _, certified)| certified)
            {
                return Err(refused(format!(
                    "member `{name}`: their organization is not certified, and the pseudonymized tier is for certified users only"
                )));
            }
        }
        Ok(())
    }

    /// Starts a draft application.
    pub fn create_application(
        &self,
        researcher: &Account,
        form: &ApplicationForm,
    ) -> Result<Application, StoreError> {
        require(researcher, &[Role::Researcher])?;
        check_form(form)?;
        self.check_members(form)?;
        let (org, _, _) = self.organization_of(&researcher.name)?.ok_or_else(|| {
            refused(format!(
                "researcher `{}` belongs to no organization",
                researcher.name
            ))
        })?;
        let (starts, ends) = (date("starts", &form.starts)?, date("ends", &form.ends)?);
        let tx = self.conn.transaction()?;
        let id: i64 = tx.value(
            "INSERT INTO applications (applicant, organization_id, title, purpose, lay_summary, tier, starts, ends)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[&researcher.name, &org, &form.title, &form.purpose, &form.lay_summary, &form.tier, &starts, &ends],
        )?;
        write_form_parts(&tx, id, &researcher.name, form)?;
        crate::releases::audit_in(
            &tx,
            &researcher.name,
            EventKind::ApplicationCreate,
            Subject::Application(id),
            &form.title,
        )?;
        tx.commit()?;
        self.application(id)
    }

    /// The researcher's own application `id`, if its status is one of
    /// `statuses`; `what` says which may be acted on, for the refusal.
    fn own_application(
        &self,
        researcher: &Account,
        id: i64,
        statuses: &[&str],
        what: &str,
    ) -> Result<Application, StoreError> {
        let app = self.application(id)?;
        if app.applicant != researcher.name {
            return Err(forbidden(format!(
                "application {id} is not `{}`'s",
                researcher.name
            )));
        }
        if !statuses.contains(&app.status.as_str()) {
            return Err(refused(format!(
                "application {id} is {}; only {what}",
                app.status
            )));
        }
        Ok(app)
    }

    /// Edits a draft (or a returned application) of one's own.
    pub fn update_application(
        &self,
        researcher: &Account,
        id: i64,
        form: &ApplicationForm,
    ) -> Result<Application, StoreError> {
        let tx = self.conn.transaction()?;
        self.own_application(
            researcher,
            id,
            &["draft", "returned"],
            "a draft or a returned application can be edited",
        )?;
        check_form(form)?;
        self.check_members(form)?;
        let (starts, ends) = (date("starts", &form.starts)?, date("ends", &form.ends)?);
        tx.execute(
            "UPDATE applications SET title = $1, purpose = $2, lay_summary = $3, tier = $4, starts = $5, ends = $6 WHERE id = $7",
            &[&form.title, &form.purpose, &form.lay_summary, &form.tier, &starts, &ends, &id],
        )?;
        tx.execute(
            "DELETE FROM application_members WHERE application_id = $1",
            &[&id],
        )?;
        tx.execute(
            "DELETE FROM application_items WHERE application_id = $1",
            &[&id],
        )?;
        write_form_parts(&tx, id, &researcher.name, form)?;
        crate::releases::audit_in(
            &tx,
            &researcher.name,
            EventKind::ApplicationEdit,
            Subject::Application(id),
            &form.title,
        )?;
        tx.commit()?;
        self.application(id)
    }

    /// Submits a draft: the purpose must be in the catalogue, something
    /// must be requested, and the pseudonymized tier needs a certified
    /// organization.
    pub fn submit_application(
        &self,
        researcher: &Account,
        id: i64,
    ) -> Result<Application, StoreError> {
        let tx = self.conn.transaction()?;
        let app = self.own_application(
            researcher,
            id,
            &["draft", "returned"],
            "a draft or a returned application can be submitted",
        )?;
        if !purposes().iter().any(|p| p.id == app.form.purpose) {
            let ids: Vec<&str> = purposes().iter().map(|p| p.id.as_str()).collect();
            return Err(refused(format!(
                "purpose `{}` is not in the catalogue ({})",
                app.form.purpose,
                ids.join(", ")
            )));
        }
        if app.form.items.is_empty() {
            return Err(refused(
                "the application requests no release, table or column",
            ));
        }
        let certified = self.organization_of(&app.applicant)?.is_some_and(|o| o.2);
        if app.form.tier == "pseudonymized" && !certified {
            return Err(refused(format!(
                "organization `{}` is not certified: the pseudonymized tier is for certified users only",
                app.organization
            )));
        }
        self.check_pseudonymized(&app, &app.form.items, certified)?;
        // Again at submission: an account or a certification may have
        // changed since the form was saved.
        self.check_members(&app.form)?;
        tx.execute(
            "UPDATE applications SET status = 'submitted', round = round + 1, submitted_at = $1 WHERE id = $2",
            &[&Utc::now(), &id],
        )?;
        crate::releases::audit_in(
            &tx,
            &researcher.name,
            EventKind::ApplicationSubmit,
            Subject::Application(id),
            &app.form.purpose,
        )?;
        tx.commit()?;
        self.application(id)
    }

    /// Withdraws a submitted application of one's own.
    pub fn withdraw_application(
        &self,
        researcher: &Account,
        id: i64,
    ) -> Result<Application, StoreError> {
        let tx = self.conn.transaction()?;
        self.own_application(
            researcher,
            id,
            &["submitted"],
            "a submitted application can be withdrawn",
        )?;
        tx.execute(
            "UPDATE applications SET status = 'withdrawn' WHERE id = $1",
            &[&id],
        )?;
        crate::releases::audit_in(
            &tx,
            &researcher.name,
            EventKind::ApplicationWithdraw,
            Subject::Application(id),
            "",
        )?;
        tx.commit()?;
        self.application(id)
    }

    /// One application.
    pub fn application(&self, id: i64) -> Result<Application, StoreError> {
        type ApplicationRow = (
            String,
            String,
            String,
            i32,
            String,
            String,
            String,
            String,
            NaiveDate,
            NaiveDate,
        );
        let row: ApplicationRow = self
            .conn
            .opt(
                "SELECT a.applicant, o.name, a.status, a.round, a.title, a.purpose, a.lay_summary, a.tier,
                        a.starts, a.ends
                 FROM applications a JOIN organizations o ON o.id = a.organization_id WHERE a.id = $1",
                &[&id],
            )?
            .ok_or_else(|| refused(format!("no application {id}")))?;
        let (
            applicant,
            organization,
            status,
            round,
            title,
            purpose,
            lay_summary,
            tier,
            starts,
            ends,
        ) = row;
        let (starts, ends) = (day(starts), day(ends));
        let members = self.conn.values(
            "SELECT account FROM application_members WHERE application_id = $1 AND account <> $2 ORDER BY account",
            &[&id, &applicant],
        )?;
        let items = self.items("application_items", "application_id", id)?;
        Ok(Application {
            id,
            applicant,
            organization,
            status,
            round,
            form: ApplicationForm {
                title,
                purpose,
                lay_summary,
                members,
                items,
                tier,
                starts,
                ends,
            },
        })
    }

    fn items(&self, table: &str, key: &str, id: i64) -> Result<Vec<Item>, StoreError> {
        let rows: Vec<(String, String, String)> = self.conn.all(
            &format!(
                "SELECT release, table_name, column_name FROM {table} WHERE {key} = $1 \
                 ORDER BY release, table_name, column_name"
            ),
            &[&id],
        )?;
        Ok(rows
            .into_iter()
            .map(|(release, table, column)| Item {
                release,
                table,
                column,
            })
            .collect())
    }

    /// Whether `reviewer` may review `app`: not of its organization, not a
    /// member, and not yet in this round.
    fn may_review(
        &self,
        reviewer: &Account,
        app: &Application,
    ) -> Result<Result<(), String>, StoreError> {
        if let Some(conflict) = self.conflict_with(reviewer, app)? {
            return Ok(Err(conflict));
        }
        let reviewed: i64 = self.conn.value(
            "SELECT count(*) FROM reviews WHERE application_id = $1 AND round = $2 AND reviewer = $3",
            &[&app.id, &app.round, &reviewer.name],
        )?;
        if reviewed > 0 {
            return Ok(Err(format!(
                "`{}` has reviewed application {} in this round",
                reviewer.name, app.id
            )));
        }
        Ok(Ok(()))
    }

    /// The submitted applications a reviewer may review, oldest first.
    pub fn review_queue(&self, reviewer: &Account) -> Result<Vec<Application>, StoreError> {
        require(reviewer, &[Role::Reviewer])?;
        let ids: Vec<i64> = self.conn.values(
            "SELECT id FROM applications WHERE status = 'submitted' ORDER BY submitted_at, id",
            &[],
        )?;
        let mut queue = Vec::new();
        for id in ids {
            let app = self.application(id)?;
            if self.may_review(reviewer, &app)?.is_ok() {
                queue.push(app);
            }
        }
        Ok(queue)
    }

    /// Records a reviewer's decision. An approval that completes the quorum
    /// must carry the grant's conditions, and creates the grant.
    pub fn review_application(
        &self,
        reviewer: &Account,
        id: i64,
        decision: Decision,
        comment: &str,
        conditions: Option<&Conditions>,
        quorum: usize,
    ) -> Result<ReviewOutcome, StoreError> {
        require(reviewer, &[Role::Reviewer])?;
        // Read and decided under the writer lock: two reviewers on two
        // servers cannot both complete the quorum.
        let tx = self.conn.transaction()?;
        let app = self.application(id)?;
        if app.status != "submitted" {
            return Err(refused(format!(
                "application {id} is {}; only a submitted application is reviewed",
                app.status
            )));
        }
        if let Err(reason) = self.may_review(reviewer, &app)? {
            return Err(forbidden(reason));
        }
        check_text("comment", comment, MAX_REASON)?;
        if decision != Decision::Approve && comment.trim().is_empty() {
            return Err(refused(
                "a rejection or a request for changes needs its reasons in the comment",
            ));
        }
        let approvals: i64 = tx.value(
            "SELECT count(*) FROM reviews WHERE application_id = $1 AND round = $2 AND decision = 'approve'",
            &[&id, &app.round],
        )?;
        let approvals = approvals as usize + usize::from(decision == Decision::Approve);
        let completes = decision == Decision::Approve && approvals >= quorum.max(1);
        if completes {
            let c = conditions.ok_or_else(|| {
                refused("the approval that completes the quorum sets the grant's conditions")
            })?;
            self.check_conditions(&app, c)?;
        }
        tx.execute(
            "INSERT INTO reviews (application_id, round, reviewer, decision, comment) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &app.round, &reviewer.name, &decision.as_str(), &comment],
        )?;
        let subject = Subject::Application(id);
        crate::releases::audit_in(
            &tx,
            &reviewer.name,
            EventKind::ApplicationReview,
            subject,
            decision.as_str(),
        )?;
        let status = match (decision, completes) {
            (Decision::Approve, false) => "submitted",
            (Decision::Approve, true) => "approved",
            _ => "returned",
        };
        tx.execute(
            "UPDATE applications SET status = $1 WHERE id = $2",
            &[&status, &id],
        )?;
        let mut grant_id = None;
        if let (true, Some(c)) = (completes, conditions) {
            let gid: i64 = tx.value(
                "INSERT INTO grants (application_id, rule_set, row_level, dp_rho, expires_on, publish_queries)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &id,
                    &c.rule_set,
                    &c.row_level,
                    &c.dp_rho,
                    &date("expiry", &c.expires)?,
                    &c.publish_queries,
                ],
            )?;
            let items: Vec<Vec<Value>> = c
                .items
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|item| {
                    vec![
                        Value::Int(gid),
                        Value::Text(item.release.clone()),
                        Value::Text(item.table.clone()),
                        Value::Text(item.column.clone()),
                    ]
                })
                .collect();
            tx.insert_rows(
                "grant_items",
                &["grant_id", "release", "table_name", "column_name"],
                &items,
            )?;
            crate::releases::audit_in(
                &tx,
                &reviewer.name,
                EventKind::GrantCreate,
                Subject::Grant(gid),
                &subject.text(),
            )?;
            grant_id = Some(gid);
        }
        tx.commit()?;
        Ok(ReviewOutcome {
            status: status.to_owned(),
            approvals,
            grant: grant_id.map(|g| self.grant(g)).transpose()?,
        })
    }

    /// A pseudonymized release is for the pseudonymized tier of a certified
    /// organization only: an anonymized-tier application cannot reach one.
    fn check_pseudonymized(
        &self,
        app: &Application,
        items: &[Item],
        certified: bool,
    ) -> Result<(), StoreError> {
        if app.form.tier == "pseudonymized" && certified {
            return Ok(());
        }
        let releases: BTreeSet<&str> = items.iter().map(|i| i.release.as_str()).collect();
        for release in releases {
            if self
                .release(release)?
                .is_some_and(|r| r.tier == "pseudonymized")
            {
                return Err(refused(format!(
                    "release `{release}` is pseudonymized: only a pseudonymized-tier application of a \
                     certified organization may use it"
                )));
            }
        }
        Ok(())
    }

    fn check_conditions(&self, app: &Application, c: &Conditions) -> Result<(), StoreError> {
        let requested: BTreeSet<&Item> = app.form.items.iter().collect();
        if let Some(extra) = c.items.iter().find(|i| !requested.contains(i)) {
            return Err(refused(format!(
                "the grant may allow only what was requested; {}.{}.{} was not",
                extra.release, extra.table, extra.column
            )));
        }
        if c.items.is_empty() {
            return Err(refused("a grant allows at least one column"));
        }
        if c.rule_set.trim().is_empty() {
            return Err(refused("a grant names its output rule set"));
        }
        let certified = self.organization_of(&app.applicant)?.is_some_and(|o| o.2);
        self.check_pseudonymized(app, &c.items, certified)?;
        if c.row_level && !(app.form.tier == "pseudonymized" && certified) {
            return Err(refused(
                "row-level results only for the pseudonymized tier of a certified organization",
            ));
        }
        if !(c.dp_rho >= 0.0 && c.dp_rho.is_finite()) {
            return Err(refused(format!(
                "DP budget ρ = {} is not a non-negative number",
                c.dp_rho
            )));
        }
        if chrono::NaiveDate::parse_from_str(&c.expires, "%Y-%m-%d").is_err() {
            return Err(refused(format!(
                "expiry `{}` is not a date (YYYY-MM-DD)",
                c.expires
            )));
        }
        Ok(())
    }

    /// One grant, with whether it is in force now.
    pub fn grant(&self, id: i64) -> Result<Grant, StoreError> {
        type GrantRow = (
            i64,
            String,
            bool,
            f64,
            NaiveDate,
            Option<DateTime<Utc>>,
            bool,
            bool,
            bool,
        );
        let row: GrantRow = self
            .conn
            .opt(
                concat!(
                    "SELECT application_id, rule_set, row_level, dp_rho, expires_on,
                            revoked_at, revoked_at IS NULL AND $1 <= expires_on, publish_queries, ",
                    uncertified!(),
                    " FROM grants g WHERE id = $2"
                ),
                &[&today_date(), &id],
            )?
            .ok_or_else(|| refused(format!("no grant {id}")))?;
        let (
            application_id,
            rule_set,
            row_level,
            dp_rho,
            expires,
            revoked_at,
            current,
            publish_queries,
            uncertified,
        ) = row;
        Ok(Grant {
            id,
            application_id,
            conditions: Conditions {
                items: self.items("grant_items", "grant_id", id)?,
                rule_set,
                row_level,
                publish_queries,
                dp_rho,
                expires: day(expires),
            },
            revoked_at: revoked_at.map(|t| crate::db::stamp(&t)),
            uncertified,
            active: current && !uncertified,
        })
    }

    /// Asks for grant `id`'s revocation with `reason`. An admin revokes
    /// at once; a reviewer outside the project (no member, not of the
    /// applicant's organization) adds a request, and the grant is revoked
    /// when `quorum` reviewers have asked. The grant, and how many have
    /// asked.
    pub fn revoke_grant(
        &self,
        actor: &Account,
        id: i64,
        reason: &str,
        quorum: usize,
    ) -> Result<Revocation, StoreError> {
        require(actor, &[Role::Admin, Role::Reviewer])?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(refused("a revocation gives its reasons"));
        }
        check_text("reasons", reason, MAX_REASON)?;
        let tx = self.conn.transaction()?;
        let grant = self.grant(id)?;
        if grant.revoked_at.is_some() {
            return Err(refused(format!("grant {id} is already revoked")));
        }
        if actor.role == Role::Reviewer
            && let Some(conflict) = self.conflict_with_project(actor, id)?
        {
            return Err(forbidden(format!(
                "{conflict}: project {id}'s revocation is for others to ask"
            )));
        }
        let asked: i64 = if actor.role == Role::Admin {
            0
        } else {
            let added = tx.execute(
                "INSERT INTO revocation_requests (grant_id, reviewer, reason) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&id, &actor.name, &reason],
            )?;
            if added == 0 {
                return Err(refused(format!(
                    "`{}` has asked for grant {id}'s revocation already",
                    actor.name
                )));
            }
            crate::releases::audit_in(
                &tx,
                &actor.name,
                EventKind::GrantRevokeRequest,
                Subject::Grant(id),
                reason,
            )?;
            tx.value(
                "SELECT count(*) FROM revocation_requests WHERE grant_id = $1",
                &[&id],
            )?
        };
        let revoke = actor.role == Role::Admin || asked as usize >= quorum.max(1);
        if revoke {
            tx.execute(
                "UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3",
                &[&Utc::now(), &actor.name, &id],
            )?;
            crate::releases::audit_in(
                &tx,
                &actor.name,
                EventKind::GrantRevoke,
                Subject::Grant(id),
                reason,
            )?;
        }
        tx.commit()?;
        Ok(Revocation {
            grant: self.grant(id)?,
            asked: asked as usize,
            needed: if actor.role == Role::Admin {
                0
            } else {
                quorum.max(1)
            },
        })
    }

    /// The public register: every approved project, newest first.
    pub fn register(&self) -> Result<Vec<RegisterEntry>, StoreError> {
        let rows: Vec<(i64, String, String, String, String, NaiveDate, NaiveDate)> = self.conn.all(
            "SELECT g.id, a.title, o.name, a.purpose, a.lay_summary, a.starts, a.ends
             FROM grants g JOIN applications a ON a.id = g.application_id JOIN organizations o ON o.id = a.organization_id
             ORDER BY g.granted_at DESC, g.id DESC",
            &[],
        )?;
        rows.into_iter()
            .map(
                |(gid, title, organization, purpose, lay_summary, starts, ends)| {
                    let grant = self.grant(gid)?;
                    let releases: BTreeSet<String> = grant
                        .conditions
                        .items
                        .into_iter()
                        .map(|i| i.release)
                        .collect();
                    Ok(RegisterEntry {
                        project: gid,
                        title,
                        organization,
                        purpose,
                        lay_summary,
                        starts: day(starts),
                        ends: day(ends),
                        releases: releases.into_iter().collect(),
                        active: grant.active,
                    })
                },
            )
            .collect()
    }
}

/// Today in UTC, `YYYY-MM-DD`: grants and tokens are in force through
/// their last day. Computed here, since DuckDB's own dates need its
/// time-zone extension; public so that what is kept of a grant's state
/// can be kept for the day it was read on.
pub fn today() -> String {
    day(today_date())
}

/// Today in UTC, as a date.
/// SQL: whether grant `g` reaches a pseudonymized release while its
/// applicant's organization is no longer certified for that tier.
macro_rules! uncertified {
    () => {
        "EXISTS (
            SELECT 1 FROM grant_items i JOIN releases r ON r.name = i.release
            JOIN applications a ON a.id = g.application_id
            JOIN organizations o ON o.id = a.organization_id
            WHERE i.grant_id = g.id AND r.tier = 'pseudonymized' AND NOT o.certified)"
    };
}
use uncertified;

/// Why grant `grant` no longer lets `account` use data, if it does not:
/// revoked, expired, its organization's certification withdrawn, the
/// account no longer a member or disabled. Read inside the caller's
/// transaction, under the writer lock, so that no governance change can
/// fall between it and what the transaction writes.
pub(crate) fn lapse(conn: &Conn, grant: i64, account: &str) -> Result<Option<String>, StoreError> {
    type Standing = (Option<DateTime<Utc>>, NaiveDate, bool, bool, bool, bool);
    let row: Option<Standing> = conn.opt(
        concat!(
            "SELECT g.revoked_at, g.expires_on, $1 <= g.expires_on, ",
            uncertified!(),
            ", EXISTS (SELECT 1 FROM application_members m
                       WHERE m.application_id = g.application_id AND m.account = $3),
               EXISTS (SELECT 1 FROM disabled_accounts d WHERE d.account = $3)
             FROM grants g WHERE g.id = $2"
        ),
        &[&today_date(), &grant, &account],
    )?;
    let Some((revoked_at, expires, current, uncertified, member, disabled)) = row else {
        return Ok(Some(format!("project {grant} has no grant")));
    };
    Ok(if let Some(at) = revoked_at {
        Some(format!(
            "the grant of project {grant} was revoked at {}",
            crate::db::stamp(&at)
        ))
    } else if !current {
        Some(format!(
            "the grant of project {grant} expired on {}",
            day(expires)
        ))
    } else if uncertified {
        Some(format!(
            "project {grant} uses a pseudonymized release, and its organization is no longer \
             certified for that tier"
        ))
    } else if !member {
        Some(format!(
            "`{account}` is no longer a member of project {grant}"
        ))
    } else if disabled {
        Some(format!("account `{account}` is disabled"))
    } else {
        None
    })
}

fn today_date() -> NaiveDate {
    Utc::now().date_naive()
}

fn write_form_parts(
    tx: &Conn,
    id: i64,
    applicant: &str,
    form: &ApplicationForm,
) -> Result<(), StoreError> {
    let members: BTreeSet<&str> = std::iter::once(applicant)
        .chain(form.members.iter().map(String::as_str))
        .collect();
    for m in members {
        tx.execute(
            "INSERT INTO application_members (application_id, account) VALUES ($1, $2)",
            &[&id, &m],
        )?;
    }
    for item in form.items.iter().collect::<BTreeSet<_>>() {
        tx.execute(
            "INSERT INTO application_items (application_id, release, table_name, column_name) VALUES ($1, $2, $3, $4)",
            &[&id, &item.release, &item.table, &item.column],
        )?;
    }
    Ok(())
}

/// An API token's record, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The public token id (`tok-` and 16 hex digits).
    pub token_id: String,
    /// Its holder.
    pub account: String,
    /// The project (grant) it is scoped to.
    pub grant_id: i64,
    /// Its last day.
    pub expires: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

const TOKEN_COLUMNS: &str =
    "SELECT token_id, account, grant_id, expires_on, revoked_at FROM api_tokens";

fn token_from_row(r: &Row) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        token_id: r.get(0)?,
        account: r.get(1)?,
        grant_id: r.get(2)?,
        expires: day(r.get(3)?),
        revoked_at: r
            .get::<Option<DateTime<Utc>>>(4)?
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
    })
}

/// Why a presented API token was not accepted. Callers answer all of them
/// alike (401); the variants are for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not of the form `<token id>.<secret>`.
    Malformed,
    /// No such token, or the secret does not match.
    Unknown,
    /// The token was revoked.
    Revoked,
    /// The token is past its last day.
    Expired,
    /// Its grant was revoked or has expired.
    GrantInactive,
}

impl Store {
    /// Creates an API token for a member of a project, scoped to it, with
    /// its last day no later than the grant's. Returns the record and the
    /// token, which is never shown again.
    pub fn create_api_token(
        &self,
        holder: &Account,
        grant_id: i64,
        expires: &str,
    ) -> Result<(ApiToken, niji_core::SecretString), StoreError> {
        let grant = self.grant(grant_id)?;
        if !grant.active {
            return Err(refused(format!("grant {grant_id} is not in force")));
        }
        let app = self.application(grant.application_id)?;
        if app.applicant != holder.name && !app.form.members.contains(&holder.name) {
            return Err(forbidden(format!(
                "`{}` is not a member of project {grant_id}",
                holder.name
            )));
        }
        if chrono::NaiveDate::parse_from_str(expires, "%Y-%m-%d").is_err() {
            return Err(refused(format!(
                "expiry `{expires}` is not a date (YYYY-MM-DD)"
            )));
        }
        if expires > grant.conditions.expires.as_str() {
            return Err(refused(format!(
                "a token may not outlive its grant ({})",
                grant.conditions.expires
            )));
        }
        let token_id = format!("tok-{}", crate::sources::random_hex(8)?);
        let secret = crate::sources::random_hex(32)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO api_tokens (token_id, secret_sha256, account, grant_id, expires_on) VALUES ($1, $2, $3, $4, $5)",
            &[&token_id, &(crate::sources::digest(&secret)), &holder.name, &grant_id, &date("expiry", expires)?],
        )?;
        crate::releases::audit_in(
            &tx,
            &holder.name,
            EventKind::TokenCreate,
            Subject::Grant(grant_id),
            &token_id,
        )?;
        tx.commit()?;
        let token = self
            .api_token(&token_id)?
            .ok_or_else(|| StoreError::Damaged {
                what: format!("token `{token_id}` is missing after insert"),
            })?;
        Ok((
            token,
            niji_core::SecretString::new(format!("{token_id}.{secret}")),
        ))
    }

    fn api_token(&self, token_id: &str) -> Result<Option<ApiToken>, StoreError> {
        self.conn
            .rows(
                &format!("{TOKEN_COLUMNS} WHERE token_id = $1"),
                &[&token_id],
            )?
            .first()
            .map(token_from_row)
            .transpose()
    }

    /// An account's API tokens (never their secrets), newest first.
    pub fn api_tokens_of(&self, account: &str) -> Result<Vec<ApiToken>, StoreError> {
        self.conn
            .rows(
                &format!("{TOKEN_COLUMNS} WHERE account = $1 ORDER BY created_at DESC, token_id"),
                &[&account],
            )?
            .iter()
            .map(token_from_row)
            .collect()
    }

    /// Revokes a token (its holder or an admin); the next request with it
    /// is refused.
    pub fn revoke_api_token(
        &self,
        actor: &Account,
        token_id: &str,
    ) -> Result<ApiToken, StoreError> {
        let token = self
            .api_token(token_id)?
            .ok_or_else(|| refused(format!("no token `{token_id}`")))?;
        if token.account != actor.name && actor.role != Role::Admin {
            return Err(forbidden(format!(
                "token `{token_id}` is not `{}`'s",
                actor.name
            )));
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE api_tokens SET revoked_at = $1 WHERE token_id = $2 AND revoked_at IS NULL",
            &[&Utc::now(), &token_id],
        )?;
        crate::releases::audit_in(
            &tx,
            &actor.name,
            EventKind::TokenRevoke,
            Subject::Grant(token.grant_id),
            token_id,
        )?;
        tx.commit()?;
        self.api_token(token_id)?
            .ok_or_else(|| StoreError::Damaged {
                what: format!("token `{token_id}` vanished"),
            })
    }

    /// Checks a presented token: the token and its grant must both be in
    /// force, on every request.
    pub fn check_api_token(
        &self,
        presented: &niji_core::SecretString,
    ) -> Result<Result<ApiToken, TokenRefusal>, StoreError> {
        let Some((token_id, secret)) = presented.expose().split_once('.') else {
            return Ok(Err(TokenRefusal::Malformed));
        };
        let stored: Option<Vec<u8>> = self.conn.opt_value(
            "SELECT secret_sha256 FROM api_tokens WHERE token_id = $1",
            &[&token_id],
        )?;
        // Digests are compared, not secrets (see sources.rs).
        if stored.as_deref() != Some(crate::sources::digest(secret).as_slice()) {
            return Ok(Err(TokenRefusal::Unknown));
        }
        let Some(token) = self.api_token(token_id)? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if token.revoked_at.is_some() {
            return Ok(Err(TokenRefusal::Revoked));
        }
        if token.expires < today() {
            return Ok(Err(TokenRefusal::Expired));
        }
        // Asked on every request a notebook makes: the grant's state only,
        // not its columns.
        let active: bool = self
            .conn
            .opt_value(
                "SELECT revoked_at IS NULL AND $1 <= expires_on FROM grants WHERE id = $2",
                &[&today_date(), &token.grant_id],
            )?
            .unwrap_or(false);
        if !active {
            return Ok(Err(TokenRefusal::GrantInactive));
        }
        Ok(Ok(token))
    }
}

impl Store {
    /// Whether `who` may read an application: its members, and the review
    /// board and admins once it has been submitted — but no reviewer in
    /// conflict with it ([`Store::conflict_with`]), who would otherwise read
    /// the other reviewers' names and reasons.
    pub fn may_see_application(
        &self,
        who: &Account,
        app: &Application,
    ) -> Result<bool, StoreError> {
        if app.has_member(&who.name) {
            return Ok(true);
        }
        Ok(match who.role {
            Role::Admin => app.status != "draft",
            Role::Reviewer => app.status != "draft" && self.conflict_with(who, app)?.is_none(),
            _ => false,
        })
    }

    /// Why `who` is in conflict with application `app`, if so: a member of
    /// it, or of the applicant's organization. Such a reviewer takes no
    /// part in its reviews, its held results or its revocation.
    pub fn conflict_with(
        &self,
        who: &Account,
        app: &Application,
    ) -> Result<Option<String>, StoreError> {
        if app.has_member(&who.name) {
            return Ok(Some(format!(
                "`{}` is a member of application {} (conflict of interest)",
                who.name, app.id
            )));
        }
        if self
            .organization_of(&who.name)?
            .is_some_and(|o| o.1 == app.organization)
        {
            return Ok(Some(format!(
                "conflict of interest: `{}` belongs to `{}`, the applicant's organization",
                who.name, app.organization
            )));
        }
        Ok(None)
    }

    /// Why `who` is in conflict with grant `id`'s project, if so
    /// ([`Store::conflict_with`] its application).
    pub fn conflict_with_project(
        &self,
        who: &Account,
        id: i64,
    ) -> Result<Option<String>, StoreError> {
        let grant = self.grant(id)?;
        let app = self.application(grant.application_id)?;
        self.conflict_with(who, &app)
    }

    /// The applications `who` may read, newest first.
    pub fn applications_for(&self, who: &Account) -> Result<Vec<Application>, StoreError> {
        let ids: Vec<i64> = self
            .conn
            .values("SELECT id FROM applications ORDER BY id DESC", &[])?;
        let mut out = Vec::new();
        for id in ids {
            let app = self.application(id)?;
            if self.may_see_application(who, &app)? {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// The projects (grants) `who` is a member of, newest first.
    pub fn projects_of(&self, who: &Account) -> Result<Vec<Grant>, StoreError> {
        let ids: Vec<i64> = self.conn.values(
            "SELECT g.id FROM grants g JOIN application_members m ON m.application_id = g.application_id
             WHERE m.account = $1 ORDER BY g.id DESC",
            &[&who.name],
        )?;
        ids.into_iter().map(|id| self.grant(id)).collect()
    }

    /// Whether `who` is a member of grant `id`'s project.
    pub fn is_project_member(&self, who: &Account, id: i64) -> Result<bool, StoreError> {
        let grant = self.grant(id)?;
        let app = self.application(grant.application_id)?;
        Ok(app.has_member(&who.name))
    }
}
