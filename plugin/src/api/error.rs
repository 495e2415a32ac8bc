//! The one place a typed error becomes the WIT `error` variant and its text. Errors carry
//! what registries and token services said, so the text is made printable here.

use crate::bindings::exports::helm_oci::plugin::types::{DigestMismatch, Error as WitError, RegistryError};
use crate::error::{Error, Kind};
use helm_oci_headers::printable;

impl From<Error> for WitError {
    fn from(e: Error) -> WitError {
        let text = printable(&e.to_string());
        match e.kind {
            Kind::InvalidReference => WitError::InvalidReference(text),
            Kind::NotFound => WitError::NotFound(text),
            Kind::Unauthorized => WitError::Unauthorized(text),
            Kind::Denied => WitError::Denied(text),
            Kind::DigestMismatch { expected, actual } => WitError::DigestMismatch(DigestMismatch {
                subject: printable(&e.subject),
                expected: printable(&expected),
                actual: printable(&actual),
            }),
            Kind::InvalidChart => WitError::InvalidChart(text),
            Kind::Network => WitError::Network(text),
            Kind::Registry { status, code } => {
                WitError::Registry(RegistryError { status, code: printable(&code), message: text })
            }
            Kind::Io => WitError::Io(text),
            Kind::TimedOut => WitError::TimedOut(text),
        }
    }
}
