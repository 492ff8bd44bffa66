//! A program's key can be replaced (a leaked key is rotated out): the new key works,
//! the old one is `bad_key`, and both stay so after the ledger is reopened, since the
//! rotation is a logged record like the registration, and checkpoints keep the new key.

use clickledger::{ClickKind, Ledger, Outcome, ProgramSettings, Timestamp};

fn status(ledger: &Ledger, key: &str, order: &str, id: &str) -> String {
    let query = format!("key={key}&id={order}&amount=1&currency=EUR&cids={id}");
    match ledger.convert_query(&query, Timestamp::now()).unwrap() {
        Outcome::Rejected(rejection) => rejection.reason.code(),
        outcome => outcome.status().to_owned(),
    }
}

#[test]
fn a_rotated_key_replaces_the_old_one_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, first, second) = {
        let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
        let program = ledger.register_program(ProgramSettings::new("p")).unwrap();
        let now = Timestamp::now();
        let first = ledger
            .record_click(program.id, "a", ClickKind::Click, now)
            .unwrap();
        let second = ledger
            .record_click(program.id, "a", ClickKind::Click, now)
            .unwrap();
        let new = ledger.rotate_key(program.id).unwrap();
        assert_eq!(
            status(&ledger, &program.key, "o1", &first.to_string()),
            "bad_key"
        );
        assert_eq!(status(&ledger, &new, "o1", &first.to_string()), "accepted");
        ledger.sync().unwrap();
        (program.key, new, first.to_string(), second.to_string())
    };
    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    assert_eq!(status(&ledger, &old, "o2", &second), "bad_key");
    assert_eq!(status(&ledger, &new, "o1", &first), "replayed");
    assert_eq!(status(&ledger, &new, "o2", &second), "accepted");
}

#[test]
fn rotating_the_key_of_no_program_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    let error = ledger.rotate_key(clickledger::ProgramId(3)).unwrap_err();
    assert!(error.to_string().contains("no program"), "{error}");
}

#[test]
fn a_checkpoint_keeps_the_rotated_key_not_the_registered_one() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, id) = {
        let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
        let program = ledger.register_program(ProgramSettings::new("p")).unwrap();
        let id = ledger
            .record_click(program.id, "a", ClickKind::Click, Timestamp::now())
            .unwrap();
        let new = ledger.rotate_key(program.id).unwrap();
        ledger.checkpoint().unwrap();
        (program.key, new, id.to_string())
    };
    let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    assert!(
        ledger.recovery().checkpoint.is_some(),
        "opened from the checkpoint"
    );
    assert_eq!(status(&ledger, &old, "o1", &id), "bad_key");
    assert_eq!(status(&ledger, &new, "o1", &id), "accepted");
}
