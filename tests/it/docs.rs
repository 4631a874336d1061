//! The README documents every configuration key with its variable and
//! default, and documents no key that does not exist.

use niji_core::config::KEYS;

#[test]
fn readme_configuration_table_matches_the_keys() {
    let readme = include_str!("../../README.md");
    let rows: Vec<&str> = readme
        .lines()
        // Configuration rows name the key first and its variable second.
        .filter(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            cells.len() > 3 && cells[1].starts_with('`') && cells[2].starts_with("`NIJI_")
        })
        .collect();
    for key in KEYS {
        let row = format!(
            "| `{}` | `{}` | `{}` | {} |",
            key.name, key.env, key.default, key.doc
        );
        assert!(rows.contains(&row.as_str()), "README lacks the row:\n{row}");
    }
    assert_eq!(
        rows.len(),
        KEYS.len(),
        "README documents keys that do not exist: {rows:#?}"
    );
}
