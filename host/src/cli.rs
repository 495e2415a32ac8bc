//! The command line, with Helm's flag names: the commands, and the flags that every
//! registry command shares.

use crate::commands::{login, logout, pull, push};
use crate::sandbox::Reach;
use crate::transport::TlsFlags;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "helm oci", about = "Keep Helm charts in OCI registries", disable_version_flag = true)]
pub struct Cli {
    /// Enable verbose output (Helm passes it as HELM_DEBUG)
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Push a chart directory (packaged on the way) or a packaged .tgz to a registry
    Push(push::PushArgs),
    /// Download a chart from a registry
    Pull(pull::PullArgs),
    /// Log in to a registry, checking the credentials before storing them
    Login(login::LoginArgs),
    /// Remove a registry's stored credentials
    Logout(logout::LogoutArgs),
    /// Print the version of helm-oci and of its component
    Version,
}

/// How to reach a registry: the connection flags every registry command shares.
#[derive(Args)]
pub struct ConnectionArgs {
    /// Use insecure HTTP connections for the chart upload or download
    #[arg(long)]
    pub plain_http: bool,
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
    /// How the command reaches its registry, with `ahead` connections opened at once.
    pub fn reach(&self, debug: bool, ahead: usize) -> Reach {
        let tls = TlsFlags {
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            insecure: self.insecure_skip_tls_verify,
        };
        Reach { plain_http: self.plain_http, tls, debug, ahead }
    }
}

/// Connection flags plus credentials that override the stored ones for this run.
#[derive(Args)]
pub struct RemoteArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// Registry username (overrides stored credentials)
    #[arg(long)]
    pub username: Option<String>,
    /// Registry password or identity token (overrides stored credentials)
    #[arg(long)]
    pub password: Option<String>,
}
