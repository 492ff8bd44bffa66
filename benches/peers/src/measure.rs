//! Running a peer's clients against the stream for a bounded time, and measuring
//! memory and disk.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::workload::{Expect, Ids, Op};
use crate::{Client, Peer};

/// What one timed run gave.
pub struct RunResult {
    /// Claims answered.
    pub ops: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of a claim, in nanoseconds, from the client's call to its answer (for
    /// batched or pipelined peers, the batch's round trip, counted once per claim).
    pub latency: Histogram<u64>,
}

/// Runs `peer`'s clients, each taking the next batch of the stream, until `duration`
/// is over or the stream runs out. Every answer is checked against what the stream
/// expects: a peer that accepts a claimed or unknown ID, or refuses a valid one, fails
/// the run.
pub fn run(peer: &dyn Peer, ids: &Ids, duration: Duration) -> Result<RunResult, String> {
    let setup = peer.setup();
    let next = AtomicU64::new(0);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let results: Vec<Result<(u64, Histogram<u64>), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..setup.clients)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let client = peer.client()?;
                    drive(client, ids, next, deadline, setup.batch)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("a client panicked".into()))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latency = new_histogram();
    let mut ops = 0;
    for result in results {
        let (done, histogram) = result?;
        ops += done;
        latency
            .add(&histogram)
            .map_err(|error| format!("merging latencies: {error}"))?;
    }
    Ok(RunResult {
        ops,
        elapsed,
        latency,
    })
}

/// One client's loop.
fn drive(
    mut client: Box<dyn Client + '_>,
    ids: &Ids,
    next: &AtomicU64,
    deadline: Instant,
    batch: usize,
) -> Result<(u64, Histogram<u64>), String> {
    let mut latency = new_histogram();
    let mut ops: Vec<Op> = Vec::with_capacity(batch);
    let mut answers: Vec<bool> = Vec::with_capacity(batch);
    let mut done = 0;
    while Instant::now() < deadline {
        let first = next.fetch_add(batch as u64, Ordering::Relaxed);
        if first + batch as u64 > ids.ops_max() {
            break;
        }
        ops.clear();
        ops.extend((first..first + batch as u64).map(|sequence| ids.op(sequence)));
        answers.clear();
        let started = Instant::now();
        client.claim(&ops, &mut answers)?;
        let nanoseconds = started.elapsed().as_nanos() as u64;
        check_answers(&ops, &answers)?;
        latency
            .record_n(nanoseconds.max(1), batch as u64)
            .map_err(|error| format!("recording a latency: {error}"))?;
        done += batch as u64;
    }
    Ok((done, latency))
}

fn check_answers(ops: &[Op], answers: &[bool]) -> Result<(), String> {
    if ops.len() != answers.len() {
        return Err(format!("{} answers to {} claims", answers.len(), ops.len()));
    }
    for (op, &accepted) in ops.iter().zip(answers) {
        if accepted != (op.expect == Expect::Unclaimed) {
            return Err(format!(
                "claim {} of a {:?} ID was {}",
                op.sequence,
                op.expect,
                if accepted { "accepted" } else { "refused" }
            ));
        }
    }
    Ok(())
}

fn new_histogram() -> Histogram<u64> {
    // One nanosecond to one minute, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Resident bytes of this process (Linux `/proc/self/statm`).
pub fn own_resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Proportional set size of a server and all its descendants: shared pages (a
/// PostgreSQL cluster's shared buffers) are counted once across the processes.
pub fn process_tree_bytes(root: u32) -> u64 {
    let mut tree = vec![root];
    let mut grew = true;
    let parents = process_parents();
    while grew {
        grew = false;
        for &(pid, parent) in &parents {
            if tree.contains(&parent) && !tree.contains(&pid) {
                tree.push(pid);
                grew = true;
            }
        }
    }
    tree.iter().map(|&pid| proportional_bytes(pid)).sum()
}

fn process_parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may hold spaces; the fields after its ')' do not.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let parent = after_name.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect()
}

fn proportional_bytes(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Bytes allocated on disk for everything under `path`.
pub fn disk_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !metadata.is_dir() {
        return metadata.blocks() * 512;
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| disk_bytes(&entry.path()))
                .sum()
        })
        .unwrap_or(0)
}
