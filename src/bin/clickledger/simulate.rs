//! `clickledger simulate`: a generated workload shaped like the TalkingData sample into a
//! new ledger.

use std::path::Path;
use std::time::Instant;

use crate::datadir;
use crate::error::CliError;
use crate::generator;
use crate::record::{self, Run};
use crate::report::Summary;

/// Generates `clicks` clicks from `seed` and records them into `data_dir`, replacing the
/// ledger of an earlier `simulate` there.
pub(crate) fn simulate(clicks: u32, seed: u64, data_dir: &Path) -> Result<Summary, CliError> {
    let source = format!("generated: --clicks {clicks} --seed {seed}");
    let origin = format!("clickledger simulate --clicks {clicks} --seed {seed}");
    let dir_lock = datadir::prepare_new(data_dir, &origin, "simulate", true)?;

    let load_started = Instant::now();
    let workload = generator::generate(clicks, seed)?;
    tracing::info!(
        clicks,
        conversions = workload.conversions(),
        seed,
        "generated the workload"
    );
    record::record(
        &workload,
        Run {
            command: "simulate",
            source,
            data_dir,
            dir_lock,
            load_started,
        },
    )
}
