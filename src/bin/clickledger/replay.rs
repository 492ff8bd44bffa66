//! `clickledger replay talkingdata FILE`: a recorded click log into a new ledger.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use crate::datadir;
use crate::drive::Workload;
use crate::error::CliError;
use crate::progress;
use crate::record::{self, Run};
use crate::report::Summary;
use crate::talkingdata;

/// Reads and checks the whole file, then records it into a new ledger in `data_dir`.
///
/// Nothing is written when the file cannot be used, or when `data_dir` is not new or
/// empty (checked before reading, so a refusal comes at once).
pub(crate) fn talkingdata(file: &Path, data_dir: &Path) -> Result<Summary, CliError> {
    const COMMAND: &str = "replay talkingdata";
    datadir::check_new(data_dir, "replay", false)?;

    let load_started = Instant::now();
    let workload = read(file)?;
    tracing::info!(
        rows = workload.clicks.len(),
        conversions = workload.conversions(),
        programs = workload.programs.len(),
        partners = workload.partners.len(),
        "read and checked {}",
        file.display()
    );

    let origin = format!("clickledger {COMMAND} {}", file.display());
    let dir_lock = datadir::prepare_new(data_dir, &origin, "replay", false)?;
    let source = file.display().to_string();
    record::record(
        &workload,
        Run {
            command: COMMAND,
            source,
            data_dir,
            dir_lock,
            load_started,
        },
    )
}

fn read(path: &Path) -> Result<Workload, CliError> {
    let open_error = |source| CliError::OpenInput {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    let bytes = file.metadata().map_err(open_error)?.len();
    let progress = progress::bytes(bytes);
    progress.set_message("reading");
    let workload = talkingdata::read(progress.wrap_read(file));
    progress.finish_and_clear();
    workload.map_err(|source| CliError::TalkingData {
        path: path.to_owned(),
        source,
    })
}
