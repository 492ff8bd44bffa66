//! clickledger: an exact, crash-safe click-ID claim ledger for server-to-server
//! conversion tracking.

#![warn(missing_docs)]

mod claim;
pub mod click_id;
pub mod error;
pub mod index;
pub mod ledger;
pub mod log;
pub mod money;
pub mod outcome;
pub mod postback;
pub mod program;
mod registry;
pub mod secret;
pub mod time;

pub use click_id::{ClickId, ClickIdError, IdKey};
pub use error::LedgerError;
pub use ledger::{ClickInfo, Ledger, NewProgram, Options, Stats};
pub use money::{Currency, MoneyError};
pub use outcome::{
    Conversion, ConversionId, IdText, IdVerdict, Outcome, RejectReason, Rejection, Verdict,
};
pub use postback::{Payment, Postback, PostbackError};
pub use program::{ClickKind, ConversionKind, PartnerId, ProgramId, ProgramSettings};
pub use time::{TimeError, Timestamp};
