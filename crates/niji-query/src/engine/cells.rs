//! Arrow values as result cells, the same whichever engine computed them:
//! integers of any width as integers, floating-point and decimal numbers
//! as floats, text and dates as text.

use crate::QueryError;
use crate::sandbox::{Cell, Kind};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

/// What a column of `t` holds.
pub(crate) fn kind_of(t: &DataType) -> Kind {
    match t {
        DataType::Boolean => Kind::Bool,
        DataType::Dictionary(_, value) => kind_of(value),
        // DuckDB's HUGEINT (an integer column's sum) arrives as DECIMAL(38, 0).
        DataType::Decimal128(_, 0) => Kind::Int,
        t if t.is_integer() => Kind::Int,
        t if t.is_numeric() => Kind::Float,
        _ => Kind::Text,
    }
}

/// Value `row` of `array` as a cell; `column` names it in a refusal.
pub(crate) fn cell(array: &ArrayRef, row: usize, column: &str) -> Result<Cell, QueryError> {
    if array.is_null(row) {
        return Ok(Cell::Null);
    }
    let int = |v: i64| Cell::Int(v);
    Ok(match array.data_type() {
        DataType::Null => Cell::Null,
        DataType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DataType::Int8 => int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => int(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => int(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => int(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(row);
            i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int)
        }
        DataType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            if *scale == 0 {
                // DuckDB's HUGEINT sums arrive as DECIMAL(38, 0).
                i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int)
            } else {
                Cell::Float(v as f64 / 10f64.powi(i32::from(*scale)))
            }
        }
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Cell::Text(array.as_string::<i64>().value(row).to_owned()),
        DataType::Utf8View => Cell::Text(array.as_string_view().value(row).to_owned()),
        DataType::Date32 => Cell::Text(civil_date(
            array.as_primitive::<Date32Type>().value(row).into(),
        )),
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let key = dictionary.normalized_keys()[row];
            return cell(dictionary.values(), key, column);
        }
        other => {
            return Err(QueryError::Refused(format!(
                "column `{column}` has a type results cannot carry ({other}); cast it"
            )));
        }
    })
}

/// Value `row` of a person-list column: the person indices, repeated as
/// often as the person has rows; NULL reads as empty.
pub(crate) fn person_list(array: &ArrayRef, row: usize) -> Result<Vec<u32>, QueryError> {
    if array.is_null(row) {
        return Ok(Vec::new());
    }
    let list = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().value(row),
        DataType::LargeList(_) => array.as_list::<i64>().value(row),
        _ => return Err(QueryError::Internal("persons of an unknown form".into())),
    };
    let indices = list
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| QueryError::Internal("a person index that is no UINTEGER".into()))?;
    if indices.null_count() > 0 {
        return Err(QueryError::Internal("a person index that is NULL".into()));
    }
    Ok(indices.values().to_vec())
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (proleptic Gregorian).
pub(crate) fn civil_date(days: i64) -> String {
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Decimal128Array, DictionaryArray, Int32Array, ListArray, StringArray, StringViewArray,
    };
    use std::sync::Arc;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(-1), "1969-12-31");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }

    #[test]
    fn the_same_value_is_the_same_cell_in_any_arrow_form() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("M"), None]));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec![Some("M"), None]));
        let dict: ArrayRef = Arc::new(
            vec![Some("F"), Some("M")]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        for a in [&text, &view] {
            assert_eq!(cell(a, 0, "c").unwrap(), Cell::Text("M".into()));
            assert_eq!(cell(a, 1, "c").unwrap(), Cell::Null);
        }
        assert_eq!(cell(&dict, 1, "c").unwrap(), Cell::Text("M".into()));
        assert_eq!(kind_of(dict.data_type()), Kind::Text);
        let huge: ArrayRef = Arc::new(
            Decimal128Array::from(vec![42i128, i128::from(i64::MAX) + 1])
                .with_precision_and_scale(38, 0)
                .unwrap(),
        );
        assert_eq!(cell(&huge, 0, "c").unwrap(), Cell::Int(42));
        assert!(matches!(cell(&huge, 1, "c").unwrap(), Cell::Float(_)));
        let money: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1250i128])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(cell(&money, 0, "c").unwrap(), Cell::Float(12.5));
        assert_eq!(kind_of(money.data_type()), Kind::Float);
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![7]));
        assert_eq!(cell(&ints, 0, "c").unwrap(), Cell::Int(7));
    }

    #[test]
    fn person_lists_read_from_list_columns() {
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<UInt32Type, _, _>(vec![
            Some(vec![Some(3), Some(1), Some(3)]),
            None,
        ]));
        assert_eq!(person_list(&lists, 0).unwrap(), [3, 1, 3]);
        assert!(person_list(&lists, 1).unwrap().is_empty());
        let text: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        assert!(person_list(&text, 0).is_err());
    }
}
