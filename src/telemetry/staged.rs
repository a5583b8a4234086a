//! Formatting staged on the stack, for the text tracing-subscriber keeps for each span's fields: an
//! empty `String` that would otherwise grow (and move) several times while its fields are written,
//! on every request.

use std::fmt;

use tracing_subscriber::fmt::format::Writer;

/// Runs `format` over a buffer on the stack, then copies what it wrote to `writer` in one call.
/// Text longer than the buffer is formatted again, straight into `writer`; a `format` that fails
/// writes nothing.
pub(super) fn write_staged(
    mut writer: Writer<'_>,
    format: impl Fn(Writer<'_>) -> fmt::Result,
) -> fmt::Result {
    let mut staged = Staged::default();
    let result = format(Writer::new(&mut staged));
    // Judged by the stage, not by `result`: a `Debug` that ignores a write error would otherwise
    // leave a value cut short behind an `Ok`.
    if staged.overflowed {
        return format(writer);
    }
    result?;
    writer.write_str(staged.as_str())
}

/// Up to [`Staged::CAPACITY`] bytes of text on the stack. Writing more is an error, and so is every
/// write after it.
struct Staged {
    bytes: [u8; Self::CAPACITY],
    len: usize,
    overflowed: bool,
}

impl Staged {
    /// Enough for the request span's fields (method, route, request id, `sub`).
    const CAPACITY: usize = 256;

    fn as_str(&self) -> &str {
        // Only whole `&str`s are copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl Default for Staged {
    fn default() -> Self {
        Self {
            bytes: [0; Self::CAPACITY],
            len: 0,
            overflowed: false,
        }
    }
}

impl fmt::Write for Staged {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) if !self.overflowed => {
                room.copy_from_slice(text.as_bytes());
                self.len = end;
                Ok(())
            }
            _ => {
                self.overflowed = true;
                Err(fmt::Error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_written_after_an_ignored_overflow_does_not_stand_for_the_value() {
        let long = "B".repeat(Staged::CAPACITY + 44);
        let mut out = String::new();
        write_staged(Writer::new(&mut out), |mut writer| {
            let _ignored = writer.write_str(&long);
            writer.write_str("tail")
        })
        .unwrap();
        assert_eq!(out, format!("{long}tail"));
    }

    #[test]
    fn a_failed_format_writes_nothing() {
        let mut out = String::new();
        let result = write_staged(Writer::new(&mut out), |mut writer| {
            writer.write_str("part")?;
            Err(fmt::Error)
        });
        assert!(result.is_err());
        assert_eq!(out, "");
    }

    #[test]
    fn short_text_is_copied_whole_and_long_text_written_straight() {
        for length in [0, 10, Staged::CAPACITY, Staged::CAPACITY + 1, 5_000] {
            let text = "é".repeat(length / 2);
            let mut out = String::from("before ");
            write_staged(Writer::new(&mut out), |mut writer| {
                writer.write_str(&text)?;
                writer.write_str("!")
            })
            .unwrap();
            assert_eq!(out, format!("before {text}!"), "{length}");
        }
    }
}
