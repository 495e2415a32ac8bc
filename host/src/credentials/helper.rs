//! Docker credential helpers (`docker-credential-<name> get|store|erase`), run with a
//! deadline and a cap on what they may print. What a helper prints on stdout may be a
//! secret, so it never goes into an error; only its stderr does, made printable.

use crate::sandbox::{self, Interrupted};
use anyhow::{Context, Result, bail};
use std::io::{ErrorKind, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A helper may prompt a keychain, but not forever, nor past the command's timeout.
const DEADLINE: Duration = Duration::from_secs(30);
/// More than this on stdout or stderr is no credential.
const OUTPUT_MAX: usize = 1 << 20;

/// What a helper did.
pub struct Answer {
    pub succeeded: bool,
    /// Possibly a secret: for parsing only, never for messages.
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// It exited without reading what it was sent.
    pub stopped_reading: bool,
}

impl Answer {
    /// Whether the helper has nothing for this registry: it says so, or it failed without
    /// a word or without even reading the registry's name.
    pub fn not_found(&self) -> bool {
        let said = format!("{}{}", String::from_utf8_lossy(&self.stdout), self.stderr).to_ascii_lowercase();
        self.stopped_reading || said.trim().is_empty() || said.contains("credentials not found")
    }

    /// The helper's own account of a failure, safe to show.
    pub fn complaint(&self) -> String {
        let said = helm_oci_headers::printable(self.stderr.trim());
        if said.is_empty() { "it said nothing on stderr".to_string() } else { said }
    }
}

/// How long helpers are waited on: together, no longer than the command's `--timeout` (in
/// milliseconds; none for no limit), so that several lookups behind one stuck helper take
/// no longer than the flag says; each, never more than `DEADLINE`. Only the time helpers
/// take counts: not the command's other work, nor a password typed at a prompt.
#[derive(Clone, Copy)]
pub struct Limit(pub Option<u64>);

/// Milliseconds the helpers of this process have taken so far.
static SPENT_MS: AtomicU64 = AtomicU64::new(0);

impl Limit {
    /// How long a helper starting now may take; and the `--timeout` it is cut short by, if
    /// that is what limits it.
    fn now(self) -> (Duration, Option<Duration>) {
        let left = self.0.map(|ms| Duration::from_millis(ms.saturating_sub(SPENT_MS.load(Ordering::Relaxed))));
        match left {
            Some(left) if left < DEADLINE => (left, self.0.map(Duration::from_millis)),
            _ => (DEADLINE, None),
        }
    }

    /// Counts what a helper took against the budget.
    fn spent(started: Instant) {
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        SPENT_MS.fetch_add(ms, Ordering::Relaxed);
    }
}

/// A helper that did not answer within the time it was given.
#[derive(Debug)]
struct TimedOut(Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Runs `docker-credential-<helper> <action>` with `input` on its stdin, within `limit`.
/// Once the helpers have taken the command's whole `--timeout`, no helper is started.
pub fn run(helper: &str, action: &str, input: &str, limit: Limit) -> Result<Answer> {
    let program = format!("docker-credential-{helper}");
    let (within, timeout) = limit.now();
    if let (true, Some(timeout)) = (within.is_zero(), timeout) {
        bail!("the credential helper {program} was not asked: the command's --timeout ({timeout:?}) had run out");
    }
    // A signal while the helper runs stops the run (and the helper) at once, not once the
    // helper is done or has taken its whole time; one that came before starts none.
    sandbox::record_signals();
    if let Some(signal) = sandbox::signal_came() {
        return Err(Interrupted(signal).into());
    }
    let mut command = Command::new(&program);
    command.arg(action);
    let started = Instant::now();
    let answer = invoke(command, input, within);
    Limit::spent(started);
    match answer {
        Err(e) if e.is::<Interrupted>() => Err(e),
        Err(e) if e.is::<TimedOut>() && timeout.is_some() => {
            let timeout = timeout.expect("checked");
            Err(anyhow::anyhow!("did not answer within the command's --timeout ({timeout:?})"))
                .with_context(|| format!("the credential helper {program}"))
        }
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == ErrorKind::NotFound) => {
            Err(super::Unusable(format!(
                "the credential helper {program} (named by credHelpers or credsStore in a Docker-format config) is not on PATH"
            ))
            .into())
        }
        other => other.with_context(|| format!("the credential helper {program}")),
    }
}

/// Whether an executable of this name is in one of PATH's absolute directories, as Go's
/// `exec.LookPath` finds one (it refuses a match in a relative one, `.` included).
pub fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).filter(|dir| dir.is_absolute()).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Runs a helper's command with `input` on its stdin, within `deadline`.
fn invoke(mut command: Command, input: &str, deadline: Duration) -> Result<Answer> {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (done, finished) = mpsc::channel();
    let stdout = capped(child.stdout.take().expect("piped stdout"), done.clone());
    let stderr = capped(child.stderr.take().expect("piped stderr"), done);
    // A helper that exits without reading its input leaves a broken pipe: that is its
    // answer, not a failure of ours.
    let stopped_reading = match child.stdin.take().expect("piped stdin").write_all(input.as_bytes()) {
        Ok(()) => false,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => true,
        Err(e) => {
            kill(&mut child);
            bail!("writing to it: {e}");
        }
    };
    let status = wait(&mut child, &finished, deadline)?;
    // Both pipes are read to their end by now.
    let (stdout, stderr) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    Ok(Answer {
        succeeded: status.success(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stopped_reading,
    })
}

/// Reads a pipe to its end in a thread, up to `OUTPUT_MAX` bytes; says on `done` when it
/// stopped, and whether it stopped because there was too much.
fn capped(mut pipe: impl Read + Send + 'static, done: mpsc::Sender<bool>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        let read = (&mut pipe).take(OUTPUT_MAX as u64 + 1).read_to_end(&mut out);
        let _ = done.send(read.is_ok() && out.len() > OUTPUT_MAX);
        out
    })
}

/// Waits for the helper to exit and for both its pipes to reach their end (which a process
/// it left running may hold open), killing it if it takes too long or prints too much. A
/// signal stops the wait first: a Ctrl-C reaches the helper too, which then exits at once.
fn wait(child: &mut Child, finished: &mpsc::Receiver<bool>, within: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    let (mut status, mut pipes_read) = (None, 0);
    loop {
        while let Ok(flooded) = finished.try_recv() {
            if flooded {
                kill(child);
                bail!("printed more than {OUTPUT_MAX} bytes");
            }
            pipes_read += 1;
        }
        if let Some(signal) = sandbox::signal_came() {
            kill(child);
            return Err(Interrupted(signal).into());
        }
        if status.is_none() {
            status = child.try_wait()?;
        }
        if let Some(status) = status
            && pipes_read == 2
        {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            kill(child);
            return Err(TimedOut(within).into());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_helper_that_hangs_is_stopped() {
        let started = Instant::now();
        let e = invoke(sh("sleep 30"), "reg", Duration::from_millis(300)).err().unwrap();
        assert_eq!(e.to_string(), "did not answer within 300ms");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_helper_whose_child_holds_its_output_is_not_waited_on_forever() {
        let started = Instant::now();
        let e = invoke(sh("sleep 30 & echo done"), "reg", Duration::from_millis(300)).err().unwrap();
        assert_eq!(e.to_string(), "did not answer within 300ms");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_helper_that_floods_is_stopped() {
        let e = invoke(sh("yes secret"), "reg", DEADLINE).err().unwrap();
        assert_eq!(e.to_string(), format!("printed more than {OUTPUT_MAX} bytes"));
    }

    #[test]
    fn a_helper_that_exits_without_reading_has_nothing() {
        let answer = invoke(sh("exec 0<&-; exit 1"), &"x".repeat(1 << 20), DEADLINE).unwrap();
        assert!(!answer.succeeded && answer.stopped_reading && answer.not_found());
    }

    #[test]
    fn stdout_never_reaches_a_complaint() {
        let answer = invoke(sh("cat >/dev/null; echo hunter2; echo boom >&2; exit 3"), "reg", DEADLINE).unwrap();
        assert!(!answer.succeeded && !answer.not_found());
        assert_eq!(answer.complaint(), "boom");
    }
}
