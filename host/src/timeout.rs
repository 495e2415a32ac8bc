//! The command's `--timeout`, counted from its start, for the credential helpers: each is
//! given what is left of it, so that several lookups behind one stuck helper take no
//! longer together than the flag says. (The component's call then gets the whole
//! `--timeout` again, so that a registry's refusal can still say why a login was missing.)

use std::sync::LazyLock;
use std::time::Instant;

static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Starts the count; `main` calls it before anything else.
pub fn start() {
    LazyLock::force(&STARTED);
}

/// What is left of a timeout of `timeout_ms` (none: no limit), in milliseconds; 0 once it
/// has run out.
pub fn left(timeout_ms: Option<u64>) -> Option<u64> {
    let spent = u64::try_from(STARTED.elapsed().as_millis()).unwrap_or(u64::MAX);
    timeout_ms.map(|ms| ms.saturating_sub(spent))
}
