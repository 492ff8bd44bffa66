//! Checkpoints of a ledger: taking one consistently, and starting an open from one.
//!
//! A checkpoint must give, with the log after its position, exactly the state a full
//! replay gives. Every change of state is made under a lock the checkpoint also takes: a
//! click under the writer, a conversion under its program's lock (from its decision to
//! its conversion table), a program or partner under the registry's write lock. So the
//! checkpoint takes every program lock (in number order), then the registry to read,
//! then the writer, the ledger's lock order; with all of them held nothing moves. It
//! syncs the log (a checkpoint must never name a position the log could lose), notes
//! the position, applies retention and gathers everything but the slot tables (the
//! registry, conversions, reservations, counters), then lets go.
//!
//! The slot tables, nearly all of the bytes, are written after the ledger resumed. Their
//! entries only ever change one way (a slot is minted, then claimed), and each change is
//! logged before it is made. So the tables as copied hold the state at the position,
//! plus some clicks and claims logged after it; the checkpoint then takes the writer
//! once more, syncs, and notes that second position in its trailer. An open replays the
//! records between the two leniently (a click or claim already in the tables is no
//! contradiction) and everything after strictly, which rebuilds the exact state.
//!
//! Clicks and claims wait only for the two syncs and the gathering, whose cost grows
//! with the conversions kept, not the clicks: [`super::CheckpointReport::blocked_us`].

use std::time::Instant;

use parking_lot::MutexGuard;

use super::*;
use crate::checkpoint::{
    self, CheckpointReport, Loaded, Meta, SkippedCheckpoint, StoredConversion,
};
use crate::log::{LogPosition, ReplayFrom};
use crate::registry::ProgramState;

impl Ledger {
    /// Writes a checkpoint: the whole in-memory state with the log position it matches,
    /// so that the next open loads it and replays only the log after it. With
    /// [`Options::retention_days`], days past the retention are dropped first, and log
    /// segments no kept checkpoint needs are removed after.
    ///
    /// Clicks and claims wait for two log syncs and while the registry and conversions
    /// are gathered, not while the slot tables are written (see the module
    /// `ledger::checkpointing` and [`CheckpointReport::blocked_us`]). The two newest
    /// checkpoints are kept; checkpoints are taken one at a time.
    ///
    /// ```
    /// use clickledger::{ClickKind, Ledger, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ledger = Ledger::open(dir.path(), Default::default()).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let id = ledger.record_click(program, "a7", ClickKind::Click, Timestamp::now()).unwrap();
    /// let report = ledger.checkpoint().unwrap();
    /// drop(ledger);
    ///
    /// let reopened = Ledger::open(dir.path(), Default::default()).unwrap();
    /// assert_eq!(reopened.recovery().checkpoint.as_ref(), Some(&report.path));
    /// assert_eq!(reopened.recovery().records, 0, "nothing after the checkpoint");
    /// assert_eq!(reopened.click(&id).unwrap().partner, "a7");
    /// ```
    pub fn checkpoint(&self) -> Result<CheckpointReport, LedgerError> {
        self.checkpoint_at(Timestamp::now())
    }

    /// [`Ledger::checkpoint`], with retention measured from `now` rather than the
    /// clock (for tests, replays of past traffic, and tools that drive a ledger on a
    /// simulated clock). An earlier `now` than before does not bring back days already
    /// dropped.
    ///
    /// ```
    /// use clickledger::{ClickKind, Ledger, Options, ProgramSettings, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let options = Options { retention_days: Some(7), ..Options::default() };
    /// let ledger = Ledger::open(dir.path(), options).unwrap();
    /// let program = ledger.register_program(ProgramSettings::new("p1")).unwrap().id;
    /// let clicked = Timestamp::parse_rfc3339("2025-03-01T10:00:00Z").unwrap();
    /// let id = ledger.record_click(program, "a7", ClickKind::Click, clicked).unwrap();
    ///
    /// let report = ledger.checkpoint_at(clicked.plus_seconds(9 * 86_400)).unwrap();
    /// assert_eq!(report.partitions_dropped, 1);
    /// assert!(ledger.click(&id).is_none(), "its day was dropped");
    /// ```
    pub fn checkpoint_at(&self, now: Timestamp) -> Result<CheckpointReport, LedgerError> {
        let started = Instant::now();
        if self.options.read_only {
            return Err(LogError::ReadOnly {
                segment: self.dir.join(checkpoint::CHECKPOINT_DIR_NAME),
            }
            .into());
        }
        let _one_at_a_time = self.checkpointing.lock();
        let frozen_from = Instant::now();
        let frozen = self.freeze(now)?;
        let mut blocked = frozen_from.elapsed();

        let unfinished = checkpoint::write_temporary(
            &self.dir,
            secret::frame_seed(&self.id_key),
            frozen.position,
            frozen.earlier_segments_bytes,
            &frozen.meta,
            &frozen.partitions,
        )?;
        let synced_from = Instant::now();
        let tables_until = {
            let mut writer = self.writer.lock();
            writer.log.sync()?;
            writer.log.position().0
        };
        blocked += synced_from.elapsed();
        let (path, position, bytes) = checkpoint::publish(unfinished.finish(tables_until)?)?;
        let (kept, checkpoints_removed) = checkpoint::prune(&self.dir, position)?;
        let segments_removed = match (self.options.retention_days, kept.first()) {
            (Some(_), Some(oldest)) => remove_segments_before(&self.dir, oldest.segment)?,
            _ => 0,
        };
        #[cfg(feature = "tracing")]
        tracing::info!(path = %path.display(), bytes, blocked_us = blocked.as_micros() as u64, segments_removed, "checkpoint written");
        Ok(CheckpointReport {
            path,
            position,
            bytes,
            blocked_us: blocked.as_micros() as u64,
            elapsed_us: started.elapsed().as_micros() as u64,
            partitions_dropped: frozen.partitions_dropped as u64,
            checkpoints_removed,
            segments_removed,
        })
    }

    /// Holds every lock (see the module's documentation) to sync the log, note the
    /// position, apply retention and gather everything but the slot tables.
    fn freeze(&self, now: Timestamp) -> Result<Frozen, LedgerError> {
        let programs: Vec<Arc<ProgramEntry>> = self.registry.read().programs().to_vec();
        let states: Vec<MutexGuard<'_, ProgramState>> = programs
            .iter()
            .map(|program| program.state.lock())
            .collect();
        let registry = self.registry.read();
        if registry.programs().len() != programs.len() {
            // A program registered between the listing and the registry lock has no lock
            // held: start again with it.
            drop((registry, states));
            return self.freeze(now);
        }
        let mut writer = self.writer.lock();
        writer.log.sync()?;
        let (position, earlier_segments_bytes) = writer.log.position();
        let partitions_dropped = match self.options.retention_days {
            Some(days) => self.drop_days_before(retention_cutoff(now, days)),
            None => 0,
        };
        Ok(Frozen {
            position,
            earlier_segments_bytes,
            meta: self.meta(&registry, &programs, &states, &writer),
            partitions: self.index.partitions_by_day(),
            partitions_dropped,
        })
    }

    /// Drops the partitions of days before `day`; called with every lock held.
    fn drop_days_before(&self, day: u32) -> usize {
        let before = self.dropped_before.load(Ordering::Acquire).max(day);
        self.dropped_before.store(before, Ordering::Release);
        self.index.drop_days_before(before)
    }

    /// Everything but the slot tables, read under every lock.
    fn meta(
        &self,
        registry: &Registry,
        programs: &[Arc<ProgramEntry>],
        states: &[MutexGuard<'_, ProgramState>],
        writer: &Writer,
    ) -> Meta {
        let mut reservations: Vec<(u32, u32)> = writer
            .days
            .iter()
            .map(|(day, mint)| (*day, mint.reserved_end))
            .collect();
        reservations.sort_unstable();
        let conversions_kept = states
            .iter()
            .flat_map(|state| state.conversions())
            .map(|conversion| StoredConversion {
                record: stored_record(conversion),
                partner: conversion.partner.clone(),
            })
            .collect();
        Meta {
            last_conversion: writer.next_conversion - 1,
            clicks: self.counters.clicks.load(Ordering::Relaxed),
            impressions: self.counters.impressions.load(Ordering::Relaxed),
            conversions: self.counters.conversions.load(Ordering::Relaxed),
            claimed_ids: self.counters.claimed_ids.load(Ordering::Relaxed),
            dropped_before_day: self.dropped_before.load(Ordering::Acquire),
            reservations,
            programs: programs
                .iter()
                .map(|program| ProgramRecord {
                    id: program.id,
                    // The current key: a rotation replaced the one it was registered with.
                    key_sha256: registry
                        .key_digest_of(program.id)
                        .expect("every listed program is registered"),
                    settings: program.settings.clone(),
                })
                .collect(),
            partners: (0..registry.partner_count() as u32)
                .filter_map(|id| registry.partner_name(PartnerId(id)).map(str::to_owned))
                .collect(),
            conversions_kept,
        }
    }
}

/// What a checkpoint gathered with every lock held.
struct Frozen {
    position: LogPosition,
    earlier_segments_bytes: u64,
    meta: Meta,
    /// The partitions then; their tables are read after the locks are released.
    partitions: Vec<Arc<crate::index::Partition>>,
    partitions_dropped: usize,
}

/// A kept conversion as its log record: what replay rebuilds it from.
fn stored_record(conversion: &Conversion) -> ConversionRecord {
    ConversionRecord {
        id: conversion.id.0,
        program: conversion.program,
        at: conversion.at.unix(),
        order: conversion.order.clone(),
        attributed: *conversion.attributed_click.as_bytes(),
        verdicts: logged_verdicts(&conversion.verdicts),
    }
}

/// Removes the checkpoints taken after `cut`, where a point-in-time recovery cut the
/// log: their state holds records the log no longer has, so an open must never start
/// from them. Returns the files removed.
pub(super) fn remove_checkpoints_after(
    data_dir: &Path,
    cut: LogPosition,
) -> Result<Vec<PathBuf>, LedgerError> {
    let mut removed = Vec::new();
    for (position, path) in checkpoint::list(data_dir)? {
        if position > cut {
            std::fs::remove_file(&path).map_err(|source| LogError::io("remove", &path, source))?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        log::segment::sync_dir(&checkpoint::checkpoint_dir(data_dir))?;
    }
    Ok(removed)
}

/// Removes the log segments numbered below `first_needed`, oldest first, so that a
/// crash midway leaves the log whole from some segment on.
fn remove_segments_before(data_dir: &Path, first_needed: u32) -> Result<u64, LedgerError> {
    let log_dir = data_dir.join(log::segment::LOG_DIR_NAME);
    let mut removed = 0;
    for (number, path) in log::segment::list_segments(&log_dir)? {
        if number >= first_needed {
            break;
        }
        std::fs::remove_file(&path).map_err(|source| LogError::io("remove", &path, source))?;
        removed += 1;
    }
    if removed > 0 {
        log::segment::sync_dir(&log_dir)?;
    }
    Ok(removed)
}

/// The state an open starts from, where its replay starts, and the checkpoints it
/// skipped: the newest checkpoint that loads and whose log is still there, or an empty
/// state and a full replay. `full_replay` prefers a full replay whenever the log still
/// starts at segment 1.
pub(super) fn newest_usable(
    dir: &Path,
    id_key: &IdKey,
    shard: u8,
    existing: bool,
    full_replay: bool,
) -> Result<(ReplayState, Option<ReplayFrom>, Vec<SkippedCheckpoint>), LedgerError> {
    let mut skipped = Vec::new();
    if !existing {
        // A ledger being created has no checkpoint of its own: anything in the directory
        // was left by another ledger, and is ignored.
        return Ok((ReplayState::new(id_key.clone(), shard), None, skipped));
    }
    let seed = secret::frame_seed(id_key);
    let first_segment = log::segment::list_segments(&dir.join(log::segment::LOG_DIR_NAME))
        .ok()
        .and_then(|segments| segments.first().map(|(number, _)| *number));
    if full_replay && first_segment.is_none_or(|first| first == 1) {
        return Ok((ReplayState::new(id_key.clone(), shard), None, skipped));
    }
    for (position, path) in checkpoint::list(dir)?.into_iter().rev() {
        let usable = match first_segment {
            Some(first) if position.segment < first => Err(format!(
                "it starts its replay in segment {}, which is gone (the log starts at {first})",
                position.segment
            )),
            _ => checkpoint::load(&path, position, seed)
                .and_then(|loaded| ReplayState::from_checkpoint(id_key, shard, loaded)),
        };
        match usable {
            Ok((state, earlier_segments_bytes, durable_until)) => {
                let from = ReplayFrom {
                    checkpoint: path,
                    position,
                    earlier_segments_bytes,
                    durable_until,
                };
                return Ok((state, Some(from), skipped));
            }
            Err(problem) => {
                #[cfg(feature = "tracing")]
                tracing::warn!(path = %path.display(), problem, "checkpoint skipped");
                skipped.push(SkippedCheckpoint { path, problem });
            }
        }
    }
    Ok((ReplayState::new(id_key.clone(), shard), None, skipped))
}

impl ReplayState {
    /// The state a checkpoint holds, checked as a replay checks records; also returns
    /// the bytes of the log before the checkpoint's segment, and where its tables end.
    fn from_checkpoint(
        id_key: &IdKey,
        shard: u8,
        loaded: Loaded,
    ) -> Result<(ReplayState, u64, LogPosition), String> {
        let Loaded {
            meta,
            partitions,
            earlier_segments_bytes,
            tables_until,
            ..
        } = loaded;
        let mut state = ReplayState::new(id_key.clone(), shard);
        state.created = true;
        state.dropped_before = meta.dropped_before_day;
        for program in meta.programs {
            state
                .registry
                .add_program(program.id, program.key_sha256, program.settings)?;
        }
        for (number, name) in meta.partners.into_iter().enumerate() {
            let id = u32::try_from(number).map_err(|_| "too many partners".to_owned())?;
            state.registry.add_partner(PartnerId(id), name)?;
        }
        for stored in meta.conversions_kept {
            state.restore_conversion(stored)?;
        }
        for (day, reserved_end) in meta.reservations {
            state.days.insert(
                day,
                DayMint {
                    reserved_end,
                    ..DayMint::default()
                },
            );
        }
        for partition in partitions {
            state.index.restore(partition);
        }
        state.last_conversion = meta.last_conversion;
        let counters = &state.counters;
        counters.clicks.store(meta.clicks, Ordering::Relaxed);
        counters
            .impressions
            .store(meta.impressions, Ordering::Relaxed);
        counters
            .conversions
            .store(meta.conversions, Ordering::Relaxed);
        counters
            .claimed_ids
            .store(meta.claimed_ids, Ordering::Relaxed);
        Ok((state, earlier_segments_bytes, tables_until))
    }

    /// Adds a conversion a checkpoint kept, refusing what its program's table could not
    /// hold (a second conversion of one order, or of one click).
    fn restore_conversion(&mut self, stored: StoredConversion) -> Result<(), String> {
        let program = self
            .registry
            .program(stored.record.program)
            .cloned()
            .ok_or("a kept conversion of an unregistered program")?;
        let conversion = conversion_from_record(stored.record, stored.partner);
        if let Some(id) = repeated_id(&conversion.claimed) {
            return Err(format!("a kept conversion claims {id} twice"));
        }
        let mut state = program.state.lock();
        if state.by_order_id(&conversion.order.order_id).is_some() {
            return Err(format!("order {:?} kept twice", conversion.order.order_id));
        }
        if let Some(id) = conversion
            .claimed
            .iter()
            .find(|id| state.by_claimed_click(id).is_some())
        {
            return Err(format!("click {id} claimed by two kept conversions"));
        }
        state.insert(Arc::new(conversion));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_a_click_at_least_its_days() {
        let clicked = Timestamp::parse_rfc3339("2025-03-01T23:59:59Z").unwrap();
        let day = clicked.day();
        // Seven whole days later its day is still kept; a day after, it is dropped.
        assert!(retention_cutoff(clicked.plus_seconds(7 * 86_400), 7) <= day);
        assert!(retention_cutoff(clicked.plus_seconds(8 * 86_400 + 1), 7) > day);
    }
}
