//! Reading a click log in the TalkingData AdTracking CSV format.
//!
//! `ip,app,device,os,channel,click_time,attributed_time,is_attributed`: one row per click;
//! `attributed_time` is set when the click led to a download. Each distinct `app` becomes
//! a program `app-<n>`, each `channel` a partner `ch-<n>`, each row a click, and each
//! attributed row a conversion posted back at `attributed_time`.
//!
//! The whole file is read and checked before anything is written, so a file that cannot
//! be used leaves no half-imported ledger. Real copies of the data set differ, and these
//! are accepted: CRLF line endings, a UTF-8 byte-order mark, rows out of time order,
//! extra columns and columns in any order (found by header name, in any letter case),
//! blanks around fields, blank lines. Not accepted: rows with a different number of
//! fields than the header. Junk before the header (one public copy has two bytes) is not
//! removed: it becomes part of the first column's name, harmless when that column is
//! `ip`, which the replay does not read, and reported as a missing column otherwise.

use std::collections::BTreeMap;
use std::io::Read;

use clickledger::Timestamp;
use time::macros::format_description;
use time::PrimitiveDateTime;

use crate::drive::{Click, Workload};

/// The columns read, by header name; any others are ignored.
const COLUMNS: [&str; 5] = [
    "app",
    "channel",
    "click_time",
    "attributed_time",
    "is_attributed",
];

/// What a time looks like in the file, for error messages.
const TIME_EXPECTED: &str = "YYYY-MM-DD HH:MM:SS";

/// What an error shows of the text it found, at most: enough to recognize a value or a
/// header line, short enough that a binary file (whose "header" is kilobytes of bytes up
/// to its first newline) still gives a one-line error.
const FOUND_SHOWN_CHARS_MAX: usize = 60;

/// Why a file cannot be replayed. Lines are 1-based and count the header.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TalkingDataError {
    /// The file has no header line.
    #[error("the file is empty: expected a header line naming the columns")]
    Empty,
    /// A required column is absent from the header.
    #[error("line 1: no column `{column}` in the header (found: {found})")]
    MissingColumn {
        /// The column's name.
        column: &'static str,
        /// The header's names as matched, joined by commas, as [`shown`].
        found: String,
    },
    /// A required column appears twice in the header.
    #[error("line 1: column `{column}` appears more than once in the header")]
    DuplicateColumn {
        /// The column's name.
        column: &'static str,
    },
    /// A row has another number of fields than the header.
    #[error("line {line}: expected {expected} fields as in the header, found {found}")]
    FieldCount {
        /// The row's line.
        line: u64,
        /// Fields in the header.
        expected: u64,
        /// Fields in the row.
        found: u64,
    },
    /// A field's value is not what its column holds.
    #[error("line {line}, column {column}: expected {expected}, found \"{found}\"")]
    Invalid {
        /// The row's line.
        line: u64,
        /// The column's name.
        column: &'static str,
        /// What a valid value looks like.
        expected: String,
        /// The value found, as [`shown`].
        found: String,
    },
    /// More distinct apps or channels than a workload holds.
    #[error("line {line}: more than {max} distinct values in column {column}")]
    TooManyDistinct {
        /// The row's line.
        line: u64,
        /// The column's name.
        column: &'static str,
        /// The limit.
        max: usize,
    },
    /// More rows than a workload holds.
    #[error("more than {max} rows")]
    TooManyRows {
        /// The limit.
        max: u64,
    },
    /// The file could not be read.
    #[error("{}read failed: {source}", line_prefix(*line))]
    Read {
        /// Where reading stopped, when known.
        line: Option<u64>,
        /// The reader's error.
        source: csv::Error,
    },
}

fn line_prefix(line: Option<u64>) -> String {
    line.map(|line| format!("line {line}: "))
        .unwrap_or_default()
}

/// Reads and checks a whole TalkingData CSV into a workload (see the module docs).
pub(crate) fn read(input: impl Read) -> Result<Workload, TalkingDataError> {
    // Lines end at `\n` only, and trimming drops a CRLF's `\r` with the other blanks: with
    // csv's default CRLF terminator, a record's position names the line before it in a
    // CRLF file. Flexible, so that a blank line is skipped here instead of failing as a
    // one-field record; `Columns::parse` checks the field count.
    let mut reader = csv::ReaderBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(input);
    let header = reader.byte_headers().map_err(read_error)?;
    let columns = Columns::find(header)?;
    let mut rows = Rows::default();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        rows.push(line, columns.parse(&record, line)?)?;
    }
    Ok(rows.into_workload())
}

fn read_error(source: csv::Error) -> TalkingDataError {
    let line = source.position().map(csv::Position::line);
    TalkingDataError::Read { line, source }
}

/// One row as read: app and channel as the file numbers them.
struct Row {
    app: u32,
    channel: u32,
    click_time: Timestamp,
    attributed_time: Option<Timestamp>,
}

/// Positions of the [`COLUMNS`] in the header, in that order, and the header's length.
struct Columns {
    positions: [usize; COLUMNS.len()],
    fields: usize,
}

impl Columns {
    fn find(header: &csv::ByteRecord) -> Result<Columns, TalkingDataError> {
        if header.iter().all(<[u8]>::is_empty) {
            return Err(TalkingDataError::Empty);
        }
        let names: Vec<String> = header.iter().map(header_name).collect();
        let mut positions = [0; COLUMNS.len()];
        for (position, column) in positions.iter_mut().zip(COLUMNS) {
            let mut matching = (0..names.len()).filter(|&index| names[index] == column);
            *position = matching
                .next()
                .ok_or_else(|| TalkingDataError::MissingColumn {
                    column,
                    found: shown(&names.join(",")),
                })?;
            if matching.next().is_some() {
                return Err(TalkingDataError::DuplicateColumn { column });
            }
        }
        Ok(Columns {
            positions,
            fields: header.len(),
        })
    }

    fn parse(&self, record: &csv::ByteRecord, line: u64) -> Result<Row, TalkingDataError> {
        if record.len() != self.fields {
            return Err(TalkingDataError::FieldCount {
                line,
                expected: self.fields as u64,
                found: record.len() as u64,
            });
        }
        let [app, channel, click_time, attributed_time, is_attributed] = self
            .positions
            .map(|position| record.get(position).unwrap_or_default());
        let row = Row {
            app: parse_number(line, "app", app)?,
            channel: parse_number(line, "channel", channel)?,
            click_time: parse_time(line, "click_time", click_time)?,
            attributed_time: None,
        };
        let attributed = match text(line, "is_attributed", is_attributed)? {
            "1" => true,
            "0" => false,
            found => return Err(invalid(line, "is_attributed", "0 or 1", found)),
        };
        attributed_row(row, attributed, attributed_time, line)
    }
}

/// Adds the attributed time to an attributed row, checking it against the click time.
fn attributed_row(
    row: Row,
    attributed: bool,
    field: &[u8],
    line: u64,
) -> Result<Row, TalkingDataError> {
    let column = "attributed_time";
    if !attributed {
        if !field.is_empty() {
            let found = text(line, column, field)?;
            return Err(invalid(
                line,
                column,
                "nothing, since is_attributed is 0",
                found,
            ));
        }
        return Ok(row);
    }
    if field.is_empty() {
        let expected = format!("{TIME_EXPECTED}, since is_attributed is 1");
        return Err(invalid(line, column, &expected, ""));
    }
    let at = parse_time(line, column, field)?;
    if at < row.click_time {
        let expected = format!("a time not before click_time ({})", row.click_time);
        return Err(invalid(line, column, &expected, text(line, column, field)?));
    }
    Ok(Row {
        attributed_time: Some(at),
        ..row
    })
}

/// A header name as matched: lower case, without a byte-order mark or blanks.
fn header_name(field: &[u8]) -> String {
    let name = String::from_utf8_lossy(field);
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase()
}

fn text<'field>(
    line: u64,
    column: &'static str,
    field: &'field [u8],
) -> Result<&'field str, TalkingDataError> {
    std::str::from_utf8(field)
        .map_err(|_| invalid(line, column, "UTF-8 text", &String::from_utf8_lossy(field)))
}

fn parse_number(line: u64, column: &'static str, field: &[u8]) -> Result<u32, TalkingDataError> {
    let found = text(line, column, field)?;
    // `u32::from_str` accepts a leading `+`; the data set never writes one.
    let digits_only = !found.is_empty() && found.bytes().all(|byte| byte.is_ascii_digit());
    let number = if digits_only {
        found.parse().ok()
    } else {
        None
    };
    number.ok_or_else(|| invalid(line, column, "a whole number from 0 to 4294967295", found))
}

fn parse_time(
    line: u64,
    column: &'static str,
    field: &[u8],
) -> Result<Timestamp, TalkingDataError> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let found = text(line, column, field)?;
    let parsed = PrimitiveDateTime::parse(found, &format)
        .map_err(|_| invalid(line, column, TIME_EXPECTED, found))?;
    let seconds = parsed.assume_utc().unix_timestamp();
    Timestamp::try_from_unix(seconds)
        .map_err(|_| invalid(line, column, "a time from 1970 to 2106", found))
}

fn invalid(line: u64, column: &'static str, expected: &str, found: &str) -> TalkingDataError {
    let expected = expected.to_owned();
    TalkingDataError::Invalid {
        line,
        column,
        expected,
        found: shown(found),
    }
}

/// `text` as an error shows it: each character escaped as `char::escape_debug` does
/// (`\0`, `\u{7f}`, `\"`), and cut to [`FOUND_SHOWN_CHARS_MAX`] characters ending with
/// `…` when longer. An escape is kept whole or left out, never split.
fn shown(text: &str) -> String {
    let fits = text
        .chars()
        .map(|character| character.escape_debug().len())
        .try_fold(0, |used, chars| {
            Some(used + chars).filter(|&used| used <= FOUND_SHOWN_CHARS_MAX)
        })
        .is_some();
    if fits {
        return text.chars().flat_map(char::escape_debug).collect();
    }
    let mut out = String::new();
    let mut used = 0;
    for escape in text.chars().map(char::escape_debug) {
        if used + escape.len() >= FOUND_SHOWN_CHARS_MAX {
            break;
        }
        used += escape.len();
        out.extend(escape);
    }
    out.push('…');
    out
}

/// Rows read so far, with apps and channels renumbered densely.
#[derive(Default)]
struct Rows {
    clicks: Vec<Click>,
    apps: BTreeMap<u32, u16>,
    channels: BTreeMap<u32, u16>,
}

impl Rows {
    fn push(&mut self, line: u64, row: Row) -> Result<(), TalkingDataError> {
        if self.clicks.len() > u32::MAX as usize {
            return Err(TalkingDataError::TooManyRows {
                max: u64::from(u32::MAX) + 1,
            });
        }
        let click = Click {
            at: row.click_time,
            program: dense(&mut self.apps, row.app, line, "app")?,
            partner: dense(&mut self.channels, row.channel, line, "channel")?,
            converts_at: row.attributed_time,
        };
        self.clicks.push(click);
        Ok(())
    }

    /// Programs and partners named and numbered in ascending order of the file's numbers,
    /// so the same file gives the same ledger whatever its row order.
    fn into_workload(mut self) -> Workload {
        let app_order = renumber(&mut self.apps);
        let channel_order = renumber(&mut self.channels);
        for click in &mut self.clicks {
            click.program = app_order[usize::from(click.program)];
            click.partner = channel_order[usize::from(click.partner)];
        }
        Workload {
            programs: self.apps.keys().map(|app| format!("app-{app}")).collect(),
            partners: self
                .channels
                .keys()
                .map(|channel| format!("ch-{channel}"))
                .collect(),
            clicks: self.clicks,
            order_prefix: "td",
        }
    }
}

/// The dense number of `value`, in order of first appearance.
fn dense(
    numbers: &mut BTreeMap<u32, u16>,
    value: u32,
    line: u64,
    column: &'static str,
) -> Result<u16, TalkingDataError> {
    let next = numbers.len();
    if let Some(&number) = numbers.get(&value) {
        return Ok(number);
    }
    let number = u16::try_from(next).map_err(|_| TalkingDataError::TooManyDistinct {
        line,
        column,
        max: 1 << 16,
    })?;
    numbers.insert(value, number);
    Ok(number)
}

/// Replaces first-appearance numbers by ascending-value numbers; returns the old-to-new map.
fn renumber(numbers: &mut BTreeMap<u32, u16>) -> Vec<u16> {
    let mut old_to_new = vec![0; numbers.len()];
    for (new, old) in (0u16..).zip(numbers.values_mut()) {
        old_to_new[usize::from(*old)] = new;
        *old = new;
    }
    old_to_new
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "ip,app,device,os,channel,click_time,attributed_time,is_attributed";

    fn read_text(text: &str) -> Result<Workload, TalkingDataError> {
        read(text.as_bytes())
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn error_text(text: &str) -> String {
        read_text(text).unwrap_err().to_string()
    }

    #[test]
    fn rows_become_clicks_with_programs_and_partners_named_by_number() {
        let workload = read_text(&format!(
            "{HEADER}\n1,12,1,13,497,2017-11-07 09:30:38,,0\n\
             2,3,1,13,245,2017-11-07 09:31:00,2017-11-07 09:40:00,1\n"
        ))
        .unwrap();
        assert_eq!(workload.programs, ["app-3", "app-12"]);
        assert_eq!(workload.partners, ["ch-245", "ch-497"]);
        assert_eq!(workload.clicks[0].at, at("2017-11-07T09:30:38Z"));
        assert_eq!(
            (workload.clicks[0].program, workload.clicks[0].partner),
            (1, 1)
        );
        assert_eq!(
            workload.clicks[1].converts_at,
            Some(at("2017-11-07T09:40:00Z"))
        );
        assert_eq!(workload.conversions(), 1);
    }

    #[test]
    fn crlf_line_endings_and_byte_order_mark_read_like_plain_lines() {
        let plain = format!("{HEADER}\n1,12,1,13,497,2017-11-07 09:30:38,,0\n");
        let windows = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
        assert_eq!(read_text(&windows).unwrap(), read_text(&plain).unwrap());
    }

    #[test]
    fn errors_in_crlf_files_name_the_right_line() {
        let text = format!(
            "{HEADER}\r\n1,1,1,1,1,2017-11-07 00:00:00,,0\r\n1,1,1,1,1,2017-13-01 00:00:00,,0\r\n"
        );
        assert!(error_text(&text).starts_with("line 3, column click_time:"));
        let short = format!("{HEADER}\r\n1,1,1,1,1,2017-11-07 00:00:00,,0\r\n1,1\r\n");
        assert_eq!(
            error_text(&short),
            "line 3: expected 8 fields as in the header, found 2"
        );
    }

    #[test]
    fn blank_lines_are_skipped() {
        let row = "1,12,1,13,497,2017-11-07 09:30:38,,0";
        let plain = read_text(&format!("{HEADER}\n{row}\n")).unwrap();
        assert_eq!(read_text(&format!("{HEADER}\n\n{row}\n\n")).unwrap(), plain);
        assert_eq!(
            read_text(&format!("{HEADER}\r\n{row}\r\n\r\n")).unwrap(),
            plain
        );
    }

    #[test]
    fn columns_are_found_by_name_in_any_case_and_order_with_extras_ignored() {
        let text = "Is_Attributed,CLICK_TIME,extra,channel,app,attributed_time\n\
                    0,2017-11-07 09:30:38,x,497,12,\n";
        let workload = read_text(text).unwrap();
        assert_eq!(
            (workload.programs[0].as_str(), workload.partners[0].as_str()),
            ("app-12", "ch-497")
        );
    }

    #[test]
    fn rows_out_of_time_order_are_kept_in_file_order() {
        let text = format!(
            "{HEADER}\n1,1,1,1,1,2017-11-08 00:00:00,,0\n1,1,1,1,1,2017-11-07 00:00:00,,0\n"
        );
        let clicks = read_text(&text).unwrap().clicks;
        assert!(clicks[0].at > clicks[1].at);
    }

    #[test]
    fn bad_time_names_line_column_expected_and_found() {
        let text = format!(
            "{HEADER}\n1,1,1,1,1,2017-11-07 00:00:00,,0\n1,1,1,1,1,2017-13-01 00:00:00,,0\n"
        );
        assert_eq!(
            error_text(&text),
            "line 3, column click_time: expected YYYY-MM-DD HH:MM:SS, found \"2017-13-01 00:00:00\""
        );
    }

    #[test]
    fn bad_numbers_and_flags_name_their_column() {
        let row = |fields: &str| format!("{HEADER}\n{fields}\n");
        assert_eq!(
            error_text(&row("1,x,1,1,1,2017-11-07 00:00:00,,0")),
            "line 2, column app: expected a whole number from 0 to 4294967295, found \"x\""
        );
        assert_eq!(
            error_text(&row("1,1,1,1,+1,2017-11-07 00:00:00,,0")),
            "line 2, column channel: expected a whole number from 0 to 4294967295, found \"+1\""
        );
        assert_eq!(
            error_text(&row("1,1,1,1,1,2017-11-07 00:00:00,,yes")),
            "line 2, column is_attributed: expected 0 or 1, found \"yes\""
        );
    }

    #[test]
    fn attributed_row_without_attributed_time_is_refused() {
        let text = format!("{HEADER}\n1,1,1,1,1,2017-11-07 00:00:00,,1\n");
        assert_eq!(
            error_text(&text),
            "line 2, column attributed_time: expected YYYY-MM-DD HH:MM:SS, since is_attributed \
             is 1, found \"\""
        );
    }

    #[test]
    fn attributed_time_before_click_time_is_refused() {
        let text = format!("{HEADER}\n1,1,1,1,1,2017-11-07 00:00:00,2017-11-06 23:59:59,1\n");
        assert!(error_text(&text).starts_with(
            "line 2, column attributed_time: expected a time not before click_time \
             (2017-11-07T00:00:00Z)"
        ));
    }

    #[test]
    fn attributed_time_on_an_unattributed_row_is_refused() {
        let text = format!("{HEADER}\n1,1,1,1,1,2017-11-07 00:00:00,2017-11-07 00:00:09,0\n");
        assert!(error_text(&text).starts_with("line 2, column attributed_time: expected nothing"));
    }

    #[test]
    fn missing_column_is_named() {
        let text = "ip,app,channel,click_time,is_attributed\n1,1,1,2017-11-07 00:00:00,0\n";
        assert_eq!(
            error_text(text),
            "line 1: no column `attributed_time` in the header \
             (found: ip,app,channel,click_time,is_attributed)"
        );
    }

    #[test]
    fn repeated_column_is_refused() {
        let text = format!("{HEADER},app\n");
        assert_eq!(
            error_text(&text),
            "line 1: column `app` appears more than once in the header"
        );
    }

    #[test]
    fn short_row_names_its_line_and_field_counts() {
        let text = format!("{HEADER}\n1,1,1,1,1,2017-11-07 00:00:00,,0\n1,1,1\n");
        assert_eq!(
            error_text(&text),
            "line 3: expected 8 fields as in the header, found 3"
        );
    }

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(read_text(""), Err(TalkingDataError::Empty)));
    }

    #[test]
    fn same_rows_in_another_order_give_the_same_programs_and_partners() {
        let first = "1,7,1,1,70,2017-11-07 00:00:00,,0";
        let second = "1,5,1,1,50,2017-11-07 00:00:01,,0";
        let forward = read_text(&format!("{HEADER}\n{first}\n{second}\n")).unwrap();
        let backward = read_text(&format!("{HEADER}\n{second}\n{first}\n")).unwrap();
        assert_eq!(forward.programs, backward.programs);
        assert_eq!(forward.clicks[0], backward.clicks[1]);
    }

    /// The first bytes of an executable: a long "header" of control characters and NULs
    /// with no line end, as the first 5,000 bytes of `/bin/ls` give.
    fn executable_start() -> Vec<u8> {
        let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
        bytes.extend((0..5_000u32).map(|n| match (n * 37 % 256) as u8 {
            b'\n' => 0,
            byte => byte,
        }));
        bytes
    }

    #[test]
    fn binary_input_gives_a_short_one_line_error() {
        let message = read(&executable_start()[..]).unwrap_err().to_string();
        assert!(
            message.starts_with("line 1: no column `app` in the header (found: \\u{7f}elf\\u{2}"),
            "{message}"
        );
        assert!(message.chars().count() <= 120, "{message}");
        assert!(message.ends_with("…)"), "{message}");
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    #[test]
    fn long_or_unprintable_values_are_shown_cut_and_escaped() {
        let long = "9".repeat(500);
        let message = error_text(&format!(
            "{HEADER}\n1,{long},1,1,1,2017-11-07 00:00:00,,0\n"
        ));
        let shown = format!("found \"{}…\"", "9".repeat(59));
        assert!(message.ends_with(&shown), "{message}");
        let message = error_text(&format!(
            "{HEADER}\n1,\u{1}\u{7},1,1,1,2017-11-07 00:00:00,,0\n"
        ));
        assert!(message.ends_with("found \"\\u{1}\\u{7}\""), "{message}");
    }

    #[test]
    fn shown_text_is_at_most_sixty_characters_ending_with_an_ellipsis_when_cut() {
        assert_eq!(shown("2017-13-01 00:00:00"), "2017-13-01 00:00:00");
        assert_eq!(shown("a\"b\0"), "a\\\"b\\0");
        let exact = "x".repeat(FOUND_SHOWN_CHARS_MAX);
        assert_eq!(shown(&exact), exact);
        let cut = shown(&"x".repeat(FOUND_SHOWN_CHARS_MAX + 1));
        assert_eq!(cut, format!("{}…", "x".repeat(FOUND_SHOWN_CHARS_MAX - 1)));
        // An escape is never split: `\u{7f}` is six characters, kept whole or left out.
        let escapes = shown(&"\u{7f}".repeat(20));
        assert_eq!(escapes, format!("{}…", "\\u{7f}".repeat(9)));
    }
}
