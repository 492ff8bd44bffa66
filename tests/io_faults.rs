//! Proves what the ledger does when the disk fails under it: a full disk, a failed
//! write, a failed `fdatasync`, a failed segment creation. The caller gets an error,
//! nothing is acknowledged that the disk did not take, every caller waiting on the same
//! sync sees the error, the ledger refuses every later write until it is reopened (a
//! failed fsync cannot be retried safely), and the reopened ledger holds everything that
//! was acknowledged. Faults are injected by the simulated disk under the log.

use std::sync::Arc;

use clickledger::log::io::Faults;
use clickledger::log::LogError;
use clickledger::{
    ClickId, ClickKind, Durability, Io, Ledger, LedgerError, Options, Outcome, Postback, ProgramId,
    ProgramSettings, SimulatedDisk, Timestamp,
};

const CLICKED: u32 = 1_740_823_200;

fn options(disk: &Arc<SimulatedDisk>) -> Options {
    Options {
        io: Io::Simulated(Arc::clone(disk)),
        ..Options::default()
    }
}

fn start(dir: &std::path::Path, disk: &Arc<SimulatedDisk>) -> (Ledger, ProgramId) {
    let ledger = Ledger::open(dir, options(disk)).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    (ledger, program)
}

fn click(ledger: &Ledger, program: ProgramId) -> Result<ClickId, LedgerError> {
    ledger.record_click(
        program,
        "a7",
        ClickKind::Click,
        Timestamp::from_unix(CLICKED),
    )
}

fn postback(order: usize, id: &ClickId) -> Postback {
    Postback::from_query(&format!(
        "key=pk1&id=A{order}&amount=1&currency=EUR&cids={id}"
    ))
    .unwrap()
}

fn is_stopped(error: &LedgerError) -> bool {
    matches!(error, LedgerError::Log(LogError::Failed { .. }))
}

/// Reopens without faults and checks every acknowledged click is there.
fn reopen_with(dir: &std::path::Path, acknowledged: &[ClickId]) -> Ledger {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    for id in acknowledged {
        assert!(ledger.click(id).is_some(), "acknowledged click {id} lost");
    }
    ledger
}

#[test]
fn a_full_disk_fails_the_write_and_stops_the_ledger_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(1);
    let (ledger, program) = start(dir.path(), &disk);
    let mut acknowledged = vec![click(&ledger, program).unwrap()];
    disk.set_faults(Faults {
        space_left_bytes: Some(200),
        ..Faults::default()
    });
    let error = loop {
        match click(&ledger, program) {
            Ok(id) => acknowledged.push(id),
            Err(error) => break error,
        }
        assert!(acknowledged.len() < 100, "200 bytes cannot hold 100 clicks");
    };
    assert!(
        error.to_string().contains("No space left") || is_stopped(&error),
        "{error}"
    );
    disk.set_faults(Faults::default());
    let refused = click(&ledger, program).unwrap_err();
    assert!(is_stopped(&refused), "{refused}");
    assert!(
        ledger.sync().is_err(),
        "a sync after the failure is refused too"
    );
    drop(ledger);

    let reopened = reopen_with(dir.path(), &acknowledged);
    assert!(
        reopened.recovery().torn_tail.is_some(),
        "the short write is cut"
    );
    click(&reopened, program).expect("a reopened ledger writes again");
}

#[test]
fn a_failed_fdatasync_fails_every_waiter_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(2);
    let (ledger, program) = start(dir.path(), &disk);
    let ids: Vec<ClickId> = (0..8).map(|_| click(&ledger, program).unwrap()).collect();
    disk.set_faults(Faults {
        fail_syncs: true,
        ..Faults::default()
    });
    let answers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(order, id)| {
            ledger.convert_pending(&postback(order, id), Timestamp::from_unix(CLICKED + 60))
        })
        .map(Result::unwrap)
        .collect();
    std::thread::scope(|scope| {
        for answer in answers {
            scope.spawn(move || {
                let error = answer.wait().expect_err("no claim is acknowledged");
                assert!(is_stopped(&error), "{error}");
            });
        }
    });
    disk.set_faults(Faults::default());
    let refused = click(&ledger, program).unwrap_err();
    assert!(
        is_stopped(&refused),
        "the ledger refuses until reopened: {refused}"
    );
    let refused = ledger
        .convert(&postback(100, &ids[0]), Timestamp::from_unix(CLICKED + 60))
        .unwrap_err();
    assert!(is_stopped(&refused), "{refused}");
    drop(ledger);

    let reopened = reopen_with(dir.path(), &ids);
    // Whether the unacknowledged claims reached the disk is unknown; if they did, they
    // replay; if not, the IDs are free. Either way each ID is claimed at most once.
    let outcome = reopened
        .convert(&postback(0, &ids[0]), Timestamp::from_unix(CLICKED + 120))
        .unwrap();
    assert!(matches!(
        outcome,
        Outcome::Accepted(_) | Outcome::Replayed(_)
    ));
}

#[test]
fn a_failed_write_is_an_error_of_the_flush_and_stops_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(3);
    let (ledger, program) = start(dir.path(), &disk);
    let acknowledged = vec![click(&ledger, program).unwrap()];
    ledger
        .record_click_with(
            program,
            "a7",
            ClickKind::Click,
            Timestamp::from_unix(CLICKED),
            Durability::None,
        )
        .unwrap();
    disk.set_faults(Faults {
        fail_writes: true,
        ..Faults::default()
    });
    let error = ledger.flush().unwrap_err();
    assert!(
        error.to_string().contains("injected write failure"),
        "{error}"
    );
    disk.set_faults(Faults::default());
    assert!(is_stopped(&click(&ledger, program).unwrap_err()));
    drop(ledger);
    reopen_with(dir.path(), &acknowledged);
}

#[test]
fn a_failed_segment_creation_at_rollover_stops_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SimulatedDisk::new(4);
    let options = Options {
        segment_bytes_max: 4096,
        ..options(&disk)
    };
    let ledger = Ledger::open(dir.path(), options).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    disk.set_faults(Faults {
        fail_creates: true,
        ..Faults::default()
    });
    let mut acknowledged = Vec::new();
    let error = loop {
        match click(&ledger, program) {
            Ok(id) => acknowledged.push(id),
            Err(error) => break error,
        }
        assert!(
            acknowledged.len() < 1000,
            "4 KiB segments roll within 200 clicks"
        );
    };
    assert!(
        error.to_string().contains("injected file creation"),
        "{error}"
    );
    disk.set_faults(Faults::default());
    assert!(is_stopped(&click(&ledger, program).unwrap_err()));
    drop(ledger);
    let reopened = reopen_with(dir.path(), &acknowledged);
    click(&reopened, program).expect("the reopen starts the next segment");
}
