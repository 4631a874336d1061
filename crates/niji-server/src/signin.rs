//! Sign-in: the one way a password becomes a session, for the API and the
//! login page alike ([`authenticate`]).
//!
//! What an outsider could use, and how it is closed:
//! - **Guessing in parallel.** An attempt is reserved in the throttle
//!   before its password is checked, so a burst of guesses meets the same
//!   limits as a sequence.
//! - **Lockout as a weapon.** An account is never locked: after
//!   [`FREE_FAILURES`] failures each further attempt waits a delay that
//!   doubles from one second up to [`LONGEST_WAIT`]. The right password
//!   gets through after that wait from anywhere. Per address, failures are
//!   limited to [`ADDRESS_FAILURES`] in [`WINDOW`]; the address is the
//!   peer's, or behind a configured trusted proxy the one it forwards.
//! - **Which names exist.** A name no account has costs the same argon2
//!   work as a known one (`niji_store::accounts::verify_unknown`), and is
//!   throttled alike.
//! - **The permanent log.** A name is checked against the rules for
//!   account names before anything is written, and the request body is
//!   bounded ([`MAX_BODY`]). A failed sign-in names its actor only when
//!   the name is an account's (never what someone typed, which may be a
//!   password), and is written at the 1st, 2nd, 4th, 8th, … failure of an
//!   account and address in a window, with the count: a thousand guesses
//!   leave ten entries.

use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use axum::http::HeaderMap;
use niji_audit::event::{EventKind, Subject};
use niji_core::SecretString;
use niji_store::Account;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Failures an account has before its attempts are slowed down.
pub const FREE_FAILURES: u32 = 5;
/// The longest an account's next attempt waits.
pub const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Failed sign-ins allowed per address in [`WINDOW`].
pub const ADDRESS_FAILURES: u32 = 50;
/// The window failures are counted in, per address and per account.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The largest sign-in request body: a name of 64 characters and a
/// password of a few hundred fit many times over.
pub const MAX_BODY: usize = 4 * 1024;
/// The longest an attempt waits for others of its name being checked.
const BUSY_WAIT: Duration = Duration::from_secs(10);
/// Accounts (and names) the throttle remembers at once; past it, the
/// longest quiet is forgotten first.
const REMEMBERED: usize = 100_000;

/// Wrong enrolment details allowed per address in [`WINDOW`].
pub const ENROL_FAILURES: u32 = 5;

/// The actor of a failed sign-in whose name is no account's.
pub const UNKNOWN_ACTOR: &str = "(unknown account)";

/// Attempts by account and address (and, for enrolment, any key).
#[derive(Default)]
pub struct Throttle {
    /// Failures per key in a window: addresses of sign-ins, enrolments.
    windows: HashMap<String, (u32, Instant)>,
    /// Each account's (or unknown name's) attempts.
    accounts: HashMap<String, Attempts>,
    /// Failed sign-ins per name tried (kept here only) and address in a
    /// window, for the log.
    logged: HashMap<(String, IpAddr), (u32, Instant)>,
}

/// An account's (or a name's) attempts.
#[derive(Debug, Clone, Copy)]
struct Attempts {
    /// Failures in a row.
    failures: u32,
    /// Attempts being checked now.
    pending: u32,
    /// When the last failure (or attempt) was.
    last: Instant,
}

/// Why an attempt was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The address failed too often in the window.
    Address,
    /// The account's next attempt waits this long yet.
    Wait(Duration),
    /// So many attempts are being checked that, were they all wrong, this
    /// one would be too many: it waits for them, not refused.
    Busy,
}

impl Throttle {
    /// Whether any of `keys` failed [`ENROL_FAILURES`] times in the
    /// window (enrolment guesses per address).
    pub(crate) fn blocked(&mut self, keys: &[String]) -> bool {
        self.windows
            .retain(|_, (_, first)| first.elapsed() < WINDOW);
        keys.iter().any(|k| {
            self.windows
                .get(k)
                .is_some_and(|(n, _)| *n >= ENROL_FAILURES)
        })
    }

    /// Counts an attempt under `key` and says whether it is past `limit`
    /// in the window (departures to the card's provider per address).
    pub(crate) fn over(&mut self, key: &str, limit: u32) -> bool {
        self.windows
            .retain(|_, (_, first)| first.elapsed() < WINDOW);
        let slot = self
            .windows
            .entry(key.to_owned())
            .or_insert((0, Instant::now()));
        slot.0 = slot.0.saturating_add(1);
        slot.0 > limit
    }

    /// Counts a failure of each of `keys`.
    pub(crate) fn fail(&mut self, keys: &[String]) {
        for k in keys {
            self.windows
                .entry(k.clone())
                .or_insert((0, Instant::now()))
                .0 += 1;
        }
    }

    /// Reserves a sign-in attempt for `name` from `address`, before its
    /// password is checked, so that parallel attempts meet the limits of
    /// sequential ones; [`Throttle::settle`] ends it.
    pub(crate) fn reserve(&mut self, name: &str, address: IpAddr) -> Result<(), Refusal> {
        let now = Instant::now();
        self.windows
            .retain(|_, (_, first)| now.duration_since(*first) < WINDOW);
        self.accounts
            .retain(|_, a| a.pending > 0 || now.duration_since(a.last) < WINDOW);
        let key = address_key(address);
        if self
            .windows
            .get(&key)
            .is_some_and(|(n, _)| *n >= ADDRESS_FAILURES)
        {
            return Err(Refusal::Address);
        }
        if let Some(a) = self.accounts.get(name) {
            let wait = wait_after(a.failures);
            let waited = now.duration_since(a.last);
            if waited < wait {
                return Err(Refusal::Wait(wait - waited));
            }
            if a.failures.saturating_add(a.pending) >= FREE_FAILURES.max(a.failures + 1) {
                return Err(Refusal::Busy);
            }
        }
        if !self.accounts.contains_key(name) && self.accounts.len() >= REMEMBERED {
            let quietest = self
                .accounts
                .iter()
                .filter(|(_, a)| a.pending == 0)
                .min_by_key(|(_, a)| a.last)
                .map(|(k, _)| k.clone());
            if let Some(k) = quietest {
                self.accounts.remove(&k);
            }
        }
        let a = self.accounts.entry(name.to_owned()).or_insert(Attempts {
            failures: 0,
            pending: 0,
            last: now,
        });
        a.pending += 1;
        self.windows.entry(key).or_insert((0, now)).0 += 1;
        Ok(())
    }

    /// Ends a reserved attempt of `name` from `address`: the right
    /// password forgets the account's failures and does not count against
    /// the address; a wrong one counts; None (the check itself failed)
    /// counts for neither.
    pub(crate) fn settle(&mut self, name: &str, address: IpAddr, right: Option<bool>) {
        let Some(a) = self.accounts.get_mut(name) else {
            return;
        };
        a.pending = a.pending.saturating_sub(1);
        match right {
            Some(true) => a.failures = 0,
            Some(false) => {
                a.failures += 1;
                a.last = Instant::now();
            }
            None => {}
        }
        if right != Some(false)
            && let Some((n, _)) = self.windows.get_mut(&address_key(address))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Counts a failed (or refused) sign-in as `name` from `address` for
    /// the log; the count when it is to be written (1, 2, 4, 8, …). Known
    /// and unknown names count alike, so that the writes' timing tells no
    /// more than the replies.
    pub(crate) fn count_for_log(&mut self, name: &str, address: IpAddr) -> Option<u32> {
        let now = Instant::now();
        self.logged
            .retain(|_, (_, first)| now.duration_since(*first) < WINDOW);
        if self.logged.len() >= REMEMBERED {
            // Past the memory, every failure is written: bounded by the
            // address limit, not lost.
            return Some(1);
        }
        let entry = self
            .logged
            .entry((name.to_owned(), address))
            .or_insert((0, now));
        entry.0 += 1;
        entry.0.is_power_of_two().then_some(entry.0)
    }
}

/// How long an account's next attempt waits after `failures` failures:
/// nothing for the first [`FREE_FAILURES`], then 1 s, 2 s, 4 s, … up to
/// [`LONGEST_WAIT`].
pub fn wait_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(LONGEST_WAIT)
}

fn address_key(address: IpAddr) -> String {
    format!("address:{address}")
}

/// The client's address: the peer's, or, when the peer is the configured
/// trusted proxy, the last address it adds to `X-Forwarded-For` (the one
/// it saw; earlier ones are the client's to forge).
pub(crate) fn client_address(
    peer: SocketAddr,
    headers: &HeaderMap,
    trusted_proxy: Option<IpAddr>,
) -> IpAddr {
    if trusted_proxy != Some(peer.ip()) {
        return peer.ip();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// The failed-attempt counters.
pub(crate) fn throttle(
    inner: &crate::state::Inner,
) -> Result<std::sync::MutexGuard<'_, Throttle>, ApiError> {
    inner
        .throttle
        .lock()
        .map_err(|_| ApiError::Internal("throttle lock poisoned".into()))
}

/// Checks a password, throttled per account and per address; a sign-in
/// and (aggregated) failures and refusals are audit events.
pub(crate) async fn authenticate(
    state: &AppState,
    name: String,
    password: SecretString,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Account, ApiError> {
    let account = check_password(state, name, password, peer, headers).await?;
    let audit = state.inner();
    let actor = account.name.clone();
    blocking(move || {
        Ok(audit.store_keeping_governance()?.audit(
            &actor,
            EventKind::Login,
            Subject::SignIn,
            "logged in",
        )?)
    })
    .await?;
    Ok(account)
}

/// Checks `name`'s password under the same throttle and logging as a
/// sign-in (a password change asks for the current one this way), without
/// recording a success.
pub(crate) async fn check_password(
    state: &AppState,
    name: String,
    password: SecretString,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Account, ApiError> {
    let address = client_address(peer, headers, state.trusted_proxy());
    let inner = state.inner();
    // A name no account can have is throttled and logged as one nobody
    // has: it is not kept, and what was typed is never written.
    let valid = niji_store::accounts::check_account_name(&name).is_ok();
    let key = if valid { name.clone() } else { String::new() };
    let reserved = reserve(state, &key, address).await?;
    if let Err(refusal) = reserved {
        let known = valid && known(state, &name).await?;
        log_failure(state, &key, known, address, EventKind::LoginThrottled).await?;
        return Err(match refusal {
            Refusal::Wait(wait) => ApiError::TooMany(Some(wait)),
            Refusal::Address | Refusal::Busy => ApiError::TooMany(None),
        });
    }
    let work = state.inner();
    let checked = blocking(move || {
        // The hash is read under the store's lock; argon2 runs outside it.
        // Signing in changes no governance state: the gate keeps what it
        // read.
        let login = if valid {
            work.store_keeping_governance()?.login_of(&name)?
        } else {
            None
        };
        let account = match login {
            Some((account, hash)) => niji_store::accounts::verify_password(&password, &hash)?
                .then_some(account)
                .ok_or(Some(name)),
            None => {
                niji_store::accounts::verify_unknown(&password)?;
                Err(None)
            }
        };
        Ok(account)
    })
    .await;
    let right = match &checked {
        Ok(Ok(_)) => Some(true),
        Ok(Err(_)) => Some(false),
        Err(_) => None,
    };
    throttle(&inner)?.settle(&key, address, right);
    match checked? {
        Ok(account) => Ok(account),
        Err(known_name) => {
            log_failure(
                state,
                &key,
                known_name.is_some(),
                address,
                EventKind::LoginFailed,
            )
            .await?;
            Err(ApiError::Unauthenticated)
        }
    }
}

/// Reserves an attempt ([`Throttle::reserve`]), waiting while as many
/// attempts of the name are being checked as it may fail (never longer
/// than [`BUSY_WAIT`]).
async fn reserve(
    state: &AppState,
    name: &str,
    address: IpAddr,
) -> Result<Result<(), Refusal>, ApiError> {
    let started = Instant::now();
    loop {
        let reserved = throttle(&state.inner())?.reserve(name, address);
        match reserved {
            Err(Refusal::Busy) if started.elapsed() < BUSY_WAIT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return Ok(other),
        }
    }
}

/// Whether `name` is an account's.
async fn known(state: &AppState, name: &str) -> Result<bool, ApiError> {
    let inner = state.inner();
    let name = name.to_owned();
    blocking(move || Ok(inner.store_keeping_governance()?.account(&name)?.is_some())).await
}

/// Writes a failed or refused sign-in as `name` (a valid name, or empty),
/// aggregated per name and address in the window; the actor is the
/// account, or no one.
async fn log_failure(
    state: &AppState,
    name: &str,
    known: bool,
    address: IpAddr,
    kind: EventKind,
) -> Result<(), ApiError> {
    let actor = if known { name } else { UNKNOWN_ACTOR };
    let Some(count) = throttle(&state.inner())?.count_for_log(name, address) else {
        return Ok(());
    };
    let detail = match (kind, count) {
        (EventKind::LoginThrottled, 1) => "too many failed sign-ins".to_owned(),
        (EventKind::LoginThrottled, n) => {
            format!("too many failed sign-ins ({n} refused in 15 minutes)")
        }
        (_, 1) => "wrong account or password".to_owned(),
        (_, n) => format!("wrong account or password ({n} failures in 15 minutes)"),
    };
    let inner = state.inner();
    let actor = actor.to_owned();
    blocking(move || {
        Ok(inner
            .store_keeping_governance()?
            .audit(&actor, kind, Subject::SignIn, &detail)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn attempts_are_reserved_so_a_burst_meets_the_limit() {
        let mut t = Throttle::default();
        let admitted = (0..40).filter(|_| t.reserve("alice", HOME).is_ok()).count();
        assert_eq!(admitted, FREE_FAILURES as usize);
        assert_eq!(t.reserve("alice", HOME), Err(Refusal::Busy));
        // Another account is not slowed by alice's attempts.
        assert!(t.reserve("bob", HOME).is_ok());
        t.settle("bob", HOME, Some(true));
        // All five wrong: the next waits.
        for _ in 0..FREE_FAILURES {
            t.settle("alice", HOME, Some(false));
        }
        assert!(matches!(t.reserve("alice", HOME), Err(Refusal::Wait(_))));
    }

    #[test]
    fn right_passwords_in_parallel_are_not_refused() {
        let mut t = Throttle::default();
        for _ in 0..3 {
            for _ in 0..FREE_FAILURES {
                t.reserve("alice", HOME).unwrap();
            }
            for _ in 0..FREE_FAILURES {
                t.settle("alice", HOME, Some(true));
            }
        }
        assert!(t.reserve("alice", HOME).is_ok());
    }

    #[test]
    fn waits_double_up_to_the_longest() {
        assert_eq!(wait_after(4), Duration::ZERO);
        assert_eq!(wait_after(5), Duration::from_secs(1));
        assert_eq!(wait_after(6), Duration::from_secs(2));
        assert_eq!(wait_after(11), LONGEST_WAIT);
        assert_eq!(wait_after(u32::MAX), LONGEST_WAIT);
    }

    #[test]
    fn an_address_is_limited_over_all_names() {
        let mut t = Throttle::default();
        for i in 0..ADDRESS_FAILURES {
            assert!(t.reserve(&format!("name{i}"), HOME).is_ok());
        }
        assert_eq!(t.reserve("another", HOME), Err(Refusal::Address));
        let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(t.reserve("another", elsewhere).is_ok());
    }

    #[test]
    fn failures_are_logged_at_powers_of_two() {
        let mut t = Throttle::default();
        let logged: Vec<u32> = (0..1000)
            .filter_map(|_| t.count_for_log("alice", HOME))
            .collect();
        assert_eq!(logged, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    }

    #[test]
    fn only_the_trusted_proxy_names_the_client() {
        let proxy: SocketAddr = "10.0.0.1:443".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.4".parse().unwrap());
        let trusted = Some(proxy.ip());
        assert_eq!(
            client_address(proxy, &headers, trusted),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(proxy, &headers, None), proxy.ip());
        let other: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        assert_eq!(client_address(other, &headers, trusted), other.ip());
    }
}
