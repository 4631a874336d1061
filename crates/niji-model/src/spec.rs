//! What a researcher asks for: a family, a granted table, a response and
//! terms — as fields or as a formula `response ~ a + factor(b)` — checked
//! before any data is read.

use crate::ModelError;

/// The most terms a model may have.
pub const MAX_TERMS: usize = 20;

/// The longest column name a model may name.
pub const MAX_NAME: usize = 64;

/// The longest formula read.
pub const MAX_FORMULA: usize = 1_000;

/// A GLM family, with its canonical link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Normal errors, identity link (ordinary least squares).
    Gaussian,
    /// A 0/1 response, logit link (logistic regression).
    Binomial,
    /// A count response, log link.
    Poisson,
}

impl Family {
    /// The family named `name` (`gaussian`, `binomial`, `poisson`).
    pub fn parse(name: &str) -> Result<Family, ModelError> {
        match name {
            "gaussian" => Ok(Family::Gaussian),
            "binomial" => Ok(Family::Binomial),
            "poisson" => Ok(Family::Poisson),
            _ => Err(ModelError::Invalid(
                "family: gaussian, binomial or poisson".into(),
            )),
        }
    }

    /// Its name, as requests write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Gaussian => "gaussian",
            Family::Binomial => "binomial",
            Family::Poisson => "poisson",
        }
    }

    /// Its (canonical) link.
    pub fn link(self) -> &'static str {
        match self {
            Family::Gaussian => "identity",
            Family::Binomial => "logit",
            Family::Poisson => "log",
        }
    }

    /// Whether its dispersion is estimated (then the estimates' statistics
    /// follow Student's t, else the normal distribution).
    pub fn estimates_dispersion(self) -> bool {
        self == Family::Gaussian
    }
}

/// One term of the linear predictor: a column of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The column.
    pub column: String,
    /// Whether it was written `factor(column)`: a numeric column taken as
    /// categories. A text, boolean or date column is categorical anyway.
    pub factor: bool,
}

/// A model request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The family.
    pub family: Family,
    /// The granted table (view name).
    pub table: String,
    /// The response column.
    pub response: String,
    /// The terms, in order; an intercept is always fitted.
    pub terms: Vec<Term>,
}

impl ModelSpec {
    /// A spec from fields; each term may be written `factor(column)`.
    pub fn new(
        family: Family,
        table: &str,
        response: &str,
        terms: &[String],
    ) -> Result<ModelSpec, ModelError> {
        let spec = ModelSpec {
            family,
            table: table.to_owned(),
            response: name(response, "response")?.to_owned(),
            terms: terms.iter().map(|t| term(t)).collect::<Result<_, _>>()?,
        };
        spec.check()?;
        Ok(spec)
    }

    /// A spec from a formula `response ~ a + b + factor(c)`.
    pub fn from_formula(
        family: Family,
        table: &str,
        formula: &str,
    ) -> Result<ModelSpec, ModelError> {
        if formula.len() > MAX_FORMULA {
            return Err(ModelError::Invalid(format!(
                "formula: at most {MAX_FORMULA} bytes"
            )));
        }
        let (left, right) = formula.split_once('~').ok_or_else(|| {
            ModelError::Invalid("formula: write `response ~ a + b + factor(c)`".into())
        })?;
        let terms: Vec<String> = right.split('+').map(|t| t.trim().to_owned()).collect();
        ModelSpec::new(family, table, left.trim(), &terms)
    }

    /// The spec written as a formula (`y ~ a + factor(b)`).
    pub fn formula(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                if t.factor {
                    format!("factor({})", t.column)
                } else {
                    t.column.clone()
                }
            })
            .collect();
        format!("{} ~ {}", self.response, terms.join(" + "))
    }

    fn check(&self) -> Result<(), ModelError> {
        name(&self.table, "table")?;
        if self.terms.is_empty() {
            return Err(ModelError::Invalid(
                "name at least one term (an intercept is always fitted)".into(),
            ));
        }
        if self.terms.len() > MAX_TERMS {
            return Err(ModelError::Invalid(format!("at most {MAX_TERMS} terms")));
        }
        let mut seen = vec![self.response.to_ascii_lowercase()];
        for t in &self.terms {
            let lower = t.column.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(ModelError::Invalid(format!(
                    "`{}` is named twice (or is also the response)",
                    t.column
                )));
            }
            seen.push(lower);
        }
        Ok(())
    }
}

/// A term as written: `column` or `factor(column)`.
fn term(text: &str) -> Result<Term, ModelError> {
    let text = text.trim();
    let inner = text
        .strip_prefix("factor(")
        .and_then(|t| t.strip_suffix(')'));
    Ok(match inner {
        Some(column) => Term {
            column: name(column.trim(), "term")?.to_owned(),
            factor: true,
        },
        None => Term {
            column: name(text, "term")?.to_owned(),
            factor: false,
        },
    })
}

/// A column or table name: letters, digits and `_`, not starting with a
/// digit, at most [`MAX_NAME`] bytes. Anything else (an interaction, a
/// transformation, `-1`) is refused with what to write instead.
fn name<'a>(text: &'a str, what: &str) -> Result<&'a str, ModelError> {
    let ok = !text.is_empty()
        && text.len() <= MAX_NAME
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !text.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(text)
    } else {
        Err(ModelError::Invalid(format!(
            "{what}: a column name (letters, digits, `_`; at most {MAX_NAME}), or `factor(column)` for a term; \
             interactions, transformations and removing the intercept are not offered — derive the column in the release policy instead"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_reads_as_the_same_spec_as_its_fields() {
        let f = ModelSpec::from_formula(
            Family::Poisson,
            "persons",
            " visits ~ age + factor(sex) + prefecture ",
        )
        .unwrap();
        let fields = ModelSpec::new(
            Family::Poisson,
            "persons",
            "visits",
            &["age".into(), "factor(sex)".into(), "prefecture".into()],
        )
        .unwrap();
        assert_eq!(f, fields);
        assert!(f.terms[1].factor && !f.terms[0].factor);
        assert_eq!(f.formula(), "visits ~ age + factor(sex) + prefecture");
    }

    #[test]
    fn what_the_platform_cannot_model_is_refused_with_what_to_write() {
        for bad in [
            "y ~ a * b",
            "y ~ log(a)",
            "y ~ a - 1",
            "y ~ ",
            "y a",
            "y ~ a + a",
            "y ~ y",
        ] {
            let e = ModelSpec::from_formula(Family::Gaussian, "t", bad).unwrap_err();
            assert!(matches!(e, ModelError::Invalid(_)), "{bad}: {e}");
        }
        let long = format!("y ~ {}", "a".repeat(MAX_FORMULA));
        assert!(ModelSpec::from_formula(Family::Gaussian, "t", &long).is_err());
        let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("x{i}")).collect();
        assert!(ModelSpec::new(Family::Gaussian, "t", "y", &many).is_err());
        assert!(Family::parse("gamma").is_err());
    }
}
