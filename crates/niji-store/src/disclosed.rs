//! Row-level disclosures: the pseudonyms a row-level result showed, kept
//! so that a person can later learn which projects saw theirs. Written in
//! one transaction with its audit event, before the result leaves.

use crate::{Store, StoreError};
use duckdb::params;

/// One recorded disclosure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// The project (grant).
    pub grant_id: i64,
    /// Who ran the query.
    pub account: String,
    /// The release the pseudonym belongs to (or may).
    pub release: String,
}

impl Store {
    /// Records that `pseudonyms` left in a row-level result of a project
    /// whose grant covers `releases`.
    pub fn record_row_level(
        &self,
        grant_id: i64,
        account: &str,
        releases: &[String],
        pseudonyms: &[String],
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO row_level_disclosures (grant_id, account, release, pseudonym) VALUES (?, ?, ?, ?)",
            )?;
            for release in releases {
                for p in pseudonyms {
                    insert.execute(params![grant_id, account, release, p])?;
                }
            }
        }
        crate::releases::audit_in(
            &tx,
            account,
            "analysis.rows",
            &format!("project {grant_id}"),
            &format!("{} pseudonyms", pseudonyms.len()),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The disclosures of one pseudonym in one release.
    pub fn disclosures_of(
        &self,
        release: &str,
        pseudonym: &str,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT grant_id, account, release FROM row_level_disclosures \
             WHERE release = ? AND pseudonym = ? ORDER BY grant_id, account",
        )?;
        let rows = stmt.query_map(params![release, pseudonym], |r| {
            Ok(Disclosure {
                grant_id: r.get(0)?,
                account: r.get(1)?,
                release: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
