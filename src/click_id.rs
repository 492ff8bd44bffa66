//! Click IDs: the 12-byte identifier minted for every click or impression.
//!
//! An ID is self-describing and self-authenticating. Its layout (see `docs/FORMAT.md`):
//!
//! | bytes | field | meaning |
//! |---|---|---|
//! | 0-3 | `time` | click time, unix seconds, big endian |
//! | 4 | `shard` | the ledger shard that minted it (0 for a single node) |
//! | 5-8 | `slot` | position in the slot table of the click's UTC day, big endian |
//! | 9-11 | `tag` | 24 bits of SipHash-2-4 over bytes 0-8 under the data directory's secret |
//!
//! Because the slot is inside the ID, a valid ID is found with one array index and no
//! hash table. Because the tag is keyed, a mistyped or forged ID is refused before any
//! lookup: [`IdKey::verify`] costs one SipHash of 9 bytes.

use std::fmt;
use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::time::Timestamp;

/// Length of a click ID in bytes.
pub const CLICK_ID_BYTES: usize = 12;

/// Length of a click ID's text form: 24 hexadecimal digits.
pub const CLICK_ID_HEX_LEN: usize = 2 * CLICK_ID_BYTES;

/// Mask of the 24-bit tag kept in bytes 9-11.
const TAG_MASK: u64 = 0x00ff_ffff;

/// A click (or impression) ID: 12 bytes, written as 24 lowercase hex digits.
///
/// ```
/// use clickledger::ClickId;
///
/// let id: ClickId = "603ED1800000000000000000".parse().unwrap();
/// assert_eq!(id.to_string(), "603ed1800000000000000000");
/// assert_eq!(id.time().to_rfc3339(), "2021-03-03T00:00:00Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClickId([u8; CLICK_ID_BYTES]);

/// Where a click lives in the index: see [`ClickId::address`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClickAddress {
    /// UTC day number of the click.
    pub day: u32,
    /// The shard that minted it.
    pub shard: u8,
    /// Its slot in the day's table.
    pub slot: u32,
}

/// Why a text is not a click ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClickIdError {
    /// The text is not exactly 24 characters long.
    #[error("expected {expected} hexadecimal digits, found {found} characters")]
    Length {
        /// Always [`CLICK_ID_HEX_LEN`].
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character is not a hexadecimal digit.
    #[error("expected a hexadecimal digit at position {position}, found {found:?}")]
    NotHex {
        /// Zero-based character position.
        position: usize,
        /// The offending character.
        found: char,
    },
}

impl ClickId {
    /// Builds an ID from its 12 raw bytes, as stored in the log.
    ///
    /// ```
    /// use clickledger::ClickId;
    /// let id = ClickId::from_bytes([0x60, 0x3e, 0xd1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]);
    /// assert_eq!(id.time().unix(), 1_614_729_600);
    /// ```
    pub const fn from_bytes(bytes: [u8; CLICK_ID_BYTES]) -> ClickId {
        ClickId(bytes)
    }

    /// The 12 raw bytes.
    ///
    /// ```
    /// use clickledger::ClickId;
    /// let id: ClickId = "603ed1800000000000000001".parse().unwrap();
    /// assert_eq!(id.as_bytes()[11], 1);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; CLICK_ID_BYTES] {
        &self.0
    }

    /// Parses 24 hexadecimal digits, upper or lower case. Nothing is trimmed.
    ///
    /// ```
    /// use clickledger::{ClickId, ClickIdError};
    /// assert!(ClickId::parse("603ed1800000000000000000").is_ok());
    /// assert_eq!(
    ///     ClickId::parse(" 603ed180000000000000000"),
    ///     Err(ClickIdError::NotHex { position: 0, found: ' ' })
    /// );
    /// ```
    pub fn parse(text: &str) -> Result<ClickId, ClickIdError> {
        let found = text.chars().count();
        if found != CLICK_ID_HEX_LEN {
            return Err(ClickIdError::Length {
                expected: CLICK_ID_HEX_LEN,
                found,
            });
        }
        // Exactly 24 chars; a multi-byte char would have made the byte length differ from
        // the char count, and is caught as a non-hex digit below.
        let mut bytes = [0u8; CLICK_ID_BYTES];
        for (position, found) in text.chars().enumerate() {
            let nibble = found
                .to_digit(16)
                .ok_or(ClickIdError::NotHex { position, found })?;
            // `to_digit(16)` returns at most 15, so the cast is lossless.
            bytes[position / 2] |= (nibble as u8) << if position % 2 == 0 { 4 } else { 0 };
        }
        Ok(ClickId(bytes))
    }

    /// The click time: bytes 0-3, unix seconds.
    ///
    /// ```
    /// use clickledger::ClickId;
    /// let id: ClickId = "603ed1800000000000000000".parse().unwrap();
    /// assert_eq!(id.time().to_rfc3339(), "2021-03-03T00:00:00Z");
    /// ```
    pub fn time(&self) -> Timestamp {
        Timestamp::from_unix(u32::from_be_bytes([
            self.0[0], self.0[1], self.0[2], self.0[3],
        ]))
    }

    /// The shard that minted the ID (byte 4).
    ///
    /// ```
    /// use clickledger::ClickId;
    /// let id: ClickId = "603ed18007000000000000ff".parse().unwrap();
    /// assert_eq!(id.shard(), 7);
    /// ```
    pub fn shard(&self) -> u8 {
        self.0[4]
    }

    /// The slot in the click day's slot table (bytes 5-8).
    ///
    /// ```
    /// use clickledger::ClickId;
    /// let id: ClickId = "603ed18000000001ff000000".parse().unwrap();
    /// assert_eq!(id.slot(), 0x1ff);
    /// ```
    pub fn slot(&self) -> u32 {
        u32::from_be_bytes([self.0[5], self.0[6], self.0[7], self.0[8]])
    }

    /// The click this ID addresses: its UTC day, shard and slot. The index finds clicks
    /// by these alone, so two IDs minted for different seconds of one day in the same
    /// slot (only one of which the ledger handed out) address the same click: they are
    /// compared by address wherever IDs must not repeat.
    ///
    /// ```
    /// use clickledger::{IdKey, Timestamp};
    /// let key = IdKey::from_bytes([4; 16]);
    /// let minted = key.mint(Timestamp::from_unix(86_400), 0, 7);
    /// let alias = key.mint(Timestamp::from_unix(86_400 + 59), 0, 7);
    /// assert_ne!(minted, alias);
    /// assert_eq!(minted.address(), alias.address());
    /// assert_eq!(minted.address(), ClickAddress { day: 1, shard: 0, slot: 7 });
    /// # use clickledger::click_id::ClickAddress;
    /// ```
    pub fn address(&self) -> ClickAddress {
        ClickAddress {
            day: self.time().day(),
            shard: self.shard(),
            slot: self.slot(),
        }
    }

    /// The 24-bit tag (bytes 9-11).
    fn tag(&self) -> u32 {
        u32::from_be_bytes([0, self.0[9], self.0[10], self.0[11]])
    }

    /// Writes the 24 lowercase hex digits into `out` without allocating.
    fn write_hex(&self, out: &mut [u8; CLICK_ID_HEX_LEN]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (index, byte) in self.0.iter().enumerate() {
            out[2 * index] = DIGITS[usize::from(byte >> 4)];
            out[2 * index + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
    }
}

impl std::str::FromStr for ClickId {
    type Err = ClickIdError;

    fn from_str(text: &str) -> Result<ClickId, ClickIdError> {
        ClickId::parse(text)
    }
}

impl fmt::Display for ClickId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = [0u8; CLICK_ID_HEX_LEN];
        self.write_hex(&mut hex);
        // Every byte written is an ASCII hex digit.
        let text = std::str::from_utf8(&hex).map_err(|_| fmt::Error)?;
        formatter.write_str(text)
    }
}

impl fmt::Debug for ClickId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "ClickId({self})")
    }
}

/// The secret that tags minted IDs. Kept in the data directory; never leaves it.
///
/// ```
/// use clickledger::{IdKey, Timestamp};
///
/// let key = IdKey::from_bytes([7; 16]);
/// let id = key.mint(Timestamp::from_unix(1_614_729_600), 0, 42);
/// assert!(key.verify(&id));
/// assert_eq!(id.slot(), 42);
/// assert!(!IdKey::from_bytes([8; 16]).verify(&id));
/// ```
#[derive(Clone)]
pub struct IdKey {
    key: [u8; 16],
}

impl IdKey {
    /// Number of secret bytes.
    pub const BYTES: usize = 16;

    /// Wraps secret bytes read from the data directory.
    ///
    /// ```
    /// let key = clickledger::IdKey::from_bytes([1; 16]);
    /// # let _ = key;
    /// ```
    pub fn from_bytes(key: [u8; IdKey::BYTES]) -> IdKey {
        IdKey { key }
    }

    /// The secret bytes, for storing them in the data directory.
    ///
    /// ```
    /// assert_eq!(clickledger::IdKey::from_bytes([3; 16]).as_bytes(), &[3; 16]);
    /// ```
    pub fn as_bytes(&self) -> &[u8; IdKey::BYTES] {
        &self.key
    }

    /// Builds the ID of a click at `time` in `slot`, with its tag.
    ///
    /// ```
    /// use clickledger::{IdKey, Timestamp};
    /// let id = IdKey::from_bytes([0; 16]).mint(Timestamp::from_unix(1), 3, 9);
    /// assert_eq!((id.time().unix(), id.shard(), id.slot()), (1, 3, 9));
    /// ```
    pub fn mint(&self, time: Timestamp, shard: u8, slot: u32) -> ClickId {
        let mut bytes = [0u8; CLICK_ID_BYTES];
        bytes[0..4].copy_from_slice(&time.unix().to_be_bytes());
        bytes[4] = shard;
        bytes[5..9].copy_from_slice(&slot.to_be_bytes());
        let tag = self.tag_of(&bytes);
        bytes[9..12].copy_from_slice(&tag.to_be_bytes()[1..4]);
        let id = ClickId(bytes);
        debug_assert!(self.verify(&id));
        id
    }

    /// True when the ID's tag matches its other bytes under this key.
    ///
    /// ```
    /// use clickledger::{ClickId, IdKey};
    /// let forged: ClickId = "603ed1800000000000000000".parse().unwrap();
    /// # // One in 2^24 keys would accept this all-zero tag; this one does not.
    /// assert!(!IdKey::from_bytes([5; 16]).verify(&forged));
    /// ```
    pub fn verify(&self, id: &ClickId) -> bool {
        // Not constant time: the tag only screens typos and forgeries cheaply; the
        // program key, compared in constant time, is what authorizes a claim.
        self.tag_of(&id.0) == id.tag()
    }

    fn tag_of(&self, bytes: &[u8; CLICK_ID_BYTES]) -> u32 {
        let mut hasher = SipHasher24::new_with_key(&self.key);
        hasher.write(&bytes[0..9]);
        (hasher.finish() & TAG_MASK) as u32
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("IdKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_decodes_to_march_third_2021() {
        let id = ClickId::parse("603ed1800000000000000000").unwrap();
        assert_eq!(id.time().to_rfc3339(), "2021-03-03T00:00:00Z");
    }

    #[test]
    fn upper_and_lower_case_parse_to_the_same_id() {
        let lower = ClickId::parse("603ed180abcdef0123456789").unwrap();
        let upper = ClickId::parse("603ED180ABCDEF0123456789").unwrap();
        assert_eq!(lower, upper);
        assert_eq!(upper.to_string(), "603ed180abcdef0123456789");
    }

    #[test]
    fn wrong_length_is_refused_with_both_lengths() {
        assert_eq!(
            ClickId::parse("603ed18000000000000000000"),
            Err(ClickIdError::Length {
                expected: 24,
                found: 25
            })
        );
        assert_eq!(
            ClickId::parse(""),
            Err(ClickIdError::Length {
                expected: 24,
                found: 0
            })
        );
    }

    #[test]
    fn non_hex_characters_are_refused_with_their_position() {
        assert_eq!(
            ClickId::parse("603ed180000000000000000g"),
            Err(ClickIdError::NotHex {
                position: 23,
                found: 'g'
            })
        );
        assert_eq!(
            ClickId::parse("603ed18000000000000000é"),
            Err(ClickIdError::Length {
                expected: 24,
                found: 23
            })
        );
        assert!(matches!(
            ClickId::parse("603ed1800000000000000é00"),
            Err(ClickIdError::NotHex {
                position: 21,
                found: 'é'
            })
        ));
        assert!(ClickId::parse("+03ed1800000000000000000").is_err());
    }

    #[test]
    fn minted_ids_round_trip_through_text() {
        let key = IdKey::from_bytes(*b"0123456789abcdef");
        for slot in [0, 1, 65_535, u32::MAX] {
            let id = key.mint(Timestamp::from_unix(1_700_000_000), 2, slot);
            let parsed = ClickId::parse(&id.to_string()).unwrap();
            assert_eq!(parsed, id);
            assert!(key.verify(&parsed));
            assert_eq!(parsed.slot(), slot);
            assert_eq!(parsed.shard(), 2);
        }
    }

    #[test]
    fn altering_any_byte_of_a_minted_id_breaks_its_tag() {
        let key = IdKey::from_bytes(*b"fedcba9876543210");
        let id = key.mint(Timestamp::from_unix(1_700_000_000), 0, 77);
        for index in 0..CLICK_ID_BYTES {
            let mut bytes = *id.as_bytes();
            bytes[index] ^= 0x01;
            assert!(!key.verify(&ClickId::from_bytes(bytes)), "byte {index}");
        }
    }
}
