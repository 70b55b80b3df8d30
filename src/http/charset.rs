//! Text bodies in UTF-8 or GB18030 (what Excel on a Chinese Windows writes), decoded to
//! UTF-8 while streaming. The charset comes from the Content-Type; without one, the
//! first 64 KiB decide: UTF-8 if they are UTF-8, GB18030 if they are not but decode as
//! GB18030, UTF-8 otherwise (then the undecodable byte is reported as invalid UTF-8).

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding, GB18030, UTF_8};

use super::input::InputError;

/// Bytes looked at to tell UTF-8 from GB18030 when the charset is not declared.
const SNIFF_BYTES: usize = 64 * 1024;
/// Bytes read from the inner reader at a time.
const READ_BYTES: usize = 16 * 1024;

/// The text encoding of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Gb18030,
    /// Not declared: GB18030 if the first 64 KiB are not UTF-8 but are GB18030.
    Sniff,
}

/// The charset a Content-Type names: [`Charset::Sniff`] when it names none (or does not
/// parse), `Err` with the name of a charset we do not read.
pub fn declared(content_type: &str) -> Result<Charset, String> {
    content_type.parse::<mime::Mime>().map_or(Ok(Charset::Sniff), |mime| of_mime(&mime))
}

/// [`declared`] for a parsed Content-Type.
pub fn of_mime(mime: &mime::Mime) -> Result<Charset, String> {
    let Some(charset) = mime.get_param(mime::CHARSET) else {
        return Ok(Charset::Sniff);
    };
    match charset.as_str().to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Ok(Charset::Utf8),
        "gb18030" | "gbk" | "gb2312" => Ok(Charset::Gb18030),
        other => Err(other.to_string()),
    }
}

/// Decodes UTF-8 or GB18030 into UTF-8 without replacement, dropping a UTF-8 byte order
/// mark: an undecodable byte fails the read with `invalid_encoding` and the line it is on.
pub struct Decoding<R> {
    inner: R,
    charset: Charset,
    decoder: Option<encoding_rs::Decoder>,
    raw: Vec<u8>,
    raw_pos: usize,
    eof: bool,
    out: Vec<u8>,
    out_pos: usize,
    /// Line breaks already decoded.
    lines: u64,
    finished: bool,
}

impl<R: Read> Decoding<R> {
    pub fn new(inner: R, charset: Charset) -> Self {
        Decoding {
            inner,
            charset,
            decoder: None,
            raw: Vec::new(),
            raw_pos: 0,
            eof: false,
            out: Vec::new(),
            out_pos: 0,
            lines: 0,
            finished: false,
        }
    }

    /// The encoding actually used (after sniffing), once known.
    pub fn encoding(&self) -> Option<&'static Encoding> {
        self.decoder.as_ref().map(|d| d.encoding())
    }

    fn read_raw(&mut self, want: usize) -> io::Result<()> {
        if self.raw_pos > 0 {
            self.raw.drain(..self.raw_pos);
            self.raw_pos = 0;
        }
        let mut buf = [0u8; READ_BYTES];
        while !self.eof && self.raw.len() < want {
            let n = self.inner.read(&mut buf)?;
            if n == 0 {
                self.eof = true;
            } else {
                self.raw.extend_from_slice(&buf[..n]);
            }
        }
        Ok(())
    }

    fn choose(&mut self) -> io::Result<()> {
        let encoding = match self.charset {
            Charset::Utf8 => UTF_8,
            Charset::Gb18030 => GB18030,
            Charset::Sniff => {
                self.read_raw(SNIFF_BYTES)?;
                sniff(&self.raw, self.eof)
            }
        };
        self.decoder = Some(if encoding == UTF_8 {
            UTF_8.new_decoder_with_bom_removal()
        } else {
            encoding.new_decoder_without_bom_handling()
        });
        Ok(())
    }

    /// Decodes the next piece into `out`; false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.decoder.is_none() {
            self.choose()?;
        }
        loop {
            if self.finished {
                return Ok(false);
            }
            if self.raw_pos >= self.raw.len() && !self.eof {
                self.read_raw(READ_BYTES)?;
            }
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(false);
            };
            let src = &self.raw[self.raw_pos..];
            let last = self.eof;
            let capacity = decoder.max_utf8_buffer_length_without_replacement(src.len()).unwrap_or(src.len() * 3 + 16);
            self.out.clear();
            self.out.resize(capacity.max(16), 0);
            self.out_pos = 0;
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(src, &mut self.out, last);
            self.raw_pos += read;
            self.out.truncate(written);
            if let DecoderResult::Malformed(_, _) = result {
                let line = self.lines + self.out.iter().filter(|b| **b == b'\n').count() as u64 + 1;
                let name = decoder.encoding().name();
                return Err(InputError::new(
                    "invalid_encoding",
                    format!("line {line}: bytes that are not valid {name}; declare charset=gb18030 for GB18030 text"),
                )
                .into_io());
            }
            self.lines += self.out.iter().filter(|b| **b == b'\n').count() as u64;
            if last && result == DecoderResult::InputEmpty {
                self.finished = true;
            }
            if !self.out.is_empty() {
                return Ok(true);
            }
        }
    }
}

/// GB18030 when `head` is not UTF-8 but decodes as GB18030; UTF-8 otherwise (then an
/// undecodable byte is reported as invalid UTF-8).
fn sniff(head: &[u8], complete: bool) -> &'static Encoding {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return UTF_8;
    }
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // A sequence cut at the end of the sniffed bytes is still UTF-8.
        Err(e) if e.error_len().is_none() && !complete => UTF_8,
        Err(_) => {
            let mut decoder = GB18030.new_decoder_without_bom_handling();
            let mut out = vec![0u8; head.len() * 3 + 16];
            let (result, _, _) = decoder.decode_to_utf8_without_replacement(head, &mut out, complete);
            if matches!(result, DecoderResult::Malformed(_, _)) { UTF_8 } else { GB18030 }
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos >= self.out.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn decode(bytes: &[u8], charset: Charset) -> Result<String, InputError> {
        let mut out = String::new();
        // Tiny reads on the inside, to cut characters in every possible place.
        let trickle = Trickle(Cursor::new(bytes.to_vec()));
        Decoding::new(trickle, charset).read_to_string(&mut out).map_err(InputError::from_io)?;
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
        assert_eq!(decode(text.as_bytes(), Charset::Sniff).unwrap(), text);
        assert_eq!(decode(&gb, Charset::Sniff).unwrap(), text);
        assert_eq!(decode(&gb, Charset::Gb18030).unwrap(), text);
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        assert_eq!(decode(&with_bom, Charset::Sniff).unwrap(), text);
        assert_eq!(decode(&with_bom, Charset::Utf8).unwrap(), text);
    }

    #[test]
    fn bytes_that_are_neither_are_refused_with_their_line() {
        let bad = b"name\n\xff\xfe\xfd\n";
        for charset in [Charset::Sniff, Charset::Utf8, Charset::Gb18030] {
            let err = decode(bad, charset).unwrap_err();
            assert_eq!(err.code, "invalid_encoding");
            assert!(err.message.starts_with("line 2:"), "{charset:?}: {}", err.message);
        }
        assert!(decode(bad, Charset::Gb18030).unwrap_err().message.contains("gb18030"));
    }

    #[test]
    fn charsets_are_read_from_the_content_type() {
        assert_eq!(declared("text/csv; charset=GB18030"), Ok(Charset::Gb18030));
        assert_eq!(declared("text/csv;charset=utf-8"), Ok(Charset::Utf8));
        assert_eq!(declared("text/csv"), Ok(Charset::Sniff));
        assert_eq!(declared("text/csv; charset=latin1"), Err("latin1".into()));
    }
}
