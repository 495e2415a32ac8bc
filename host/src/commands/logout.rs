//! `helm oci logout HOST`: removes the registry's stored credentials, as Helm does.

use crate::credentials::{self, Removed};
use crate::output::stream::{errln, outln};
use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry host
    host: String,
}

pub fn run(args: LogoutArgs) -> Result<()> {
    let registry = super::registry_host(&args.host);
    // Not repeated in any message: it would print a password given as user:password@host.
    if registry.contains('@') {
        bail!("invalid registry: it holds credentials before the host; a logout needs the host alone");
    }
    let removed = credentials::remove(&registry)?;
    // A signal during a helper's erase stops `remove` itself; one that came after the helper
    // answered (while the file was written) is looked at by nothing else: it ends the run as
    // one does, with the login removed by then.
    if let Some(signal) = crate::sandbox::signal_came() {
        return Err(crate::sandbox::Interrupted(signal).into());
    }
    match removed {
        Removed::Login => outln!("Removing login credentials for {registry}"),
        // oras-go deletes a missing entry of the file as a no-op, so Helm's logout of
        // nothing succeeds, and a pipeline's clean-up step must not fail on it: Helm's line,
        // and the truth on stderr.
        Removed::Nothing => {
            outln!("Removing login credentials for {registry}");
            errln!("WARNING: no login for {registry} was stored");
        }
        // A helper's "not found" is an error to oras-go's delete, and so to Helm's logout.
        Removed::NotInHelper(helper) => {
            bail!("not logged in to {registry}: docker-credential-{helper} holds no login for it")
        }
    }
    Ok(())
}
