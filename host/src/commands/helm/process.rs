//! Running Helm in the foreground: it has the terminal and the standard streams, SIGINT,
//! SIGTERM and SIGHUP sent to helm-oci reach it, and its exit code becomes the command's.
//! Before Helm starts, such a signal stops the command instead, as it stops any other
//! helm-oci command.

use crate::sandbox::{Interrupted, Stopping, signal_came};
use anyhow::{Context, Result};
use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::task::{Context as TaskContext, Poll, Waker};
use tokio::process::{Child, Command};

/// The signals that stop a run, listened for from the start of the command. A listener
/// sees only signals that come after it is made, and once one is made the signal no longer
/// ends the process: made first, these see every signal of the run, which then stops it or
/// goes to Helm.
pub struct Signals(Stopping);

impl Signals {
    pub fn listen() -> Result<Signals> {
        Ok(Signals(Stopping::listen().context("cannot listen for signals")?))
    }

    /// The next signal's number.
    async fn next(&mut self) -> i32 {
        self.0.next().await
    }

    /// A signal that has come and not been taken yet, if any: one the listeners hold, or
    /// one the handler recorded while the runtime was too busy to hand it to them.
    fn pending(&mut self) -> Option<i32> {
        match self.0.poll(&mut TaskContext::from_waker(Waker::noop())) {
            Poll::Ready(signal) => Some(signal),
            Poll::Pending => signal_came(),
        }
    }

    /// Fails with `Interrupted` if a signal has come.
    pub fn check(&mut self) -> Result<()> {
        match self.pending() {
            Some(signal) => Err(Interrupted(signal).into()),
            None => Ok(()),
        }
    }

    /// Runs a step towards Helm unless a signal came before it or comes while it runs, and
    /// fails with `Interrupted` if one came by its end. The step is polled first, so one that
    /// takes the signal itself (a call into the component, which then removes its temp
    /// files) does so; it is dropped otherwise.
    pub async fn guard<T>(&mut self, step: impl Future<Output = Result<T>>) -> Result<T> {
        self.check()?;
        let done = tokio::select! {
            biased;
            done = step => done?,
            signal = self.next() => return Err(Interrupted(signal).into()),
        };
        self.check()?;
        Ok(done)
    }
}

/// Runs `bin args` to its end, unless a signal has come by then; returns its exit code, or
/// 128 + the signal if one killed it. Signals that come once it runs are Helm's to act on,
/// and helm-oci stays to clean up after it.
pub async fn run(bin: &OsStr, args: &[OsString], mut signals: Signals) -> Result<u8> {
    signals.check()?;
    let mut child =
        Command::new(bin).args(args).spawn().with_context(|| format!("cannot run Helm ({})", bin.display()))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.context("waiting for Helm")?,
            signal = signals.next() => forward(&child, signal),
        }
    };
    Ok(exit_code(status))
}

/// Passes a signal on to Helm (which, in a terminal's process group, may have had it too).
fn forward(child: &Child, signal: libc::c_int) {
    let Some(pid) = child.id().and_then(|id| libc::pid_t::try_from(id).ok()) else { return };
    // SAFETY: kill(2) has no memory effects; `pid` is our child, not yet reaped (`id()` is
    // `None` once it is), so it cannot name another process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// The exit code a shell would report for `status`.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(u8::MAX),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_a_shell_reports_them() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(255 << 8)), 255);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }

    /// One test: the signals it raises reach every listener of the process.
    #[tokio::test]
    async fn helms_exit_code_comes_back_and_a_signal_before_helm_stops_the_run() {
        let sh = |script: &str| [OsString::from("-c"), script.into()];
        let raise = |signal| {
            // SAFETY: raise(3) sends this process a signal; tokio's handler is installed for
            // it, as a listener exists.
            unsafe { libc::raise(signal) };
        };

        let mut signals = Signals::listen().unwrap();
        signals.check().unwrap();
        // A signal while a step is under way: the step is dropped.
        raise(libc::SIGTERM);
        let e = signals.guard(std::future::pending::<Result<()>>()).await.unwrap_err();
        assert!(matches!(e.downcast_ref(), Some(Interrupted(libc::SIGTERM))), "{e:#}");
        // One that comes as a step ends still stops the run.
        let step = async {
            raise(libc::SIGINT);
            tokio::task::yield_now().await;
            Ok(1)
        };
        let e = signals.guard(step).await.unwrap_err();
        assert!(matches!(e.downcast_ref(), Some(Interrupted(libc::SIGINT))), "{e:#}");
        signals.check().unwrap();
        // A hangup (the terminal closing) stops it as well.
        raise(libc::SIGHUP);
        let e = signals.guard(std::future::pending::<Result<()>>()).await.unwrap_err();
        assert!(matches!(e.downcast_ref(), Some(Interrupted(libc::SIGHUP))), "{e:#}");
        assert_eq!(e.to_string(), "interrupted by SIGHUP");
        // One that comes after the last step: Helm does not start.
        raise(libc::SIGINT);
        tokio::task::yield_now().await;
        let e = run(OsStr::new("sh"), &sh("echo Helm ran >&2"), signals).await.unwrap_err();
        assert!(matches!(e.downcast_ref(), Some(Interrupted(libc::SIGINT))), "{e:#}");

        assert_eq!(run(OsStr::new("sh"), &sh("exit 7"), Signals::listen().unwrap()).await.unwrap(), 7);
        assert_eq!(run(OsStr::new("sh"), &sh("kill -TERM $$"), Signals::listen().unwrap()).await.unwrap(), 143);
        let e = run(OsStr::new("/nonexistent/helm"), &[], Signals::listen().unwrap()).await.unwrap_err();
        assert!(format!("{e:#}").starts_with("cannot run Helm (/nonexistent/helm): "), "{e:#}");
    }
}
