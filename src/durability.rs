//! When an answer may be given: durability levels, and answers pending a sync.
//!
//! Every answer of the ledger (a minted ID, an accepted conversion, a rejection such as
//! `already_claimed`, a replay) is decided from the in-memory state, which runs ahead of
//! the disk by the records not yet synced. The level says how the caller waits for
//! them:
//!
//! - [`Durability::Sync`]: the answer is returned after the `fdatasync` that covers
//!   every record it depends on. Many callers share one `fdatasync` (group commit).
//! - [`Durability::Interval`]: the answer is returned at once; the records it depends
//!   on are synced within the interval. A crash in that window may lose them.
//! - [`Durability::None`]: no sync is asked for; records reach the file when the buffer
//!   fills, on [`crate::Ledger::flush`] or [`crate::Ledger::sync`], and the disk when the
//!   OS decides. For tests, benchmarks and bulk loads that sync once at the end.
//!
//! An async caller with many postbacks in flight uses [`crate::Ledger::convert_pending`]:
//! it gets a [`Pending`] holding the decision, which it awaits (or `wait`s on) to learn
//! that the decision is durable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::LedgerError;
use crate::log::commit::GroupCommit;

/// How durable the records behind an answer are when it is returned.
///
/// ```
/// use clickledger::{Durability, Options};
/// assert_eq!(Options::default().durability, Durability::Sync);
/// let relaxed = Options { durability: Durability::Interval(std::time::Duration::from_millis(5)), ..Options::default() };
/// assert_ne!(relaxed.durability, Durability::None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Answer after the covering `fdatasync` (the default).
    Sync,
    /// Answer at once; sync within this interval.
    Interval(Duration),
    /// Answer at once; ask for no sync.
    None,
}

/// An answer decided in memory, returned once the records it depends on are durable.
///
/// Use it blocking with [`Pending::wait`], or `.await` it: it is a
/// [`std::future::Future`] woken by the ledger's sync thread, with no runtime needed.
/// Dropping it does not undo the decision: the records are in the log and become
/// durable with the next sync.
///
/// ```
/// use clickledger::{ClickKind, Ledger, Options, Outcome, Postback, ProgramSettings, Timestamp};
/// let dir = tempfile::tempdir().unwrap();
/// let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
/// let key = "pk1";
/// let program = ledger.register_program_with_key(ProgramSettings::new("p1"), key).unwrap();
/// let at = Timestamp::now();
/// let id = ledger.record_click(program, "a7", ClickKind::Click, at).unwrap();
/// let postback = Postback::from_query(&format!("key={key}&id=A1&amount=1&currency=EUR&cids={id}")).unwrap();
/// let pending = ledger.convert_pending(&postback, at).unwrap();
/// assert!(matches!(pending.peek(), Outcome::Accepted(_)));
/// assert!(matches!(pending.wait().unwrap(), Outcome::Accepted(_)));
/// ```
#[derive(Debug)]
#[must_use = "the answer is not durable until the Pending completes"]
pub struct Pending<T> {
    value: Option<T>,
    /// The log position the answer depends on.
    position: u64,
    commit: Arc<GroupCommit>,
}

impl<T> Pending<T> {
    pub(crate) fn new(value: T, position: u64, commit: Arc<GroupCommit>) -> Pending<T> {
        Pending {
            value: Some(value),
            position,
            commit,
        }
    }

    /// The answer, before it is durable: for logging, never for replying.
    pub fn peek(&self) -> &T {
        self.value.as_ref().expect("a Pending is consumed once")
    }

    /// The log position the answer waits for.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// True when the answer may be given now.
    pub fn is_durable(&self) -> bool {
        self.commit.durable() >= self.position
    }

    /// Blocks until the answer is durable and returns it; an error when the log failed
    /// first (the answer must not be given: it may not survive a crash).
    pub fn wait(mut self) -> Result<T, LedgerError> {
        self.commit.wait(self.position)?;
        Ok(self.value.take().expect("a Pending is consumed once"))
    }

    /// Returns the answer once its records are synced within `interval`, without
    /// waiting: what [`Durability::Interval`] does.
    pub(crate) fn within(mut self, interval: Duration) -> T {
        self.commit.request_within(self.position, interval);
        self.value.take().expect("a Pending is consumed once")
    }

    /// Returns the answer without asking for a sync.
    pub(crate) fn now(mut self) -> T {
        self.value.take().expect("a Pending is consumed once")
    }

    /// Settles the answer at `durability`.
    pub(crate) fn settle(self, durability: Durability) -> Result<T, LedgerError> {
        match durability {
            Durability::Sync => self.wait(),
            Durability::Interval(interval) => Ok(self.within(interval)),
            Durability::None => Ok(self.now()),
        }
    }
}

impl<T: Unpin> Future for Pending<T> {
    type Output = Result<T, LedgerError>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.commit.poll(self.position, context.waker()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Err(error.into())),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(self
                .value
                .take()
                .expect("a completed Pending is not polled again"))),
        }
    }
}
