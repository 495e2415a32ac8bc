//! `helm oci logout HOST`: removes the registry's stored credentials, as Helm does.

use crate::credentials;
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
    // A logout of nothing succeeds with Helm's line, as Helm's does (oras-go deletes a
    // missing entry as a no-op): a pipeline's clean-up step must not fail on it. What was
    // really removed is said on stderr.
    let removed = credentials::remove(&registry)?;
    outln!("Removing login credentials for {registry}");
    if !removed {
        errln!("WARNING: no login for {registry} was stored");
    }
    Ok(())
}
