//! `helm oci install|upgrade|template [RELEASE] REF [flags]`: the chart is pulled through
//! the cache into a temp directory of the run's own, then handed to `$HELM_BIN` as a local
//! archive with Helm's flags; Helm's output and exit code are the command's.

mod detect;
mod process;
mod split;
mod syntax;

pub use syntax::Verb;

use super::pull::{self, ChartSource, Written};
use super::temp::TempDir;
use crate::cli;
use crate::output::stream::errln;
use anyhow::{Result, anyhow, bail};
use clap::{Args, CommandFactory, Parser};
use std::fmt;

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct HelmArgs {
    /// [RELEASE] REF, then pull's flags (--version, --devel, --offline, the registry's) and Helm's, passed on unchanged
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<String>,
}

/// Helm ran and failed (it has said why): the command exits with Helm's exit code.
#[derive(Debug)]
pub struct HelmExit(pub u8);

impl fmt::Display for HelmExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Helm exited with code {}", self.0)
    }
}

impl std::error::Error for HelmExit {}

/// helm-oci's own flags, parsed apart from Helm's.
#[derive(Parser)]
#[command(no_binary_name = true, disable_version_flag = true)]
struct OwnFlags {
    #[command(flatten)]
    source: ChartSource,
}

/// Runs Helm's `verb` on the chart `args` name. `debug_flag` is `--debug` given before the
/// command (which clap takes as helm-oci's): it goes to Helm too.
pub async fn run(verb: Verb, args: HelmArgs, debug_flag: bool, debug: bool) -> Result<()> {
    // From here on SIGINT, SIGTERM and SIGHUP are this run's to handle (unless it was started
    // ignoring them): up to Helm's start they stop it (the temp directory goes as `dir` is
    // dropped), then they go to Helm.
    let mut signals = process::Signals::listen()?;
    let mut split = split::split(verb, &args.args);
    if debug_flag && split.debug.is_none() {
        split.helm.insert(0, "--debug".into());
    }
    if split.help {
        return print_help(verb);
    }
    let own: OwnFlags = cli::parse(&split.own).map_err(|e| anyhow!(cli::one_line(&e)))?;
    // A `--debug=false` after the command turns off a HELM_DEBUG=true, as in Helm.
    let debug = split.debug.unwrap_or(debug || debug_flag);
    let target = syntax::target(verb, split.positionals)?;
    let bin = detect::helm_bin();
    let detection = detect::start(&bin)?;
    let dir = TempDir::create()?;
    // Helm's --verify checks the provenance file beside the archive it is given.
    let written = Written::AsSigned { provenance: split.verify };
    let fetched = pull::fetch(&target.reference, &own.source, dir.path(), &written, debug);
    let pulled = signals.guard(fetched).await?;
    for warning in &pulled.warnings {
        errln!("WARNING: {warning}");
    }
    if split.verify && pulled.provenance.is_none() {
        bail!("{} has no provenance file, which --verify needs", pulled.reference);
    }
    let chart = dir.file(&pulled.path)?;
    let dialect = signals.guard(detection.finish(&bin)).await?;
    let tiller_host = crate::paths::run_by_helm_2().then(|| std::env::var("TILLER_HOST").ok()).flatten();
    let flags = syntax::with_tiller_host(dialect, split.helm, tiller_host);
    let helm_args = syntax::helm_args(verb, dialect, target.release.as_deref(), &chart, &flags);
    if debug {
        errln!("[debug] running {} {} on {} ({dialect:?} syntax)", bin.display(), verb.name(), chart.display());
    }
    let code = process::run(&bin, &helm_args, signals).await?;
    drop(dir);
    match code {
        0 => Ok(()),
        code => Err(HelmExit(code).into()),
    }
}

/// The help of helm-oci's own flags, with where the rest go.
fn print_help(verb: Verb) -> Result<()> {
    let name = format!("helm oci {}", verb.name());
    let mut command = OwnFlags::command()
        .about(format!("Run `helm {}` on a chart from a registry", verb.name()))
        .override_usage(format!("{name} {} [flags]", verb.usage()))
        .mut_arg("timeout", |a| a.hide(true))
        .after_help(format!(
            "The chart is fetched through the chart cache, verified, and handed to $HELM_BIN (else helm) as a \
             local archive. Every other flag, --timeout and --debug included, is Helm's and is passed on \
             unchanged, in order: see `helm {} --help`.",
            verb.name()
        ));
    crate::output::stream::out(format_args!("{}", command.render_help()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};

    fn helm_args(line: &str) -> (bool, Vec<String>) {
        let cli: Cli = cli::parse(cli::arrange(line.split_whitespace().map(Into::into))).unwrap();
        match cli.command {
            Command::Install(a) | Command::Upgrade(a) | Command::Template(a) => (cli.debug, a.args),
            _ => panic!("not a Helm command"),
        }
    }

    #[test]
    fn every_argument_after_the_command_reaches_it_raw() {
        let (_, args) = helm_args("helm-oci install rel oci://r/c --version 1 -n ns --set a=b --help");
        assert_eq!(args, ["rel", "oci://r/c", "--version", "1", "-n", "ns", "--set", "a=b", "--help"]);
        let (_, args) = helm_args("helm-oci template -f v.yaml --wait oci://r/c");
        assert_eq!(args, ["-f", "v.yaml", "--wait", "oci://r/c"]);
        let (_, args) = helm_args("helm-oci upgrade --help");
        assert_eq!(args, ["--help"]);
    }

    #[test]
    fn debug_reaches_it_wherever_it_stands() {
        // Before the command clap takes it as helm-oci's: `run` gets it as `debug_flag`.
        let (debug, args) = helm_args("helm-oci --debug install rel oci://r/c");
        assert!(debug);
        assert_eq!(args, ["rel", "oci://r/c"]);
        for line in ["helm-oci install --debug=false rel oci://r/c", "helm-oci install rel oci://r/c --debug=false"] {
            let (debug, args) = helm_args(line);
            assert!(!debug);
            assert!(args.contains(&"--debug=false".to_string()), "{line}");
        }
    }

    #[test]
    fn a_double_dash_right_after_the_command_is_the_users() {
        let (_, args) = helm_args("helm-oci install -- rel oci://r/c");
        assert_eq!(args, ["--", "rel", "oci://r/c"]);
    }

    #[test]
    fn own_flag_errors_are_one_line() {
        let e = cli::parse::<OwnFlags>(["--cert-file", "c.pem"]).err().unwrap();
        assert_eq!(cli::one_line(&e), "the following required arguments were not provided: --key-file <FILE>");
        let e = cli::parse::<OwnFlags>(["--version"]).err().unwrap();
        assert_eq!(cli::one_line(&e), "a value is required for '--version <VERSION>' but none was supplied");
    }
}
