//! Release policies (`policies/release-*.toml`): what a release holds and
//! how it is processed, declared as data and checked against the tier's
//! rules before anything is built.
//!
//! A release has a **person table** (one row per linked person: the
//! quasi-identifiers the privacy model protects, and the sensitive
//! attribute) and **event tables** drawn from the content tables, each
//! column with a role and its transformations. The tier decides what the
//! policy may ask for:
//!
//! - **anonymized**: a privacy model is required; provenance codes that
//!   lead back to source records are never released; free text is
//!   dropped; every kept code column loses its rare values (held by fewer
//!   persons than `rare_code_min_persons`); every kept number is top-coded.
//! - **pseudonymized**: chart data only (the `fhir` source family), no
//!   privacy model, rare values and exact numbers kept.

use niji_core::content::{self, Kind, TABLES};
use serde::Deserialize;
use std::fmt;
use std::path::Path;
use toml::Spanned;

/// The legal tier of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// 匿名加工医療情報: generalized, rare values removed, linkable across
    /// sources, for any approved user.
    Anonymized,
    /// 仮名加工医療情報: exact values kept, one source family, certified
    /// users only.
    Pseudonymized,
}

impl Tier {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Anonymized => "anonymized",
            Tier::Pseudonymized => "pseudonymized",
        }
    }
}

/// A column's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Identifies a person or leads back to a record: dropped.
    Direct,
    /// A quasi-identifier: generalized.
    Quasi,
    /// The sensitive attribute the diversity criteria protect.
    Sensitive,
    /// Released as transformed.
    Insensitive,
}

/// What a person-table column is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derive {
    /// Age in whole years at the reference date, from the year-month of
    /// birth (born on the first of the month).
    Age,
    /// Year-month of birth, `YYYY-MM`.
    BirthMonth,
    /// Sex, `1` male or `2` female.
    Sex,
    /// The prefecture (JIS code, two digits) the person's records name
    /// most often: a claim's 都道府県, a ten-digit facility code's first
    /// two digits, a chart Patient's address.
    Prefecture,
    /// The ICD-10 category (three characters) the person's main diagnoses
    /// name most often, `none` without one.
    MainDiagnosis,
}

/// How a person-table quasi-identifier is generalized, level by level.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Generalize {
    /// Integer intervals of these widths (each a multiple of the last),
    /// then `*`.
    Intervals(Vec<i64>),
    /// The first n characters, for each n, then `*`.
    Prefixes(Vec<usize>),
    /// Prefecture → region (the eight regions), then `*`.
    Regions,
    /// The value, then `*`.
    Suppress,
}

/// A column of the person table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonColumn {
    /// Its name in the release.
    pub name: String,
    /// Its source.
    pub derive: Derive,
    /// Its role.
    pub role: Role,
    /// For a quasi-identifier: its hierarchy.
    #[serde(default)]
    pub generalize: Option<Generalize>,
    /// Ages from this one up share one value at every level ("90+").
    #[serde(default)]
    pub top: Option<i64>,
    /// For `main_diagnosis`: what a person whose records mark no main
    /// diagnosis gets.
    #[serde(default)]
    pub unmarked: Unmarked,
}

/// The main diagnosis of a person whose records mark none (JP-CLINS
/// charts carry no main-diagnosis mark; claims do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unmarked {
    /// `none`.
    #[default]
    None,
    /// The ICD-10 category their diagnoses name most often.
    MostFrequent,
}

impl Derive {
    /// What the column holds, in words.
    pub fn doc(self) -> &'static str {
        match self {
            Derive::Age => "age in whole years at the release's reference date",
            Derive::BirthMonth => "year-month of birth (YYYY-MM)",
            Derive::Sex => "sex: 1 male, 2 female",
            Derive::Prefecture => "prefecture (JIS code) the person's records name most often",
            Derive::MainDiagnosis => {
                "ICD-10 category the person's main diagnoses name most often (none without one)"
            }
        }
    }
}

impl PersonColumn {
    /// What the released column holds and how it was processed; `level`
    /// is the generalization level the search chose, if it ran.
    pub fn describe(&self, level: Option<u8>) -> String {
        let mut text = self.derive.doc().to_owned();
        if self.derive == Derive::MainDiagnosis && self.unmarked == Unmarked::MostFrequent {
            text.push_str(
                "; for a person whose records mark no main diagnosis, the category all their \
                 diagnoses name most often",
            );
        }
        match (self.role, &self.generalize) {
            (Role::Quasi, Some(g)) => {
                let ladder = match g {
                    Generalize::Intervals(widths) => format!(
                        "bands of {} years",
                        widths
                            .iter()
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Generalize::Prefixes(n) => format!(
                        "first {} characters",
                        n.iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Generalize::Regions => "prefecture, then region".into(),
                    Generalize::Suppress => "the value, or * when suppressed".into(),
                };
                text.push_str(&format!(
                    "; quasi-identifier, generalized ({ladder}, then *)"
                ));
                if let Some(l) = level {
                    text.push_str(&format!(" to level {l}"));
                }
            }
            (Role::Sensitive, _) => text.push_str("; the sensitive attribute of the privacy model"),
            _ => {}
        }
        if let Some(top) = self.top {
            text.push_str(&format!("; {top} and over as one ({top}+)"));
        }
        text
    }
}

/// How an event date is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateForm {
    /// The date itself.
    Day,
    /// `YYYY-MM`.
    Month,
    /// `YYYY`.
    Year,
    /// The date moved by a per-person offset within ± `shift_days`, the
    /// same for all of one person's dates in the release.
    Shift,
}

/// What a postcode (or its first three digits) is released as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostcodeForm {
    /// The JIS code (`01`–`47`) of the prefecture the postcode area lies in.
    Prefecture,
    /// The region of that prefecture (Hokkaido, Tohoku, … Kyushu-Okinawa).
    Region,
}

/// A column of an event table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventColumn {
    /// The content column.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// For a date: how it is released.
    #[serde(default)]
    pub date: Option<DateForm>,
    /// For a number: values above become this.
    #[serde(default)]
    pub top_code: Option<f64>,
    /// For a number: values below become this.
    #[serde(default)]
    pub bottom_code: Option<f64>,
    /// For a code: keep only the first n characters.
    #[serde(default)]
    pub prefix: Option<usize>,
    /// For a postcode: release the prefecture or region it lies in.
    #[serde(default)]
    pub postcode: Option<PostcodeForm>,
}

impl EventColumn {
    /// What the released column holds (`doc`, the content schema's words)
    /// and how it was processed; `rare`, the fewest persons a kept code
    /// value has.
    pub fn describe(&self, doc: &str, rare: Option<u64>) -> String {
        let mut text = doc.to_owned();
        let mut add = |s: String| {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&s);
        };
        match self.date {
            Some(DateForm::Day) | None => {}
            Some(DateForm::Month) => add("as year-month (YYYY-MM)".into()),
            Some(DateForm::Year) => add("as year (YYYY)".into()),
            Some(DateForm::Shift) => add("shifted by a per-person offset".into()),
        }
        if let Some(top) = self.top_code {
            add(format!("values above {top} top-coded to {top}"));
        }
        if let Some(bottom) = self.bottom_code {
            add(format!("values below {bottom} bottom-coded to {bottom}"));
        }
        if let Some(n) = self.prefix {
            add(format!("first {n} characters"));
        }
        match self.postcode {
            Some(PostcodeForm::Prefecture) => {
                add("as the JIS code of the prefecture it lies in (01–47)".into())
            }
            Some(PostcodeForm::Region) => add("as the region of the prefecture it lies in".into()),
            None => {}
        }
        if let Some(min) = rare {
            add(format!("values of fewer than {min} persons replaced by *"));
        }
        text
    }
}

/// An event table of the release.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTable {
    /// Its name in the release.
    pub name: String,
    /// The content table it is drawn from.
    pub from: String,
    /// The columns released (any other is not).
    pub columns: Vec<Spanned<EventColumn>>,
}

impl EventTable {
    /// The date column whose fiscal year and month lay out the table's
    /// files in the release directory: its first released date column.
    pub fn partition_column(&self) -> Option<&str> {
        self.columns
            .iter()
            .map(|c| c.get_ref())
            .find(|c| c.date.is_some() && c.role != Role::Direct)
            .map(|c| c.name.as_str())
    }
}

/// l-diversity as a policy states it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum DiversitySpec {
    /// Distinct l-diversity.
    Distinct {
        /// l.
        l: u32,
    },
    /// Entropy l-diversity.
    Entropy {
        /// l.
        l: f64,
    },
    /// Recursive (c, l)-diversity.
    Recursive {
        /// c.
        c: f64,
        /// l.
        l: u32,
    },
}

/// The privacy model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// k-anonymity.
    pub k: u32,
    /// l-diversity of the sensitive attribute.
    #[serde(default)]
    pub l_diversity: Option<DiversitySpec>,
    /// t-closeness of the sensitive attribute.
    #[serde(default)]
    pub t_closeness: Option<f64>,
    /// The share of persons that may be withheld, 0 to 1.
    #[serde(default)]
    pub max_suppression: f64,
}

/// The release section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    /// The tier.
    pub tier: Tier,
    /// What the release is for, in a sentence.
    pub description: String,
    /// The source kinds whose records it draws on.
    pub sources: Spanned<Vec<String>>,
    /// The date ages are computed at, `YYYY-MM-DD`.
    pub reference_date: String,
    /// Anonymized tier: code values held by fewer persons are removed.
    #[serde(default)]
    pub rare_code_min_persons: Option<u64>,
    /// For shifted dates: the largest shift in days.
    #[serde(default)]
    pub shift_days: Option<u32>,
}

/// A release policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The release section.
    pub release: ReleaseSpec,
    /// The person table's columns.
    pub persons: Vec<Spanned<PersonColumn>>,
    /// The privacy model (anonymized tier).
    #[serde(default)]
    pub privacy: Option<Privacy>,
    /// The event tables.
    #[serde(default, rename = "table")]
    pub tables: Vec<Spanned<EventTable>>,
}

/// A policy that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.origin, self.reason),
            None => write!(f, "{}: {}", self.origin, self.reason),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The source kinds, each with its family. A pseudonymized release draws on
/// one family: chart data.
pub const SOURCES: [(&str, &str); 8] = [
    ("uke", "NDB-style claims"),
    ("dpc-ef", "DPC"),
    ("dpc-ff1", "DPC"),
    ("care-claims", "care"),
    ("care-certifications", "care"),
    ("eligibility", "eligibility"),
    ("checkup", "checkups"),
    ("fhir", "chart"),
];

/// The family a pseudonymized release may draw on.
pub const PSEUDONYMIZED_FAMILY: &str = "chart";

/// Content columns that hold free text: dropped from anonymized releases.
pub const FREE_TEXT: [(&str, &str); 1] = [("diagnoses", "name")];

/// Content columns that hold a postcode or its leading digits: an
/// anonymized release gives them only as a prefecture or region.
pub const POSTCODES: [(&str, &str); 1] = [("dpc_stays", "postcode_area")];

/// Provenance columns that lead back to source records (or name the
/// facility), never released as they are.
pub const PROVENANCE: [&str; 5] = ["batch_id", "record", "source", "locator", "facility"];

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

impl Policy {
    /// Each event table with the column that lays out its files
    /// ([`EventTable::partition_column`]).
    pub fn partitions(&self) -> Vec<(String, String)> {
        self.tables
            .iter()
            .map(|t| t.get_ref())
            .filter_map(|t| Some((t.name.clone(), t.partition_column()?.to_owned())))
            .collect()
    }

    /// Reads and checks a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| PolicyError {
            origin: origin.clone(),
            line: None,
            reason: err.to_string(),
        })?;
        Policy::parse(&text, &origin)
    }

    /// Parses and checks policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let fail = |span: Option<std::ops::Range<usize>>, reason: String| PolicyError {
            origin: origin.to_owned(),
            line: span.map(|s| line_of(text, s.start)),
            reason,
        };
        let policy: Policy = toml::from_str(text)
            .map_err(|err| fail(err.span(), err.message().trim().to_owned()))?;
        policy
            .check()
            .map_err(|(span, reason)| fail(span, reason))?;
        Ok(policy)
    }

    /// The privacy model, for the search.
    pub fn model(&self) -> Option<crate::model::Model> {
        self.privacy.as_ref().map(|p| crate::model::Model {
            k: p.k,
            diversity: p.l_diversity.map(|d| match d {
                DiversitySpec::Distinct { l } => crate::model::Diversity::Distinct(l),
                DiversitySpec::Entropy { l } => crate::model::Diversity::Entropy(l),
                DiversitySpec::Recursive { c, l } => crate::model::Diversity::Recursive { c, l },
            }),
            closeness: p.t_closeness,
            max_suppression: p.max_suppression,
        })
    }

    fn check(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        let r = &self.release;
        let sources_span = Some(r.sources.span());
        if r.sources.get_ref().is_empty() {
            return Err((sources_span, "the release draws on no source".into()));
        }
        for s in r.sources.get_ref() {
            if !SOURCES.iter().any(|(name, _)| name == s) {
                let known: Vec<&str> = SOURCES.iter().map(|(n, _)| *n).collect();
                return Err((
                    sources_span,
                    format!("unknown source {s:?}; sources are {}", known.join(", ")),
                ));
            }
        }
        if chrono::NaiveDate::parse_from_str(&r.reference_date, "%Y-%m-%d").is_err() {
            return Err((
                None,
                format!("reference_date {:?} is not YYYY-MM-DD", r.reference_date),
            ));
        }
        match r.tier {
            Tier::Pseudonymized => self.check_pseudonymized()?,
            Tier::Anonymized => self.check_anonymized()?,
        }
        self.check_persons()?;
        let mut names: Vec<&str> = vec!["persons"];
        for t in &self.tables {
            let span = Some(t.span());
            let t = t.get_ref();
            if names.contains(&t.name.as_str()) {
                return Err((span, format!("table {:?} is declared twice", t.name)));
            }
            names.push(&t.name);
            self.check_table(t, span)?;
        }
        Ok(())
    }

    fn check_pseudonymized(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        let mixed: Vec<String> = self
            .release
            .sources
            .get_ref()
            .iter()
            .filter_map(|s| {
                let family = SOURCES.iter().find(|(n, _)| n == s).map(|(_, f)| *f)?;
                (family != PSEUDONYMIZED_FAMILY).then(|| format!("{s} ({family})"))
            })
            .collect();
        if !mixed.is_empty() {
            return Err((
                Some(self.release.sources.span()),
                format!(
                    "a pseudonymized release draws on chart data only (source fhir); it may not be combined with {}: the Act allows linking NDB, care and DPC data only in anonymized releases",
                    mixed.join(", ")
                ),
            ));
        }
        if self.privacy.is_some() {
            return Err((None, "a pseudonymized release keeps exact values; remove [privacy], which only the anonymized tier applies".into()));
        }
        Ok(())
    }

    fn check_anonymized(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        let Some(p) = &self.privacy else {
            return Err((
                None,
                "an anonymized release needs a privacy model: add [privacy] with at least k".into(),
            ));
        };
        if p.k < 2 {
            return Err((
                None,
                format!(
                    "k = {} protects no one; an anonymized release needs k of 2 or more",
                    p.k
                ),
            ));
        }
        if !(0.0..=1.0).contains(&p.max_suppression) {
            return Err((
                None,
                format!(
                    "max_suppression {} is not a share between 0 and 1",
                    p.max_suppression
                ),
            ));
        }
        if self.release.rare_code_min_persons.unwrap_or(0) < 2 {
            return Err((
                None,
                "an anonymized release removes rare codes: set rare_code_min_persons to 2 or more"
                    .into(),
            ));
        }
        let sensitive = self
            .persons
            .iter()
            .any(|c| c.get_ref().role == Role::Sensitive);
        if (p.l_diversity.is_some() || p.t_closeness.is_some()) && !sensitive {
            return Err((
                None,
                "l-diversity and t-closeness need a person column with role = \"sensitive\"".into(),
            ));
        }
        Ok(())
    }

    fn check_persons(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        let anonymized = self.release.tier == Tier::Anonymized;
        let mut sensitive = 0;
        for (i, c) in self.persons.iter().enumerate() {
            let span = Some(c.span());
            let c = c.get_ref();
            if self.persons[..i].iter().any(|o| o.get_ref().name == c.name) || c.name == "pseudonym"
            {
                return Err((
                    span,
                    format!(
                        "person column {:?} is declared twice (or is the reserved pseudonym)",
                        c.name
                    ),
                ));
            }
            match c.role {
                Role::Quasi if anonymized && c.generalize.is_none() => {
                    return Err((
                        span,
                        format!("quasi-identifier {:?} needs a generalize hierarchy", c.name),
                    ));
                }
                Role::Sensitive => sensitive += 1,
                _ => {}
            }
            let fits = match (&c.generalize, c.derive) {
                (None | Some(Generalize::Suppress), _) => true,
                (Some(Generalize::Intervals(_)), d) => d == Derive::Age,
                (Some(Generalize::Prefixes(_)), d) => {
                    matches!(d, Derive::BirthMonth | Derive::MainDiagnosis)
                }
                (Some(Generalize::Regions), d) => d == Derive::Prefecture,
            };
            if !fits {
                return Err((
                    span,
                    format!(
                        "{:?}: its generalize hierarchy does not fit a column derived from {:?}",
                        c.name, c.derive
                    ),
                ));
            }
            if c.top.is_some() && c.derive != Derive::Age {
                return Err((span, format!("{:?}: top coding applies to age", c.name)));
            }
            if c.generalize.is_some() && c.role != Role::Quasi {
                return Err((
                    span,
                    format!("{:?}: only a quasi-identifier is generalized", c.name),
                ));
            }
            if anonymized
                && c.derive == Derive::BirthMonth
                && c.role != Role::Quasi
                && c.role != Role::Direct
            {
                return Err((
                    span,
                    format!(
                        "{:?}: the birth month is a quasi-identifier in an anonymized release",
                        c.name
                    ),
                ));
            }
        }
        if sensitive > 1 {
            return Err((None, "one person column at most may be sensitive".into()));
        }
        if anonymized && !self.persons.iter().any(|c| c.get_ref().role == Role::Quasi) {
            return Err((
                None,
                "an anonymized release needs at least one quasi-identifier".into(),
            ));
        }
        Ok(())
    }

    fn check_table(
        &self,
        t: &EventTable,
        span: Option<std::ops::Range<usize>>,
    ) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        let Some(table) = TABLES
            .iter()
            .find(|c| c.name == t.from && c.name != "subjects" && c.name != "tokens")
        else {
            let known: Vec<&str> = TABLES
                .iter()
                .map(|c| c.name)
                .filter(|n| *n != "subjects" && *n != "tokens")
                .collect();
            return Err((
                span,
                format!(
                    "table {:?}: no content table {:?}; tables are {}",
                    t.name,
                    t.from,
                    known.join(", ")
                ),
            ));
        };
        let anonymized = self.release.tier == Tier::Anonymized;
        for c in &t.columns {
            let span = Some(c.span());
            let c = c.get_ref();
            let Some(column) = table.all_columns().find(|col| col.name == c.name) else {
                return Err((
                    span,
                    format!("table {:?}: {} has no column {:?}", t.name, t.from, c.name),
                ));
            };
            if c.role == Role::Direct {
                continue;
            }
            if PROVENANCE.contains(&c.name.as_str()) {
                return Err((
                    span,
                    format!(
                        "table {:?}: {} leads back to source records and is never released; give it role = \"direct\"",
                        t.name, c.name
                    ),
                ));
            }
            if anonymized && FREE_TEXT.contains(&(t.from.as_str(), c.name.as_str())) {
                return Err((
                    span,
                    format!(
                        "table {:?}: {} is free text; an anonymized release drops it (role = \"direct\")",
                        t.name, c.name
                    ),
                ));
            }
            check_transforms(t, c, column, anonymized).map_err(|reason| (span.clone(), reason))?;
        }
        Ok(())
    }
}

fn check_transforms(
    t: &EventTable,
    c: &EventColumn,
    column: &content::Column,
    anonymized: bool,
) -> Result<(), String> {
    let numeric = matches!(column.kind, Kind::Int | Kind::Real);
    let here = format!("table {:?}: column {}", t.name, c.name);
    if c.date.is_some() != (column.kind == Kind::Date) {
        return Err(match column.kind {
            Kind::Date => format!("{here} is a date: say how it is released (date = \"month\", …)"),
            _ => format!("{here} is not a date"),
        });
    }
    if (c.top_code.is_some() || c.bottom_code.is_some()) && !numeric {
        return Err(format!("{here} is not a number to top- or bottom-code"));
    }
    if c.prefix.is_some() && column.kind != Kind::Text {
        return Err(format!("{here} is not a code to shorten"));
    }
    if c.postcode.is_some() && !POSTCODES.contains(&(t.from.as_str(), c.name.as_str())) {
        return Err(format!("{here} is not a postcode"));
    }
    if c.postcode.is_some() && c.prefix.is_some() {
        return Err(format!(
            "{here}: a postcode is released as a place or shortened, not both"
        ));
    }
    if column.kind == Kind::Token {
        return Err(format!("{here} is a token and never released"));
    }
    if anonymized {
        if numeric && c.top_code.is_none() {
            return Err(format!(
                "{here}: an anonymized release top-codes every number (top_code = …)"
            ));
        }
        if POSTCODES.contains(&(t.from.as_str(), c.name.as_str())) && c.postcode.is_none() {
            return Err(format!(
                "{here}: an anonymized release gives a postcode as its prefecture or region (postcode = \"prefecture\"), or drops it"
            ));
        }
        if c.date == Some(DateForm::Day) {
            return Err(format!(
                "{here}: an anonymized release coarsens or shifts dates (month, year or shift)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../policies")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_example_policies_parse() {
        let a = Policy::parse(&example("release-anonymized-example.toml"), "a").unwrap();
        assert_eq!(a.release.tier, Tier::Anonymized);
        assert!(a.model().is_some());
        let p = Policy::parse(&example("release-pseudonymized-example.toml"), "p").unwrap();
        assert_eq!(p.release.tier, Tier::Pseudonymized);
        assert!(p.model().is_none());
    }

    #[test]
    fn a_pseudonymized_policy_mixing_claims_is_refused_at_its_sources_line() {
        let text = example("release-pseudonymized-example.toml")
            .replace("sources = [\"fhir\"]", "sources = [\"fhir\", \"uke\"]");
        let e = Policy::parse(&text, "p.toml").unwrap_err();
        let line = text.lines().position(|l| l.starts_with("sources")).unwrap() + 1;
        assert_eq!(e.line, Some(line));
        assert!(
            e.reason
                .contains("may not be combined with uke (NDB-style claims)"),
            "{e}"
        );
    }

    #[test]
    fn anonymized_rules_are_enforced() {
        let base = example("release-anonymized-example.toml");
        let cases = [
            ("k = 5", "k = 1", "protects no one"),
            (
                "rare_code_min_persons = 10",
                "rare_code_min_persons = 1",
                "removes rare codes",
            ),
            (
                "{ name = \"start\", role = \"insensitive\", date = \"month\" }",
                "{ name = \"start\", role = \"insensitive\", date = \"day\" }",
                "coarsens or shifts dates",
            ),
            (
                "{ name = \"points\", role = \"insensitive\", top_code = 100000 }",
                "{ name = \"points\", role = \"insensitive\" }",
                "top-codes every number",
            ),
            (
                "{ name = \"name\", role = \"direct\" }",
                "{ name = \"name\", role = \"insensitive\" }",
                "is free text",
            ),
            (
                "{ name = \"locator\", role = \"direct\" }",
                "{ name = \"locator\", role = \"insensitive\" }",
                "leads back to source records",
            ),
            (
                "{ name = \"postcode_area\", role = \"insensitive\", postcode = \"prefecture\" }",
                "{ name = \"postcode_area\", role = \"insensitive\" }",
                "gives a postcode as its prefecture or region",
            ),
            (
                "{ name = \"outcome\", role = \"insensitive\" },\n    { name = \"main_icd10\"",
                "{ name = \"outcome\", role = \"insensitive\", postcode = \"region\" },\n    { name = \"main_icd10\"",
                "is not a postcode",
            ),
        ];
        for (from, to, reason) in cases {
            assert!(base.contains(from), "the example lacks {from}");
            let e = Policy::parse(&base.replace(from, to), "a.toml").unwrap_err();
            assert!(e.reason.contains(reason), "{to}: {e}");
        }
    }

    #[test]
    fn unknown_tables_columns_and_keys_are_named_with_lines() {
        let base = example("release-anonymized-example.toml");
        let e = Policy::parse(
            &base.replace("from = \"diagnoses\"", "from = \"diagnosis\""),
            "a.toml",
        )
        .unwrap_err();
        assert!(e.reason.contains("no content table \"diagnosis\""), "{e}");
        assert!(e.line.is_some());
        let e = Policy::parse(&base.replace("k = 5", "k = 5\nkk = 3"), "a.toml").unwrap_err();
        assert!(e.reason.contains("unknown field `kk`"), "{e}");
        assert!(e.to_string().starts_with("a.toml: line "), "{e}");
    }
}
