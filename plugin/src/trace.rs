//! The `--debug` trace: one line per registry request on stderr, never with secrets.

use std::cell::Cell;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
}

/// Turns the trace on or off for the current call.
pub fn enable(on: bool) {
    ENABLED.with(|e| e.set(on));
}

pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Writes a debug line if tracing is on. Callers pass text that carries no credentials.
pub fn debug(msg: impl FnOnce() -> String) {
    if enabled() {
        eprintln!("[debug] {}", msg());
    }
}
