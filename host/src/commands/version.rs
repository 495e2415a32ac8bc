//! `helm oci version`: the host's version and the component's, asked of the component.

use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::Result;

pub async fn run() -> Result<()> {
    let mut session = Session::start(Grants::default()).await?;
    output::version(env!("CARGO_PKG_VERSION"), &session.version().await?);
    Ok(())
}
