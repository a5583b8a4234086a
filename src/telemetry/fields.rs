//! What the two log formats share: one visitor that writes each kind of field value the short way
//! (numbers with `itoa` and `ryu`, no `core::fmt` machinery), staged on the stack. Each format says
//! how a field begins and how its text is written ([`Syntax`]).

use std::fmt;
use std::marker::PhantomData;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;

use super::staged::write_staged;

/// How a format writes its fields.
pub(super) trait Syntax {
    /// What comes before a value: a separator (unless `first`) and the name.
    fn start(writer: &mut Writer<'_>, name: &str, first: bool) -> fmt::Result;

    /// A text value (a `&str`).
    fn text(writer: &mut Writer<'_>, value: &str) -> fmt::Result;

    /// A value only `{:?}` can write: the message, and `%`- or `?`-formatted fields.
    fn debug(writer: &mut Writer<'_>, value: &dyn fmt::Debug) -> fmt::Result;

    /// A float that is not a number or is infinite.
    fn non_finite(writer: &mut Writer<'_>, value: f64) -> fmt::Result;
}

/// Writes `fields` in `S`'s syntax to `writer`.
pub(super) fn write_fields<S: Syntax>(
    writer: Writer<'_>,
    fields: &impl RecordFields,
) -> fmt::Result {
    write_staged(writer, |writer| {
        let mut visitor = FieldVisitor::<S> {
            writer,
            first: true,
            result: Ok(()),
            syntax: PhantomData,
        };
        fields.record(&mut visitor);
        visitor.result
    })
}

/// Writes each field it visits.
struct FieldVisitor<'writer, S> {
    writer: Writer<'writer>,
    /// No field written yet.
    first: bool,
    /// The first error met; the fields after it are skipped.
    result: fmt::Result,
    syntax: PhantomData<S>,
}

impl<S: Syntax> FieldVisitor<'_, S> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        // `log.target`, `log.file` and the like: where a `log` crate record (reqwest's, rustls's)
        // came from, which tracing-subscriber's formats leave out too.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let first = std::mem::replace(&mut self.first, false);
        let writer = &mut self.writer;
        self.result = S::start(writer, field.name(), first).and_then(|()| value(writer));
    }
}

impl<S: Syntax> Visit for FieldVisitor<'_, S> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |writer| S::text(writer, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, |writer| {
            if value.is_finite() {
                writer.write_str(ryu::Buffer::new().format_finite(value))
            } else {
                S::non_finite(writer, value)
            }
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |writer| {
            writer.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |writer| S::debug(writer, value));
    }
}
