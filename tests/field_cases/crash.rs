//! Crashes: how the process dies in a case, simulated on the data directory.
//!
//! Every crash kind the cases use is listed in [`CrashKind`], and each is simulated:
//! `power_loss` by the simulated disk the runner opens every ledger on, which drops what
//! was not synced; the others on the files the killed ledger left.

use std::fs;
use std::path::{Path, PathBuf};

use clickledger::log::frame::{read_frame, FrameRead, FRAME_HEADER_BYTES};
use clickledger::log::segment::{LOG_DIR_NAME, SEGMENT_HEADER_BYTES};
use clickledger::{secret, Ledger, SimulatedDisk};

/// How the process dies, as the cases name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// `kill`: the process dies; every byte written is kept.
    Kill,
    /// `power_loss`: writes not yet synced are lost.
    PowerLoss,
    /// `torn_tail`: the last log record is cut in half; its postback got no answer.
    TornTail,
    /// `zero_tail`: zero bytes follow the last record.
    ZeroTail,
    /// `corrupt_middle`: one byte of an older record is flipped.
    CorruptMiddle,
}

impl CrashKind {
    /// Every kind, in the README's order.
    pub const ALL: [CrashKind; 5] = [
        CrashKind::Kill,
        CrashKind::PowerLoss,
        CrashKind::TornTail,
        CrashKind::ZeroTail,
        CrashKind::CorruptMiddle,
    ];

    /// The name the cases use.
    pub fn name(self) -> &'static str {
        match self {
            CrashKind::Kill => "kill",
            CrashKind::PowerLoss => "power_loss",
            CrashKind::TornTail => "torn_tail",
            CrashKind::ZeroTail => "zero_tail",
            CrashKind::CorruptMiddle => "corrupt_middle",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<CrashKind> {
        CrashKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// What a crash left for the runner.
pub enum AfterCrash {
    /// The kind is not simulated yet; the case is reported pending with this reason.
    Pending(String),
    /// The ledger is gone and its directory holds what the crash left; a `restart` event
    /// opens it again.
    Crashed {
        /// The last postback's answer never reached its caller (`torn_tail`).
        last_postback_unanswered: bool,
    },
}

/// Zero bytes a `zero_tail` crash leaves after the last record: one file-system block,
/// as a file extended before a crash shows it.
const ZERO_TAIL_BYTES: usize = 4096;

/// Kills `ledger` in the way `kind` names, leaving `dir` as that crash would.
///
/// The runner plays a server at the ledger's default durability, `Sync`: every answer
/// comes after the `fdatasync` covering it. So `kill` (the process dies, the OS keeps
/// what it was given) is the ledger vanishing without its clean drop; `power_loss` is
/// the simulated disk `disk` under the ledger dropping every byte, file and rename not
/// synced (with a torn partial page by chance); the tail kinds damage the last segment
/// on top of a kill.
pub fn crash(kind: CrashKind, dir: &Path, ledger: Ledger, disk: &SimulatedDisk) -> AfterCrash {
    if kind == CrashKind::PowerLoss {
        disk.cut_power();
    }
    // A killed process runs no destructor: buffered records die with it.
    ledger.kill();
    let damaged = match kind {
        CrashKind::Kill | CrashKind::PowerLoss => Ok(()),
        CrashKind::TornTail => cut_last_record_in_half(dir),
        CrashKind::ZeroTail => append_zeros(dir),
        CrashKind::CorruptMiddle => flip_byte_of_first_record(dir),
    };
    match damaged {
        Ok(()) => AfterCrash::Crashed {
            last_postback_unanswered: kind == CrashKind::TornTail,
        },
        Err(reason) => AfterCrash::Pending(format!("crash `{}`: {reason}", kind.name())),
    }
}

/// Kills `ledger` in the way `kind` names, for a kind that is not `power_loss`: the
/// ledger runs on the real disk, so there is no simulated disk whose power could be cut.
#[allow(dead_code)] // used by the reference-model harness, not by every test binary
pub fn crash_on_real_disk(kind: CrashKind, dir: &Path, ledger: Ledger) -> AfterCrash {
    assert!(
        kind != CrashKind::PowerLoss,
        "a power cut needs the simulated disk under the ledger"
    );
    crash(kind, dir, ledger, &SimulatedDisk::new(0))
}

/// The last segment file of the ledger in `dir`.
fn last_segment(dir: &Path) -> Result<PathBuf, String> {
    let log_dir = dir.join(LOG_DIR_NAME);
    let entries =
        fs::read_dir(&log_dir).map_err(|error| format!("{}: {error}", log_dir.display()))?;
    let mut segments: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    segments.sort();
    segments
        .pop()
        .ok_or_else(|| "no segment to damage".to_owned())
}

/// Offsets at which each frame of `bytes` (a whole segment of the ledger in `dir`)
/// starts.
fn frame_starts(dir: &Path, bytes: &[u8]) -> Result<Vec<usize>, String> {
    let key = secret::load(dir)
        .map_err(|error| error.to_string())?
        .ok_or("no secret")?;
    let seed = secret::frame_seed(&key);
    let mut starts = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while let FrameRead::Valid { frame_bytes, .. } = read_frame(&bytes[offset..], seed) {
        starts.push(offset);
        offset += frame_bytes;
    }
    Ok(starts)
}

fn cut_last_record_in_half(dir: &Path) -> Result<(), String> {
    let segment = last_segment(dir)?;
    let bytes = fs::read(&segment).map_err(|error| error.to_string())?;
    let last = *frame_starts(dir, &bytes)?
        .last()
        .ok_or("no record to tear")?;
    let cut = last + (bytes.len() - last) / 2;
    fs::write(&segment, &bytes[..cut]).map_err(|error| error.to_string())
}

fn append_zeros(dir: &Path) -> Result<(), String> {
    let segment = last_segment(dir)?;
    let mut bytes = fs::read(&segment).map_err(|error| error.to_string())?;
    bytes.extend_from_slice(&[0u8; ZERO_TAIL_BYTES]);
    fs::write(&segment, &bytes).map_err(|error| error.to_string())
}

fn flip_byte_of_first_record(dir: &Path) -> Result<(), String> {
    let segment = last_segment(dir)?;
    let mut bytes = fs::read(&segment).map_err(|error| error.to_string())?;
    let starts = frame_starts(dir, &bytes)?;
    if starts.len() < 2 {
        return Err("fewer than two records: no older record to corrupt".to_owned());
    }
    // A payload byte of the first record: its CRC must catch the flip.
    bytes[starts[0] + FRAME_HEADER_BYTES] ^= 0x01;
    fs::write(&segment, &bytes).map_err(|error| error.to_string())
}
