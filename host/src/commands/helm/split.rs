//! Splitting an `install|upgrade|template` command line three ways: helm-oci's own flags
//! (read from `ChartSource`'s clap definition), Helm's flags in their order, and the
//! positional arguments.

use super::Verb;
use crate::cli;
use crate::commands::pull::ChartSource;
use clap::Args;
use std::collections::HashMap;

/// Flags that `ChartSource` has but Helm's commands have too, with a meaning Helm keeps:
/// they are left to Helm (the chart is fetched with their defaults).
const LEFT_TO_HELM: &[&str] = &["timeout"];

/// Helm's long flags that take their value as the next argument: install's, upgrade's and
/// template's, and the global ones, in Helm 2, 3 and 4 (klog's are `cli::KLOG_FLAGS`). Any
/// other flag is taken as a switch (its value, if any, must then be written
/// `--flag=value`); flags whose value is optional (`--dry-run`, Helm 4's `--wait`) are
/// switches to Helm too.
const HELM_VALUE_FLAGS: &[&str] = &[
    // Helm 3 and 4
    "--namespace",
    "--kube-context",
    "--kubeconfig",
    "--kube-apiserver",
    "--kube-as-user",
    "--kube-as-group",
    "--kube-ca-file",
    "--kube-token",
    "--kube-tls-server-name",
    "--burst-limit",
    "--qps",
    "--registry-config",
    "--repository-cache",
    "--repository-config",
    "--content-cache",
    "--color",
    "--colour",
    "--values",
    "--set",
    "--set-string",
    "--set-file",
    "--set-json",
    "--set-literal",
    "--timeout",
    "--description",
    "--name-template",
    "--output",
    "--post-renderer",
    "--post-renderer-args",
    "--labels",
    "--history-max",
    "--repo",
    "--keyring",
    "--version",
    "--username",
    "--password",
    "--ca-file",
    "--cert-file",
    "--key-file",
    "--api-versions",
    "--kube-version",
    "--output-dir",
    "--show-only",
    // Helm 2
    "--name",
    "--home",
    "--host",
    "--tiller-namespace",
    "--tiller-connection-timeout",
    "--tls-ca-cert",
    "--tls-cert",
    "--tls-key",
    "--tls-hostname",
    "--max-history",
    "--execute",
];

/// Helm's short flags that take a value: `-n` (Helm 2's `--name`, later `--namespace`),
/// `-f`, `-o`, `-l`, `-s`, `-a`, klog's `-v`, and Helm 2's `-x`.
const HELM_VALUE_SHORTS: &[char] = &['n', 'f', 'o', 'l', 's', 'a', 'v', 'x'];

/// A command line, split.
#[derive(Debug, Default, PartialEq)]
pub struct Split {
    /// helm-oci's own flags with their values, for its own parser.
    pub own: Vec<String>,
    /// Helm's flags with their values, in the order given.
    pub helm: Vec<String>,
    /// The positional arguments: `[RELEASE] REF`.
    pub positionals: Vec<String>,
    /// The last `--debug` given, if any (they stay among Helm's flags too).
    pub debug: Option<bool>,
    /// `--verify` was given (it stays among Helm's flags): Helm then checks the chart
    /// against its provenance file, which it looks for beside the archive.
    pub verify: bool,
    /// `-h` or `--help` was given.
    pub help: bool,
}

/// Splits `args` as Helm's flag parser reads a command line: a flag that takes a value
/// takes the next argument whatever it is, `--flag=value` is one argument, and everything
/// after `--` is positional.
pub fn split(verb: Verb, args: &[String]) -> Split {
    let own = own_flags();
    let mut out = Split::default();
    let mut tokens = args.iter();
    while let Some(token) = tokens.next() {
        if token == "--" {
            out.positionals.extend(tokens.by_ref().cloned());
            break;
        }
        if !token.starts_with('-') || token == "-" {
            out.positionals.push(token.clone());
            continue;
        }
        let (name, inline) = match token.split_once('=') {
            Some((name, _)) => (name, true),
            None => (token.as_str(), false),
        };
        if let Some(&takes_value) = own.get(name) {
            out.own.push(token.clone());
            if takes_value && !inline {
                out.own.extend(tokens.next().cloned());
            }
            continue;
        }
        if own_short_with_value(&own, token) {
            out.own.push(token.clone());
            continue;
        }
        match name {
            "-h" | "--help" => {
                // As Helm reads it: `--help=false` asks for none, and the last one given
                // counts. (`--help=yes`, which Helm refuses, asks for help: nothing runs.)
                out.help = token.split_once('=').is_none_or(|(_, v)| cli::go_bool(v) != Ok(false));
                continue;
            }
            // The last one given counts, for Helm's tracing and ours.
            "--debug" => out.debug = Some(!inline || cli::go_bool(&token["--debug=".len()..]) == Ok(true)),
            // The last one given counts, as for any flag of Helm's.
            "--verify" => out.verify = !inline || cli::go_bool(&token["--verify=".len()..]) == Ok(true),
            _ => {}
        }
        out.helm.push(token.clone());
        if !inline && helm_takes_value(verb, name) {
            out.helm.extend(tokens.next().cloned());
        }
    }
    out
}

/// helm-oci's own flags as they are written (`--version`, aliases, `-x`), each with
/// whether it takes a value.
fn own_flags() -> HashMap<String, bool> {
    let mut command = ChartSource::augment_args(clap::Command::new("helm-oci").disable_help_flag(true));
    command.build();
    let mut flags = HashMap::new();
    for arg in command.get_arguments().filter(|a| !LEFT_TO_HELM.contains(&a.get_id().as_str())) {
        let takes_value = arg.get_action().takes_values();
        for long in arg.get_long().into_iter().chain(arg.get_all_aliases().unwrap_or_default()) {
            flags.insert(format!("--{long}"), takes_value);
        }
        for short in arg.get_short().into_iter().chain(arg.get_all_short_aliases().unwrap_or_default()) {
            flags.insert(format!("-{short}"), takes_value);
        }
    }
    flags
}

/// Whether `token` is one of helm-oci's short flags with its value attached (`-xVALUE`).
fn own_short_with_value(own: &HashMap<String, bool>, token: &str) -> bool {
    let mut chars = token.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('-'), Some(short), Some(_)) if short != '-' => own.get(&format!("-{short}")) == Some(&true),
        _ => false,
    }
}

fn helm_takes_value(verb: Verb, name: &str) -> bool {
    match name.strip_prefix('-').and_then(|s| s.strip_prefix('-')) {
        // Helm 4's upgrade takes `--server-side true|false|auto`; install's is a boolean.
        Some(_) if name == "--server-side" => verb == Verb::Upgrade,
        Some(_) => HELM_VALUE_FLAGS.contains(&name) || cli::KLOG_FLAGS.contains(&(name, true)),
        // A cluster of shorts, read as pflag reads it (`-gn` is `-g -n`): the first that
        // takes a value takes the rest of the cluster as it, or the next argument when it
        // ends the cluster.
        None => {
            let shorts: Vec<char> = name.chars().skip(1).collect();
            let first = shorts.iter().position(|c| HELM_VALUE_SHORTS.contains(c));
            first.is_some() && first == shorts.len().checked_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn helm_4s_upgrade_takes_a_value_for_server_side_and_install_does_not() {
        let upgrade = split(Verb::Upgrade, &args("rel oci://r/c --server-side false"));
        assert_eq!((upgrade.helm, upgrade.positionals), (args("--server-side false"), args("rel oci://r/c")));
        let install = split(Verb::Install, &args("rel oci://r/c --server-side"));
        assert_eq!((install.helm, install.positionals), (args("--server-side"), args("rel oci://r/c")));
    }

    #[test]
    fn own_flags_are_taken_out_and_helms_stay_in_order() {
        let s = split(
            Verb::Install,
            &args(
                "rel oci://r/c --version 0.1.0 -n ns --plain-http --set a=b -f values.yaml --wait --devel --username=u",
            ),
        );
        assert_eq!(s.positionals, args("rel oci://r/c"));
        assert_eq!(s.own, args("--version 0.1.0 --plain-http --devel --username=u"));
        assert_eq!(s.helm, args("-n ns --set a=b -f values.yaml --wait"));
        assert!(s.debug.is_none() && !s.help);
    }

    #[test]
    fn every_chart_source_flag_is_own_but_timeout() {
        let own = own_flags();
        for (flag, takes_value) in [
            ("--version", true),
            ("--devel", false),
            ("--offline", false),
            ("--plain-http", false),
            ("--ca-file", true),
            ("--cert-file", true),
            ("--key-file", true),
            ("--insecure-skip-tls-verify", false),
            ("--insecure", false),
            ("--username", true),
            ("--password", true),
            ("--max-chart-size", true),
            ("--max-file-size", true),
        ] {
            assert_eq!(own.get(flag), Some(&takes_value), "{flag}");
        }
        assert_eq!(own.get("--timeout"), None);
        let s = split(Verb::Install, &args("oci://r/c --timeout 10m --insecure"));
        assert_eq!(s.helm, args("--timeout 10m"));
        assert_eq!(s.own, args("--insecure"));
    }

    #[test]
    fn a_value_flag_takes_the_next_argument_whatever_it_is() {
        let s = split(Verb::Install, &args("-n rel oci://r/c --version --devel --set --x=1"));
        assert_eq!(s.helm, args("-n rel --set --x=1"));
        assert_eq!(s.own, args("--version --devel"));
        assert_eq!(s.positionals, args("oci://r/c"));
    }

    #[test]
    fn values_written_with_equals_or_attached_are_one_argument() {
        let s = split(Verb::Install, &args("-n=ns -fvalues.yaml --namespace=ns rel --ca-file=/ca.pem oci://r/c"));
        assert_eq!(s.helm, args("-n=ns -fvalues.yaml --namespace=ns"));
        assert_eq!(s.own, args("--ca-file=/ca.pem"));
        assert_eq!(s.positionals, args("rel oci://r/c"));
    }

    #[test]
    fn helm_switches_and_optional_values_take_nothing() {
        let s = split(Verb::Install, &args("--dry-run rel --wait=watcher --atomic oci://r/c -g"));
        assert_eq!(s.helm, args("--dry-run --wait=watcher --atomic -g"));
        assert_eq!(s.positionals, args("rel oci://r/c"));
    }

    #[test]
    fn a_cluster_of_shorts_takes_a_value_as_pflag_reads_it() {
        // `-gn ns` is `-g -n ns`; `-in ns` upgrade's `-i -n ns`.
        let s = split(Verb::Install, &args("-gn prod oci://r/c"));
        assert_eq!((s.helm, s.positionals), (args("-gn prod"), args("oci://r/c")));
        let s = split(Verb::Upgrade, &args("-in prod rel oci://r/c"));
        assert_eq!((s.helm, s.positionals), (args("-in prod"), args("rel oci://r/c")));
        // The first short that takes a value takes the rest of the cluster: `-ng` is `-n g`.
        let s = split(Verb::Install, &args("-ng rel oci://r/c"));
        assert_eq!((s.helm, s.positionals), (args("-ng"), args("rel oci://r/c")));
    }

    #[test]
    fn klogs_hidden_flags_take_their_values() {
        let s = split(Verb::Install, &args("-v 6 rel --log-file /tmp/helm.log oci://r/c --vmodule x=2 --logtostderr"));
        assert_eq!(s.helm, args("-v 6 --log-file /tmp/helm.log --vmodule x=2 --logtostderr"));
        assert_eq!(s.positionals, args("rel oci://r/c"));
        let s = split(Verb::Template, &args("--v=4 -v6 oci://r/c --alsologtostderrthreshold INFO"));
        assert_eq!((s.helm, s.positionals), (args("--v=4 -v6 --alsologtostderrthreshold INFO"), args("oci://r/c")));
    }

    #[test]
    fn verify_stays_helms_and_the_last_one_given_counts() {
        let s = split(Verb::Install, &args("rel oci://r/c --verify --keyring k.gpg"));
        assert!(s.verify);
        assert_eq!(s.helm, args("--verify --keyring k.gpg"));
        assert!(!split(Verb::Install, &args("rel oci://r/c --verify --verify=false")).verify);
        assert!(split(Verb::Install, &args("rel oci://r/c --verify=t")).verify);
        assert!(!split(Verb::Install, &args("rel oci://r/c")).verify);
    }

    #[test]
    fn debug_goes_to_helm_and_the_last_one_given_counts_for_ours() {
        let s = split(Verb::Install, &args("rel oci://r/c --debug"));
        assert_eq!(s.debug, Some(true));
        assert_eq!(s.helm, args("--debug"));
        let s = split(Verb::Install, &args("rel oci://r/c --debug=false"));
        assert_eq!(s.debug, Some(false));
        assert_eq!(s.helm, args("--debug=false"));
        assert_eq!(split(Verb::Install, &args("--debug=true oci://r/c")).debug, Some(true));
        assert_eq!(split(Verb::Install, &args("--debug oci://r/c --debug=0")).debug, Some(false));
        assert_eq!(split(Verb::Install, &args("oci://r/c")).debug, None);
    }

    #[test]
    fn help_is_asked_only_where_a_flag_stands() {
        assert!(split(Verb::Install, &args("--help")).help);
        assert!(split(Verb::Install, &args("rel oci://r/c -h")).help);
        assert!(split(Verb::Install, &args("rel oci://r/c --help=true")).help);
        assert!(!split(Verb::Install, &args("rel oci://r/c --help=false")).help);
        assert!(!split(Verb::Install, &args("rel oci://r/c --help --help=false")).help);
        assert!(split(Verb::Install, &args("rel oci://r/c --help=yes")).help);
        let s = split(Verb::Install, &args("rel oci://r/c --set --help"));
        assert!(!s.help);
        assert_eq!(s.helm, args("--set --help"));
    }

    #[test]
    fn after_a_double_dash_everything_is_positional() {
        let s = split(Verb::Install, &args("--wait -- rel oci://r/c"));
        assert_eq!(s.helm, args("--wait"));
        assert_eq!(s.positionals, args("rel oci://r/c"));
        let s = split(Verb::Install, &args("-- --weird oci://r/c"));
        assert_eq!(s.positionals, args("--weird oci://r/c"));
    }

    #[test]
    fn a_flag_missing_its_value_at_the_end_stays_alone() {
        let s = split(Verb::Install, &args("oci://r/c --version"));
        assert_eq!(s.own, args("--version"));
        let s = split(Verb::Install, &args("oci://r/c -f"));
        assert_eq!(s.helm, args("-f"));
    }
}
