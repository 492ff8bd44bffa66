//! Proves that a data directory missing one of its files refuses to open instead of
//! opening as a smaller ledger. A lost last segment or a wiped log would otherwise
//! forget claims (an ID claimed twice) and mint slots again (an ID reissued); a lost
//! secret would make every ID unverifiable.

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::log::frame::append_frame;
use clickledger::log::record::Record;
use clickledger::log::segment::{segment_file_name, write_marker, MARKER_FILE_NAME};
use clickledger::log::LogError;
use clickledger::secret::{self, frame_seed};
use clickledger::{ClickId, ClickKind, Ledger, LedgerError, Options, ProgramSettings, Timestamp};

const CLICKED: u32 = 1_740_823_200;

/// Tiny segments, so a few hundred clicks span several of them.
fn small_segments() -> Options {
    Options {
        segment_bytes_max: 4096,
        ..Options::default()
    }
}

/// A ledger of `clicks` clicks, synced and closed; returns their IDs.
fn ledger_with_clicks(dir: &Path, clicks: usize) -> Vec<ClickId> {
    let ledger = Ledger::open(dir, small_segments()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let ids = (0..clicks)
        .map(|_| {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .unwrap()
        })
        .collect();
    ledger.sync().unwrap();
    ids
}

fn segment(dir: &Path, number: u32) -> PathBuf {
    dir.join("log").join(segment_file_name(number))
}

fn segment_count(dir: &Path) -> u32 {
    (1..)
        .take_while(|number| segment(dir, *number).exists())
        .count() as u32
}

#[test]
fn clicks_spanning_several_segments_all_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    assert!(
        segment_count(dir.path()) >= 3,
        "the test needs several segments"
    );
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    assert_eq!(
        ledger.recovery().segments,
        u64::from(segment_count(dir.path()))
    );
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
}

#[test]
fn a_lost_last_segment_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    fs::remove_file(segment(dir.path(), last)).unwrap();
    match Ledger::open(dir.path(), small_segments()) {
        Err(LedgerError::Log(LogError::LastSegmentMissing { number, .. })) => {
            assert_eq!(number, last)
        }
        Err(other) => panic!("expected LastSegmentMissing, got {other}"),
        Ok(_) => panic!("a ledger without its last segment opened"),
    }
}

#[test]
fn every_segment_lost_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 500);
    for number in 1..=segment_count(dir.path()) {
        fs::remove_file(segment(dir.path(), number)).unwrap();
    }
    let error = Ledger::open(dir.path(), small_segments())
        .err()
        .expect("an empty log must not open");
    assert!(
        matches!(error, LedgerError::Log(LogError::LastSegmentMissing { .. })),
        "{error}"
    );
}

#[test]
fn a_wiped_log_directory_refuses_the_open_while_the_secret_remains() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 10);
    fs::remove_dir_all(dir.path().join("log")).unwrap();
    let error = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("a wiped log must not open");
    assert!(
        matches!(error, LedgerError::Log(LogError::MarkerMissing { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("removed or replaced"), "{error}");
}

#[test]
fn a_lost_secret_refuses_the_open_of_a_log_with_records() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 10);
    fs::remove_file(dir.path().join("secret")).unwrap();
    let error = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("no secret, no open");
    assert!(
        matches!(error, LedgerError::SecretMissing { .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("damaged"), "{error}");
}

#[test]
fn a_crash_while_creating_the_directory_leaves_one_that_opens_fresh() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path(), Options::default()).unwrap());
    // The secret is stored last: a crash just before it leaves an empty log.
    fs::remove_file(dir.path().join("secret")).unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(ledger.stats().clicks, 0);
    assert!(dir.path().join("secret").exists());
}

#[test]
fn a_crash_between_creating_a_segment_and_recording_it_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    write_marker(&dir.path().join("log"), last - 1).unwrap();
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
    drop(ledger);
    let marker = fs::read(dir.path().join("log").join(MARKER_FILE_NAME)).unwrap();
    assert_eq!(
        &marker[8..12],
        &last.to_le_bytes(),
        "the marker names the last segment again"
    );
}

/// Truncates the only segment of `dir` to `bytes`.
fn truncate_first_segment(dir: &Path, bytes: u64) {
    assert_eq!(segment_count(dir), 1, "the test needs a single segment");
    let file = fs::File::options()
        .write(true)
        .open(segment(dir, 1))
        .unwrap();
    file.set_len(bytes).unwrap();
}

#[test]
fn a_log_truncated_to_its_header_refuses_the_open_instead_of_minting_again() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 1);
    truncate_first_segment(dir.path(), 16);
    match Ledger::open(dir.path(), Options::default()) {
        Err(LedgerError::Log(LogError::Emptied { .. })) => {}
        Err(other) => panic!("expected Emptied, got {other}"),
        Ok(_) => panic!("an emptied log opened, and would mint its IDs again"),
    }
    let read_only = Options {
        read_only: true,
        ..Options::default()
    };
    assert!(Ledger::open(dir.path(), read_only).is_err());
}

#[test]
fn a_named_segment_shorter_than_its_header_is_corruption_not_a_torn_tail() {
    for bytes in [0, 9] {
        let dir = tempfile::tempdir().unwrap();
        ledger_with_clicks(dir.path(), 1);
        truncate_first_segment(dir.path(), bytes);
        match Ledger::open(dir.path(), Options::default()) {
            Err(LedgerError::Log(LogError::Corrupt { offset: 0, .. })) => {}
            Err(other) => panic!("{bytes} bytes: expected Corrupt, got {other}"),
            Ok(_) => panic!("{bytes} bytes: a segment without its header opened"),
        }
        let length = fs::metadata(segment(dir.path(), 1)).unwrap().len();
        assert_eq!(length, bytes, "the refused open changed the segment");
    }
}

#[test]
fn a_creation_cut_before_its_first_record_was_synced_opens_fresh() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path(), Options::default()).unwrap());
    // As a crash after the segment was named but before the creation record was
    // synced leaves it: a bare header, no secret.
    fs::remove_file(dir.path().join("secret")).unwrap();
    truncate_first_segment(dir.path(), 16);
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(ledger.stats().clicks, 0);
    drop(ledger);
    let reopened = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.recovery().records, 1, "the creation record");
}

#[test]
fn a_segment_that_is_not_a_plain_file_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 1);
    fs::remove_file(segment(dir.path(), 1)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", segment(dir.path(), 1)).unwrap();
    match Ledger::open(dir.path(), Options::default()) {
        Err(LedgerError::Log(LogError::NotLogFile { problem, .. })) => {
            assert!(problem.contains("not a plain file"), "{problem}")
        }
        Err(other) => panic!("expected NotLogFile, got {other}"),
        Ok(_) => panic!("a link to /dev/zero opened as a segment"),
    }
}

#[test]
fn a_segment_larger_than_any_written_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 1);
    // Sparse: costs no disk, and would cost gigabytes of memory if read.
    let file = fs::File::options()
        .write(true)
        .open(segment(dir.path(), 1))
        .unwrap();
    file.set_len(clickledger::log::segment::SEGMENT_FILE_BYTES_LIMIT + 1)
        .unwrap();
    match Ledger::open(dir.path(), Options::default()) {
        Err(LedgerError::Log(LogError::NotLogFile { problem, .. })) => {
            assert!(problem.contains("more than any segment"), "{problem}")
        }
        Err(other) => panic!("expected NotLogFile, got {other}"),
        Ok(_) => panic!("an oversized segment opened"),
    }
}

#[test]
fn segment_sizes_outside_the_supported_range_are_refused() {
    for segment_bytes_max in [0, 4095, (1 << 30) + 1] {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            segment_bytes_max,
            ..Options::default()
        };
        match Ledger::open(dir.path(), options) {
            Err(LedgerError::InvalidInput { what, .. }) => {
                assert_eq!(what, "segment_bytes_max")
            }
            Err(other) => panic!("{segment_bytes_max}: expected InvalidInput, got {other}"),
            Ok(_) => panic!("{segment_bytes_max}: accepted"),
        }
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "a refused open wrote into the directory"
        );
    }
}

#[test]
fn a_crash_while_writing_a_new_segments_header_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    // The last segment sealed, its successor created with its header not yet durable,
    // and the marker not yet updated.
    append_seal(&segment(dir.path(), last));
    fs::write(segment(dir.path(), last + 1), b"CLKLE").unwrap();
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    let torn = ledger.recovery().torn_tail.clone().expect("reported");
    assert_eq!((torn.offset, torn.bytes_cut), (0, 5));
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
    assert_eq!(
        fs::metadata(segment(dir.path(), last + 1)).unwrap().len(),
        16
    );
}

/// Appends a seal record to the segment at `path`, as a rollover does.
fn append_seal(path: &Path) {
    let dir = path.parent().and_then(Path::parent).unwrap();
    let seed = frame_seed(&secret::load(dir).unwrap().unwrap());
    let mut frame = Vec::new();
    append_frame(&mut frame, seed, |out| Record::SegmentSealed.encode(out)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_slice(&frame);
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_segment_before_the_last_cut_at_a_record_boundary_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 500);
    assert!(segment_count(dir.path()) >= 3);
    let second = segment(dir.path(), 2);
    // Cut just before its seal: every record left is whole and valid.
    let length = fs::metadata(&second).unwrap().len();
    fs::File::options()
        .write(true)
        .open(&second)
        .unwrap()
        .set_len(length - 9)
        .unwrap();
    match Ledger::open(dir.path(), small_segments()) {
        Err(LedgerError::Log(LogError::Corrupt {
            segment, problem, ..
        })) => {
            assert_eq!(segment, second);
            assert!(problem.contains("without its seal"), "{problem}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a segment cut short before the last one opened"),
    }
}

#[test]
fn a_crash_after_sealing_the_last_segment_continues_in_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 3);
    append_seal(&segment(dir.path(), 1));
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
    let program = ledger.program_id("p1").unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let more = ledger
        .record_click(program, "a7", ClickKind::Click, at)
        .unwrap();
    ledger.sync().unwrap();
    drop(ledger);
    assert_eq!(
        segment_count(dir.path()),
        2,
        "nothing appended after the seal"
    );
    let reopened = Ledger::open(dir.path(), small_segments()).unwrap();
    assert!(reopened.click(&more).is_some());
}

#[test]
fn a_log_directory_replaced_by_a_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with_clicks(dir.path(), 1);
    fs::remove_dir_all(dir.path().join("log")).unwrap();
    fs::write(dir.path().join("log"), b"not a directory").unwrap();
    match Ledger::open(dir.path(), Options::default()) {
        Err(LedgerError::Log(LogError::NotLogFile { path, problem })) => {
            assert_eq!(path, dir.path().join("log"));
            assert!(problem.contains("not a directory"), "{problem}");
        }
        Err(other) => panic!("expected NotLogFile, got {other}"),
        Ok(_) => panic!("opened without a log directory"),
    }
    // Without the secret, the open checks for records first: the same error.
    fs::remove_file(dir.path().join("secret")).unwrap();
    let error = Ledger::open(dir.path(), Options::default()).err().unwrap();
    assert!(
        matches!(error, LedgerError::Log(LogError::NotLogFile { .. })),
        "{error}"
    );
}

#[test]
fn a_secret_or_marker_that_is_not_a_small_plain_file_is_refused_unread() {
    for name in ["secret", "log/last-segment"] {
        for replacement in ["device", "pipe", "oversized"] {
            let dir = tempfile::tempdir().unwrap();
            ledger_with_clicks(dir.path(), 1);
            let path = dir.path().join(name);
            fs::remove_file(&path).unwrap();
            match replacement {
                "device" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
                "pipe" => make_fifo(&path),
                _ => fs::write(&path, vec![0u8; 4096]).unwrap(),
            }
            match Ledger::open(dir.path(), Options::default()) {
                Err(LedgerError::Log(LogError::NotLogFile { path: named, .. })) => {
                    assert_eq!(named, path, "{name} as {replacement}")
                }
                Err(other) => panic!("{name} as {replacement}: expected NotLogFile, got {other}"),
                Ok(_) => panic!("{name} as {replacement}: opened"),
            }
        }
    }
}

/// Another ledger's secret copied in: under its seed no frame checks, and the whole log
/// would look like a torn tail. The open refuses instead, and cuts nothing.
#[test]
fn a_secret_from_another_ledger_is_refused_and_the_log_left_whole() {
    let ours = tempfile::tempdir().unwrap();
    ledger_with_clicks(ours.path(), 20);
    let theirs = tempfile::tempdir().unwrap();
    drop(Ledger::open(theirs.path(), Options::default()).unwrap());
    fs::copy(theirs.path().join("secret"), ours.path().join("secret")).unwrap();
    let before = fs::read(segment(ours.path(), 1)).unwrap();
    for read_only in [false, true] {
        let options = Options {
            read_only,
            ..Options::default()
        };
        match Ledger::open(ours.path(), options) {
            Err(LedgerError::Log(LogError::Corrupt {
                offset, problem, ..
            })) => {
                assert_eq!(offset, 16);
                assert!(problem.contains("another ledger"), "{problem}");
            }
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("opened under another ledger's secret"),
        }
        assert_eq!(fs::read(segment(ours.path(), 1)).unwrap(), before);
    }
}

#[test]
fn a_new_segment_whose_header_never_reached_the_disk_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ledger_with_clicks(dir.path(), 500);
    let last = segment_count(dir.path());
    append_seal(&segment(dir.path(), last));
    // The file was extended but its header never written: zeros, marker not updated.
    fs::write(segment(dir.path(), last + 1), [0u8; 16]).unwrap();
    let ledger = Ledger::open(dir.path(), small_segments()).unwrap();
    let torn = ledger.recovery().torn_tail.clone().expect("reported");
    assert_eq!((torn.offset, torn.bytes_cut), (0, 16));
    assert!(ids.iter().all(|id| ledger.click(id).is_some()));
}

/// Makes a named pipe at `path` with mkfifo(3), in this process. Spawning `mkfifo`
/// would fork while other tests of this binary hold their directory locks: the child
/// shares those descriptors until it execs, and a test reopening its ledger in that
/// instant found it "already open" (the `flock` caveat of docs/ARCHITECTURE.md).
fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let made = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
}
