//! The summary of a `replay` or `simulate` run: as a table for people, as JSON for tests
//! and scripts, and the check that the counts are the ones a correct ledger gives.

use std::fmt::Write as _;

use serde::Serialize;

use crate::drive::Tally;

/// Everything a run prints at the end. Its JSON form (`--json`) is stable: fields are
/// added, never renamed.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Summary {
    /// `replay talkingdata` or `simulate`.
    pub command: String,
    /// The input file, or the generator's parameters.
    pub source: String,
    /// The ledger's data directory.
    pub data_dir: String,
    /// Programs registered.
    pub programs: u64,
    /// Partners that got clicks: the ledger's count after the run.
    pub partners: u64,
    /// Rows of the input that convert: the number of conversions a correct ledger accepts.
    pub conversions_expected: u64,
    /// The counts of what the ledger answered.
    #[serde(flatten)]
    pub tally: Tally,
    /// Where the time went.
    pub timings: Timings,
    /// Whether the counts are the expected ones.
    pub check: Check,
}

/// Where the time of a run went, in milliseconds, and the rates it reached.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Timings {
    /// Reading and checking the input, or generating it.
    pub load_ms: u64,
    /// Opening the ledger and registering the programs.
    pub open_ms: u64,
    /// Applying the events (with the periodic syncs).
    pub drive_ms: u64,
    /// The final sync.
    pub sync_ms: u64,
    /// All of the above.
    pub total_ms: u64,
    /// Clicks and postbacks applied per second of drive and final sync.
    pub events_per_second: u64,
}

/// The outcome of comparing a run's counts with those of a correct ledger.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    /// True when every count is as expected.
    pub passed: bool,
    /// One sentence per count that is not.
    pub failures: Vec<String>,
}

impl Check {
    /// Compares the counts of a run over `clicks` clicks of which `conversions` convert:
    /// every click recorded, and per conversion exactly one accept, one replay, one
    /// `already_claimed` and one `unknown_click` with a forged ID; nothing else.
    pub fn of(tally: &Tally, clicks: u64, conversions: u64) -> Check {
        let mut failures = Vec::new();
        let mut expect = |what: &str, found: u64, expected: u64| {
            if found != expected {
                failures.push(format!("{what}: expected {expected}, found {found}"));
            }
        };
        expect("clicks recorded", tally.clicks, clicks);
        expect("postbacks sent", tally.postbacks, 4 * conversions);
        expect("accepted", tally.accepted, conversions);
        expect("replayed", tally.replayed, conversions);
        expect(
            "rejected already_claimed",
            tally.rejected_with("already_claimed"),
            conversions,
        );
        expect(
            "rejected unknown_click",
            tally.rejected_with("unknown_click"),
            conversions,
        );
        expect("forged IDs", tally.forged, conversions);
        expect("unexpected answers", tally.unexpected, 0);
        for (code, &count) in &tally.rejected {
            if code != "already_claimed" && code != "unknown_click" {
                failures.push(format!("rejected {code}: expected 0, found {count}"));
            }
        }
        Check {
            passed: failures.is_empty(),
            failures,
        }
    }
}

impl Summary {
    /// The summary as an aligned table, ending with the check.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, u64)> = vec![
            ("clicks recorded".into(), self.tally.clicks),
            ("postbacks sent".into(), self.tally.postbacks),
            ("accepted".into(), self.tally.accepted),
            ("replayed".into(), self.tally.replayed),
        ];
        let rejected = self.tally.rejected.iter();
        rows.extend(rejected.map(|(code, &count)| (format!("rejected {code}"), count)));
        rows.push(("IDs found forged".into(), self.tally.forged));
        rows.push(("unexpected answers".into(), self.tally.unexpected));

        let mut out = format!("clickledger {}\n", self.command);
        let _ = writeln!(out, "  source     {}", self.source);
        let _ = writeln!(out, "  data dir   {}", self.data_dir);
        let _ = writeln!(out, "  programs   {}", thousands(self.programs));
        let _ = writeln!(out, "  partners   {}\n", thousands(self.partners));
        for (what, count) in rows {
            let _ = writeln!(out, "  {what:<28}{:>12}", thousands(count));
        }
        out.push('\n');
        out.push_str(&self.timings.lines());
        out.push_str(&self.check_line());
        out
    }

    fn check_line(&self) -> String {
        let expected = thousands(self.conversions_expected);
        if self.check.passed {
            return format!(
                "check: accepted = replayed = already_claimed = forged = {expected} \
                 (conversions in the input): ok\n"
            );
        }
        let mut out = format!("check FAILED ({expected} conversions in the input):\n");
        for failure in &self.check.failures {
            let _ = writeln!(out, "  {failure}");
        }
        out
    }
}

impl Timings {
    /// Fills in the total and the rate from the parts.
    pub fn new(load_ms: u64, open_ms: u64, drive_ms: u64, sync_ms: u64, events: u64) -> Timings {
        let applying_ms = (drive_ms + sync_ms).max(1);
        Timings {
            load_ms,
            open_ms,
            drive_ms,
            sync_ms,
            total_ms: load_ms + open_ms + drive_ms + sync_ms,
            events_per_second: events.saturating_mul(1_000) / applying_ms,
        }
    }

    fn lines(&self) -> String {
        format!(
            "  time       {} load + {} open and register + {} drive + {} sync = {}\n  rate       {} \
             events/s (clicks and postbacks, over drive and sync)\n\n",
            seconds(self.load_ms),
            seconds(self.open_ms),
            seconds(self.drive_ms),
            seconds(self.sync_ms),
            seconds(self.total_ms),
            thousands(self.events_per_second),
        )
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Milliseconds as seconds with three decimals: `1234` as `1.234 s`.
fn seconds(milliseconds: u64) -> String {
    format!("{}.{:03} s", milliseconds / 1_000, milliseconds % 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perfect_tally(conversions: u64) -> Tally {
        let mut tally = Tally {
            clicks: 1_000,
            postbacks: 4 * conversions,
            accepted: conversions,
            replayed: conversions,
            forged: conversions,
            ..Tally::default()
        };
        tally.rejected.insert("already_claimed".into(), conversions);
        tally.rejected.insert("unknown_click".into(), conversions);
        tally
    }

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn check_passes_when_every_probe_got_its_answer() {
        assert!(Check::of(&perfect_tally(3), 1_000, 3).passed);
    }

    #[test]
    fn check_names_each_count_that_is_off() {
        let mut tally = perfect_tally(3);
        tally.replayed = 2;
        tally.rejected.insert("conflicting_retry".into(), 1);
        let check = Check::of(&tally, 1_000, 3);
        assert!(!check.passed);
        assert_eq!(
            check.failures,
            [
                "replayed: expected 3, found 2",
                "rejected conflicting_retry: expected 0, found 1"
            ]
        );
    }

    #[test]
    fn table_lists_rejections_by_code_and_ends_with_the_check() {
        let tally = perfect_tally(227);
        let summary = Summary {
            command: "simulate".into(),
            source: "test".into(),
            data_dir: "dir".into(),
            programs: 2,
            partners: 2,
            conversions_expected: 227,
            check: Check::of(&tally, 1_000, 227),
            tally,
            timings: Timings::new(1, 2, 2_996, 4, 6_000),
        };
        let table = summary.table();
        assert!(
            table.contains("  rejected already_claimed             227\n"),
            "{table}"
        );
        assert!(table.contains("  rate       2,000 events/s"), "{table}");
        assert!(
            table.ends_with("forged = 227 (conversions in the input): ok\n"),
            "{table}"
        );
    }
}
