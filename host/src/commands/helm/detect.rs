//! Which Helm `$HELM_BIN` is: Helm 2, whose install and template take the release as
//! `--name`, or Helm 3 or 4.

use super::syntax::Dialect;
use anyhow::{Context, Result, bail};
use std::ffi::{OsStr, OsString};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long `helm version` may take to answer.
const VERSION_TIME: Duration = Duration::from_secs(30);

/// `$HELM_BIN` (the Helm that runs the plugin), else `helm` on the PATH.
pub fn helm_bin() -> OsString {
    std::env::var_os("HELM_BIN").filter(|b| !b.is_empty()).unwrap_or_else(|| "helm".into())
}

/// Finding out which Helm it is; asking Helm runs while the chart is fetched.
pub enum Detection {
    Known(Dialect),
    /// `helm version --client --short`, under way.
    Asking(Child),
}

/// Starts finding out: Helm 2's plugin environment says so at once; otherwise Helm is asked
/// for its version.
pub fn start(bin: &OsStr) -> Result<Detection> {
    if crate::paths::run_by_helm_2() {
        return Ok(Detection::Known(Dialect::Helm2));
    }
    let child = Command::new(bin)
        .args(["version", "--client", "--short"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run Helm ({})", bin.display()))?;
    Ok(Detection::Asking(child))
}

impl Detection {
    pub async fn finish(self, bin: &OsStr) -> Result<Dialect> {
        let child = match self {
            Detection::Known(dialect) => return Ok(dialect),
            Detection::Asking(child) => child,
        };
        let Ok(output) = tokio::time::timeout(VERSION_TIME, child.wait_with_output()).await else {
            bail!("`{} version --client --short` did not answer in {}s", bin.display(), VERSION_TIME.as_secs());
        };
        let output = output.with_context(|| format!("running {} version", bin.display()))?;
        Ok(dialect_of(&String::from_utf8_lossy(&output.stdout)))
    }
}

/// Reads `helm version --client --short`: Helm 2 prints `Client: v2.…`, Helm 3 `v3.…`,
/// and Helm 4, which has no `--client`, fails with nothing on stdout.
fn dialect_of(version: &str) -> Dialect {
    if version.trim_start().starts_with("Client: v2.") { Dialect::Helm2 } else { Dialect::Helm3 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_helm_2_answers_with_a_client_v2_version() {
        assert_eq!(dialect_of("Client: v2.17.0+ga690bad\n"), Dialect::Helm2);
        assert_eq!(dialect_of("v3.14.0+g3fc9f4b\n"), Dialect::Helm3);
        assert_eq!(dialect_of(""), Dialect::Helm3);
        assert_eq!(dialect_of("Client: v3.0.0\n"), Dialect::Helm3);
    }
}
