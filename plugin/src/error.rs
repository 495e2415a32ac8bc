//! The component's typed error: what kind of failure, about what, why, and whether trying
//! again may help. It becomes the WIT `error` variant and its text in one place (`api`).

use std::fmt;
use std::path::Path;

/// Result with the component's typed error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure, said as `<subject>: <cause>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: Kind,
    /// What was being done or looked at, e.g. `localhost:5000/charts/app:1.0.0`; may be empty.
    pub subject: String,
    /// Why it failed, e.g. `not found`.
    pub cause: String,
    /// The network or the registry failed for a moment; the same request may work later.
    pub transient: bool,
    /// The failure is this one request's (the HTTP layer would not send it, or could not
    /// read its answer), and says nothing of whether where it went answers.
    pub request_only: bool,
    /// The registry's `Retry-After` on a transient answer: how many seconds it asked to be
    /// left alone before another try.
    pub retry_after: Option<u64>,
}

/// Every kind a caller may act on differently; the WIT variant has one case each.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    InvalidReference,
    NotFound,
    Unauthorized,
    Denied,
    DigestMismatch { expected: String, actual: String },
    InvalidChart,
    Network,
    Registry { status: u16, code: String },
    Io,
    TimedOut,
}

impl Error {
    pub fn new(kind: Kind, subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error {
            kind,
            subject: subject.into(),
            cause: cause.into(),
            transient: false,
            request_only: false,
            retry_after: None,
        }
    }

    pub fn invalid_reference(subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::new(Kind::InvalidReference, subject, cause)
    }

    pub fn not_found(subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, subject, cause)
    }

    pub fn invalid_chart(subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::new(Kind::InvalidChart, subject, cause)
    }

    pub fn network(subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::new(Kind::Network, subject, cause)
    }

    pub fn mismatch(subject: impl Into<String>, expected: impl Into<String>, actual: impl Into<String>) -> Error {
        let kind = Kind::DigestMismatch { expected: expected.into(), actual: actual.into() };
        Error::new(kind, subject, "digest mismatch")
    }

    /// A local file operation failed; names the path so the user can act on it.
    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::new(Kind::Io, path.display().to_string(), describe_io(&err))
    }

    /// The same error, marked as worth trying again.
    pub fn transient(self) -> Error {
        Error { transient: true, ..self }
    }

    /// The same error, marked as this one request's own (see `request_only`).
    pub fn request_only(self) -> Error {
        Error { request_only: true, ..self }
    }

    /// The same error with more said about why.
    pub fn because(self, more: impl fmt::Display) -> Error {
        Error { cause: format!("{} ({more})", self.cause), ..self }
    }
}

/// `subject: cause`, or whichever of the two there is.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.subject.is_empty(), self.cause.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.subject, self.cause),
            (false, true) => f.write_str(&self.subject),
            _ => f.write_str(&self.cause),
        }
    }
}

/// WASI reports a path the sandbox does not grant as "not permitted"; say what that means.
/// EILSEQ as the component's libc (wasi-libc) numbers it, and Linux's for the unit tests.
const EILSEQ: i32 = if cfg!(target_os = "wasi") { 25 } else { 84 };

fn describe_io(err: &std::io::Error) -> String {
    let words = helm_oci_headers::system_words(err);
    match err.kind() {
        // The file's mode, or the sandbox: the component cannot tell the two apart.
        std::io::ErrorKind::PermissionDenied => {
            format!("{words} (by the file's mode, or outside what this command may access)")
        }
        // WASI names files in UTF-8: a directory holding another name cannot be listed.
        _ if err.raw_os_error() == Some(EILSEQ) => {
            "a file name in it is not UTF-8, which helm-oci cannot read (rename that file)".to_string()
        }
        _ => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_subject_then_cause() {
        assert_eq!(Error::not_found("reg/app:1.0.0", "not found").to_string(), "reg/app:1.0.0: not found");
        assert_eq!(Error::network("", "no response").to_string(), "no response");
        let e = Error::network("cannot reach reg", "connection refused").because("gave up after 5 tries");
        assert_eq!(e.to_string(), "cannot reach reg: connection refused (gave up after 5 tries)");
        assert!(!e.transient && e.clone().transient().transient);
    }

    #[test]
    fn system_errors_are_in_go_words() {
        let gone = Error::io(Path::new("/c/Chart.yaml"), std::io::Error::from_raw_os_error(2));
        assert_eq!(gone.to_string(), "/c/Chart.yaml: no such file or directory");
        let denied = Error::io(Path::new("/x"), std::io::Error::from_raw_os_error(1));
        assert_eq!(
            denied.to_string(),
            "/x: operation not permitted (by the file's mode, or outside what this command may access)"
        );
        let unlistable = Error::io(Path::new("/c/"), std::io::Error::from_raw_os_error(EILSEQ));
        assert_eq!(
            unlistable.to_string(),
            "/c/: a file name in it is not UTF-8, which helm-oci cannot read (rename that file)"
        );
        let other = Error::io(Path::new("/y"), std::io::Error::other("a short read"));
        assert_eq!(other.to_string(), "/y: a short read");
    }
}
