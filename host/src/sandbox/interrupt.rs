//! Stopping a run cleanly on SIGINT, SIGTERM or SIGHUP: the component's call is dropped,
//! the temp files it had under way (named with this run's id) are removed from the
//! directories it could write, and the command ends with `Error: interrupted` and 128 + the
//! signal.

use std::fmt;
use std::fs;
use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Once, OnceLock};
use std::task::{Context, Poll};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The prefix of the component's temp names (see the component's `fs::temp`).
const TEMP_PREFIX: &str = ".helm-oci-";
/// The chart cache's lock, and the breaker held while a stale one is removed: each holds
/// its holder's run id first (see the component's `cache::lock`).
const CACHE_LOCKS: [&str; 2] = ["index.json.lock", "index.json.lock.break"];

/// The signals that stop a run, with their names: Ctrl-C, a `kill` or a CI job cancelled,
/// and the terminal (or SSH session) closing.
const STOPPING: [(libc::c_int, &str); 3] =
    [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")];

/// A run stopped by a signal.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = STOPPING.iter().find(|(number, _)| *number == self.0).map_or("a signal", |(_, name)| name);
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// This run's id, which the component puts in its temp names.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{:08x}{nanos:08x}", std::process::id())
}

/// The signals of STOPPING that the process was not started ignoring, read once, before
/// any listener changes how they are handled: a run under `nohup` (SIGHUP ignored), or a
/// shell's background job (SIGINT ignored), goes on ignoring them, as the Helm it runs does.
fn heeded() -> &'static [libc::c_int] {
    static HEEDED: OnceLock<Vec<libc::c_int>> = OnceLock::new();
    HEEDED.get_or_init(|| STOPPING.iter().map(|&(number, _)| number).filter(|&number| !ignored(number)).collect())
}

fn ignored(signal: libc::c_int) -> bool {
    // SAFETY: sigaction(2) with no new action only reads the current one into `old`, a
    // zeroed value of its own type.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Listeners for the signals that stop a run. One seen by a listener no longer ends the
/// process: it is the run's to act on.
pub struct Stopping(Vec<(libc::c_int, Signal)>);

impl Stopping {
    /// Listens from now on (to those of the signals the process heeds at all).
    pub fn listen() -> std::io::Result<Stopping> {
        let listeners = heeded().iter().map(|&number| Ok((number, signal(SignalKind::from_raw(number))?)));
        Ok(Stopping(listeners.collect::<std::io::Result<_>>()?))
    }

    /// The number of a signal that has come, if one has.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<libc::c_int> {
        for (number, listener) in &mut self.0 {
            if let Poll::Ready(Some(())) = listener.poll_recv(cx) {
                return Poll::Ready(*number);
            }
        }
        Poll::Pending
    }

    /// Resolves when a signal comes, with its number.
    pub async fn next(&mut self) -> libc::c_int {
        poll_fn(|cx| self.poll(cx)).await
    }
}

/// The number of the run's first stopping signal (0 until one comes), stored by the signal
/// handler itself from the first component call or credential helper on. Once listened
/// for, a signal no longer ends the process by itself, so one that comes between two calls
/// (while the host looks up the next chart's credentials, say) must be kept for the next
/// call to stop at, or the run goes on; and kept where the next call sees it even if the
/// runtime, busy meanwhile, has not yet handed it to any listener.
static CAME: AtomicI32 = AtomicI32::new(0);

/// Records the signals that stop a run in `CAME`, once a run: from then on one no longer
/// ends the process by itself, and whatever the run waits on must look at `came`.
pub fn record() {
    static RECORDING: Once = Once::new();
    RECORDING.call_once(|| {
        for &number in heeded() {
            // SAFETY: the action only stores into an atomic, which a signal handler may do.
            let _ = unsafe {
                signal_hook_registry::register(number, move || {
                    let _ = CAME.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
                })
            };
        }
    });
}

/// The run's first stopping signal, if one has come since `record` (the first component
/// call, or the first credential helper).
pub fn came() -> Option<i32> {
    Some(CAME.load(Ordering::SeqCst)).filter(|&number| number != 0)
}

/// Resolves when a signal that stops a run has arrived, with its number: at its first poll
/// if one came since the run's first call. It listens from the moment it is called, not
/// from its first poll: a component call runs on this thread until its first wait, and a
/// signal then would otherwise end the process, leaving its temp files.
pub fn signalled() -> impl Future<Output = i32> {
    record();
    let stopping = Stopping::listen();
    async move {
        match (came(), stopping) {
            (Some(came), _) => came,
            (None, Ok(mut stopping)) => stopping.next().await,
            (None, Err(_)) => std::future::pending().await,
        }
    }
}

/// Removes what the run `run` left in `dirs`: its temp files and staging directories, and
/// the chart cache's locks it held.
pub fn clean_up(run: &str, dirs: &[PathBuf]) {
    let ours = format!("{TEMP_PREFIX}{run}-");
    for dir in dirs {
        for lock in CACHE_LOCKS.map(|name| dir.join(name)) {
            if fs::read(&lock).is_ok_and(|held| held.starts_with(format!("{run}-").as_bytes())) {
                let _ = fs::remove_file(&lock);
            }
        }
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&ours)) {
            let path = entry.path();
            let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
    }
}
