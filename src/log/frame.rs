//! Framing: how one record sits in a segment file.
//!
//! ```text
//! +-------------+-------------+------------------+
//! | length: u32 | crc32: u32  | payload          |
//! | LE, > 0     | LE, of the  | `length` bytes   |
//! |             | payload,    |                  |
//! |             | seeded      |                  |
//! +-------------+-------------+------------------+
//! ```
//!
//! A zero length is never written, so a run of zero bytes (a file extended but never
//! written, as after a crash on some file systems) is never mistaken for a record.
//!
//! The CRC starts from a [`FrameSeed`] derived from the data directory's secret rather
//! than from zero. Records carry bytes chosen by outsiders (a forged click ID is logged
//! as sent); seeded, those bytes cannot form a frame that passes its check, so they
//! cannot make the torn end of a log look like damage with valid records after it.

/// Bytes before the payload: length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Largest payload accepted. A conversion record with every field at its limit stays
/// far below this; anything larger is damage, not data.
pub const RECORD_BYTES_MAX: usize = 1 << 20;

/// The value the frame CRCs of one ledger start from (see the module doc).
///
/// ```
/// use clickledger::log::frame::FrameSeed;
/// // Seed zero is the standard CRC32.
/// assert_eq!(FrameSeed(0).crc(b"abc"), crc32fast::hash(b"abc"));
/// assert_ne!(FrameSeed(7).crc(b"abc"), FrameSeed(0).crc(b"abc"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSeed(pub u32);

impl FrameSeed {
    /// The CRC32 (IEEE) of `payload`, started from this seed.
    pub fn crc(self, payload: &[u8]) -> u32 {
        let mut hasher = crc32fast::Hasher::new_with_initial(self.0);
        hasher.update(payload);
        hasher.finalize()
    }
}

/// A payload that cannot be framed: empty, or larger than [`RECORD_BYTES_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a record of {bytes} bytes cannot be logged (1 to {RECORD_BYTES_MAX} bytes)")]
pub struct PayloadSizeError {
    /// The payload's size.
    pub bytes: usize,
}

/// Appends one framed payload to `out`, built in place by `write_payload` so the hot
/// path copies nothing twice. A payload of the wrong size leaves `out` as it was.
///
/// ```
/// use clickledger::log::frame::{append_frame, read_frame, FrameRead, FrameSeed};
/// let seed = FrameSeed(42);
/// let mut out = Vec::new();
/// append_frame(&mut out, seed, |payload| payload.extend_from_slice(b"hi")).unwrap();
/// assert_eq!(out.len(), 10);
/// assert_eq!(read_frame(&out, seed), FrameRead::Valid { payload: &b"hi"[..], frame_bytes: 10 });
/// assert!(append_frame(&mut out, seed, |_| {}).is_err());
/// assert_eq!(out.len(), 10);
/// ```
pub fn append_frame(
    out: &mut Vec<u8>,
    seed: FrameSeed,
    write_payload: impl FnOnce(&mut Vec<u8>),
) -> Result<(), PayloadSizeError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    write_payload(out);
    let payload = &out[start + FRAME_HEADER_BYTES..];
    if payload.is_empty() || payload.len() > RECORD_BYTES_MAX {
        let bytes = payload.len();
        out.truncate(start);
        return Err(PayloadSizeError { bytes });
    }
    let length = payload.len() as u32;
    let crc = seed.crc(payload);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What is found at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A whole frame whose CRC matches.
    Valid {
        /// The payload.
        payload: &'a [u8],
        /// Header plus payload.
        frame_bytes: usize,
    },
    /// The bytes end before the frame does: a header or payload cut short.
    Truncated,
    /// The length is zero or over [`RECORD_BYTES_MAX`].
    BadLength {
        /// The length field.
        length: u32,
    },
    /// The payload is whole but its CRC does not match.
    BadChecksum {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC of the payload as read.
        computed: u32,
    },
}

/// Reads the frame at the start of `bytes`, checking its CRC from `seed`.
///
/// ```
/// use clickledger::log::frame::{read_frame, FrameRead, FrameSeed};
/// assert_eq!(read_frame(&[0; 4], FrameSeed(0)), FrameRead::Truncated);
/// assert_eq!(read_frame(&[0; 8], FrameSeed(0)), FrameRead::BadLength { length: 0 });
/// ```
pub fn read_frame(bytes: &[u8], seed: FrameSeed) -> FrameRead<'_> {
    let Some(header) = bytes.get(..FRAME_HEADER_BYTES) else {
        return FrameRead::Truncated;
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length == 0 || length as usize > RECORD_BYTES_MAX {
        return FrameRead::BadLength { length };
    }
    let frame_bytes = FRAME_HEADER_BYTES + length as usize;
    let Some(payload) = bytes.get(FRAME_HEADER_BYTES..frame_bytes) else {
        return FrameRead::Truncated;
    };
    let computed = seed.crc(payload);
    if computed != stored {
        return FrameRead::BadChecksum { stored, computed };
    }
    FrameRead::Valid {
        payload,
        frame_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: FrameSeed = FrameSeed(0x5eed);

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        append_frame(&mut out, SEED, |buffer| buffer.extend_from_slice(payload)).unwrap();
        out
    }

    #[test]
    fn frame_layout_matches_the_documented_bytes() {
        let bytes = framed(b"abc");
        let mut hasher = crc32fast::Hasher::new_with_initial(SEED.0);
        hasher.update(b"abc");
        let crc = hasher.finalize().to_le_bytes();
        assert_eq!(&bytes[0..4], &3u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &crc);
        assert_eq!(&bytes[8..], b"abc");
    }

    #[test]
    fn every_cut_of_a_frame_reads_as_truncated() {
        let bytes = framed(b"some payload");
        for cut in 0..bytes.len() {
            assert_eq!(
                read_frame(&bytes[..cut], SEED),
                FrameRead::Truncated,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_payload_bit_fails_the_checksum() {
        let bytes = framed(b"payload");
        for index in FRAME_HEADER_BYTES..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[index] ^= 1 << bit;
                assert!(matches!(
                    read_frame(&damaged, SEED),
                    FrameRead::BadChecksum { .. }
                ));
            }
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_payload() {
        let mut bytes = framed(b"x");
        bytes[0..4].copy_from_slice(&(RECORD_BYTES_MAX as u32 + 1).to_le_bytes());
        assert!(matches!(
            read_frame(&bytes, SEED),
            FrameRead::BadLength { .. }
        ));
    }

    #[test]
    fn a_frame_checked_with_another_seed_fails_its_checksum() {
        let bytes = framed(b"payload");
        assert!(matches!(read_frame(&bytes, SEED), FrameRead::Valid { .. }));
        assert!(matches!(
            read_frame(&bytes, FrameSeed(0)),
            FrameRead::BadChecksum { .. }
        ));
    }

    #[test]
    fn a_payload_of_the_wrong_size_leaves_the_buffer_unchanged() {
        let mut out = framed(b"kept");
        let before = out.clone();
        let oversized = append_frame(&mut out, SEED, |buffer| {
            buffer.resize(buffer.len() + RECORD_BYTES_MAX + 1, 7)
        });
        assert_eq!(
            oversized,
            Err(PayloadSizeError {
                bytes: RECORD_BYTES_MAX + 1
            })
        );
        assert_eq!(
            append_frame(&mut out, SEED, |_| {}),
            Err(PayloadSizeError { bytes: 0 })
        );
        assert_eq!(out, before);
    }
}
