//! Results as an Arrow IPC stream (`application/vnd.apache.arrow.stream`),
//! for notebooks that read them straight into a DataFrame. Each column's
//! type is the narrowest that holds all its values: integers, floats,
//! booleans, else text. What disclosure control found travels in the
//! schema's metadata (`niji.cells`, `niji.notes`, `niji.status`).

use crate::problem::ApiError;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use axum::http::HeaderMap;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The media type.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Whether the client asked for Arrow.
pub fn wants_arrow(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with(ARROW_STREAM)))
}

/// A column's type when the query knows it (even if every value left is
/// NULL); otherwise it is inferred from the values.
pub fn column(values: Vec<&Value>, known: Option<DataType>) -> (DataType, ArrayRef) {
    let present = || values.iter().filter(|v| !v.is_null());
    let is = |t: DataType| known.as_ref() == Some(&t);
    if is(DataType::Int64)
        || known.is_none() && present().all(|v| v.is_i64()) && present().next().is_some()
    {
        let a: Int64Array = values.iter().map(|v| v.as_i64()).collect();
        return (DataType::Int64, Arc::new(a));
    }
    if is(DataType::Float64)
        || known.is_none() && present().all(|v| v.is_number()) && present().next().is_some()
    {
        let a: Float64Array = values.iter().map(|v| v.as_f64()).collect();
        return (DataType::Float64, Arc::new(a));
    }
    if is(DataType::Boolean)
        || known.is_none() && present().all(|v| v.is_boolean()) && present().next().is_some()
    {
        let a: BooleanArray = values.iter().map(|v| v.as_bool()).collect();
        return (DataType::Boolean, Arc::new(a));
    }
    let a: StringArray = values
        .iter()
        .map(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .collect();
    (DataType::Utf8, Arc::new(a))
}

/// `columns` and `rows` as one record batch in an IPC stream.
pub fn stream(
    columns: &[String],
    types: &[Option<DataType>],
    rows: &[Vec<Value>],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, ApiError> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for (i, name) in columns.iter().enumerate() {
        let known = types.get(i).cloned().flatten();
        let (data_type, array) = column(rows.iter().map(|r| &r[i]).collect(), known);
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let internal = |e: arrow_schema::ArrowError| ApiError::Internal(format!("arrow: {e}"));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays).map_err(internal)?
    };
    let mut out = Vec::new();
    {
        let mut writer =
            arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema).map_err(internal)?;
        writer.write(&batch).map_err(internal)?;
        writer.finish().map_err(internal)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_are_the_narrowest_and_nulls_stay_null() {
        let rows = vec![
            vec![json!("1"), json!(12), json!(1.5), json!(null)],
            vec![json!("2"), json!(null), json!(2), json!(null)],
        ];
        let columns: Vec<String> = ["sex", "n", "mean", "none"].map(String::from).to_vec();
        let types = [None, None, None, Some(DataType::Int64)];
        let bytes = stream(&columns, &types, &rows, HashMap::new()).unwrap();
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        let schema = batches[0].schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &DataType::Utf8,
                &DataType::Int64,
                &DataType::Float64,
                &DataType::Int64
            ]
        );
        assert_eq!(batches[0].num_rows(), 2);
        assert_eq!(batches[0].column(1).null_count(), 1);
    }
}
