//! `clickledger program create|list|show|rotate-key`: the programs a server tracks.
//!
//! Programs live in the ledger's log like everything else. A running server holds the
//! ledger's lock and reads its programs at start, so these commands run while it is
//! stopped (they are refused, saying so, while it runs), and the server sees their
//! changes at its next start. Keys are shown once, when made: the ledger keeps only
//! their SHA-256.

use std::path::Path;

use clickledger::{ConversionKind, Ledger, LedgerError, Options, ProgramId, ProgramSettings};
use serde::Serialize;

use crate::error::CliError;
use crate::serve::landing;

/// What `program create` is given.
#[derive(Debug, Clone)]
pub(crate) struct NewProgramArgs {
    pub name: String,
    pub domains: Vec<String>,
    pub default_url: Option<String>,
    pub window_days: u32,
    pub leads: bool,
    pub payment_required: bool,
    pub revenue_share: bool,
}

/// Why a program command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProgramError {
    /// The ledger is open elsewhere, most likely in the server.
    #[error(
        "the ledger in {} is in use by another process (a running `clickledger serve`?): \
         programs are changed while the server is stopped, and read at its next start",
        dir.display()
    )]
    InUse {
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// No program of that name.
    #[error("no program named {name:?} in {}", dir.display())]
    Unknown {
        /// The name asked for.
        name: String,
        /// The data directory.
        dir: std::path::PathBuf,
    },
    /// A landing domain or the default landing URL is unusable.
    #[error("{0}")]
    Landing(String),
}

/// A program as `list` and `show` print it; the JSON form adds fields, never renames.
#[derive(Debug, Serialize)]
pub(crate) struct ProgramView {
    pub number: u32,
    pub name: String,
    /// `sales` or `leads`.
    pub kind: &'static str,
    pub payment_required: bool,
    pub revenue_share: bool,
    pub attribution_window_days: f64,
    pub landing_domains: Vec<String>,
    pub default_landing_url: Option<String>,
    pub conversions: u64,
}

impl ProgramView {
    fn of(ledger: &Ledger, id: ProgramId, settings: ProgramSettings) -> ProgramView {
        ProgramView {
            number: id.0,
            kind: match settings.kind {
                ConversionKind::Sales => "sales",
                ConversionKind::Leads => "leads",
            },
            payment_required: settings.payment_required,
            revenue_share: settings.revenue_share,
            attribution_window_days: f64::from(settings.attribution_window_seconds) / 86_400.0,
            landing_domains: settings.landing_domains,
            default_landing_url: settings.default_landing_url,
            conversions: ledger.conversions(id).len() as u64,
            name: settings.name,
        }
    }

    /// The multi-line text form of `show`.
    pub(crate) fn text(&self) -> String {
        let none = "(none)".to_owned();
        format!(
            "program {} (number {})\n  kind: {}\n  payment required: {}\n  revenue share: {}\n  \
             attribution window: {} days\n  landing domains: {}\n  default landing URL: {}\n  \
             conversions: {}\n",
            self.name,
            self.number,
            self.kind,
            self.payment_required,
            self.revenue_share,
            self.attribution_window_days,
            if self.landing_domains.is_empty() {
                none.clone()
            } else {
                self.landing_domains.join(", ")
            },
            self.default_landing_url.as_ref().unwrap_or(&none),
            self.conversions,
        )
    }
}

/// Registers a program; returns its view and its key.
pub(crate) fn create(dir: &Path, args: NewProgramArgs) -> Result<(ProgramView, String), CliError> {
    let settings = settings_of(args)?;
    let ledger = open(dir, false)?;
    let program = ledger.register_program(settings)?;
    ledger.sync()?;
    let settings = ledger.program(program.id).unwrap_or_else(|| unreachable!());
    Ok((ProgramView::of(&ledger, program.id, settings), program.key))
}

/// Every program, in registration order.
pub(crate) fn list(dir: &Path) -> Result<Vec<ProgramView>, CliError> {
    let ledger = open(dir, true)?;
    let programs = ledger.programs();
    Ok(programs
        .into_iter()
        .map(|(id, settings)| ProgramView::of(&ledger, id, settings))
        .collect())
}

/// One program.
pub(crate) fn show(dir: &Path, name: &str) -> Result<ProgramView, CliError> {
    let ledger = open(dir, true)?;
    let id = find(&ledger, dir, name)?;
    let settings = ledger.program(id).unwrap_or_else(|| unreachable!());
    Ok(ProgramView::of(&ledger, id, settings))
}

/// Gives a program a new key and returns it.
pub(crate) fn rotate_key(dir: &Path, name: &str) -> Result<String, CliError> {
    let ledger = open(dir, false)?;
    let id = find(&ledger, dir, name)?;
    let key = ledger.rotate_key(id)?;
    ledger.sync()?;
    Ok(key)
}

fn find(ledger: &Ledger, dir: &Path, name: &str) -> Result<ProgramId, ProgramError> {
    ledger
        .program_id(name)
        .ok_or_else(|| ProgramError::Unknown {
            name: name.to_owned(),
            dir: dir.to_owned(),
        })
}

fn open(dir: &Path, read_only: bool) -> Result<Ledger, CliError> {
    if let Some(command) = crate::datadir::run_origin(dir) {
        return Err(crate::serve::ServeError::RunLedger {
            dir: dir.to_owned(),
            command,
        }
        .into());
    }
    if read_only {
        crate::datadir::require_existing(dir)?;
    }
    let options = Options {
        read_only,
        ..Options::default()
    };
    match Ledger::open(dir, options) {
        Ok(ledger) => Ok(ledger),
        Err(LedgerError::Locked { dir }) => Err(ProgramError::InUse { dir }.into()),
        Err(error) => Err(error.into()),
    }
}

/// The settings `create` registers, after checking the landing domains and URL.
fn settings_of(args: NewProgramArgs) -> Result<ProgramSettings, ProgramError> {
    let mut domains = Vec::with_capacity(args.domains.len());
    for domain in &args.domains {
        domains.push(landing::check_domain(domain).map_err(ProgramError::Landing)?);
    }
    if let Some(url) = &args.default_url {
        landing::check(url, &domains, &args.name)
            .map_err(|error| ProgramError::Landing(error.to_string()))?;
    }
    Ok(ProgramSettings {
        kind: if args.leads {
            ConversionKind::Leads
        } else {
            ConversionKind::Sales
        },
        payment_required: args.payment_required,
        revenue_share: args.revenue_share,
        attribution_window_seconds: args.window_days * 86_400,
        landing_domains: domains,
        default_landing_url: args.default_url,
        ..ProgramSettings::new(&args.name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> NewProgramArgs {
        NewProgramArgs {
            name: "shoes".into(),
            domains: vec!["Shop.Example".into()],
            default_url: Some("https://www.shop.example/welcome".into()),
            window_days: 7,
            leads: true,
            payment_required: false,
            revenue_share: true,
        }
    }

    #[test]
    fn settings_carry_every_flag_with_domains_normalised() {
        let settings = settings_of(args()).unwrap();
        assert_eq!(settings.landing_domains, ["shop.example"]);
        assert_eq!(settings.kind, ConversionKind::Leads);
        assert_eq!(settings.attribution_window_seconds, 7 * 86_400);
        assert!(settings.revenue_share && !settings.payment_required);
    }

    #[test]
    fn a_default_url_outside_the_domains_or_a_domain_with_a_scheme_is_refused() {
        let foreign = NewProgramArgs {
            default_url: Some("https://evil.example/".into()),
            ..args()
        };
        assert!(matches!(
            settings_of(foreign),
            Err(ProgramError::Landing(_))
        ));
        let scheme = NewProgramArgs {
            domains: vec!["https://shop.example".into()],
            default_url: None,
            ..args()
        };
        assert!(matches!(settings_of(scheme), Err(ProgramError::Landing(_))));
    }
}
