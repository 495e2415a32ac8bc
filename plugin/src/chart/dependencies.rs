//! A chart directory's dependencies as Helm's `dependency update|build` read them:
//! Chart.yaml with requirements.yaml laid over it, and the lock file beside them.

use super::lock::Lock;
use super::metadata::{Dependency, Metadata};
use crate::error::{Error, Kind, Result};
use crate::fs::inside::{self, Refusal};
use std::path::Path;

/// The lock file of an apiVersion v2 chart.
pub const CHART_LOCK: &str = "Chart.lock";
/// The lock file of an apiVersion v1 chart (Helm 2's).
pub const REQUIREMENTS_LOCK: &str = "requirements.lock";

/// A chart repository Helm knows by name (its repositories.yaml).
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub url: String,
}

/// What a chart declares and has locked.
#[derive(Debug)]
pub struct Declared {
    pub meta: Metadata,
    /// The dependencies, validated and cleaned as Helm's loader leaves them, with each
    /// repository alias replaced by its URL, as Helm's downloader manager replaces it before
    /// resolving, locking and hashing.
    pub dependencies: Vec<Dependency>,
    /// The dependencies as written, aliases and all: what Helm 2 hashed.
    pub written: Vec<Dependency>,
    /// The lock file Helm would read, if there is one.
    pub lock: Option<Lock>,
    /// Whether the chart declares dependencies at all, if only `dependencies: []`.
    pub declares: bool,
}

impl Declared {
    /// An apiVersion v1 chart (or one with none, as Helm reads it): requirements.yaml and
    /// requirements.lock.
    pub fn is_v1(&self) -> bool {
        self.meta.api_version == "v1"
    }

    /// The lock file Helm writes for this chart.
    pub fn lock_file(&self) -> &'static str {
        if self.is_v1() { REQUIREMENTS_LOCK } else { CHART_LOCK }
    }
}

/// Reads the chart directory `root` as Helm's loader does for these commands, its aliases
/// (`@NAME`, `alias:NAME`) taken from `repositories`. As there, the lock is whichever of
/// Chart.lock and requirements.lock comes last (the latter), whatever the apiVersion.
pub fn read(root: &Path, repositories: &[Repository]) -> Result<Declared> {
    let origin = root.display().to_string();
    let chart_yaml = file(root, "Chart.yaml")?
        .ok_or_else(|| Error::invalid_chart(&origin, "Chart.yaml file is missing; not a chart directory"))?;
    let requirements = file(root, "requirements.yaml")?;
    let (meta, declares) = Metadata::from_yaml_declaring(&chart_yaml, requirements.as_deref(), &origin)?;
    meta.chart_itself().map_err(|why| Error::invalid_chart(&origin, why))?;
    let mut lock = None;
    for name in [CHART_LOCK, REQUIREMENTS_LOCK] {
        if let Some(bytes) = file(root, name)? {
            lock = Lock::parse(&bytes)
                .map_err(|why| Error::invalid_chart(&origin, format!("cannot load {name}: {why}")))?;
        }
    }
    let written: Vec<Dependency> = meta.dependencies().cloned().collect();
    let dependencies = unaliased(&written, repositories)?;
    Ok(Declared { meta, dependencies, written, lock, declares })
}

/// `dependencies` with each repository alias replaced by the URL `repositories` gives it.
/// Aliases it lacks are named all at once, with the message Helm gives an unknown `@NAME`
/// (an unknown `alias:NAME` Helm takes for a URL, and fails on later). A URL that carries
/// credentials is refused, without saying it: it would land in the lock and in messages.
fn unaliased(dependencies: &[Dependency], repositories: &[Repository]) -> Result<Vec<Dependency>> {
    let mut missing = Vec::new();
    let mut out = dependencies.to_vec();
    for d in &mut out {
        let Some(name) = d.repository.strip_prefix('@').or_else(|| d.repository.strip_prefix("alias:")) else {
            continue;
        };
        match repositories.iter().find(|r| r.name == name) {
            Some(known) if has_userinfo(&known.url) => {
                return Err(Error::invalid_chart(
                    format!("dependency {:?}", d.name),
                    format!(
                        "repository {:?}: the URL of Helm's repository {name:?} carries credentials, which helm-oci \
                         will not write into the lock file; use `helm oci login` for the registry instead",
                        d.repository
                    ),
                ));
            }
            Some(known) => d.repository = known.url.clone(),
            None => missing.push(d.repository.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    Err(Error::invalid_chart(
        "",
        format!("no repository definition for {}. Please add them via 'helm repo add'", missing.join(", ")),
    ))
}

/// Whether `rel` (a `/`-separated path in the chart) exists, through symlinks that stay in it.
pub fn exists(root: &Path, rel: &str) -> Result<bool> {
    match inside::resolve(root, rel) {
        Ok(_) => Ok(true),
        Err(Refusal::Missing) => Ok(false),
        Err(refusal) => Err(refused(root, rel, refusal)),
    }
}

/// A file of the chart, read through symlinks only while they stay inside it; None if absent.
pub fn file(root: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let real = match inside::resolve(root, rel) {
        Ok(real) => root.join(real),
        Err(Refusal::Missing) => return Ok(None),
        Err(refusal) => return Err(refused(root, rel, refusal)),
    };
    std::fs::read(&real).map(Some).map_err(|e| Error::io(&real, e))
}

fn refused(root: &Path, rel: &str, refusal: Refusal) -> Error {
    let path = root.join(rel).display().to_string();
    let why = match refusal {
        Refusal::Absolute => "it is a symlink to an absolute path, which charts may not follow".to_string(),
        Refusal::Outside(target) => format!("it links to {target:?}, outside the chart"),
        Refusal::Loop => "its symlinks go round in a loop".to_string(),
        Refusal::Missing => "it does not exist".to_string(),
        Refusal::Io(why) => return Error::new(Kind::Io, path, why),
    };
    Error::invalid_chart(path, why)
}

/// Whether a URL names a user (and perhaps a password) before its host.
fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().is_some_and(|authority| authority.contains('@'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::scratch;

    fn chart(files: &[(&str, &str)]) -> scratch::Dir {
        let dir = scratch::Dir::new();
        for (name, text) in files {
            std::fs::write(dir.0.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_v2_chart_declares_in_chart_yaml_and_locks_in_chart_lock() {
        let dir = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: db\n  version: ^1\n  repository: oci://r/charts\n",
            ),
            ("Chart.lock", "dependencies: []\ndigest: sha256:x\n"),
        ]);
        let declared = read(&dir.0, &[]).unwrap();
        assert!(!declared.is_v1());
        assert_eq!(declared.lock_file(), "Chart.lock");
        assert_eq!(declared.dependencies[0].repository, "oci://r/charts");
        assert_eq!(declared.lock.unwrap().digest, "sha256:x");
    }

    #[test]
    fn a_chart_without_api_version_is_v1_with_requirements() {
        let dir = chart(&[
            ("Chart.yaml", "name: app\nversion: 1.0.0\n"),
            ("requirements.yaml", "dependencies:\n- name: db\n  version: 1.x\n  repository: oci://r/charts\n"),
        ]);
        let declared = read(&dir.0, &[]).unwrap();
        assert!(declared.is_v1());
        assert_eq!(declared.lock_file(), "requirements.lock");
        assert_eq!(declared.dependencies.len(), 1);
        assert!(declared.lock.is_none());
    }

    #[test]
    fn aliases_stand_for_the_urls_helm_knows_and_unknown_ones_are_named_at_once() {
        let deps = "- {name: a, version: ^1, repository: '@oci'}\n- {name: b, version: ^1, repository: 'alias:oci'}\n\
                    - {name: c, version: ^1, repository: oci://r/c}\n";
        let dir =
            chart(&[("Chart.yaml", &format!("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n{deps}"))]);
        let oci = Repository { name: "oci".into(), url: "ocirepo://r.example/ns".into() };
        let declared = read(&dir.0, &[Repository { name: "other".into(), url: "https://x".into() }, oci]).unwrap();
        let repositories: Vec<_> = declared.dependencies.iter().map(|d| d.repository.as_str()).collect();
        assert_eq!(repositories, ["ocirepo://r.example/ns", "ocirepo://r.example/ns", "oci://r/c"]);
        let written: Vec<_> = declared.written.iter().map(|d| d.repository.as_str()).collect();
        assert_eq!(written, ["@oci", "alias:oci", "oci://r/c"]);

        let secret = Repository { name: "oci".into(), url: "ocirepo://user:s3cret@r.example/ns".into() };
        let why = read(&dir.0, &[secret]).unwrap_err().to_string();
        assert!(why.contains("carries credentials") && !why.contains("s3cret"), "{why}");
        for url in ["ocirepo://r.example/ns", "ocirepo://r.example/ns@x", "https://r.example/a?b=c@d"] {
            assert!(!has_userinfo(url), "{url}");
        }

        let why = read(&dir.0, &[]).unwrap_err().to_string();
        assert!(
            why.contains("no repository definition for @oci, alias:oci. Please add them via 'helm repo add'"),
            "{why}"
        );
    }

    #[test]
    fn a_missing_chart_yaml_or_a_broken_lock_is_refused() {
        let empty = chart(&[]);
        assert!(read(&empty.0, &[]).unwrap_err().to_string().contains("Chart.yaml file is missing"));
        let broken = chart(&[("Chart.yaml", "apiVersion: v2\nname: a\nversion: 1.0.0\n"), ("Chart.lock", "[")]);
        assert!(read(&broken.0, &[]).unwrap_err().to_string().contains("cannot load Chart.lock"));
    }
}
