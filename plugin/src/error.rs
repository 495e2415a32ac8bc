//! Building the WIT `error` variant from the failures this crate meets.

use crate::{DigestMismatch, Error};
use std::path::Path;

/// Result with the component's typed error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A local file operation failed; names the path so the user can act on it.
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Error::Io(format!("{}: {}", path.display(), describe_io(&err)))
    }

    /// The error's own words, for the `--debug` trace (the host words the final message).
    pub fn text(&self) -> String {
        match self {
            Error::InvalidReference(m)
            | Error::NotFound(m)
            | Error::Unauthorized(m)
            | Error::Denied(m)
            | Error::InvalidChart(m)
            | Error::Network(m)
            | Error::Io(m) => m.clone(),
            Error::DigestMismatch(d) => format!("{}: expected {}, got {}", d.subject, d.expected, d.actual),
            Error::Registry(r) => format!("{} (HTTP {})", r.message, r.status),
        }
    }

    pub fn invalid_chart(msg: impl Into<String>) -> Self {
        Error::InvalidChart(msg.into())
    }

    pub fn mismatch(subject: impl Into<String>, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Error::DigestMismatch(DigestMismatch {
            subject: subject.into(),
            expected: expected.into(),
            actual: actual.into(),
        })
    }
}

/// WASI reports a path the sandbox does not grant as "not permitted"; say what that means.
fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => format!("{err} (outside what this command may access)"),
        _ => err.to_string(),
    }
}
