//! The pretty format: `2026-12-01T09:00:00.123456Z  INFO http_request: request served status=200
//! latency_ms=0.21 method="GET" path="/api/public" request_id="…"`, the event's fields first, then the
//! fields of each span it is in, from the outermost.
//!
//! This is the text of tracing-subscriber's compact format (without the target), written the short
//! way: that one sends every value through `{:?}` and its colour styles even with colours off, and
//! every part of the line through `write!`. The request span's fields and the access line are
//! formatted on every request, so this is most of what a logged request costs over an unlogged one.

use std::fmt::{self, Write as _};

use smallvec::SmallVec;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::fields::{Syntax, write_fields};
use super::timestamp::Rfc3339Micros;

/// Writes each event as one line: timestamp, level, the names of the spans it is in, its fields, the
/// spans' fields. The level is coloured when the writer has colours on (a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PrettyLine;

impl<S> FormatEvent<S, PlainFields> for PrettyLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, PlainFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        Rfc3339Micros.format_time(&mut writer)?;
        writer.write_str(level_text(
            *event.metadata().level(),
            writer.has_ansi_escapes(),
        ))?;
        // Outermost first; looked up once for both the names and the fields.
        let spans: SmallVec<[SpanRef<'_, S>; 4]> = ctx
            .event_scope()
            .map(|scope| scope.from_root().collect())
            .unwrap_or_default();
        for span in &spans {
            writer.write_str(span.name())?;
            writer.write_char(':')?;
        }
        if !spans.is_empty() {
            writer.write_char(' ')?;
        }
        ctx.format_fields(writer.by_ref(), event)?;
        for span in &spans {
            if let Some(fields) = span.extensions().get::<FormattedFields<PlainFields>>()
                && !fields.is_empty()
            {
                writer.write_char(' ')?;
                writer.write_str(fields)?;
            }
        }
        writer.write_char('\n')
    }
}

/// The level between the timestamp and the rest, right-aligned on five characters:
/// `  INFO `, ` ERROR `.
fn level_text(level: Level, ansi: bool) -> &'static str {
    match (level, ansi) {
        (Level::TRACE, false) => " TRACE ",
        (Level::DEBUG, false) => " DEBUG ",
        (Level::INFO, false) => "  INFO ",
        (Level::WARN, false) => "  WARN ",
        (Level::ERROR, false) => " ERROR ",
        (Level::TRACE, true) => " \x1b[35mTRACE\x1b[0m ",
        (Level::DEBUG, true) => " \x1b[34mDEBUG\x1b[0m ",
        (Level::INFO, true) => "  \x1b[32mINFO\x1b[0m ",
        (Level::WARN, true) => "  \x1b[33mWARN\x1b[0m ",
        (Level::ERROR, true) => " \x1b[31mERROR\x1b[0m ",
    }
}

/// Formats fields as `message name="text" count=3 ratio=0.25 flag=true`: strings quoted and
/// escaped as `{:?}` does, every control character escaped, so client input in a field can neither
/// start a line of its own nor send escape sequences to the terminal that shows the log.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        write_fields::<Self>(writer, &fields)
    }
}

impl Syntax for PlainFields {
    /// `name=`, after a space unless first; the message has no name.
    fn start(writer: &mut Writer<'_>, name: &str, first: bool) -> fmt::Result {
        if !first {
            writer.write_char(' ')?;
        }
        if name != "message" {
            writer.write_str(name)?;
            writer.write_char('=')?;
        }
        Ok(())
    }

    fn text(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
        write_quoted(writer, value)
    }

    /// The message and `%`-formatted fields write their `Display` text unquoted.
    fn debug(writer: &mut Writer<'_>, value: &dyn fmt::Debug) -> fmt::Result {
        write!(EscapeControls(writer), "{value:?}")
    }

    fn non_finite(writer: &mut Writer<'_>, value: f64) -> fmt::Result {
        write!(writer, "{value}")
    }
}

/// Writes `value` between double quotes, as `{:?}` does: copied as it is when it is printable ASCII
/// without `"` or `\` (a method, a route, a request id), else through `{:?}`, which escapes.
fn write_quoted(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = value
        .bytes()
        .all(|byte| matches!(byte, b' '..=b'~') && byte != b'"' && byte != b'\\');
    if plain {
        writer.write_char('"')?;
        writer.write_str(value)?;
        writer.write_char('"')
    } else {
        write!(writer, "{value:?}")
    }
}

/// Writes text with its control characters escaped (`\u{1b}`, `\n`), as `{:?}` does.
struct EscapeControls<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for EscapeControls<'_, '_> {
    fn write_str(&mut self, mut text: &str) -> fmt::Result {
        // Printable ASCII, the usual text, goes through as it is.
        if text.bytes().all(|byte| matches!(byte, b' '..=b'~')) {
            return self.0.write_str(text);
        }
        while let Some((at, control)) = text.char_indices().find(|(_, c)| c.is_control()) {
            self.0.write_str(&text[..at])?;
            write!(self.0, "{}", control.escape_debug())?;
            text = &text[at + control.len_utf8()..];
        }
        self.0.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::super::captured::Captured;
    use super::*;

    /// The line `log` writes through a subscriber whose only formatting is [`PlainFields`]: no time,
    /// level or target, the span's fields after the event's.
    fn line_of(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let layer = fmt::layer()
            .with_writer(captured.clone())
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .compact()
            .fmt_fields(PlainFields);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        captured.text()
    }

    #[test]
    fn every_kind_of_field_is_written_as_name_equals_value() {
        let line = line_of(|| {
            let span =
                tracing::info_span!("request", path = "/api/{id}", sub = tracing::field::Empty);
            let _entered = span.enter();
            span.record("sub", "user-7");
            let ratio = 0.125_f64;
            tracing::info!(
                status = 200_u16,
                delta = -3_i64,
                ratio,
                whole = 2.0_f64,
                nan = f64::NAN,
                ok = true,
                shown = %"as is",
                debugged = ?Some(1),
                "request served"
            );
        });
        assert_eq!(
            line,
            "request: request served status=200 delta=-3 ratio=0.125 whole=2.0 nan=NaN ok=true \
             shown=as is debugged=Some(1) path=\"/api/{id}\" sub=\"user-7\"\n"
        );
    }

    #[test]
    fn client_text_cannot_start_a_line_or_colour_the_terminal() {
        let line = line_of(|| {
            let input = "x\"\r\nINFO fake \u{1b}[31m";
            tracing::warn!(quoted = input, shown = %input, "odd {}", input);
        });
        assert_eq!(
            line,
            r#"odd x"\r\nINFO fake \u{1b}[31m quoted="x\"\r\nINFO fake \u{1b}[31m" shown=x"\r\nINFO fake \u{1b}[31m"#
                .to_owned()
                + "\n"
        );
    }

    #[test]
    fn fields_longer_than_the_stage_are_written_whole() {
        let long = "a".repeat(1_000);
        let line = line_of(|| tracing::info!(long = long.as_str(), n = 1_u8, "long"));
        assert_eq!(line, format!("long long=\"{long}\" n=1\n"));
    }

    #[test]
    fn plain_text_is_copied_between_quotes_and_other_text_escaped() {
        let mut out = String::new();
        write_quoted(&mut Writer::new(&mut out), "/api/{id}").unwrap();
        write_quoted(&mut Writer::new(&mut out), "a\"b\\c\t é").unwrap();
        assert_eq!(out, r#""/api/{id}""a\"b\\c\t é""#);
    }
}
