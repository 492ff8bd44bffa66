//! redb 2: one table from click ID to a claimed flag; a claim reads the flag and sets
//! it in a write transaction, committed durably (fsync), either one transaction per
//! claim or one per batch of claims. A batch's claims are answered at its commit, so
//! both compare with clickledger's sync level.

use redb::{Database, ReadableTable, TableDefinition};

use crate::measure::disk_bytes;
use crate::workload::{Ids, Op};
use crate::{Client, Level, Peer, Setup};

const CLICKS: TableDefinition<&[u8], u8> = TableDefinition::new("clicks");

pub struct RedbPeer {
    dir: tempfile::TempDir,
    db: Database,
    batch: usize,
}

impl RedbPeer {
    /// `batch` claims per write transaction.
    pub fn open(batch: usize) -> Result<RedbPeer, String> {
        let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
        let db = Database::create(dir.path().join("clicks.redb")).map_err(|e| e.to_string())?;
        Ok(RedbPeer { dir, db, batch })
    }
}

impl Peer for RedbPeer {
    fn setup(&self) -> Setup {
        Setup {
            name: format!(
                "redb {} per txn",
                if self.batch == 1 {
                    "1 claim".to_owned()
                } else {
                    format!("{} claims", self.batch)
                }
            ),
            level: Level::Sync,
            // Write transactions are serialized by redb: more clients would only queue.
            clients: 1,
            batch: self.batch,
        }
    }

    fn preload(&mut self, ids: &Ids) -> Result<(), String> {
        let preclaimed = ids.preclaimed().len();
        let transaction = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = transaction.open_table(CLICKS).map_err(|e| e.to_string())?;
            for (index, id) in ids.stored.iter().enumerate() {
                let claimed = u8::from(index < preclaimed);
                table.insert(&id[..], claimed).map_err(|e| e.to_string())?;
            }
        }
        transaction.commit().map_err(|e| e.to_string())
    }

    fn client(&self) -> Result<Box<dyn Client + '_>, String> {
        Ok(Box::new(RedbClient { db: &self.db }))
    }

    fn disk_bytes(&self) -> u64 {
        disk_bytes(self.dir.path())
    }
}

struct RedbClient<'a> {
    db: &'a Database,
}

impl Client for RedbClient<'_> {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        let transaction = self.db.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = transaction.open_table(CLICKS).map_err(|e| e.to_string())?;
            for op in ops {
                let unclaimed = table
                    .get(&op.id[..])
                    .map_err(|e| e.to_string())?
                    .is_some_and(|flag| flag.value() == 0);
                if unclaimed {
                    table.insert(&op.id[..], 1u8).map_err(|e| e.to_string())?;
                }
                answers.push(unclaimed);
            }
        }
        transaction.commit().map_err(|e| e.to_string())
    }
}
