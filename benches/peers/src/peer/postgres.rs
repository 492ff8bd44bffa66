//! PostgreSQL (Debian's package, a throwaway cluster started by `benches/peers.sh` on
//! loopback): a table of click IDs with a `claimed` flag; a claim is
//! `UPDATE clicks SET claimed = true WHERE id = $1 AND NOT claimed`, accepted when it
//! changed a row. 8 clients; `synchronous_commit` on (sync level) or off (WAL flushed
//! by the WAL writer within a bounded delay: interval level).

use std::io::Write;

use postgres::{Client as Connection, NoTls, Statement};

use crate::measure::process_tree_bytes;
use crate::workload::{Ids, Op};
use crate::{Client, Level, Peer, Server, Setup};

const CLIENTS: usize = 8;
const CLAIM: &str = "UPDATE clicks SET claimed = true WHERE id = $1 AND NOT claimed";

pub struct PostgresPeer {
    server: Server,
    level: Level,
}

impl PostgresPeer {
    pub fn connect(server: Server, level: Level) -> Result<PostgresPeer, String> {
        let peer = PostgresPeer { server, level };
        peer.connection()?
            .batch_execute(
                "DROP TABLE IF EXISTS clicks; \
                 CREATE TABLE clicks (id bytea PRIMARY KEY, claimed boolean NOT NULL)",
            )
            .map_err(pg_error)?;
        Ok(peer)
    }

    fn connection(&self) -> Result<Connection, String> {
        let mut connection = Connection::connect(&self.server.address, NoTls).map_err(pg_error)?;
        let setting = if self.level == Level::Sync {
            "on"
        } else {
            "off"
        };
        connection
            .batch_execute(&format!("SET synchronous_commit = {setting}"))
            .map_err(pg_error)?;
        Ok(connection)
    }
}

impl Peer for PostgresPeer {
    fn setup(&self) -> Setup {
        let setting = if self.level == Level::Sync {
            "on"
        } else {
            "off"
        };
        Setup {
            name: format!("PostgreSQL UPDATE, synchronous_commit {setting}"),
            level: self.level,
            clients: CLIENTS,
            batch: 1,
        }
    }

    fn preload(&mut self, ids: &Ids) -> Result<(), String> {
        let preclaimed = ids.preclaimed().len();
        let mut connection = self.connection()?;
        let mut copy = connection
            .copy_in("COPY clicks (id, claimed) FROM STDIN")
            .map_err(pg_error)?;
        let mut line = String::with_capacity(40);
        for (index, id) in ids.stored.iter().enumerate() {
            line.clear();
            line.push_str("\\\\x");
            for byte in id {
                line.push_str(&format!("{byte:02x}"));
            }
            line.push_str(if index < preclaimed { "\tt\n" } else { "\tf\n" });
            copy.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
        }
        copy.finish().map_err(pg_error)?;
        // One statement per call: VACUUM refuses to run in the implicit transaction
        // of a multi-statement batch.
        for statement in ["VACUUM ANALYZE clicks", "CHECKPOINT"] {
            connection.batch_execute(statement).map_err(pg_error)?;
        }
        Ok(())
    }

    fn client(&self) -> Result<Box<dyn Client + '_>, String> {
        let mut connection = self.connection()?;
        let claim = connection.prepare(CLAIM).map_err(pg_error)?;
        Ok(Box::new(PostgresClient { connection, claim }))
    }

    /// The table and its index: the cluster's own files (catalog, WAL) are not the
    /// clicks' cost.
    fn disk_bytes(&self) -> u64 {
        let Ok(mut connection) = self.connection() else {
            return 0;
        };
        connection
            .query_one("SELECT pg_total_relation_size('clicks')", &[])
            .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64)
    }

    fn resident_bytes(&self) -> u64 {
        process_tree_bytes(self.server.pid)
    }

    fn is_embedded(&self) -> bool {
        false
    }
}

struct PostgresClient {
    connection: Connection,
    claim: Statement,
}

impl Client for PostgresClient {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        for op in ops {
            let changed = self
                .connection
                .execute(&self.claim, &[&&op.id[..]])
                .map_err(pg_error)?;
            answers.push(changed == 1);
        }
        Ok(())
    }
}

/// The server's own message when there is one: `postgres::Error` alone says "db error".
fn pg_error(error: postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("PostgreSQL: {}", db.message()),
        None => error.to_string(),
    }
}
