//! The log writer: owns the active segment, buffers appends, flushes and syncs.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::frame::{append_frame, FrameSeed};
use super::record::Record;
use super::segment::{create_segment, SEGMENT_HEADER_BYTES};
use super::LogError;

/// Appends are gathered in memory and handed to the OS in writes of about this size:
/// large enough that a write costs little per record, small enough to stay in cache.
const WRITE_BUFFER_BYTES: usize = 256 << 10;

/// The single writer of the log.
///
/// Records are framed into a buffer; [`LogWriter::flush`] writes the buffer to the
/// segment file and [`LogWriter::sync`] also calls `fdatasync`. After any failed write
/// or sync the writer refuses all further work: what reached the disk is unknown, and
/// a failed fsync cannot be safely retried, so only a reopen (which rereads the log)
/// may continue.
pub struct LogWriter {
    log_dir: PathBuf,
    file: File,
    path: PathBuf,
    number: u32,
    /// Bytes of the active segment already handed to the OS, header included.
    segment_bytes: u64,
    /// Bytes of all earlier segments.
    earlier_segments_bytes: u64,
    buffer: Vec<u8>,
    /// Seeds every frame's CRC (see [`FrameSeed`]).
    seed: FrameSeed,
    segment_bytes_max: u64,
    failed: bool,
    /// Opened read-only: every append is refused; flush and sync have nothing to do.
    read_only: bool,
}

impl LogWriter {
    /// Continues segment `number`, whose valid content is `segment_bytes` long.
    pub(crate) fn resume(
        log_dir: &Path,
        (number, path): (u32, PathBuf),
        segment_bytes: u64,
        earlier_segments_bytes: u64,
        seed: FrameSeed,
        segment_bytes_max: u64,
        read_only: bool,
    ) -> Result<LogWriter, LogError> {
        assert!(
            segment_bytes >= SEGMENT_HEADER_BYTES as u64,
            "segment without its header"
        );
        let file = File::options()
            .append(!read_only)
            .read(read_only)
            .open(&path)
            .map_err(|source| LogError::io("open", &path, source))?;
        let buffer_bytes = if read_only {
            0
        } else {
            WRITE_BUFFER_BYTES + (64 << 10)
        };
        Ok(LogWriter {
            read_only,
            log_dir: log_dir.to_owned(),
            file,
            path,
            number,
            segment_bytes,
            earlier_segments_bytes,
            buffer: Vec::with_capacity(buffer_bytes),
            seed,
            segment_bytes_max,
            failed: false,
        })
    }

    /// Frames `record` into the buffer, starting a new segment first when the active one
    /// is full. Writes the buffer out when it is large.
    pub fn append(&mut self, record: &Record) -> Result<(), LogError> {
        self.check_healthy()?;
        if self.read_only {
            return Err(LogError::ReadOnly {
                segment: self.path.clone(),
            });
        }
        let pending = self.segment_bytes + self.buffer.len() as u64;
        if pending >= self.segment_bytes_max && pending > SEGMENT_HEADER_BYTES as u64 {
            self.roll()?;
        }
        append_frame(&mut self.buffer, self.seed, |out| record.encode(out))?;
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands everything buffered to the OS (survives a killed process, not power loss).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.check_healthy()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&self.buffer) {
            self.failed = true;
            return Err(LogError::io("write", &self.path, source));
        }
        self.segment_bytes += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Flushes, then `fdatasync`s the active segment: everything appended so far is
    /// durable when this returns `Ok`.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.flush()?;
        if self.read_only {
            return Ok(());
        }
        if let Err(source) = self.file.sync_data() {
            self.failed = true;
            return Err(LogError::io("sync", &self.path, source));
        }
        Ok(())
    }

    /// Throws away records not yet handed to the OS, as a killed process loses them.
    pub fn discard_unwritten(&mut self) {
        self.buffer.clear();
    }

    /// Total bytes of log, buffered bytes included.
    pub fn bytes(&self) -> u64 {
        self.earlier_segments_bytes + self.segment_bytes + self.buffer.len() as u64
    }

    /// Where the next record will start, and the bytes of the segments before its
    /// segment. Buffered records count as written: sync first for a durable position.
    pub(crate) fn position(&self) -> (super::LogPosition, u64) {
        let position = super::LogPosition {
            segment: self.number,
            offset: self.segment_bytes + self.buffer.len() as u64,
        };
        (position, self.earlier_segments_bytes)
    }

    /// Seals the active segment (its seal record synced, so a later segment never
    /// outlives an earlier one's tail) and starts the next.
    fn roll(&mut self) -> Result<(), LogError> {
        append_frame(&mut self.buffer, self.seed, |out| {
            Record::SegmentSealed.encode(out)
        })?;
        self.sync()?;
        self.start_next_segment()
    }

    /// Creates the segment after the active one, which is sealed, and makes it active.
    pub(crate) fn start_next_segment(&mut self) -> Result<(), LogError> {
        debug_assert!(
            self.buffer.is_empty(),
            "records left behind in a sealed segment"
        );
        let (file, path) = create_segment(&self.log_dir, self.number + 1).inspect_err(|_| {
            self.failed = true;
        })?;
        self.earlier_segments_bytes += self.segment_bytes;
        self.number += 1;
        self.file = file;
        self.path = path;
        self.segment_bytes = SEGMENT_HEADER_BYTES as u64;
        Ok(())
    }

    fn check_healthy(&self) -> Result<(), LogError> {
        if self.failed {
            Err(LogError::Failed {
                segment: self.path.clone(),
            })
        } else {
            Ok(())
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // A clean drop hands buffered records to the OS; durability still needs `sync`.
        if !self.failed && !self.buffer.is_empty() {
            let _ = self.file.write_all(&self.buffer);
        }
    }
}
