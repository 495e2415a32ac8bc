//! The command line, with Helm's flag names and read as Helm reads one (boolean flags as
//! Go takes them, usage errors as one `Error:` line): the commands, and the flags that every
//! registry command shares.

use crate::commands::{cache, copy, dependency, downloader, helm, index, login, logout, pull, push, search, tag, tags};
use crate::component::exports::helm_oci::plugin::types::{ChartLimits, Credential};
use crate::credentials;
use crate::output::stream::errln;
use crate::sandbox::Reach;
use crate::transport::{Advice, TlsFlags};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "helm oci",
    bin_name = "helm oci",
    about = "Keep Helm charts in OCI registries",
    disable_version_flag = true
)]
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
    /// List a chart's versions (its repository's tags), newest first
    Tags(tags::TagsArgs),
    /// Search a registry, or a namespace of it, for charts
    Search(search::SearchArgs),
    /// Publish a namespace's chart repository index in the registry, for the ocirepo:// downloader
    Index(index::IndexArgs),
    /// Add tags to a chart (any manifest) already in a registry, uploading nothing again
    Tag(tag::TagArgs),
    /// Copy a chart (any manifest, or an image index whole) and its blobs to another repository or registry, verified
    #[command(alias = "cp")]
    Copy(copy::CopyArgs),
    /// Manage a chart's dependencies kept in OCI registries: update, build
    #[command(subcommand, alias = "dep", alias = "dependencies")]
    Dependency(dependency::DependencyCommand),
    /// Log in to a registry, checking the credentials before storing them
    Login(login::LoginArgs),
    /// Remove a registry's stored credentials
    Logout(logout::LogoutArgs),
    /// Save a chart directory or packaged .tgz into the local chart cache under a reference
    Save(cache::SaveArgs),
    /// List the charts in the local chart cache
    #[command(alias = "ls")]
    List(cache::ListArgs),
    /// Write a cached chart out as a chart directory
    Export(cache::ExportArgs),
    /// Remove a chart from the local chart cache, and the content nothing else uses
    #[command(alias = "rm")]
    Remove(cache::RemoveArgs),
    /// Delete the content of the local chart cache that no chart uses
    Prune,
    /// The Helm 3.0-3.6 spellings (helm chart save|list|export|push|pull|remove)
    #[command(subcommand)]
    Chart(ChartCommand),
    /// Print the version of helm-oci and of its component
    Version,
    /// Install a chart from a registry with Helm: helm oci install [RELEASE] REF [flags]
    Install(helm::HelmArgs),
    /// Upgrade a release to a chart from a registry with Helm: helm oci upgrade RELEASE REF [flags]
    Upgrade(helm::HelmArgs),
    /// Render a chart from a registry with Helm: helm oci template [RELEASE] REF [flags]
    Template(helm::HelmArgs),
    /// Helm's getter for ocirepo:// repositories (plugin.yaml's downloaders): CERT KEY CA URL
    #[command(hide = true)]
    Downloader(downloader::DownloaderArgs),
}

/// `helm oci chart …`: what Helm 3.0-3.6 called the cache commands under
/// `HELM_EXPERIMENTAL_OCI`.
#[derive(Subcommand)]
pub enum ChartCommand {
    /// Same as `helm oci save`
    Save(cache::SaveArgs),
    /// Same as `helm oci list`
    #[command(alias = "ls")]
    List(cache::ListArgs),
    /// Same as `helm oci export`
    Export(cache::ExportArgs),
    /// Same as `helm oci push`
    Push(push::PushArgs),
    /// Same as `helm oci pull`
    Pull(pull::PullArgs),
    /// Same as `helm oci remove`
    #[command(alias = "rm")]
    Remove(cache::RemoveArgs),
}

/// Helm's global flags that Helm hands a plugin as they were written when they come before
/// the plugin's name (`helm --burst-limit 100 oci install …`): those its plugin loader does
/// not read itself (Helm 4's and 3's, and Helm 2's `--kubeconfig` and
/// `--tiller-connection-timeout`), each taking a value, and klog's (`KLOG_FLAGS`).
const HELM_GLOBALS: &[&str] = &[
    "--burst-limit",
    "--qps",
    "--color",
    "--colour",
    "--content-cache",
    "--kubeconfig",
    "--tiller-connection-timeout",
];

/// klog's flags, which Helm 3 and 4 keep as hidden global flags (spelt with `-` for `_`),
/// each with whether it takes a value: klog v2.130's, and the two v2.140 added (Helm 3.21.1,
/// 4.2). Its level, `--v`, is `-v` too.
pub const KLOG_FLAGS: &[(&str, bool)] = &[
    ("--v", true),
    ("--vmodule", true),
    ("--log-dir", true),
    ("--log-file", true),
    ("--log-file-max-size", true),
    ("--log-backtrace-at", true),
    ("--stderrthreshold", true),
    ("--alsologtostderrthreshold", true),
    ("--logtostderr", false),
    ("--alsologtostderr", false),
    ("--add-dir-header", false),
    ("--skip-headers", false),
    ("--skip-log-headers", false),
    ("--one-output", false),
    ("--legacy-stderr-threshold-behavior", false),
];

/// The command line arranged for clap:
/// * Helm's global flags that came before the command (see `HELM_GLOBALS`) are moved after
///   it for install, upgrade and template, whose Helm takes them there; the other commands,
///   which talk to registries alone, have no use for them;
/// * install, upgrade and template get everything after their name raw (behind a `--` of
///   our own), to split as Helm reads it: a `--debug=false` or a `--` of the user's
///   included.
pub fn arrange(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter().peekable();
    let (mut out, mut globals) = (args.next().into_iter().collect::<Vec<_>>(), Vec::new());
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or_default();
        if let Some(takes_value) = helm_global(text, args.peek()) {
            globals.push(arg);
            if takes_value {
                globals.extend(args.next());
            }
            continue;
        }
        let command = !text.starts_with('-');
        let runs_helm = matches!(text, "install" | "upgrade" | "template");
        out.push(arg);
        if command {
            if runs_helm {
                out.push("--".into());
                out.append(&mut globals);
            }
            out.extend(args);
            break;
        }
    }
    out
}

/// Whether `arg` is one of Helm's global flags, and if so whether `next` is its value (not
/// when it is written `--flag=value`, or `-v6`).
fn helm_global(arg: &str, next: Option<&OsString>) -> Option<bool> {
    let (name, inline) = arg.split_once('=').map_or((arg, false), |(name, _)| (name, true));
    let level = |text: &str| text.parse::<i32>().is_ok();
    match name {
        _ if HELM_GLOBALS.contains(&name) => Some(!inline),
        // klog's level is a number: `helm oci -v version` is a mistake to refuse, not a
        // level of `version`.
        "-v" | "--v" if inline => Some(false),
        "-v" | "--v" => next.and_then(|n| n.to_str()).is_some_and(level).then_some(true),
        _ if arg.strip_prefix("-v").is_some_and(level) => Some(false),
        _ => KLOG_FLAGS.iter().find(|(flag, _)| *flag == name).map(|&(_, takes_value)| takes_value && !inline),
    }
}

/// Parses `args` with `P`'s definition, its flags read as Go reads them (see `go_flags`).
pub fn parse<P: Parser>(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> Result<P, clap::Error> {
    let mut matches = go_flags(P::command()).try_get_matches_from(args)?;
    P::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut P::command()))
}

/// Every flag of `command` and its subcommands, as Helm's flag parser (Go's pflag) takes
/// one, so that scripts written for Helm work:
/// * a boolean flag is `--flag`, or `--flag=VALUE` with a value Go reads as a boolean
///   (`--plain-http=true`, `--untar=false`); never the value as the next word: `--flag
///   true` is the flag, then a positional `true`;
/// * a flag with a value takes the next word whatever it is, so a password that begins
///   with `-` is a password (and never echoed back as an unknown flag);
/// * given twice, the last one holds.
fn go_flags(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| match arg.get_action() {
            ArgAction::SetTrue => go_boolean(arg),
            ArgAction::Set if !arg.is_positional() && arg.get_num_args().is_none_or(|n| n.max_values() == 1) => {
                let id = arg.get_id().clone();
                arg.allow_hyphen_values(true).overrides_with(id)
            }
            _ => arg,
        })
        .mut_subcommands(go_flags)
}

fn go_boolean(arg: Arg) -> Arg {
    let id = arg.get_id().clone();
    arg.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .default_value("false")
        .hide_default_value(true)
        .value_name("BOOL")
        .value_parser(go_bool)
        .overrides_with(id)
}

/// A boolean as Go's `strconv.ParseBool` reads one.
pub fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true or false)")),
    }
}

/// Ends a run whose command line clap did not accept, as Helm's cobra (with `SilenceUsage`)
/// ends one: help, asked for or for a command given without its subcommand, on stdout and
/// exit 0; anything else one `Error:` line on stderr and exit 1, without the usage.
pub fn refused(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        // clap prints this help on stderr, as an error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            crate::output::stream::out(format_args!("{}", e.render()));
            ExitCode::SUCCESS
        }
        _ => {
            errln!("Error: {}", one_line(e));
            ExitCode::FAILURE
        }
    }
}

/// clap's message (up to its tip or usage) on one line, without its `error: `: the lines
/// after the first name what it is about (the missing arguments, the possible values).
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let line = lines.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
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
    /// Time to wait for the whole command, as Go writes durations (30s, 5m, 1h; 0 waits without limit)
    #[arg(long, value_name = "DURATION", default_value = "5m0s", value_parser = parse_duration)]
    timeout: Duration,
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
        let timeout_ms = self.timeout_ms();
        Reach { plain_http: self.plain_http, tls, own_tls: None, debug, ahead, advice: Advice::Flags, timeout_ms }
    }

    /// The `--timeout`, in milliseconds, as the component takes it: none for a zero
    /// timeout, which Go's clients read as no limit.
    pub fn timeout_ms(&self) -> Option<u64> {
        (!self.timeout.is_zero()).then(|| u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX))
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

impl RemoteArgs {
    /// The credential `--username` and `--password` give, if they give one (both non-empty).
    pub fn login(&self) -> Option<Credential> {
        credentials::given(self.username.as_deref(), self.password.as_deref())
    }
}

/// How a listing is printed, as Helm's `--output` takes it.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Flags of the commands that read many things from a registry at once and list them.
#[derive(Args)]
pub struct BulkArgs {
    /// Prints the output in the specified format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub reading: ReadingArgs,
}

/// How many things are read from a registry at once, and how many a page of a list holds.
#[derive(Args)]
pub struct ReadingArgs {
    /// Requests in flight at once
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// Entries per page asked of the registry's tag and catalog lists (default: the registry's own)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: Option<u32>,
}

/// Helm's caps on an unpacked chart, which these flags raise or lower.
#[derive(Args)]
pub struct LimitArgs {
    /// Largest unpacked chart accepted, all files together (e.g. 100Mi, 1Gi, or bytes)
    #[arg(long, value_name = "SIZE", default_value = "100Mi", value_parser = parse_size)]
    max_chart_size: u64,
    /// Largest unpacked file accepted in a chart (e.g. 5Mi, or bytes)
    #[arg(long, value_name = "SIZE", default_value = "5Mi", value_parser = parse_size)]
    max_file_size: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> ChartLimits {
        ChartLimits { chart_size: self.max_chart_size, file_size: self.max_file_size }
    }
}

/// A duration as Go writes one: numbers with units (h, m, s, ms, us, ns), e.g. `1m30s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 30s, 5m or 1h30m");
    let mut total = Duration::ZERO;
    // Go takes a leading `+`, and a bare `0` without a unit.
    let mut rest = text.trim().strip_prefix('+').unwrap_or(text.trim());
    if rest == "0" {
        return Ok(total);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            // Go takes the micro sign (U+00B5) and the Greek mu (U+03BC) alike.
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(number * scale).map_err(|_| bad())?;
        rest = &rest[unit..];
    }
    Ok(total)
}

/// A size in bytes, with an optional unit: Ki, Mi, Gi (or KiB, MiB, GiB), K, M, G (or KB,
/// MB, GB), or B.
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size like 100Mi, 1Gi or 5242880");
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().map_err(|_| bad())?;
    let scale: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_go_takes_them() {
        let debug = |line: &str| parse::<Cli>(line.split_whitespace()).map(|cli| cli.debug);
        assert!(!debug("helm-oci version").unwrap());
        assert!(debug("helm-oci --debug version").unwrap());
        assert!(debug("helm-oci version --debug=true").unwrap());
        assert!(debug("helm-oci --debug=0 version --debug=T").unwrap());
        assert!(!debug("helm-oci --debug version --debug=false").unwrap());
        assert!(debug("helm-oci --debug=maybe version").is_err());
        // The value is never the next word: here `true` is the (unknown) command.
        assert!(debug("helm-oci --debug true version").is_err());
    }

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(parse_duration("5m0s").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("+2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for micro in ["7us", "7\u{b5}s", "7\u{3bc}s"] {
            assert_eq!(parse_duration(micro).unwrap(), Duration::from_micros(7), "{micro}");
        }
        for bad in ["", "+", "5", "00", "m", "5x", "-1s", "1e9999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn helms_global_flags_before_the_command_go_to_helm_after_it_or_nowhere() {
        let moved = |args: &[&str]| -> Vec<String> {
            let args = args.iter().map(OsString::from);
            arrange(args).into_iter().map(|a| a.into_string().unwrap()).collect()
        };
        assert_eq!(
            moved(&[
                "oci",
                "--burst-limit",
                "100",
                "--debug",
                "--color=never",
                "install",
                "rel",
                "REF",
                "--set",
                "a=b"
            ]),
            ["oci", "--debug", "install", "--", "--burst-limit", "100", "--color=never", "rel", "REF", "--set", "a=b"]
        );
        assert_eq!(moved(&["oci", "--qps", "50", "tags", "REF", "--qps", "1"]), ["oci", "tags", "REF", "--qps", "1"]);
        assert_eq!(moved(&["oci", "pull", "REF"]), ["oci", "pull", "REF"]);
        // klog's, switches and values alike.
        assert_eq!(
            moved(&["oci", "-v", "6", "--logtostderr", "-v7", "--log-file=f", "template", "REF"]),
            ["oci", "template", "--", "-v", "6", "--logtostderr", "-v7", "--log-file=f", "REF"]
        );
        assert_eq!(moved(&["oci", "--alsologtostderr", "-v", "2", "pull", "REF"]), ["oci", "pull", "REF"]);
        assert_eq!(
            moved(&["oci", "--alsologtostderrthreshold", "INFO", "--legacy-stderr-threshold-behavior", "tags", "REF"]),
            ["oci", "tags", "REF"]
        );
        // A level that is no number is no level: the command line is refused as written.
        assert_eq!(moved(&["oci", "-v", "version"]), ["oci", "-v", "version"]);
    }

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("100Mi").unwrap(), 100 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("5242880").unwrap(), 5 << 20);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        for bad in ["", "Mi", "1.5Gi", "5 bananas", "99999999999999999999Gi"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
