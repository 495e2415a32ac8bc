//! `helm oci logout HOST`: removes the registry's stored credentials, as Helm does.

use crate::credentials;
use crate::output::stream::outln;
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
    if !credentials::remove(&registry)? {
        bail!("not logged in to {registry}");
    }
    outln!("Removing login credentials for {registry}");
    Ok(())
}
