//! Group commit: one `fdatasync` acknowledges every record it covers.
//!
//! Positions in the log are byte counts from the start of the first segment (headers
//! and seal records included), so they only grow. Appenders frame records into the
//! writer's buffer under the ledger's writer lock and learn the position their record
//! ends at. To be durable they [`GroupCommit::wait`] for that position, or hold a
//! [`crate::Pending`] that polls it.
//!
//! One sync thread per ledger runs `GroupCommit::run_syncer`: when a position is
//! requested, or an interval deadline falls due, it takes the whole buffer (swapping in
//! a spare one, so appenders never wait for the disk), writes it, calls `fdatasync`
//! once, and publishes the new durable position, which wakes every waiter it covers.
//! While it syncs, appends gather in the other buffer for the next round: the more
//! callers wait, the more each sync covers.
//!
//! A dedicated thread rather than leader/follower among callers: an async caller's
//! future must not block to become leader, and an `Interval` level needs a background
//! flusher anyway. The price is two thread wake-ups per round, small next to an
//! `fdatasync`.
//!
//! A failed write or sync is final: the position stays where it was, every waiter
//! (now and later) gets [`LogError::Failed`], and the writer refuses further appends;
//! only a reopen, which rereads the log, may continue.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::writer::Batch;
use super::LogError;

/// The durable position of the log and everyone waiting on it.
#[derive(Debug)]
pub struct GroupCommit {
    state: Mutex<CommitState>,
    /// Wakes the sync thread.
    work: Condvar,
    /// Position after the last record appended (read without the writer lock).
    appended: AtomicU64,
    /// A write or sync failed: nothing more is accepted.
    failed: AtomicBool,
    /// Nanoseconds of the shortest interval a pending deadline was armed with, or 0 when
    /// no deadline is pending: lets an `Interval` append skip the lock when an earlier
    /// deadline already covers it.
    armed_interval_ns: AtomicU64,
}

#[derive(Debug, Default)]
struct CommitState {
    durable: u64,
    /// The highest position a caller waits for.
    requested: u64,
    /// When an `Interval` append must be synced by.
    deadline: Option<Instant>,
    /// Set once, by the first failed write or sync: (segment, cause).
    failure: Option<(PathBuf, String)>,
    /// Futures waiting for a position.
    wakers: Vec<(u64, Waker)>,
    stopping: bool,
}

impl GroupCommit {
    /// A log whose first `durable` bytes are on disk and synced.
    pub(crate) fn new(durable: u64) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(CommitState {
                durable,
                requested: durable,
                ..CommitState::default()
            }),
            work: Condvar::new(),
            appended: AtomicU64::new(durable),
            failed: AtomicBool::new(false),
            armed_interval_ns: AtomicU64::new(0),
        }
    }

    /// The position after the last record appended.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// The position up to which the log is durable.
    pub fn durable(&self) -> u64 {
        self.state.lock().durable
    }

    /// True once a write or sync has failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Called by the writer (under its lock) after each append.
    pub(crate) fn set_appended(&self, position: u64) {
        self.appended.store(position, Ordering::Release);
    }

    /// Records that everything up to `position` is durable, and wakes who it covers.
    /// Called with the segment file locked, so positions are published in order.
    pub(crate) fn publish(&self, position: u64) {
        let mut state = self.state.lock();
        if position <= state.durable {
            return;
        }
        state.durable = position;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.wakers)
            .into_iter()
            .partition(|(target, _)| *target <= position);
        state.wakers = waiting;
        drop(state);
        ready.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// Records a failed write or sync: nothing after the durable position will ever be
    /// acknowledged. The first failure is kept.
    pub(crate) fn fail(&self, segment: PathBuf, cause: String) {
        self.failed.store(true, Ordering::Release);
        let mut state = self.state.lock();
        state.failure.get_or_insert((segment, cause));
        let wakers = std::mem::take(&mut state.wakers);
        drop(state);
        wakers.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// The error every waiter sees after a failure.
    pub(crate) fn failure(&self) -> Option<LogError> {
        self.state.lock().failure.as_ref().map(failed_error)
    }

    /// Blocks until `position` is durable, asking the sync thread for it.
    ///
    /// The caller parks with a waker in the same list as futures, so a sync wakes only
    /// the callers it covers: with 64 callers waiting on successive syncs, waking all of
    /// them on every sync would cost more than the claims.
    pub fn wait(&self, position: u64) -> Result<(), LogError> {
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        loop {
            match self.poll(position, &waker) {
                Poll::Ready(result) => return result,
                // A spurious unpark polls again, which registers a second waker: harmless.
                Poll::Pending => std::thread::park(),
            }
        }
    }

    /// Ready when `position` is durable (or never will be); otherwise asks the sync
    /// thread for it and wakes `waker` when it is.
    pub(crate) fn poll(&self, position: u64, waker: &Waker) -> Poll<Result<(), LogError>> {
        let mut state = self.state.lock();
        if state.durable >= position {
            return Poll::Ready(Ok(()));
        }
        if let Some(failure) = &state.failure {
            return Poll::Ready(Err(failed_error(failure)));
        }
        if state.stopping {
            return Poll::Ready(Err(stopped_error()));
        }
        state.wakers.push((position, waker.clone()));
        if state.requested < position {
            state.requested = position;
            self.work.notify_one();
        }
        Poll::Pending
    }

    /// Makes sure `position` is synced within `interval`, without waiting for it.
    pub fn request_within(&self, position: u64, interval: Duration) {
        let interval_ns = u64::try_from(interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let armed = self.armed_interval_ns.load(Ordering::SeqCst);
        // A deadline armed with a shorter interval, and not yet taken by the sync
        // thread (which clears it before taking the buffer), is due no later.
        if armed != 0 && armed <= interval_ns {
            return;
        }
        let mut state = self.state.lock();
        if state.durable >= position {
            return;
        }
        let deadline = Instant::now() + interval;
        if state.deadline.is_none_or(|due| deadline < due) {
            state.deadline = Some(deadline);
            self.work.notify_one();
        }
        let armed = self.armed_interval_ns.load(Ordering::SeqCst);
        if armed == 0 || interval_ns < armed {
            self.armed_interval_ns.store(interval_ns, Ordering::SeqCst);
        }
    }

    /// Tells the sync thread to stop; waiters not yet covered get an error.
    pub(crate) fn stop(&self) {
        self.state.lock().stopping = true;
        self.work.notify_all();
        let wakers = std::mem::take(&mut self.state.lock().wakers);
        wakers.into_iter().for_each(|(_, waker)| waker.wake());
    }

    /// The sync thread's loop: waits for a request or a deadline, takes a batch with
    /// `take` (which locks the writer briefly), writes and syncs it, publishes. Returns
    /// after [`GroupCommit::stop`].
    pub(crate) fn run_syncer(&self, mut take: impl FnMut(Vec<u8>) -> Batch) {
        let mut spare = Vec::new();
        while self.next_round() {
            // Cleared before the buffer is taken: an append after the take sees no
            // armed deadline and arms its own.
            self.armed_interval_ns.store(0, Ordering::SeqCst);
            let batch = take(spare);
            spare = batch.write_and_sync(self);
        }
    }

    /// Waits until a sync is due; false when stopping.
    fn next_round(&self) -> bool {
        let mut state = self.state.lock();
        loop {
            if state.stopping {
                return false;
            }
            if state.failure.is_none() {
                if state.requested > state.durable {
                    break;
                }
                if let Some(deadline) = state.deadline {
                    if Instant::now() >= deadline {
                        break;
                    }
                    self.work.wait_until(&mut state, deadline);
                    continue;
                }
            }
            self.work.wait(&mut state);
        }
        state.deadline = None;
        true
    }
}

/// Wakes a thread parked in [`GroupCommit::wait`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn failed_error((segment, cause): &(PathBuf, String)) -> LogError {
    LogError::Failed {
        segment: segment.clone(),
        cause: cause.clone(),
    }
}

fn stopped_error() -> LogError {
    LogError::Failed {
        segment: PathBuf::new(),
        cause: "the ledger was closed before this record was synced".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Counted(AtomicUsize);

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted() -> (Arc<Counted>, Waker) {
        let count = Arc::new(Counted(AtomicUsize::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    #[test]
    fn publishing_a_position_wakes_the_futures_it_covers_and_no_other() {
        let commit = GroupCommit::new(10);
        let (near, near_waker) = counted();
        let (far, far_waker) = counted();
        assert!(commit.poll(20, &near_waker).is_pending());
        assert!(commit.poll(30, &far_waker).is_pending());
        commit.publish(25);
        assert_eq!(near.0.load(Ordering::SeqCst), 1);
        assert_eq!(far.0.load(Ordering::SeqCst), 0);
        assert!(matches!(commit.poll(20, &near_waker), Poll::Ready(Ok(()))));
        commit.publish(20);
        assert_eq!(commit.durable(), 25, "the durable position never goes back");
    }

    #[test]
    fn a_failure_reaches_every_waiter_but_not_what_was_durable_before() {
        let commit = GroupCommit::new(10);
        let (woken, waker) = counted();
        assert!(commit.poll(20, &waker).is_pending());
        commit.fail(PathBuf::from("segment"), "injected".to_owned());
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(commit.failed());
        assert!(matches!(
            commit.wait(20),
            Err(LogError::Failed { cause, .. }) if cause == "injected"
        ));
        assert!(commit.wait(10).is_ok(), "durable before the failure");
        assert!(matches!(commit.poll(30, &waker), Poll::Ready(Err(_))));
    }

    #[test]
    fn an_interval_request_arms_one_deadline_that_a_shorter_one_brings_forward() {
        let commit = GroupCommit::new(0);
        commit.request_within(5, Duration::from_secs(60));
        let first = commit.state.lock().deadline.expect("armed");
        commit.request_within(6, Duration::from_secs(120));
        assert_eq!(
            commit.state.lock().deadline,
            Some(first),
            "a later one waits"
        );
        commit.request_within(7, Duration::from_millis(1));
        assert!(commit.state.lock().deadline.expect("armed") < first);
    }
}
