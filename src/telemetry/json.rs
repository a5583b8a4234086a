//! The JSON format: one object per line, `{"timestamp":"…","level":"INFO","message":"request
//! served","status":200,"latency_ms":0.21,"span":{"name":"http_request","method":"GET",…}}`: the
//! event's fields at the top level, the fields of the span it is in under `span`.
//!
//! The same object tracing-subscriber's JSON format writes with `flatten_event` and
//! `with_current_span`, written the short way: that one keeps each span's fields as a JSON object in
//! text and parses it back for every line logged inside the span, so an access line cost more than
//! the rest of the request. Here a span's fields are kept as a fragment (`,"method":"GET",…`) that
//! each line copies as it is.

use std::fmt::{self, Write as _};

use smallvec::SmallVec;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::fields::{Syntax, write_fields};
use super::timestamp::Rfc3339Micros;

/// Writes each event as one JSON object on a line of its own (RFC 8259).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JsonLine;

impl<S> FormatEvent<S, JsonFields> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        Rfc3339Micros.format_time(&mut writer)?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(level_name(*event.metadata().level()))?;
        writer.write_char('"')?;
        ctx.format_fields(writer.by_ref(), event)?;
        // The span the event is in (the innermost), as tracing-subscriber's `with_current_span`.
        if let Some(span) = ctx.event_scope().and_then(|mut scope| scope.next()) {
            writer.write_str(",\"span\":{\"name\":")?;
            write_json_string(&mut writer, span.name())?;
            if let Some(fields) = span.extensions().get::<FormattedFields<JsonFields>>() {
                writer.write_str(fields)?;
            }
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// Formats fields as JSON members, each after a comma: `,"message":"…","status":200`. Numbers and
/// booleans are JSON numbers and booleans (a float that is not finite is `null`); everything else is
/// a string, `{:?}`-formatted unless it is a `&str` or `%`-formatted.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        write_fields::<Self>(writer, &fields)
    }

    /// Fields recorded later (the request span's `sub`) are more members, appended. A field recorded
    /// again replaces its member: two of one name would leave each reader to pick one (RFC 8259 §4).
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Formatted apart first: a value whose `Debug` fails leaves the span's fields as they were.
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        let mut names = Names::default();
        fields.record(&mut names);
        for name in names.0 {
            remove_member(&mut current.fields, name);
        }
        current.fields.push_str(&added);
        Ok(())
    }
}

/// The names of the fields a record holds.
#[derive(Default)]
struct Names(SmallVec<[&'static str; 4]>);

impl Visit for Names {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        self.0.push(field.name());
    }
}

/// Removes the members named `name` from a fragment of members this format wrote
/// (`,"method":"GET","sub":"a"`). Leaves it as it is if it does not read as such.
fn remove_member(fragment: &mut String, name: &str) {
    let mut quoted = String::new();
    if write_json_string(&mut Writer::new(&mut quoted), name).is_err() {
        return;
    }
    let mut at = 0;
    while let Some(rest) = fragment.get(at..).filter(|rest| rest.starts_with(',')) {
        // `,` then the name (a JSON string), `:`, the value.
        let name_end = 1 + json_value_len(&rest[1..]);
        let Some(value) = rest
            .get(name_end..)
            .and_then(|after| after.strip_prefix(':'))
        else {
            return;
        };
        let member_len = name_end + 1 + json_value_len(value);
        if rest.get(1..name_end) == Some(quoted.as_str()) {
            fragment.replace_range(at..at + member_len, "");
        } else {
            at += member_len;
        }
    }
}

/// The length of the JSON value `text` starts with, as this format writes them: a string (up to its
/// closing quote, escapes skipped), or a number, `true`, `false` or `null` (up to the next comma).
fn json_value_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return text.find(',').unwrap_or(text.len());
    }
    let mut at = 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

impl Syntax for JsonFields {
    /// `,"name":`, the comma even before the first: the fields follow the line's `level`, or start
    /// the span's fragment that follows its `name`.
    fn start(writer: &mut Writer<'_>, name: &str, _first: bool) -> fmt::Result {
        writer.write_char(',')?;
        write_json_string(writer, name)?;
        writer.write_char(':')
    }

    fn text(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
        write_json_string(writer, value)
    }

    fn debug(writer: &mut Writer<'_>, value: &dyn fmt::Debug) -> fmt::Result {
        // Escaped as it is written: no `String` in between.
        writer.write_char('"')?;
        write!(JsonEscape(writer), "{value:?}")?;
        writer.write_char('"')
    }

    /// JSON has no NaN or infinity.
    fn non_finite(writer: &mut Writer<'_>, _: f64) -> fmt::Result {
        writer.write_str("null")
    }
}

/// `text` as a JSON string, quoted and escaped.
fn write_json_string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    JsonEscape(writer).write_str(text)?;
    writer.write_char('"')
}

/// Writes text escaped for the inside of a JSON string (RFC 8259 §7): `"`, `\` and the control
/// characters U+0000 to U+001F, the ones a JSON string cannot hold as they are.
struct JsonEscape<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for JsonEscape<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest
            .bytes()
            .position(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        {
            self.0.write_str(&rest[..at])?;
            match rest.as_bytes()[at] {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                control => write!(self.0, "\\u{control:04x}")?,
            }
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tracing_subscriber::fmt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::super::captured::Captured;
    use super::*;

    /// The lines `log` writes through [`JsonLine`] and [`JsonFields`], parsed, without their
    /// timestamps (checked to be there).
    fn lines_of(log: impl FnOnce()) -> Vec<Value> {
        let text = text_of(log);
        text.lines()
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).unwrap();
                let timestamp = value["timestamp"].take();
                assert!(
                    timestamp.as_str().is_some_and(|at| at.ends_with('Z')),
                    "{line}"
                );
                value.as_object_mut().unwrap().remove("timestamp");
                value
            })
            .collect()
    }

    /// What `log` writes through [`JsonLine`] and [`JsonFields`], as written.
    fn text_of(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let layer = fmt::layer()
            .with_writer(captured.clone())
            .with_ansi(false)
            .fmt_fields(JsonFields)
            .event_format(JsonLine);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        captured.text()
    }

    #[test]
    fn every_kind_of_field_becomes_its_json_type() {
        let lines = lines_of(|| {
            tracing::warn!(
                status = 200_u16,
                delta = -3_i64,
                ratio = 0.125_f64,
                nan = f64::NAN,
                ok = true,
                shown = %"as is",
                debugged = ?Some("x"),
                log.target = "reqwest::connect",
                "served {}",
                7
            );
        });
        assert_eq!(
            lines,
            [json!({
                "level": "WARN", "message": "served 7", "status": 200, "delta": -3, "ratio": 0.125,
                "nan": null, "ok": true, "shown": "as is", "debugged": "Some(\"x\")",
            })]
        );
    }

    #[test]
    fn a_line_carries_its_span_with_fields_recorded_later() {
        let lines = lines_of(|| {
            let span = tracing::info_span!(
                "http_request",
                path = "/api/{id}",
                sub = tracing::field::Empty
            );
            let _entered = span.enter();
            tracing::info!("before");
            span.record("sub", "user-7");
            tracing::info!(status = 200_u16, "request served");
        });
        assert_eq!(
            lines,
            [
                json!({"level": "INFO", "message": "before",
                       "span": {"name": "http_request", "path": "/api/{id}"}}),
                json!({"level": "INFO", "message": "request served", "status": 200,
                       "span": {"name": "http_request", "path": "/api/{id}", "sub": "user-7"}}),
            ]
        );
    }

    #[test]
    fn a_field_recorded_again_replaces_its_value() {
        let record_twice = || {
            let span = tracing::info_span!(
                "http_request",
                sub = tracing::field::Empty,
                path = "/a,\"sub\":\\",
                n = tracing::field::Empty
            );
            let _entered = span.enter();
            span.record("sub", "first");
            span.record("n", 1);
            span.record("sub", "second,\"");
            span.record("n", 2.5);
            tracing::info!("served");
        };
        let text = text_of(record_twice);
        assert_eq!(text.matches(r#","sub":"#).count(), 1, "{text}");
        assert_eq!(text.matches(r#","n":"#).count(), 1, "{text}");
        let lines = lines_of(record_twice);
        assert_eq!(
            lines[0]["span"],
            json!({"name": "http_request", "path": "/a,\"sub\":\\", "sub": "second,\"", "n": 2.5})
        );
    }

    #[test]
    fn a_field_whose_value_fails_to_format_leaves_the_span_whole() {
        struct Failing;
        impl std::fmt::Debug for Failing {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("part")?;
                Err(std::fmt::Error)
            }
        }
        let lines = lines_of(|| {
            let span = tracing::info_span!("http_request", bad = tracing::field::Empty);
            let _entered = span.enter();
            span.record("bad", tracing::field::debug(Failing));
            tracing::info!("served");
        });
        assert_eq!(lines[0]["span"], json!({"name": "http_request"}));
    }

    #[test]
    fn text_with_quotes_backslashes_and_control_characters_stays_one_valid_line() {
        let input = "a\"b\\c\r\n{\"level\":\"ERROR\"}\t\u{1}\u{1b}[31m é";
        let lines = lines_of(|| tracing::info!(input, shown = %input, "{input}"));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["input"], input);
        assert_eq!(lines[0]["shown"], input);
        assert_eq!(lines[0]["message"], input);
    }
}
