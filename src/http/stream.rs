//! Request bodies read as a stream on a blocking thread: the async side ([`BodySender::forward`])
//! passes the body's chunks through a small bounded channel, the parser reads them
//! through `std::io::Read` ([`BodyReader`]). A 50 MB upload is never held whole, and the
//! async workers never parse.
//!
//! Only an explicit end marker ends the body: a channel closed without it (the client
//! went away, the handler was dropped) is an `upload_interrupted` error, never a
//! complete and shorter body. Past the byte limit the reader gets `body_too_large`.
//! Both travel as an [`InputError`]; the handler can also ask the [`FailureProbe`]
//! afterwards, when a parser has turned the I/O error into one of its own.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::ApiError;
use super::input::{BODY_TOO_LARGE, InputError, UPLOAD_INTERRUPTED};

/// Chunks in flight between the two sides.
const CHANNEL_CHUNKS: usize = 16;

/// Why the body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// More than the limit (bytes): 413 `body_too_large`.
    TooLarge { limit: usize },
    /// The upload broke off before its end: 400 `upload_interrupted`.
    Interrupted,
}

impl BodyFailure {
    /// The failure as the input error the reader returns.
    pub fn input_error(self) -> InputError {
        match self {
            BodyFailure::TooLarge { limit } => {
                InputError::new(BODY_TOO_LARGE, format!("the body is larger than {limit} bytes"))
            }
            BodyFailure::Interrupted => InputError::new(UPLOAD_INTERRUPTED, "the upload broke off before its end"),
        }
    }
}

impl From<BodyFailure> for ApiError {
    fn from(failure: BodyFailure) -> ApiError {
        match failure {
            BodyFailure::TooLarge { limit } => ApiError::too_large(Some(limit)),
            BodyFailure::Interrupted => {
                ApiError::bad_request(UPLOAD_INTERRUPTED, "the upload broke off before its end")
            }
        }
    }
}

/// 413 before anything is read when the request's Content-Length is over `limit`
/// (a body without one is counted as it streams).
pub fn refuse_declared_over(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(Some(limit)));
    }
    Ok(())
}

/// What the async side sends: a piece of the body, its end, or why it broke off.
#[derive(Debug)]
enum ChannelItem {
    Data(Bytes),
    End,
    Fail(BodyFailure),
}

/// The two ends of a body stream of at most `limit` bytes: forward on an actix worker
/// with [`BodySender::forward`], read on a blocking thread.
pub fn body_channel(limit: usize) -> (BodySender, BodyReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let reader = BodyReader { rx, current: Bytes::new(), ended: false, failure: FailureProbe::default() };
    (BodySender { tx, limit }, reader)
}

/// Starts forwarding `payload` in a task of its own and returns the blocking reader.
/// Must be called on an actix worker (the payload is not `Send`).
pub fn body_reader(payload: web::Payload, limit: usize) -> BodyReader {
    let (sender, reader) = body_channel(limit);
    actix_web::rt::spawn(sender.forward(payload));
    reader
}

/// The async side of a body stream.
pub struct BodySender {
    tx: mpsc::Sender<ChannelItem>,
    limit: usize,
}

impl BodySender {
    /// Moves the body to the blocking side, counting bytes: past the limit, or when the
    /// client's upload breaks off, the reader gets an error instead of the end of the body.
    pub async fn forward(self, mut payload: web::Payload) {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    total = total.saturating_add(bytes.len());
                    if total > self.limit {
                        ChannelItem::Fail(BodyFailure::TooLarge { limit: self.limit })
                    } else {
                        ChannelItem::Data(bytes)
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "request body broke off");
                    ChannelItem::Fail(BodyFailure::Interrupted)
                }
            };
            let stop = matches!(item, ChannelItem::Fail(_));
            // The reader hung up (it failed or finished early): stop reading the body.
            if self.tx.send(item).await.is_err() || stop {
                return;
            }
        }
        let _ = self.tx.send(ChannelItem::End).await;
    }
}

/// Tells, after the reader has been handed to a parser, why the body ended early.
#[derive(Debug, Clone, Default)]
pub struct FailureProbe(Arc<Mutex<Option<BodyFailure>>>);

impl FailureProbe {
    pub fn get(&self) -> Option<BodyFailure> {
        self.0.lock().map(|f| *f).unwrap_or(None)
    }

    fn set(&self, failure: BodyFailure) {
        if let Ok(mut f) = self.0.lock() {
            *f = Some(failure);
        }
    }
}

/// The blocking side: implements `Read` over the forwarded chunks.
pub struct BodyReader {
    rx: mpsc::Receiver<ChannelItem>,
    current: Bytes,
    ended: bool,
    failure: FailureProbe,
}

impl BodyReader {
    /// Why reading stopped early, if it did; usable after the reader is moved.
    pub fn failure_probe(&self) -> FailureProbe {
        self.failure.clone()
    }

    fn fail(&self, failure: BodyFailure) -> io::Error {
        self.failure.set(failure);
        failure.input_error().into_io()
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if let Some(failure) = self.failure.get() {
                return Err(failure.input_error().into_io());
            }
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(ChannelItem::Data(bytes)) => self.current = bytes,
                Some(ChannelItem::End) => self.ended = true,
                Some(ChannelItem::Fail(failure)) => return Err(self.fail(failure)),
                None => return Err(self.fail(BodyFailure::Interrupted)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader_with(items: Vec<ChannelItem>, close: bool) -> (BodyReader, Option<mpsc::Sender<ChannelItem>>) {
        let (sender, reader) = body_channel(10);
        for item in items {
            sender.tx.try_send(item).unwrap();
        }
        (reader, (!close).then_some(sender.tx))
    }

    #[test]
    fn only_the_end_marker_ends_the_body() {
        let (mut reader, _) = reader_with(vec![ChannelItem::Data(Bytes::from_static(b"abc")), ChannelItem::End], true);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(reader.failure_probe().get(), None);

        let (mut reader, _) = reader_with(vec![ChannelItem::Data(Bytes::from_static(b"abc"))], true);
        let probe = reader.failure_probe();
        let err = InputError::from_io(reader.read_to_end(&mut Vec::new()).unwrap_err());
        assert_eq!(err.code, UPLOAD_INTERRUPTED);
        assert_eq!(probe.get(), Some(BodyFailure::Interrupted));
    }

    #[test]
    fn a_failure_is_sticky_and_told_by_the_probe() {
        let (mut reader, _tx) = reader_with(vec![ChannelItem::Fail(BodyFailure::TooLarge { limit: 10 })], false);
        let probe = reader.failure_probe();
        for _ in 0..2 {
            let err = InputError::from_io(reader.read(&mut [0; 4]).unwrap_err());
            assert_eq!(err.code, BODY_TOO_LARGE);
        }
        assert_eq!(probe.get(), Some(BodyFailure::TooLarge { limit: 10 }));
        assert_eq!(ApiError::from(BodyFailure::Interrupted).code(), UPLOAD_INTERRUPTED);
    }
}
