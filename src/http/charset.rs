//! Text bodies in UTF-8 or GB18030 (what Excel on a Chinese Windows writes), decoded
//! while streaming. The charset comes from the Content-Type; without one, the first
//! 64 KiB decide: valid UTF-8 means UTF-8, otherwise GB18030 if it decodes cleanly.

use std::io::{self, Cursor, Read};

use encoding_rs::{DecoderResult, GB18030};

/// Bytes looked at to guess the charset.
const SNIFF: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Gb18030,
}

/// The charset a Content-Type names: `Some(Ok)` for ours, `Some(Err)` for others.
pub fn declared(content_type: &str) -> Option<Result<Charset, String>> {
    let mime: mime::Mime = content_type.parse().ok()?;
    let charset = mime.get_param(mime::CHARSET)?.as_str().to_ascii_lowercase();
    Some(match charset.as_str() {
        "utf-8" | "utf8" => Ok(Charset::Utf8),
        "gb18030" | "gbk" | "gb2312" => Ok(Charset::Gb18030),
        other => Err(other.to_string()),
    })
}

/// Reads UTF-8 text from `inner`, whichever charset it is in. Undecodable bytes end
/// the stream with an `InvalidData` error naming the byte offset.
pub fn utf8_reader<R: Read + Send + 'static>(
    mut inner: R,
    declared: Option<Charset>,
) -> io::Result<Box<dyn Read + Send>> {
    let mut head = Vec::with_capacity(SNIFF);
    (&mut inner).take(SNIFF as u64).read_to_end(&mut head)?;
    let charset = declared.unwrap_or_else(|| sniff(&head));
    let whole = Cursor::new(head).chain(inner);
    Ok(match charset {
        Charset::Utf8 => Box::new(Utf8Checked { inner: whole, offset: 0, buffer: Vec::new(), valid: 0, pos: 0 }),
        Charset::Gb18030 => Box::new(Gb18030Decoded {
            inner: whole,
            decoder: GB18030.new_decoder_without_bom_handling(),
            input: vec![0; 16 * 1024],
            output: Vec::new(),
            out_pos: 0,
            offset: 0,
            done: false,
        }),
    })
}

fn sniff(head: &[u8]) -> Charset {
    match std::str::from_utf8(head) {
        Ok(_) => Charset::Utf8,
        // Cut in the middle of a character at the end of the sample: still UTF-8.
        Err(e) if e.error_len().is_none() => Charset::Utf8,
        Err(_) => Charset::Gb18030,
    }
}

fn invalid(charset: &str, offset: u64) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bytes at offset {offset} are not valid {charset}"))
}

/// Passes UTF-8 through, failing at the first invalid sequence.
struct Utf8Checked<R> {
    inner: R,
    offset: u64,
    /// Validated bytes not yet handed out, then an incomplete character at the end of
    /// the last read that the next read completes.
    buffer: Vec<u8>,
    valid: usize,
    pos: usize,
}

impl<R: Read> Read for Utf8Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.valid {
            self.buffer.drain(..self.valid);
            self.pos = 0;
            self.valid = 0;
            let kept = self.buffer.len();
            self.buffer.resize(kept + 16 * 1024, 0);
            let n = self.inner.read(&mut self.buffer[kept..])?;
            self.buffer.truncate(kept + n);
            if n == 0 {
                if kept > 0 {
                    return Err(invalid("UTF-8", self.offset));
                }
                return Ok(0);
            }
            self.valid = match std::str::from_utf8(&self.buffer) {
                Ok(_) => self.buffer.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(e) => return Err(invalid("UTF-8", self.offset + e.valid_up_to() as u64)),
            };
            self.offset += self.valid as u64;
        }
        let n = buf.len().min(self.valid - self.pos);
        buf[..n].copy_from_slice(&self.buffer[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Decodes GB18030 to UTF-8 without replacement characters.
struct Gb18030Decoded<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    offset: u64,
    done: bool,
}

impl<R: Read> Read for Gb18030Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let mut text = String::with_capacity(n * 3 / 2 + 8);
            let needed = self.decoder.max_utf8_buffer_length_without_replacement(n).unwrap_or(n * 3 + 16);
            text.reserve(needed);
            let (result, read) = self.decoder.decode_to_string_without_replacement(&self.input[..n], &mut text, last);
            match result {
                DecoderResult::Malformed(_, _) => return Err(invalid("GB18030", self.offset + read as u64)),
                DecoderResult::OutputFull | DecoderResult::InputEmpty => {}
            }
            self.offset += read as u64;
            self.output = text.into_bytes();
            self.out_pos = 0;
            self.done = last;
        }
        let n = buf.len().min(self.output.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], declared: Option<Charset>) -> io::Result<String> {
        let mut out = String::new();
        // Tiny reads on the inside, to cut characters in every possible place.
        let trickle = Trickle(Cursor::new(bytes.to_vec()));
        utf8_reader(trickle, declared)?.read_to_string(&mut out)?;
        Ok(out)
    }

    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn utf8_and_gb18030_decode_to_the_same_text() {
        let text = "姓名,身份证号\n王小明,21080419800101001X\n阿依古丽·买买提,1\n";
        let (gb, _, _) = GB18030.encode(text);
        assert_eq!(decode(text.as_bytes(), None).unwrap(), text);
        assert_eq!(decode(&gb, None).unwrap(), text);
        assert_eq!(decode(&gb, Some(Charset::Gb18030)).unwrap(), text);
    }

    #[test]
    fn bytes_that_are_neither_are_refused_with_an_offset() {
        let bad = b"name\n\xff\xfe\xfd\n";
        let err = decode(bad, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("GB18030"));
        let err = decode(bad, Some(Charset::Utf8)).unwrap_err();
        assert!(err.to_string().contains("offset 5"), "{err}");
    }

    #[test]
    fn charsets_are_read_from_the_content_type() {
        assert_eq!(declared("text/csv; charset=GB18030"), Some(Ok(Charset::Gb18030)));
        assert_eq!(declared("text/csv;charset=utf-8"), Some(Ok(Charset::Utf8)));
        assert_eq!(declared("text/csv"), None);
        assert!(matches!(declared("text/csv; charset=latin1"), Some(Err(_))));
    }
}
