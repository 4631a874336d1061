//! Row-level disclosures: the pseudonyms a row-level result showed, and
//! the log entry that names, by commitment, the persons they belong to, so
//! that each learns which projects saw a row about them. Written in one
//! transaction with that entry, before the result leaves.

use crate::db::{Conn, Param};
use crate::{Store, StoreError};
use niji_audit::event::{EventKind, Subject};
use std::collections::BTreeMap;

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

/// A pseudonym a row-level result showed, as it reads in one release of
/// the grant, with its disclosure tag there (`Tokenizer::disclosure_tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The release.
    pub release: String,
    /// The pseudonym.
    pub pseudonym: String,
    /// Its tag in that release.
    pub tag: [u8; 32],
}

/// Tags looked up per statement: a bound on the statement's size.
const TAGS_PER_LOOKUP: usize = 500;

impl Store {
    /// Records that a row-level result of project `grant_id`, run by
    /// `account`, showed `shown`, with its audit event, in one
    /// transaction; the event's log index. The persons the tags find (in
    /// pseudonymized releases: see migration 0012) are named by the entry
    /// through their commitments, so that each one's view lists it.
    pub fn record_row_level(
        &self,
        grant_id: i64,
        account: &str,
        shown: &[Shown],
    ) -> Result<u64, StoreError> {
        let tx = self.conn.transaction()?;
        let persons = persons_shown(&tx, shown)?;
        let mut distinct: Vec<&str> = shown.iter().map(|s| s.pseudonym.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let index = crate::releases::audit_for(
            &tx,
            account,
            EventKind::AnalysisRows,
            Subject::Project(grant_id),
            &format!("{} pseudonyms", distinct.len()),
            &persons,
        )?;
        for s in shown {
            tx.execute(
                "INSERT INTO row_level_disclosures (grant_id, account, release, pseudonym, idx) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &grant_id,
                    &account,
                    &s.release,
                    &s.pseudonym,
                    &(index as i64),
                ],
            )?;
        }
        tx.commit()?;
        Ok(index)
    }

    /// The disclosures of one pseudonym in one release.
    pub fn disclosures_of(
        &self,
        release: &str,
        pseudonym: &str,
    ) -> Result<Vec<Disclosure>, StoreError> {
        let rows: Vec<(i64, String, String)> = self.conn.all(
            "SELECT DISTINCT grant_id, account, release FROM row_level_disclosures \
             WHERE release = $1 AND pseudonym = $2 ORDER BY grant_id, account",
            &[&release, &pseudonym],
        )?;
        Ok(rows
            .into_iter()
            .map(|(grant_id, account, release)| Disclosure {
                grant_id,
                account,
                release,
            })
            .collect())
    }
}

/// The person keys whose tags are among `shown`, sorted, once each.
fn persons_shown(conn: &Conn, shown: &[Shown]) -> Result<Vec<i64>, StoreError> {
    let mut by_release: BTreeMap<&str, Vec<&[u8]>> = BTreeMap::new();
    for s in shown {
        by_release.entry(&s.release).or_default().push(&s.tag);
    }
    let mut persons = Vec::new();
    for (release, tags) in by_release {
        let id: Option<i64> = conn.opt_value(
            "SELECT release_id FROM releases WHERE name = $1",
            &[&release],
        )?;
        let Some(id) = id else { continue };
        for chunk in tags.chunks(TAGS_PER_LOOKUP) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
            let params: Vec<&dyn Param> = std::iter::once(&id as &dyn Param)
                .chain(chunk.iter().map(|t| t as &dyn Param))
                .collect();
            persons.extend(conn.values::<i64>(
                &format!(
                    "SELECT person_key FROM release_disclosure_tags \
                     WHERE release_id = $1 AND tag IN ({})",
                    placeholders.join(", ")
                ),
                &params,
            )?);
        }
    }
    persons.sort_unstable();
    persons.dedup();
    Ok(persons)
}
