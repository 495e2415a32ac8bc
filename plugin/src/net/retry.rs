//! Trying again when the network or the registry failed for a moment: connection errors,
//! 429 and 5xx get exponential back-off with jitter, `Retry-After` is honoured, and a
//! request is tried at most `MAX_TRIES` times, with at most a minute of pauses in all. The
//! pauses wait on a timer, so other requests go on meanwhile.

use super::clock::{self, MILLISECOND, SECOND};
use super::wire::Response;
use crate::error::{Error, Result};
use crate::timestamp;
use crate::trace::Trace;
use std::future::Future;

pub const MAX_TRIES: u32 = 5;
const FIRST_WAIT: u64 = 200 * MILLISECOND;
const LONGEST_WAIT: u64 = 3 * SECOND;
/// A server asking for a longer pause than this is not waited for; its answer stands.
const LONGEST_RETRY_AFTER: u64 = 60 * SECOND;
/// All the pauses of one request together stay within this.
const MOST_WAITING: u64 = 60 * SECOND;

/// Statuses that mean "not now" rather than "no": throttling and server trouble.
pub fn transient_status(status: u16) -> bool {
    status == 429 || matches!(status, 500 | 502 | 503 | 504)
}

/// A `Retry-After` header's pause in seconds: a number of them, or an HTTP date counted from
/// now by this machine's clock. None if absent, unreadable, or no pause at all (zero, a date
/// gone by): the usual back-off then applies, rather than trying again at once.
pub fn retry_after(response: &Response) -> Option<u64> {
    retry_after_value(response.header("retry-after")?, clock::wall_seconds())
}

fn retry_after_value(value: &str, now: i64) -> Option<u64> {
    let value = value.trim();
    let seconds = match value.parse::<u64>() {
        Ok(seconds) => seconds,
        Err(_) => u64::try_from(timestamp::parse_http_date(value)? - now).ok()?,
    };
    (seconds > 0).then_some(seconds)
}

/// The pause before the try after `tries` failed ones: the `Retry-After` seconds if the
/// server gave them, else doubling from FIRST_WAIT up to LONGEST_WAIT, with the upper half
/// jittered so that many clients do not come back in step. None if the server wants too
/// long a pause.
pub fn pause(tries: u32, retry_after: Option<u64>) -> Option<u64> {
    if let Some(seconds) = retry_after {
        let wait = seconds.saturating_mul(SECOND);
        return (wait <= LONGEST_RETRY_AFTER).then_some(wait);
    }
    let ceiling = (FIRST_WAIT << (tries.max(1) - 1).min(16)).min(LONGEST_WAIT);
    Some(ceiling / 2 + clock::now() % (ceiling / 2 + 1))
}

/// Runs `attempt` until it gets an answer that is not transient, or tries run out.
/// `what` names the request in the `--debug` trace.
pub async fn run<F, Fut>(trace: Trace, what: &str, mut attempt: F) -> Result<Response>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let mut tries = 1;
    let mut waited = 0;
    loop {
        let outcome = attempt().await;
        let (why, retry_after) = match &outcome {
            Ok(r) if transient_status(r.status) => (format!("HTTP {}", r.status), retry_after(r)),
            Err(e) if e.transient => (e.cause.clone(), None),
            _ => return outcome,
        };
        let pause = match pause(tries, retry_after) {
            Some(p) if tries < MAX_TRIES && waited + p <= MOST_WAITING => p,
            _ => {
                trace.debug(|| format!("{what}: {why}; giving up after {tries} tries"));
                // Tried enough: whoever gets this error should not try again.
                return outcome.map_err(|e| {
                    let e = if tries > 1 { e.because(format!("gave up after {tries} tries")) } else { e };
                    Error { transient: false, ..e }
                });
            }
        };
        trace.debug(|| {
            format!("{what}: {why}; retrying in {} ms (try {} of {MAX_TRIES})", pause / MILLISECOND, tries + 1)
        });
        drop(outcome);
        clock::sleep(pause).await;
        waited += pause;
        tries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_with_jitter_up_to_a_ceiling() {
        for tries in 1..=6 {
            let ceiling = (FIRST_WAIT << (tries - 1)).min(LONGEST_WAIT);
            let p = pause(tries, None).unwrap();
            assert!(p >= ceiling / 2 && p <= ceiling, "try {tries}: {p}");
        }
    }

    #[test]
    fn honours_retry_after_within_reason() {
        assert_eq!(pause(1, Some(2)), Some(2 * SECOND));
        assert_eq!(pause(1, Some(0)), Some(0));
        assert_eq!(pause(1, Some(3600)), None);
        assert_eq!(pause(1, Some(u64::MAX)), None);
        assert!(pause(1, None).is_some());
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date_and_never_no_pause() {
        let now = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_value(" 120 ", now), Some(120));
        assert_eq!(retry_after_value("Sun, 06 Nov 1994 08:49:43 GMT", now), Some(6));
        // No pause, or none that can be read: the usual back-off, not a try at once.
        for none in ["0", "Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:00:00 GMT", "-5", "soon"] {
            assert_eq!(retry_after_value(none, now), None, "{none}");
        }
    }

    #[test]
    fn which_statuses_are_transient() {
        assert!(transient_status(429) && transient_status(503) && transient_status(500));
        assert!(!transient_status(501) && !transient_status(404) && !transient_status(401));
    }
}
