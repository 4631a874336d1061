//! The linkage plan (`linkage/plan.toml`): which tokens exist, what each
//! hashes, and how the linker may use it. Declared as data so that a change
//! of tokens is a reviewed change of a policy file, not of code.

use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// The plan this build carries, from the workspace's `linkage/plan.toml`.
pub const EMBEDDED: &str = include_str!("../../../linkage/plan.toml");

/// An identifier field a token can hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Field {
    /// Name in kana.
    #[serde(rename = "kana_name")]
    KanaName,
    /// Name in kanji.
    #[serde(rename = "kanji_name")]
    KanjiName,
    /// Birth date, as Gregorian YYYYMMDD.
    #[serde(rename = "birth")]
    Birth,
    /// Sex code.
    #[serde(rename = "sex")]
    Sex,
    /// Insurer number, eight digits.
    #[serde(rename = "insurer")]
    Insurer,
    /// Card symbol.
    #[serde(rename = "symbol")]
    Symbol,
    /// Card number.
    #[serde(rename = "number")]
    Number,
    /// Branch number, two digits.
    #[serde(rename = "branch")]
    Branch,
    /// The oldest insured number's insurer (eligibility service).
    #[serde(rename = "oldest.insurer")]
    OldestInsurer,
    /// The oldest insured number's symbol.
    #[serde(rename = "oldest.symbol")]
    OldestSymbol,
    /// The oldest insured number's number.
    #[serde(rename = "oldest.number")]
    OldestNumber,
    /// The oldest insured number's branch.
    #[serde(rename = "oldest.branch")]
    OldestBranch,
    /// The facility a local number belongs to.
    #[serde(rename = "facility")]
    Facility,
    /// A facility's own patient number.
    #[serde(rename = "local_id")]
    LocalId,
    /// Long-term care insurer number.
    #[serde(rename = "care.insurer")]
    CareInsurer,
    /// Long-term care insured number.
    #[serde(rename = "care.number")]
    CareNumber,
}

impl Field {
    /// Every field, in declaration order (`Field as usize` indexes it).
    pub const ALL: [Field; 16] = [
        Field::KanaName,
        Field::KanjiName,
        Field::Birth,
        Field::Sex,
        Field::Insurer,
        Field::Symbol,
        Field::Number,
        Field::Branch,
        Field::OldestInsurer,
        Field::OldestSymbol,
        Field::OldestNumber,
        Field::OldestBranch,
        Field::Facility,
        Field::LocalId,
        Field::CareInsurer,
        Field::CareNumber,
    ];
}

/// How names are normalized for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The strict rules ([`crate::normalize`]).
    #[default]
    Strict,
    /// Strict, then the loose mapping of `linkage/loose.toml`.
    Loose,
}

/// What the linker may do with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Joins records; a person has at most one, so groups with different
    /// identity tokens are never merged (ID5).
    Identity,
    /// Joins records that share it (ID1, the insured number).
    Join,
    /// Joins groups only when unambiguous (ID4).
    Bridge,
}

/// One token of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Its name, stored with every token (`tokens.kind`).
    pub name: String,
    /// The hash domain; tokens of one domain match. Defaults to the name.
    #[serde(default)]
    pub domain: Option<String>,
    /// The fields hashed, in order.
    pub fields: Vec<Field>,
    /// Fields that may be empty after normalization.
    #[serde(default)]
    pub may_be_empty: Vec<Field>,
    /// Name normalization.
    #[serde(default)]
    pub level: Level,
    /// How the linker uses it.
    pub role: Role,
    /// A person holds one value of it at a time (one card in a month), so
    /// two values in one month are two people: the guard against false
    /// merges.
    #[serde(default)]
    pub one_at_a_time: bool,
}

impl TokenSpec {
    /// The hash domain.
    pub fn domain(&self) -> &str {
        self.domain.as_deref().unwrap_or(&self.name)
    }
}

/// The linkage plan.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The tokens, in the order they are made.
    #[serde(rename = "token")]
    pub tokens: Vec<TokenSpec>,
}

/// A plan that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The file.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.origin, self.reason),
            None => write!(f, "{}: {}", self.origin, self.reason),
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// The plan this build carries.
    pub fn embedded() -> Plan {
        // Checked by a unit test; a broken embedded plan cannot ship.
        Plan::parse(EMBEDDED, "linkage/plan.toml").unwrap_or_else(|err| panic!("{err}"))
    }

    /// Reads a plan file.
    pub fn from_file(path: &Path) -> Result<Plan, PlanError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| PlanError {
            origin: origin.clone(),
            line: None,
            reason: err.to_string(),
        })?;
        Plan::parse(&text, &origin)
    }

    /// Parses and checks plan text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Plan, PlanError> {
        let plan: Plan = toml::from_str(text).map_err(|err| PlanError {
            origin: origin.to_owned(),
            line: err.span().map(|s| crate::line_of(text, s.start)),
            reason: err.message().trim().to_owned(),
        })?;
        plan.check().map_err(|reason| PlanError {
            origin: origin.to_owned(),
            line: None,
            reason,
        })?;
        Ok(plan)
    }

    fn check(&self) -> Result<(), String> {
        if self.tokens.is_empty() {
            return Err("the plan declares no token".into());
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let ok_name = !t.name.is_empty()
                && t.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok_name {
                return Err(format!(
                    "token `{}`: names are lower-case letters, digits and _",
                    t.name
                ));
            }
            if self.tokens[..i].iter().any(|o| o.name == t.name) {
                return Err(format!("token `{}` is declared twice", t.name));
            }
            if t.fields.is_empty() {
                return Err(format!("token `{}` hashes no field", t.name));
            }
            if let Some(f) = t.may_be_empty.iter().find(|f| !t.fields.contains(f)) {
                return Err(format!(
                    "token `{}`: may_be_empty names {f:?}, which it does not hash",
                    t.name
                ));
            }
            if t.may_be_empty.len() == t.fields.len() {
                return Err(format!("token `{}`: every field may be empty", t.name));
            }
        }
        if !self.tokens.iter().any(|t| t.role != Role::Bridge) {
            return Err("the plan needs a token that joins records (role identity or join)".into());
        }
        Ok(())
    }

    /// The token of that name.
    pub fn token(&self, name: &str) -> Option<&TokenSpec> {
        self.tokens.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_plan_parses_and_declares_the_issue_tokens() {
        let plan = Plan::embedded();
        for name in ["id5", "id1", "id4", "id4_loose", "insured"] {
            assert!(plan.token(name).is_some(), "{name}");
        }
        assert_eq!(plan.token("id5").unwrap().domain(), "insured");
        assert_eq!(plan.token("id5").unwrap().role, Role::Identity);
        assert_eq!(plan.token("id4").unwrap().role, Role::Bridge);
        assert_eq!(plan.token("id4_loose").unwrap().level, Level::Loose);
    }

    #[test]
    fn field_all_is_in_declaration_order() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "{f:?}");
        }
    }

    #[test]
    fn bad_plans_name_their_line_or_reason() {
        let err = Plan::parse(
            "[[token]]\nname = \"a\"\nfields = [\"shoe_size\"]\nrole = \"join\"\n",
            "p.toml",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("p.toml: line 3: "), "{err}");
        let twice = "[[token]]\nname = \"a\"\nfields = [\"sex\"]\nrole = \"join\"\n".repeat(2);
        assert!(
            Plan::parse(&twice, "p")
                .unwrap_err()
                .reason
                .contains("declared twice")
        );
        let bridges = "[[token]]\nname = \"a\"\nfields = [\"sex\"]\nrole = \"bridge\"\n";
        assert!(
            Plan::parse(bridges, "p")
                .unwrap_err()
                .reason
                .contains("joins records")
        );
        let empty = "[[token]]\nname = \"a\"\nfields = [\"sex\"]\nmay_be_empty = [\"birth\"]\nrole = \"join\"\n";
        assert!(
            Plan::parse(empty, "p")
                .unwrap_err()
                .reason
                .contains("does not hash")
        );
        assert!(
            Plan::parse("token = []\n", "p")
                .unwrap_err()
                .reason
                .contains("no token")
        );
    }
}
