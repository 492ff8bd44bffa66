//! Serializes the tests of one test binary that spawn child processes and reopen
//! ledgers. A child forked by one test holds a copy of every descriptor open at that
//! moment until it execs, another test's ledger lock included, so a reopen in that
//! window is refused as `Locked` (the `flock` caveat in docs/ARCHITECTURE.md). Tests
//! that hold the guard never overlap.

use std::sync::{Mutex, MutexGuard, PoisonError};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for the whole test: `let _serial = serial::one_at_a_time();`.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next test still runs.
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}
