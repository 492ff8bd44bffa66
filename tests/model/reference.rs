//! The reference model of a ledger: what every call must answer, written to be read, not
//! to be fast. Plain maps and vectors, one function per rule of `docs/SEMANTICS.md`.
//!
//! The model takes the query parser as given (`Postback::from_query`, fuzzed on its own
//! by `postback_query` against an independent encoder): a query that does not parse is
//! refused with the parser's reason and changes nothing. Everything after parsing is
//! modelled here: keys, the program's required parameters, order ids and retries, the
//! verdict of every click ID, the claim rule, conversion numbers and what is stored.
//!
//! Authenticity is modelled by knowledge, not by the tag function: an ID is authentic
//! when the ledger handed it out or the harness minted it with the directory's secret.
//! Any other ID is forged. (A random ID passes the ledger's 24-bit tag check with odds
//! of 1 in 16.7 million; the model would then call it forged and the ledger unknown.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use clickledger::{
    ClickId, ClickKind, Conversion, ConversionId, ConversionKind, IdText, IdVerdict, Outcome,
    Postback, PostbackError, ProgramId, ProgramSettings, RejectReason, Rejection, Timestamp,
    Verdict,
};

/// How far ahead of a postback a click may be dated: the ledger's default.
pub const CLOCK_TOLERANCE_SECONDS: i64 = 300;

/// A registered program.
#[derive(Clone, Debug)]
pub struct ModelProgram {
    pub id: ProgramId,
    pub key: String,
    pub settings: ProgramSettings,
}

/// A click the ledger holds.
#[derive(Clone, Debug)]
pub struct ModelClick {
    pub program: ProgramId,
    pub partner: String,
    pub kind: ClickKind,
    pub at: Timestamp,
    /// Minting order across the whole run: the tie-break between clicks of one second.
    pub minted_order: u64,
}

/// What the model expects of one postback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The query does not parse: rejected with this reason code, nothing written.
    Unparsable(String),
    /// Parsed; the exact outcome.
    Outcome(Outcome),
}

/// Everything a ledger holds, as the model sees it.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub programs: Vec<ModelProgram>,
    /// Clicks the ledger holds. A click lost in a crash leaves this map but stays
    /// authentic, so it answers `unknown`.
    pub clicks: BTreeMap<ClickId, ModelClick>,
    /// Every ID handed out by the ledger or minted by the harness with the secret.
    pub authentic: BTreeSet<ClickId>,
    /// Conversions in acceptance order.
    pub conversions: Vec<Arc<Conversion>>,
    /// Which conversion claimed each claimed ID.
    pub claims: BTreeMap<ClickId, ConversionId>,
    pub next_minted_order: u64,
}

impl Model {
    /// Registers a program; its number is its position.
    pub fn register_program(&mut self, settings: ProgramSettings, key: &str) -> ProgramId {
        let id = ProgramId(self.programs.len() as u32);
        self.programs.push(ModelProgram {
            id,
            key: key.to_owned(),
            settings,
        });
        id
    }

    /// Records a click the ledger minted as `id`. Panics if the ID was handed out before
    /// or does not carry its click time: the ledger broke "an ID is never reissued".
    pub fn record_click(
        &mut self,
        id: ClickId,
        program: ProgramId,
        partner: &str,
        kind: ClickKind,
        at: Timestamp,
    ) {
        assert!(
            self.authentic.insert(id),
            "click ID {id} was handed out twice"
        );
        assert_eq!(id.time(), at, "click ID {id} does not carry its click time");
        let minted_order = self.next_minted_order;
        self.next_minted_order += 1;
        let click = ModelClick {
            program,
            partner: partner.to_owned(),
            kind,
            at,
            minted_order,
        };
        self.clicks.insert(id, click);
    }

    /// Marks an ID minted with the secret but never recorded: authentic and unknown.
    pub fn mark_authentic(&mut self, id: ClickId) {
        self.authentic.insert(id);
    }

    pub fn program(&self, id: ProgramId) -> Option<&ModelProgram> {
        self.programs.get(id.0 as usize)
    }

    /// Applies a raw query received at `at`.
    pub fn convert_query(&mut self, query: &str, at: Timestamp) -> Expected {
        match Postback::from_query(query) {
            Err(error) => Expected::Unparsable(RejectReason::from(error).code()),
            Ok(postback) => Expected::Outcome(self.convert(&postback, at)),
        }
    }

    /// Applies a parsed postback: the order of decisions of `docs/SEMANTICS.md`.
    pub fn convert(&mut self, postback: &Postback, at: Timestamp) -> Outcome {
        let Some(program) = self
            .programs
            .iter()
            .find(|p| p.key == postback.key)
            .cloned()
        else {
            return rejected(RejectReason::BadKey, Vec::new());
        };
        if let Some(param) = missing_required(&program.settings, postback) {
            let reason = RejectReason::Postback(PostbackError::Missing { param });
            return rejected(reason, Vec::new());
        }
        if let Some(original) = self.by_order_id(program.id, &postback.order.order_id) {
            return retry_answer(original, postback);
        }
        let mut verdicts: Vec<(ClickId, Verdict)> = postback
            .click_ids
            .iter()
            .map(|id| (*id, self.examine(id, &program, at)))
            .collect();
        let Some(credited) = self.latest_eligible(&verdicts) else {
            let reason = reason_without_eligible_id(&verdicts);
            return rejected(reason, as_id_verdicts(&verdicts));
        };
        if let Some(holder) = self.claims.get(&credited) {
            let reason = RejectReason::AlreadyClaimed {
                id: credited,
                by: *holder,
            };
            return rejected(reason, as_id_verdicts(&verdicts));
        }
        for (_, verdict) in &mut verdicts {
            if *verdict == Verdict::Eligible {
                *verdict = Verdict::Accepted;
            }
        }
        Outcome::Accepted(self.accept(&program, postback, at, credited, &verdicts))
    }

    /// Stores an accepted conversion and claims its IDs.
    fn accept(
        &mut self,
        program: &ModelProgram,
        postback: &Postback,
        at: Timestamp,
        credited: ClickId,
        verdicts: &[(ClickId, Verdict)],
    ) -> Arc<Conversion> {
        let id = ConversionId(self.conversions.len() as u64 + 1);
        let claimed: Vec<ClickId> = verdicts
            .iter()
            .filter(|(_, verdict)| *verdict == Verdict::Accepted)
            .map(|(click, _)| *click)
            .collect();
        for click in &claimed {
            assert!(self.claims.insert(*click, id).is_none());
        }
        let conversion = Arc::new(Conversion {
            id,
            program: program.id,
            order: postback.order.clone(),
            attributed_click: credited,
            partner: self.clicks[&credited].partner.clone(),
            claimed,
            verdicts: as_id_verdicts(verdicts),
            at,
        });
        self.conversions.push(Arc::clone(&conversion));
        conversion
    }

    /// The verdict on one ID for a postback of `program` at `at`, checks in table order.
    fn examine(&self, id: &ClickId, program: &ModelProgram, at: Timestamp) -> Verdict {
        if !self.authentic.contains(id) {
            return Verdict::Forged;
        }
        let Some(click) = self.clicks.get(id) else {
            return Verdict::Unknown;
        };
        if click.program != program.id {
            return Verdict::OtherProgram;
        }
        let age_seconds = i64::from(at.unix()) - i64::from(click.at.unix());
        if -age_seconds > CLOCK_TOLERANCE_SECONDS {
            return Verdict::FromFuture;
        }
        if age_seconds > i64::from(program.settings.attribution_window_seconds) {
            return Verdict::Expired;
        }
        if self.claims.contains_key(id) {
            Verdict::AlreadyClaimed
        } else {
            Verdict::Eligible
        }
    }

    /// The latest eligible ID (claimed or not): by click time, then minting order.
    fn latest_eligible(&self, verdicts: &[(ClickId, Verdict)]) -> Option<ClickId> {
        verdicts
            .iter()
            .filter(|(_, verdict)| matches!(verdict, Verdict::Eligible | Verdict::AlreadyClaimed))
            .map(|(id, _)| (*id, &self.clicks[id]))
            .max_by_key(|(_, click)| (click.at, click.minted_order))
            .map(|(id, _)| id)
    }

    fn by_order_id(&self, program: ProgramId, order_id: &str) -> Option<&Arc<Conversion>> {
        self.conversions
            .iter()
            .find(|c| c.program == program && c.order.order_id == order_id)
    }

    /// The conversion holding `id`, if claimed.
    pub fn claimed_by(&self, id: &ClickId) -> Option<&Arc<Conversion>> {
        let holder = self.claims.get(id)?;
        self.conversions.iter().find(|c| c.id == *holder)
    }

    /// A program's conversions in acceptance order.
    pub fn conversions_of(&self, program: ProgramId) -> Vec<Arc<Conversion>> {
        self.conversions
            .iter()
            .filter(|c| c.program == program)
            .cloned()
            .collect()
    }

    /// Counts of clicks and impressions held.
    pub fn click_counts(&self) -> (u64, u64) {
        let impressions = self
            .clicks
            .values()
            .filter(|click| click.kind == ClickKind::Impression)
            .count() as u64;
        (self.clicks.len() as u64 - impressions, impressions)
    }

    /// Takes `earlier`'s durable state after a crash lost what came after it, keeping
    /// what never goes away: authenticity of every ID handed out, and minting order.
    pub fn roll_back_to(&mut self, earlier: &Model) {
        let authentic = std::mem::take(&mut self.authentic);
        let next_minted_order = self.next_minted_order;
        *self = earlier.clone();
        self.authentic = authentic;
        self.next_minted_order = next_minted_order;
    }
}

/// The first required parameter the program's settings find missing.
fn missing_required(settings: &ProgramSettings, postback: &Postback) -> Option<&'static str> {
    let order = &postback.order;
    if settings.kind == ConversionKind::Sales && order.amount_minor.is_none() {
        return Some("amount");
    }
    if settings.payment_required && order.payment.is_none() {
        return Some("payment");
    }
    if settings.revenue_share && order.customer.is_none() {
        return Some("customer");
    }
    None
}

/// A known order id: the same amount and currency replay, anything else conflicts.
fn retry_answer(original: &Arc<Conversion>, postback: &Postback) -> Outcome {
    let same = original.order.amount_minor == postback.order.amount_minor
        && original.order.currency == postback.order.currency;
    if same {
        return Outcome::Replayed(Arc::clone(original));
    }
    let reason = RejectReason::ConflictingRetry {
        order_id: postback.order.order_id.clone(),
        original: original.id,
    };
    rejected(reason, Vec::new())
}

/// Without an eligible ID, the first ID's verdict gives the reason.
fn reason_without_eligible_id(verdicts: &[(ClickId, Verdict)]) -> RejectReason {
    let (id, verdict) = verdicts[0];
    match verdict {
        Verdict::OtherProgram => RejectReason::WrongProgram { id },
        Verdict::Expired => RejectReason::ClickExpired { id },
        Verdict::FromFuture => RejectReason::ClickInFuture { id },
        Verdict::Forged | Verdict::Unknown => RejectReason::UnknownClick { id },
        other => panic!("an ineligible ID cannot be {other:?}"),
    }
}

fn as_id_verdicts(verdicts: &[(ClickId, Verdict)]) -> Vec<IdVerdict> {
    verdicts
        .iter()
        .map(|(id, verdict)| IdVerdict {
            id: IdText::Parsed(*id),
            verdict: *verdict,
        })
        .collect()
}

fn rejected(reason: RejectReason, verdicts: Vec<IdVerdict>) -> Outcome {
    Outcome::Rejected(Rejection { reason, verdicts })
}
