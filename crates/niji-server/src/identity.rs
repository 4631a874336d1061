//! Where a citizen's identity comes from, behind one trait.
//!
//! In production a citizen proves who they are with their My Number Card,
//! through an OpenID Connect provider whose verified attributes name their
//! insured-person number; such a provider is another [`IdentitySource`].
//! Here a citizen proves it with an enrolment letter: the insured-person
//! number and birth date they type, and a one-time code an admin issued for
//! exactly those (the store checks the code against the claim).
//!
//! Either way, the platform turns the identifiers into the linkage's keyed
//! hashes at once, finds the person keys of the records that carry them,
//! and keeps only that binding: the identifiers live in this request's
//! memory and nowhere else.

use crate::problem::ApiError;
use chrono::NaiveDate;
use niji_ingest::Staging;
use niji_linkage::{Identity, Tokenizer};
use serde::Deserialize;

/// An insured person as their health-insurance card names them, with their
/// birth date. Never logged, never stored.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct InsuredPerson {
    /// 保険者番号: 6 or 8 digits.
    pub insurer: String,
    /// 記号 (empty on cards that carry none).
    #[serde(default)]
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番: two digits.
    pub branch: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth: String,
}

impl InsuredPerson {
    /// The linkage's view of it; a malformed birth date is named (the
    /// field, never its value).
    fn identity(&self) -> Result<Identity<'_>, ApiError> {
        let birth = NaiveDate::parse_from_str(self.birth.trim(), "%Y-%m-%d")
            .map_err(|_| ApiError::Unprocessable("birth: expected a date as YYYY-MM-DD".into()))?;
        Ok(Identity {
            insurer: Some(&self.insurer),
            symbol: Some(&self.symbol),
            number: Some(&self.number),
            branch: Some(&self.branch),
            birth: Some(birth),
            ..Identity::default()
        })
    }
}

/// Who a citizen is, as the platform can use it.
pub(crate) struct Identified {
    /// The keyed hash an enrolment code is bound to.
    pub claim: [u8; 32],
    /// The person keys of the records that carry the identity.
    pub persons: Vec<i64>,
}

/// A source of citizens' identities.
pub(crate) trait IdentitySource {
    /// The claim and person keys of `person`, or why not.
    fn identify(&self, person: &InsuredPerson) -> Result<Identified, ApiError>;
}

/// Identities from the linkage: claims and tokens under the linkage key,
/// person keys from the staging store's linked records.
pub(crate) struct Linkage<'a> {
    pub tokenizer: &'a Tokenizer,
    pub staging: &'a Staging,
}

impl IdentitySource for Linkage<'_> {
    fn identify(&self, person: &InsuredPerson) -> Result<Identified, ApiError> {
        let identity = person.identity()?;
        let claim = self.tokenizer.enrolment_claim(&identity).ok_or_else(|| {
            ApiError::Unprocessable(
                "the insurer number, number, branch and birth date are all needed".into(),
            )
        })?;
        let persons = self
            .staging
            .insured_persons(self.tokenizer, &identity)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Identified { claim, persons })
    }
}
