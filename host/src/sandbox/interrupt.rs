//! Stopping a run cleanly on SIGINT or SIGTERM: the component's call is dropped, the temp
//! files it had under way (named with this run's id) are removed from the directories it
//! could write, and the command ends with `Error: interrupted` and 128 + the signal.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use tokio::signal::unix::{SignalKind, signal};

/// The prefix of the component's temp names (see the component's `fs::temp`).
const TEMP_PREFIX: &str = ".helm-oci-";
/// The chart cache's lock, which holds its holder's run id first (see the component's
/// `cache::lock`).
const CACHE_LOCK: &str = "index.json.lock";

/// A run stopped by a signal.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            2 => "SIGINT",
            15 => "SIGTERM",
            _ => "a signal",
        };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// This run's id, which the component puts in its temp names.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{:08x}{nanos:08x}", std::process::id())
}

/// Resolves when SIGINT or SIGTERM arrives, with its number.
pub async fn signalled() -> i32 {
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}

/// Removes what the run `run` left in `dirs`: its temp files and staging directories, and
/// the chart cache's lock if it held it.
pub fn clean_up(run: &str, dirs: &[PathBuf]) {
    let ours = format!("{TEMP_PREFIX}{run}-");
    for dir in dirs {
        let lock = dir.join(CACHE_LOCK);
        if fs::read(&lock).is_ok_and(|held| held.starts_with(format!("{run}-").as_bytes())) {
            let _ = fs::remove_file(&lock);
        }
        let Ok(entries) = fs::read_dir(dir) else { continue };
        for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&ours)) {
            let path = entry.path();
            let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
    }
}
