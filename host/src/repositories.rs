//! Helm's chart repositories file (`helm repo add` writes it), read for the names a chart's
//! dependencies may give as `repository: "@NAME"` or `"alias:NAME"`, and for how each
//! repository is reached: its credentials and TLS files. Only names and URLs reach the
//! component.

use crate::component::exports::helm_oci::plugin::types::Credential;
use crate::credentials;
use crate::paths;
use crate::transport::TlsFlags;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::fs;
use std::path::PathBuf;

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    repositories: Option<Vec<Entry>>,
}

/// One repository, with the fields `helm repo add` writes (Go's `repo.Entry`; a field
/// left null reads as Go's zero value).
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "certFile")]
    cert_file: Option<String>,
    #[serde(default, rename = "keyFile")]
    key_file: Option<String>,
    #[serde(default, rename = "caFile")]
    ca_file: Option<String>,
    #[serde(default, deserialize_with = "yaml_1_1_bool")]
    insecure_skip_tls_verify: Option<bool>,
}

/// A boolean as Helm reads this file (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1):
/// `yes`, `on`, `y` and their opposites are booleans too. (Quoted, Helm would take such a
/// word for text and refuse it; it is read as the boolean it names here.)
fn yaml_1_1_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Said {
        Bool(bool),
        Word(String),
    }
    match Option::<Said>::deserialize(d)? {
        None => Ok(None),
        Some(Said::Bool(b)) => Ok(Some(b)),
        Some(Said::Word(word)) => match word.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Ok(Some(true)),
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!("{word:?} is not a boolean"))),
        },
    }
}

/// A repository Helm knows.
pub struct Repository {
    pub name: String,
    pub url: String,
    /// The username and password it was added with, if both were given.
    pub login: Option<Credential>,
    /// The TLS files and checks it was added with.
    pub tls: TlsFlags,
}

impl Repository {
    /// Whether `url` names this repository, as Helm's `urlutil.Equal` compares them: the
    /// scheme in any case, and the path cleaned (`//`, `.`, `..` and a trailing `/` make no
    /// difference).
    pub fn is_at(&self, url: &str) -> bool {
        normal(&self.url) == normal(url)
    }

    /// Whether `url` is this repository's, or a URL below it (its index, a chart in it), on
    /// the same host: an entry that names no host holds nothing.
    pub fn holds(&self, url: &str) -> bool {
        let (own, url) = (normal(&self.url), normal(url));
        let names_a_host = own.split_once("://").is_some_and(|(_, rest)| !rest.starts_with('/'));
        names_a_host && (url == own || url.starts_with(&format!("{}/", own.trim_end_matches('/'))))
    }

    /// The command's TLS flags, each one it leaves unset taken from the repository's.
    pub fn tls_under(&self, command: &TlsFlags) -> TlsFlags {
        let pick = |given: &Option<PathBuf>, own: &Option<PathBuf>| given.clone().or_else(|| own.clone());
        // The certificate and key go together: the command's pair, else the repository's.
        let (cert_file, key_file) = if command.cert_file.is_some() || command.key_file.is_some() {
            (command.cert_file.clone(), command.key_file.clone())
        } else {
            (self.tls.cert_file.clone(), self.tls.key_file.clone())
        };
        TlsFlags {
            ca_file: pick(&command.ca_file, &self.tls.ca_file),
            cert_file,
            key_file,
            insecure: command.insecure || self.tls.insecure,
        }
    }
}

/// Each repository Helm knows; none if Helm has no repositories file.
pub fn known() -> Result<Vec<Repository>> {
    let path = paths::repository_config();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read Helm's repositories file {}", path.display())),
    };
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        yaml_serde::from_str(&text).with_context(|| format!("{} is not a valid repositories file", path.display()))?
    };
    let file_of = |value: Option<String>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    let repositories = file.repositories.unwrap_or_default().into_iter().map(|e| Repository {
        name: e.name.unwrap_or_default(),
        url: e.url.unwrap_or_default(),
        login: credentials::given(e.username.as_deref(), e.password.as_deref()),
        tls: TlsFlags {
            ca_file: file_of(e.ca_file),
            cert_file: file_of(e.cert_file),
            key_file: file_of(e.key_file),
            insecure: e.insecure_skip_tls_verify.unwrap_or_default(),
        },
    });
    Ok(repositories.collect())
}

/// A repository URL as `urlutil.Equal` compares it: the scheme lower-cased, the path
/// cleaned as Go's `filepath.Clean` cleans it, an empty one as `/`.
fn normal(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut kept: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            part => kept.push(part),
        }
    }
    format!("{}://{authority}/{}", scheme.to_ascii_lowercase(), kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository(url: &str, tls: TlsFlags) -> Repository {
        Repository { name: "r".into(), url: url.into(), login: None, tls }
    }

    #[test]
    fn urls_are_compared_as_helm_compares_them() {
        let r = repository("ocirepo://r.example/team/charts/", TlsFlags::default());
        for same in [
            "ocirepo://r.example/team/charts",
            "OCIREPO://r.example//team/./charts/",
            "ocirepo://r.example/team/x/../charts",
        ] {
            assert!(r.is_at(same), "{same}");
        }
        for other in
            ["ocirepo://r.example/team/chart", "ocirepo+http://r.example/team/charts", "ocirepo://r.example/charts"]
        {
            assert!(!r.is_at(other), "{other}");
        }
        assert!(repository("ocirepo://r.example", TlsFlags::default()).is_at("ocirepo://r.example/"));
    }

    #[test]
    fn a_repository_holds_the_urls_below_it() {
        let r = repository("ocirepo://r.example/team/charts/", TlsFlags::default());
        for below in [
            "ocirepo://r.example/team/charts/index.yaml",
            "ocirepo://r.example/team/./charts/web@sha256:ab/web-1.0.0.tgz",
            "ocirepo://r.example/team/charts",
        ] {
            assert!(r.holds(below), "{below}");
        }
        for other in [
            "ocirepo://r.example/team/chartsx/index.yaml",
            "ocirepo://r.example/team/index.yaml",
            "ocirepo://other/team/charts/index.yaml",
        ] {
            assert!(!r.holds(other), "{other}");
        }
        assert!(
            repository("ocirepo+http://r.example", TlsFlags::default()).holds("ocirepo+http://r.example/index.yaml")
        );
        for hostless in ["ocirepo://", "ocirepo:///", "ocirepo:///team"] {
            let r = repository(hostless, TlsFlags::default());
            assert!(!r.holds("ocirepo://r.example/team/index.yaml"), "{hostless}");
        }
    }

    #[test]
    fn null_fields_read_as_unset() {
        let file: File = yaml_serde::from_str(
            "repositories:\n- name: r\n  url: ocirepo://r.example\n  username: ~\n  caFile: null\n  insecure_skip_tls_verify: ~\n",
        )
        .unwrap();
        let entry = &file.repositories.unwrap()[0];
        assert!(entry.username.is_none() && entry.ca_file.is_none() && entry.insecure_skip_tls_verify.is_none());
    }

    #[test]
    fn booleans_are_read_as_yaml_1_1_reads_them() {
        let insecure = |value: &str| {
            let text = format!("repositories:\n- name: r\n  insecure_skip_tls_verify: {value}\n");
            yaml_serde::from_str::<File>(&text).map(|f| f.repositories.unwrap()[0].insecure_skip_tls_verify)
        };
        for (value, read) in [("yes", true), ("On", true), ("true", true), ("no", false), ("OFF", false)] {
            assert_eq!(insecure(value).unwrap(), Some(read), "{value}");
        }
        assert!(insecure("maybe").is_err() && insecure("1").is_err());
    }

    #[test]
    fn the_commands_flags_win_and_the_repository_fills_the_rest() {
        let path = |p: &str| Some(PathBuf::from(p));
        let own = TlsFlags {
            ca_file: path("repo-ca"),
            cert_file: path("repo-cert"),
            key_file: path("repo-key"),
            insecure: true,
        };
        let r = repository("ocirepo://r.example", own.clone());
        assert!(r.tls_under(&TlsFlags::default()) == own);
        let command = TlsFlags { ca_file: path("ca"), cert_file: path("cert"), key_file: path("key"), insecure: false };
        let merged = r.tls_under(&command);
        assert_eq!((merged.ca_file, merged.cert_file, merged.key_file), (path("ca"), path("cert"), path("key")));
        assert!(merged.insecure);
        let only_ca = TlsFlags { ca_file: path("ca"), ..TlsFlags::default() };
        let merged = r.tls_under(&only_ca);
        assert_eq!((merged.ca_file, merged.cert_file), (path("ca"), path("repo-cert")));
    }
}
