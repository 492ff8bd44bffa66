//! The data directory's secret: the key that tags minted click IDs and seeds the log's
//! frame CRCs.
//!
//! It is created once, with the directory, and never changes: changing it would turn
//! every ID already handed out into a forgery. File layout (28 bytes): magic
//! `CLKSECR1`, the 16 key bytes, then the CRC32 of the key.

use std::fs;
use std::io::Write;
use std::path::Path;

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::click_id::IdKey;
use crate::log::frame::FrameSeed;
use crate::log::segment::{read_small_file, sync_dir};
use crate::log::LogError;

/// File name of the secret inside the data directory.
pub const SECRET_FILE_NAME: &str = "secret";
/// The secret is written here first, then renamed: a crash can leave this file behind.
pub const SECRET_TEMPORARY_FILE_NAME: &str = "secret.new";
const SECRET_MAGIC: [u8; 8] = *b"CLKSECR1";
const SECRET_FILE_BYTES: usize = 8 + IdKey::BYTES + 4;

/// Reads the secret of `data_dir`; `None` when the directory has none yet.
pub fn load(data_dir: &Path) -> Result<Option<IdKey>, LogError> {
    let path = data_dir.join(SECRET_FILE_NAME);
    match read_small_file(&path, SECRET_FILE_BYTES)? {
        Some(bytes) => parse(&path, &bytes).map(Some),
        None => Ok(None),
    }
}

/// The seed of every frame CRC in the log of the directory whose secret is `key`.
///
/// Derived, not stored: SipHash-2-4 under the key, over a fixed label, so that nobody
/// without the secret can build a frame the log would accept as valid.
///
/// ```
/// use clickledger::{secret::frame_seed, IdKey};
/// let key = IdKey::from_bytes([1; 16]);
/// assert_eq!(frame_seed(&key), frame_seed(&key));
/// assert_ne!(frame_seed(&key), frame_seed(&IdKey::from_bytes([2; 16])));
/// ```
pub fn frame_seed(key: &IdKey) -> FrameSeed {
    let mut hasher = SipHasher24::new_with_key(key.as_bytes());
    hasher.write(b"clickledger frame crc seed");
    FrameSeed(hasher.finish() as u32)
}

/// Draws a new random secret (not yet stored: see [`store`]).
pub fn generate(data_dir: &Path) -> Result<IdKey, LogError> {
    let mut key = [0u8; IdKey::BYTES];
    getrandom::fill(&mut key).map_err(|error| {
        LogError::io(
            "draw random bytes for",
            data_dir,
            std::io::Error::other(error.to_string()),
        )
    })?;
    Ok(IdKey::from_bytes(key))
}

fn parse(path: &Path, bytes: &[u8]) -> Result<IdKey, LogError> {
    let corrupt = |problem: &str| LogError::Corrupt {
        segment: path.to_owned(),
        offset: 0,
        problem: problem.to_owned(),
    };
    if bytes.len() != SECRET_FILE_BYTES || bytes[0..8] != SECRET_MAGIC {
        return Err(corrupt("not a clickledger secret file"));
    }
    let mut key = [0u8; IdKey::BYTES];
    key.copy_from_slice(&bytes[8..8 + IdKey::BYTES]);
    let stored = u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
    if crc32fast::hash(&key) != stored {
        return Err(corrupt("secret file fails its CRC"));
    }
    Ok(IdKey::from_bytes(key))
}

/// Writes the secret atomically: temporary file, sync, rename, sync directory.
///
/// A new ledger stores its secret last, after its log exists: a directory with a secret
/// therefore always had a log, and a secret without one means the log was removed.
pub fn store(data_dir: &Path, key: &IdKey) -> Result<(), LogError> {
    let mut bytes = Vec::with_capacity(SECRET_FILE_BYTES);
    bytes.extend_from_slice(&SECRET_MAGIC);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(&crc32fast::hash(key.as_bytes()).to_le_bytes());

    let temporary = data_dir.join(SECRET_TEMPORARY_FILE_NAME);
    let path = data_dir.join(SECRET_FILE_NAME);
    let mut file = fs::File::create(&temporary)
        .map_err(|source| LogError::io("create", &temporary, source))?;
    file.write_all(&bytes)
        .map_err(|source| LogError::io("write", &temporary, source))?;
    file.sync_all()
        .map_err(|source| LogError::io("sync", &temporary, source))?;
    fs::rename(&temporary, &path).map_err(|source| LogError::io("rename", &temporary, source))?;
    sync_dir(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_secret_loads_back_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let key = generate(dir.path()).unwrap();
        store(dir.path(), &key).unwrap();
        assert_eq!(
            load(dir.path()).unwrap().unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(!dir.path().join("secret.new").exists());
    }

    #[test]
    fn two_generated_secrets_differ() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (generate(dir.path()).unwrap(), generate(dir.path()).unwrap());
        assert_ne!(first.as_bytes(), second.as_bytes());
    }

    #[test]
    fn every_flipped_byte_of_the_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), &IdKey::from_bytes([9; IdKey::BYTES])).unwrap();
        let path = dir.path().join(SECRET_FILE_NAME);
        let bytes = fs::read(&path).unwrap();
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x10;
            fs::write(&path, &damaged).unwrap();
            assert!(
                matches!(load(dir.path()), Err(LogError::Corrupt { .. })),
                "byte {index}"
            );
        }
        fs::write(&path, &bytes[..10]).unwrap();
        assert!(matches!(load(dir.path()), Err(LogError::Corrupt { .. })));
    }
}
