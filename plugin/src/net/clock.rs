//! Time: a monotonic clock and timers (token lifetimes and retry back-off wait on a timer
//! pollable, so nothing else is held up), and the wall clock for timestamps.

/// Durations in the monotonic clock's unit, nanoseconds.
pub const SECOND: u64 = 1_000_000_000;
pub const MILLISECOND: u64 = 1_000_000;

/// Nanoseconds on a monotonic clock.
#[cfg(target_arch = "wasm32")]
pub fn now() -> u64 {
    wasip2::clocks::monotonic_clock::now()
}

/// Waits `ns` nanoseconds without blocking other futures.
#[cfg(target_arch = "wasm32")]
pub async fn sleep(ns: u64) {
    super::executor::wait(wasip2::clocks::monotonic_clock::subscribe_duration(ns)).await
}

/// Waits `ns` nanoseconds, holding up everything else: for waits between requests.
#[cfg(target_arch = "wasm32")]
pub fn pause(ns: u64) {
    wasip2::clocks::monotonic_clock::subscribe_duration(ns).block()
}

/// Seconds since the Unix epoch, by the wall clock.
#[cfg(target_arch = "wasm32")]
pub fn wall_seconds() -> i64 {
    wasip2::clocks::wall_clock::now().seconds as i64
}

/// Natively (unit tests) the same, from std.
#[cfg(not(target_arch = "wasm32"))]
pub fn now() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

#[cfg(not(target_arch = "wasm32"))]
pub fn wall_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn pause(ns: u64) {
    std::thread::sleep(std::time::Duration::from_nanos(ns));
}

#[cfg(not(target_arch = "wasm32"))]
pub async fn sleep(ns: u64) {
    std::thread::sleep(std::time::Duration::from_nanos(ns));
}
