//! The registries configuration, `<config home>/oci/registries.yaml`: for a registry or a
//! registry/namespace prefix, the mirrors to read from first, in order, and the
//! repositories to list where the registry will not list its catalog. A reference under a
//! prefix is read at each mirror's location with the rest of its path appended, as
//! containers' registries.conf maps a prefix to a location.

use crate::paths;
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

/// The file as written.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default, deserialize_with = "null_as_none")]
    registries: Vec<Prefix>,
}

/// One `registries:` entry.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Prefix {
    /// `host[:port]` or `host[:port]/namespace`, with or without `oci://`.
    prefix: String,
    #[serde(default, deserialize_with = "null_as_none")]
    mirrors: Vec<Location>,
    /// The repositories under the prefix, listed instead of the registry's catalog.
    #[serde(default, deserialize_with = "null_as_none")]
    repositories: Vec<String>,
}

/// One mirror of a prefix.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Location {
    /// `host[:port][/path]`: what stands for the prefix there.
    location: String,
    /// Reach this mirror over http://.
    #[serde(default, deserialize_with = "null_as_none")]
    plain_http: bool,
}

/// A null (`~`, `null`, or nothing at all, which YAML takes alike) as none of the thing.
fn null_as_none<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A mirror of one repository: where it is (`host[:port]/path`, to parse as a reference)
/// and how to reach it.
#[derive(Debug, PartialEq)]
pub struct Mirrored {
    pub repository: String,
    pub plain_http: bool,
}

/// The mirrors of `registry/repository` (or of the same path at `endpoint`, the registry's
/// API host) that the configuration lists, in order: those of the longest prefix that
/// matches.
pub fn mirrors(registry: &str, endpoint: &str, repository: &str) -> Result<Vec<Mirrored>> {
    let Some(config) = read()? else { return Ok(Vec::new()) };
    Ok(matching(config, &[format!("{registry}/{repository}"), format!("{endpoint}/{repository}")]))
}

/// The repositories the configuration lists for exactly `registry/namespace` (or `registry`
/// alone, or the same at `endpoint`), to read instead of the catalog.
pub fn repositories(registry: &str, endpoint: &str, namespace: &str) -> Result<Vec<String>> {
    let Some(config) = read()? else { return Ok(Vec::new()) };
    let name = |host: &str| if namespace.is_empty() { host.to_string() } else { format!("{host}/{namespace}") };
    let names = [name(registry), name(endpoint)];
    let entry = config.registries.iter().find(|e| names.iter().any(|n| bare(&e.prefix) == n));
    Ok(entry.map(|e| e.repositories.clone()).unwrap_or_default())
}

/// The configuration, read once a run (a command may ask for many repositories); None if
/// there is none.
fn read() -> Result<Option<&'static Config>> {
    static READ: OnceLock<Result<Option<Config>, String>> = OnceLock::new();
    let read = READ.get_or_init(|| {
        let file = paths::registries_config();
        let config = match fs::read_to_string(&file) {
            Ok(text) => parse(&text, &file).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read the registries configuration {}", file.display())),
        };
        config.map_err(|e| format!("{e:#}"))
    });
    read.as_ref().map(Option::as_ref).map_err(|e| anyhow!("{e}"))
}

/// The configuration, checked.
fn parse(text: &str, file: &Path) -> Result<Config> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    let config: Config = yaml_serde::from_str(text)
        .with_context(|| format!("{} is not a valid registries configuration", file.display()))?;
    let mut prefixes = std::collections::HashSet::new();
    for entry in &config.registries {
        // One entry per prefix, as containers' registries.conf wants: a second would quietly
        // take the first one's place, with its mirrors or repositories.
        if !prefixes.insert(bare(&entry.prefix)) {
            bail!("{}: prefix {:?} is listed more than once", file.display(), bare(&entry.prefix));
        }
        let locations = entry.mirrors.iter().map(|m| ("location", &m.location));
        for (what, text) in std::iter::once(("prefix", &entry.prefix)).chain(locations) {
            let scheme = text.contains("://") && !text.starts_with("oci://");
            if scheme || bare(text).is_empty() || bare(text).contains(['@', ' ']) {
                bail!("{}: {what} {text:?} is not host[:port][/path]", file.display());
            }
        }
    }
    Ok(config)
}

/// The mirrors of the longest prefix any of `names` (one repository, named two ways) is under.
fn matching(config: &Config, names: &[String]) -> Vec<Mirrored> {
    let best = config
        .registries
        .iter()
        .filter_map(|entry| {
            let prefix = bare(&entry.prefix);
            let rest = names.iter().find_map(|name| under(name, prefix))?;
            Some((prefix.len(), entry, rest))
        })
        .max_by_key(|(len, _, _)| *len);
    let Some((_, entry, rest)) = best else { return Vec::new() };
    let mirrored =
        |m: &Location| Mirrored { repository: format!("{}{rest}", bare(&m.location)), plain_http: m.plain_http };
    entry.mirrors.iter().map(mirrored).collect()
}

/// A prefix or location without `oci://` or a trailing `/`.
fn bare(text: &str) -> &str {
    text.strip_prefix("oci://").unwrap_or(text).trim_end_matches('/')
}

/// What follows `prefix` in `name` (empty, or starting with `/`), if `name` is under it.
fn under<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<Config> {
        parse(text, Path::new("registries.yaml"))
    }

    fn mirrors_of(config: &Config, name: &str) -> Vec<(String, bool)> {
        matching(config, &[name.to_string()]).into_iter().map(|m| (m.repository, m.plain_http)).collect()
    }

    #[test]
    fn a_prefix_matches_whole_path_segments_only() {
        assert_eq!(under("reg/charts/web", "reg/charts"), Some("/web"));
        assert_eq!(under("reg/charts", "reg/charts"), Some(""));
        assert_eq!(under("reg/chartsmore/web", "reg/charts"), None);
        assert_eq!(under("reg:5000/charts/web", "reg"), None);
    }

    #[test]
    fn the_longest_prefix_maps_the_rest_of_the_path_onto_each_mirror() {
        let config = config(
            "registries:
  - prefix: reg
    mirrors: [{location: all.example/reg}]
  - prefix: oci://reg/team/
    mirrors:
      - location: m1:5000/copies/team
        plainHttp: true
      - location: m2.example
",
        )
        .unwrap();
        assert_eq!(
            mirrors_of(&config, "reg/team/web"),
            [("m1:5000/copies/team/web".to_string(), true), ("m2.example/web".to_string(), false)]
        );
        assert_eq!(mirrors_of(&config, "reg/other/db"), [("all.example/reg/other/db".to_string(), false)]);
        assert!(mirrors_of(&config, "elsewhere/team/web").is_empty());
    }

    #[test]
    fn unknown_fields_and_bad_locations_are_refused() {
        assert!(config("registries:\n  - prefix: reg\n    mirror: []\n").is_err());
        let bad = config("registries:\n  - prefix: reg\n    mirrors:\n      - location: https://m/x\n");
        assert!(bad.unwrap_err().to_string().contains("not host[:port][/path]"));
        assert!(config("registries:\n  - prefix: ''\n").is_err());
        let twice = config("registries:\n  - prefix: reg/a\n  - prefix: oci://reg/a/\n    repositories: [db]\n");
        assert!(format!("{:#}", twice.unwrap_err()).contains("prefix \"reg/a\" is listed more than once"));
        assert!(config("").unwrap().registries.is_empty());
    }

    #[test]
    fn a_null_is_none_however_written() {
        for null in ["", "~", "null"] {
            let text = format!("registries:\n  - prefix: reg\n    mirrors: {null}\n    repositories: {null}\n");
            let config = config(&text).unwrap();
            assert!(config.registries[0].mirrors.is_empty() && config.registries[0].repositories.is_empty());
            assert!(self::config(&format!("registries: {null}\n")).unwrap().registries.is_empty(), "{null:?}");
        }
    }
}
