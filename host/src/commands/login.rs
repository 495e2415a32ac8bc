//! `helm oci login HOST`: `helm registry login`'s behaviour. Ask for what is missing,
//! check it against the registry, then store it.

use crate::cli::ConnectionArgs;
use crate::component::exports::helm_oci::plugin::types::RemoteOptions;
use crate::output::stream::outln;
use crate::sandbox::{Grants, Session};
use crate::{credentials, learnt, output};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{IsTerminal, Read};

#[derive(Args)]
pub struct LoginArgs {
    /// The registry host, e.g. ghcr.io or localhost:5000
    host: String,
    /// Registry username
    #[arg(short, long)]
    username: Option<String>,
    /// Registry password or identity token
    #[arg(short, long)]
    password: Option<String>,
    /// Read password or identity token from stdin (over --password, as in Helm)
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub async fn run(args: LoginArgs, debug: bool) -> Result<()> {
    let registry = super::registry_host(&args.host);
    let interactive = std::io::stdin().is_terminal();
    // As Helm: stdin wins over --password; without either, a terminal is asked for what is
    // missing, and an empty username means the password is a token.
    let asks = interactive && !args.password_stdin && args.password.is_none();
    let username = match args.username {
        Some(u) => u,
        None if asks => prompt("Username: ")?,
        None => String::new(),
    };
    let password = match args.password {
        _ if args.password_stdin => {
            let mut p = String::new();
            std::io::stdin().read_to_string(&mut p).context("reading the password from stdin")?;
            // One line ending is the terminal's, anything before it the password's.
            let p = p.strip_suffix('\n').unwrap_or(&p);
            p.strip_suffix('\r').unwrap_or(p).to_string()
        }
        Some(p) => {
            output::warnings(&["using --password via the CLI is insecure. Use --password-stdin".to_string()]);
            p
        }
        None if interactive => {
            let label = if username.is_empty() { "Token: " } else { "Password: " };
            rpassword::prompt_password(label).context("reading the password")?
        }
        None => bail!("a password is required: use --password or --password-stdin"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let mut session = Session::start(Grants::default()).await?;
    let endpoint = session.registry_endpoint(&registry).await?;
    let connection = &args.connection;
    // Login makes one request at a time.
    session.allow_registry(&endpoint, &connection.reach(debug, 1))?;
    let credential = credentials::basic(username.clone(), password.clone());
    let options = RemoteOptions {
        plain_http: connection.plain_http,
        credential: Some(credential),
        challenge: learnt::challenge(&endpoint, connection.plain_http),
        debug,
        timeout_ms: connection.timeout_ms(),
    };
    session.login(&registry, &options).await?;
    credentials::store(&registry, &username, &password, connection.timeout_ms())?;
    outln!("Login Succeeded");
    Ok(())
}

fn prompt(label: &str) -> Result<String> {
    crate::output::stream::err(format_args!("{label}"));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading from the terminal")?;
    Ok(line.trim().to_string())
}
