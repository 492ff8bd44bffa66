//! Checking a log without opening it for writing: every problem, with file and offset.
//!
//! An open stops at the first damage; an operator deciding what to do wants the whole
//! list. [`verify`] walks every frame of every segment, and after damage looks for the
//! next valid frame and goes on from there, so each damaged region is named once.

use std::fmt;
use std::path::{Path, PathBuf};

use super::frame::{read_frame, FrameRead, FrameSeed};
use super::record::Record;
use super::replay::{check_marker, describe_damage, read_segment, scan_after_damage, AfterDamage};
use super::segment::{
    check_header, list_segments, read_marker, LOG_DIR_NAME, SEGMENT_HEADER_BYTES,
};
use super::LogError;

/// One problem found in a log.
///
/// ```
/// let problem = clickledger::log::verify::Problem {
///     file: "log/segment-00000001.log".into(),
///     offset: 42,
///     description: "CRC mismatch".to_owned(),
/// };
/// assert_eq!(problem.to_string(), "log/segment-00000001.log at offset 42: CRC mismatch");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Byte offset in the file.
    pub offset: u64,
    /// What is wrong.
    pub description: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} at offset {}: {}",
            self.file.display(),
            self.offset,
            self.description
        )
    }
}

/// Every problem of the log under `data_dir` whose frames are checked with `seed`,
/// changing nothing. `existing`: the directory's secret exists, so the log must too.
/// An error only when the log cannot be listed or read at all.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// drop(clickledger::Ledger::open(dir.path(), Default::default()).unwrap());
/// let key = clickledger::secret::load(dir.path()).unwrap().unwrap();
/// let seed = clickledger::secret::frame_seed(&key);
/// assert!(clickledger::log::verify::verify(dir.path(), seed, true).unwrap().is_empty());
/// ```
pub fn verify(data_dir: &Path, seed: FrameSeed, existing: bool) -> Result<Vec<Problem>, LogError> {
    let log_dir = data_dir.join(LOG_DIR_NAME);
    let mut problems = Vec::new();
    let segments = match list_segments(&log_dir) {
        Ok(segments) => segments,
        Err(error) => {
            problems.push(problem_of(&log_dir, error));
            return Ok(problems);
        }
    };
    let marker = read_marker(&log_dir);
    if let Err(error) = marker
        .as_ref()
        .map_err(|error| error.to_string())
        .and_then(|marker| {
            check_marker(&log_dir, &segments, *marker, existing).map_err(|e| e.to_string())
        })
    {
        problems.push(Problem {
            file: log_dir.join(super::segment::MARKER_FILE_NAME),
            offset: 0,
            description: error,
        });
    }
    let last = segments.len().saturating_sub(1);
    for (index, (number, path)) in segments.iter().enumerate() {
        check_segment(path, *number, seed, index == last, &mut problems)?;
    }
    Ok(problems)
}

/// Adds the problems of one segment.
fn check_segment(
    path: &Path,
    number: u32,
    seed: FrameSeed,
    is_last: bool,
    problems: &mut Vec<Problem>,
) -> Result<(), LogError> {
    let bytes = match read_segment(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            problems.push(problem_of(path, error));
            return Ok(());
        }
    };
    let mut report = |offset: usize, description: String| {
        problems.push(Problem {
            file: path.to_owned(),
            offset: offset as u64,
            description,
        })
    };
    if let Err(error) = check_header(path, &bytes, number) {
        report(0, error.to_string());
    }
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut sealed = false;
    while offset < bytes.len() {
        match read_frame(&bytes[offset..], seed) {
            FrameRead::Valid {
                payload,
                frame_bytes,
            } => {
                match Record::decode(payload) {
                    Err(error) => report(offset, format!("undecodable record: {error}")),
                    Ok(Record::SegmentSealed) if offset + frame_bytes != bytes.len() => {
                        report(offset, "records follow the segment's seal".to_owned())
                    }
                    Ok(Record::SegmentSealed) => sealed = true,
                    Ok(_) => {}
                }
                offset += frame_bytes;
            }
            damage => {
                let description = describe_damage(&damage);
                match scan_after_damage(&bytes, offset + 1, seed) {
                    AfterDamage::ValidFrameAt(next) => {
                        report(
                            offset,
                            format!(
                                "{description}; {} bytes up to the next valid record",
                                next - offset
                            ),
                        );
                        offset = next;
                    }
                    AfterDamage::NoValidFrame => {
                        let kind = match is_last {
                            true => "a torn tail (an open cuts it and reports it)",
                            false => "damage at the end of a segment that is not the last",
                        };
                        report(
                            offset,
                            format!("{description}: {kind}, {} bytes", bytes.len() - offset),
                        );
                        return Ok(());
                    }
                    AfterDamage::TooLongToScan | AfterDamage::NotScanned => {
                        report(offset, format!("{description}; the rest is not scanned"));
                        return Ok(());
                    }
                }
            }
        }
    }
    if !is_last && !sealed {
        report(
            bytes.len(),
            "the segment ends without its seal record, though a later segment exists".to_owned(),
        );
    }
    Ok(())
}

fn problem_of(path: &Path, error: LogError) -> Problem {
    let offset = match &error {
        LogError::Corrupt { offset, .. } => *offset,
        _ => 0,
    };
    Problem {
        file: path.to_owned(),
        offset,
        description: error.to_string(),
    }
}
