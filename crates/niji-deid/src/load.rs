//! Reading a search table from a delimited file with a header, each
//! quasi-identifier with its hierarchy: how the Adult benchmark and
//! outside tools' inputs come in.

use crate::hierarchy::Hierarchy;
use crate::search::{Quasi, Sensitive, Table};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A fault in a table file, with its location.
#[derive(Debug)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based), when the fault is on one.
    pub line: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads `path` (`delimiter`-separated, with a header): the named
/// quasi-identifiers, each coded by its hierarchy, and the sensitive
/// column if one is named (its values in order of first appearance).
pub fn table(
    path: &Path,
    delimiter: u8,
    quasi: Vec<(String, Hierarchy)>,
    sensitive: Option<&str>,
) -> Result<Table, LoadError> {
    let fault = |line: Option<u64>, reason: String| LoadError {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)
        .map_err(|e| fault(None, e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| fault(Some(1), e.to_string()))?
        .clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| fault(Some(1), format!("no column {name:?}")))
    };
    let positions: Vec<usize> = quasi
        .iter()
        .map(|(name, _)| column(name))
        .collect::<Result<_, _>>()?;
    let sensitive_at = sensitive.map(column).transpose()?;
    let mut codes: Vec<Vec<u32>> = vec![Vec::new(); quasi.len()];
    let (mut labels, mut values, mut interned) = (Vec::new(), Vec::new(), HashMap::new());
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(fault(e.position().map(|p| p.line()), e.to_string())),
        }
        let line = record.position().map(|p| p.line());
        for (q, (&at, (name, hierarchy))) in positions.iter().zip(&quasi).enumerate() {
            let value = record.get(at).unwrap_or("");
            let code = hierarchy.code(value).ok_or_else(|| {
                fault(
                    line,
                    format!("column {name}: value {value:?} is not in its hierarchy"),
                )
            })?;
            codes[q].push(code);
        }
        if let Some(at) = sensitive_at {
            let value = record.get(at).unwrap_or("");
            let next = labels.len() as u32;
            let code = *interned.entry(value.to_owned()).or_insert(next);
            if code == next {
                labels.push(value.to_owned());
            }
            values.push(code);
        }
    }
    Ok(Table {
        quasi: quasi
            .into_iter()
            .zip(codes)
            .map(|((name, hierarchy), codes)| Quasi {
                name,
                hierarchy,
                codes,
            })
            .collect(),
        sensitive: sensitive.map(|name| Sensitive {
            name: name.to_owned(),
            labels,
            codes: values,
            ordered: false,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_outside_its_hierarchy_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "age;disease\n31;flu\n72;flu\n").unwrap();
        let ages = Hierarchy::intervals(0, 50, &[10], None).unwrap();
        let e = table(
            &path,
            b';',
            vec![("age".into(), ages.clone())],
            Some("disease"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: line 3: column age: value \"72\" is not in its hierarchy",
                path.display()
            )
        );
        std::fs::write(&path, "age;disease\n31;flu\n12;cold\n31;flu\n").unwrap();
        let t = table(&path, b';', vec![("age".into(), ages)], Some("disease")).unwrap();
        assert_eq!(t.rows(), 3);
        assert_eq!(t.sensitive.unwrap().codes, [0, 1, 0]);
    }
}
