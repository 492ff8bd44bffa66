//! Opening the log: replay every record in order, and cut a torn tail.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::frame::{read_frame, FrameRead, FrameSeed, FRAME_HEADER_BYTES, RECORD_BYTES_MAX};
use super::io::Io;
use super::record::{kind_fits_size, Record};
use super::segment::{
    check_header, check_log_dir, create_segment, list_segments, read_marker, segment_header,
    sync_dir, write_marker_with, LOG_DIR_NAME, MARKER_FILE_NAME, SEGMENT_FILE_BYTES_LIMIT,
    SEGMENT_HEADER_BYTES,
};
use super::writer::LogWriter;
use super::{LogError, LogPosition, PointInTimeCut, RecoveryMode, RecoveryReport, TornTail};

/// Where a replay starts when a checkpoint holds the state up to there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayFrom {
    /// The checkpoint file, for messages.
    pub checkpoint: PathBuf,
    /// The position its state was taken at: replay starts with the record there.
    pub position: LogPosition,
    /// Bytes of the segments before `position.segment` (which may be gone).
    pub earlier_segments_bytes: u64,
    /// The log was synced up to here before the checkpoint was published: a log that
    /// ends before it lost records it had made durable.
    pub durable_until: LogPosition,
}

/// Replays the log under `data_dir`, calling `apply` for each record in order, with the
/// position it starts at, and
/// returns the writer positioned after the last valid record.
///
/// A damaged end of the last segment (a frame cut short, failing its CRC, or zeros)
/// with no valid frame after it is a torn tail: it is cut and reported. Damage
/// anywhere else is an error naming the segment and offset; nothing is skipped.
///
/// `existing` says the directory held a ledger before (its secret exists): then the
/// log must be whole up to the last segment its marker names. `read_only` changes
/// nothing on disk: a torn tail is reported but left in place, and the writer returned
/// refuses appends. `mode` says what damage is tolerated (see [`RecoveryMode`]).
///
/// With `from`, records before its position are not read (segments before it may be
/// gone); a log that ends before it is [`LogError::ShorterThanCheckpoint`]. Without, the
/// log must start with segment 1.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site, in the ledger's open"
)]
pub fn replay(
    io: &Io,
    data_dir: &Path,
    seed: FrameSeed,
    segment_bytes_max: u64,
    existing: bool,
    read_only: bool,
    mode: RecoveryMode,
    from: Option<&ReplayFrom>,
    apply: &mut dyn FnMut(Record, LogPosition) -> Result<(), String>,
) -> Result<(LogWriter, RecoveryReport), LogError> {
    let log_dir = data_dir.join(LOG_DIR_NAME);
    let log_dir_exists = check_log_dir(&log_dir)?;
    if !log_dir_exists && existing {
        return Err(LogError::MarkerMissing { log_dir });
    }
    if !log_dir_exists {
        fs::create_dir_all(&log_dir).map_err(|source| LogError::io("create", &log_dir, source))?;
        sync_dir(data_dir)?;
    }
    let segments = list_segments(&log_dir)?;
    let marker = read_marker(&log_dir)?;
    check_marker(&log_dir, &segments, marker, existing)?;
    check_start(&segments, from)?;
    let mut report = RecoveryReport::default();
    let Some(last_index) = segments.len().checked_sub(1) else {
        // Only a new directory gets here: `check_marker` refuses an existing empty log.
        if read_only {
            return Err(LogError::ReadOnly { segment: log_dir });
        }
        let (_, path) = create_segment(io, &log_dir, 1)?;
        let writer = LogWriter::resume(
            io,
            &log_dir,
            (1, path),
            SEGMENT_HEADER_BYTES as u64,
            0,
            seed,
            segment_bytes_max,
            read_only,
        )?;
        return Ok((writer, report));
    };

    let mut earlier_bytes = from.map_or(0, |from| from.earlier_segments_bytes);
    let mut last_end = SegmentEnd {
        valid_bytes: 0,
        sealed: false,
        stopped: None,
    };
    let mut last_index = last_index;
    let stop_at_damage = mode == RecoveryMode::PointInTime;
    for (index, (number, path)) in segments.iter().enumerate() {
        let start_offset = match from {
            Some(from) if *number < from.position.segment => continue,
            Some(from) if *number == from.position.segment => Some((from, from.position.offset)),
            _ => None,
        };
        let is_last = index == last_index;
        // A segment the marker names was complete, header synced, before it was named.
        let named = marker.is_some_and(|last_named| *number <= last_named);
        let tail = match (mode, is_last, named, read_only) {
            (RecoveryMode::AbsoluteConsistency, ..) | (_, false, _, _) => Tail::Refuse,
            (_, true, true, false) => Tail::Cut,
            (_, true, true, true) => Tail::Report,
            (_, true, false, false) => Tail::CutUnnamed,
            (_, true, false, true) => Tail::ReportUnnamed,
        };
        // An existing ledger's creation record was synced before its secret was stored.
        let creation_durable = existing && *number == 1;
        let mut end = replay_segment(
            path,
            (*number, start_offset),
            seed,
            (tail, stop_at_damage),
            creation_durable,
            apply,
            &mut report,
        )?;
        if !is_last && !end.sealed && end.stopped.is_none() {
            let problem = "the segment ends without its seal record, though a later segment \
                           exists: it was cut short"
                .to_owned();
            if !stop_at_damage {
                return Err(LogError::Corrupt {
                    segment: path.clone(),
                    offset: end.valid_bytes,
                    problem,
                });
            }
            end.stopped = Some(problem);
        }
        if let Some(problem) = end.stopped.take() {
            let cut = PointInTimeStop {
                index,
                offset: end.valid_bytes,
                problem,
            };
            cut_point_in_time(
                io,
                &log_dir,
                &segments,
                cut,
                (seed, read_only),
                apply,
                &mut report,
            )?;
            last_index = index;
            last_end = end;
            break;
        }
        if is_last {
            last_end = end;
        } else {
            earlier_bytes += end.valid_bytes;
        }
    }
    let segments = &segments[..=last_index];
    report.segments = segments
        .iter()
        .filter(|(number, _)| from.is_none_or(|from| *number >= from.position.segment))
        .count() as u64;
    let last = segments[last_index].clone();
    if let Some(from) = from {
        let end = LogPosition {
            segment: last.0,
            offset: last_end.valid_bytes,
        };
        if end < from.durable_until {
            let found = format!(
                "it ends at offset {} of segment {}",
                end.offset, end.segment
            );
            return Err(LogError::ShorterThanCheckpoint {
                checkpoint: from.checkpoint.clone(),
                needed: from.durable_until,
                found,
            });
        }
    }
    if marker != Some(last.0) && !read_only && report.point_in_time.is_none() {
        // A crash between creating a segment and recording it, or a fresh directory.
        write_marker_with(io, &log_dir, last.0)?;
    }
    let mut writer = LogWriter::resume(
        io,
        &log_dir,
        last,
        last_end.valid_bytes,
        earlier_bytes,
        seed,
        segment_bytes_max,
        read_only,
    )?;
    if last_end.sealed && !read_only {
        // The crash came after sealing the last segment, before its successor existed.
        writer.start_next_segment()?;
    }
    Ok((writer, report))
}

/// Checks that the segments found reach where the replay starts: segment 1 for a full
/// replay, the checkpoint's segment otherwise.
fn check_start(segments: &[(u32, PathBuf)], from: Option<&ReplayFrom>) -> Result<(), LogError> {
    let Some((first, first_path)) = segments.first() else {
        return match from {
            Some(from) => Err(shorter_than_checkpoint(
                from,
                "the log has no segment".to_owned(),
            )),
            None => Ok(()),
        };
    };
    let last = segments.last().map_or(*first, |(number, _)| *number);
    match from {
        None if *first != 1 => Err(LogError::MissingSegment {
            number: 1,
            found: first_path.clone(),
        }),
        Some(from) if from.position.segment < *first => Err(LogError::MissingSegment {
            number: from.position.segment,
            found: first_path.clone(),
        }),
        Some(from) if from.position.segment > last => Err(shorter_than_checkpoint(
            from,
            format!("its last segment is {last}"),
        )),
        _ => Ok(()),
    }
}

fn shorter_than_checkpoint(from: &ReplayFrom, found: String) -> LogError {
    LogError::ShorterThanCheckpoint {
        checkpoint: from.checkpoint.clone(),
        needed: from.position,
        found,
    }
}

/// Checks the segments found against the last-segment marker.
pub(super) fn check_marker(
    log_dir: &Path,
    segments: &[(u32, PathBuf)],
    marker: Option<u32>,
    existing: bool,
) -> Result<(), LogError> {
    let highest = segments.last().map_or(0, |(number, _)| *number);
    match marker {
        None if existing => Err(LogError::MarkerMissing {
            log_dir: log_dir.to_owned(),
        }),
        None => Ok(()),
        Some(number) if highest < number => Err(LogError::LastSegmentMissing {
            log_dir: log_dir.to_owned(),
            number,
        }),
        // Segments are recorded right after they are created, so at most one may be
        // ahead of the marker.
        Some(number) if highest > number.saturating_add(1) => Err(LogError::Corrupt {
            segment: log_dir.join(MARKER_FILE_NAME),
            offset: 0,
            problem: format!("segment {highest} exists, but the last one created was {number}"),
        }),
        Some(0) => Err(LogError::Corrupt {
            segment: log_dir.join(MARKER_FILE_NAME),
            offset: 0,
            problem: "it names segment 0; segments are numbered from 1".to_owned(),
        }),
        Some(_) => Ok(()),
    }
}

/// What to do with damage at the end of a segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Not the last segment: damage anywhere is corruption.
    Refuse,
    /// The last segment, opened to write: cut a torn tail.
    Cut,
    /// The last segment, opened read-only: report a torn tail, leave it in place.
    Report,
    /// As [`Tail::Cut`], for a segment the marker does not name yet: a crash while it
    /// was being created may also have left its header short.
    CutUnnamed,
    /// As [`Tail::Report`], for a segment the marker does not name yet.
    ReportUnnamed,
}

impl Tail {
    /// Damage at the end is a torn tail rather than corruption.
    fn may_be_torn(self) -> bool {
        self != Tail::Refuse
    }

    /// A torn tail is cut (rather than only reported).
    fn cuts(self) -> bool {
        matches!(self, Tail::Cut | Tail::CutUnnamed)
    }

    /// The segment's header may be missing or short: it was never named complete.
    fn header_may_be_torn(self) -> bool {
        matches!(self, Tail::CutUnnamed | Tail::ReportUnnamed)
    }
}

/// Where a replayed segment ends.
struct SegmentEnd {
    /// Its valid length (up to any torn tail), header included.
    valid_bytes: u64,
    /// It ends with its seal record: records go on in the next segment.
    sealed: bool,
    /// Point in time: replay stopped at damage here, described so.
    stopped: Option<String>,
}

/// Replays one segment and says where it ends; with a start, from that offset on.
fn replay_segment(
    path: &Path,
    (number, start): (u32, Option<(&ReplayFrom, u64)>),
    seed: FrameSeed,
    (tail, stop_at_damage): (Tail, bool),
    creation_durable: bool,
    apply: &mut dyn FnMut(Record, LogPosition) -> Result<(), String>,
    report: &mut RecoveryReport,
) -> Result<SegmentEnd, LogError> {
    let bytes = read_segment(path)?;
    let header = check_header(path, &bytes, number);
    if tail.header_may_be_torn() && header.is_err() {
        // The crash came while the segment was being created: its header never became
        // durable (it is short, or zeros), and no record goes into a segment before the
        // marker names it, so nothing in it was ever acknowledged.
        if tail.cuts() {
            rewrite_header(path, number)?;
        }
        report_torn_tail(report, path, 0, bytes.len() as u64, tail.cuts());
        return Ok(SegmentEnd {
            valid_bytes: SEGMENT_HEADER_BYTES as u64,
            sealed: false,
            stopped: None,
        });
    }
    header?;

    let mut offset = SEGMENT_HEADER_BYTES;
    if let Some((from, start)) = start {
        if start > bytes.len() as u64 || start < offset as u64 {
            return Err(shorter_than_checkpoint(
                from,
                format!("{} is {} bytes long", path.display(), bytes.len()),
            ));
        }
        offset = start as usize;
    }
    while offset < bytes.len() {
        let corrupt = |problem: String| LogError::Corrupt {
            segment: path.to_owned(),
            offset: offset as u64,
            problem,
        };
        match read_frame(&bytes[offset..], seed) {
            FrameRead::Valid {
                payload,
                frame_bytes,
            } => {
                let stop = |problem: String| SegmentEnd {
                    valid_bytes: offset as u64,
                    sealed: false,
                    stopped: Some(problem),
                };
                let record = match Record::decode(payload) {
                    Ok(record) => record,
                    Err(error) if stop_at_damage => return Ok(stop(error.to_string())),
                    Err(error) => return Err(corrupt(error.to_string())),
                };
                if record == Record::SegmentSealed {
                    if offset + frame_bytes != bytes.len() {
                        let problem = "records follow the segment's seal".to_owned();
                        return match stop_at_damage {
                            true => Ok(stop(problem)),
                            false => Err(corrupt(problem)),
                        };
                    }
                    return Ok(SegmentEnd {
                        valid_bytes: bytes.len() as u64,
                        sealed: true,
                        stopped: None,
                    });
                }
                let position = LogPosition {
                    segment: number,
                    offset: offset as u64,
                };
                apply(record, position)
                    .map_err(|problem| corrupt(format!("inconsistent record: {problem}")))?;
                report.records += 1;
                offset += frame_bytes;
            }
            damage if creation_durable && offset == SEGMENT_HEADER_BYTES => {
                return Err(corrupt(format!(
                    "the log's first record, written and synced before the directory's \
                     secret, fails its check ({}): the secret belongs to another ledger, \
                     or the record is damaged",
                    describe_damage(&damage)
                )));
            }
            damage => {
                let after = if tail.may_be_torn() {
                    scan_after_damage(&bytes, offset + 1, seed)
                } else {
                    AfterDamage::NotScanned
                };
                if after == AfterDamage::NoValidFrame {
                    if tail.cuts() {
                        cut_tail(path, offset as u64)?;
                    }
                    let cut = bytes.len() as u64 - offset as u64;
                    report_torn_tail(report, path, offset as u64, cut, tail.cuts());
                    return Ok(SegmentEnd {
                        valid_bytes: offset as u64,
                        sealed: false,
                        stopped: None,
                    });
                }
                let problem = match after {
                    AfterDamage::ValidFrameAt(position) => format!(
                        "{}, and a valid record follows at offset {position}",
                        describe_damage(&damage)
                    ),
                    AfterDamage::TooLongToScan => format!(
                        "{}, followed by more candidate records than the open scans \
                         ({SCAN_CRC_BYTES_MAX} bytes of CRC): refused rather than cut",
                        describe_damage(&damage)
                    ),
                    _ => describe_damage(&damage),
                };
                if stop_at_damage {
                    return Ok(SegmentEnd {
                        valid_bytes: offset as u64,
                        sealed: false,
                        stopped: Some(problem),
                    });
                }
                return Err(corrupt(problem));
            }
        }
    }
    Ok(SegmentEnd {
        valid_bytes: bytes.len() as u64,
        sealed: false,
        stopped: None,
    })
}

/// Where a point-in-time recovery stops: segment `index` of the list, at `offset`.
struct PointInTimeStop {
    index: usize,
    offset: u64,
    problem: String,
}

/// Drops everything from the stop on: the rest of its segment and every later segment
/// (or, read-only, reports what would be dropped). Slot reservations and clicks still
/// readable in the dropped bytes are applied as reservations first, so that no ID they
/// handed out is minted again.
///
/// Later segments go first, highest number first, each after the marker is moved below
/// it: a crash during the repair leaves a log that opens the same way again.
fn cut_point_in_time(
    io: &Io,
    log_dir: &Path,
    segments: &[(u32, PathBuf)],
    stop: PointInTimeStop,
    (seed, read_only): (FrameSeed, bool),
    apply: &mut dyn FnMut(Record, LogPosition) -> Result<(), String>,
    report: &mut RecoveryReport,
) -> Result<(), LogError> {
    let (number, path) = &segments[stop.index];
    let bytes = read_segment(path)?;
    let start = usize::try_from(stop.offset)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    let at = LogPosition {
        segment: *number,
        offset: stop.offset,
    };
    let mut reservations_kept = salvage_reservations(&bytes[start..], seed, at, apply);
    let mut segments_removed = Vec::new();
    for (_, later) in &segments[stop.index + 1..] {
        let later_bytes = read_segment(later)?;
        let records = later_bytes.get(SEGMENT_HEADER_BYTES..).unwrap_or_default();
        reservations_kept += salvage_reservations(records, seed, at, apply);
        segments_removed.push((later.clone(), later_bytes.len() as u64));
    }
    if !read_only {
        for (position, (later, _)) in segments_removed.iter().enumerate().rev() {
            let below = *number + position as u32;
            write_marker_with(io, log_dir, below)?;
            fs::remove_file(later).map_err(|source| LogError::io("remove", later, source))?;
            sync_dir(log_dir)?;
        }
        write_marker_with(io, log_dir, *number)?;
        cut_tail(path, stop.offset)?;
    }
    #[cfg(feature = "tracing")]
    tracing::warn!(segment = %path.display(), offset = stop.offset, removed = segments_removed.len(), "point-in-time recovery dropped the log after damage");
    report.point_in_time = Some(PointInTimeCut {
        segment: path.clone(),
        at,
        offset: stop.offset,
        problem: stop.problem,
        bytes_cut: bytes.len() as u64 - start as u64,
        segments_removed,
        reservations_kept,
        repaired: !read_only,
    });
    Ok(())
}

/// Applies, as slot reservations, every reservation and click found in readable frames
/// of dropped `bytes`; returns how many.
fn salvage_reservations(
    bytes: &[u8],
    seed: FrameSeed,
    at: LogPosition,
    apply: &mut dyn FnMut(Record, LogPosition) -> Result<(), String>,
) -> u64 {
    let mut found = 0;
    let mut position = 0;
    while position + FRAME_HEADER_BYTES < bytes.len() {
        let FrameRead::Valid {
            payload,
            frame_bytes,
        } = read_frame(&bytes[position..], seed)
        else {
            position += 1;
            continue;
        };
        let reservation = match Record::decode(payload) {
            Ok(record @ Record::SlotsReserved { .. }) => Some(record),
            Ok(Record::ClickRecorded { id, .. }) => Some(Record::SlotsReserved {
                day: id.time().day(),
                slot_end: id.slot().saturating_add(1),
            }),
            _ => None,
        };
        if let Some(reservation) = reservation {
            // A reservation only raises where minting resumes; it cannot contradict.
            if apply(reservation, at).is_ok() {
                found += 1;
            }
        }
        position += frame_bytes;
    }
    found
}

/// Reads a segment whole, after checking that it is a plain file (not a link, a device
/// or a directory) no larger than any segment this version writes: the read's memory
/// stays bounded whatever was put in the log directory.
pub(super) fn read_segment(path: &Path) -> Result<Vec<u8>, LogError> {
    let not_a_segment = |problem: String| LogError::NotLogFile {
        path: path.to_owned(),
        problem,
    };
    let metadata =
        fs::symlink_metadata(path).map_err(|source| LogError::io("inspect", path, source))?;
    if !metadata.file_type().is_file() {
        return Err(not_a_segment(
            "it is not a plain file (a symbolic link, a directory or a device)".to_owned(),
        ));
    }
    if metadata.len() > SEGMENT_FILE_BYTES_LIMIT {
        return Err(not_a_segment(format!(
            "it is {} bytes, more than any segment is written with ({SEGMENT_FILE_BYTES_LIMIT})",
            metadata.len()
        )));
    }
    fs::read(path).map_err(|source| LogError::io("read", path, source))
}

/// Most payload bytes the scan after damage checksums before it gives up. A torn tail
/// is at most one partial frame (or zeros), which costs far less; only crafted or
/// heavily damaged bytes reach this, and those are refused, not cut.
const SCAN_CRC_BYTES_MAX: usize = 256 << 20;

/// What follows damage in the last segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AfterDamage {
    /// Not looked at: the segment is not the last, so any damage is corruption.
    NotScanned,
    /// No valid frame anywhere after it: a torn tail.
    NoValidFrame,
    /// A frame with a valid CRC and a decodable record starts here: corruption.
    ValidFrameAt(usize),
    /// Too many candidates to check: refused as corruption rather than cut.
    TooLongToScan,
}

/// Looks for a frame with a valid CRC and a decodable record at any position at or after
/// `from`. Candidates are screened on their length and kind byte before their CRC is
/// computed, and the CRC work is bounded by [`SCAN_CRC_BYTES_MAX`].
pub(super) fn scan_after_damage(bytes: &[u8], from: usize, seed: FrameSeed) -> AfterDamage {
    let mut crc_bytes = 0;
    for position in from..bytes.len().saturating_sub(FRAME_HEADER_BYTES) {
        let rest = &bytes[position..];
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if length == 0 || length > RECORD_BYTES_MAX || FRAME_HEADER_BYTES + length > rest.len() {
            continue;
        }
        if !kind_fits_size(rest[FRAME_HEADER_BYTES], length) {
            continue;
        }
        crc_bytes += length;
        if crc_bytes > SCAN_CRC_BYTES_MAX {
            return AfterDamage::TooLongToScan;
        }
        if let FrameRead::Valid { payload, .. } = read_frame(rest, seed) {
            if Record::decode(payload).is_ok() {
                return AfterDamage::ValidFrameAt(position);
            }
        }
    }
    AfterDamage::NoValidFrame
}

pub(super) fn describe_damage(damage: &FrameRead<'_>) -> String {
    match damage {
        FrameRead::Valid { .. } => "valid frame".to_owned(),
        FrameRead::Truncated => "frame runs past the end of the segment".to_owned(),
        FrameRead::BadLength { length } => {
            format!("frame length {length} is outside 1..={RECORD_BYTES_MAX}")
        }
        FrameRead::BadChecksum { stored, computed } => {
            format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
        }
    }
}

fn cut_tail(path: &Path, offset: u64) -> Result<(), LogError> {
    let file = File::options()
        .write(true)
        .open(path)
        .map_err(|source| LogError::io("open", path, source))?;
    file.set_len(offset)
        .map_err(|source| LogError::io("truncate", path, source))?;
    file.sync_all()
        .map_err(|source| LogError::io("sync", path, source))
}

fn rewrite_header(path: &Path, number: u32) -> Result<(), LogError> {
    let write_error = |source| LogError::io("rewrite header of", path, source);
    fs::write(path, segment_header(number)).map_err(write_error)?;
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| LogError::io("sync", path, source))
}

fn report_torn_tail(report: &mut RecoveryReport, path: &Path, offset: u64, bytes: u64, cut: bool) {
    report.torn_tail = Some(TornTail {
        segment: path.to_owned(),
        offset,
        bytes_cut: bytes,
        repaired: cut,
    });
    #[cfg(feature = "tracing")]
    tracing::warn!(segment = %path.display(), offset, bytes, cut, "torn log tail");
}

/// The path of segment files, for messages.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_DIR_NAME)
}
