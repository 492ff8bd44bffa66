//! The bytes of a checkpoint file (specified in `docs/FORMAT.md`, "Checkpoint file").
//!
//! ```text
//! header    magic "CLKCHKPT", version u32, segment u32, offset u64,
//!           earlier_segments_bytes u64, meta_bytes u64              (40 bytes)
//! meta      postcard of `Meta`                                      (meta_bytes)
//! tables    partition count u32, then per partition: day u32, chunk count u32,
//!           then per chunk: chunk number u32 and its 65,536 slots as u64 LE
//! trailer   tables-until segment u32 and offset u64, file bytes u64 (the whole
//!           file), CRC32 u32 of everything before it                (24 bytes)
//! ```
//!
//! The meta section is the state at the header's position exactly. The slot tables are
//! copied after the ledger resumed, so they may also hold clicks and claims logged
//! between that position and the trailer's: replay applies the records in between
//! leniently (a click or claim already there is not a contradiction).
//!
//! Slot tables, nearly all of a checkpoint, are written and read a chunk (512 KiB) at a
//! time, as they lie in memory; only the small, variable rest goes through postcard. The
//! CRC starts from the directory's frame seed, like the log's: a checkpoint copied from
//! another ledger fails its check.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::LogPosition;
use crate::index::{chunk_from_bits, Partition, CHUNK_BYTES, CHUNK_SLOTS};
use crate::log::frame::FrameSeed;
use crate::log::record::{ConversionRecord, ProgramRecord};

/// First eight bytes of every checkpoint.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"CLKCHKPT";
/// The checkpoint format version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;
/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 40;
/// Bytes of the trailer: tables-until position, file length and CRC.
pub const TRAILER_BYTES: usize = 24;
/// Chunks per day: a day has 2^32 slots.
const CHUNKS_PER_DAY: u64 = (1u64 << 32) / CHUNK_SLOTS as u64;

/// Everything but the slot tables: small, variable, postcard-encoded.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    /// The number of the last conversion accepted (0: none).
    pub last_conversion: u64,
    /// Counters, as [`crate::Stats`] reports them.
    pub clicks: u64,
    /// Impressions recorded.
    pub impressions: u64,
    /// Conversions accepted.
    pub conversions: u64,
    /// Click IDs claimed.
    pub claimed_ids: u64,
    /// Days before this one were dropped by retention (0: none).
    pub dropped_before_day: u32,
    /// Per day: the end of its last slot reservation. Kept for every day ever minted,
    /// dropped ones included, so that no slot is handed out twice.
    pub reservations: Vec<(u32, u32)>,
    /// Programs, in number order.
    pub programs: Vec<ProgramRecord>,
    /// Partner names, in number order.
    pub partners: Vec<String>,
    /// Conversions, program by program, each program's in acceptance order.
    pub conversions_kept: Vec<StoredConversion>,
}

/// A conversion as the checkpoint keeps it: its log record and the name of its
/// attributed click's partner, which a dropped day can no longer give.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredConversion {
    /// The conversion's record, as logged.
    pub record: ConversionRecord,
    /// The partner credited.
    pub partner: String,
}

/// Writes through to `inner`, keeping the CRC and the count of what passed.
struct Checksummed<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Checksummed<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

/// A checkpoint written up to its trailer.
pub(crate) struct Body<W> {
    out: Checksummed<W>,
}

impl<W: Write> Body<W> {
    /// Writes the trailer, naming `tables_until`: every click and claim the slot tables
    /// may hold is logged before it. Returns the checkpoint's length in bytes, and the
    /// output.
    pub fn finish(mut self, tables_until: LogPosition) -> io::Result<(u64, W)> {
        let out = &mut self.out;
        out.put(&tables_until.segment.to_le_bytes())?;
        out.put(&tables_until.offset.to_le_bytes())?;
        let file_bytes = out.bytes + 8 + 4;
        out.put(&file_bytes.to_le_bytes())?;
        let crc = out.hasher.clone().finalize();
        out.inner.write_all(&crc.to_le_bytes())?;
        out.inner.flush()?;
        Ok((file_bytes, self.out.inner))
    }
}

/// Writes a checkpoint to `out` up to its trailer: the header, `meta` (the state at
/// `position`), then the slot tables as they are while they are read.
pub(crate) fn write_body<W: Write>(
    out: W,
    seed: FrameSeed,
    position: LogPosition,
    earlier_segments_bytes: u64,
    meta: &Meta,
    partitions: &[std::sync::Arc<Partition>],
) -> io::Result<Body<W>> {
    let meta_bytes = postcard::to_allocvec(meta).map_err(io::Error::other)?;
    let mut out = Checksummed {
        inner: out,
        hasher: crc32fast::Hasher::new_with_initial(seed.0),
        bytes: 0,
    };
    out.put(&CHECKPOINT_MAGIC)?;
    out.put(&CHECKPOINT_VERSION.to_le_bytes())?;
    out.put(&position.segment.to_le_bytes())?;
    out.put(&position.offset.to_le_bytes())?;
    out.put(&earlier_segments_bytes.to_le_bytes())?;
    out.put(&(meta_bytes.len() as u64).to_le_bytes())?;
    debug_assert_eq!(out.bytes, HEADER_BYTES as u64);
    out.put(&meta_bytes)?;

    out.put(&(partitions.len() as u32).to_le_bytes())?;
    let mut chunk_bytes = vec![0u8; CHUNK_BYTES as usize];
    for partition in partitions {
        out.put(&partition.day().to_le_bytes())?;
        out.put(&(partition.allocated_chunks() as u32).to_le_bytes())?;
        partition.visit_chunks(|number, slots: &[AtomicU64]| {
            for (bytes, slot) in chunk_bytes.chunks_exact_mut(8).zip(slots) {
                bytes.copy_from_slice(&slot.load(Ordering::Acquire).to_le_bytes());
            }
            out.put(&number.to_le_bytes())?;
            out.put(&chunk_bytes)
        })?;
    }

    Ok(Body { out })
}

/// A checkpoint read back whole and checked.
pub(crate) struct Loaded {
    /// The log position its state is taken at.
    pub position: LogPosition,
    /// The slot tables may hold clicks and claims logged up to here.
    pub tables_until: LogPosition,
    /// Bytes of the log's segments before `position.segment`.
    pub earlier_segments_bytes: u64,
    /// Everything but the slot tables.
    pub meta: Meta,
    /// The slot tables, by day.
    pub partitions: Vec<Partition>,
}

/// Why a checkpoint file cannot be used. The open skips it and says why.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// It could not be read.
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    /// Its bytes are not a checkpoint of this ledger, or are damaged.
    #[error("{0}")]
    Damaged(String),
}

fn damaged(problem: impl Into<String>) -> LoadError {
    LoadError::Damaged(problem.into())
}

/// Reads `input`, of `file_bytes` bytes, keeping the CRC and the count of what passed.
struct Verified<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    read: u64,
    file_bytes: u64,
}

impl<R: Read> Verified<R> {
    /// Reads exactly `buffer.len()` bytes; a file that ends first is truncated.
    fn take(&mut self, buffer: &mut [u8]) -> Result<(), LoadError> {
        if self.read + buffer.len() as u64 > self.file_bytes {
            return Err(damaged(format!(
                "it is truncated: {} bytes, the content goes on past them",
                self.file_bytes
            )));
        }
        self.inner.read_exact(buffer)?;
        self.hasher.update(buffer);
        self.read += buffer.len() as u64;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, LoadError> {
        let mut bytes = [0u8; 4];
        self.take(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn u64(&mut self) -> Result<u64, LoadError> {
        let mut bytes = [0u8; 8];
        self.take(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Bytes left before the trailer.
    fn left_before_trailer(&self) -> u64 {
        self.file_bytes
            .saturating_sub(TRAILER_BYTES as u64)
            .saturating_sub(self.read)
    }
}

/// Reads and checks a checkpoint of `file_bytes` bytes. Every count is checked against
/// the bytes left before anything is allocated for it, so a damaged count cannot ask
/// for more memory than the file could fill.
pub(crate) fn read(
    input: impl Read,
    file_bytes: u64,
    seed: FrameSeed,
) -> Result<Loaded, LoadError> {
    let mut input = Verified {
        inner: input,
        hasher: crc32fast::Hasher::new_with_initial(seed.0),
        read: 0,
        file_bytes,
    };
    let (position, earlier_segments_bytes, meta_bytes) = read_header(&mut input)?;
    if meta_bytes > input.left_before_trailer() {
        return Err(damaged(format!(
            "its meta section claims {meta_bytes} bytes, more than the file holds"
        )));
    }
    let mut meta_buffer = vec![0u8; meta_bytes as usize];
    input.take(&mut meta_buffer)?;
    let partitions = read_partitions(&mut input)?;
    let tables_until = check_trailer(&mut input)?;
    if tables_until < position {
        return Err(damaged(format!(
            "its tables end at {tables_until:?}, before its position {position:?}"
        )));
    }
    let meta = postcard::from_bytes(&meta_buffer)
        .map_err(|error| damaged(format!("its meta section does not decode: {error}")))?;
    Ok(Loaded {
        position,
        tables_until,
        earlier_segments_bytes,
        meta,
        partitions,
    })
}

fn read_header(input: &mut Verified<impl Read>) -> Result<(LogPosition, u64, u64), LoadError> {
    if input.file_bytes < (HEADER_BYTES + TRAILER_BYTES) as u64 {
        return Err(damaged(format!(
            "it is {} bytes, shorter than a header and trailer",
            input.file_bytes
        )));
    }
    let mut magic = [0u8; 8];
    input.take(&mut magic)?;
    if magic != CHECKPOINT_MAGIC {
        return Err(damaged("not a clickledger checkpoint (bad magic)"));
    }
    let version = input.u32()?;
    if version != CHECKPOINT_VERSION {
        return Err(damaged(format!(
            "format version {version}; this build reads version {CHECKPOINT_VERSION}"
        )));
    }
    let segment = input.u32()?;
    let offset = input.u64()?;
    let earlier_segments_bytes = input.u64()?;
    let meta_bytes = input.u64()?;
    Ok((
        LogPosition { segment, offset },
        earlier_segments_bytes,
        meta_bytes,
    ))
}

/// Bytes of one chunk in the file: its number and its slots.
const CHUNK_RECORD_BYTES: u64 = 4 + CHUNK_BYTES;

fn read_partitions(input: &mut Verified<impl Read>) -> Result<Vec<Partition>, LoadError> {
    let count = input.u32()?;
    if u64::from(count) * 8 > input.left_before_trailer() {
        return Err(damaged(format!(
            "it claims {count} partitions, more than the file holds"
        )));
    }
    let mut partitions = Vec::with_capacity(count as usize);
    let mut chunk_bytes = vec![0u8; CHUNK_BYTES as usize];
    let mut previous_day = None;
    for _ in 0..count {
        let day = input.u32()?;
        if previous_day.is_some_and(|previous| previous >= day) {
            return Err(damaged(format!("partition of day {day} out of order")));
        }
        previous_day = Some(day);
        let chunk_count = input.u32()?;
        if u64::from(chunk_count) * CHUNK_RECORD_BYTES > input.left_before_trailer() {
            return Err(damaged(format!(
                "day {day} claims {chunk_count} chunks, more than the file holds"
            )));
        }
        let mut chunks = Vec::new();
        for _ in 0..chunk_count {
            let number = u64::from(input.u32()?);
            if number >= CHUNKS_PER_DAY || (number as usize) < chunks.len() {
                return Err(damaged(format!(
                    "day {day}: chunk {number} out of order or beyond a day's slots"
                )));
            }
            input.take(&mut chunk_bytes)?;
            let bits = chunk_bytes.chunks_exact(8).map(|bytes| {
                let mut slot = [0u8; 8];
                slot.copy_from_slice(bytes);
                u64::from_le_bytes(slot)
            });
            chunks.resize_with(number as usize, || None);
            chunks.push(Some(chunk_from_bits(bits)));
        }
        partitions.push(Partition::from_chunks(day, chunks));
    }
    Ok(partitions)
}

/// Checks the trailer; returns its tables-until position.
fn check_trailer(input: &mut Verified<impl Read>) -> Result<LogPosition, LoadError> {
    if input.left_before_trailer() != 0 {
        return Err(damaged(format!(
            "{} bytes follow the slot tables before the trailer",
            input.left_before_trailer()
        )));
    }
    let tables_until = LogPosition {
        segment: input.u32()?,
        offset: input.u64()?,
    };
    let stated = input.u64()?;
    if stated != input.file_bytes {
        return Err(damaged(format!(
            "it is {} bytes, its trailer says {stated}",
            input.file_bytes
        )));
    }
    let computed = input.hasher.clone().finalize();
    let mut stored = [0u8; 4];
    input.inner.read_exact(&mut stored)?;
    let stored = u32::from_le_bytes(stored);
    if stored != computed {
        return Err(damaged(format!(
            "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    Ok(tables_until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::slot::SlotEntry;
    use crate::program::{ClickKind, PartnerId, ProgramId};
    use std::sync::Arc;

    fn sample() -> (Meta, Vec<Arc<Partition>>) {
        let meta = Meta {
            last_conversion: 7,
            clicks: 2,
            dropped_before_day: 3,
            reservations: vec![(19_000, 64), (19_001, 128)],
            partners: vec!["a7".to_owned()],
            ..Meta::default()
        };
        let day = Partition::from_chunks(19_000, Vec::new());
        let entry = SlotEntry::minted(ProgramId(0), PartnerId(0), ClickKind::Click);
        day.insert(5, entry);
        day.insert(3 * CHUNK_SLOTS + 1, entry);
        (meta, vec![Arc::new(day)])
    }

    fn written() -> Vec<u8> {
        let (meta, partitions) = sample();
        let position = LogPosition {
            segment: 2,
            offset: 99,
        };
        let mut bytes = Vec::new();
        let body = write_body(&mut bytes, FrameSeed(5), position, 1000, &meta, &partitions);
        let until = LogPosition {
            segment: 3,
            offset: 20,
        };
        let (length, _) = body.unwrap().finish(until).unwrap();
        assert_eq!(length, bytes.len() as u64);
        bytes
    }

    #[test]
    fn a_checkpoint_reads_back_what_was_written() {
        let bytes = written();
        let loaded = read(&bytes[..], bytes.len() as u64, FrameSeed(5)).unwrap();
        assert_eq!(
            loaded.position,
            LogPosition {
                segment: 2,
                offset: 99
            }
        );
        assert_eq!(loaded.earlier_segments_bytes, 1000);
        assert_eq!(
            loaded.tables_until,
            LogPosition {
                segment: 3,
                offset: 20
            }
        );
        assert_eq!(loaded.meta, sample().0);
        let day = &loaded.partitions[0];
        assert_eq!(day.day(), 19_000);
        assert!(day.get(5).is_present() && day.get(3 * CHUNK_SLOTS + 1).is_present());
        assert!(!day.get(6).is_present());
        assert_eq!(
            day.allocated_chunks(),
            2,
            "only the chunks written are allocated"
        );
    }

    #[test]
    fn the_header_has_its_documented_layout() {
        let bytes = written();
        assert_eq!(&bytes[0..8], b"CLKCHKPT");
        assert_eq!(bytes[8..12], 1u32.to_le_bytes());
        assert_eq!(bytes[12..16], 2u32.to_le_bytes());
        assert_eq!(bytes[16..24], 99u64.to_le_bytes());
        assert_eq!(bytes[24..32], 1000u64.to_le_bytes());
        let end = bytes.len();
        assert_eq!(bytes[end - 24..end - 20], 3u32.to_le_bytes());
        assert_eq!(bytes[end - 20..end - 12], 20u64.to_le_bytes());
        assert_eq!(bytes[end - 12..end - 4], (end as u64).to_le_bytes());
    }

    #[test]
    fn every_damage_is_refused() {
        let bytes = written();
        let refused = |bytes: &[u8]| read(bytes, bytes.len() as u64, FrameSeed(5)).is_err();
        // Every byte of the small parts, and a sample of the slot tables.
        let positions = (0..200)
            .chain((200..bytes.len()).step_by(4099))
            .chain(bytes.len() - 24..bytes.len());
        for position in positions {
            let mut flipped = bytes.clone();
            flipped[position] ^= 0x40;
            assert!(refused(&flipped), "flip at {position} accepted");
        }
        for cut in [0, 10, 40, 100, bytes.len() / 2, bytes.len() - 1] {
            assert!(refused(&bytes[..cut]), "cut at {cut} accepted");
        }
        assert!(
            read(&bytes[..], bytes.len() as u64, FrameSeed(6)).is_err(),
            "another directory's seed"
        );
        let mut other_version = bytes.clone();
        other_version[8] = 2;
        let error = read(&other_version[..], bytes.len() as u64, FrameSeed(5))
            .err()
            .unwrap();
        assert!(error.to_string().contains("version 2"), "{error}");
    }
}
