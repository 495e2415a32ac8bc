//! Everything the user reads, in Helm's style: results on stdout, `WARNING:` and
//! `Error:` lines on stderr.

use crate::component::exports::helm_oci::plugin::registry::{PullResult, PushResult};
use crate::component::exports::helm_oci::plugin::types::{Error, RegistryError};

/// Turns the component's typed error into the one line the user sees.
pub fn component_error(e: Error) -> anyhow::Error {
    anyhow::anyhow!(match e {
        Error::InvalidReference(m)
        | Error::NotFound(m)
        | Error::Unauthorized(m)
        | Error::Denied(m)
        | Error::InvalidChart(m)
        | Error::Network(m)
        | Error::Io(m)
        | Error::TimedOut(m) => m,
        Error::DigestMismatch(d) => {
            format!("{}: digest mismatch: expected {}, got {}", d.subject, d.expected, d.actual)
        }
        Error::Registry(RegistryError { status, code, message }) if code.is_empty() => {
            format!("{message} (HTTP {status})")
        }
        Error::Registry(RegistryError { status, code, message }) => format!("{message} ({code}, HTTP {status})"),
    })
}

/// One `Error:` line, with the causes that context added joined on it.
pub fn error(e: &anyhow::Error) {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    eprintln!("Error: {}", chain.join(": "));
}

fn warnings(list: &[String]) {
    for w in list {
        eprintln!("WARNING: {w}");
    }
}

pub fn pushed(r: &PushResult) {
    warnings(&r.warnings);
    println!("Pushed: {}", r.reference);
    println!("Digest: {}", r.digest);
}

pub fn pulled(r: &PullResult) {
    warnings(&r.warnings);
    println!("Pulled: {}", r.reference);
    println!("Digest: {}", r.digest);
}

pub fn version(host: &str, component: &str) {
    println!("helm-oci {host} (component {component})");
}
