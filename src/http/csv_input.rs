//! What every CSV (and spreadsheet) upload shares beyond the `csv` crate: [`CsvGuard`],
//! which reports a quote never closed with the line it was opened on and caps record
//! size, and [`map_header`], which maps a header row to the columns a service knows.

use std::io::{self, Read};

use super::input::InputError;

/// Most columns a header may have.
pub const MAX_COLUMNS: usize = 64;
/// Longest record, in bytes of UTF-8.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Longest quoted field; a quote open longer than this was never closed.
pub const MAX_QUOTED_FIELD_BYTES: usize = 64 * 1024;
/// Code of a quoted field that is never closed (422).
pub const UNCLOSED_QUOTE: &str = "csv_unclosed_quote";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    AfterQuoted,
}

/// Follows CSV quoting over decoded bytes so that a quote never closed is reported
/// with the line it was opened on (the `csv` crate would read it as one field up to the
/// end of the body), and no record grows past [`MAX_RECORD_BYTES`] (`line_too_long`).
pub struct CsvGuard<R> {
    inner: R,
    state: QuoteState,
    line: u64,
    quote_line: u64,
    quoted_bytes: usize,
    record_bytes: usize,
}

impl<R: Read> CsvGuard<R> {
    pub fn new(inner: R) -> Self {
        CsvGuard { inner, state: QuoteState::FieldStart, line: 1, quote_line: 1, quoted_bytes: 0, record_bytes: 0 }
    }

    fn unclosed(&self) -> io::Error {
        InputError::new(UNCLOSED_QUOTE, format!("line {}: a quoted field is never closed", self.quote_line)).into_io()
    }

    fn too_long(&self) -> io::Error {
        InputError::new("line_too_long", format!("line {}: a record longer than {MAX_RECORD_BYTES} bytes", self.line))
            .into_io()
    }

    fn scan(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while let Some((&first, tail)) = rest.split_first() {
            // Outside quotes only a quote or a line break does more than count: skip to
            // the next one at once (most of a body is such runs).
            if matches!(self.state, QuoteState::FieldStart | QuoteState::Unquoted) {
                let run = memchr::memchr3(b'"', b'\n', b'\r', rest).unwrap_or(rest.len());
                if let Some((&last, _)) = rest.get(..run).and_then(|span| span.split_last()) {
                    self.record_bytes += run;
                    if self.record_bytes > MAX_RECORD_BYTES {
                        return Err(self.too_long());
                    }
                    self.state = if last == b',' { QuoteState::FieldStart } else { QuoteState::Unquoted };
                    rest = rest.get(run..).unwrap_or_default();
                    continue;
                }
            }
            self.step(first)?;
            rest = tail;
        }
        Ok(())
    }

    fn step(&mut self, b: u8) -> io::Result<()> {
        self.record_bytes += 1;
        let end_of_record =
            matches!(self.state, QuoteState::FieldStart | QuoteState::Unquoted | QuoteState::AfterQuoted)
                && (b == b'\n' || b == b'\r');
        if b == b'\n' {
            self.line += 1;
        }
        self.state = match (self.state, b) {
            (QuoteState::FieldStart, b'"') => {
                self.quote_line = self.line;
                self.quoted_bytes = 0;
                QuoteState::Quoted
            }
            (QuoteState::Quoted, b'"') => QuoteState::AfterQuoted,
            (QuoteState::Quoted, _) => {
                self.quoted_bytes += 1;
                if self.quoted_bytes > MAX_QUOTED_FIELD_BYTES {
                    return Err(self.unclosed());
                }
                QuoteState::Quoted
            }
            (QuoteState::AfterQuoted, b'"') => QuoteState::Quoted,
            (_, b',' | b'\n' | b'\r') => QuoteState::FieldStart,
            _ => QuoteState::Unquoted,
        };
        if end_of_record {
            self.record_bytes = 0;
        } else if self.record_bytes > MAX_RECORD_BYTES {
            return Err(self.too_long());
        }
        Ok(())
    }
}

impl<R: Read> Read for CsvGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.state == QuoteState::Quoted {
            return Err(self.unclosed());
        }
        self.scan(&buf[..n])?;
        Ok(n)
    }
}

/// The columns of a header row, each mapped to a known column or to none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderColumns<C> {
    pub columns: Vec<Option<C>>,
    /// Names that map to no column (blank names are not listed).
    pub ignored: Vec<String>,
}

/// Why a header row cannot be used; each service words it in its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError<C> {
    /// More than [`MAX_COLUMNS`] columns (how many there are).
    TooManyColumns(usize),
    /// A column named twice (the second name as written).
    Duplicate { column: C, name: String },
    /// Required columns that are not there, in the order of `required`.
    Missing(Vec<C>),
}

/// Maps `names` to columns with `lookup`: at most [`MAX_COLUMNS`] names, none twice,
/// every one of `required` present. A UTF-8 byte order mark before the first name is
/// not part of it.
pub fn map_header<C: Copy + PartialEq>(
    names: &[&str],
    lookup: impl Fn(&str) -> Option<C>,
    required: &[C],
) -> Result<HeaderColumns<C>, HeaderError<C>> {
    if names.len() > MAX_COLUMNS {
        return Err(HeaderError::TooManyColumns(names.len()));
    }
    let mut columns: Vec<Option<C>> = Vec::with_capacity(names.len());
    let mut ignored = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = if i == 0 { name.trim_start_matches('\u{feff}') } else { name };
        let column = lookup(name);
        match column {
            Some(c) if columns.contains(&Some(c)) => {
                return Err(HeaderError::Duplicate { column: c, name: name.to_string() });
            }
            None if !name.trim().is_empty() => ignored.push(name.to_string()),
            _ => {}
        }
        columns.push(column);
    }
    let missing: Vec<C> = required.iter().filter(|c| !columns.contains(&Some(**c))).copied().collect();
    if !missing.is_empty() {
        return Err(HeaderError::Missing(missing));
    }
    Ok(HeaderColumns { columns, ignored })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the guard reports after `bytes`: the state, the counts, and the error if any.
    fn outcome(guard: &mut CsvGuard<&[u8]>, result: io::Result<()>) -> (QuoteState, u64, u64, usize, usize, String) {
        let error = result.err().map(|e| InputError::from_io(e).message).unwrap_or_default();
        (guard.state, guard.line, guard.quote_line, guard.quoted_bytes, guard.record_bytes, error)
    }

    proptest! {
        /// Skipping runs outside quotes ends in the very state, counts and error that
        /// stepping byte by byte does.
        #[test]
        fn skipping_runs_is_stepping_byte_by_byte(bytes in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(0xe4u8)], 0..300)) {
            let mut fast = CsvGuard::new(&b""[..]);
            let scanned = fast.scan(&bytes);
            let mut slow = CsvGuard::new(&b""[..]);
            let stepped = bytes.iter().try_for_each(|b| slow.step(*b));
            prop_assert_eq!(outcome(&mut fast, scanned), outcome(&mut slow, stepped));
        }
    }

    fn guarded(text: &str) -> Result<String, InputError> {
        let mut out = String::new();
        CsvGuard::new(text.as_bytes()).read_to_string(&mut out).map_err(InputError::from_io)?;
        Ok(out)
    }

    #[test]
    fn an_unclosed_quote_is_reported_with_the_line_it_opened_on() {
        let err = guarded("a,b\n1,2\n3,\"4\n5,6\n").unwrap_err();
        assert_eq!(err.code, UNCLOSED_QUOTE);
        assert!(err.message.starts_with("line 3:"), "{}", err.message);
        let long = format!("a\n\"{}", "x".repeat(MAX_QUOTED_FIELD_BYTES + 1));
        assert_eq!(guarded(&long).unwrap_err().message, "line 2: a quoted field is never closed");
        // Closed quotes with commas, doubled quotes and line breaks are fine.
        assert!(guarded("a,b\n\"1,\"\"x\"\"\ny\",2\n").is_ok());
    }

    #[test]
    fn a_runaway_record_is_cut_off() {
        let err = guarded(&format!("a\n{}", "x".repeat(MAX_RECORD_BYTES + 1))).unwrap_err();
        assert_eq!(err.code, "line_too_long");
        assert!(err.message.starts_with("line 2:"), "{}", err.message);
    }

    #[test]
    fn headers_map_to_columns() {
        let lookup = |name: &str| ["a", "b", "c"].iter().position(|c| *c == name);
        let mapped = map_header(&["\u{feff}a", "x", "b", ""], lookup, &[0, 1]).unwrap();
        assert_eq!(mapped, HeaderColumns { columns: vec![Some(0), None, Some(1), None], ignored: vec!["x".into()] });
        assert_eq!(map_header(&["a", "c"], lookup, &[0, 1, 2]), Err(HeaderError::Missing(vec![1])));
        assert_eq!(
            map_header(&["a", "b", "a"], lookup, &[]),
            Err(HeaderError::Duplicate { column: 0, name: "a".into() })
        );
        let wide = vec!["x"; MAX_COLUMNS + 1];
        assert_eq!(map_header(&wide, lookup, &[]), Err(HeaderError::TooManyColumns(MAX_COLUMNS + 1)));
    }
}
