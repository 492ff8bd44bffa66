//! The claim rule: which of a postback's click IDs back the conversion.
//!
//! The rule (see `docs/SEMANTICS.md`): an ID is *eligible* when it is authentic, known,
//! of the postback's program, inside the attribution window and not ahead of the clock.
//! The conversion goes to the latest eligible ID (by click time, then minting order).
//! If that ID is unclaimed, the conversion is accepted and every eligible unclaimed ID
//! is claimed with it; if it is claimed, the postback is rejected `already_claimed`.
//! With no eligible ID, the reason is that of the first ID in list order.
//!
//! This module decides; it reads the index through a closure and writes nothing, so the
//! rule is tested here on its own and the ledger only applies the decision.

use crate::click_id::ClickId;
use crate::outcome::{ConversionId, IdText, IdVerdict, RejectReason, Verdict};

/// The decision for one postback's IDs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// One verdict per ID, in postback order.
    pub verdicts: Vec<IdVerdict>,
    /// Accept (with the credited ID) or reject.
    pub result: Result<ClickId, RejectReason>,
}

impl Decision {
    /// The IDs this decision claims: those with verdict `accepted`.
    pub fn claimed(&self) -> impl Iterator<Item = ClickId> + '_ {
        self.verdicts
            .iter()
            .filter_map(|verdict| match (&verdict.id, verdict.verdict) {
                (IdText::Parsed(id), Verdict::Accepted) => Some(*id),
                _ => None,
            })
    }
}

/// Decides the claim. `examine` gives each ID's state: [`Verdict::Eligible`] for an
/// eligible unclaimed ID, [`Verdict::AlreadyClaimed`] for an eligible claimed one, or
/// the reason it is not eligible. `holder` names the conversion holding a claimed ID.
pub(crate) fn decide(
    ids: &[ClickId],
    mut examine: impl FnMut(&ClickId) -> Verdict,
    holder: impl Fn(&ClickId) -> ConversionId,
) -> Decision {
    // One allocation: the verdicts are built in place and returned as they are.
    let mut verdicts: Vec<IdVerdict> = ids
        .iter()
        .map(|id| IdVerdict {
            id: IdText::Parsed(*id),
            verdict: examine(id),
        })
        .collect();
    let is_eligible =
        |verdict: Verdict| matches!(verdict, Verdict::Eligible | Verdict::AlreadyClaimed);
    // Within one second, IDs of one day are ordered by slot, which is minting order.
    let latest = ids
        .iter()
        .zip(&verdicts)
        .filter(|(_, state)| is_eligible(state.verdict))
        .max_by_key(|(id, _)| (id.time(), id.slot()))
        .map(|(id, state)| (*id, state.verdict));

    let result = match latest {
        None => Err(reason_without_eligible_id(ids, &verdicts)),
        Some((id, Verdict::AlreadyClaimed)) => Err(RejectReason::AlreadyClaimed {
            id,
            by: holder(&id),
        }),
        Some((id, _)) => {
            for state in &mut verdicts {
                if state.verdict == Verdict::Eligible {
                    state.verdict = Verdict::Accepted;
                }
            }
            Ok(id)
        }
    };
    Decision { verdicts, result }
}

/// The reason of the first ID in list order, when none is eligible.
fn reason_without_eligible_id(ids: &[ClickId], verdicts: &[IdVerdict]) -> RejectReason {
    // A postback always carries at least one ID (parsing refuses an empty `cids`).
    let (Some(&id), Some(state)) = (ids.first(), verdicts.first()) else {
        return RejectReason::Postback(crate::postback::PostbackError::Missing { param: "cids" });
    };
    match state.verdict {
        Verdict::OtherProgram => RejectReason::WrongProgram { id },
        Verdict::Expired => RejectReason::ClickExpired { id },
        Verdict::FromFuture => RejectReason::ClickInFuture { id },
        _ => RejectReason::UnknownClick { id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(time: u32, slot: u32) -> ClickId {
        let mut bytes = [0u8; 12];
        bytes[0..4].copy_from_slice(&time.to_be_bytes());
        bytes[5..9].copy_from_slice(&slot.to_be_bytes());
        ClickId::from_bytes(bytes)
    }

    fn decide_with(states: &[(ClickId, Verdict)]) -> Decision {
        let ids: Vec<ClickId> = states.iter().map(|(id, _)| *id).collect();
        let examine = |wanted: &ClickId| {
            states
                .iter()
                .find(|(id, _)| id == wanted)
                .map(|(_, v)| *v)
                .unwrap()
        };
        decide(&ids, examine, |_| ConversionId(7))
    }

    fn verdicts(decision: &Decision) -> Vec<Verdict> {
        decision
            .verdicts
            .iter()
            .map(|verdict| verdict.verdict)
            .collect()
    }

    #[test]
    fn latest_eligible_id_is_credited_and_every_eligible_unclaimed_id_is_claimed() {
        let (old, new, forged) = (id(100, 0), id(200, 0), id(300, 0));
        let decision = decide_with(&[
            (old, Verdict::Eligible),
            (new, Verdict::Eligible),
            (forged, Verdict::Forged),
        ]);
        assert_eq!(decision.result, Ok(new));
        assert_eq!(
            verdicts(&decision),
            [Verdict::Accepted, Verdict::Accepted, Verdict::Forged]
        );
        assert_eq!(decision.claimed().collect::<Vec<_>>(), [old, new]);
    }

    #[test]
    fn equal_times_are_ordered_by_minting_order() {
        let (first, second) = (id(100, 4), id(100, 5));
        let decision = decide_with(&[(second, Verdict::Eligible), (first, Verdict::Eligible)]);
        assert_eq!(decision.result, Ok(second));
    }

    #[test]
    fn latest_eligible_already_claimed_rejects_and_claims_nothing() {
        let (old, new) = (id(100, 0), id(200, 0));
        let decision = decide_with(&[(old, Verdict::Eligible), (new, Verdict::AlreadyClaimed)]);
        assert_eq!(
            decision.result,
            Err(RejectReason::AlreadyClaimed {
                id: new,
                by: ConversionId(7)
            })
        );
        assert_eq!(
            verdicts(&decision),
            [Verdict::Eligible, Verdict::AlreadyClaimed]
        );
        assert_eq!(decision.claimed().count(), 0);
    }

    #[test]
    fn older_claimed_id_does_not_block_a_newer_unclaimed_one() {
        let (old, new) = (id(100, 0), id(200, 0));
        let decision = decide_with(&[(old, Verdict::AlreadyClaimed), (new, Verdict::Eligible)]);
        assert_eq!(decision.result, Ok(new));
        assert_eq!(
            verdicts(&decision),
            [Verdict::AlreadyClaimed, Verdict::Accepted]
        );
    }

    #[test]
    fn without_eligible_ids_the_first_ids_reason_is_given() {
        let (a, b) = (id(100, 0), id(200, 0));
        let decision = decide_with(&[(a, Verdict::Expired), (b, Verdict::OtherProgram)]);
        assert_eq!(decision.result, Err(RejectReason::ClickExpired { id: a }));
        let decision = decide_with(&[(b, Verdict::OtherProgram), (a, Verdict::Expired)]);
        assert_eq!(decision.result, Err(RejectReason::WrongProgram { id: b }));
        let decision = decide_with(&[(a, Verdict::Forged)]);
        assert_eq!(decision.result, Err(RejectReason::UnknownClick { id: a }));
        let decision = decide_with(&[(a, Verdict::FromFuture)]);
        assert_eq!(decision.result, Err(RejectReason::ClickInFuture { id: a }));
    }
}
