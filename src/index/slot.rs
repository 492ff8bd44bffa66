//! One slot of a slot table: everything the claim path needs about a click, in 8 bytes.
//!
//! ```text
//! bit 63      present (a click was minted in this slot)
//! bit 62      claimed
//! bit 61      impression (0: click)
//! bits 32-55  program (24 bits)
//! bits 0-31   partner
//! ```

use crate::program::{ClickKind, PartnerId, ProgramId};

const PRESENT_BIT: u64 = 1 << 63;
const CLAIMED_BIT: u64 = 1 << 62;
const IMPRESSION_BIT: u64 = 1 << 61;
const PROGRAM_SHIFT: u32 = 32;

/// Programs are numbered below this (24 bits in a slot).
pub const PROGRAMS_MAX: u32 = 1 << 24;

/// A decoded slot value.
///
/// ```
/// use clickledger::index::slot::SlotEntry;
/// use clickledger::{ClickKind, PartnerId, ProgramId};
/// let entry = SlotEntry::minted(ProgramId(5), PartnerId(9), ClickKind::Click);
/// assert_eq!(SlotEntry::from_bits(entry.bits()), entry);
/// assert!(entry.is_present() && !entry.is_claimed());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SlotEntry(u64);

impl SlotEntry {
    /// An empty slot: never minted (or reserved and lost).
    pub const EMPTY: SlotEntry = SlotEntry(0);

    /// The entry of a freshly minted, unclaimed click.
    pub fn minted(program: ProgramId, partner: PartnerId, kind: ClickKind) -> SlotEntry {
        assert!(program.0 < PROGRAMS_MAX, "program number over 24 bits");
        let kind_bit = match kind {
            ClickKind::Click => 0,
            ClickKind::Impression => IMPRESSION_BIT,
        };
        SlotEntry(
            PRESENT_BIT | kind_bit | u64::from(program.0) << PROGRAM_SHIFT | u64::from(partner.0),
        )
    }

    /// Decodes the raw bits of a slot.
    pub const fn from_bits(bits: u64) -> SlotEntry {
        SlotEntry(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The bit [`crate::index::ClaimIndex`] sets to claim.
    pub const CLAIMED_BIT: u64 = CLAIMED_BIT;

    /// A click was minted here.
    pub const fn is_present(self) -> bool {
        self.0 & PRESENT_BIT != 0
    }

    /// A conversion claimed this click.
    pub const fn is_claimed(self) -> bool {
        self.0 & CLAIMED_BIT != 0
    }

    /// The program that owns the click.
    pub const fn program(self) -> ProgramId {
        ProgramId(((self.0 >> PROGRAM_SHIFT) as u32) & (PROGRAMS_MAX - 1))
    }

    /// The partner credited with the click.
    pub const fn partner(self) -> PartnerId {
        PartnerId(self.0 as u32)
    }

    /// Click or impression.
    pub const fn kind(self) -> ClickKind {
        if self.0 & IMPRESSION_BIT != 0 {
            ClickKind::Impression
        } else {
            ClickKind::Click
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap_at_their_limits() {
        let entry = SlotEntry::minted(
            ProgramId(PROGRAMS_MAX - 1),
            PartnerId(u32::MAX),
            ClickKind::Impression,
        );
        assert_eq!(entry.program(), ProgramId(PROGRAMS_MAX - 1));
        assert_eq!(entry.partner(), PartnerId(u32::MAX));
        assert_eq!(entry.kind(), ClickKind::Impression);
        assert!(!entry.is_claimed());
        let claimed = SlotEntry::from_bits(entry.bits() | SlotEntry::CLAIMED_BIT);
        assert!(claimed.is_claimed());
        assert_eq!(claimed.program(), entry.program());
    }

    #[test]
    fn empty_slot_is_not_present() {
        assert!(!SlotEntry::EMPTY.is_present());
    }
}
