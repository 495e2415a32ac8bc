//! `login`: checks credentials against a registry; storing them is the host's business.

use crate::error::Result;
use crate::oci::client::{Client, Connection};
use crate::oci::reference;

/// Pings `/v2/` of the registry through whatever auth flow it asks for.
pub async fn run(registry: &str, connection: &Connection) -> Result<()> {
    let endpoint = reference::endpoint(registry)?;
    Client::new(&endpoint, connection).ping().await
}
