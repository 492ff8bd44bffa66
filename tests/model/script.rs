//! A claim sequence: the operations the harness plays, and their byte form.
//!
//! The byte form is what the `claim_sequence` fuzz target reads, so any bytes decode to
//! some sequence (an operation cut short by the end of input is dropped), and what
//! [`encode`] writes decodes back to the same operations: that is how the field cases
//! become corpus seeds. Each operation is one tag byte, taken modulo the number of
//! kinds, then its fields: integers little endian, text as a length byte then bytes.

use clickledger::Timestamp;

/// The first second times are counted from: 2025-01-01T00:00:00Z.
pub const TIME_BASE: u32 = 1_735_689_600;
/// Times span 90 days from [`TIME_BASE`]: the field cases' dates, windows and expiry.
pub const TIME_SPAN_SECONDS: u32 = 90 * 86_400;
/// Most operations read from one input: enough for every field case, small enough that
/// one run stays fast.
pub const OPS_MAX: usize = 96;
/// Most IDs a built postback lists: past the ledger's 64 to reach `too_many_click_ids`.
pub const IDS_MAX: usize = 66;
/// Most postbacks raced at once.
pub const RACERS_MAX: usize = 3;

/// One step of a claim sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Registers program `p<n>` with key `pk<n>`, n counting from 1.
    RegisterProgram(ProgramSpec),
    /// Records a click (its ID becomes `$c<n>`, n counting from 0).
    Click(ClickSpec),
    /// Sends one postback.
    Postback(Request),
    /// Sends two or three postbacks at once from as many threads.
    Concurrent(Vec<Request>),
    /// `Ledger::sync`.
    Sync,
    /// `Ledger::flush`.
    Flush,
    /// Closes the ledger cleanly and opens it again.
    Reopen,
    /// The process dies in the way named, then the ledger is opened again.
    Crash(Crash),
}

/// How the process dies (the field cases' crash kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    Kill,
    PowerLoss,
    TornTail,
    ZeroTail,
    CorruptMiddle,
}

impl Crash {
    const ALL: [Crash; 5] = [
        Crash::Kill,
        Crash::PowerLoss,
        Crash::TornTail,
        Crash::ZeroTail,
        Crash::CorruptMiddle,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    pub leads: bool,
    pub payment_required: bool,
    pub revenue_share: bool,
    pub attribution_window_seconds: u32,
}

impl ProgramSpec {
    /// The field cases' programs: sales, nothing required, 30 days.
    pub fn standard() -> ProgramSpec {
        ProgramSpec {
            leads: false,
            payment_required: false,
            revenue_share: false,
            attribution_window_seconds: 30 * 86_400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickSpec {
    /// Program by position; one past the registered programs names an unknown one.
    pub program: u8,
    /// Partner `a<n>`.
    pub partner: u8,
    pub impression: bool,
    pub at: Timestamp,
}

/// A postback: built from parts, or a query template with `$cN` placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Built(PostbackSpec),
    Template { query: String, at: Timestamp },
}

impl Request {
    pub fn at(&self) -> Timestamp {
        match self {
            Request::Built(spec) => spec.at,
            Request::Template { at, .. } => *at,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostbackSpec {
    /// Key `pk<n+1>` of program n; past the programs, a key no program has.
    pub key: u8,
    /// Order id `O<n>`: a few values, so retries and conflicts happen.
    pub order: u8,
    /// Amount in minor units, if sent.
    pub amount_minor: Option<u32>,
    /// Index into [`CURRENCIES`].
    pub currency: u8,
    /// Index into [`PAYMENTS`], if sent.
    pub payment: Option<u8>,
    /// Customer `C<n>`, if sent.
    pub customer: Option<u8>,
    pub ids: Vec<IdChoice>,
    pub at: Timestamp,
}

/// Currencies a built postback uses: exponents 2, 0 and 3.
pub const CURRENCIES: [&str; 4] = ["EUR", "JPY", "KWD", "USD"];
/// Values of `payment` a built postback uses.
pub const PAYMENTS: [&str; 4] = ["online", "bankwire", "other", ""];

/// How one ID of a built postback is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdChoice {
    /// Click `$c<n mod clicks>` (forged when no click was recorded), maybe upper case.
    Minted { click: u8, upper: bool },
    /// That click with one bit of its tag flipped.
    Forged { click: u8 },
    /// An ID minted with the secret in another shard.
    OtherShard { click: u8 },
    /// An ID minted with the secret in a slot never handed out, at time `at`.
    Unknown { at: Timestamp },
}

/// Decodes any bytes into a sequence.
pub fn decode(bytes: &[u8]) -> Vec<Op> {
    let mut reader = Reader { bytes };
    let mut ops = Vec::new();
    while ops.len() < OPS_MAX {
        match reader.op() {
            Some(op) => ops.push(op),
            None => break,
        }
    }
    ops
}

/// Encodes a sequence so that [`decode`] gives it back.
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        write_op(&mut out, op);
    }
    out
}

/// Operation tags, in the order [`Reader::op`] reads them.
const TAG_PROGRAM: u8 = 0;
const TAG_CLICK: u8 = 1;
const TAG_POSTBACK: u8 = 2;
const TAG_CONCURRENT: u8 = 3;
const TAG_SYNC: u8 = 4;
const TAG_FLUSH: u8 = 5;
const TAG_REOPEN: u8 = 6;
const TAG_CRASH: u8 = 7;
const TAGS: u8 = 8;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_le_bytes(*head))
    }

    fn flag(&mut self) -> Option<bool> {
        Some(self.byte()? & 1 == 1)
    }

    fn time(&mut self) -> Option<Timestamp> {
        Some(Timestamp::from_unix(
            TIME_BASE + self.u32()? % TIME_SPAN_SECONDS,
        ))
    }

    /// `None` or a value: a flag byte, then the value when the flag is set.
    fn optional<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.flag()? {
            Some(Some(read(self)?))
        } else {
            Some(None)
        }
    }

    fn text(&mut self) -> Option<String> {
        let length = usize::from(self.byte()?);
        let (text, rest) = self.bytes.split_at_checked(length)?;
        self.bytes = rest;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    fn op(&mut self) -> Option<Op> {
        Some(match self.byte()? % TAGS {
            TAG_PROGRAM => Op::RegisterProgram(ProgramSpec {
                leads: self.flag()?,
                payment_required: self.flag()?,
                revenue_share: self.flag()?,
                attribution_window_seconds: self.u32()? % TIME_SPAN_SECONDS,
            }),
            TAG_CLICK => Op::Click(ClickSpec {
                program: self.byte()?,
                partner: self.byte()?,
                impression: self.flag()?,
                at: self.time()?,
            }),
            TAG_POSTBACK => Op::Postback(self.request()?),
            TAG_CONCURRENT => {
                let racers = 2 + usize::from(self.byte()?) % (RACERS_MAX - 1);
                let requests = (0..racers).map(|_| self.request()).collect::<Option<_>>()?;
                Op::Concurrent(requests)
            }
            TAG_SYNC => Op::Sync,
            TAG_FLUSH => Op::Flush,
            TAG_REOPEN => Op::Reopen,
            TAG_CRASH => Op::Crash(Crash::ALL[usize::from(self.byte()?) % Crash::ALL.len()]),
            _ => unreachable!("tags are taken modulo TAGS"),
        })
    }

    fn request(&mut self) -> Option<Request> {
        if self.flag()? {
            let query = self.long_text()?;
            return Some(Request::Template {
                query,
                at: self.time()?,
            });
        }
        let spec = PostbackSpec {
            key: self.byte()?,
            order: self.byte()?,
            amount_minor: self.optional(Self::u32)?,
            currency: self.byte()?,
            payment: self.optional(Self::byte)?,
            customer: self.optional(Self::byte)?,
            ids: {
                let count = 1 + usize::from(self.byte()?) % IDS_MAX;
                (0..count)
                    .map(|_| self.id_choice())
                    .collect::<Option<_>>()?
            },
            at: self.time()?,
        };
        Some(Request::Built(spec))
    }

    /// Templates may exceed 255 bytes: a count of 255-byte pieces, then the rest.
    fn long_text(&mut self) -> Option<String> {
        let pieces = self.byte()? % 4;
        let mut text = String::new();
        for _ in 0..pieces {
            text.push_str(&self.text()?);
        }
        text.push_str(&self.text()?);
        Some(text)
    }

    fn id_choice(&mut self) -> Option<IdChoice> {
        let tag = self.byte()?;
        Some(match tag % 4 {
            0 => IdChoice::Minted {
                click: self.byte()?,
                upper: tag & 0x80 != 0,
            },
            1 => IdChoice::Forged {
                click: self.byte()?,
            },
            2 => IdChoice::OtherShard {
                click: self.byte()?,
            },
            _ => IdChoice::Unknown { at: self.time()? },
        })
    }
}

fn write_op(out: &mut Vec<u8>, op: &Op) {
    match op {
        Op::RegisterProgram(spec) => {
            out.push(TAG_PROGRAM);
            out.extend([spec.leads, spec.payment_required, spec.revenue_share].map(u8::from));
            out.extend(spec.attribution_window_seconds.to_le_bytes());
        }
        Op::Click(spec) => {
            out.extend([
                TAG_CLICK,
                spec.program,
                spec.partner,
                u8::from(spec.impression),
            ]);
            write_time(out, spec.at);
        }
        Op::Postback(request) => {
            out.push(TAG_POSTBACK);
            write_request(out, request);
        }
        Op::Concurrent(requests) => {
            assert!((2..=RACERS_MAX).contains(&requests.len()));
            out.extend([TAG_CONCURRENT, (requests.len() - 2) as u8]);
            for request in requests {
                write_request(out, request);
            }
        }
        Op::Sync => out.push(TAG_SYNC),
        Op::Flush => out.push(TAG_FLUSH),
        Op::Reopen => out.push(TAG_REOPEN),
        Op::Crash(crash) => {
            let index = Crash::ALL
                .iter()
                .position(|kind| kind == crash)
                .unwrap_or(0);
            out.extend([TAG_CRASH, index as u8]);
        }
    }
}

fn write_time(out: &mut Vec<u8>, at: Timestamp) {
    let offset = at
        .unix()
        .checked_sub(TIME_BASE)
        .filter(|offset| *offset < TIME_SPAN_SECONDS);
    let offset = offset.unwrap_or_else(|| panic!("{} is outside the encodable span", at.unix()));
    out.extend(offset.to_le_bytes());
}

fn write_request(out: &mut Vec<u8>, request: &Request) {
    match request {
        Request::Template { query, at } => {
            out.push(1);
            let pieces = text_pieces(query);
            let (last, whole) = pieces.split_last().expect("at least one piece");
            assert!(
                whole.len() < 4,
                "templates hold at most 4 pieces of 255 bytes"
            );
            out.push(whole.len() as u8);
            for piece in whole.iter().chain([last]) {
                out.push(piece.len() as u8);
                out.extend_from_slice(piece.as_bytes());
            }
            write_time(out, *at);
        }
        Request::Built(spec) => {
            out.extend([0, spec.key, spec.order]);
            write_optional(out, spec.amount_minor.map(u32::to_le_bytes).as_ref());
            out.push(spec.currency);
            write_optional(out, spec.payment.map(|byte| [byte]).as_ref());
            write_optional(out, spec.customer.map(|byte| [byte]).as_ref());
            assert!((1..=IDS_MAX).contains(&spec.ids.len()));
            out.push((spec.ids.len() - 1) as u8);
            for choice in &spec.ids {
                write_id_choice(out, *choice);
            }
            write_time(out, spec.at);
        }
    }
}

fn write_optional<const N: usize>(out: &mut Vec<u8>, value: Option<&[u8; N]>) {
    match value {
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(bytes);
        }
        None => out.push(0),
    }
}

fn write_id_choice(out: &mut Vec<u8>, choice: IdChoice) {
    match choice {
        IdChoice::Minted { click, upper } => out.extend([if upper { 0x80 } else { 0 }, click]),
        IdChoice::Forged { click } => out.extend([1, click]),
        IdChoice::OtherShard { click } => out.extend([2, click]),
        IdChoice::Unknown { at } => {
            out.push(3);
            write_time(out, at);
        }
    }
}

/// Splits text into pieces of at most 255 bytes, at character boundaries.
fn text_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > 255 {
        let mut cut = 255;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    pieces.push(rest);
    pieces
}
