//! Redis (Debian's `redis-server`, started by `benches/peers.sh` on loopback): one key
//! per click ID holding "0" or "1"; a claim is a small Lua script run server-side,
//! so the read and the write are one atomic step. Unpipelined with 50 clients, or
//! pipelined (50 clients, [`PIPELINE_DEPTH`] claims per round trip). With AOF `always`
//! Redis fsyncs before answering (sync level); with `everysec` once a second (interval).

use crate::measure::{disk_bytes, process_tree_bytes};
use crate::workload::{Ids, Op};
use crate::{Client, Level, Peer, Server, Setup};

/// Returns 1 when the ID was stored and unclaimed (and claims it), 0 otherwise.
const CLAIM_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
     if v == '0' then redis.call('SET', KEYS[1], '1') return 1 end return 0";

const CLIENTS: usize = 50;
/// Claims per pipelined round trip.
pub const PIPELINE_DEPTH: usize = 100;
const PRELOAD_BATCH: usize = 10_000;

pub struct RedisPeer {
    server: Server,
    level: Level,
    pipelined: bool,
    client: redis::Client,
    script_sha: String,
}

impl RedisPeer {
    pub fn connect(server: Server, level: Level, pipelined: bool) -> Result<RedisPeer, String> {
        let client = redis::Client::open(format!("redis://{}/", server.address))
            .map_err(|error| error.to_string())?;
        let mut connection = client.get_connection().map_err(|e| e.to_string())?;
        redis::cmd("FLUSHALL")
            .query::<()>(&mut connection)
            .map_err(|e| e.to_string())?;
        let script_sha = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(CLAIM_SCRIPT)
            .query::<String>(&mut connection)
            .map_err(|e| e.to_string())?;
        Ok(RedisPeer {
            server,
            level,
            pipelined,
            client,
            script_sha,
        })
    }
}

impl Peer for RedisPeer {
    fn setup(&self) -> Setup {
        let appendfsync = if self.level == Level::Sync {
            "always"
        } else {
            "everysec"
        };
        let mode = if self.pipelined {
            format!("pipelined x{PIPELINE_DEPTH}")
        } else {
            "unpipelined".to_owned()
        };
        Setup {
            name: format!("Redis AOF {appendfsync}, Lua, {mode}"),
            level: self.level,
            clients: CLIENTS,
            batch: if self.pipelined { PIPELINE_DEPTH } else { 1 },
        }
    }

    fn preload(&mut self, ids: &Ids) -> Result<(), String> {
        let preclaimed = ids.preclaimed().len();
        let mut connection = self.client.get_connection().map_err(|e| e.to_string())?;
        for (chunk_index, chunk) in ids.stored.chunks(PRELOAD_BATCH).enumerate() {
            let mut pipe = redis::pipe();
            for (offset, id) in chunk.iter().enumerate() {
                let claimed = chunk_index * PRELOAD_BATCH + offset < preclaimed;
                pipe.cmd("SET")
                    .arg(&id[..])
                    .arg(if claimed { "1" } else { "0" })
                    .ignore();
            }
            pipe.query::<()>(&mut connection)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn client(&self) -> Result<Box<dyn Client + '_>, String> {
        let connection = self.client.get_connection().map_err(|e| e.to_string())?;
        Ok(Box::new(RedisClient {
            connection,
            script_sha: &self.script_sha,
        }))
    }

    fn disk_bytes(&self) -> u64 {
        disk_bytes(&self.server.dir)
    }

    fn resident_bytes(&self) -> u64 {
        process_tree_bytes(self.server.pid)
    }

    fn is_embedded(&self) -> bool {
        false
    }
}

struct RedisClient<'a> {
    connection: redis::Connection,
    script_sha: &'a str,
}

impl Client for RedisClient<'_> {
    fn claim(&mut self, ops: &[Op], answers: &mut Vec<bool>) -> Result<(), String> {
        if let [op] = ops {
            let claimed: i64 = redis::cmd("EVALSHA")
                .arg(self.script_sha)
                .arg(1)
                .arg(&op.id[..])
                .query(&mut self.connection)
                .map_err(|e| e.to_string())?;
            answers.push(claimed == 1);
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for op in ops {
            pipe.cmd("EVALSHA")
                .arg(self.script_sha)
                .arg(1)
                .arg(&op.id[..]);
        }
        let claimed: Vec<i64> = pipe
            .query(&mut self.connection)
            .map_err(|e| e.to_string())?;
        answers.extend(claimed.into_iter().map(|answer| answer == 1));
        Ok(())
    }
}
