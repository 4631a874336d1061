//! The canonical content schema: one set of tables for every source, so
//! that linkage, releases and queries never care where a row came from.
//!
//! Each table is declared once here, and everything else derives from the
//! declaration: the Arrow schema ([`Table::schema`]) that adapters build
//! record batches against, and the staging tables that hold them. Every
//! table starts with the same provenance columns ([`PROVENANCE`]): which
//! batch (file) a row came from, which record of it, the source kind, the
//! record's locator inside the file and the facility.
//!
//! No column holds an identifier. Names, insurance numbers and patient
//! numbers become keyed-hash tokens (the `tokens` table); birth dates are
//! kept only as year-month.

use arrow_schema::{DataType, Field, Schema};

/// The value kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Real,
    /// True or false.
    Bool,
    /// A calendar date.
    Date,
    /// A keyed-hash token (32 bytes of HMAC-SHA-256).
    Token,
}

impl Kind {
    /// The Arrow type of the kind.
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Real => DataType::Float64,
            Kind::Bool => DataType::Boolean,
            Kind::Date => DataType::Date32,
            Kind::Token => DataType::Binary,
        }
    }
}

/// One column of a content table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Whether a row may leave it empty.
    pub nullable: bool,
    /// What it holds.
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable: false,
        doc,
    }
}

const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        nullable: true,
        doc,
    }
}

/// The provenance columns every content table starts with.
pub const PROVENANCE: [Column; 5] = [
    col(
        "batch_id",
        Kind::Int,
        "the batch (one ingested file) the row came from",
    ),
    col(
        "record",
        Kind::Int,
        "1-based ordinal of the source record (claim, stay, document, Bundle, line) in its batch",
    ),
    col(
        "source",
        Kind::Text,
        "source kind: uke, dpc-ef, dpc-ff1, care-claims, care-certifications, eligibility, checkup, fhir",
    ),
    col(
        "locator",
        Kind::Text,
        "where the record is in its file: line:N, entry:NAME or entry:NAME#line:N, or a FHIR path",
    ),
    opt(
        "facility",
        Kind::Text,
        "medical institution, DPC hospital or care provider code",
    ),
];

/// A content table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// What a row is.
    pub doc: &'static str,
    /// The columns after [`PROVENANCE`].
    pub columns: &'static [Column],
}

impl Table {
    /// Every column, provenance first.
    pub fn all_columns(&self) -> impl Iterator<Item = &Column> {
        PROVENANCE.iter().chain(self.columns.iter())
    }

    /// The Arrow schema of the table, provenance first.
    pub fn schema(&self) -> Schema {
        Schema::new(
            self.all_columns()
                .map(|c| Field::new(c.name, c.kind.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        )
    }
}

/// One row per source record that concerns a person: the coarse facts kept
/// as content (year-month of birth and sex), nothing that identifies.
pub const SUBJECTS: Table = Table {
    name: "subjects",
    doc: "one row per source record about a person",
    columns: &[
        opt(
            "birth_month",
            Kind::Text,
            "year-month of birth, YYYY-MM (the coarsened form releases need)",
        ),
        opt("sex", Kind::Text, "1 male, 2 female (the JIS X 0303 codes)"),
        opt(
            "prefecture",
            Kind::Text,
            "JIS code (01–47) of the record's prefecture: a claim's 都道府県 (レセ電 IR), the first two digits of a ten-digit facility code, a chart Patient's address (state), the postcode area of a DPC stay's patient (様式1); nothing finer of an address is kept",
        ),
    ],
};

/// Keyed-hash tokens of the identifiers of each record, for linkage.
pub const TOKENS: Table = Table {
    name: "tokens",
    doc: "keyed-hash tokens of a record's identifiers",
    columns: &[
        col(
            "kind",
            Kind::Text,
            "which identifiers were hashed (id1, id4, insured, oldest, kanji, local, care)",
        ),
        col("token", Kind::Token, "HMAC-SHA-256 under the linkage key"),
    ],
};

/// Claims, stays, visits, documents: the events that carry content.
pub const ENCOUNTERS: Table = Table {
    name: "encounters",
    doc: "a claim, a stay, a care claim, a checkup or a chart encounter",
    columns: &[
        col(
            "kind",
            Kind::Text,
            "medical-claim, dpc-stay-month, care-claim, checkup, fhir-bundle, fhir-encounter",
        ),
        opt("start", Kind::Date, "first day of the period"),
        opt("end", Kind::Date, "last day of the period"),
        col("inpatient", Kind::Bool, "an inpatient claim or stay"),
        opt(
            "claim_type",
            Kind::Text,
            "レセプト種別 (4 digits) where the source has one",
        ),
        opt("points", Kind::Int, "points or care units claimed"),
    ],
};

/// Diagnoses from every source.
pub const DIAGNOSES: Table = Table {
    name: "diagnoses",
    doc: "a diagnosis",
    columns: &[
        opt("icd10", Kind::Text, "ICD-10 (2013 Japanese edition)"),
        opt(
            "local_code",
            Kind::Text,
            "the source's own code: レセ電 disease master (7 digits), or a chart's code",
        ),
        opt(
            "name",
            Kind::Text,
            "the written name, for uncoded diagnoses (0000999)",
        ),
        col("main", Kind::Bool, "the main diagnosis"),
        opt("start", Kind::Date, "onset or start date"),
        opt(
            "outcome",
            Kind::Text,
            "転帰: 1 continuing, 2 cured, 3 died, 4 stopped; FHIR clinical status",
        ),
    ],
};

/// Procedures and materials.
pub const PROCEDURES: Table = Table {
    name: "procedures",
    doc: "a procedure, test or material",
    columns: &[
        col(
            "code",
            Kind::Text,
            "レセ電 procedure or material code (9 digits)",
        ),
        opt("category", Kind::Text, "診療識別 (care category)"),
        opt("quantity", Kind::Real, "quantity"),
        opt("points", Kind::Int, "points per time"),
        opt("times", Kind::Int, "times performed"),
        opt("date", Kind::Date, "first day performed"),
    ],
};

/// Drugs prescribed or given.
pub const DRUGS: Table = Table {
    name: "drugs",
    doc: "a drug prescribed or given",
    columns: &[
        col("code", Kind::Text, "the drug code"),
        col(
            "system",
            Kind::Text,
            "receipt (レセ電 9 digits), yj, general (一般名処方), hot, or a FHIR system",
        ),
        opt("quantity", Kind::Real, "quantity per day or per dose"),
        opt("days", Kind::Int, "days supplied"),
        opt("date", Kind::Date, "first day given or prescribed"),
    ],
};

/// Lab results and checkup items.
pub const OBSERVATIONS: Table = Table {
    name: "observations",
    doc: "a lab or checkup item",
    columns: &[
        col(
            "code",
            Kind::Text,
            "JLAC10 (17 characters) or the source's code",
        ),
        opt("value", Kind::Real, "numeric value"),
        opt(
            "value_code",
            Kind::Text,
            "coded value (e.g. urine glucose -, +)",
        ),
        opt("unit", Kind::Text, "unit"),
        opt("date", Kind::Date, "date of the observation"),
    ],
};

/// Allergies and intolerances.
pub const ALLERGIES: Table = Table {
    name: "allergies",
    doc: "an allergy or intolerance",
    columns: &[
        opt("code", Kind::Text, "coded substance"),
        opt(
            "category",
            Kind::Text,
            "food, medication, environment, biologic",
        ),
        opt("criticality", Kind::Text, "low, high, unable-to-assess"),
        opt("date", Kind::Date, "onset or recorded date"),
    ],
};

/// Long-term care services.
pub const CARE_SERVICES: Table = Table {
    name: "care_services",
    doc: "a long-term care service in a month",
    columns: &[
        col("month", Kind::Date, "first day of the month of service"),
        col("service_type", Kind::Text, "サービス種類 (2 digits)"),
        col("service_item", Kind::Text, "サービス項目 (4 digits)"),
        col("units", Kind::Int, "units"),
    ],
};

/// Care levels over time.
pub const CARE_LEVELS: Table = Table {
    name: "care_levels",
    doc: "a care level held over a stretch of time",
    columns: &[
        col(
            "level",
            Kind::Text,
            "要介護状態区分: 01 not applicable, 11 support, 21–25 care levels 1–5",
        ),
        col("valid_from", Kind::Date, "first day"),
        opt("valid_to", Kind::Date, "last day"),
    ],
};

/// DPC stays.
pub const DPC_STAYS: Table = Table {
    name: "dpc_stays",
    doc: "an acute inpatient stay at a DPC hospital (様式1)",
    columns: &[
        col("admitted", Kind::Date, "admission date"),
        opt("discharged", Kind::Date, "discharge date"),
        opt("outcome", Kind::Text, "退院時転帰 code"),
        opt("main_icd10", Kind::Text, "main diagnosis, ICD-10"),
        opt(
            "postcode_area",
            Kind::Text,
            "first three digits of the postcode",
        ),
    ],
};

/// Every content table, in the order they are written.
pub const TABLES: [&Table; 11] = [
    &SUBJECTS,
    &TOKENS,
    &ENCOUNTERS,
    &DIAGNOSES,
    &PROCEDURES,
    &DRUGS,
    &OBSERVATIONS,
    &ALLERGIES,
    &CARE_SERVICES,
    &CARE_LEVELS,
    &DPC_STAYS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_starts_with_provenance_and_names_are_unique() {
        for table in TABLES {
            let schema = table.schema();
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(
                &names[..5],
                ["batch_id", "record", "source", "locator", "facility"]
            );
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{}", table.name);
        }
    }

    #[test]
    fn no_column_is_named_like_an_identifier() {
        let forbidden = [
            "name_kanji",
            "kana",
            "insurer",
            "symbol",
            "number",
            "branch",
            "birth_date",
        ];
        for table in TABLES {
            for c in table.all_columns() {
                assert!(
                    !forbidden.iter().any(|f| c.name.contains(f)),
                    "{}.{}",
                    table.name,
                    c.name
                );
            }
        }
    }
}
