//! The audit vocabulary: what an access-log entry says happened.
//!
//! Each kind has one stable name ([`EventKind::as_str`]), which is the
//! `kind` an entry's bytes carry (see [`crate::entry`]): renaming one would
//! change every leaf of its kind, so names are never changed, only added.
//! An entry written by an older niji may carry a name this one does not
//! know; reading it is not an error ([`EventKind::parse`] is `None`), and
//! the entry still verifies.

macro_rules! kinds {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// What an audit event records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $(#[doc = $doc] $variant,)*
        }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The kind's name in the log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$variant => $name,)*
                }
            }

            /// The kind of a name, if this niji knows it.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(EventKind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    AccountCreate => "account.create", "An account was created.";
    AccountDisable => "account.disable", "An admin disabled an account.";
    AccountPassword => "account.password", "An account's password was changed.";
    OrganizationCreate => "organization.create", "A research organization was created.";
    OrganizationMember => "organization.member", "An account was put in an organization.";
    OrganizationCertify => "organization.certify", "An organization was certified for the pseudonymized tier.";
    OrganizationDecertify => "organization.decertify", "An organization's certification was withdrawn.";
    ApplicationCreate => "application.create", "A researcher started an application.";
    ApplicationEdit => "application.edit", "An application was edited.";
    ApplicationSubmit => "application.submit", "An application was submitted for review.";
    ApplicationWithdraw => "application.withdraw", "An application was withdrawn.";
    ApplicationReview => "application.review", "A reviewer decided on an application.";
    GrantCreate => "grant.create", "An approval made a grant (a project).";
    GrantRevokeRequest => "grant.revoke.request", "A reviewer asked for a grant's revocation.";
    GrantRevoke => "grant.revoke", "A grant was revoked.";
    TokenCreate => "token.create", "An API token was made for a project.";
    TokenRevoke => "token.revoke", "An API token was revoked.";
    ReleaseBuild => "release.build", "A release was built.";
    ReleaseExport => "release.export", "A release was exported to files.";
    ReleaseQuery => "release.query", "A release was queried outside a project (benchmarks' logs).";
    ReidentificationRequest => "reidentification.request", "A re-identification was requested.";
    ReidentificationApprove => "reidentification.approve", "A second admin approved a re-identification.";
    ReidentificationOpen => "reidentification.open", "A release's pseudonym key was opened.";
    ReidentificationResult => "reidentification.result", "A pseudonym was mapped back to its records.";
    AnalysisQuery => "analysis.query", "A project's SQL query was answered.";
    AnalysisDp => "analysis.dp", "A project's differentially private query was answered.";
    AnalysisModel => "analysis.model", "A project's model was fitted and its estimates released.";
    AnalysisRows => "analysis.rows", "A row-level result was shown.";
    AnalysisRefused => "analysis.refused", "A query was refused by the language check or disclosure control.";
    AnalysisDenied => "analysis.denied", "A request was refused at the purpose gate.";
    AnalysisFetch => "analysis.fetch", "A job's or a held result was fetched.";
    AnalysisCancel => "analysis.cancel", "A running job was cancelled.";
    DpDebit => "dp.debit", "A project's privacy budget was debited.";
    AirlockHold => "airlock.hold", "A result was held for review.";
    AirlockReview => "airlock.review", "A reviewer checked a held result.";
    AirlockReleased => "airlock.released", "A held result was released.";
    AirlockRejected => "airlock.rejected", "A held result was rejected.";
    CitizenCode => "citizen.code", "An enrolment code was issued.";
    CitizenEnrol => "citizen.enrol", "A citizen enrolled in the access portal.";
    OptOut => "opt-out", "A person refused further provision of their data.";
    OptOutWithdraw => "opt-out.withdraw", "A person withdrew their refusal.";
    Login => "login", "An account signed in.";
    LoginFailed => "login.failed", "Sign-ins failed (aggregated per name and address).";
    LoginThrottled => "login.throttled", "Sign-ins were refused for too many failures.";
    CitizenCard => "citizen.card", "A citizen's My Number Card sign-in was bound to their account.";
    LoginCardRefused => "login.card.refused", "A My Number Card sign-in was refused.";
}

impl EventKind {
    /// Whether an event of this kind changes governance state (accounts,
    /// organizations, applications, grants, tokens, releases), which
    /// servers keep between requests: its transaction raises the store's
    /// governance count. The ledger's, the airlock's and the analyses'
    /// events change none of it.
    pub fn changes_governance(self) -> bool {
        !matches!(
            self,
            EventKind::DpDebit
                | EventKind::AirlockHold
                | EventKind::AirlockReview
                | EventKind::AirlockReleased
                | EventKind::AirlockRejected
                | EventKind::AnalysisQuery
                | EventKind::AnalysisDp
                | EventKind::AnalysisModel
                | EventKind::AnalysisRows
                | EventKind::AnalysisRefused
                | EventKind::AnalysisDenied
                | EventKind::AnalysisFetch
                | EventKind::AnalysisCancel
                | EventKind::Login
                | EventKind::LoginFailed
                | EventKind::LoginThrottled
                | EventKind::LoginCardRefused
        )
    }

    /// Whether an analysis request's event of this kind lets a result
    /// leave: such an event is written only while the grant is in force.
    pub fn releases_a_result(self) -> bool {
        matches!(
            self,
            EventKind::AnalysisQuery
                | EventKind::AnalysisDp
                | EventKind::AnalysisModel
                | EventKind::AnalysisFetch
        )
    }

    /// Whether the event's subject is the release it concerns (a
    /// release's own events).
    pub fn concerns_its_release(self) -> bool {
        self.as_str().starts_with("release.")
    }

    /// The family a person's view files it under.
    pub fn family(self) -> Family {
        use EventKind as K;
        match self {
            K::ReleaseBuild | K::ReleaseExport | K::ReleaseQuery => Family::Release,
            K::GrantCreate
            | K::GrantRevokeRequest
            | K::GrantRevoke
            | K::TokenCreate
            | K::TokenRevoke => Family::Grant,
            K::AnalysisQuery
            | K::AnalysisDp
            | K::AnalysisModel
            | K::AnalysisRows
            | K::AnalysisRefused
            | K::AnalysisDenied
            | K::AnalysisFetch
            | K::AnalysisCancel
            | K::DpDebit
            | K::AirlockHold
            | K::AirlockReview
            | K::AirlockReleased
            | K::AirlockRejected => Family::Analysis,
            K::OptOut
            | K::OptOutWithdraw
            | K::CitizenCode
            | K::CitizenEnrol
            | K::CitizenCard
            | K::ReidentificationRequest
            | K::ReidentificationApprove
            | K::ReidentificationOpen
            | K::ReidentificationResult => Family::Person,
            _ => Family::Other,
        }
    }

    /// Whether it is a query's answer, which a person's view counts per
    /// project.
    pub fn is_query(self) -> bool {
        matches!(
            self,
            EventKind::AnalysisQuery | EventKind::AnalysisDp | EventKind::AnalysisModel
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_name_and_parses_back() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len(), "two kinds share a name");
        assert_eq!(EventKind::parse("release.built"), None);
    }

    #[test]
    fn the_names_older_logs_hold_are_kept() {
        // Renaming one would change the leaves of every entry of its kind.
        assert_eq!(EventKind::AnalysisQuery.as_str(), "analysis.query");
        assert_eq!(EventKind::OptOut.as_str(), "opt-out");
        assert_eq!(
            EventKind::GrantRevokeRequest.as_str(),
            "grant.revoke.request"
        );
        assert_eq!(EventKind::AirlockReleased.as_str(), "airlock.released");
    }
}

/// What a person's view files an entry under, so that a citizen can ask
/// for one kind of step among thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// A release was built, exported or read outside a project.
    Release,
    /// A project was granted, or its grant or tokens changed.
    Grant,
    /// A project's analysis: queries, results, their review.
    Analysis,
    /// Steps about the person alone: opt-out, enrolment, sign-in binding,
    /// re-identification.
    Person,
    /// Anything else.
    Other,
}

impl Family {
    /// Every family, in the order a view lists them.
    pub const ALL: [Family; 5] = [
        Family::Analysis,
        Family::Release,
        Family::Grant,
        Family::Person,
        Family::Other,
    ];

    /// Its name in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Release => "release",
            Family::Grant => "grant",
            Family::Analysis => "analysis",
            Family::Person => "person",
            Family::Other => "other",
        }
    }

    /// The family of a name, if it is one.
    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// What an audit event concerns. Its text ([`Subject::text`]) is what an
/// entry's bytes carry, as older logs wrote it; the store keeps the
/// project and the release beside it as columns, so that finding the
/// entries of a project or a release reads no text back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A project, by its grant's id (`project N`).
    Project(i64),
    /// A grant itself (`grant N`): the same project.
    Grant(i64),
    /// An application (`application N`).
    Application(i64),
    /// A held result (`result N`).
    Result(i64),
    /// A release, by name.
    Release(&'a str),
    /// An account, by name.
    Account(&'a str),
    /// An organization, by name.
    Organization(&'a str),
    /// A person, named only by commitment in the entry (`person`).
    Person,
    /// Enrolment in the citizens' portal (`enrolment`).
    Enrolment,
    /// Signing in to the API or the pages (`api`).
    SignIn,
    /// Signing in with the My Number Card through an OpenID provider
    /// (`card`).
    CardSignIn,
    /// Signing in for a re-identification at the command line
    /// (`reidentification`).
    Reidentification,
}

impl Subject<'_> {
    /// The text an entry carries.
    pub fn text(&self) -> String {
        match self {
            Subject::Project(id) => format!("project {id}"),
            Subject::Grant(id) => format!("grant {id}"),
            Subject::Application(id) => format!("application {id}"),
            Subject::Result(id) => format!("result {id}"),
            Subject::Release(name) | Subject::Account(name) | Subject::Organization(name) => {
                (*name).to_owned()
            }
            Subject::Person => "person".into(),
            Subject::Enrolment => "enrolment".into(),
            Subject::SignIn => "api".into(),
            Subject::CardSignIn => "card".into(),
            Subject::Reidentification => "reidentification".into(),
        }
    }

    /// The project (grant id) it concerns, if it names one.
    pub fn project(&self) -> Option<i64> {
        match self {
            Subject::Project(id) | Subject::Grant(id) => Some(*id),
            _ => None,
        }
    }

    /// The release it names, if it names one.
    pub fn release(&self) -> Option<&str> {
        match self {
            Subject::Release(name) => Some(name),
            _ => None,
        }
    }
}

#[cfg(test)]
mod subject_tests {
    use super::*;

    #[test]
    fn subjects_read_as_older_logs_wrote_them() {
        assert_eq!(Subject::Project(7).text(), "project 7");
        assert_eq!(Subject::Grant(7).text(), "grant 7");
        assert_eq!(Subject::Grant(7).project(), Some(7));
        assert_eq!(Subject::Release("claims").text(), "claims");
        assert_eq!(Subject::Release("claims").release(), Some("claims"));
        assert_eq!(Subject::Account("claims").release(), None);
        assert_eq!(Subject::SignIn.text(), "api");
        assert_eq!(Subject::Application(3).project(), None);
    }
}
