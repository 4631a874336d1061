//! Citizens: enrolment with a one-time code bound to the identifiers it was
//! issued for, the binding of a citizen account to person keys (the only
//! trace enrolment leaves), and what the access log says about a person.

use crate::accounts::{self, Account};
use crate::db::stamp;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::event::Family;
use niji_audit::event::{EventKind, Subject};
use niji_audit::index::{Filter, Found};
use niji_audit::note::LogKey;
use niji_audit::receipt::Receipt;
use niji_core::{Role, SecretString};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;

/// How long an enrolment code stays valid.
pub const CODE_VALID_DAYS: i64 = 90;

/// The code alphabet: Crockford's base 32 (no I, L, O, U), so that a code
/// read off a letter is typed back without confusion.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code: 20 of 32 symbols, 100 bits.
const CODE_CHARS: usize = 20;

/// One issued code, shown once.
#[derive(Debug)]
pub struct EnrolmentCode {
    /// The code, in groups of five (`XXXXX-XXXXX-XXXXX-XXXXX`).
    pub code: SecretString,
    /// The last moment it can be used (UTC).
    pub expires_at: String,
}

/// A code as typed: upper case, without separators or spaces; Crockford's
/// readings of I, L (1) and O (0).
fn normalized_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{3000}'))
        .map(|c| match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        })
        .collect()
}

fn code_digest(code: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, normalized_code(code).as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
    Ok(out)
}

fn new_code() -> Result<String, StoreError> {
    let bytes: [u8; CODE_CHARS] = random_bytes()?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(b % 32)] as char)
        .collect();
    Ok(chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// A project as a person's view names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project (grant) id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its purpose id (`policies/purposes.toml`).
    pub purpose: String,
    /// The organization that runs it.
    pub organization: String,
}

/// One entry of the log that concerns a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The entry's index in the log (its id in the person's view).
    pub index: u64,
    /// When (UTC).
    pub at: String,
    /// What happened (`release.build`, `analysis.query`, `opt-out`, …).
    pub kind: String,
    /// Whether the entry names the person directly (by commitment) rather
    /// than through a release they are in.
    pub direct: bool,
    /// The person's releases the entry used.
    pub releases: Vec<String>,
    /// The project, for a project's events.
    pub project: Option<Project>,
}

/// A release a person is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldIn {
    /// Its name.
    pub name: String,
    /// `anonymized` or `pseudonymized`.
    pub tier: String,
    /// When it was built (UTC).
    pub built_at: String,
}

/// A page of a person's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accesses {
    /// Entries that concern the person, in all.
    pub total: u64,
    /// The releases they are in.
    pub releases: Vec<HeldIn>,
    /// This page, newest first.
    pub rows: Vec<Access>,
    /// Per project, the queries it ran on releases that hold the person.
    pub queries: Vec<(Project, u64)>,
    /// The `before` of the next (older) page, if there is one.
    pub next_before: Option<u64>,
}

/// A person's entries counted by month and project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSummary {
    /// The entries counted, in all.
    pub total: u64,
    /// The releases the person is in.
    pub releases: Vec<HeldIn>,
    /// Per month (`YYYYMM`, in Japan), oldest first, empty months included.
    pub months: Vec<(u32, u64)>,
    /// Per month and project, newest month first.
    pub groups: Vec<AccessGroup>,
}

/// One month's entries of one project (or of the platform's own steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGroup {
    /// `YYYYMM`, in Japan.
    pub month: u32,
    /// The project, when the entries are a project's and it is known.
    pub project: Option<Project>,
    /// Its id (kept when the project is not otherwise known).
    pub project_id: Option<i64>,
    /// How many entries.
    pub entries: u64,
    /// The newest of them (its log index).
    pub newest: u64,
}

/// Where a person stands on provision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutState {
    /// When they refused further provision, if they have (and not withdrawn).
    pub since: Option<String>,
    /// Releases built before the refusal that hold their data: these remain.
    pub kept: Vec<HeldIn>,
}

impl Store {
    /// Issues a one-time enrolment code for the person whose claim (see
    /// `Tokenizer::enrolment_claim`) is `claim`: what an insurer's letter
    /// would carry. Admins only; logged without the claim.
    pub fn issue_enrolment_code(
        &self,
        admin: &Account,
        claim: &[u8; 32],
    ) -> Result<EnrolmentCode, StoreError> {
        if admin.role != Role::Admin {
            return Err(StoreError::Forbidden(format!(
                "`{}` is not an admin: only an admin issues enrolment codes",
                admin.name
            )));
        }
        let code = new_code()?;
        let tx = self.conn.transaction()?;
        let expires = Utc::now() + chrono::Duration::days(CODE_VALID_DAYS);
        tx.execute(
            "INSERT INTO enrolment_codes (code_sha256, claim, issued_by, expires_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &(code_digest(&code)),
                &claim.to_vec(),
                &admin.name,
                &expires,
            ],
        )?;
        let expires_at = stamp(&expires);
        crate::releases::audit_in(
            &tx,
            &admin.name,
            EventKind::CitizenCode,
            Subject::Enrolment,
            &format!("an enrolment code was issued, valid {CODE_VALID_DAYS} days"),
        )?;
        tx.commit()?;
        Ok(EnrolmentCode {
            code: SecretString::new(code),
            expires_at,
        })
    }

    /// Enrols a citizen: spends `code`, which must have been issued for
    /// `claim`, and creates a citizen account bound to `persons` (the
    /// person keys the claim's identifiers found) — or, when one of them
    /// has an account already (made by a My Number Card sign-in or an
    /// earlier letter), binds them to it and gives it `password`. The account's name is
    /// the platform's (`citizen-` and ten random characters), so that no
    /// chosen name reaches the log. All or nothing.
    pub fn enrol(
        &self,
        code: &str,
        claim: &[u8; 32],
        persons: &[i64],
        password: &SecretString,
    ) -> Result<Account, StoreError> {
        let suffix: [u8; 10] = random_bytes()?;
        let name: String = std::iter::once("citizen-".to_owned())
            .chain(
                suffix
                    .iter()
                    .map(|b| (CODE_ALPHABET[usize::from(b % 32)] as char).to_ascii_lowercase())
                    .map(String::from),
            )
            .collect();
        self.enrol_as(&name, code, claim, persons, password)
    }

    /// [`Store::enrol`] under a name the caller chose, `citizen-…`: the
    /// demo's public citizen account. Never a name a citizen typed, which
    /// would reach the log.
    pub fn enrol_as(
        &self,
        name: &str,
        code: &str,
        claim: &[u8; 32],
        persons: &[i64],
        password: &SecretString,
    ) -> Result<Account, StoreError> {
        if !name.starts_with("citizen-") {
            return Err(StoreError::Refused(format!(
                "citizen account `{name}`: a citizen's account name starts with `citizen-`"
            )));
        }
        let refused = || {
            StoreError::Forbidden(
                "the enrolment code, the insured-person number or the birth date does not match, \
                 or the code has expired or was used"
                    .into(),
            )
        };
        let digest = code_digest(code);
        let stored: Option<Vec<u8>> = self.conn.opt_value(
            "SELECT c.claim FROM enrolment_codes c \
             WHERE c.code_sha256 = $1 AND c.expires_at > $2 \
             AND c.code_sha256 NOT IN (SELECT code_sha256 FROM enrolment_uses)",
            &[&digest, &Utc::now()],
        )?;
        let stored = stored.ok_or_else(refused)?;
        // Compared without an early exit, so that timing says nothing of
        // how much of the claim matched.
        let differ = stored.len() != claim.len()
            || stored
                .iter()
                .zip(claim)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if differ {
            return Err(refused());
        }
        if persons.is_empty() {
            return Err(StoreError::Refused(
                "no records are held for this insured-person number: there is nothing to show yet"
                    .into(),
            ));
        }
        accounts::check_new_password(password)?;
        let tx = self.conn.transaction()?;
        // The person's account, if they have one (made by signing in with
        // the My Number Card, or by an earlier letter): the letter leads to
        // it, so that both paths are one account.
        let mut existing: Option<(DateTime<Utc>, String)> = None;
        for person in persons {
            let found: Option<(String, DateTime<Utc>)> = tx.opt(
                "SELECT account, enrolled_at FROM citizens WHERE person_key = $1 \
                 ORDER BY enrolled_at, account LIMIT 1",
                &[person],
            )?;
            if let Some((account, at)) = found
                && existing.as_ref().is_none_or(|(first, _)| at < *first)
            {
                existing = Some((at, account));
            }
        }
        let name = existing.map_or(name.to_owned(), |(_, account)| account);
        let name = name.as_str();
        // A second enrolment with the same code loses here, whatever the
        // race: the use is keyed by the code.
        tx.execute(
            "INSERT INTO enrolment_uses (code_sha256, account) VALUES ($1, $2)",
            &[&digest, &name],
        )
        .map_err(|_| refused())?;
        let known = self.account(name)?.is_some();
        if known {
            tx.execute(
                "UPDATE accounts SET password_hash = $1 WHERE name = $2 AND role = $3",
                &[
                    &accounts::hash_password(password)?,
                    &name,
                    &Role::Citizen.as_str(),
                ],
            )?;
        } else {
            accounts::insert(&tx, name, Role::Citizen, password)?;
        }
        for person in persons {
            tx.execute(
                "INSERT INTO citizens (account, person_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &person],
            )?;
        }
        crate::releases::audit_for(
            &tx,
            name,
            EventKind::CitizenEnrol,
            Subject::Person,
            if known {
                "a citizen enrolled with a letter to the account they already had"
            } else {
                "a citizen enrolled in the access portal"
            },
            persons,
        )?;
        tx.commit()?;
        self.account(name)?.ok_or_else(|| StoreError::Damaged {
            what: format!("account `{name}` is missing after enrolment"),
        })
    }

    /// The person keys a citizen account is bound to; refused for any
    /// other account.
    pub fn citizen_persons(&self, account: &Account) -> Result<Vec<i64>, StoreError> {
        if account.role != Role::Citizen {
            return Err(StoreError::Forbidden(format!(
                "`{}` is not a citizen account",
                account.name
            )));
        }
        self.conn.values(
            "SELECT person_key FROM citizens WHERE account = $1 ORDER BY 1",
            &[&account.name],
        )
    }

    /// What the index finds for `persons`, brought up to date first.
    fn found(&self, persons: &[i64]) -> Result<Found, StoreError> {
        self.found_where(persons, &Filter::default())
    }

    /// What the index finds for `persons`, its entries narrowed to those
    /// `filter` asks for.
    fn found_where(&self, persons: &[i64], filter: &Filter) -> Result<Found, StoreError> {
        let mut index = self.index.borrow_mut();
        crate::log::refresh(&self.conn, &mut index)?;
        let numbers: Vec<u32> = persons
            .iter()
            .filter_map(|&k| u32::try_from(k).ok())
            .collect();
        let mut found = index.lookup_all(&numbers);
        if *filter != Filter::default() {
            found.entries = index.filtered(&found.entries, filter);
        }
        Ok(found)
    }

    /// The entries that concern `persons` (those of `family` only, if
    /// given), counted by month (in Japan) and project: what a person's
    /// view shows of thousands of entries, from the index alone.
    pub fn access_summary(
        &self,
        persons: &[i64],
        family: Option<Family>,
    ) -> Result<AccessSummary, StoreError> {
        let filter = Filter {
            family,
            ..Filter::default()
        };
        let found = self.found_where(persons, &filter)?;
        let summary = self.index.borrow().summarize(&found.entries);
        let ids: Vec<i64> = summary
            .groups
            .iter()
            .filter_map(|g| g.project.map(|p| p as i64))
            .collect();
        let projects = self.projects(&ids)?;
        let releases = self
            .held_in(&found.releases)?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        Ok(AccessSummary {
            total: found.entries.len(),
            releases,
            months: summary.months,
            groups: summary
                .groups
                .into_iter()
                .map(|g| AccessGroup {
                    month: g.month,
                    project: g.project.and_then(|p| projects.get(&(p as i64)).cloned()),
                    project_id: g.project.map(|p| p as i64),
                    entries: g.entries,
                    newest: g.newest,
                })
                .collect(),
        })
    }

    /// A page of the entries that concern `persons`, newest first: those
    /// before log index `before` (all, without it), at most `limit`.
    pub fn accesses(
        &self,
        persons: &[i64],
        before: Option<u64>,
        limit: usize,
    ) -> Result<Accesses, StoreError> {
        self.accesses_where(persons, &Filter::default(), before, limit)
    }

    /// [`Store::accesses`] of the entries `filter` asks for (a family, a
    /// project or none, a month).
    pub fn accesses_where(
        &self,
        persons: &[i64],
        filter: &Filter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Accesses, StoreError> {
        let found = self.found_where(persons, filter)?;
        let total = found.entries.len();
        // Entries below `before`: their count is the rank of before - 1.
        let below = match before {
            Some(0) => 0,
            Some(b) => found.entries.rank(b - 1),
            None => total,
        };
        let page: Vec<u64> = (0..below)
            .rev()
            .take(limit)
            .filter_map(|n| found.entries.select(n))
            .collect();
        let next_before = (below > page.len() as u64)
            .then(|| page.last().copied())
            .flatten();
        let held = self.held_in(&found.releases)?;
        let rows = self.access_rows(&page, &found, &held)?;
        let releases = held.into_iter().map(|(_, r)| r).collect();
        let ids: Vec<i64> = found.queries.iter().map(|(id, _)| *id as i64).collect();
        let mut projects = self.projects(&ids)?;
        let queries = found
            .queries
            .iter()
            .filter_map(|(id, n)| Some((projects.remove(&(*id as i64))?, *n)))
            .collect();
        Ok(Accesses {
            total,
            releases,
            rows,
            queries,
            next_before,
        })
    }

    /// One entry of a person's view; refused (as missing) when it does not
    /// concern them.
    pub fn access(&self, persons: &[i64], index: u64) -> Result<Access, StoreError> {
        let found = self.found(persons)?;
        if !found.entries.contains(index) {
            return Err(StoreError::Refused(format!("no access {index} of yours")));
        }
        let held = self.held_in(&found.releases)?;
        self.access_rows(&[index], &found, &held)?
            .pop()
            .ok_or_else(|| StoreError::Refused(format!("no access {index} of yours")))
    }

    /// A receipt for entry `index` of a person's view: its bytes, an
    /// inclusion proof and a signed checkpoint that covers it (issued now
    /// if the latest does not).
    pub fn receipt(
        &self,
        persons: &[i64],
        index: u64,
        key: &LogKey,
    ) -> Result<Receipt, StoreError> {
        self.access(persons, index)?;
        let checkpoint = match self.latest_checkpoint()? {
            Some(c) if c.size > index => c,
            _ => self.issue_checkpoint(key)?,
        };
        let entry = self.log_entry(index)?;
        let proof = self.log_inclusion(index, checkpoint.size)?;
        Ok(Receipt::new(
            &entry.to_bytes(),
            index,
            checkpoint.size,
            &proof,
            checkpoint.note,
            checkpoint.verifier,
        ))
    }

    /// Where `persons` stand on provision, and which releases built before
    /// their refusal keep their data.
    pub fn opt_out_state(&self, persons: &[i64]) -> Result<OptOutState, StoreError> {
        let mut since: Option<String> = None;
        for person in persons {
            let at: Option<String> = self
                .conn
                .opt_value::<DateTime<Utc>>(
                    "SELECT opted_out_at FROM opt_outs WHERE person_key = $1",
                    &[&person],
                )?
                .map(|t| stamp(&t));
            since = match (since, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let kept = match &since {
            Some(at) => {
                let found = self.found(persons)?;
                self.held_in(&found.releases)?
                    .into_iter()
                    .map(|(_, r)| r)
                    .filter(|r| r.built_at.as_str() < at.as_str())
                    .collect()
            }
            None => Vec::new(),
        };
        Ok(OptOutState { since, kept })
    }

    /// The releases of `ids`, by id. One read of the catalogue of releases
    /// (hundreds of rows), not one per release.
    fn held_in(&self, ids: &[u64]) -> Result<Vec<(u64, HeldIn)>, StoreError> {
        let rows: Vec<(u64, String, String, DateTime<Utc>)> = self.conn.all(
            "SELECT release_id, name, tier, built_at FROM releases ORDER BY release_id",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .filter(|(id, ..)| ids.contains(id))
            .map(|(id, name, tier, built_at)| {
                (
                    id,
                    HeldIn {
                        name,
                        tier,
                        built_at: stamp(&built_at),
                    },
                )
            })
            .collect())
    }

    /// The rows of `page` (log indices, newest first), in that order.
    fn access_rows(
        &self,
        page: &[u64],
        found: &Found,
        held: &[(u64, HeldIn)],
    ) -> Result<Vec<Access>, StoreError> {
        let mut events: HashMap<u64, (String, String, Option<i64>)> = HashMap::new();
        let mut scopes: HashMap<u64, Vec<String>> = HashMap::new();
        for (low, high) in runs(page) {
            self.read_run(low, high, page, &mut events)?;
            let rows: Vec<(u64, u64)> = self.conn.all(
                "SELECT idx, release_id FROM log_scopes WHERE idx BETWEEN $1 AND $2 ORDER BY idx, release_id",
                &[&low, &high],
            )?;
            for (index, release) in rows {
                if let Some((_, r)) = held.iter().find(|(id, _)| *id == release) {
                    scopes.entry(index).or_default().push(r.name.clone());
                }
            }
        }
        let ids: Vec<i64> = events
            .values()
            .filter_map(|(_, _, project)| *project)
            .collect();
        let projects = self.projects(&ids)?;
        let mut out = Vec::with_capacity(page.len());
        for index in page {
            let Some((at, kind, project)) = events.remove(index) else {
                return Err(StoreError::Damaged {
                    what: format!("access log entry {index} has no event"),
                });
            };
            let project = project.and_then(|id| projects.get(&id).cloned());
            out.push(Access {
                index: *index,
                at,
                kind,
                direct: found.direct.contains(*index),
                releases: scopes.remove(index).unwrap_or_default(),
                project,
            });
        }
        Ok(out)
    }

    /// The events of the leaves `low..=high` that `page` holds. Leaves and
    /// events are both written in order, so each side is one range that
    /// the tables' zone maps prune to a few row groups.
    fn read_run(
        &self,
        low: u64,
        high: u64,
        page: &[u64],
        events: &mut HashMap<u64, (String, String, Option<i64>)>,
    ) -> Result<(), StoreError> {
        let mut ids: HashMap<i64, u64> = HashMap::new();
        let leaves: Vec<(u64, i64)> = self.conn.all(
            "SELECT idx, event_id FROM log_leaves WHERE idx BETWEEN $1 AND $2",
            &[&low, &high],
        )?;
        for (index, event) in leaves {
            if page.contains(&index) {
                ids.insert(event, index);
            }
        }
        let (Some(first), Some(last)) = (ids.keys().min(), ids.keys().max()) else {
            return Ok(());
        };
        let rows: Vec<(i64, DateTime<Utc>, String, Option<i64>)> = self.conn.all(
            "SELECT id, occurred_at, kind, project_id FROM audit_events WHERE id BETWEEN $1 AND $2",
            &[first, last],
        )?;
        for (id, at, kind, project) in rows {
            if let Some(index) = ids.get(&id) {
                events.insert(*index, (stamp(&at), kind, project));
            }
        }
        Ok(())
    }

    /// The projects of `ids`, by id. One read of every grant (as many as
    /// projects ever approved), not one join per project: a person's view
    /// may name every project that queried a release they are in.
    fn projects(&self, ids: &[i64]) -> Result<HashMap<i64, Project>, StoreError> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let rows: Vec<(i64, String, String, String)> = self.conn.all(
            "SELECT g.id, a.title, a.purpose, o.name FROM grants g \
             JOIN applications a ON a.id = g.application_id \
             JOIN organizations o ON o.id = a.organization_id",
            &[],
        )?;
        for (id, title, purpose, organization) in rows {
            if wanted.contains(&id) {
                out.insert(
                    id,
                    Project {
                        id,
                        title,
                        purpose,
                        organization,
                    },
                );
            }
        }
        Ok(out)
    }
}

/// A page's indices as runs of nearby leaves (`low`, `high`): one range
/// read each. A run breaks at a gap wider than a few hundred leaves, so a
/// person with few, scattered entries reads a few small ranges, not the
/// log between them.
fn runs(page: &[u64]) -> Vec<(u64, u64)> {
    const GAP: u64 = 256;
    let mut sorted = page.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for index in sorted {
        match out.last_mut() {
            Some((_, high)) if index - *high <= GAP => *high = index,
            _ => out.push((index, index)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typed_back_as_they_read() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), CODE_CHARS + 3);
        assert_eq!(
            code_digest(&code),
            code_digest(&code.to_lowercase().replace('-', " "))
        );
        assert_eq!(code_digest("O1IL-x"), code_digest("0111X"));
        assert_ne!(code_digest(&code), code_digest(&new_code().unwrap()));
    }
}
