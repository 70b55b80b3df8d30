//! Line-based uploads (NDJSON) read a line at a time from decoded text, no line longer
//! than [`MAX_RECORD_BYTES`], so one runaway line cannot fill the memory.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};

use super::csv_input::MAX_RECORD_BYTES;
use super::input::InputError;

/// Buffer of the underlying reader.
const BUFFER_BYTES: usize = 64 * 1024;

/// The lines of a UTF-8 text, blank ones skipped.
pub struct TextLines<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    line_no: u64,
}

impl<R: Read> TextLines<R> {
    pub fn new(inner: R) -> Self {
        TextLines { reader: BufReader::with_capacity(BUFFER_BYTES, inner), line: Vec::new(), line_no: 0 }
    }

    /// The next line that is not blank, `None` at the end. A line longer than
    /// [`MAX_RECORD_BYTES`] is `line_too_long`; a failure of the reader is its input error.
    pub fn next_line(&mut self) -> Result<Option<Cow<'_, str>>, InputError> {
        let limit = MAX_RECORD_BYTES as u64 + 1;
        loop {
            self.line.clear();
            let n = self.reader.by_ref().take(limit).read_until(b'\n', &mut self.line).map_err(InputError::from_io)?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            if n as u64 >= limit && self.line.last() != Some(&b'\n') {
                return Err(InputError::new(
                    "line_too_long",
                    format!("line {}: longer than {MAX_RECORD_BYTES} bytes", self.line_no),
                ));
            }
            // The text was decoded to UTF-8, so this cannot replace anything; stay total anyway.
            if !String::from_utf8_lossy(&self.line).trim().is_empty() {
                break;
            }
        }
        Ok(Some(String::from_utf8_lossy(&self.line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_skipped_and_long_ones_refused() {
        let mut lines = TextLines::new("a\n\n  \r\nb".as_bytes());
        assert_eq!(lines.next_line().unwrap().as_deref(), Some("a\n"));
        assert_eq!(lines.next_line().unwrap().as_deref(), Some("b"));
        assert_eq!(lines.next_line().unwrap(), None);
        let long = format!("a\n{}\n", "x".repeat(MAX_RECORD_BYTES + 1));
        let mut lines = TextLines::new(long.as_bytes());
        lines.next_line().unwrap();
        let err = lines.next_line().unwrap_err();
        assert_eq!((err.code, err.message.starts_with("line 2:")), ("line_too_long", true));
    }
}
