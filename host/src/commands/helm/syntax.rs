//! Helm's command line for a chart: the release and the local chart where the Helm at hand
//! (2, or 3 and later) expects them, then Helm's flags as they were given.

use anyhow::{Result, bail};
use std::ffi::OsString;
use std::path::Path;

/// The Helm command run on the chart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verb {
    Install,
    Upgrade,
    Template,
}

impl Verb {
    /// The Helm command's name.
    pub fn name(self) -> &'static str {
        match self {
            Verb::Install => "install",
            Verb::Upgrade => "upgrade",
            Verb::Template => "template",
        }
    }

    /// The positional arguments, as the help shows them.
    pub fn usage(self) -> &'static str {
        match self {
            Verb::Upgrade => "RELEASE REF",
            Verb::Install | Verb::Template => "[RELEASE] REF",
        }
    }
}

/// Which argument order `$HELM_BIN` takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dialect {
    /// `install CHART --name RELEASE`, `template CHART --name RELEASE`.
    Helm2,
    /// Helm 3 and 4: `install RELEASE CHART`, `template RELEASE CHART`.
    Helm3,
}

/// What the positional arguments name.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub release: Option<String>,
    pub reference: String,
}

/// Reads `[RELEASE] REF` (`RELEASE REF` for upgrade) from the positional arguments.
pub fn target(verb: Verb, mut positionals: Vec<String>) -> Result<Target> {
    let usage = format!("helm oci {} {} [flags]", verb.name(), verb.usage());
    match (verb, positionals.len()) {
        (_, 0) => bail!("a chart reference is required: {usage}"),
        (Verb::Upgrade, 1) => bail!("a release name and a chart reference are required: {usage}"),
        (_, 1) => Ok(Target { release: None, reference: positionals.remove(0) }),
        (_, 2) => {
            let reference = positionals.remove(1);
            Ok(Target { release: Some(positionals.remove(0)), reference })
        }
        (_, n) => bail!(
            "expected {usage}, got {n} arguments ({}); a Helm flag whose value helm-oci took for an argument \
             can be written --flag=value",
            positionals.join(" ")
        ),
    }
}

/// Helm's arguments: the verb, the release and `chart` in the dialect's order, then `flags`.
pub fn helm_args(verb: Verb, dialect: Dialect, release: Option<&str>, chart: &Path, flags: &[String]) -> Vec<OsString> {
    let mut args = vec![OsString::from(verb.name())];
    match (dialect, verb, release) {
        (Dialect::Helm2, Verb::Install | Verb::Template, Some(release)) => {
            args.extend([chart.into(), "--name".into(), release.into()]);
        }
        (_, _, release) => {
            args.extend(release.map(OsString::from));
            args.push(chart.into());
        }
    }
    args.extend(flags.iter().map(OsString::from));
    args
}

/// Helm 2 takes `--host` (the Tiller address) off a plugin's command line, wherever it is
/// written, and hands it over only as `$TILLER_HOST`, which the Helm 2 helm-oci runs never
/// reads (it reads `HELM_HOST`): it is given back to Helm 2 as `--host`. `tiller_host` is
/// `$TILLER_HOST` when Helm 2 runs the plugin.
pub fn with_tiller_host(dialect: Dialect, mut flags: Vec<String>, tiller_host: Option<String>) -> Vec<String> {
    if let (Dialect::Helm2, Some(host)) = (dialect, tiller_host.filter(|h| !h.is_empty())) {
        flags.extend(["--host".to_string(), host]);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn helm(verb: Verb, dialect: Dialect, release: Option<&str>) -> Vec<String> {
        let flags = words("-n ns --set a=b --wait");
        let args = helm_args(verb, dialect, release, Path::new("/tmp/x/c-0.1.0.tgz"), &flags);
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn helm_3_takes_the_release_before_the_chart() {
        let chart = "/tmp/x/c-0.1.0.tgz -n ns --set a=b --wait";
        assert_eq!(helm(Verb::Install, Dialect::Helm3, Some("rel")), words(&format!("install rel {chart}")));
        assert_eq!(helm(Verb::Upgrade, Dialect::Helm3, Some("rel")), words(&format!("upgrade rel {chart}")));
        assert_eq!(helm(Verb::Template, Dialect::Helm3, Some("rel")), words(&format!("template rel {chart}")));
        assert_eq!(helm(Verb::Install, Dialect::Helm3, None), words(&format!("install {chart}")));
        assert_eq!(helm(Verb::Template, Dialect::Helm3, None), words(&format!("template {chart}")));
    }

    #[test]
    fn helm_2_names_the_release_with_name_but_upgrades_in_order() {
        let chart = "/tmp/x/c-0.1.0.tgz";
        let flags = "-n ns --set a=b --wait";
        assert_eq!(
            helm(Verb::Install, Dialect::Helm2, Some("rel")),
            words(&format!("install {chart} --name rel {flags}"))
        );
        assert_eq!(
            helm(Verb::Template, Dialect::Helm2, Some("rel")),
            words(&format!("template {chart} --name rel {flags}"))
        );
        assert_eq!(helm(Verb::Upgrade, Dialect::Helm2, Some("rel")), words(&format!("upgrade rel {chart} {flags}")));
        assert_eq!(helm(Verb::Install, Dialect::Helm2, None), words(&format!("install {chart} {flags}")));
        assert_eq!(helm(Verb::Template, Dialect::Helm2, None), words(&format!("template {chart} {flags}")));
    }

    #[test]
    fn helm_2_gets_back_the_tiller_host_it_took_off_the_command_line() {
        let given = |dialect, flags: &str, host: Option<&str>| {
            with_tiller_host(dialect, words(flags), host.map(String::from)).join(" ")
        };
        assert_eq!(given(Dialect::Helm2, "--wait", Some("10.0.0.1:44134")), "--wait --host 10.0.0.1:44134");
        assert_eq!(given(Dialect::Helm2, "--wait", Some("")), "--wait");
        assert_eq!(given(Dialect::Helm2, "--wait", None), "--wait");
        assert_eq!(given(Dialect::Helm3, "--wait", Some("10.0.0.1:44134")), "--wait");
    }

    #[test]
    fn the_release_may_be_left_out_but_for_upgrade() {
        let t = target(Verb::Install, words("oci://r/c")).unwrap();
        assert_eq!(t, Target { release: None, reference: "oci://r/c".into() });
        let t = target(Verb::Template, words("rel oci://r/c")).unwrap();
        assert_eq!(t, Target { release: Some("rel".into()), reference: "oci://r/c".into() });
        let t = target(Verb::Upgrade, words("rel oci://r/c")).unwrap();
        assert_eq!(t.release.as_deref(), Some("rel"));
        let e = target(Verb::Upgrade, words("oci://r/c")).unwrap_err().to_string();
        assert_eq!(e, "a release name and a chart reference are required: helm oci upgrade RELEASE REF [flags]");
        let e = target(Verb::Install, vec![]).unwrap_err().to_string();
        assert_eq!(e, "a chart reference is required: helm oci install [RELEASE] REF [flags]");
    }

    #[test]
    fn extra_arguments_are_named() {
        let e = target(Verb::Install, words("rel oci://r/c extra")).unwrap_err().to_string();
        assert!(
            e.starts_with("expected helm oci install [RELEASE] REF [flags], got 3 arguments (rel oci://r/c extra)")
        );
    }
}
