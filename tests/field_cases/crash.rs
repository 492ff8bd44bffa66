//! Crashes: the hook where the simulators of the durability work will plug in.
//!
//! Every crash kind the cases use is listed in [`CrashKind`]. None is simulated yet, so a
//! case that crashes is reported pending rather than failed or skipped in silence.

use std::path::Path;

use clickledger::Ledger;

/// How the process dies, as the cases name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// `kill`: the process dies; every byte written is kept.
    Kill,
    /// `power_loss`: writes not yet synced are lost.
    PowerLoss,
    /// `torn_tail`: the last log record is cut in half; its postback got no answer.
    TornTail,
    /// `zero_tail`: zero bytes follow the last record.
    ZeroTail,
    /// `corrupt_middle`: one byte of an older record is flipped.
    CorruptMiddle,
}

impl CrashKind {
    /// Every kind, in the README's order.
    pub const ALL: [CrashKind; 5] = [
        CrashKind::Kill,
        CrashKind::PowerLoss,
        CrashKind::TornTail,
        CrashKind::ZeroTail,
        CrashKind::CorruptMiddle,
    ];

    /// The name the cases use.
    pub fn name(self) -> &'static str {
        match self {
            CrashKind::Kill => "kill",
            CrashKind::PowerLoss => "power_loss",
            CrashKind::TornTail => "torn_tail",
            CrashKind::ZeroTail => "zero_tail",
            CrashKind::CorruptMiddle => "corrupt_middle",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<CrashKind> {
        CrashKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// What a crash left for the runner.
pub enum AfterCrash {
    /// The kind is not simulated yet; the case is reported pending with this reason.
    Pending(String),
    /// The ledger is gone and its directory holds what the crash left; a `restart` event
    /// opens it again.
    #[expect(
        dead_code,
        reason = "built by the crash simulators of the durability work"
    )]
    Crashed {
        /// The last postback's answer never reached its caller (`torn_tail`).
        last_postback_unanswered: bool,
    },
}

/// Kills `ledger` in the way `kind` names, leaving `dir` as that crash would.
///
/// TODO: Simulate each kind once the durability work can drop unsynced writes and
/// expose the log's segments; until then every kind is pending.
pub fn crash(kind: CrashKind, _dir: &Path, ledger: Ledger) -> AfterCrash {
    drop(ledger);
    let planned: Vec<&str> = CrashKind::ALL.iter().map(|kind| kind.name()).collect();
    AfterCrash::Pending(format!(
        "crash `{}` is not simulated yet (the durability work brings {})",
        kind.name(),
        planned.join(", ")
    ))
}
