/*!
The linkage function of niji: the one component that sees identifiers.

Adapters hand each record's identifiers to a [`Tokenizer`] as an
[`Identity`] and get back keyed-hash [`Token`]s (HMAC-SHA-256 under the
platform's linkage key). Only the tokens travel on; the identifiers are
dropped in memory. Records that share tokens are later joined into one
linked person.

Identifiers are normalized before hashing ([`normalize`]), so that the
notation variants real files carry (half-width kana, a space between the
names or none, full-width digits, 国保's six-digit insurer numbers) give the
same token.

```
use niji_linkage::{Identity, Sex, Tokenizer};

let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
let tokenizer = Tokenizer::new(key);
let birth = chrono::NaiveDate::from_ymd_opt(1970, 4, 1);
let a = Identity { kana_name: Some("ﾔﾏﾀﾞ ﾀﾛｳ"), birth, sex: Some(Sex::Male), ..Identity::default() };
let b = Identity { kana_name: Some("ヤマダ　タロウ"), birth, sex: Some(Sex::Male), ..Identity::default() };
let id4 = |i: &Identity| tokenizer.tokens(i).into_iter().find(|t| &*t.kind == "id4");
assert_eq!(id4(&a), id4(&b));
```

# Architecture invariants

- Tokens are keyed: without the linkage key they cannot be recomputed from
  a name and a birth date by enumeration.
- Nothing here stores, prints or logs an identifier; [`Identity`] has no
  `Debug`.
*/
#![deny(missing_docs)]

pub mod link;
pub mod loose;
pub mod normalize;
pub mod plan;
pub mod quality;

pub use plan::{Field, Level, Plan, PlanError, Role, TokenSpec};

use chrono::NaiveDate;
use ring::hmac;
use std::sync::Arc;

/// Sex as claims code it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// 1.
    Male,
    /// 2.
    Female,
}

impl Sex {
    /// Parses the claims code (`1`, `2`) or the FHIR gender (`male`,
    /// `female`). Anything else is not a sex this platform links on.
    pub fn parse(code: &str) -> Option<Sex> {
        match code.trim() {
            "1" | "male" => Some(Sex::Male),
            "2" | "female" => Some(Sex::Female),
            _ => None,
        }
    }

    /// The claims code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
        }
    }
}

/// The identifiers of one record, borrowed from the parser's buffers for as
/// long as tokenizing takes. Every field is optional: each source carries a
/// different subset.
#[derive(Default, Clone, Copy)]
pub struct Identity<'a> {
    /// Name in kanji.
    pub kanji_name: Option<&'a str>,
    /// Name in kana.
    pub kana_name: Option<&'a str>,
    /// Birth date.
    pub birth: Option<NaiveDate>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Health-insurance insurer number (6 or 8 digits).
    pub insurer: Option<&'a str>,
    /// Card symbol (記号).
    pub symbol: Option<&'a str>,
    /// Card number (番号).
    pub number: Option<&'a str>,
    /// Branch number (枝番), two digits.
    pub branch: Option<&'a str>,
    /// The eligibility service's answer: the person's oldest individual-unit
    /// insured number, as (insurer, symbol, number, branch).
    pub oldest: Option<(&'a str, &'a str, &'a str, &'a str)>,
    /// Facility the local number belongs to.
    pub facility: Option<&'a str>,
    /// A facility's own patient number: chart number, DPC データ識別番号.
    pub local_id: Option<&'a str>,
    /// Long-term care insurer number and insured number.
    pub care: Option<(&'a str, &'a str)>,
}

/// A keyed-hash token: HMAC-SHA-256 of normalized identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    /// Its name in the linkage plan (`id1`, `id4`, …).
    pub kind: Arc<str>,
    /// The 32 bytes.
    pub bytes: [u8; 32],
}

/// Turns identities into tokens under the linkage key, as the linkage plan
/// says.
pub struct Tokenizer {
    key: hmac::Key,
    plan: Plan,
    /// The plan's token names, shared by every token made.
    names: Vec<Arc<str>>,
}

/// Separates the fields of a hash input; it cannot occur in normalized
/// identifiers.
const SEP: u8 = 0x1f;

/// Slots of the per-identity cache of normalized fields: every field at
/// both levels.
const SLOTS: usize = 2 * Field::ALL.len();

/// The cache slot of a field at a level. Only names have a loose form.
fn slot(field: Field, level: Level) -> usize {
    let level = match field {
        Field::KanaName | Field::KanjiName => level,
        _ => Level::Strict,
    };
    2 * field as usize + usize::from(level == Level::Loose)
}

fn normalized(id: &Identity, field: Field, level: Level) -> Option<String> {
    use normalize::{branch, date, digits, insurer, name};
    let named = |s: &str| match level {
        Level::Strict => name(s),
        Level::Loose => loose::loose(&name(s)),
    };
    let oldest = id.oldest;
    let care = id.care;
    match field {
        Field::KanaName => id.kana_name.map(named),
        Field::KanjiName => id.kanji_name.map(named),
        Field::Birth => id.birth.map(date),
        Field::Sex => id.sex.map(|s| s.code().to_owned()),
        Field::Insurer => id.insurer.map(insurer),
        Field::Symbol => id.symbol.map(name),
        Field::Number => id.number.map(name),
        Field::Branch => id.branch.map(branch),
        Field::OldestInsurer => oldest.map(|o| insurer(o.0)),
        Field::OldestSymbol => oldest.map(|o| name(o.1)),
        Field::OldestNumber => oldest.map(|o| name(o.2)),
        Field::OldestBranch => oldest.map(|o| branch(o.3)),
        Field::Facility => id.facility.map(|f| f.trim().to_owned()),
        Field::LocalId => id.local_id.map(digits),
        Field::CareInsurer => care.map(|c| insurer(c.0)),
        Field::CareNumber => care.map(|c| digits(c.1)),
    }
}

impl Tokenizer {
    /// A tokenizer under `key`, the platform's linkage key, with the plan
    /// this build carries.
    pub fn new(key: hmac::Key) -> Self {
        Self::with_plan(key, Plan::embedded())
    }

    /// A tokenizer under `key` with another plan.
    pub fn with_plan(key: hmac::Key, plan: Plan) -> Self {
        let names = plan
            .tokens
            .iter()
            .map(|t| Arc::from(t.name.as_str()))
            .collect();
        Self { key, plan, names }
    }

    /// The plan it follows.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    fn hash(&self, domain: &str, parts: &[&str]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(domain.as_bytes());
        for p in parts {
            ctx.update(&[SEP]);
            ctx.update(p.as_bytes());
        }
        let tag = ctx.sign();
        let mut out = [0; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Every token of the plan that the identity allows. A token is made
    /// only when all of its fields are present and non-empty after
    /// normalization (but those the plan lets be empty).
    pub fn tokens(&self, id: &Identity) -> Vec<Token> {
        // Each field is normalized once, however many tokens use it.
        let mut cache: [Option<Option<String>>; SLOTS] = std::array::from_fn(|_| None);
        for spec in &self.plan.tokens {
            for &field in &spec.fields {
                let i = slot(field, spec.level);
                if cache[i].is_none() {
                    cache[i] = Some(normalized(id, field, spec.level));
                }
            }
        }
        let mut out = Vec::with_capacity(self.plan.tokens.len());
        let mut parts: Vec<&str> = Vec::with_capacity(6);
        'tokens: for (spec, name) in self.plan.tokens.iter().zip(&self.names) {
            parts.clear();
            for &field in &spec.fields {
                match cache[slot(field, spec.level)]
                    .as_ref()
                    .and_then(Option::as_deref)
                {
                    Some(v) if !v.is_empty() || spec.may_be_empty.contains(&field) => parts.push(v),
                    _ => continue 'tokens,
                }
            }
            out.push(Token {
                kind: Arc::clone(name),
                bytes: self.hash(spec.domain(), &parts),
            });
        }
        out
    }
}

impl Tokenizer {
    /// The enrolment claim of an insured person: a keyed hash, under the
    /// linkage key and a domain of its own (`enrolment`), of the normalized
    /// insured-person number (insurer, symbol, number, branch) and birth
    /// date. An enrolment code is bound to it, so that the code works only
    /// with the identifiers it was issued for, and neither is stored. `None`
    /// when a part is missing (the symbol may be empty).
    pub fn enrolment_claim(&self, id: &Identity) -> Option<[u8; 32]> {
        use normalize::{branch, date, insurer, name};
        let parts = [
            id.insurer.map(insurer)?,
            id.symbol.map(name).unwrap_or_default(),
            id.number.map(name)?,
            id.branch.map(branch)?,
            id.birth.map(date)?,
        ];
        if parts[0].is_empty() || parts[2].is_empty() || parts[3].is_empty() {
            return None;
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        Some(self.hash("enrolment", &refs))
    }

    /// The disclosure tag of a pseudonym in a pseudonymized release: a
    /// keyed hash, under the linkage key and a domain of its own
    /// (`disclosure`), of the release name and the pseudonym. The release
    /// build stores each member's tag beside their person key; a row-level
    /// result that shows a pseudonym finds, by its tag, whom it showed, so
    /// that the person's view can say so. Keyed, so that the stored tags
    /// lead from a pseudonym to a person only for the holder of the linkage
    /// key, who could already re-link the person's identifiers.
    pub fn disclosure_tag(&self, release: &str, pseudonym: &str) -> [u8; 32] {
        self.hash("disclosure", &[release, pseudonym])
    }

    /// The tokens that find the records of a person known by the My Number
    /// Card's basic items: those the plan makes from the name in kanji,
    /// birth date and sex alone (レセ電 and JP Core carry the kanji name).
    /// More than one person may carry them: the caller must not guess.
    pub fn card_tokens(&self, id: &Identity) -> Vec<Token> {
        let card_only = Identity {
            kanji_name: id.kanji_name,
            birth: id.birth,
            sex: id.sex,
            ..Identity::default()
        };
        self.tokens(&card_only)
    }

    /// The keyed hash under which a citizen's account remembers an OpenID
    /// provider's subject: the linkage key, a domain of its own
    /// (`card-subject`), the issuer and the `sub`. The subject itself is
    /// never stored.
    pub fn card_subject(&self, issuer: &str, subject: &str) -> [u8; 32] {
        self.hash("card-subject", &[issuer, subject])
    }

    /// The tokens that find an insured person's records: those of the
    /// plan's `insured` domain made from the number alone (the current
    /// card, and the eligibility service's oldest number, hash alike).
    pub fn insured_tokens(&self, id: &Identity) -> Vec<Token> {
        let number_only = Identity {
            insurer: id.insurer,
            symbol: id.symbol,
            number: id.number,
            branch: id.branch,
            ..Identity::default()
        };
        self.tokens(&number_only)
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(seed: u8) -> Tokenizer {
        Tokenizer::new(hmac::Key::new(hmac::HMAC_SHA256, &[seed; 32]))
    }

    fn find(tokens: &[Token], kind: &str) -> Option<[u8; 32]> {
        tokens.iter().find(|t| &*t.kind == kind).map(|t| t.bytes)
    }

    fn person<'a>() -> Identity<'a> {
        Identity {
            kanji_name: Some("山田 太郎"),
            kana_name: Some("ヤマダ タロウ"),
            birth: NaiveDate::from_ymd_opt(1960, 2, 29),
            sex: Some(Sex::Male),
            insurer: Some("06135678"),
            symbol: Some("12"),
            number: Some("3456"),
            branch: Some("01"),
            ..Identity::default()
        }
    }

    #[test]
    fn card_tokens_come_from_the_kanji_name_birth_and_sex_alone() {
        let t = tokenizer(1);
        let card = Identity {
            kanji_name: Some("山田　太郎"),
            birth: NaiveDate::from_ymd_opt(1960, 2, 29),
            sex: Some(Sex::Male),
            ..Identity::default()
        };
        let from_card = t.card_tokens(&card);
        let kinds: Vec<&str> = from_card.iter().map(|t| &*t.kind).collect();
        assert_eq!(kinds, ["kanji"]);
        // The records' full identity makes the same kanji token.
        assert_eq!(
            find(&t.tokens(&person()), "kanji"),
            Some(from_card[0].bytes)
        );
        let other = Identity {
            sex: Some(Sex::Female),
            ..card
        };
        assert_ne!(t.card_tokens(&other)[0].bytes, from_card[0].bytes);
        assert_ne!(
            t.card_subject("https://a.example", "x"),
            t.card_subject("https://b.example", "x")
        );
    }

    #[test]
    fn notation_variants_give_the_same_tokens() {
        let t = tokenizer(1);
        let base = t.tokens(&person());
        let variant = Identity {
            kanji_name: Some("山田太郎"),
            kana_name: Some("ﾔﾏﾀﾞﾀﾛｳ"),
            insurer: Some("06135678"),
            symbol: Some("１２"),
            number: Some("３４５６"),
            branch: Some("1"),
            ..person()
        };
        let other = t.tokens(&variant);
        for kind in ["id1", "id4", "insured", "kanji"] {
            assert!(find(&base, kind).is_some(), "{kind:?}");
            assert_eq!(find(&base, kind), find(&other, kind), "{kind:?}");
        }
    }

    #[test]
    fn disclosure_tags_are_keyed_and_scoped_to_their_release() {
        let p = "abcdefghijklmnopabcdefghijklmnop";
        let t = tokenizer(1);
        assert_eq!(t.disclosure_tag("r1", p), t.disclosure_tag("r1", p));
        assert_ne!(t.disclosure_tag("r1", p), t.disclosure_tag("r2", p));
        assert_ne!(
            t.disclosure_tag("r1", p),
            tokenizer(2).disclosure_tag("r1", p)
        );
        assert_ne!(
            t.disclosure_tag("r1", p),
            t.disclosure_tag("r1", "bbcdefghijklmnopabcdefghijklmnop")
        );
    }

    #[test]
    fn kokuho_six_digit_insurers_match_their_padded_form() {
        let t = tokenizer(1);
        let six = Identity {
            insurer: Some("135678"),
            ..person()
        };
        let eight = Identity {
            insurer: Some("00135678"),
            ..person()
        };
        assert_eq!(find(&t.tokens(&six), "id1"), find(&t.tokens(&eight), "id1"));
    }

    #[test]
    fn id5_matches_the_insured_token_of_the_oldest_number() {
        let t = tokenizer(1);
        let answer = Identity {
            oldest: Some(("06135678", "12", "3456", "01")),
            ..Identity::default()
        };
        assert_eq!(
            find(&t.tokens(&answer), "id5"),
            find(&t.tokens(&person()), "insured")
        );
    }

    #[test]
    fn tokens_depend_on_the_key_and_on_every_input() {
        let (a, b) = (tokenizer(1), tokenizer(2));
        assert_ne!(
            find(&a.tokens(&person()), "id4"),
            find(&b.tokens(&person()), "id4")
        );
        let female = Identity {
            sex: Some(Sex::Female),
            ..person()
        };
        assert_ne!(
            find(&a.tokens(&person()), "id4"),
            find(&a.tokens(&female), "id4")
        );
        let later = Identity {
            birth: NaiveDate::from_ymd_opt(1960, 3, 1),
            ..person()
        };
        assert_ne!(
            find(&a.tokens(&person()), "id1"),
            find(&a.tokens(&later), "id1")
        );
    }

    #[test]
    fn missing_inputs_make_no_token() {
        let t = tokenizer(1);
        let no_sex = Identity {
            sex: None,
            branch: None,
            ..person()
        };
        let tokens = t.tokens(&no_sex);
        assert!(find(&tokens, "id1").is_none());
        assert!(find(&tokens, "id4").is_none());
        assert!(find(&tokens, "insured").is_none());
        let blank = Identity {
            kana_name: Some("　 "),
            ..person()
        };
        assert!(find(&t.tokens(&blank), "id4").is_none());
    }
}
