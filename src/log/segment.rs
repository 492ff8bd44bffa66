//! Segment files: names, headers, and the directory that holds them.
//!
//! A segment starts with a 16-byte header (magic, format version, segment number) and
//! is followed by frames. Segments are numbered from 1 without gaps.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::frame::{FRAME_HEADER_BYTES, RECORD_BYTES_MAX};
use super::io::Io;
use super::LogError;

/// First eight bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CLKLEDGR";
/// The log format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_BYTES: usize = 16;
/// The largest `segment_bytes_max` a ledger accepts: 1 GiB. Replay reads a segment
/// whole, so this bounds the memory an open needs beyond the index.
pub const SEGMENT_BYTES_MAX_LIMIT: u64 = 1 << 30;
/// The largest segment file this version writes: a segment is sealed before the append
/// that would start past `segment_bytes_max`, so it ends at most one record and the seal
/// record beyond it. A larger file is not a segment of ours, and is refused unread.
pub const SEGMENT_FILE_BYTES_LIMIT: u64 =
    SEGMENT_BYTES_MAX_LIMIT + (2 * FRAME_HEADER_BYTES + RECORD_BYTES_MAX + 1) as u64;
/// Subdirectory of the data directory that holds the segments.
pub const LOG_DIR_NAME: &str = "log";

/// File in the log directory naming the last segment created (see [`write_marker`]).
pub const MARKER_FILE_NAME: &str = "last-segment";
/// The marker is written here first, then renamed: a crash can leave this file behind.
pub const MARKER_TEMPORARY_FILE_NAME: &str = "last-segment.new";
const MARKER_MAGIC: [u8; 8] = *b"CLKLAST1";
const MARKER_FILE_BYTES: usize = 16;

/// The file name of segment `number`: `segment-00000001.log`.
///
/// ```
/// use clickledger::log::segment::segment_file_name;
/// assert_eq!(segment_file_name(1), "segment-00000001.log");
/// ```
pub fn segment_file_name(number: u32) -> String {
    format!("segment-{number:08}.log")
}

/// Parses a segment file name back to its number.
fn segment_number(file_name: &str) -> Option<u32> {
    let digits = file_name.strip_prefix("segment-")?.strip_suffix(".log")?;
    if digits.len() != 8 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header bytes of segment `number`.
pub fn segment_header(number: u32) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&number.to_le_bytes());
    header
}

/// Checks the header at the start of `bytes` against the expected segment number.
pub fn check_header(path: &Path, bytes: &[u8], number: u32) -> Result<(), LogError> {
    let corrupt = |problem: String| LogError::Corrupt {
        segment: path.to_owned(),
        offset: 0,
        problem,
    };
    let header = bytes
        .get(..SEGMENT_HEADER_BYTES)
        .ok_or_else(|| corrupt(format!("header is {} bytes, expected 16", bytes.len())))?;
    if header[0..8] != SEGMENT_MAGIC {
        return Err(corrupt("not a clickledger segment (bad magic)".to_owned()));
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(LogError::UnsupportedVersion {
            segment: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let found = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    if found != number {
        return Err(corrupt(format!(
            "header says segment {found}, file name says {number}"
        )));
    }
    Ok(())
}

/// The segments in `log_dir`, sorted by number, checked to run without a gap. The first
/// is 1 unless retention removed segments no checkpoint needs (`replay` checks which).
pub fn list_segments(log_dir: &Path) -> Result<Vec<(u32, PathBuf)>, LogError> {
    let entries = fs::read_dir(log_dir).map_err(|source| LogError::io("list", log_dir, source))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LogError::io("list", log_dir, source))?;
        let name = entry.file_name();
        if let Some(number) = name.to_str().and_then(segment_number) {
            segments.push((number, entry.path()));
        }
    }
    segments.sort();
    let first = segments.first().map_or(1, |(number, _)| *number);
    for (expected, (number, path)) in (first..).zip(&segments) {
        if *number != expected {
            return Err(LogError::MissingSegment {
                number: expected,
                found: path.clone(),
            });
        }
    }
    Ok(segments)
}

/// Creates segment `number` with its header, makes both the file and its directory
/// entry durable, then records it as the last segment, before anything is appended: a
/// record is never acknowledged in a segment whose existence could be lost.
pub fn create_segment(io: &Io, log_dir: &Path, number: u32) -> Result<(File, PathBuf), LogError> {
    let path = log_dir.join(segment_file_name(number));
    let mut file = io
        .create_new(&path)
        .map_err(|source| LogError::io("create", &path, source))?;
    io.write_all(&mut file, &path, &segment_header(number))
        .map_err(|source| LogError::io("write", &path, source))?;
    io.sync_data(&file, &path)
        .map_err(|source| LogError::io("sync", &path, source))?;
    io.sync_dir(log_dir)
        .map_err(|source| LogError::io("sync directory", log_dir, source))?;
    write_marker_with(io, log_dir, number)?;
    Ok((file, path))
}

/// Records `number` as the last segment created: magic `CLKLAST1`, the number (u32 LE),
/// its CRC32 (LE). Written atomically (temporary file, sync, rename, sync directory).
///
/// Without it, a lost last segment (or a wiped log) would open as a shorter log:
/// claims forgotten and slots minted again. With it, the open refuses.
pub fn write_marker(log_dir: &Path, number: u32) -> Result<(), LogError> {
    write_marker_with(&Io::Os, log_dir, number)
}

/// [`write_marker`] through `io`.
pub fn write_marker_with(io: &Io, log_dir: &Path, number: u32) -> Result<(), LogError> {
    let mut bytes = Vec::with_capacity(MARKER_FILE_BYTES);
    bytes.extend_from_slice(&MARKER_MAGIC);
    bytes.extend_from_slice(&number.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&number.to_le_bytes()).to_le_bytes());
    let temporary = log_dir.join(MARKER_TEMPORARY_FILE_NAME);
    let path = log_dir.join(MARKER_FILE_NAME);
    let mut file = io
        .create_truncate(&temporary)
        .map_err(|source| LogError::io("create", &temporary, source))?;
    io.write_all(&mut file, &temporary, &bytes)
        .map_err(|source| LogError::io("write", &temporary, source))?;
    io.sync_data(&file, &temporary)
        .map_err(|source| LogError::io("sync", &temporary, source))?;
    io.rename(&temporary, &path)
        .map_err(|source| LogError::io("rename", &temporary, source))?;
    io.sync_dir(log_dir)
        .map_err(|source| LogError::io("sync directory", log_dir, source))
}

/// Reads the last-segment marker; `None` when there is none.
pub fn read_marker(log_dir: &Path) -> Result<Option<u32>, LogError> {
    let path = log_dir.join(MARKER_FILE_NAME);
    let Some(bytes) = read_small_file(&path, MARKER_FILE_BYTES)? else {
        return Ok(None);
    };
    let corrupt = |problem: &str| LogError::Corrupt {
        segment: path.clone(),
        offset: 0,
        problem: problem.to_owned(),
    };
    if bytes.len() != MARKER_FILE_BYTES || bytes[0..8] != MARKER_MAGIC {
        return Err(corrupt("not a last-segment marker"));
    }
    let number = [bytes[8], bytes[9], bytes[10], bytes[11]];
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc32fast::hash(&number) != crc {
        return Err(corrupt("last-segment marker fails its CRC"));
    }
    Ok(Some(u32::from_le_bytes(number)))
}

/// True when the segments in `log_dir` hold more than their headers and the creation
/// record: the log has records a ledger wrote after its creation was complete.
///
/// A log holding only the creation record is the trace of a creation cut short before
/// the secret was stored; it opens as a new ledger.
pub fn holds_records(log_dir: &Path) -> Result<bool, LogError> {
    if !check_log_dir(log_dir)? {
        return Ok(false);
    }
    // The creation record's frame: header and a one-byte payload.
    let creation_frame_bytes = FRAME_HEADER_BYTES as u64 + 1;
    let mut record_bytes = 0;
    for (_, path) in list_segments(log_dir)? {
        let bytes = fs::metadata(&path)
            .map_err(|source| LogError::io("inspect", &path, source))?
            .len();
        record_bytes += bytes.saturating_sub(SEGMENT_HEADER_BYTES as u64);
    }
    Ok(record_bytes > creation_frame_bytes)
}

/// True when `log_dir` exists, false when it does not; an error when something other
/// than a directory is in its place.
pub fn check_log_dir(log_dir: &Path) -> Result<bool, LogError> {
    match fs::metadata(log_dir) {
        Ok(metadata) if metadata.is_dir() => Ok(true),
        Ok(_) => Err(LogError::NotLogFile {
            path: log_dir.to_owned(),
            problem: "it is not a directory".to_owned(),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LogError::io("inspect", log_dir, source)),
    }
}

/// Reads a small file of the data directory (the secret, the marker), or `None` when it
/// does not exist. Anything but a plain file (a device, a FIFO, a directory, followed
/// through links) is refused without opening it, and a file longer than `bytes_max`
/// without reading it: such a thing is not what the ledger wrote, and reading it could
/// block or exhaust memory.
pub(crate) fn read_small_file(path: &Path, bytes_max: usize) -> Result<Option<Vec<u8>>, LogError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LogError::io("inspect", path, source)),
    };
    let problem = if !metadata.is_file() {
        "it is not a plain file (a directory, a device or a pipe)".to_owned()
    } else if metadata.len() > bytes_max as u64 {
        format!(
            "it is {} bytes; the ledger writes {bytes_max}",
            metadata.len()
        )
    } else {
        return fs::read(path)
            .map(Some)
            .map_err(|source| LogError::io("read", path, source));
    };
    Err(LogError::NotLogFile {
        path: path.to_owned(),
        problem,
    })
}

/// Makes a directory's entries (new or renamed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| LogError::io("sync directory", dir, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_strangers_are_ignored() {
        assert_eq!(segment_number(&segment_file_name(42)), Some(42));
        assert_eq!(segment_number("segment-1.log"), None);
        assert_eq!(segment_number("segment-0000000x.log"), None);
        assert_eq!(segment_number("notes.txt"), None);
    }

    #[test]
    fn header_is_checked_for_magic_version_and_number() {
        let path = Path::new("segment-00000002.log");
        let header = segment_header(2);
        assert!(check_header(path, &header, 2).is_ok());
        assert!(matches!(
            check_header(path, &header, 3),
            Err(LogError::Corrupt { .. })
        ));
        let mut other_version = header;
        other_version[8] = 9;
        assert!(matches!(
            check_header(path, &other_version, 2),
            Err(LogError::UnsupportedVersion { found: 9, .. })
        ));
        assert!(matches!(
            check_header(path, &header[..5], 2),
            Err(LogError::Corrupt { .. })
        ));
    }
}
