//! Proves the group commit and the durability levels: one `fdatasync` answers every
//! record it covers; an answer that depends on a record not yet synced (a replay, an
//! `already_claimed`) waits for it; a [`Pending`] works blocking and as a future;
//! `Interval` syncs within its interval and `None` asks for no sync. Syncs are counted
//! and power is cut with the simulated disk under the log.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use clickledger::{
    ClickId, ClickKind, Durability, Io, Ledger, Options, Outcome, Postback, ProgramId,
    ProgramSettings, SimulatedDisk, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

fn open(dir: &std::path::Path, disk: &Arc<SimulatedDisk>, durability: Durability) -> Ledger {
    let options = Options {
        durability,
        io: Io::Simulated(Arc::clone(disk)),
        ..Options::default()
    };
    Ledger::open(dir, options).unwrap()
}

fn program(ledger: &Ledger) -> ProgramId {
    ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap()
}

fn clicks(ledger: &Ledger, program: ProgramId, count: usize) -> Vec<ClickId> {
    let at = Timestamp::from_unix(CLICKED);
    (0..count)
        .map(|_| {
            ledger
                .record_click_with(program, "a7", ClickKind::Click, at, Durability::None)
                .unwrap()
        })
        .collect()
}

fn postback(order: usize, id: &ClickId) -> Postback {
    Postback::from_query(&format!(
        "key=pk1&id=A{order}&amount=1&currency=EUR&cids={id}"
    ))
    .unwrap()
}

fn later() -> Timestamp {
    Timestamp::from_unix(CLICKED + 60)
}

#[test]
fn one_fdatasync_answers_every_claim_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(1);
    let ledger = open(dir.path(), &disk, Durability::Sync);
    let program = program(&ledger);
    let ids = clicks(&ledger, program, 200);
    ledger.sync().unwrap();
    let syncs_before = disk.file_syncs();

    let pending: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(order, id)| {
            ledger
                .convert_pending(&postback(order, id), later())
                .unwrap()
        })
        .collect();
    assert!(pending.iter().all(|answer| !answer.is_durable()));
    for answer in pending.into_iter().rev() {
        assert!(matches!(answer.wait().unwrap(), Outcome::Accepted(_)));
    }
    assert_eq!(
        disk.file_syncs() - syncs_before,
        1,
        "the sync for the last claim covers the 199 before it"
    );
}

#[test]
fn sixteen_blocking_callers_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(2);
    let ledger = open(dir.path(), &disk, Durability::Sync);
    let program = program(&ledger);
    let ids = clicks(&ledger, program, 16 * 20);
    ledger.sync().unwrap();
    let syncs_before = disk.file_syncs();
    thread::scope(|scope| {
        for chunk in ids.chunks(20).enumerate() {
            let ledger = &ledger;
            scope.spawn(move || {
                let (thread, ids) = chunk;
                for (round, id) in ids.iter().enumerate() {
                    let outcome = ledger.convert(&postback(thread * 100 + round, id), later());
                    assert!(matches!(outcome.unwrap(), Outcome::Accepted(_)));
                }
            });
        }
    });
    let syncs = disk.file_syncs() - syncs_before;
    // Each caller has one claim in flight, so a sync answers at most sixteen claims; and
    // one sync per claim would mean no grouping at all.
    assert!(
        (320 / 16..320).contains(&syncs),
        "{syncs} syncs for 320 claims by 16 callers, each answered after its sync"
    );
    drop(ledger);
    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.stats().conversions, 320);
}

#[test]
fn a_replay_and_an_already_claimed_wait_for_the_claim_they_depend_on() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(3);
    let ledger = open(dir.path(), &disk, Durability::Sync);
    let program = program(&ledger);
    let ids = clicks(&ledger, program, 1);
    ledger.sync().unwrap();

    let accepted = ledger
        .convert_pending(&postback(1, &ids[0]), later())
        .unwrap();
    let replay = ledger
        .convert_pending(&postback(1, &ids[0]), later())
        .unwrap();
    let claimed = ledger
        .convert_pending(&postback(2, &ids[0]), later())
        .unwrap();
    assert!(matches!(replay.peek(), Outcome::Replayed(_)));
    assert!(matches!(claimed.peek(), Outcome::Rejected(r) if r.reason.code() == "already_claimed"));
    for dependent in [&replay, &claimed] {
        assert!(dependent.position() >= accepted.position());
        assert!(!dependent.is_durable(), "the claim is not synced yet");
    }
    replay.wait().unwrap();
    assert!(accepted.is_durable() && claimed.is_durable());
}

#[test]
fn a_parse_error_depends_on_nothing_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(4);
    let ledger = open(dir.path(), &disk, Durability::Sync);
    let program = program(&ledger);
    clicks(&ledger, program, 3);
    let rejected = ledger
        .convert_query_pending("key=pk1&id=1&currency=EUR", later())
        .unwrap();
    assert!(rejected.is_durable());
}

/// Wakes a parked thread: the smallest executor there is.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park_timeout(Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_pending_answer_is_a_future_woken_by_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(5);
    let ledger = open(dir.path(), &disk, Durability::Sync);
    let program = program(&ledger);
    let ids = clicks(&ledger, program, 1);
    let pending = ledger
        .convert_pending(&postback(1, &ids[0]), later())
        .unwrap();
    assert!(!pending.is_durable());
    let outcome = block_on(pending).unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)));
}

#[test]
fn interval_syncs_within_its_interval_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(6);
    let ledger = open(
        dir.path(),
        &disk,
        Durability::Interval(Duration::from_millis(20)),
    );
    let program = program(&ledger);
    let at = Timestamp::from_unix(CLICKED);
    let id = ledger
        .record_click(program, "a7", ClickKind::Click, at)
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    disk.cut_power();
    ledger.kill();
    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert!(
        reopened.click(&id).is_some(),
        "synced by the flusher before the power cut"
    );
}

#[test]
fn none_asks_for_no_sync() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(7);
    let ledger = open(dir.path(), &disk, Durability::None);
    let program = program(&ledger);
    let ids = clicks(&ledger, program, 10);
    ledger.flush().unwrap();
    let syncs_before = disk.file_syncs();
    let outcome = ledger.convert(&postback(1, &ids[0]), later()).unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(disk.file_syncs(), syncs_before);
}

#[test]
fn claims_acknowledged_across_rollovers_survive_a_power_cut() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(8);
    let options = Options {
        segment_bytes_max: 4096,
        io: Io::Simulated(Arc::clone(&disk)),
        ..Options::default()
    };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    let program = program(&ledger);
    let at = Timestamp::from_unix(CLICKED);
    let acknowledged: Vec<ClickId> = (0..1_000)
        .map(|_| {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .unwrap()
        })
        .collect();
    let segments = std::fs::read_dir(dir.path().join("log")).unwrap().count();
    assert!(
        segments > 5,
        "the clicks span several segments (and the marker)"
    );
    // Unsynced work after the last acknowledgement: lost, but it must not hurt.
    clicks(&ledger, program, 50);
    ledger.flush().unwrap();
    let lost = disk.cut_power();
    ledger.kill();
    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    for id in &acknowledged {
        assert!(
            reopened.click(id).is_some(),
            "{id} lost; the power cut dropped {lost:?}"
        );
    }
}
