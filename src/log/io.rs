//! The file operations under the log writer, and a simulated disk to break them.
//!
//! Every write, sync, creation and rename the log makes while a ledger runs goes through
//! [`Io`]. In production it is [`Io::Os`]: a match on the variant, then the plain
//! `std::fs` call, paid once per batch of records rather than per record. Tests pass
//! [`Io::Simulated`] with a [`SimulatedDisk`], which performs the same operations on the
//! real files but can also
//!
//! - fail them on demand: a full disk (`ENOSPC`, with a short write first), a write
//!   error, an `fdatasync` error, a failed file creation;
//! - model a power loss: it remembers which bytes and directory entries were synced and,
//!   on [`SimulatedDisk::cut_power`], throws away what was not (files whose entry was
//!   never synced vanish, renames not synced are undone, unsynced appends are cut, with
//!   a torn partial page left behind by chance), then fails every later operation, as a
//!   machine without power does.
//!
//! What an open does to repair the log (cutting a torn tail, rewriting a header) uses
//! `std::fs` directly: it runs before any record is accepted, and syncs what it changes.
//!
//! ```
//! use clickledger::log::io::{Io, SimulatedDisk};
//! let disk = SimulatedDisk::new(7);
//! let io = Io::Simulated(disk.clone());
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("f");
//! let mut file = io.create_new(&path).unwrap();
//! io.write_all(&mut file, &path, b"synced").unwrap();
//! io.sync_data(&file, &path).unwrap();
//! io.sync_dir(dir.path()).unwrap();
//! io.write_all(&mut file, &path, b" lost").unwrap();
//! disk.cut_power();
//! let kept = std::fs::read(&path).unwrap();
//! assert!(kept.starts_with(b"synced") && kept.len() <= 11);
//! assert!(io.sync_data(&file, &path).is_err(), "no power, no sync");
//! ```

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

/// The page size a torn write is modelled with: a power loss may keep part of the last
/// page being written.
pub const PAGE_BYTES: u64 = 4096;

/// Where the log's file operations go. Cloning shares the same disk.
#[derive(Clone, Debug, Default)]
pub enum Io {
    /// The operating system, directly.
    #[default]
    Os,
    /// A [`SimulatedDisk`] that can inject faults and model power loss (tests).
    Simulated(Arc<SimulatedDisk>),
}

impl Io {
    /// Creates a new file for appending; fails if it exists.
    pub fn create_new(&self, path: &Path) -> io::Result<File> {
        match self {
            Io::Os => File::options().create_new(true).append(true).open(path),
            Io::Simulated(disk) => disk.create(path, true),
        }
    }

    /// Creates or truncates a file for writing.
    pub fn create_truncate(&self, path: &Path) -> io::Result<File> {
        match self {
            Io::Os => File::create(path),
            Io::Simulated(disk) => disk.create(path, false),
        }
    }

    /// Opens an existing file to append to it.
    pub fn open_append(&self, path: &Path) -> io::Result<File> {
        match self {
            Io::Os => File::options().append(true).open(path),
            Io::Simulated(disk) => disk.open_append(path),
        }
    }

    /// Writes all of `bytes` at the end of `file`.
    pub fn write_all(&self, file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
        match self {
            Io::Os => file.write_all(bytes),
            Io::Simulated(disk) => disk.write_all(file, path, bytes),
        }
    }

    /// `fdatasync`: the file's data is durable when this returns `Ok`.
    pub fn sync_data(&self, file: &File, path: &Path) -> io::Result<()> {
        match self {
            Io::Os => file.sync_data(),
            Io::Simulated(disk) => disk.sync(file, path),
        }
    }

    /// Renames `from` to `to`, replacing `to`.
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self {
            Io::Os => fs::rename(from, to),
            Io::Simulated(disk) => disk.rename(from, to),
        }
    }

    /// Makes the entries of `dir` (files created or renamed in it) durable.
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self {
            Io::Os => File::open(dir).and_then(|handle| handle.sync_all()),
            Io::Simulated(disk) => disk.sync_dir(dir),
        }
    }
}

/// Faults a [`SimulatedDisk`] injects, set with [`SimulatedDisk::set_faults`].
///
/// ```
/// let faults = clickledger::log::io::Faults { fail_syncs: true, ..Default::default() };
/// assert!(!faults.fail_writes);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// The disk is full once this many more bytes are written: the write that crosses
    /// the limit writes what fits, then fails with `ENOSPC`.
    pub space_left_bytes: Option<u64>,
    /// Every write fails with an I/O error, writing nothing.
    pub fail_writes: bool,
    /// Every `fdatasync` (and directory sync) fails with an I/O error.
    pub fail_syncs: bool,
    /// Every file creation fails with an I/O error.
    pub fail_creates: bool,
    /// The power is cut right after this many more writes, before anything else: the
    /// last write reached the disk's cache but was never synced. Retrieve what the cut
    /// dropped with [`SimulatedDisk::power_loss`].
    pub power_cut_after_writes: Option<u64>,
}

/// What a [`SimulatedDisk::cut_power`] threw away.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PowerLoss {
    /// Files removed: created, but their directory entry was never synced.
    pub files_removed: Vec<PathBuf>,
    /// Renames undone: the directory was not synced after them.
    pub renames_undone: Vec<PathBuf>,
    /// Files cut back: (file, bytes kept beyond the synced length, bytes dropped).
    pub files_cut: Vec<(PathBuf, u64, u64)>,
}

/// A disk that performs operations on real files, remembers what was synced, and can
/// fail or lose power (see the module doc). Thread-safe; every operation is serialized
/// by one lock, so a power cut falls between two operations, never inside one.
#[derive(Debug)]
pub struct SimulatedDisk {
    state: Mutex<DiskState>,
}

#[derive(Debug)]
struct DiskState {
    faults: Faults,
    powered: bool,
    files: HashMap<PathBuf, FileState>,
    /// Drives the torn-write model; a seed makes a run repeatable.
    random: u64,
    /// `fdatasync`s of files that succeeded.
    file_syncs: u64,
    /// What the power cut dropped, once it happened.
    power_loss: Option<PowerLoss>,
}

#[derive(Debug, Clone)]
struct FileState {
    /// Bytes written through the disk (the file's length as the process sees it).
    len: u64,
    /// Bytes known durable: the length at the last sync.
    synced_len: u64,
    /// The file's directory entry is durable.
    entry_synced: bool,
    /// For a file renamed over another while the entry is not yet synced: the content
    /// the target had before (`None`: it did not exist), restored by a power loss.
    replaced: Option<Option<Vec<u8>>>,
}

impl SimulatedDisk {
    /// A powered disk without faults; `seed` drives the torn-write model.
    pub fn new(seed: u64) -> Arc<SimulatedDisk> {
        Arc::new(SimulatedDisk {
            state: Mutex::new(DiskState {
                faults: Faults::default(),
                powered: true,
                files: HashMap::new(),
                random: seed ^ 0x9e37_79b9_7f4a_7c15,
                file_syncs: 0,
                power_loss: None,
            }),
        })
    }

    /// How many file `fdatasync`s succeeded so far (directory syncs excluded).
    pub fn file_syncs(&self) -> u64 {
        self.state.lock().file_syncs
    }

    /// Replaces the faults injected from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().faults = faults;
    }

    /// Loses power: throws away every byte, file and rename not yet synced (keeping, by
    /// chance, a torn part of the unsynced bytes of each file, cut inside a page), then
    /// fails every later operation. Files the disk never touched count as synced.
    pub fn cut_power(&self) -> PowerLoss {
        self.state.lock().cut_power()
    }

    /// What the power cut dropped, if the power is off.
    pub fn power_loss(&self) -> Option<PowerLoss> {
        self.state.lock().power_loss.clone()
    }

    fn create(&self, path: &Path, exclusive: bool) -> io::Result<File> {
        let mut state = self.state.lock();
        state.check_powered()?;
        if state.faults.fail_creates {
            return Err(injected("file creation"));
        }
        let file = if exclusive {
            File::options().create_new(true).append(true).open(path)?
        } else {
            File::create(path)?
        };
        let previous = state.files.remove(path);
        // Truncating an existing file whose entry is durable keeps the entry durable.
        let entry_synced = !exclusive && previous.is_none_or(|file| file.entry_synced);
        state.files.insert(
            path.to_owned(),
            FileState {
                len: 0,
                synced_len: 0,
                entry_synced,
                replaced: None,
            },
        );
        Ok(file)
    }

    fn open_append(&self, path: &Path) -> io::Result<File> {
        let mut state = self.state.lock();
        state.check_powered()?;
        let file = File::options().append(true).open(path)?;
        state.known(path)?;
        Ok(file)
    }

    fn write_all(&self, file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_powered()?;
        if state.faults.fail_writes {
            return Err(injected("write"));
        }
        let fits = match state.faults.space_left_bytes {
            Some(left) => bytes.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => bytes.len(),
        };
        file.write_all(&bytes[..fits])?;
        state.known(path)?.len += fits as u64;
        if let Some(left) = &mut state.faults.space_left_bytes {
            *left -= fits as u64;
        }
        if fits < bytes.len() {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        if let Some(writes) = &mut state.faults.power_cut_after_writes {
            *writes = writes.saturating_sub(1);
            if *writes == 0 {
                state.cut_power();
            }
        }
        Ok(())
    }

    fn sync(&self, file: &File, path: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_powered()?;
        if state.faults.fail_syncs {
            return Err(injected("fdatasync"));
        }
        file.sync_data()?;
        state.file_syncs += 1;
        let known = state.known(path)?;
        known.synced_len = known.len;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_powered()?;
        let before = match fs::read(to) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        fs::rename(from, to)?;
        let mut moved = state.files.remove(from).unwrap_or(FileState {
            len: 0,
            synced_len: 0,
            entry_synced: true,
            replaced: None,
        });
        moved.len = fs::metadata(to)?.len();
        moved.synced_len = moved.synced_len.min(moved.len);
        moved.entry_synced = false;
        moved.replaced = Some(before);
        state.files.insert(to.to_owned(), moved);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.state.lock();
        state.check_powered()?;
        if state.faults.fail_syncs {
            return Err(injected("directory sync"));
        }
        File::open(dir)?.sync_all()?;
        for (path, file) in state.files.iter_mut() {
            if path.parent() == Some(dir) {
                file.entry_synced = true;
                file.replaced = None;
            }
        }
        Ok(())
    }
}

impl DiskState {
    fn cut_power(&mut self) -> PowerLoss {
        self.powered = false;
        let mut report = PowerLoss::default();
        let mut paths: Vec<PathBuf> = self.files.keys().cloned().collect();
        paths.sort();
        for path in paths {
            let file = self.files[&path].clone();
            if !file.entry_synced {
                undo_entry(&path, &file, &mut report);
                continue;
            }
            let unsynced = file.len.saturating_sub(file.synced_len);
            if unsynced == 0 {
                continue;
            }
            let kept = self.torn_length(unsynced);
            let _ = truncate(&path, file.synced_len + kept);
            report.files_cut.push((path.clone(), kept, unsynced - kept));
        }
        self.power_loss = Some(report.clone());
        report
    }

    fn check_powered(&self) -> io::Result<()> {
        if self.powered {
            Ok(())
        } else {
            Err(io::Error::other("simulated disk: the power is off"))
        }
    }

    /// The state of `path`, first seen now if the disk did not create it: then its
    /// current content and entry count as synced.
    fn known(&mut self, path: &Path) -> io::Result<&mut FileState> {
        if !self.files.contains_key(path) {
            let len = fs::metadata(path)?.len();
            self.files.insert(
                path.to_owned(),
                FileState {
                    len,
                    synced_len: len,
                    entry_synced: true,
                    replaced: None,
                },
            );
        }
        Ok(self.files.get_mut(path).expect("inserted above"))
    }

    /// How many of `unsynced` bytes a power loss keeps: none, all, or a torn prefix that
    /// ends inside a page, each about a third of the time.
    fn torn_length(&mut self, unsynced: u64) -> u64 {
        match self.next_random() % 3 {
            0 => 0,
            1 => unsynced,
            _ => {
                let within = unsynced.min(PAGE_BYTES);
                self.next_random() % (within + 1)
            }
        }
    }

    /// splitmix64: small, and enough to vary the torn length between runs.
    fn next_random(&mut self) -> u64 {
        self.random = self.random.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.random;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }
}

/// Undoes a file whose directory entry never became durable: a created file vanishes,
/// a rename puts back what the target held.
fn undo_entry(path: &Path, file: &FileState, report: &mut PowerLoss) {
    match &file.replaced {
        Some(Some(before)) => {
            let _ = fs::write(path, before);
            report.renames_undone.push(path.to_owned());
        }
        Some(None) | None => {
            let _ = fs::remove_file(path);
            report.files_removed.push(path.to_owned());
        }
    }
}

fn truncate(path: &Path, len: u64) -> io::Result<()> {
    File::options().write(true).open(path)?.set_len(len)
}

fn injected(operation: &str) -> io::Error {
    io::Error::other(format!("simulated disk: injected {operation} failure"))
}
