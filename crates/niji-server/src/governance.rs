//! What the purpose gate knows of API tokens, accounts and grants, kept
//! between requests so that an analysis request does not read five rows
//! of governance state from the store each time.
//!
//! Kept state is exact, not merely recent. The server's one store writer
//! counts as a change of governance state every time it is let go
//! ([`crate::state::StoreGuard`]), unless it was taken through
//! `Inner::store_keeping_governance` for a write that touches none of it
//! (the access log, the airlock, the ledger). What is kept carries the
//! count it was read at, and is used only while the count stands and on
//! the day it was read (grants and tokens expire by date). A revocation,
//! an approval or a new token therefore reaches the next request.

use niji_query::GrantedTable;
use niji_store::{Account, Application, Grant};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Entries of one kind kept at most; past that the kind starts over, so
/// that many tokens or projects cannot grow the server without bound.
const MAX_KEPT: usize = 4096;

/// A project's grant as the gate checks it.
pub(crate) struct Standing {
    /// The grant, with whether it is in force (on the day it was read).
    pub grant: Grant,
    /// Its application: members and purpose.
    pub application: Application,
    /// The granted tables, as sandbox views; or why there are none (a
    /// release the grant names is not on the platform), told only to
    /// callers the gate admits.
    pub tables: Result<Vec<GrantedTable>, String>,
}

/// When something was read: the change count and the day.
pub(crate) struct Mark {
    generation: u64,
    day: String,
}

#[derive(Default)]
struct Kept {
    generation: u64,
    day: String,
    /// Valid API tokens, by the SHA-256 of the token presented: the account
    /// and the project it reaches. Refusals are not kept.
    tokens: HashMap<String, (Account, i64)>,
    /// Accounts by name.
    accounts: HashMap<String, Account>,
    /// Grants that exist, by project.
    standings: HashMap<i64, Arc<Standing>>,
}

/// The kept governance state and its change count.
#[derive(Default)]
pub(crate) struct Governance {
    generation: AtomicU64,
    kept: Mutex<Kept>,
}

impl Governance {
    /// Governance state may have changed: everything kept is stale.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Take before reading what is to be kept: state read after the mark
    /// is at least as new as every change it counts.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            generation: self.generation.load(Ordering::SeqCst),
            day: niji_store::governance::today(),
        }
    }

    /// The account and project of a valid API token, by its digest.
    pub(crate) fn token(&self, digest: &str) -> Option<(Account, i64)> {
        self.recall(|kept| kept.tokens.get(digest).cloned())
    }

    /// An account, by name.
    pub(crate) fn account(&self, name: &str) -> Option<Account> {
        self.recall(|kept| kept.accounts.get(name).cloned())
    }

    /// A project's standing.
    pub(crate) fn standing(&self, project: i64) -> Option<Arc<Standing>> {
        self.recall(|kept| kept.standings.get(&project).cloned())
    }

    /// Keeps a valid token read since `mark`.
    pub(crate) fn keep_token(&self, mark: Mark, digest: String, account: Account, project: i64) {
        self.keep(mark, |kept| {
            bounded(&mut kept.tokens).insert(digest, (account, project));
        });
    }

    /// Keeps an account read since `mark`.
    pub(crate) fn keep_account(&self, mark: Mark, account: Account) {
        self.keep(mark, |kept| {
            bounded(&mut kept.accounts).insert(account.name.clone(), account);
        });
    }

    /// Keeps a project's standing read since `mark`.
    pub(crate) fn keep_standing(&self, mark: Mark, project: i64, standing: Arc<Standing>) {
        self.keep(mark, |kept| {
            bounded(&mut kept.standings).insert(project, standing);
        });
    }

    fn recall<T>(&self, find: impl FnOnce(&Kept) -> Option<T>) -> Option<T> {
        let generation = self.generation.load(Ordering::SeqCst);
        let kept = self.kept.lock().ok()?;
        if kept.generation != generation || kept.day != niji_store::governance::today() {
            return None;
        }
        find(&kept)
    }

    fn keep(&self, mark: Mark, add: impl FnOnce(&mut Kept)) {
        let Ok(mut kept) = self.kept.lock() else {
            return;
        };
        // Changed while it was being read: it may be older than the count.
        if mark.generation != self.generation.load(Ordering::SeqCst) {
            return;
        }
        if kept.generation != mark.generation || kept.day != mark.day {
            *kept = Kept {
                generation: mark.generation,
                day: mark.day,
                ..Kept::default()
            };
        }
        add(&mut kept);
    }
}

fn bounded<K, V>(map: &mut HashMap<K, V>) -> &mut HashMap<K, V> {
    if map.len() >= MAX_KEPT {
        map.clear();
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use niji_core::Role;

    fn account(name: &str) -> Account {
        Account {
            name: name.into(),
            role: Role::Researcher,
            created_at: "2026-11-22 00:00:00".into(),
        }
    }

    #[test]
    fn what_is_kept_is_recalled_until_a_change() {
        let governance = Governance::default();
        governance.keep_account(governance.mark(), account("alice"));
        assert_eq!(governance.account("alice"), Some(account("alice")));
        governance.changed();
        assert_eq!(governance.account("alice"), None, "stale after a change");
    }

    #[test]
    fn what_was_read_across_a_change_is_not_kept() {
        let governance = Governance::default();
        let mark = governance.mark();
        // A change commits while the read runs: the read may predate it.
        governance.changed();
        governance.keep_token(mark, "digest".into(), account("alice"), 7);
        assert_eq!(governance.token("digest"), None);
        governance.keep_token(governance.mark(), "digest".into(), account("alice"), 7);
        assert_eq!(governance.token("digest"), Some((account("alice"), 7)));
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let governance = Governance::default();
        for i in 0..MAX_KEPT + 10 {
            governance.keep_account(governance.mark(), account(&format!("a{i}")));
        }
        let kept = governance.kept.lock().unwrap();
        assert!(kept.accounts.len() <= MAX_KEPT);
    }
}
