//! The command line, with Helm's flag names, and what each command is granted.

use crate::component::exports::helm_oci::plugin::registry::{PullOptions, PushOptions};
use crate::component::exports::helm_oci::plugin::types::{Reference, RemoteOptions};
use crate::sandbox::{Grants, Session};
use crate::transport::TlsFlags;
use crate::{credentials, output, paths};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::fs;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

#[derive(Parser)]
#[command(name = "helm oci", about = "Keep Helm charts in OCI registries", disable_version_flag = true)]
pub struct Cli {
    /// Enable verbose output (Helm passes it as HELM_DEBUG)
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a chart directory (packaged on the way) or a packaged .tgz to a registry
    Push(PushArgs),
    /// Download a chart from a registry
    Pull(PullArgs),
    /// Log in to a registry, checking the credentials before storing them
    Login(LoginArgs),
    /// Remove a registry's stored credentials
    Logout(LogoutArgs),
    /// Print the version of helm-oci and of its component
    Version,
}

/// How to reach a registry: the connection flags every registry command shares.
#[derive(Args)]
struct ConnectionArgs {
    /// Use insecure HTTP connections for the chart upload or download
    #[arg(long)]
    plain_http: bool,
    /// Verify certificates of HTTPS-enabled servers using this CA bundle (in addition to the system's)
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Identify HTTPS client using this SSL certificate file
    #[arg(long, value_name = "FILE", requires = "key_file")]
    cert_file: Option<PathBuf>,
    /// Identify HTTPS client using this SSL key file
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
    /// Skip TLS certificate checks for the chart upload or download
    #[arg(long, alias = "insecure")]
    insecure_skip_tls_verify: bool,
}

impl ConnectionArgs {
    fn tls(&self) -> TlsFlags {
        TlsFlags {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            insecure: self.insecure_skip_tls_verify,
        }
    }
}

/// Connection flags plus credentials that override the stored ones for this run.
#[derive(Args)]
struct RemoteArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Registry username (overrides stored credentials)
    #[arg(long)]
    username: Option<String>,
    /// Registry password or identity token (overrides stored credentials)
    #[arg(long)]
    password: Option<String>,
}

#[derive(Args)]
struct LoginArgs {
    /// The registry host, e.g. ghcr.io or localhost:5000
    host: String,
    /// Registry username
    #[arg(short, long)]
    username: Option<String>,
    /// Registry password or identity token
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read password or identity token from stdin
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args)]
struct LogoutArgs {
    /// The registry host
    host: String,
}

#[derive(Args)]
#[command(after_help = "REMOTE is oci://host/namespace (pushed as <namespace>/<name>:<version>) or a reference with a tag.")]
struct PushArgs {
    /// Chart directory or packaged chart (.tgz)
    chart: PathBuf,
    /// Where to push: oci://host[:port]/namespace
    remote: String,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

#[derive(Args)]
struct PullArgs {
    /// Chart reference: oci://host[:port]/path/name[:tag|@sha256:…]
    chart_ref: String,
    /// Chart version to pull (the tag, with '+' stored as '_'); the newest stable version if omitted
    #[arg(long)]
    version: Option<String>,
    /// Location to write the chart to
    #[arg(short = 'd', long, default_value = ".")]
    destination: PathBuf,
    /// If set to true, will untar the chart after downloading it
    #[arg(long)]
    untar: bool,
    /// If untar is specified, this flag specifies the name of the directory into which the chart is expanded
    #[arg(long, default_value = ".")]
    untardir: PathBuf,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(cli: Cli) -> Result<()> {
    let debug = cli.debug || paths::helm_debug();
    match cli.command {
        Command::Version => {
            let mut session = Session::start(Grants::default()).await?;
            output::version(env!("CARGO_PKG_VERSION"), &session.version().await?);
        }
        Command::Login(args) => login(args, debug).await?,
        Command::Logout(args) => {
            let registry = registry_host(&args.host);
            println!("Removing login credentials for {registry}");
            if !credentials::remove(&registry)? {
                bail!("not logged in to {registry}");
            }
        }
        Command::Push(args) => {
            let chart = absolute(&args.chart)?;
            let meta = fs::metadata(&chart).with_context(|| format!("stat {}", args.chart.display()))?;
            // A packaged chart is read with its directory, where Helm also looks for its .prov.
            let readable = if meta.is_dir() { chart.clone() } else { parent(&chart) };
            let mut session = Session::start(Grants { dirs: vec![(readable, FsPerms::ReadOnly)] }).await?;
            let reference = session.parse_reference(&args.remote).await?;
            let connection = connect(&mut session, &reference, &args.remote_args, debug)?;
            let options = PushOptions { chart: utf8(&chart)?, remote: args.remote, connection };
            output::pushed(&session.push(&options).await?);
        }
        Command::Pull(args) => {
            // As in Helm, a relative --untardir is taken inside --destination.
            let dest = if args.untar { args.destination.join(&args.untardir) } else { args.destination.clone() };
            let dest = absolute(&dest)?;
            fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
            let mut session = Session::start(Grants { dirs: vec![(dest.clone(), FsPerms::ReadWrite)] }).await?;
            let reference = session.parse_reference(&args.chart_ref).await?;
            let connection = connect(&mut session, &reference, &args.remote_args, debug)?;
            let options = PullOptions {
                reference: args.chart_ref,
                version: args.version,
                destination: utf8(&dest)?,
                untar: args.untar,
                connection,
            };
            output::pulled(&session.pull(&options).await?);
        }
    }
    Ok(())
}

/// Grants the session the reference's registry and picks the credential for it: the
/// command's `--username`/`--password`, else what the stores hold.
fn connect(session: &mut Session, reference: &Reference, args: &RemoteArgs, debug: bool) -> Result<RemoteOptions> {
    let connection = &args.connection;
    session.allow_registry(&reference.endpoint, connection.plain_http, &connection.tls())?;
    let credential = match (&args.username, &args.password) {
        (None, None) => credentials::find(&reference.registry)?,
        (username, password) => Some(credentials::basic(
            username.clone().unwrap_or_default(),
            password.clone().unwrap_or_default(),
        )),
    };
    Ok(RemoteOptions { plain_http: connection.plain_http, credential, debug })
}

/// `helm registry login`'s behaviour: ask for what is missing, check it, then store it.
async fn login(args: LoginArgs, debug: bool) -> Result<()> {
    let registry = registry_host(&args.host);
    let interactive = std::io::stdin().is_terminal();
    let username = match args.username {
        Some(u) => u,
        None if interactive && !args.password_stdin => prompt("Username: ")?,
        None => bail!("a username is required: use --username"),
    };
    let password = match args.password {
        Some(p) => p,
        None if args.password_stdin => {
            let mut p = String::new();
            std::io::stdin().read_to_string(&mut p).context("reading the password from stdin")?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        None if interactive => rpassword::prompt_password("Password: ").context("reading the password")?,
        None => bail!("a password is required: use --password or --password-stdin"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let mut session = Session::start(Grants::default()).await?;
    let endpoint = session.registry_endpoint(&registry).await?;
    let connection = &args.connection;
    session.allow_registry(&endpoint, connection.plain_http, &connection.tls())?;
    let credential = credentials::basic(username.clone(), password.clone());
    let options = RemoteOptions { plain_http: connection.plain_http, credential: Some(credential), debug };
    session.login(&registry, &options).await?;
    credentials::store(&registry, &username, &password)?;
    println!("Login Succeeded");
    Ok(())
}

/// A registry as the user may write it for login and logout: `oci://` and a trailing `/` are dropped.
fn registry_host(host: &str) -> String {
    host.strip_prefix("oci://").unwrap_or(host).trim_end_matches('/').to_string()
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading from the terminal")?;
    Ok(line.trim().to_string())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn utf8(path: &Path) -> Result<String> {
    match path.to_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("{} is not a UTF-8 path", path.display()),
    }
}
