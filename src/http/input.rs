//! Failures of a whole upload, with a stable code, that travel through `std::io::Read`
//! layers (body stream, charset decoding, CSV guard) to the service that reports them.

use std::io;

/// Code of a body larger than its route takes (413).
pub const BODY_TOO_LARGE: &str = "body_too_large";
/// Code of a body that broke off before its end (400).
pub const UPLOAD_INTERRUPTED: &str = "upload_interrupted";

/// Why a whole upload cannot be read. `code` is the problem's stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub code: &'static str,
    pub message: String,
}

impl InputError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        InputError { code, message: message.into() }
    }

    /// The error as an I/O error, to travel through `Read`.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// The input error an I/O error carries, or a generic `unreadable_body` one.
    pub fn from_io(e: io::Error) -> InputError {
        if e.get_ref().is_some_and(|inner| inner.is::<InputError>())
            && let Some(inner) = e.into_inner()
            && let Ok(input) = inner.downcast::<InputError>()
        {
            return *input;
        }
        InputError::new("unreadable_body", "the request body could not be read")
    }

    /// Whether the body itself did not arrive whole (too large or cut off), as opposed
    /// to what it holds being wrong.
    pub fn is_body_failure(&self) -> bool {
        self.code == BODY_TOO_LARGE || self.code == UPLOAD_INTERRUPTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_survive_the_trip_through_io() {
        let e = InputError::new("csv_unclosed_quote", "line 3: a quoted field is never closed");
        assert_eq!(InputError::from_io(e.clone().into_io()), e);
        assert_eq!(InputError::from_io(io::Error::other("disk")).code, "unreadable_body");
    }
}
