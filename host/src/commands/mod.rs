//! One module per command: what it is granted, what it asks the component, what it prints.

pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
pub mod search;
pub mod tags;
pub mod version;

use crate::cli::{Cli, Command, RemoteArgs};
use crate::component::exports::helm_oci::plugin::types::{Reference, RemoteOptions};
use crate::sandbox::Session;
use crate::{credentials, paths};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Runs the command the arguments name.
pub async fn run(cli: Cli) -> Result<()> {
    let debug = cli.debug || paths::helm_debug();
    match cli.command {
        Command::Version => version::run().await,
        Command::Login(args) => login::run(args, debug).await,
        Command::Logout(args) => logout::run(args),
        Command::Push(args) => push::run(args, debug).await,
        Command::Pull(args) => pull::run(args, debug).await,
        Command::Tags(args) => tags::run(args, debug).await,
        Command::Search(args) => search::run(args, debug).await,
    }
}

/// Grants the session the reference's registry, with `ahead` connections opened at once,
/// and picks the credential for it: the command's `--username`/`--password`, else what
/// the stores hold.
fn connect(
    session: &mut Session,
    reference: &Reference,
    args: &RemoteArgs,
    debug: bool,
    ahead: usize,
) -> Result<RemoteOptions> {
    connect_to(session, &reference.registry, &reference.endpoint, args, debug, ahead)
}

/// `connect` for a registry named on its own (`registry` as written, `endpoint` its API).
fn connect_to(
    session: &mut Session,
    registry: &str,
    endpoint: &str,
    args: &RemoteArgs,
    debug: bool,
    ahead: usize,
) -> Result<RemoteOptions> {
    let connection = &args.connection;
    session.allow_registry(endpoint, &connection.reach(debug, ahead))?;
    let credential = match (&args.username, &args.password) {
        (None, None) => credentials::find(registry)?,
        (username, password) => {
            Some(credentials::basic(username.clone().unwrap_or_default(), password.clone().unwrap_or_default()))
        }
    };
    Ok(RemoteOptions { plain_http: connection.plain_http, credential, debug, timeout_ms: connection.timeout_ms() })
}

/// A registry as the user may write it for login and logout: `oci://` and a trailing `/` are dropped.
fn registry_host(host: &str) -> String {
    host.strip_prefix("oci://").unwrap_or(host).trim_end_matches('/').to_string()
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn utf8(path: &Path) -> Result<String> {
    match path.to_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("{} is not a UTF-8 path", path.display()),
    }
}
