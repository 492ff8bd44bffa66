//! The records of the log and their byte layouts (specified in `docs/FORMAT.md`).
//!
//! The first payload byte is the record kind. Clicks and slot reservations, written
//! millions of times a day, use a fixed little-endian layout; rarer, variable records
//! (programs, partners, conversions) use postcard, whose encoding is stable and
//! documented.

use serde::{Deserialize, Serialize};

use crate::click_id::{ClickId, CLICK_ID_BYTES};
use crate::order::Order;
use crate::outcome::Verdict;
use crate::postback::Payment;
use crate::program::{ClickKind, PartnerId, ProgramId, ProgramSettings};

/// Kind byte of [`Record::ProgramRegistered`].
const KIND_PROGRAM_REGISTERED: u8 = 1;
/// Kind byte of [`Record::PartnerRegistered`].
const KIND_PARTNER_REGISTERED: u8 = 2;
/// Kind byte of [`Record::ClickRecorded`].
const KIND_CLICK_RECORDED: u8 = 3;
/// Kind byte of [`Record::SlotsReserved`].
const KIND_SLOTS_RESERVED: u8 = 4;
/// Kind byte of [`Record::ConversionRecorded`].
const KIND_CONVERSION_RECORDED: u8 = 5;
/// Kind byte of [`Record::LedgerCreated`].
const KIND_LEDGER_CREATED: u8 = 6;
/// Kind byte of [`Record::SegmentSealed`].
const KIND_SEGMENT_SEALED: u8 = 7;
/// Kind byte of [`Record::ProgramKeyRotated`].
const KIND_PROGRAM_KEY_ROTATED: u8 = 8;

/// Payload bytes of a click record: kind, ID, program, partner, click kind.
pub const CLICK_RECORD_BYTES: usize = 1 + CLICK_ID_BYTES + 4 + 4 + 1;
/// Payload bytes of a slot reservation: kind, day, end slot.
const SLOTS_RESERVED_BYTES: usize = 1 + 4 + 4;
/// Payload bytes of a key rotation: kind, program, SHA-256 of the new key.
const PROGRAM_KEY_ROTATED_BYTES: usize = 1 + 4 + 32;

/// A program's registration, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRecord {
    /// Its number.
    pub id: ProgramId,
    /// SHA-256 of its secret key; the key itself is never stored.
    pub key_sha256: [u8; 32],
    /// Its settings.
    pub settings: ProgramSettings,
}

/// An accepted conversion, as logged: every postback field plus the claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionRecord {
    /// Ledger-wide sequence number.
    pub id: u64,
    /// The program.
    pub program: ProgramId,
    /// Unix seconds when it was accepted.
    pub at: u32,
    /// The order, every postback field but the key and the click IDs.
    pub order: Order,
    /// The credited click.
    pub attributed: [u8; CLICK_ID_BYTES],
    /// Every click ID of the postback with its verdict, in postback order. Those with
    /// [`Verdict::Accepted`] are the ones this conversion claimed.
    pub verdicts: Vec<([u8; CLICK_ID_BYTES], Verdict)>,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A program was registered.
    ProgramRegistered(ProgramRecord),
    /// A partner name was seen for the first time and given a number.
    PartnerRegistered {
        /// Its number.
        id: PartnerId,
        /// Its name.
        name: String,
    },
    /// A click or impression was minted.
    ClickRecorded {
        /// The minted ID.
        id: ClickId,
        /// Its program.
        program: ProgramId,
        /// Its partner.
        partner: PartnerId,
        /// Click or impression.
        kind: ClickKind,
    },
    /// Slots below `slot_end` of `day` may be handed out. Written, and synced, before
    /// any of them is: after a crash, minting resumes at `slot_end`, so an ID handed
    /// out but lost is never minted again.
    SlotsReserved {
        /// UTC day number.
        day: u32,
        /// One past the last reserved slot.
        slot_end: u32,
    },
    /// A conversion was accepted and its click IDs claimed.
    ConversionRecorded(ConversionRecord),
    /// The first record of every log, synced before the directory's secret is stored.
    /// A directory with a secret whose log lacks it lost the start of its log (a
    /// truncated or replaced segment), and must not open: it would mint IDs again.
    LedgerCreated,
    /// The last record of every segment but the last, synced before the next segment is
    /// created. A segment before the last that does not end with it was cut short. The
    /// log reads it; the ledger never sees it.
    SegmentSealed,
    /// A program's key was replaced: from here on postbacks must carry the key whose
    /// SHA-256 this is, and the old key identifies no program.
    ProgramKeyRotated {
        /// The program.
        program: ProgramId,
        /// SHA-256 of its new key.
        key_sha256: [u8; 32],
    },
}

/// Why a payload with a valid CRC does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The kind byte names no record this version knows.
    #[error("unknown record kind {kind}")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
    /// The payload size does not fit its kind.
    #[error("record kind {kind} must be {expected} bytes, found {found}")]
    Size {
        /// The kind byte.
        kind: u8,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// A field holds a value no writer produces.
    #[error("record kind {kind}: {problem}")]
    Field {
        /// The kind byte.
        kind: u8,
        /// What is wrong.
        problem: String,
    },
}

impl Record {
    /// Appends the payload (kind byte first) to `out`.
    ///
    /// ```
    /// use clickledger::log::record::Record;
    /// let mut out = Vec::new();
    /// Record::SlotsReserved { day: 1, slot_end: 65_536 }.encode(&mut out);
    /// assert_eq!(Record::decode(&out).unwrap(), Record::SlotsReserved { day: 1, slot_end: 65_536 });
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::ProgramRegistered(program) => {
                encode_serde(out, KIND_PROGRAM_REGISTERED, program)
            }
            Record::PartnerRegistered { id, name } => {
                encode_serde(out, KIND_PARTNER_REGISTERED, &(id, name))
            }
            Record::ClickRecorded {
                id,
                program,
                partner,
                kind,
            } => {
                out.push(KIND_CLICK_RECORDED);
                out.extend_from_slice(id.as_bytes());
                out.extend_from_slice(&program.0.to_le_bytes());
                out.extend_from_slice(&partner.0.to_le_bytes());
                out.push(click_kind_byte(*kind));
            }
            Record::SlotsReserved { day, slot_end } => {
                out.push(KIND_SLOTS_RESERVED);
                out.extend_from_slice(&day.to_le_bytes());
                out.extend_from_slice(&slot_end.to_le_bytes());
            }
            Record::ConversionRecorded(conversion) => encode_conversion(out, conversion),
            Record::LedgerCreated => out.push(KIND_LEDGER_CREATED),
            Record::SegmentSealed => out.push(KIND_SEGMENT_SEALED),
            Record::ProgramKeyRotated {
                program,
                key_sha256,
            } => {
                out.push(KIND_PROGRAM_KEY_ROTATED);
                out.extend_from_slice(&program.0.to_le_bytes());
                out.extend_from_slice(key_sha256);
            }
        }
    }

    /// Decodes a payload written by [`Record::encode`].
    ///
    /// ```
    /// use clickledger::log::record::{Record, RecordError};
    /// assert_eq!(Record::decode(&[99]), Err(RecordError::UnknownKind { kind: 99 }));
    /// ```
    pub fn decode(payload: &[u8]) -> Result<Record, RecordError> {
        let Some((&kind, body)) = payload.split_first() else {
            return Err(RecordError::Size {
                kind: 0,
                expected: 1,
                found: 0,
            });
        };
        match kind {
            KIND_PROGRAM_REGISTERED => Ok(Record::ProgramRegistered(decode_serde(kind, body)?)),
            KIND_PARTNER_REGISTERED => {
                let (id, name) = decode_serde(kind, body)?;
                Ok(Record::PartnerRegistered { id, name })
            }
            KIND_CLICK_RECORDED => decode_click(payload),
            KIND_SLOTS_RESERVED => {
                check_size(kind, payload, SLOTS_RESERVED_BYTES)?;
                Ok(Record::SlotsReserved {
                    day: le_u32(&payload[1..5]),
                    slot_end: le_u32(&payload[5..9]),
                })
            }
            KIND_CONVERSION_RECORDED => Ok(Record::ConversionRecorded(decode_serde(kind, body)?)),
            KIND_LEDGER_CREATED => {
                check_size(kind, payload, 1)?;
                Ok(Record::LedgerCreated)
            }
            KIND_SEGMENT_SEALED => {
                check_size(kind, payload, 1)?;
                Ok(Record::SegmentSealed)
            }
            KIND_PROGRAM_KEY_ROTATED => {
                check_size(kind, payload, PROGRAM_KEY_ROTATED_BYTES)?;
                let mut key_sha256 = [0u8; 32];
                key_sha256.copy_from_slice(&payload[5..]);
                Ok(Record::ProgramKeyRotated {
                    program: ProgramId(le_u32(&payload[1..5])),
                    key_sha256,
                })
            }
            _ => Err(RecordError::UnknownKind { kind }),
        }
    }
}

/// True when a payload of `length` bytes starting with `kind` could be a record: the
/// kind is known and, for fixed layouts, the size fits it. A cheap screen before a CRC.
pub(crate) fn kind_fits_size(kind: u8, length: usize) -> bool {
    match kind {
        KIND_PROGRAM_REGISTERED | KIND_PARTNER_REGISTERED | KIND_CONVERSION_RECORDED => length > 1,
        KIND_CLICK_RECORDED => length == CLICK_RECORD_BYTES,
        KIND_SLOTS_RESERVED => length == SLOTS_RESERVED_BYTES,
        KIND_LEDGER_CREATED | KIND_SEGMENT_SEALED => length == 1,
        KIND_PROGRAM_KEY_ROTATED => length == PROGRAM_KEY_ROTATED_BYTES,
        _ => false,
    }
}

fn decode_click(payload: &[u8]) -> Result<Record, RecordError> {
    check_size(KIND_CLICK_RECORDED, payload, CLICK_RECORD_BYTES)?;
    let mut id = [0u8; CLICK_ID_BYTES];
    id.copy_from_slice(&payload[1..1 + CLICK_ID_BYTES]);
    let rest = &payload[1 + CLICK_ID_BYTES..];
    let kind = match rest[8] {
        0 => ClickKind::Click,
        1 => ClickKind::Impression,
        other => {
            return Err(RecordError::Field {
                kind: KIND_CLICK_RECORDED,
                problem: format!("click kind must be 0 or 1, found {other}"),
            })
        }
    };
    Ok(Record::ClickRecorded {
        id: ClickId::from_bytes(id),
        program: ProgramId(le_u32(&rest[0..4])),
        partner: PartnerId(le_u32(&rest[4..8])),
        kind,
    })
}

fn click_kind_byte(kind: ClickKind) -> u8 {
    match kind {
        ClickKind::Click => 0,
        ClickKind::Impression => 1,
    }
}

fn check_size(kind: u8, payload: &[u8], expected: usize) -> Result<(), RecordError> {
    if payload.len() == expected {
        Ok(())
    } else {
        Err(RecordError::Size {
            kind,
            expected,
            found: payload.len(),
        })
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    u32::from_le_bytes(word)
}

/// Writes a conversion record in postcard's encoding, by hand: one is written per
/// accepted claim, and serde's generic path cost about as many instructions as the rest
/// of the append. The bytes are those `encode_serde` gives (a test compares them field
/// by field and variant by variant), and decoding still goes through postcard.
fn encode_conversion(out: &mut Vec<u8>, conversion: &ConversionRecord) {
    out.push(KIND_CONVERSION_RECORDED);
    put_varint(out, conversion.id);
    put_varint(out, u64::from(conversion.program.0));
    put_varint(out, u64::from(conversion.at));
    encode_order(out, &conversion.order);
    out.extend_from_slice(&conversion.attributed);
    put_varint(out, conversion.verdicts.len() as u64);
    for (id, verdict) in &conversion.verdicts {
        out.extend_from_slice(id);
        put_varint(out, verdict_index(*verdict));
    }
}

/// The fields of [`Order`] in declaration order, as serde derives them.
fn encode_order(out: &mut Vec<u8>, order: &Order) {
    put_str(out, &order.order_id);
    match order.amount_minor {
        None => out.push(0),
        Some(amount) => {
            out.push(1);
            put_varint(out, amount);
        }
    }
    put_str(out, order.currency.code());
    match order.payment {
        None => out.push(0),
        Some(payment) => {
            out.push(1);
            put_varint(out, payment_index(payment));
        }
    }
    for text in [&order.customer, &order.cv] {
        match text {
            None => out.push(0),
            Some(text) => {
                out.push(1);
                put_str(out, text);
            }
        }
    }
    for list in [&order.vouchers, &order.products] {
        put_varint(out, list.len() as u64);
        for text in list {
            put_str(out, text);
        }
    }
}

/// Serde's variant index: the order of declaration.
fn verdict_index(verdict: Verdict) -> u64 {
    match verdict {
        Verdict::Accepted => 0,
        Verdict::Eligible => 1,
        Verdict::Malformed => 2,
        Verdict::Forged => 3,
        Verdict::Unknown => 4,
        Verdict::AlreadyClaimed => 5,
        Verdict::OtherProgram => 6,
        Verdict::Expired => 7,
        Verdict::FromFuture => 8,
        Verdict::NotChecked => 9,
    }
}

/// Serde's variant index: the order of declaration.
fn payment_index(payment: Payment) -> u64 {
    match payment {
        Payment::Online => 0,
        Payment::Bankwire => 1,
        Payment::Other => 2,
        Payment::Unspecified => 3,
    }
}

/// Postcard's unsigned varint: seven bits a byte, least significant first.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Postcard's string: its length in bytes as a varint, then the bytes.
fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn encode_serde<T: Serialize>(out: &mut Vec<u8>, kind: u8, value: &T) {
    out.push(kind);
    // Serializing our own plain structs into a Vec cannot fail: postcard errors only on
    // unsupported serde features (maps with non-string keys are fine, `deserialize_any`
    // is not used) or a full fixed buffer.
    let encoded = postcard::to_extend(value, std::mem::take(out));
    *out = encoded.unwrap_or_else(|error| panic!("postcard encoding failed: {error}"));
}

fn decode_serde<'a, T: Deserialize<'a>>(kind: u8, body: &'a [u8]) -> Result<T, RecordError> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(|error| RecordError::Field {
        kind,
        problem: error.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(RecordError::Field {
            kind,
            problem: format!("{} bytes after the encoded value", rest.len()),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::postback::Payment;

    fn round_trip(record: Record) {
        let mut out = Vec::new();
        record.encode(&mut out);
        assert_eq!(Record::decode(&out).unwrap(), record);
    }

    #[test]
    fn every_record_kind_round_trips() {
        round_trip(Record::ProgramKeyRotated {
            program: ProgramId(5),
            key_sha256: [3; 32],
        });
        round_trip(Record::ProgramRegistered(ProgramRecord {
            id: ProgramId(3),
            key_sha256: [9; 32],
            settings: ProgramSettings::new("shoes"),
        }));
        round_trip(Record::PartnerRegistered {
            id: PartnerId(7),
            name: "a7".into(),
        });
        round_trip(Record::ClickRecorded {
            id: ClickId::from_bytes([1; 12]),
            program: ProgramId(1),
            partner: PartnerId(2),
            kind: ClickKind::Impression,
        });
        round_trip(Record::SlotsReserved {
            day: 20_000,
            slot_end: 131_072,
        });
        round_trip(Record::ConversionRecorded(ConversionRecord {
            id: 1,
            program: ProgramId(0),
            at: 1_700_000_000,
            order: Order {
                order_id: "A1001".into(),
                amount_minor: Some(4990),
                currency: Currency::parse("EUR").unwrap(),
                payment: Some(Payment::Online),
                customer: Some("C42".into()),
                cv: None,
                vouchers: vec!["A".into()],
                products: vec![],
            },
            attributed: [1; 12],
            verdicts: vec![([1; 12], Verdict::Accepted), ([2; 12], Verdict::Forged)],
        }));
        round_trip(Record::LedgerCreated);
        round_trip(Record::SegmentSealed);
    }

    fn postcard_bytes(conversion: &ConversionRecord) -> Vec<u8> {
        let mut out = Vec::new();
        encode_serde(&mut out, KIND_CONVERSION_RECORDED, conversion);
        out
    }

    #[test]
    fn conversions_encoded_by_hand_are_byte_for_byte_postcard() {
        let verdicts = [
            Verdict::Accepted,
            Verdict::Eligible,
            Verdict::Malformed,
            Verdict::Forged,
            Verdict::Unknown,
            Verdict::AlreadyClaimed,
            Verdict::OtherProgram,
            Verdict::Expired,
            Verdict::FromFuture,
            Verdict::NotChecked,
        ];
        let payments = [
            None,
            Some(Payment::Online),
            Some(Payment::Bankwire),
            Some(Payment::Other),
            Some(Payment::Unspecified),
        ];
        let long = "x".repeat(300); // a two-byte length
        for (case, payment) in payments.into_iter().enumerate() {
            let full = case % 2 == 0;
            let conversion = ConversionRecord {
                id: [0, 127, 128, 300, u64::MAX][case],
                program: ProgramId([0, 1, 127, 128, u32::MAX][case]),
                at: [0, 1_700_000_000, 127, 16_384, u32::MAX][case],
                order: Order {
                    amount_minor: full.then_some(u64::MAX - case as u64),
                    payment,
                    customer: full.then(|| long.clone()),
                    cv: (!full).then(|| "cv".to_owned()),
                    vouchers: if full {
                        vec!["A".into(), long.clone()]
                    } else {
                        vec![]
                    },
                    products: if full { vec![] } else { vec!["P1".into()] },
                    ..Order::new(&long[..case * 60 + 1], Currency::parse("KWD").unwrap())
                },
                attributed: [case as u8; 12],
                verdicts: verdicts
                    .iter()
                    .enumerate()
                    .map(|(index, verdict)| ([index as u8; 12], *verdict))
                    .collect(),
            };
            let mut out = Vec::new();
            Record::ConversionRecorded(conversion.clone()).encode(&mut out);
            assert_eq!(out, postcard_bytes(&conversion), "case {case}");
            assert_eq!(
                Record::decode(&out).unwrap(),
                Record::ConversionRecorded(conversion)
            );
        }
    }

    #[test]
    fn creation_and_seal_records_are_their_kind_bytes_alone() {
        let mut out = Vec::new();
        Record::LedgerCreated.encode(&mut out);
        assert_eq!(out, [6]);
        out.clear();
        Record::SegmentSealed.encode(&mut out);
        assert_eq!(out, [7]);
        assert_eq!(
            Record::decode(&[6, 0]),
            Err(RecordError::Size {
                kind: 6,
                expected: 1,
                found: 2
            })
        );
    }

    #[test]
    fn click_record_has_the_documented_fixed_layout() {
        let id = ClickId::from_bytes([0xab; 12]);
        let mut out = Vec::new();
        Record::ClickRecorded {
            id,
            program: ProgramId(0x0102_0304),
            partner: PartnerId(5),
            kind: ClickKind::Click,
        }
        .encode(&mut out);
        let mut expected = vec![3u8];
        expected.extend_from_slice(&[0xab; 12]);
        expected.extend_from_slice(&[4, 3, 2, 1, 5, 0, 0, 0, 0]);
        assert_eq!(out, expected);
        assert_eq!(out.len(), CLICK_RECORD_BYTES);
    }

    #[test]
    fn wrong_sizes_and_kinds_are_typed_errors() {
        assert_eq!(
            Record::decode(&[3, 0, 0]),
            Err(RecordError::Size {
                kind: 3,
                expected: CLICK_RECORD_BYTES,
                found: 3
            })
        );
        assert_eq!(
            Record::decode(&[0]),
            Err(RecordError::UnknownKind { kind: 0 })
        );
        let mut click = vec![3u8];
        click.extend_from_slice(&[0; 20]);
        click.push(2);
        assert!(matches!(
            Record::decode(&click),
            Err(RecordError::Field { kind: 3, .. })
        ));
    }
}

#[cfg(test)]
mod fixed_bytes {
    //! The bytes of version 1, pinned: a change here breaks every existing log, so it
    //! must come with a new format version (see `docs/FORMAT.md`).

    use super::*;
    use crate::money::Currency;
    use crate::postback::Payment;

    #[test]
    fn conversion_record_bytes_are_those_of_format_version_1() {
        let record = Record::ConversionRecorded(ConversionRecord {
            id: 300,
            program: ProgramId(2),
            at: 1,
            order: Order {
                payment: Some(Payment::Bankwire),
                vouchers: vec!["V".into()],
                amount_minor: Some(4990),
                ..Order::new("A1", Currency::parse("EUR").unwrap())
            },
            attributed: [7; 12],
            verdicts: vec![([7; 12], Verdict::Accepted), ([8; 12], Verdict::Expired)],
        });
        let mut out = Vec::new();
        record.encode(&mut out);
        let mut expected = vec![5, 0xac, 0x02, 2, 1]; // kind, id 300 (varint), program, at
        expected.extend_from_slice(&[2, b'A', b'1']); // order id
        expected.extend_from_slice(&[1, 0xfe, 0x26]); // Some(4990)
        expected.extend_from_slice(&[3, b'E', b'U', b'R']); // currency
        expected.extend_from_slice(&[1, 1, 0, 0]); // Some(Bankwire), no customer, no cv
        expected.extend_from_slice(&[1, 1, b'V', 0]); // vouchers ["V"], products []
        expected.extend_from_slice(&[7; 12]); // attributed
        expected.push(2); // two verdicts
        expected.extend_from_slice(&[7; 12]);
        expected.push(0); // Accepted
        expected.extend_from_slice(&[8; 12]);
        expected.push(7); // Expired
        assert_eq!(out, expected);
    }

    #[test]
    fn key_rotation_bytes_are_kind_program_and_digest() {
        let mut out = Vec::new();
        let record = Record::ProgramKeyRotated {
            program: ProgramId(0x0102_0304),
            key_sha256: [0xab; 32],
        };
        record.encode(&mut out);
        let mut expected = vec![8, 0x04, 0x03, 0x02, 0x01];
        expected.extend_from_slice(&[0xab; 32]);
        assert_eq!(out, expected);
        assert!(kind_fits_size(8, expected.len()));
        assert!(!kind_fits_size(8, expected.len() - 1));
        assert!(Record::decode(&expected[..36]).is_err());
    }
}
