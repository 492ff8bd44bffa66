//! Framing: how one record sits in a segment file.
//!
//! ```text
//! +-------------+-------------+------------------+
//! | length: u32 | crc32: u32  | payload          |
//! | LE, > 0     | LE, of the  | `length` bytes   |
//! |             | payload     |                  |
//! +-------------+-------------+------------------+
//! ```
//!
//! A zero length is never written, so a run of zero bytes (a file extended but never
//! written, as after a crash on some file systems) is never mistaken for a record.

/// Bytes before the payload: length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Largest payload accepted. A conversion record with every field at its limit stays
/// far below this; anything larger is damage, not data.
pub const RECORD_BYTES_MAX: usize = 1 << 20;

/// Appends one framed payload to `out`, built in place by `write_payload` so the hot
/// path copies nothing twice.
///
/// ```
/// use clickledger::log::frame::{append_frame, read_frame, FrameRead};
/// let mut out = Vec::new();
/// append_frame(&mut out, |payload| payload.extend_from_slice(b"hi"));
/// assert_eq!(out.len(), 10);
/// assert_eq!(read_frame(&out), FrameRead::Valid { payload: &b"hi"[..], frame_bytes: 10 });
/// ```
pub fn append_frame(out: &mut Vec<u8>, write_payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    write_payload(out);
    let payload = &out[start + FRAME_HEADER_BYTES..];
    assert!(
        !payload.is_empty() && payload.len() <= RECORD_BYTES_MAX,
        "payload size"
    );
    let length = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
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

/// Reads the frame at the start of `bytes`.
///
/// ```
/// use clickledger::log::frame::{read_frame, FrameRead};
/// assert_eq!(read_frame(&[0; 4]), FrameRead::Truncated);
/// assert_eq!(read_frame(&[0; 8]), FrameRead::BadLength { length: 0 });
/// ```
pub fn read_frame(bytes: &[u8]) -> FrameRead<'_> {
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
    let computed = crc32fast::hash(payload);
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

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        append_frame(&mut out, |buffer| buffer.extend_from_slice(payload));
        out
    }

    #[test]
    fn frame_layout_matches_the_documented_bytes() {
        let bytes = framed(b"abc");
        let crc = crc32fast::hash(b"abc").to_le_bytes();
        assert_eq!(&bytes[0..4], &3u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &crc);
        assert_eq!(&bytes[8..], b"abc");
    }

    #[test]
    fn every_cut_of_a_frame_reads_as_truncated() {
        let bytes = framed(b"some payload");
        for cut in 0..bytes.len() {
            assert_eq!(
                read_frame(&bytes[..cut]),
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
                    read_frame(&damaged),
                    FrameRead::BadChecksum { .. }
                ));
            }
        }
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_payload() {
        let mut bytes = framed(b"x");
        bytes[0..4].copy_from_slice(&(RECORD_BYTES_MAX as u32 + 1).to_le_bytes());
        assert!(matches!(read_frame(&bytes), FrameRead::BadLength { .. }));
    }
}
