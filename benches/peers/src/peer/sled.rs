//! sled 0.34, the store the design names: one key per click ID, claimed by
//! compare-and-swap of its value from "unclaimed" to "claimed". sled flushes on its own
//! every 500 ms by default, so it compares with clickledger's interval level.

use crate::measure::disk_bytes;
use crate::workload::{Ids, Op};
use crate::{Client, Level, Peer, Setup};

const UNCLAIMED: &[u8] = &[0];
const CLAIMED: &[u8] = &[1];
const CLIENTS: usize = 2;

pub struct SledPeer {
    dir: tempfile::TempDir,
    db: sled::Db,
}

impl SledPeer {
    pub fn open() -> Result<SledPeer, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let db = sled::Config::new()
            .path(dir.path())
            .open()
            .map_err(|error| error.to_string())?;
        Ok(SledPeer { dir, db })
    }
}

impl Peer for SledPeer {
    fn setup(&self) -> Setup {
        Setup {
            name: "sled CAS".into(),
            level: Level::Interval,
            clients: CLIENTS,
            batch: 1,
        }
    }

    fn preload(&mut self, ids: &Ids) -> Result<(), String> {
        let preclaimed = ids.preclaimed().len();
        for chunk in ids.stored.chunks(10_000).enumerate() {
            let (chunk_index, chunk) = chunk;
            let mut batch = sled::Batch::default();
            for (offset, id) in chunk.iter().enumerate() {
                let claimed = chunk_index * 10_000 + offset < preclaimed;
                batch.insert(&id[..], if claimed { CLAIMED } else { UNCLAIMED });
            }
            self.db
                .apply_batch(batch)
                .map_err(|error| error.to_string())?;
        }
        self.db.flush().map_err(|error| error.to_string())?;
        Ok(())
    }

    fn client(&self) -> Result<Box<dyn Client + '_>, String> {
        Ok(Box::new(SledClient { db: &self.db }))
    }

    fn disk_bytes(&self) -> u64 {
        disk_bytes(self.dir.path())
    }
}

struct SledClient<'a> {
    db: &'a sled::Db,
}

impl Client for SledClient<'_> {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        for op in ops {
            let swapped = self
                .db
                .compare_and_swap(&op.id[..], Some(UNCLAIMED), Some(CLAIMED))
                .map_err(|error| error.to_string())?;
            answers.push(swapped.is_ok());
        }
        Ok(())
    }
}
