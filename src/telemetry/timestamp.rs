//! The log lines' timestamp: RFC 3339 in UTC with microseconds, `2026-12-01T09:00:00.123456Z`, as
//! tracing-subscriber's default writes it, without formatting the date again on every line.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// `YYYY-MM-DDTHH:MM:SS`
const SECOND_LEN: usize = 19;

thread_local! {
    /// The second this thread logged in last, and its text: the date and time are formatted once a
    /// second per thread; each line adds only its microseconds.
    static LAST_SECOND: Cell<(u64, [u8; SECOND_LEN])> = const { Cell::new((u64::MAX, [0; SECOND_LEN])) };
}

/// RFC 3339 timestamps in UTC with microseconds (RFC 3339 §5.6, `time-secfrac`), the text of
/// tracing-subscriber's default timer. That one formats the whole date with `write!` on every line;
/// this one formats it once a second and writes each line's timestamp from bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rfc3339Micros;

impl FormatTime for Rfc3339Micros {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        // A clock before 1970 is a broken clock: write the epoch rather than fail the line.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_timestamp(writer, now.as_secs(), now.subsec_micros())
    }
}

fn write_timestamp(writer: &mut impl fmt::Write, secs: u64, micros: u32) -> fmt::Result {
    let mut line = [0; SECOND_LEN + 8];
    let second = LAST_SECOND.with(|last| {
        let (cached, text) = last.get();
        if cached == secs {
            return text;
        }
        let text = format_second(secs);
        last.set((secs, text));
        text
    });
    line[..SECOND_LEN].copy_from_slice(&second);
    line[SECOND_LEN] = b'.';
    put_digits(&mut line[SECOND_LEN + 1..SECOND_LEN + 7], micros.into());
    line[SECOND_LEN + 7] = b'Z';
    // ASCII digits and punctuation only.
    writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
}

/// `YYYY-MM-DDTHH:MM:SS` for a count of seconds since 1970-01-01T00:00:00Z.
fn format_second(secs: u64) -> [u8; SECOND_LEN] {
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let mut text = *b"0000-00-00T00:00:00";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], of_day / 3600);
    put_digits(&mut text[14..16], of_day / 60 % 60);
    put_digits(&mut text[17..19], of_day % 60);
    text
}

/// Writes `value` in decimal over all of `digits`, with leading zeros (and only its lowest digits if
/// it has more).
fn put_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01: Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>),
/// for days on or after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097; // 400-year cycles
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timestamp(secs: u64, micros: u32) -> String {
        let mut text = String::new();
        write_timestamp(&mut text, secs, micros).unwrap();
        text
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        for (secs, micros, expected) in [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 7, "2000-02-29T00:00:00.000007Z"),
            (951_868_799, 999_999, "2000-02-29T23:59:59.999999Z"),
            (1_709_164_800, 120_000, "2024-02-29T00:00:00.120000Z"),
            (1_798_710_000, 123_456, "2026-12-31T09:40:00.123456Z"),
            (4_102_444_800, 1, "2100-01-01T00:00:00.000001Z"),
        ] {
            assert_eq!(timestamp(secs, micros), expected);
            // The second time, from this thread's cached second.
            assert_eq!(timestamp(secs, micros), expected);
        }
    }

    #[test]
    fn the_timestamp_reads_as_tracing_subscribers_default() {
        // Both clocks are read back to back: retry on the rare second boundary between them.
        let seconds_of = |text: &str| text[..SECOND_LEN].to_owned();
        let matched = (0..5).any(|_| {
            let mut ours = String::new();
            let mut theirs = String::new();
            Rfc3339Micros
                .format_time(&mut Writer::new(&mut ours))
                .unwrap();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
            seconds_of(&ours) == seconds_of(&theirs)
        });
        assert!(matched);
    }
}
