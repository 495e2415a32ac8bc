//! Where a chart dependency's `repository:` points: a repository in a registry
//! (`oci://HOST/PATH`, Helm's own, or `ocirepo://HOST/NS` and `ocirepo+http://HOST/NS`, this
//! plugin's downloader schemes), a chart directory on disk (`file://PATH`), or nothing (a
//! chart vendored under `charts/`).

use super::reference::{self, Ref};
use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// Already in the chart, under `charts/NAME`.
    Vendored,
    /// The chart's repository in a registry (no tag), whether it is reached over http://,
    /// and whether it is named as a chart repository (`ocirepo://`): Helm resolves a version
    /// there against the versions the repository lists, an exact one too.
    Registry { chart: Ref, plain_http: bool, listed: bool },
    /// A chart directory, packaged into `charts/` as Helm packages it.
    Local(PathBuf),
}

/// Reads a dependency's repository as Helm resolves OCI dependencies: the chart `name` is
/// the last path segment below it. A `file://` path is taken from the chart directory
/// `chart_dir` (an absolute one as it is), with `..` resolved by name as Helm's
/// `filepath.Join` does. Chart repositories Helm reaches over HTTP (`https://`, or an alias
/// not read as its URL) are refused, naming the dependency.
pub fn locate(name: &str, repository: &str, chart_dir: &Path) -> Result<Location> {
    if repository.is_empty() {
        return Ok(Location::Vendored);
    }
    if let Some(path) = repository.strip_prefix("file://") {
        return Ok(Location::Local(cleaned(&chart_dir.join(path))));
    }
    let (plain_http, listed, rest) = match repository.split_once("://") {
        Some(("oci", rest)) => (false, false, rest),
        Some(("ocirepo", rest)) => (false, true, rest),
        Some(("ocirepo+http", rest)) => (true, true, rest),
        _ => {
            return Err(Error::invalid_reference(
                format!("dependency {name:?}"),
                format!(
                    "repository {:?} is neither in an OCI registry (oci://, ocirepo://, ocirepo+http://) nor a \
                     file:// path; use Helm's own `helm dependency update` for chart repositories outside a registry",
                    redacted(repository)
                ),
            ));
        }
    };
    let subject = || format!("dependency {name:?}");
    let shown = redacted(repository);
    let chart = reference::parse(&format!("oci://{}/{name}", rest.trim_end_matches('/')))
        .map_err(|e| Error::invalid_reference(subject(), format!("repository {shown:?}: {}", e.cause)))?;
    if chart.tag.is_some() || chart.digest.is_some() {
        return Err(Error::invalid_reference(
            subject(),
            format!("repository {shown:?} names a tag or digest; the version goes in `version`"),
        ));
    }
    Ok(Location::Registry { chart, plain_http, listed })
}

/// A repository URL fit for a message: a password before the host is written `xxxxx`, as
/// Go's `URL.Redacted` writes it, so that CI logs never show it.
fn redacted(repository: &str) -> String {
    let Some((scheme, rest)) = repository.split_once("://") else { return repository.to_string() };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:xxxxx@{host}{path}")
        }
        _ => repository.to_string(),
    }
}

/// An absolute `path` with `.` and `..` resolved by name, without reading the file system,
/// as Go's `filepath.Clean` does (a `..` at the root is dropped): the host grants exactly
/// this path, and the guest must ask for it by the same name.
fn cleaned(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHART_DIR: &str = "/work/charts/app";

    fn chart(name: &str, repository: &str) -> (String, bool) {
        match locate(name, repository, Path::new(CHART_DIR)).unwrap() {
            Location::Registry { chart, plain_http, .. } => (chart.to_string(), plain_http),
            other => panic!("{repository} is {other:?}"),
        }
    }

    fn local(repository: &str) -> PathBuf {
        match locate("common", repository, Path::new(CHART_DIR)).unwrap() {
            Location::Local(dir) => dir,
            other => panic!("{repository} is {other:?}"),
        }
    }

    #[test]
    fn registry_repositories_name_the_chart_below_them() {
        assert_eq!(chart("db", "oci://r.example:5000/team/charts"), ("r.example:5000/team/charts/db".into(), false));
        assert_eq!(chart("db", "oci://r.example/charts/"), ("r.example/charts/db".into(), false));
        assert_eq!(chart("web", "ocirepo://r.example/ns"), ("r.example/ns/web".into(), false));
        assert_eq!(chart("web", "ocirepo+http://localhost:5000/ns"), ("localhost:5000/ns/web".into(), true));
        assert_eq!(chart("web", "oci://localhost:5000"), ("localhost:5000/web".into(), false));
    }

    #[test]
    fn an_empty_repository_is_a_vendored_chart() {
        assert_eq!(locate("local", "", Path::new(CHART_DIR)).unwrap(), Location::Vendored);
    }

    #[test]
    fn file_paths_are_taken_from_the_chart_directory_and_cleaned_as_helm_does() {
        assert_eq!(local("file://../common"), Path::new("/work/charts/common"));
        assert_eq!(local("file://./libs/../common/"), Path::new("/work/charts/app/common"));
        assert_eq!(local("file://sub/common"), Path::new("/work/charts/app/sub/common"));
        assert_eq!(local("file:///srv/charts/common"), Path::new("/srv/charts/common"));
        assert_eq!(local("file://../../../../../common"), Path::new("/common"));
        assert_eq!(local("file://"), Path::new(CHART_DIR));
        assert_eq!(local("file://../app/"), Path::new(CHART_DIR));
    }

    #[test]
    fn chart_repositories_and_aliases_are_refused_naming_the_dependency() {
        for repository in ["https://charts.example.com", "@stable", "alias:stable", "http://x/y", "file:/x"] {
            let e = locate("db", repository, Path::new(CHART_DIR)).unwrap_err();
            assert!(e.to_string().starts_with("dependency \"db\": repository"), "{e}");
            assert!(e.to_string().contains("helm dependency update"), "{e}");
        }
        assert!(locate("db", "oci://r.example/charts:1.0", Path::new(CHART_DIR)).is_err());
        assert!(locate("db", "oci://", Path::new(CHART_DIR)).is_err());
    }

    #[test]
    fn a_password_in_a_repository_is_never_repeated() {
        for (repository, shown) in [
            ("oci://alice:s3cret@r.example/x", "oci://alice:xxxxx@r.example/x"),
            ("https://alice:s3cret@charts.example", "https://alice:xxxxx@charts.example"),
            ("oci://al:i:ce:s3cret@r.example:5000", "oci://al:xxxxx@r.example:5000"),
        ] {
            let e = locate("db", repository, Path::new(CHART_DIR)).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && e.contains(shown), "{e}");
        }
        assert_eq!(redacted("oci://alice@r.example/x"), "oci://alice@r.example/x");
        assert_eq!(redacted("oci://r.example/a@b"), "oci://r.example/a@b");
    }
}
