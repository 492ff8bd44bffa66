//! The one workload every peer runs: N stored clicks, a quarter of them claimed during
//! the preload, and a stream of one-ID claims of which half are valid and unclaimed,
//! a quarter already claimed and a quarter unknown.

use clickledger::{IdKey, Timestamp};

/// 2025-03-01T10:00:00Z: every click of the workload is dated here.
pub const CLICKED_UNIX: u32 = 1_740_823_200;

/// What a claim is expected to find.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expect {
    /// Stored and unclaimed: the claim must succeed.
    Unclaimed,
    /// Claimed during the preload: the claim must fail.
    Claimed,
    /// Never stored: the claim must fail.
    Unknown,
}

/// One claim of the stream.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    /// Its position in the stream; peers that need an order id use it.
    pub sequence: u64,
    /// The 12-byte click ID.
    pub id: [u8; 12],
    /// What the claim should find.
    pub expect: Expect,
}

/// The IDs one peer stores, and those it never sees until they are claimed.
pub struct Ids {
    /// Every stored ID; the first quarter is claimed during the preload.
    pub stored: Vec<[u8; 12]>,
    /// IDs of the same shape that are never stored.
    pub unknown: Vec<[u8; 12]>,
}

impl Ids {
    /// `clicks` IDs minted under a fixed key, plus a quarter as many under another key.
    /// Every peer but clickledger stores these; the bytes have clickledger's layout.
    pub fn synthetic(clicks: usize) -> Ids {
        let stored = mint(*b"peers-stored-key", clicks);
        let unknown = mint(*b"peers-unknowns!!", clicks / 4);
        Ids { stored, unknown }
    }

    /// Heap bytes of these lists: part of an embedded peer's resident growth that is
    /// the bench's, not the store's.
    pub fn heap_bytes(&self) -> u64 {
        ((self.stored.capacity() + self.unknown.capacity()) * std::mem::size_of::<[u8; 12]>())
            as u64
    }

    /// The IDs claimed during the preload.
    pub fn preclaimed(&self) -> &[[u8; 12]] {
        &self.stored[..self.stored.len() / 4]
    }

    fn unclaimed(&self) -> &[[u8; 12]] {
        &self.stored[self.stored.len() / 4..]
    }

    /// How many claims the stream holds before it runs out of unclaimed IDs.
    pub fn ops_max(&self) -> u64 {
        self.unclaimed().len() as u64 * 2
    }

    /// Claim number `sequence`: of every four, two unclaimed, one claimed, one unknown.
    pub fn op(&self, sequence: u64) -> Op {
        let round = (sequence / 4) as usize;
        let (id, expect) = match sequence % 4 {
            0 | 1 => (
                self.unclaimed()[round * 2 + (sequence % 4) as usize],
                Expect::Unclaimed,
            ),
            2 => (
                self.preclaimed()[round % self.preclaimed().len()],
                Expect::Claimed,
            ),
            _ => (self.unknown[round % self.unknown.len()], Expect::Unknown),
        };
        Op {
            sequence,
            id,
            expect,
        }
    }
}

fn mint(key: [u8; 16], count: usize) -> Vec<[u8; 12]> {
    let key = IdKey::from_bytes(key);
    let at = Timestamp::from_unix(CLICKED_UNIX);
    (0..count as u32)
        .map(|slot| *key.mint(at, 0, slot).as_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_half_unclaimed_a_quarter_claimed_a_quarter_unknown() {
        let ids = Ids::synthetic(400);
        let ops: Vec<Op> = (0..ids.ops_max())
            .map(|sequence| ids.op(sequence))
            .collect();
        let count = |expect| ops.iter().filter(|op| op.expect == expect).count();
        assert_eq!(count(Expect::Unclaimed), 300);
        assert_eq!(count(Expect::Claimed), 150);
        assert_eq!(count(Expect::Unknown), 150);
        let mut unclaimed: Vec<_> = ops
            .iter()
            .filter(|op| op.expect == Expect::Unclaimed)
            .map(|op| op.id)
            .collect();
        unclaimed.sort();
        unclaimed.dedup();
        assert_eq!(unclaimed.len(), 300, "each unclaimed ID is claimed once");
    }
}
