//! Request bodies read as a stream on a blocking thread: the async side forwards the
//! body's chunks through a small bounded channel, the parser reads them through
//! `std::io::Read`. A 50 MB upload is never held whole, and the async workers never
//! parse.

use std::io::{self, Read};

use actix_web::web;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Why the body stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    TooLarge,
    Broken,
}

/// Starts forwarding `payload` (at most `limit` bytes) and returns the blocking reader.
/// Must be called on an actix worker (the payload is not `Send`).
pub fn body_reader(mut payload: web::Payload, limit: usize) -> BodyReader {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BodyFailure>>(8);
    actix_web::rt::spawn(async move {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    total = total.saturating_add(bytes.len());
                    if total > limit { Err(BodyFailure::TooLarge) } else { Ok(bytes) }
                }
                Err(_) => Err(BodyFailure::Broken),
            };
            let stop = item.is_err();
            // The reader hung up (it failed or finished early): stop reading the body.
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    BodyReader { rx, current: Bytes::new(), failure: FailureProbe::default(), read: 0 }
}

/// Tells, after the reader has been handed to a parser, why the body ended early.
#[derive(Debug, Clone, Default)]
pub struct FailureProbe(std::sync::Arc<std::sync::Mutex<Option<BodyFailure>>>);

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
    rx: mpsc::Receiver<Result<Bytes, BodyFailure>>,
    current: Bytes,
    failure: FailureProbe,
    read: u64,
}

impl BodyReader {
    /// Why reading stopped early, if it did; usable after the reader is moved.
    pub fn failure_probe(&self) -> FailureProbe {
        self.failure.clone()
    }

    /// Bytes handed out so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if let Some(f) = self.failure.get() {
                return Err(io::Error::other(format!("request body: {f:?}")));
            }
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(f)) => {
                    self.failure.set(f);
                    return Err(io::Error::other(format!("request body: {f:?}")));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        self.read += n as u64;
        Ok(n)
    }
}
