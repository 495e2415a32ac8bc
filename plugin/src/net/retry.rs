//! Trying again when the network or the registry failed for a moment: connection errors,
//! 429 and 5xx get exponential back-off with jitter, `Retry-After` is honoured, and a
//! request is tried at most `MAX_TRIES` times, with at most a minute of pauses in all, and
//! never past the command's deadline. The pauses wait on a timer, so other requests go on
//! meanwhile.

use super::clock::{self, MILLISECOND, SECOND};
use super::executor;
use super::wire::Response;
use crate::error::{Error, Result};
use crate::timestamp;
use crate::trace::Trace;
use std::future::Future;

/// Tries of a request the registry answered "not now" (429, 5xx): it is up, so it is waited
/// on about as long as Helm 4.3 (oras-go) waits, some 7 s of pauses. (A blob's storage host
/// gets as many, whatever failed: see `blobs::open`.)
pub const MAX_TRIES: u32 = 6;
/// Tries of a request that got no answer (refused, reset, timed out): a refused connection
/// (a wrong address, a registry that is down) fails within about 4 s of pauses. (Helm does
/// not try a refused one again.)
const UNANSWERED_TRIES: u32 = 5;
const FIRST_WAIT: u64 = 250 * MILLISECOND;
const LONGEST_WAIT: u64 = 3 * SECOND;
/// A server asking for a longer pause than this is not waited for; its answer stands.
const LONGEST_RETRY_AFTER: u64 = 60 * SECOND;
/// All the pauses of one request together stay within this.
pub const MOST_WAITING: u64 = 60 * SECOND;

/// Statuses that mean "not now" rather than "no": throttling, a request the server gave up
/// waiting for, and server trouble (not 501, which says the server never will).
pub fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A `Retry-After` header's pause in seconds: a number of them, or an HTTP date counted from
/// now by this machine's clock. None if absent, unreadable, or no pause at all (zero, a date
/// gone by): the usual back-off then applies, rather than trying again at once.
pub fn retry_after(response: &Response) -> Option<u64> {
    retry_after_value(response.header("retry-after")?, clock::wall_seconds())
}

/// The pause a "not now" answer asks for with `Retry-After`, in seconds: what an error made
/// of the answer says, as it may be longer than is waited.
pub fn asked_pause(response: &Response) -> Option<u64> {
    retry_after(response).filter(|_| transient_status(response.status))
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
/// server gave them, else doubling from FIRST_WAIT up to LONGEST_WAIT, jittered by a fifth
/// either way so that many clients do not come back in step. None if the server wants too
/// long a pause, or the pause would outlast the command's deadline: the answer at hand is
/// then the command's, not a timeout.
pub fn pause(tries: u32, retry_after: Option<u64>) -> Option<u64> {
    pause_at(tries, retry_after, clock::now(), executor::deadline())
}

/// `pause` at `now` on the monotonic clock, for a command that must end by `deadline`.
fn pause_at(tries: u32, retry_after: Option<u64>, now: u64, deadline: Option<u64>) -> Option<u64> {
    let pause = match retry_after {
        Some(seconds) => Some(seconds.saturating_mul(SECOND)).filter(|&wait| wait <= LONGEST_RETRY_AFTER)?,
        None => {
            let nominal = (FIRST_WAIT << (tries.max(1) - 1).min(16)).min(LONGEST_WAIT);
            nominal / 5 * 4 + now % (nominal / 5 * 2 + 1)
        }
    };
    deadline.is_none_or(|deadline| now.saturating_add(pause) < deadline).then_some(pause)
}

/// Runs `attempt` until it gets an answer that is not transient, or tries run out.
/// `what` names the request in the `--debug` trace.
pub async fn run<F, Fut>(trace: Trace, what: &str, attempt: F) -> Result<Response>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    run_retrying(trace, what, Unanswered::TriedAgain, attempt).await
}

/// Like `run`, but a request that gets no answer at all fails at once, for the caller to
/// judge where it went (a mirror's token service that gives none has the mirror passed
/// over); only an answer of 429 or 5xx is tried again.
pub async fn run_answered<F, Fut>(trace: Trace, what: &str, attempt: F) -> Result<Response>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    run_retrying(trace, what, Unanswered::Final, attempt).await
}

#[derive(Clone, Copy, PartialEq)]
enum Unanswered {
    TriedAgain,
    Final,
}

async fn run_retrying<F, Fut>(trace: Trace, what: &str, unanswered: Unanswered, mut attempt: F) -> Result<Response>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let mut tries = 1;
    let mut waited = 0;
    loop {
        let outcome = attempt().await;
        let (why, retry_after, most) = match &outcome {
            Ok(r) if transient_status(r.status) => (format!("HTTP {}", r.status), retry_after(r), MAX_TRIES),
            Err(e) if e.transient && unanswered == Unanswered::TriedAgain => (e.cause.clone(), None, UNANSWERED_TRIES),
            _ => return outcome,
        };
        let pause = match pause(tries, retry_after) {
            Some(p) if tries < most && waited + p <= MOST_WAITING => p,
            pause => {
                trace.debug(|| {
                    let asked = match (pause, retry_after) {
                        (Some(_), _) => String::new(),
                        (None, Some(s)) if s.saturating_mul(SECOND) > LONGEST_RETRY_AFTER => {
                            format!(" (it asks for a pause of {s} s; a minute is the most waited)")
                        }
                        (None, Some(s)) => format!(" (it asks for a pause of {s} s, past --timeout)"),
                        (None, None) => " (the next pause would pass --timeout)".to_string(),
                    };
                    let after = if tries > 1 { format!(" after {tries} tries") } else { String::new() };
                    format!("{what}: {why}{asked}; giving up{after}")
                });
                // Tried enough: whoever gets this error should not try again.
                return outcome.map_err(|e| {
                    let e = if tries > 1 { e.because(format!("gave up after {tries} tries")) } else { e };
                    Error { transient: false, ..e }
                });
            }
        };
        trace.debug(|| format!("{what}: {why}; retrying in {} ms (try {} of {most})", pause / MILLISECOND, tries + 1));
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
        let mut total = 0;
        for tries in 1..MAX_TRIES {
            let nominal = (FIRST_WAIT << (tries - 1)).min(LONGEST_WAIT);
            let p = pause_at(tries, None, clock::now(), None).unwrap();
            assert!(p >= nominal / 5 * 4 && p <= nominal / 5 * 6, "try {tries}: {p}");
            total += nominal;
        }
        // As long as Helm 4.3 waits on a registry answering 429 without `Retry-After`.
        assert_eq!(total, 6_750 * MILLISECOND);
    }

    #[test]
    fn honours_retry_after_within_reason() {
        assert_eq!(pause_at(1, Some(2), 0, None), Some(2 * SECOND));
        assert_eq!(pause_at(1, Some(60), 0, None), Some(60 * SECOND));
        assert_eq!(pause_at(1, Some(61), 0, None), None);
        assert_eq!(pause_at(1, Some(u64::MAX), 0, None), None);
        assert!(pause_at(1, None, 0, None).is_some());
    }

    #[test]
    fn no_pause_outlasts_the_deadline() {
        let now = 100 * SECOND;
        assert_eq!(pause_at(1, Some(2), now, Some(now + 3 * SECOND)), Some(2 * SECOND));
        assert_eq!(pause_at(1, Some(5), now, Some(now + 3 * SECOND)), None);
        assert_eq!(pause_at(5, None, now, Some(now + 2 * SECOND)), None);
        assert!(pause_at(1, None, now, Some(now + SECOND)).is_some());
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
        assert!(transient_status(429) && transient_status(503) && transient_status(500) && transient_status(408));
        assert!(!transient_status(501) && !transient_status(404) && !transient_status(401));
    }
}
