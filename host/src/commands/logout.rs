//! `helm oci logout HOST`: removes the registry's stored credentials, as Helm does.

use crate::credentials;
use anyhow::{Result, bail};
use clap::Args;

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry host
    host: String,
}

pub fn run(args: LogoutArgs) -> Result<()> {
    let registry = super::registry_host(&args.host);
    if !credentials::remove(&registry)? {
        bail!("not logged in to {registry}");
    }
    println!("Removing login credentials for {registry}");
    Ok(())
}
