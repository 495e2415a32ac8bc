//! One module per command: what it is granted, what it asks the component, what it prints.

pub mod cache;
pub mod copy;
pub mod dependency;
pub mod downloader;
pub mod helm;
pub mod index;
mod links;
pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
pub mod search;
pub mod tag;
pub mod tags;
mod temp;
pub mod version;

use crate::cli::{ChartCommand, Cli, Command, RemoteArgs};
use crate::component::exports::helm_oci::plugin::types::{Credential, Mirror, Reference, RemoteOptions};
use crate::sandbox::{Grants, Reach, Session};
use crate::{credentials, learnt, output, paths, registries};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

/// Runs the command the arguments name.
pub async fn run(cli: Cli) -> Result<()> {
    let debug = cli.debug || paths::helm_debug();
    match cli.command {
        Command::Version => version::run().await,
        Command::Login(args) => login::run(args, debug).await,
        Command::Logout(args) => logout::run(args),
        Command::Push(args) => push::run(args, debug).await,
        Command::Save(args) => cache::save(args, false).await,
        Command::List(args) => cache::list(args).await,
        Command::Export(args) => cache::export(args).await,
        Command::Remove(args) => cache::remove(args).await,
        Command::Prune => cache::prune().await,
        Command::Chart(chart) => match chart {
            ChartCommand::Save(args) => cache::save(args, true).await,
            ChartCommand::List(args) => cache::list(args).await,
            ChartCommand::Export(args) => cache::export(args).await,
            ChartCommand::Push(args) => push::run(args, debug).await,
            ChartCommand::Pull(args) => pull::run(args, debug).await,
            ChartCommand::Remove(args) => cache::remove(args).await,
        },
        Command::Pull(args) => pull::run(args, debug).await,
        Command::Tags(args) => tags::run(args, debug).await,
        Command::Tag(args) => tag::run(args, debug).await,
        Command::Copy(args) => copy::run(args, debug).await,
        Command::Dependency(command) => dependency::run(command, debug).await,
        Command::Search(args) => search::run(args, debug).await,
        Command::Index(args) => index::run(args, debug).await,
        Command::Install(args) => helm::run(helm::Verb::Install, args, cli.debug, debug).await,
        Command::Upgrade(args) => helm::run(helm::Verb::Upgrade, args, cli.debug, debug).await,
        Command::Template(args) => helm::run(helm::Verb::Template, args, cli.debug, debug).await,
        Command::Downloader(args) => downloader::run(args, debug).await,
    }
}

/// Grants the session the reference's registry, with `ahead` connections opened at once,
/// and picks the credential for it: the command's `--username`/`--password` (when both are
/// given), else what the stores hold.
fn connect(
    session: &mut Session,
    reference: &Reference,
    args: &RemoteArgs,
    debug: bool,
    ahead: usize,
) -> Result<RemoteOptions> {
    connect_to(session, &reference.registry, &reference.endpoint, args, &args.connection.reach(debug, ahead))
}

/// `connect` for a registry named on its own (`registry` as written, `endpoint` its API).
fn connect_to(
    session: &mut Session,
    registry: &str,
    endpoint: &str,
    args: &RemoteArgs,
    reach: &Reach,
) -> Result<RemoteOptions> {
    let given = (args.login(), missing_hint(args));
    connect_as(session, (registry, endpoint), given, reach)
}

/// `connect_to` with the credential given for this registry (if any; else the stored one,
/// else the hint for none).
fn connect_as(
    session: &mut Session,
    (registry, endpoint): (&str, &str),
    (given, hint): (Option<Credential>, &str),
    reach: &Reach,
) -> Result<RemoteOptions> {
    session.allow_registry(endpoint, reach)?;
    let credential = Some(credential_for(registry, given, reach, hint)?);
    let challenge = learnt::challenge(endpoint, reach.plain_http);
    let timeout_ms = reach.timeout_ms;
    Ok(RemoteOptions { plain_http: reach.plain_http, credential, challenge, debug: reach.debug, timeout_ms })
}

/// `connect` for a command that reads: the registry, and the mirrors configured for the
/// reference's repository, which are read first (so the connections opened ahead go to
/// the first of them).
async fn connect_reading(
    session: &mut Session,
    reference: &Reference,
    args: &RemoteArgs,
    reach: Reach,
) -> Result<(RemoteOptions, Vec<Mirror>)> {
    let (registry, endpoint) = (&reference.registry, &reference.endpoint);
    with_mirrors(session, (registry, endpoint, &reference.repository), reach, |session, reach| {
        connect_to(session, registry, endpoint, args, reach)
    })
    .await
}

/// Grants the registry through `origin`, then each mirror configured for `path` (a
/// repository, or a namespace; none for a whole registry) at `registry` (`endpoint` its
/// API): each with its own plain HTTP setting, the command's TLS flags, and the credential
/// the stores hold for it. A mirror of a namespace that is a whole registry there is left
/// out, as a listing needs a namespace to read below.
async fn with_mirrors(
    session: &mut Session,
    (registry, endpoint, path): (&str, &str, &str),
    reach: Reach,
    origin: impl FnOnce(&mut Session, &Reach) -> Result<RemoteOptions>,
) -> Result<(RemoteOptions, Vec<Mirror>)> {
    let configured = if path.is_empty() { Vec::new() } else { registries::mirrors(registry, endpoint, path)? };
    let configured: Vec<_> = configured.into_iter().filter(|m| m.repository.contains('/')).collect();
    let connection =
        origin(session, &Reach { ahead: if configured.is_empty() { reach.ahead } else { 0 }, ..reach.clone() })?;
    let mut granted = Vec::new();
    for (i, mirror) in configured.into_iter().enumerate() {
        let repository = session
            .parse_reference(&format!("oci://{}", mirror.repository))
            .await
            .with_context(|| format!("the mirror {} in {}", mirror.repository, paths::registries_config().display()))?;
        let ahead = if i == 0 { reach.ahead } else { 0 };
        session.allow_registry(
            &repository.endpoint,
            &Reach { plain_http: mirror.plain_http, own_tls: None, ahead, ..reach.clone() },
        )?;
        let credential = Some(stored(&repository.registry, &reach, LOG_IN)?);
        let challenge = learnt::challenge(&repository.endpoint, mirror.plain_http);
        granted.push(Mirror { repository, plain_http: mirror.plain_http, credential, challenge });
    }
    Ok((connection, granted))
}

/// What to do when a registry wants credentials and none were found: the command's flags
/// give them for the registry it names, ...
const LOG_IN_OR_PASS: &str = "log in with `helm oci login`, or pass --username and --password";
/// ... and only a login for any other (a mirror, the source of a copy).
const LOG_IN: &str = "log in with `helm oci login`";
/// Flags that give no credential: one of them empty, as an unset CI secret leaves it, ...
const ONE_EMPTY: &str = "--username or --password was given empty, which gives no credentials, as in Helm";
/// ... or one without the other.
const ONE_ALONE: &str = "--username and --password give credentials only together";

/// What to do when the registry a command names wants credentials and none were found.
fn missing_hint(args: &RemoteArgs) -> &'static str {
    match (args.username.as_deref(), args.password.as_deref()) {
        (Some(""), _) | (_, Some("")) => ONE_EMPTY,
        (Some(_), None) | (None, Some(_)) => ONE_ALONE,
        _ => LOG_IN_OR_PASS,
    }
}

/// The credential for a registry: the one given for this run, else the stored one, else
/// `hint`, what the user can do to give one.
fn credential_for(registry: &str, given: Option<Credential>, reach: &Reach, hint: &str) -> Result<Credential> {
    match given {
        Some(credential) => Ok(credential),
        None => stored(registry, reach, hint),
    }
}

/// The credential the stores hold for a registry, else `hint`.
fn stored(registry: &str, reach: &Reach, hint: &str) -> Result<Credential> {
    let found = credentials::find(registry, reach.debug, reach.timeout_ms)?;
    Ok(found.unwrap_or_else(|| Credential::Missing(hint.into())))
}

/// A registry as the user may write it for login and logout: `oci://` (or `https://`, or
/// `http://`) and a trailing `/` are dropped; a repository path after the host is warned of,
/// as Helm warns of it, and dropped, as a login is for a whole registry.
fn registry_host(host: &str) -> String {
    let host = ["oci://", "https://", "http://"].iter().find_map(|scheme| host.strip_prefix(scheme)).unwrap_or(host);
    let host = host.trim_end_matches('/');
    match host.split_once('/') {
        // Credentials before the host (user:password@host) are refused, and never repeated
        // in part, as a '/' in the password would.
        Some((registry, _)) if !host.contains('@') => {
            let warning = format!("a login is for a registry host, not a repository path: {registry} is used");
            output::warnings(&[warning]);
            registry.to_string()
        }
        _ => host.to_string(),
    }
}

/// The chart cache, created if missing; one that cannot be written is refused before
/// anything is fetched.
fn cache() -> Result<PathBuf> {
    let dir = cache_to_read()?;
    pull::writable(&dir).context("the chart cache cannot be written")?;
    Ok(dir)
}

/// The chart cache for a command that only keeps there what it read, and the grants for it:
/// none where it cannot be written, as the command works without it.
fn cache_to_keep() -> (Option<PathBuf>, Grants) {
    let cache = cache().ok();
    let dirs = cache.iter().map(|dir| (dir.clone(), FsPerms::ReadWrite)).collect();
    (cache, Grants { dirs, ..Grants::default() })
}

/// The chart cache, created if missing (an empty one lists nothing).
fn cache_to_read() -> Result<PathBuf> {
    let dir = paths::cache_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create the chart cache {}", dir.display()))?;
    Ok(dir)
}

/// Where push and save put a chart, as Helm joins it with the chart's name (`path.Join`):
/// `oci://host/ns/` is `oci://host/ns`.
fn namespace(target: &str) -> &str {
    match target.trim_end_matches('/') {
        // `oci://` alone stays as it is, for the reference's own error.
        trimmed if trimmed.ends_with(':') => target,
        trimmed => trimmed,
    }
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
