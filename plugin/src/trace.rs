//! The `--debug` trace: one line per registry request on stderr, never with secrets.

use std::io::Write;

/// Whether this call traces; handed to whatever makes requests on the call's behalf.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace {
    enabled: bool,
}

impl Trace {
    pub fn new(enabled: bool) -> Trace {
        Trace { enabled }
    }

    /// Writes a debug line if tracing is on, made printable (it may quote a registry).
    /// Callers pass text that carries no credentials. A stderr that cannot be written (its
    /// reader gone) loses the line, not the command, as the host's own lines.
    pub fn debug(&self, msg: impl FnOnce() -> String) {
        if self.enabled {
            let _ = writeln!(std::io::stderr(), "[debug] {}", helm_oci_headers::printable(&msg()));
        }
    }
}
