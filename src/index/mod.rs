//! The claim index: per UTC day, a slot table addressed by the slot inside each ID.
//!
//! Lookups are two array indexes (chunk, then slot) after finding the day; no hash of
//! the ID is ever computed. Slot tables grow in fixed chunks of [`CHUNK_SLOTS`], so
//! memory per click stays at 8 bytes plus at most one partly used chunk per day, and a
//! growing table never copies what it already holds.

use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::click_id::ClickId;

pub mod slot;

use slot::SlotEntry;

/// Slots per chunk: 65,536 slots of 8 bytes, 512 KiB.
pub const CHUNK_SLOTS: u32 = 1 << 16;

/// Bytes of one allocated chunk.
pub const CHUNK_BYTES: u64 = CHUNK_SLOTS as u64 * 8;

type Chunk = Box<[AtomicU64]>;

/// The slot table of one UTC day.
pub struct Partition {
    day: u32,
    chunks: RwLock<Vec<Option<Chunk>>>,
}

impl Partition {
    fn new(day: u32) -> Partition {
        Partition {
            day,
            chunks: RwLock::new(Vec::new()),
        }
    }

    /// The UTC day number.
    pub fn day(&self) -> u32 {
        self.day
    }

    /// The entry in `slot`, [`SlotEntry::EMPTY`] when nothing was minted there.
    pub fn get(&self, slot: u32) -> SlotEntry {
        let chunks = self.chunks.read();
        match chunks.get((slot / CHUNK_SLOTS) as usize) {
            Some(Some(chunk)) => {
                SlotEntry::from_bits(chunk[(slot % CHUNK_SLOTS) as usize].load(Ordering::Acquire))
            }
            _ => SlotEntry::EMPTY,
        }
    }

    /// Stores a freshly minted entry. The slot must be empty: a slot is minted once.
    pub fn insert(&self, slot: u32, entry: SlotEntry) {
        let chunk_index = (slot / CHUNK_SLOTS) as usize;
        let within = (slot % CHUNK_SLOTS) as usize;
        {
            let chunks = self.chunks.read();
            if let Some(Some(chunk)) = chunks.get(chunk_index) {
                let previous = chunk[within].swap(entry.bits(), Ordering::AcqRel);
                assert_eq!(previous, 0, "slot {slot} of day {} minted twice", self.day);
                return;
            }
        }
        let mut chunks = self.chunks.write();
        if chunks.len() <= chunk_index {
            chunks.resize_with(chunk_index + 1, || None);
        }
        let chunk = chunks[chunk_index].get_or_insert_with(new_chunk);
        let previous = chunk[within].swap(entry.bits(), Ordering::AcqRel);
        assert_eq!(previous, 0, "slot {slot} of day {} minted twice", self.day);
    }

    /// Sets the claimed bit; returns false if it was already set (a double claim, which
    /// the program lock must make impossible).
    pub fn claim(&self, slot: u32) -> bool {
        let chunks = self.chunks.read();
        let Some(Some(chunk)) = chunks.get((slot / CHUNK_SLOTS) as usize) else {
            return false;
        };
        chunk[(slot % CHUNK_SLOTS) as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                let entry = SlotEntry::from_bits(bits);
                (entry.is_present() && !entry.is_claimed()).then_some(bits | SlotEntry::CLAIMED_BIT)
            })
            .is_ok()
    }

    /// Bytes allocated for this day's chunks.
    pub fn allocated_bytes(&self) -> u64 {
        self.chunks.read().iter().flatten().count() as u64 * CHUNK_BYTES
    }

    /// A partition rebuilt from a checkpoint: `chunks[i]` holds slots
    /// `i * CHUNK_SLOTS..(i + 1) * CHUNK_SLOTS`, `None` where none was ever minted.
    pub(crate) fn from_chunks(day: u32, chunks: Vec<Option<Chunk>>) -> Partition {
        assert!(
            chunks
                .iter()
                .flatten()
                .all(|chunk| chunk.len() == CHUNK_SLOTS as usize),
            "a restored chunk of day {day} is not {CHUNK_SLOTS} slots"
        );
        Partition {
            day,
            chunks: RwLock::new(chunks),
        }
    }

    /// Calls `visit` with the number and slots of every allocated chunk, in order, under
    /// the table's read lock: a checkpoint writes each chunk whole, as it is in memory.
    pub(crate) fn visit_chunks<E>(
        &self,
        mut visit: impl FnMut(u32, &[AtomicU64]) -> Result<(), E>,
    ) -> Result<(), E> {
        let chunks = self.chunks.read();
        for (number, chunk) in chunks.iter().enumerate() {
            if let Some(chunk) = chunk {
                visit(number as u32, chunk)?;
            }
        }
        Ok(())
    }

    /// Number of allocated chunks.
    pub(crate) fn allocated_chunks(&self) -> usize {
        self.chunks.read().iter().flatten().count()
    }
}

fn new_chunk() -> Chunk {
    (0..CHUNK_SLOTS).map(|_| AtomicU64::new(0)).collect()
}

/// A chunk holding `bits`, which must be exactly [`CHUNK_SLOTS`] values.
pub(crate) fn chunk_from_bits(bits: impl Iterator<Item = u64>) -> Chunk {
    let chunk: Chunk = bits.map(AtomicU64::new).collect();
    assert_eq!(
        chunk.len(),
        CHUNK_SLOTS as usize,
        "a chunk of the wrong size"
    );
    chunk
}

/// All partitions, by UTC day.
#[derive(Default)]
pub struct ClaimIndex {
    partitions: RwLock<HashMap<u32, Arc<Partition>>>,
}

impl ClaimIndex {
    /// The partition of `day`, if any click was minted that day.
    pub fn partition(&self, day: u32) -> Option<Arc<Partition>> {
        self.partitions.read().get(&day).cloned()
    }

    /// The partition of `day`, created empty if needed.
    pub fn partition_or_create(&self, day: u32) -> Arc<Partition> {
        if let Some(partition) = self.partition(day) {
            return partition;
        }
        self.partitions
            .write()
            .entry(day)
            .or_insert_with(|| Arc::new(Partition::new(day)))
            .clone()
    }

    /// Stores a freshly minted entry in `slot` of `day`, creating the day's partition
    /// on its first click.
    pub fn insert(&self, day: u32, slot: u32, entry: SlotEntry) {
        if let Some(partition) = self.partitions.read().get(&day) {
            partition.insert(slot, entry);
            return;
        }
        self.partition_or_create(day).insert(slot, entry);
    }

    /// The entry of an ID (its tag already verified), [`SlotEntry::EMPTY`] if unknown.
    pub fn get(&self, id: &ClickId) -> SlotEntry {
        match self.partitions.read().get(&id.time().day()) {
            Some(partition) => partition.get(id.slot()),
            None => SlotEntry::EMPTY,
        }
    }

    /// Sets the claimed bit of a known ID; false if it was unknown or already claimed.
    pub fn claim(&self, id: &ClickId) -> bool {
        self.partition(id.time().day())
            .is_some_and(|partition| partition.claim(id.slot()))
    }

    /// Every partition, ordered by day.
    pub(crate) fn partitions_by_day(&self) -> Vec<Arc<Partition>> {
        let mut partitions: Vec<Arc<Partition>> =
            self.partitions.read().values().cloned().collect();
        partitions.sort_by_key(|partition| partition.day);
        partitions
    }

    /// Adds a partition restored from a checkpoint; its day must be new.
    pub(crate) fn restore(&self, partition: Partition) {
        let day = partition.day;
        let previous = self.partitions.write().insert(day, Arc::new(partition));
        assert!(previous.is_none(), "day {day} restored twice");
    }

    /// Drops, whole, every partition of a day before `day` (retention); returns how many.
    /// Their memory is freed once no reader holds them.
    pub(crate) fn drop_days_before(&self, day: u32) -> usize {
        let mut partitions = self.partitions.write();
        let before = partitions.len();
        partitions.retain(|kept, _| *kept >= day);
        before - partitions.len()
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.partitions.read().len()
    }

    /// Bytes allocated for all slot tables.
    pub fn allocated_bytes(&self) -> u64 {
        self.partitions
            .read()
            .values()
            .map(|partition| partition.allocated_bytes())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{ClickKind, PartnerId, ProgramId};

    #[test]
    fn chunks_are_allocated_only_where_slots_are_used() {
        let partition = Partition::new(1);
        let entry = SlotEntry::minted(ProgramId(1), PartnerId(2), ClickKind::Click);
        partition.insert(3 * CHUNK_SLOTS + 5, entry);
        assert_eq!(partition.allocated_bytes(), CHUNK_BYTES);
        assert_eq!(partition.get(3 * CHUNK_SLOTS + 5), entry);
        assert_eq!(partition.get(5), SlotEntry::EMPTY);
        assert_eq!(partition.get(u32::MAX), SlotEntry::EMPTY);
    }

    #[test]
    fn a_slot_is_claimed_once() {
        let partition = Partition::new(1);
        partition.insert(
            7,
            SlotEntry::minted(ProgramId(1), PartnerId(2), ClickKind::Click),
        );
        assert!(partition.claim(7));
        assert!(!partition.claim(7));
        assert!(partition.get(7).is_claimed());
        assert!(!partition.claim(8), "an empty slot cannot be claimed");
    }

    #[test]
    #[should_panic(expected = "minted twice")]
    fn minting_a_slot_twice_is_a_bug_caught_by_an_assertion() {
        let partition = Partition::new(1);
        let entry = SlotEntry::minted(ProgramId(1), PartnerId(2), ClickKind::Click);
        partition.insert(7, entry);
        partition.insert(7, entry);
    }
}
