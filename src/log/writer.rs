//! The log writer: owns the active segment, buffers appends, hands batches to the
//! group commit (see [`super::commit`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RawMutex};

use super::commit::GroupCommit;
use super::frame::{append_frame, FrameSeed};
use super::io::Io;
use super::record::Record;
use super::segment::{create_segment, SEGMENT_HEADER_BYTES};
use super::LogError;

/// Appends are gathered in memory and handed to the OS in writes of about this size:
/// large enough that a write costs little per record, small enough to stay in cache.
const WRITE_BUFFER_BYTES: usize = 256 << 10;

/// The single writer of the log.
///
/// Records are framed into a buffer; positions are counted in bytes from the start of
/// the log (see [`super::commit`]). [`LogWriter::flush`] writes the buffer to the
/// segment file, [`LogWriter::sync`] also calls `fdatasync`, and the sync thread takes
/// the buffer in batches (`LogWriter::take_batch`). After any failed write or sync
/// the writer refuses all further work: what reached the disk is unknown, and a failed
/// fsync cannot be safely retried, so only a reopen (which rereads the log) may
/// continue.
pub struct LogWriter {
    log_dir: PathBuf,
    /// The active segment (for messages; the file itself is in `file`).
    path: PathBuf,
    number: u32,
    /// Position after the last record appended, buffered bytes included.
    appended: u64,
    /// Position where the active segment starts.
    segment_start: u64,
    buffer: Vec<u8>,
    /// Seeds every frame's CRC (see [`FrameSeed`]).
    seed: FrameSeed,
    segment_bytes_max: u64,
    /// Opened read-only: every append is refused; flush and sync have nothing to do.
    read_only: bool,
    /// The segment file; locked by whoever writes or syncs it.
    file: Arc<Mutex<SegmentFile>>,
    commit: Arc<GroupCommit>,
}

/// The active segment file and the file operations under it.
pub(crate) struct SegmentFile {
    io: Io,
    file: File,
    path: PathBuf,
    /// Position up to which bytes were handed to the OS.
    written: u64,
    /// Position up to which bytes were synced.
    synced: u64,
}

/// Records taken from the buffer by the sync thread, with the segment file locked so
/// no other write can come between.
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// Position after the last record of the batch.
    end: u64,
    file: parking_lot::ArcMutexGuard<RawMutex, SegmentFile>,
}

impl LogWriter {
    /// Continues segment `number`, whose valid content is `segment_bytes` long, after
    /// `earlier_segments_bytes` of earlier segments. Syncs the segment first: bytes a
    /// killed process left in the OS's cache count as durable only once synced.
    #[allow(clippy::too_many_arguments, reason = "one call site, in replay")]
    pub(crate) fn resume(
        io: &Io,
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
        let file = if read_only {
            File::open(&path)
        } else {
            io.open_append(&path)
        }
        .map_err(|source| LogError::io("open", &path, source))?;
        if !read_only {
            io.sync_data(&file, &path)
                .map_err(|source| LogError::io("sync", &path, source))?;
        }
        let buffer_bytes = if read_only {
            0
        } else {
            WRITE_BUFFER_BYTES + (64 << 10)
        };
        let position = earlier_segments_bytes + segment_bytes;
        Ok(LogWriter {
            read_only,
            log_dir: log_dir.to_owned(),
            path: path.clone(),
            number,
            appended: position,
            segment_start: earlier_segments_bytes,
            buffer: Vec::with_capacity(buffer_bytes),
            seed,
            segment_bytes_max,
            file: Arc::new(Mutex::new(SegmentFile {
                io: io.clone(),
                file,
                path,
                written: position,
                synced: position,
            })),
            commit: Arc::new(GroupCommit::new(position)),
        })
    }

    /// The group commit this writer publishes to.
    pub fn commit(&self) -> &Arc<GroupCommit> {
        &self.commit
    }

    /// Frames `record` into the buffer, starting a new segment first when the active one
    /// is full, and returns the position after it: the record is durable once the log
    /// is durable up to there. Writes the buffer out when it is large and no sync is
    /// writing.
    pub fn append(&mut self, record: &Record) -> Result<u64, LogError> {
        self.check_healthy()?;
        if self.read_only {
            return Err(LogError::ReadOnly {
                segment: self.path.clone(),
            });
        }
        let segment_bytes = self.appended - self.segment_start;
        if segment_bytes >= self.segment_bytes_max && segment_bytes > SEGMENT_HEADER_BYTES as u64 {
            self.roll()?;
        }
        let before = self.buffer.len();
        append_frame(&mut self.buffer, self.seed, |out| record.encode(out))?;
        self.appended += (self.buffer.len() - before) as u64;
        self.commit.set_appended(self.appended);
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            // A busy file means the sync thread is writing; it takes this buffer next.
            let file = Arc::clone(&self.file);
            let guard = file.try_lock();
            if let Some(mut guard) = guard {
                self.write_buffer(&mut guard)?;
            }
        }
        Ok(self.appended)
    }

    /// Hands everything buffered to the OS (survives a killed process, not power loss).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.check_healthy()?;
        let file = Arc::clone(&self.file);
        let mut file = file.lock();
        self.write_buffer(&mut file)
    }

    /// Flushes, then `fdatasync`s the active segment: everything appended so far is
    /// durable when this returns `Ok`.
    pub fn sync(&mut self) -> Result<(), LogError> {
        self.check_healthy()?;
        if self.read_only {
            return Ok(());
        }
        let file = Arc::clone(&self.file);
        let mut file = file.lock();
        self.write_buffer(&mut file)?;
        file.sync_to(self.appended, &self.commit)
    }

    /// Takes the buffer for the sync thread, leaving `spare` (emptied) in its place, with
    /// the segment file locked: no other write comes between this batch and the last.
    pub(crate) fn take_batch(&mut self, mut spare: Vec<u8>) -> Batch {
        let file = self.file.lock_arc();
        spare.clear();
        let bytes = std::mem::replace(&mut self.buffer, spare);
        Batch {
            bytes,
            end: self.appended,
            file,
        }
    }

    /// Throws away records not yet handed to the OS, as a killed process loses them.
    pub fn discard_unwritten(&mut self) {
        self.buffer.clear();
    }

    /// Total bytes of log, buffered bytes included.
    pub fn bytes(&self) -> u64 {
        self.appended
    }

    fn write_buffer(&mut self, file: &mut SegmentFile) -> Result<(), LogError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        file.write(&self.buffer, &self.commit)?;
        self.buffer.clear();
        debug_assert_eq!(file.written, self.appended, "a write skipped a batch");
        Ok(())
    }

    /// Where the next record will start, and the bytes of the segments before its
    /// segment. Buffered records count as written: sync first for a durable position.
    pub(crate) fn position(&self) -> (super::LogPosition, u64) {
        let position = super::LogPosition {
            segment: self.number,
            offset: self.appended - self.segment_start,
        };
        (position, self.segment_start)
    }

    /// Seals the active segment (its seal record synced, so a later segment never
    /// outlives an earlier one's tail) and starts the next.
    fn roll(&mut self) -> Result<(), LogError> {
        let before = self.buffer.len();
        append_frame(&mut self.buffer, self.seed, |out| {
            Record::SegmentSealed.encode(out)
        })?;
        self.appended += (self.buffer.len() - before) as u64;
        self.sync()?;
        self.start_next_segment()
    }

    /// Creates the segment after the active one, which is sealed and synced, and makes
    /// it active. The new segment's header, file and directory entry are synced before
    /// it takes a record.
    pub(crate) fn start_next_segment(&mut self) -> Result<(), LogError> {
        debug_assert!(
            self.buffer.is_empty(),
            "records left behind in a sealed segment"
        );
        let file = Arc::clone(&self.file);
        let mut file = file.lock();
        let (handle, path) = match create_segment(&file.io, &self.log_dir, self.number + 1) {
            Ok(created) => created,
            Err(error) => {
                self.commit.fail(self.path.clone(), error.to_string());
                return Err(error);
            }
        };
        self.number += 1;
        self.segment_start = self.appended;
        self.appended += SEGMENT_HEADER_BYTES as u64;
        self.path = path.clone();
        file.file = handle;
        file.path = path;
        file.written = self.appended;
        file.synced = self.appended;
        self.commit.set_appended(self.appended);
        self.commit.publish(self.appended);
        Ok(())
    }

    fn check_healthy(&self) -> Result<(), LogError> {
        match self.commit.failed() {
            false => Ok(()),
            true => Err(self.commit.failure().unwrap_or(LogError::Failed {
                segment: self.path.clone(),
                cause: "an earlier write or sync failed".to_owned(),
            })),
        }
    }
}

impl SegmentFile {
    /// Hands `bytes` to the OS; a failure stops the log.
    fn write(&mut self, bytes: &[u8], commit: &GroupCommit) -> Result<(), LogError> {
        if let Err(source) = self.io.write_all(&mut self.file, &self.path, bytes) {
            commit.fail(self.path.clone(), source.to_string());
            return Err(LogError::io("write", &self.path, source));
        }
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// `fdatasync`s what was written, up to `position`, and publishes it; a failure
    /// stops the log.
    fn sync_to(&mut self, position: u64, commit: &GroupCommit) -> Result<(), LogError> {
        debug_assert!(position <= self.written, "syncing bytes never written");
        if position > self.synced {
            if let Err(source) = self.io.sync_data(&self.file, &self.path) {
                commit.fail(self.path.clone(), source.to_string());
                return Err(LogError::io("sync", &self.path, source));
            }
            self.synced = position;
        }
        commit.publish(position);
        Ok(())
    }
}

impl Batch {
    /// Writes and syncs the batch, publishing its end; returns the emptied buffer for
    /// reuse. A failure was recorded in `commit` for every waiter.
    pub(crate) fn write_and_sync(mut self, commit: &GroupCommit) -> Vec<u8> {
        if commit.failed() {
            return self.bytes;
        }
        let written = if self.bytes.is_empty() {
            Ok(())
        } else {
            self.file.write(&self.bytes, commit)
        };
        if written.is_ok() {
            let _ = self.file.sync_to(self.end, commit);
        }
        self.bytes
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // A clean drop hands buffered records to the OS; durability still needs `sync`.
        if !self.commit.failed() && !self.buffer.is_empty() && !self.read_only {
            let file = Arc::clone(&self.file);
            let mut file = file.lock();
            let _ = self.write_buffer(&mut file);
        }
    }
}
