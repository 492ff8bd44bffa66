//! Plays a claim sequence against a real ledger and the reference model side by side,
//! and panics at the first difference: an answer, a click, a claim, a stored
//! conversion or a count. The `claim_sequence` fuzz target, the proptest state machine
//! and the field-case test all drive this one harness.
//!
//! Crashes: the model knows which states a crash may leave. A killed process keeps what
//! was handed to the OS, so a kill leaves the state of the last flush or any later
//! state (the log is a prefix of what was written). `power_loss` is played as a kill
//! (every write had reached the disk, one of the outcomes a power loss may have), and
//! the model accepts any state from the last sync on, which is all it may require. A
//! torn tail loses exactly the last record, whose caller got no answer.

use std::sync::Barrier;
use std::thread;

use clickledger::log::RecoveryReport;
use clickledger::{
    secret, ClickId, ClickInfo, ClickKind, ConversionKind, IdKey, Ledger, LedgerError, Options,
    Outcome, ProgramId, ProgramSettings, Timestamp,
};
use tempfile::TempDir;

use super::crash::{self, AfterCrash, CrashKind};
use super::query::format_amount;
use super::reference::{Expected, Model};
use super::script::{
    ClickSpec, Crash, IdChoice, Op, PostbackSpec, ProgramSpec, Request, CURRENCIES, PAYMENTS,
};
use super::template;

/// Most programs a sequence registers; later registrations are skipped.
const PROGRAMS_MAX: usize = 8;
/// Slots at and above this are never handed out in a run (a day would need 4 billion
/// clicks), so IDs minted there with the secret are authentic and unknown.
const UNKNOWN_SLOT_BASE: u32 = 0xf000_0000;
/// Segments roll over at the least size allowed, so sequences cross segment files.
const SEGMENT_BYTES: u64 = clickledger::ledger::SEGMENT_BYTES_MAX_LEAST;

/// What the caller of one postback got.
#[derive(Clone, Debug)]
pub enum Answer {
    Outcome(Outcome),
    /// The process died before answering (its record was torn).
    NoAnswer,
}

/// What a played sequence left.
pub struct Played {
    /// `None` when the last open was refused.
    pub ledger: Option<Ledger>,
    pub dir: TempDir,
    pub clicks: Vec<ClickId>,
    pub answers: Vec<Answer>,
    pub restart: Option<RecoveryReport>,
}

/// The state before the last record the ledger wrote, and whose record it was.
struct LastRecord {
    before: Model,
    /// The postback that wrote it, if a postback did.
    reply: Option<usize>,
}

/// A ledger and its model, played in step.
pub struct Harness {
    dir: TempDir,
    /// `None` once an open was refused (after `corrupt_middle`): the sequence stops.
    ledger: Option<Ledger>,
    key: IdKey,
    model: Model,
    /// `journal[0]` is the state at the last sync; every record-writing step since
    /// pushed the state after it.
    journal: Vec<Model>,
    /// Index into `journal` of the state at the last flush.
    flushed: usize,
    last_record: Option<LastRecord>,
    /// `$cN` is `clicks[N]`.
    pub clicks: Vec<ClickId>,
    /// `pbN` is `answers[N - 1]`.
    pub answers: Vec<Answer>,
    /// What the last open after a crash or reopen reported.
    pub restart: Option<RecoveryReport>,
    unknown_slots_used: u32,
}

impl Harness {
    /// A fresh ledger in a temporary directory, with nothing registered.
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ledger = open(&dir).expect("a fresh ledger opens");
        let key = secret::load(dir.path())
            .expect("secret readable")
            .expect("secret stored");
        let model = Model::default();
        Harness {
            dir,
            ledger: Some(ledger),
            key,
            journal: vec![model.clone()],
            model,
            flushed: 0,
            last_record: None,
            clicks: Vec::new(),
            answers: Vec::new(),
            restart: None,
            unknown_slots_used: 0,
        }
    }

    /// Plays every operation, checking the whole state after each.
    pub fn run(ops: &[Op]) -> Harness {
        let mut harness = Harness::new();
        for op in ops {
            harness.apply(op);
        }
        harness
    }

    /// The model's view, for checks after the run.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The ledger (if it is open), the directory and what was played, for the field
    /// case checks.
    pub fn into_parts(self) -> Played {
        Played {
            ledger: self.ledger,
            dir: self.dir,
            clicks: self.clicks,
            answers: self.answers,
            restart: self.restart,
        }
    }

    /// Plays one operation; a no-op once the ledger refused to open.
    pub fn apply(&mut self, op: &Op) {
        if self.ledger.is_none() {
            return;
        }
        match op {
            Op::RegisterProgram(spec) => self.register_program(spec),
            Op::Click(spec) => self.click(spec),
            Op::Postback(request) => self.postback(request),
            Op::Concurrent(requests) => self.concurrent(requests),
            Op::Sync => {
                self.ledger().sync().expect("sync");
                self.mark_synced();
            }
            Op::Flush => {
                self.ledger().flush().expect("flush");
                self.flushed = self.journal.len() - 1;
            }
            Op::Reopen => {
                drop(self.ledger.take());
                self.reopen(0);
                assert!(
                    self.last_restart_tail().is_none(),
                    "a clean reopen found a torn tail"
                );
            }
            Op::Crash(kind) => self.crash(*kind),
        }
        if self.ledger.is_some() {
            self.check_state();
        }
    }

    fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().expect("the ledger is open")
    }

    fn mark_synced(&mut self) {
        self.journal = vec![self.model.clone()];
        self.flushed = 0;
    }

    /// Records that the ledger wrote something: one more state a crash may leave.
    fn wrote(&mut self, before: Model, reply: Option<usize>) {
        self.journal.push(self.model.clone());
        self.last_record = Some(LastRecord { before, reply });
    }

    fn register_program(&mut self, spec: &ProgramSpec) {
        if self.model.programs.len() >= PROGRAMS_MAX {
            return;
        }
        let number = self.model.programs.len() + 1;
        let settings = ProgramSettings {
            kind: if spec.leads {
                ConversionKind::Leads
            } else {
                ConversionKind::Sales
            },
            payment_required: spec.payment_required,
            revenue_share: spec.revenue_share,
            attribution_window_seconds: spec.attribution_window_seconds,
            ..ProgramSettings::new(&format!("p{number}"))
        };
        let key = format!("pk{number}");
        let id = self
            .ledger()
            .register_program_with_key(settings.clone(), &key)
            .expect("register a program");
        assert_eq!(id, self.model.register_program(settings, &key));
        // Registration is durable on return.
        self.mark_synced();
        self.last_record = None;
    }

    fn click(&mut self, spec: &ClickSpec) {
        let programs = self.model.programs.len();
        let program = ProgramId((usize::from(spec.program) % (programs + 1)) as u32);
        let partner = format!("a{}", spec.partner);
        let kind = if spec.impression {
            ClickKind::Impression
        } else {
            ClickKind::Click
        };
        let result = self.ledger().record_click(program, &partner, kind, spec.at);
        if self.model.program(program).is_none() {
            assert!(
                matches!(result, Err(LedgerError::UnknownProgram { .. })),
                "a click of unknown program {program:?} gave {result:?}"
            );
            return;
        }
        let id = result.expect("record a click");
        let before = self.model.clone();
        self.model
            .record_click(id, program, &partner, kind, spec.at);
        self.clicks.push(id);
        self.wrote(before, None);
    }

    fn postback(&mut self, request: &Request) {
        let Some(query) = self.query_of(request) else {
            return;
        };
        let before = self.model.clone();
        let expected = self.model.convert_query(&query, request.at());
        let outcome = self
            .ledger()
            .convert_query(&query, request.at())
            .expect("convert_query fails only on I/O errors");
        assert_answer(&query, &expected, &outcome);
        let accepted = matches!(outcome, Outcome::Accepted(_));
        self.answers.push(Answer::Outcome(outcome));
        if accepted {
            self.wrote(before, Some(self.answers.len() - 1));
        }
    }

    /// Races the postbacks on as many threads; the answers must be those of one serial
    /// order of them, which the model then takes.
    fn concurrent(&mut self, requests: &[Request]) {
        let Some(queries) = requests
            .iter()
            .map(|request| Some((self.query_of(request)?, request.at())))
            .collect::<Option<Vec<(String, Timestamp)>>>()
        else {
            return;
        };
        let ledger = self.ledger();
        let barrier = Barrier::new(queries.len());
        let outcomes: Vec<Outcome> = thread::scope(|scope| {
            let racers: Vec<_> = queries
                .iter()
                .map(|(query, at)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        ledger.convert_query(query, *at).expect("convert_query")
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| racer.join().expect("racer"))
                .collect()
        });
        let (model, states) = permutations(queries.len())
            .into_iter()
            .find_map(|order| self.serial_order_giving(&queries, &outcomes, &order))
            .unwrap_or_else(|| {
                panic!("racing {queries:?} answered {outcomes:#?}: no serial order gives that")
            });
        self.model = model;
        self.journal.extend(states);
        self.last_record = None;
        self.answers
            .extend(outcomes.into_iter().map(Answer::Outcome));
    }

    /// The model after playing `queries` in `order`, if that gives `outcomes`, with the
    /// state after each record written.
    fn serial_order_giving(
        &self,
        queries: &[(String, Timestamp)],
        outcomes: &[Outcome],
        order: &[usize],
    ) -> Option<(Model, Vec<Model>)> {
        let mut model = self.model.clone();
        let mut states = Vec::new();
        for &index in order {
            let (query, at) = &queries[index];
            let expected = model.convert_query(query, *at);
            if !answers_match(&expected, &outcomes[index]) {
                return None;
            }
            if matches!(outcomes[index], Outcome::Accepted(_)) {
                states.push(model.clone());
            }
        }
        Some((model, states))
    }

    /// The query a request sends, or `None` when a template names a click not recorded.
    fn query_of(&mut self, request: &Request) -> Option<String> {
        match request {
            Request::Template { query, .. } => template::substitute(query, &self.clicks).ok(),
            Request::Built(spec) => Some(self.build_query(spec)),
        }
    }

    fn build_query(&mut self, spec: &PostbackSpec) -> String {
        let programs = self.model.programs.len();
        let key_index = usize::from(spec.key) % (programs + 1);
        let key = if key_index < programs {
            format!("pk{}", key_index + 1)
        } else {
            format!("nokey{}", spec.key)
        };
        let currency = CURRENCIES[usize::from(spec.currency) % CURRENCIES.len()];
        let mut query = format!("key={key}&id=O{}", spec.order % 8);
        if let Some(minor) = spec.amount_minor {
            let exponent = clickledger::Currency::parse(currency)
                .expect("known")
                .exponent();
            query.push_str(&format!(
                "&amount={}",
                format_amount(u64::from(minor), exponent)
            ));
        }
        query.push_str(&format!("&currency={currency}"));
        if let Some(payment) = spec.payment {
            query.push_str(&format!("&payment={}", PAYMENTS[usize::from(payment) % 4]));
        }
        if let Some(customer) = spec.customer {
            query.push_str(&format!("&customer=C{}", customer % 4));
        }
        let ids: Vec<String> = spec
            .ids
            .iter()
            .map(|choice| self.id_text(*choice))
            .collect();
        query.push_str(&format!("&cids={}", ids.join("-")));
        query
    }

    fn id_text(&mut self, choice: IdChoice) -> String {
        let recorded = |click: u8| -> Option<ClickId> {
            let count = self.clicks.len();
            (count > 0).then(|| self.clicks[usize::from(click) % count])
        };
        match choice {
            IdChoice::Minted { click, upper } => match recorded(click) {
                Some(id) if upper => id.to_string().to_ascii_uppercase(),
                Some(id) => id.to_string(),
                None => "000000000000000000000000".to_owned(),
            },
            IdChoice::Forged { click } => {
                let mut bytes = recorded(click).map_or([0; 12], |id| *id.as_bytes());
                bytes[11] ^= 1;
                ClickId::from_bytes(bytes).to_string()
            }
            IdChoice::OtherShard { click } => {
                let id = recorded(click).unwrap_or(ClickId::from_bytes([0; 12]));
                self.key.mint(id.time(), 1, id.slot()).to_string()
            }
            IdChoice::Unknown { at } => {
                let slot = UNKNOWN_SLOT_BASE + self.unknown_slots_used;
                self.unknown_slots_used += 1;
                let id = self.key.mint(at, 0, slot);
                self.model.mark_authentic(id);
                id.to_string()
            }
        }
    }

    fn crash(&mut self, kind: Crash) {
        let ledger = self.ledger.take().expect("open");
        match kind {
            Crash::Kill => {
                ledger.kill();
                self.reopen(self.flushed);
            }
            Crash::PowerLoss => {
                ledger.kill();
                self.reopen(0);
            }
            Crash::TornTail => self.tear_last_record(ledger),
            Crash::ZeroTail => {
                ledger.sync().expect("sync");
                let crashed =
                    crash::crash_on_real_disk(CrashKind::ZeroTail, self.dir.path(), ledger);
                assert!(
                    matches!(crashed, AfterCrash::Crashed { .. }),
                    "zeros appended"
                );
                self.mark_synced();
                self.reopen(0);
                assert!(
                    self.last_restart_tail().is_some(),
                    "zeros after the tail not reported"
                );
            }
            Crash::CorruptMiddle => {
                ledger.sync().expect("sync");
                self.mark_synced();
                match crash::crash_on_real_disk(CrashKind::CorruptMiddle, self.dir.path(), ledger) {
                    // Fewer than two records in the last segment: nothing was damaged.
                    AfterCrash::Pending(_) => self.reopen(0),
                    AfterCrash::Crashed { .. } => {
                        let opened = open(&self.dir);
                        assert!(
                            opened.is_err(),
                            "a flipped byte in an older record was not refused"
                        );
                    }
                }
            }
        }
    }

    /// `torn_tail`: the last record is cut in half; the state is the one before it.
    fn tear_last_record(&mut self, ledger: Ledger) {
        ledger.sync().expect("sync");
        let Some(last) = self.last_record.take() else {
            // The last record is not one the model can take back (a registration, or
            // one read at open): played as a kill after a sync.
            ledger.kill();
            self.mark_synced();
            return self.reopen(0);
        };
        match crash::crash_on_real_disk(CrashKind::TornTail, self.dir.path(), ledger) {
            AfterCrash::Crashed { .. } => {
                self.model.roll_back_to(&last.before);
                if let Some(reply) = last.reply {
                    self.answers[reply] = Answer::NoAnswer;
                }
                self.mark_synced();
                self.reopen(0);
                assert!(
                    self.last_restart_tail().is_some(),
                    "a torn record was not reported"
                );
            }
            // The last segment holds no whole record (it was just started): a kill.
            AfterCrash::Pending(_) => {
                self.mark_synced();
                self.reopen(0);
            }
        }
    }

    /// Opens the ledger again; its state must be one of `journal[first..]`, which the
    /// model then takes.
    fn reopen(&mut self, first: usize) {
        let ledger = open(&self.dir).unwrap_or_else(|error| panic!("reopen: {error}"));
        self.restart = Some(ledger.recovery().clone());
        let stats = ledger.stats();
        let found = (stats.clicks, stats.impressions, stats.conversions);
        let candidate = self.journal[first..]
            .iter()
            .rev()
            .find(|state| {
                let (clicks, impressions) = state.click_counts();
                (clicks, impressions, state.conversions.len() as u64) == found
            })
            .cloned()
            .unwrap_or_else(|| {
                panic!("reopened with (clicks, impressions, conversions) = {found:?}: no state from the last durable point on has those")
            });
        self.model.roll_back_to(&candidate);
        self.ledger = Some(ledger);
        self.mark_synced();
        self.last_record = None;
    }

    fn last_restart_tail(&self) -> Option<&clickledger::log::TornTail> {
        self.restart
            .as_ref()
            .and_then(|report| report.torn_tail.as_ref())
    }

    /// Compares everything the ledger shows with the model.
    fn check_state(&self) {
        let ledger = self.ledger();
        for id in self.model.authentic.iter().chain(&self.clicks) {
            let expected = self.model.clicks.get(id).map(|click| ClickInfo {
                id: *id,
                program: click.program,
                partner: click.partner.clone(),
                kind: click.kind,
                claimed: self.model.claims.contains_key(id),
            });
            assert_eq!(ledger.click(id), expected, "click {id}");
            let holder = self.model.claimed_by(id).map(|c| c.as_ref().clone());
            assert_eq!(
                ledger.claimed_by(id).map(|c| c.as_ref().clone()),
                holder,
                "holder of {id}"
            );
        }
        for program in &self.model.programs {
            let stored: Vec<_> = ledger
                .conversions(program.id)
                .iter()
                .map(|c| c.as_ref().clone())
                .collect();
            let expected: Vec<_> = self
                .model
                .conversions_of(program.id)
                .iter()
                .map(|c| c.as_ref().clone())
                .collect();
            assert_eq!(stored, expected, "conversions of {:?}", program.id);
        }
        let stats = ledger.stats();
        let (clicks, impressions) = self.model.click_counts();
        assert_eq!(stats.programs, self.model.programs.len() as u64, "programs");
        assert_eq!(
            (stats.clicks, stats.impressions),
            (clicks, impressions),
            "clicks"
        );
        assert_eq!(
            stats.conversions,
            self.model.conversions.len() as u64,
            "conversions"
        );
        assert_eq!(
            stats.claimed_ids,
            self.model.claims.len() as u64,
            "claimed IDs"
        );
    }
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

fn open(dir: &TempDir) -> Result<Ledger, LedgerError> {
    let options = Options {
        segment_bytes_max: SEGMENT_BYTES,
        ..Options::default()
    };
    Ledger::open(dir.path(), options)
}

/// True when the ledger's outcome is the one the model expects.
fn answers_match(expected: &Expected, outcome: &Outcome) -> bool {
    match (expected, outcome) {
        // The parser's reason; nothing to compare beyond it (its verdicts are
        // best-effort text, tested with the parser).
        (Expected::Unparsable(code), Outcome::Rejected(rejection)) => {
            rejection.reason.code() == *code
        }
        (Expected::Unparsable(_), _) => false,
        (Expected::Outcome(expected), outcome) => expected == outcome,
    }
}

fn assert_answer(query: &str, expected: &Expected, outcome: &Outcome) {
    assert!(
        answers_match(expected, outcome),
        "query {query:?}\nthe ledger answered {outcome:#?}\nthe model expects {expected:#?}"
    );
}

/// Every order of `0..count`.
fn permutations(count: usize) -> Vec<Vec<usize>> {
    if count == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for shorter in permutations(count - 1) {
        for position in 0..=shorter.len() {
            let mut order = shorter.clone();
            order.insert(position, count - 1);
            all.push(order);
        }
    }
    all
}
