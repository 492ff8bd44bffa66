//! The append-only log: the single source of truth.

/// What opening the log found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn or checksum-failing tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// Records replayed.
    pub records: u64,
}

/// A damaged tail of the last segment, cut at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: std::path::PathBuf,
    /// Where the damage starts (bytes from the start of the file).
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes_cut: u64,
}
