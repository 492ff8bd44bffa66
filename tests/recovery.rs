//! Proves the open-time recovery contract of the log: a last record cut at any byte is
//! a torn tail, cut and reported with its offset and size, and everything before it
//! survives; damage anywhere else stops the open with an error naming segment and
//! offset, and nothing is skipped silently.

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::log::frame::FrameSeed;
use clickledger::log::LogError;
use clickledger::{
    ClickId, ClickKind, Currency, Durability, Ledger, LedgerError, Options, Order, Outcome,
    Postback, ProgramId, ProgramSettings, Timestamp,
};

const CLICKED: u32 = 1_740_823_200; // 2025-03-01T10:00:00Z

fn postback(order_id: &str, ids: &[ClickId]) -> Postback {
    let eur = Currency::parse("EUR").unwrap();
    Postback {
        key: "pk1".to_owned(),
        order: Order {
            amount_minor: Some(4990),
            cv: Some("new".to_owned()),
            vouchers: vec!["SPRING".to_owned()],
            ..Order::new(order_id, eur)
        },
        click_ids: ids.to_vec(),
        ignored_params: Vec::new(),
    }
}

fn last_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to.join("log")).unwrap();
    fs::copy(from.join("secret"), to.join("secret")).unwrap();
    for entry in fs::read_dir(from.join("log")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, to.join("log").join(path.file_name().unwrap())).unwrap();
    }
}

/// Builds a ledger with clicks and one conversion; returns the IDs and the size of the
/// last segment before and after its final record (the conversion).
fn ledger_ending_with_a_conversion(dir: &Path) -> (Vec<ClickId>, u64, u64) {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let ids: Vec<ClickId> = (0..5)
        .map(|_| {
            ledger
                .record_click(program, "a7", ClickKind::Click, at)
                .unwrap()
        })
        .collect();
    ledger.sync().unwrap();
    let before = fs::metadata(last_segment(dir)).unwrap().len();
    let outcome = ledger
        .convert(&postback("A1001", &ids[3..]), at.plus_seconds(7200))
        .unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)));
    ledger.sync().unwrap();
    let after = fs::metadata(last_segment(dir)).unwrap().len();
    assert!(after > before);
    (ids, before, after)
}

#[test]
fn last_record_cut_at_every_byte_is_a_reported_torn_tail() {
    let origin = tempfile::tempdir().unwrap();
    let (ids, before, after) = ledger_ending_with_a_conversion(origin.path());
    for cut in before..after {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(origin.path(), copy.path());
        let segment = last_segment(copy.path());
        fs::File::options()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(cut)
            .unwrap();

        let ledger = Ledger::open(copy.path(), Options::default()).unwrap();
        let torn = ledger.recovery().torn_tail.clone();
        if cut == before {
            assert!(
                torn.is_none(),
                "a clean cut at a record boundary is no damage"
            );
        } else {
            let torn = torn.unwrap_or_else(|| panic!("cut at {cut}: torn tail not reported"));
            assert_eq!(
                (torn.offset, torn.bytes_cut),
                (before, cut - before),
                "cut at {cut}"
            );
        }
        assert_eq!(fs::metadata(&segment).unwrap().len(), before);
        let stats = ledger.stats();
        assert_eq!((stats.clicks, stats.conversions), (5, 0), "cut at {cut}");
        assert!(ids
            .iter()
            .all(|id| ledger.click(id).is_some_and(|click| !click.claimed)));
    }
}

#[test]
fn reopening_an_intact_ledger_restores_clicks_claims_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, _, _) = ledger_ending_with_a_conversion(dir.path());
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert!(ledger.recovery().torn_tail.is_none());
    assert_eq!(ledger.stats().conversions, 1);
    assert_eq!(ledger.claimed_by(&ids[4]).unwrap().order.order_id, "A1001");
    assert_eq!(
        ledger.claimed_by(&ids[3]).unwrap().order.vouchers,
        ["SPRING"]
    );
    assert!(ledger.claimed_by(&ids[2]).is_none());
    let retry = ledger
        .convert(
            &postback("A1001", &ids[3..]),
            Timestamp::from_unix(CLICKED + 9000),
        )
        .unwrap();
    assert!(matches!(retry, Outcome::Replayed(conversion) if conversion.order.order_id == "A1001"));
}

#[test]
fn zeros_after_the_last_record_are_cut_as_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, after) = ledger_ending_with_a_conversion(dir.path());
    let segment = last_segment(dir.path());
    fs::File::options()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(after + 4096)
        .unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    let torn = ledger.recovery().torn_tail.clone().unwrap();
    assert_eq!((torn.offset, torn.bytes_cut), (after, 4096));
    assert_eq!(ledger.stats().conversions, 1);
}

#[test]
fn a_flipped_byte_before_the_last_record_stops_the_open_naming_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (_, before, _) = ledger_ending_with_a_conversion(dir.path());
    let segment = last_segment(dir.path());
    let mut bytes = fs::read(&segment).unwrap();
    let damaged_at = before as usize - 3; // inside the last click-side record
    bytes[damaged_at] ^= 0x40;
    fs::write(&segment, &bytes).unwrap();
    let error = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("damage must stop the open");
    match error {
        LedgerError::Log(LogError::Corrupt {
            segment: named,
            offset,
            ..
        }) => {
            assert_eq!(named, segment);
            assert!(
                offset < before && offset + 40 > before,
                "offset {offset} names the damaged frame"
            );
        }
        other => panic!("expected a corruption error, got {other}"),
    }
    assert_eq!(
        fs::read(&segment).unwrap(),
        bytes,
        "a failed open changes nothing"
    );
}

#[test]
fn ids_minted_after_a_reopen_are_never_the_ids_minted_before() {
    let dir = tempfile::tempdir().unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let first = {
        let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
        let program = ledger
            .register_program_with_key(ProgramSettings::new("p1"), "pk1")
            .unwrap();
        let id = ledger
            .record_click_with(program, "a7", ClickKind::Click, at, Durability::None)
            .unwrap();
        // The click record is only buffered; the synced reservation survives the kill.
        ledger.kill();
        id
    };
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert!(
        ledger.click(&first).is_none(),
        "the unsynced click was lost"
    );
    let second = ledger
        .record_click(ProgramId(0), "a8", ClickKind::Click, at)
        .unwrap();
    assert_ne!(first.slot(), second.slot());
    assert_ne!(first, second);
}

/// An embedding that opens the ledger around each click (per request, say) must not use
/// up its day: each open skips only what is left of the last, small, reservation.
#[test]
fn a_day_survives_more_than_a_thousand_opens_of_one_click_each() {
    let dir = tempfile::tempdir().unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let program = {
        let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
        ledger
            .register_program_with_key(ProgramSettings::new("p1"), "pk1")
            .unwrap()
    };
    let mut minted = std::collections::HashSet::new();
    for open in 0..1_100 {
        let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
        let id = ledger
            .record_click(program, "a7", ClickKind::Click, at)
            .unwrap_or_else(|error| panic!("open {open}: {error}"));
        assert!(minted.insert(id), "open {open} reissued {id}");
        ledger.sync().unwrap();
    }
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    assert_eq!(ledger.stats().clicks, 1_100);
    assert!(
        ledger.stats().slot_table_bytes <= 4 << 20,
        "{} bytes of slot tables for 1,100 clicks",
        ledger.stats().slot_table_bytes
    );
}

/// A postback sender controls bytes inside the conversion record (forged IDs are logged
/// as sent). Here each forged ID holds a whole frame that a CRC from zero would accept;
/// when that record is torn by a crash, the planted frames must not pass for valid
/// records after the damage, which would turn the torn tail into "corruption" and stop
/// the open.
#[test]
fn frames_planted_in_a_torn_record_by_a_postback_sender_do_not_stop_the_open() {
    let origin = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(origin.path(), Options::default()).unwrap();
    let program = ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    let at = Timestamp::from_unix(CLICKED);
    let real = ledger
        .record_click(program, "a7", ClickKind::Click, at)
        .unwrap();
    ledger.sync().unwrap();
    let before = fs::metadata(last_segment(origin.path())).unwrap().len();

    // Three bytes that differ per ID (its time, 194 days apart, so each addresses
    // another click), then
    // a frame: length 1, CRC32 (from zero) of the payload [7] (a seal record), payload.
    let crc = FrameSeed(0).crc(&[7]).to_le_bytes();
    let planted: Vec<ClickId> = (0..8u8)
        .map(|n| {
            let bytes = [
                0x40 + n,
                0,
                0,
                1,
                0,
                0,
                0,
                crc[0],
                crc[1],
                crc[2],
                crc[3],
                7,
            ];
            ClickId::from_bytes(bytes)
        })
        .collect();
    let mut ids = planted;
    ids.push(real);
    let outcome = ledger
        .convert(&postback("A1", &ids), at.plus_seconds(60))
        .unwrap();
    assert!(matches!(outcome, Outcome::Accepted(_)), "{outcome:?}");
    ledger.sync().unwrap();
    drop(ledger);
    let after = fs::metadata(last_segment(origin.path())).unwrap().len();

    for cut in before + 1..after {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(origin.path(), copy.path());
        fs::File::options()
            .write(true)
            .open(last_segment(copy.path()))
            .unwrap()
            .set_len(cut)
            .unwrap();
        let ledger = Ledger::open(copy.path(), Options::default())
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        let torn = ledger.recovery().torn_tail.clone().expect("torn tail");
        assert_eq!(torn.offset, before, "cut at {cut}");
        assert!(ledger.click(&real).is_some_and(|click| !click.claimed));
    }
}

/// Bytes crafted so that every few positions look like the start of a 1 MiB record
/// would make the scan after damage checksum gigabytes; the scan gives up at its budget
/// and refuses, naming why, rather than take minutes or cut what it did not check.
#[test]
fn a_tail_crafted_to_make_the_scan_long_is_refused_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
    ledger
        .register_program_with_key(ProgramSettings::new("p1"), "pk1")
        .unwrap();
    ledger.sync().unwrap();
    drop(ledger);
    let segment = last_segment(dir.path());
    let mut bytes = fs::read(&segment).unwrap();
    let candidate = [0xf0, 0xff, 0x0f, 0x00, 1, 2, 3, 4, 5]; // length ~1 MiB, kind 5
    let repeats = (1 << 20) / candidate.len() + 400;
    bytes.extend(candidate.iter().cycle().take(candidate.len() * repeats));
    fs::write(&segment, &bytes).unwrap();
    match Ledger::open(dir.path(), Options::default()) {
        Err(LedgerError::Log(LogError::Corrupt { problem, .. })) => {
            assert!(problem.contains("more candidate records"), "{problem}")
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a crafted tail was cut as torn without being checked"),
    }
    assert_eq!(fs::read(&segment).unwrap(), bytes, "nothing was cut");
}
