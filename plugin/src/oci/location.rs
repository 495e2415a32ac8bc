//! Where a chart dependency's `repository:` points, for the repositories that live in a
//! registry: `oci://HOST/PATH` (Helm's own), `ocirepo://HOST/NS` and `ocirepo+http://HOST/NS`
//! (this plugin's downloader schemes), or nothing (a chart vendored under `charts/`).

use super::reference::{self, Ref};
use crate::error::{Error, Result};

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// Already in the chart, under `charts/NAME`.
    Vendored,
    /// The chart's repository in a registry (no tag), and whether it is reached over http://.
    Registry { chart: Ref, plain_http: bool },
}

/// Reads a dependency's repository as Helm resolves OCI dependencies: the chart `name` is
/// the last path segment below it. Chart repositories Helm reaches over HTTP (`https://`,
/// `file://`, `@alias`, `alias:`) are refused, naming the dependency.
pub fn locate(name: &str, repository: &str) -> Result<Location> {
    if repository.is_empty() {
        return Ok(Location::Vendored);
    }
    let (plain_http, rest) = match repository.split_once("://") {
        Some(("oci" | "ocirepo", rest)) => (false, rest),
        Some(("ocirepo+http", rest)) => (true, rest),
        _ => {
            return Err(Error::invalid_reference(
                format!("dependency {name:?}"),
                format!(
                    "repository {repository:?} is not in an OCI registry (oci://, ocirepo://, ocirepo+http://); \
                     use Helm's own `helm dependency update` for chart repositories, file:// paths and aliases"
                ),
            ));
        }
    };
    let subject = || format!("dependency {name:?}");
    let chart = reference::parse(&format!("oci://{}/{name}", rest.trim_end_matches('/')))
        .map_err(|e| Error::invalid_reference(subject(), format!("repository {repository:?}: {}", e.cause)))?;
    if chart.tag.is_some() || chart.digest.is_some() {
        return Err(Error::invalid_reference(
            subject(),
            format!("repository {repository:?} names a tag or digest; the version goes in `version`"),
        ));
    }
    Ok(Location::Registry { chart, plain_http })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(name: &str, repository: &str) -> (String, bool) {
        match locate(name, repository).unwrap() {
            Location::Registry { chart, plain_http } => (chart.to_string(), plain_http),
            Location::Vendored => panic!("{repository} is not vendored"),
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
        assert_eq!(locate("local", "").unwrap(), Location::Vendored);
    }

    #[test]
    fn chart_repositories_and_aliases_are_refused_naming_the_dependency() {
        for repository in ["https://charts.example.com", "file://../db", "@stable", "alias:stable", "http://x/y"] {
            let e = locate("db", repository).unwrap_err();
            assert!(e.to_string().starts_with("dependency \"db\": repository"), "{e}");
            assert!(e.to_string().contains("helm dependency update"), "{e}");
        }
        assert!(locate("db", "oci://r.example/charts:1.0").is_err());
        assert!(locate("db", "oci://").is_err());
    }
}
