//! Waiting for a DuckDB file another process holds.
//!
//! DuckDB lets one process at a time open a database file for writing, and
//! answers any other at once with "Could not set lock on file". The
//! staging store is such a file: the server opens it for a Bundle or an
//! enrolment lookup, and `niji ingest`, `niji link` and `niji release
//! build` open it beside the server. Each waits its turn with [`waiting`]
//! instead of failing on the first refusal.

use std::time::{Duration, Instant};

/// How long a command waits for the staging store before it gives up.
pub const COMMAND_WAIT: Duration = Duration::from_secs(120);

/// How long a server request waits for it (a source system retries).
pub const REQUEST_WAIT: Duration = Duration::from_secs(10);

/// Whether a DuckDB error's message is its refusal of a file another
/// process has open.
pub fn is_lock_conflict(message: &str) -> bool {
    message.contains("Could not set lock on file")
}

/// Runs `attempt` until it succeeds, fails otherwise than `busy` says, or
/// `wait` has passed; retries every 50 ms. The last result.
pub fn waiting<T, E>(
    wait: Duration,
    mut attempt: impl FnMut() -> Result<T, E>,
    busy: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let started = Instant::now();
    loop {
        match attempt() {
            Err(e) if busy(&e) && started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_attempt_is_retried_and_another_error_is_not() {
        let mut tries = 0;
        let r: Result<u32, &str> = waiting(
            Duration::from_secs(5),
            || {
                tries += 1;
                if tries < 3 { Err("busy") } else { Ok(tries) }
            },
            |e| *e == "busy",
        );
        assert_eq!(r, Ok(3));
        let mut tries = 0;
        let r: Result<u32, &str> = waiting(
            Duration::from_secs(5),
            || {
                tries += 1;
                Err("broken")
            },
            |e| *e == "busy",
        );
        assert_eq!((r, tries), (Err("broken"), 1));
        let r: Result<u32, &str> = waiting(Duration::ZERO, || Err("busy"), |e| *e == "busy");
        assert_eq!(r, Err("busy"));
    }

    #[test]
    fn duckdbs_refusal_is_recognized() {
        assert!(is_lock_conflict(
            "IO Error: Could not set lock on file \"/d/content.duckdb\": Conflicting lock is held"
        ));
        assert!(!is_lock_conflict("Catalog Error: Table x does not exist"));
    }
}
