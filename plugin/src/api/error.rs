//! The one place a typed error becomes the WIT `error` variant and its text.

use crate::bindings::exports::helm_oci::plugin::types::{DigestMismatch, Error as WitError, RegistryError};
use crate::error::{Error, Kind};

impl From<Error> for WitError {
    fn from(e: Error) -> WitError {
        let text = e.to_string();
        match e.kind {
            Kind::InvalidReference => WitError::InvalidReference(text),
            Kind::NotFound => WitError::NotFound(text),
            Kind::Unauthorized => WitError::Unauthorized(text),
            Kind::Denied => WitError::Denied(text),
            Kind::DigestMismatch { expected, actual } => {
                WitError::DigestMismatch(DigestMismatch { subject: e.subject, expected, actual })
            }
            Kind::InvalidChart => WitError::InvalidChart(text),
            Kind::Network => WitError::Network(text),
            Kind::Registry { status, code } => WitError::Registry(RegistryError { status, code, message: text }),
            Kind::Io => WitError::Io(text),
        }
    }
}
