//! Records as adapters build them, and the column buffers they land in.
//!
//! An adapter builds each source record whole ([`Record`]) before it is
//! accepted: a record that fails a check is dropped as one piece (the
//! quarantine), never half-added. Accepted records go into [`Rows`], one
//! Arrow builder per column of every content table, which become record
//! batches for the staging store.

use arrow_array::ArrayRef;
use arrow_array::RecordBatch;
use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    StringBuilder,
};
use chrono::{Datelike, NaiveDate};
use niji_core::content::{self, Kind, Table};
use niji_linkage::{Identity, Sex, Token, Tokenizer};
use std::sync::Arc;

/// One value of a content column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Text(String),
    Int(i64),
    Real(f64),
    Bool(bool),
    Date(NaiveDate),
}

impl Value {
    pub(crate) fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Text, or null when empty.
    pub(crate) fn opt_text(s: &str) -> Value {
        if s.trim().is_empty() {
            Value::Null
        } else {
            Value::Text(s.trim().to_owned())
        }
    }
}

impl From<Option<NaiveDate>> for Value {
    fn from(d: Option<NaiveDate>) -> Value {
        d.map_or(Value::Null, Value::Date)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        v.map_or(Value::Null, Value::Int)
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Value {
        v.map_or(Value::Null, Value::Real)
    }
}

/// A source record about one person: the coarse subject facts, the tokens
/// of its identifiers, and its content rows.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub locator: String,
    pub facility: Option<String>,
    /// Where the record arose, when the source says (レセ電's IR).
    pub prefecture: Option<String>,
    pub birth: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub tokens: Vec<Token>,
    pub rows: Vec<(&'static Table, Vec<Value>)>,
}

impl Record {
    pub(crate) fn new(locator: String, facility: Option<String>) -> Self {
        Record {
            locator,
            facility,
            ..Record::default()
        }
    }

    /// Hands the record's identifiers to the tokenizer and keeps what
    /// content may hold of them: the tokens, the birth date (stored as
    /// year-month) and the sex.
    pub(crate) fn identify(&mut self, tokenizer: &Tokenizer, identity: &Identity) {
        self.birth = identity.birth;
        self.sex = identity.sex;
        self.tokens = tokenizer.tokens(identity);
    }

    pub(crate) fn row(&mut self, table: &'static Table, values: Vec<Value>) {
        debug_assert_eq!(values.len(), table.columns.len(), "{}", table.name);
        self.rows.push((table, values));
    }
}

/// Column builders for one table.
struct Buffer {
    table: &'static Table,
    columns: Vec<Box<dyn ArrayBuilder>>,
    rows: u64,
}

impl Buffer {
    fn new(table: &'static Table) -> Self {
        let columns = table
            .all_columns()
            .map(|c| -> Box<dyn ArrayBuilder> {
                match c.kind {
                    Kind::Text => Box::new(StringBuilder::new()),
                    Kind::Int => Box::new(Int64Builder::new()),
                    Kind::Real => Box::new(Float64Builder::new()),
                    Kind::Bool => Box::new(BooleanBuilder::new()),
                    Kind::Date => Box::new(Date32Builder::new()),
                    Kind::Token => Box::new(BinaryBuilder::new()),
                }
            })
            .collect();
        Buffer {
            table,
            columns,
            rows: 0,
        }
    }

    fn push(&mut self, values: impl Iterator<Item = Value>) {
        for ((column, builder), value) in self
            .table
            .all_columns()
            .zip(self.columns.iter_mut())
            .zip(values)
        {
            append(builder.as_mut(), column.kind, value);
        }
        self.rows += 1;
    }

    fn push_token(&mut self, provenance: &[Value], token: &Token) {
        let mut builders = self.columns.iter_mut();
        // The provenance side leads the zip, so it stops without taking a
        // builder past the provenance columns.
        for ((column, value), builder) in content::PROVENANCE
            .iter()
            .zip(provenance.iter().cloned())
            .zip(builders.by_ref())
        {
            append(builder.as_mut(), column.kind, value);
        }
        if let (Some(kind), Some(bytes)) = (builders.next(), builders.next()) {
            append(kind.as_mut(), Kind::Text, Value::text(&token.kind));
            if let Some(b) = bytes.as_any_mut().downcast_mut::<BinaryBuilder>() {
                b.append_value(token.bytes);
            }
        }
        self.rows += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|b| b.finish()).collect();
        RecordBatch::try_new(Arc::new(self.table.schema()), arrays)
    }
}

/// Days from 1970-01-01, Arrow's Date32.
fn date32(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// Appends a value to a builder of the column's kind. A value of the wrong
/// kind is a bug in an adapter; it lands as null (debug builds stop).
fn append(builder: &mut dyn ArrayBuilder, kind: Kind, value: Value) {
    let any = builder.as_any_mut();
    match (kind, value) {
        (Kind::Text, Value::Text(s)) => any
            .downcast_mut::<StringBuilder>()
            .map(|b| b.append_value(s)),
        (Kind::Int, Value::Int(v)) => any
            .downcast_mut::<Int64Builder>()
            .map(|b| b.append_value(v)),
        (Kind::Real, Value::Real(v)) => any
            .downcast_mut::<Float64Builder>()
            .map(|b| b.append_value(v)),
        (Kind::Bool, Value::Bool(v)) => any
            .downcast_mut::<BooleanBuilder>()
            .map(|b| b.append_value(v)),
        (Kind::Date, Value::Date(d)) => any
            .downcast_mut::<Date32Builder>()
            .map(|b| b.append_value(date32(d))),
        (kind, value) => {
            debug_assert!(value == Value::Null, "{value:?} in a {kind:?} column");
            append_null(any, kind)
        }
    };
}

fn append_null(any: &mut dyn std::any::Any, kind: Kind) -> Option<()> {
    match kind {
        Kind::Text => any.downcast_mut::<StringBuilder>().map(|b| b.append_null()),
        Kind::Int => any.downcast_mut::<Int64Builder>().map(|b| b.append_null()),
        Kind::Real => any
            .downcast_mut::<Float64Builder>()
            .map(|b| b.append_null()),
        Kind::Bool => any
            .downcast_mut::<BooleanBuilder>()
            .map(|b| b.append_null()),
        Kind::Date => any.downcast_mut::<Date32Builder>().map(|b| b.append_null()),
        Kind::Token => any.downcast_mut::<BinaryBuilder>().map(|b| b.append_null()),
    }
}

/// The accepted records of one batch, as column buffers per table.
pub(crate) struct Rows {
    batch_id: i64,
    source: &'static str,
    /// The facility of the source system that sent the input, for records
    /// that name none.
    sender: Option<String>,
    buffers: Vec<Buffer>,
    records: u64,
}

impl Rows {
    pub(crate) fn new(batch_id: i64, source: &'static str, sender: Option<String>) -> Self {
        Rows {
            batch_id,
            source,
            sender,
            buffers: content::TABLES.iter().map(|t| Buffer::new(t)).collect(),
            records: 0,
        }
    }

    /// Accepted records so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Adds an accepted record with its subject row, tokens and content.
    pub(crate) fn push(&mut self, record: Record) {
        self.records += 1;
        let provenance = [
            Value::Int(self.batch_id),
            Value::Int(self.records as i64),
            Value::text(self.source),
            Value::Text(record.locator),
            record
                .facility
                .or_else(|| self.sender.clone())
                .map_or(Value::Null, Value::Text),
        ];
        // A ten-digit facility code (医療機関コード, 介護事業所番号) starts
        // with its prefecture.
        let facility_prefecture = provenance[4]
            .as_text()
            .filter(|f| f.len() == 10 && f.bytes().all(|b| b.is_ascii_digit()))
            .map(|f| f[..2].to_owned());
        let subject = [
            record
                .birth
                .map_or(Value::Null, |d| Value::Text(d.format("%Y-%m").to_string())),
            record.sex.map_or(Value::Null, |s| Value::text(s.code())),
            record
                .prefecture
                .or(facility_prefecture)
                .map_or(Value::Null, Value::Text),
        ];
        self.buffer(&content::SUBJECTS)
            .push(provenance.iter().cloned().chain(subject));
        let tokens = self.buffer(&content::TOKENS);
        for token in &record.tokens {
            tokens.push_token(&provenance, token);
        }
        for (table, values) in record.rows {
            self.buffer(table)
                .push(provenance.iter().cloned().chain(values));
        }
    }

    fn buffer(&mut self, table: &'static Table) -> &mut Buffer {
        // Every table of `content::TABLES` has a buffer; constants are
        // compared by name since each use of a `const` may have its own
        // address.
        let i = self
            .buffers
            .iter()
            .position(|b| b.table.name == table.name)
            .unwrap_or(0);
        &mut self.buffers[i]
    }

    /// Rows per table name.
    pub(crate) fn counts(&self) -> Vec<(&'static str, u64)> {
        self.buffers
            .iter()
            .map(|b| (b.table.name, b.rows))
            .collect()
    }

    /// The record batches of the non-empty tables.
    pub(crate) fn finish(
        mut self,
    ) -> Result<Vec<(&'static Table, RecordBatch)>, arrow_schema::ArrowError> {
        self.buffers
            .iter_mut()
            .filter(|b| b.rows > 0)
            .map(|b| Ok((b.table, b.finish()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_from_the_unix_epoch() {
        assert_eq!(date32(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
        assert_eq!(date32(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()), -1);
        assert_eq!(date32(NaiveDate::from_ymd_opt(2000, 3, 1).unwrap()), 11_017);
    }

    #[test]
    fn a_record_lands_in_every_table_it_touches() {
        let mut rows = Rows::new(7, "uke", None);
        let mut r = Record::new("line:2".into(), Some("1300001".into()));
        r.row(
            &content::DRUGS,
            vec![
                Value::text("620000001"),
                Value::text("receipt"),
                Value::Real(1.0),
                Value::Int(14),
                Value::Null,
            ],
        );
        rows.push(r);
        let counts = rows.counts();
        assert!(counts.contains(&("subjects", 1)));
        assert!(counts.contains(&("drugs", 1)));
        assert!(counts.contains(&("tokens", 0)));
        let batches = rows.finish().unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].1.num_columns(), 10);
    }
}
