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
use niji_linkage::{Identity, Sex, TokenKind, Tokenizer};

let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7; 32]);
let tokenizer = Tokenizer::new(key);
let birth = chrono::NaiveDate::from_ymd_opt(1970, 4, 1);
let a = Identity { kana_name: Some("ﾔﾏﾀﾞ ﾀﾛｳ"), birth, sex: Some(Sex::Male), ..Identity::default() };
let b = Identity { kana_name: Some("ヤマダ　タロウ"), birth, sex: Some(Sex::Male), ..Identity::default() };
let id4 = |i: &Identity| tokenizer.tokens(i).into_iter().find(|t| t.kind == TokenKind::Id4);
assert_eq!(id4(&a), id4(&b));
```

# Architecture invariants

- Tokens are keyed: without the linkage key they cannot be recomputed from
  a name and a birth date by enumeration.
- Nothing here stores, prints or logs an identifier; [`Identity`] has no
  `Debug`.
*/
#![deny(missing_docs)]

pub mod normalize;

use chrono::NaiveDate;
use ring::hmac;

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

/// Which identifiers a token hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    /// ID1: insurer + symbol + number + birth date + sex.
    Id1,
    /// ID4 (ID2): kana name + birth date + sex.
    Id4,
    /// The individual-unit insured number: insurer + symbol + number + branch.
    Insured,
    /// ID5: the oldest individual-unit insured number, from the eligibility
    /// history. Hashed in the same domain as [`TokenKind::Insured`], so a
    /// record bearing that number matches.
    Id5,
    /// Kanji name + birth date + sex.
    Kanji,
    /// Facility + the facility's own patient number.
    Local,
    /// Care insurer + care insured number.
    Care,
}

impl TokenKind {
    /// The name stored with the token.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Id1 => "id1",
            TokenKind::Id4 => "id4",
            TokenKind::Insured => "insured",
            TokenKind::Id5 => "id5",
            TokenKind::Kanji => "kanji",
            TokenKind::Local => "local",
            TokenKind::Care => "care",
        }
    }
}

/// A keyed-hash token: HMAC-SHA-256 of normalized identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    /// What it hashes.
    pub kind: TokenKind,
    /// The 32 bytes.
    pub bytes: [u8; 32],
}

/// Turns identities into tokens under the linkage key.
pub struct Tokenizer {
    key: hmac::Key,
}

/// Separates the fields of a hash input; it cannot occur in normalized
/// identifiers.
const SEP: u8 = 0x1f;

impl Tokenizer {
    /// A tokenizer under `key`, the platform's linkage key.
    pub fn new(key: hmac::Key) -> Self {
        Self { key }
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

    fn token(&self, kind: TokenKind, domain: &str, parts: &[&str]) -> Token {
        Token {
            kind,
            bytes: self.hash(domain, parts),
        }
    }

    /// Every token the identity allows. A token is made only when all of
    /// its inputs are present and non-empty after normalization.
    pub fn tokens(&self, id: &Identity) -> Vec<Token> {
        use normalize::{branch, date, digits, insurer, name};
        let mut out = Vec::with_capacity(4);
        let birth = id.birth.map(date);
        let sex = id.sex.map(Sex::code);
        let card = match (id.insurer, id.symbol, id.number) {
            (Some(i), Some(s), Some(n)) => Some((insurer(i), name(s), name(n))),
            _ => None,
        };
        let present = |s: &str| !s.is_empty();
        if let (Some((i, s, n)), Some(b), Some(x)) = (&card, &birth, sex)
            && present(i)
            && present(n)
        {
            out.push(self.token(TokenKind::Id1, "id1", &[i, s, n, b, x]));
        }
        if let (Some((i, s, n)), Some(br)) = (&card, id.branch.map(branch))
            && present(i)
            && present(n)
            && present(&br)
        {
            out.push(self.token(TokenKind::Insured, "insured", &[i, s, n, &br]));
        }
        if let Some((i, s, n, br)) = id.oldest {
            let (i, s, n, br) = (insurer(i), name(s), name(n), branch(br));
            if present(&i) && present(&n) && present(&br) {
                out.push(self.token(TokenKind::Id5, "insured", &[&i, &s, &n, &br]));
            }
        }
        for (kind, domain, value) in [
            (TokenKind::Id4, "id4", id.kana_name),
            (TokenKind::Kanji, "kanji", id.kanji_name),
        ] {
            if let (Some(v), Some(b), Some(x)) = (value.map(name), &birth, sex)
                && present(&v)
            {
                out.push(self.token(kind, domain, &[&v, b, x]));
            }
        }
        if let (Some(f), Some(l)) = (id.facility, id.local_id.map(digits))
            && present(&l)
        {
            out.push(self.token(TokenKind::Local, "local", &[f.trim(), &l]));
        }
        if let Some((i, n)) = id.care {
            let (i, n) = (insurer(i), digits(n));
            if present(&i) && present(&n) {
                out.push(self.token(TokenKind::Care, "care", &[&i, &n]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(seed: u8) -> Tokenizer {
        Tokenizer::new(hmac::Key::new(hmac::HMAC_SHA256, &[seed; 32]))
    }

    fn find(tokens: &[Token], kind: TokenKind) -> Option<[u8; 32]> {
        tokens.iter().find(|t| t.kind == kind).map(|t| t.bytes)
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
        for kind in [
            TokenKind::Id1,
            TokenKind::Id4,
            TokenKind::Insured,
            TokenKind::Kanji,
        ] {
            assert!(find(&base, kind).is_some(), "{kind:?}");
            assert_eq!(find(&base, kind), find(&other, kind), "{kind:?}");
        }
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
        assert_eq!(
            find(&t.tokens(&six), TokenKind::Id1),
            find(&t.tokens(&eight), TokenKind::Id1)
        );
    }

    #[test]
    fn id5_matches_the_insured_token_of_the_oldest_number() {
        let t = tokenizer(1);
        let answer = Identity {
            oldest: Some(("06135678", "12", "3456", "01")),
            ..Identity::default()
        };
        assert_eq!(
            find(&t.tokens(&answer), TokenKind::Id5),
            find(&t.tokens(&person()), TokenKind::Insured)
        );
    }

    #[test]
    fn tokens_depend_on_the_key_and_on_every_input() {
        let (a, b) = (tokenizer(1), tokenizer(2));
        assert_ne!(
            find(&a.tokens(&person()), TokenKind::Id4),
            find(&b.tokens(&person()), TokenKind::Id4)
        );
        let female = Identity {
            sex: Some(Sex::Female),
            ..person()
        };
        assert_ne!(
            find(&a.tokens(&person()), TokenKind::Id4),
            find(&a.tokens(&female), TokenKind::Id4)
        );
        let later = Identity {
            birth: NaiveDate::from_ymd_opt(1960, 3, 1),
            ..person()
        };
        assert_ne!(
            find(&a.tokens(&person()), TokenKind::Id1),
            find(&a.tokens(&later), TokenKind::Id1)
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
        assert!(find(&tokens, TokenKind::Id1).is_none());
        assert!(find(&tokens, TokenKind::Id4).is_none());
        assert!(find(&tokens, TokenKind::Insured).is_none());
        let blank = Identity {
            kana_name: Some("　 "),
            ..person()
        };
        assert!(find(&t.tokens(&blank), TokenKind::Id4).is_none());
    }
}
