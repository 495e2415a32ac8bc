//! Helm's dependency lock file (`Chart.lock`, `requirements.lock`): its digest, computed
//! byte for byte as Helm computes it, and the file itself, read and written.

use super::metadata::{DEPENDENCY, Dependency};
use super::yaml::{self, Target};
use crate::digest;
use crate::gojson::go_json;
use crate::timestamp::parse_rfc3339;
use serde::Serialize;
use serde_json::Value;

/// The key under which each dependency fetched from a registry records its manifest digest.
/// Helm reads lock files with sigs.k8s.io/yaml, which ignores keys its struct lacks, so Helm
/// 2, 3 and 4 load such a lock (and leave the key out of their own digest).
pub const MANIFEST_DIGEST_KEY: &str = "manifestDigest";

/// Helm's `Lock` as sigs.k8s.io/yaml reads it (`generated`, a `time.Time`, reads its own JSON).
pub static LOCK: Target = Target::Struct(&[
    ("generated", Target::Any),
    ("digest", Target::Text),
    ("dependencies", Target::List(&DEPENDENCY)),
]);

/// A lock file's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    /// When it was made (RFC 3339), as Helm's `generated`.
    pub generated: String,
    /// Helm's digest of the dependencies and what they were locked to.
    pub digest: String,
    pub dependencies: Vec<Locked>,
}

/// One dependency as locked: Helm's fields, and the manifest it was fetched as.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Locked {
    pub name: String,
    pub repository: String,
    /// The exact version (for a vendored chart, the constraint as declared, as Helm locks it).
    pub version: String,
    /// The manifest digest of a chart fetched from a registry.
    pub manifest_digest: Option<String>,
}

impl Locked {
    /// A declared dependency, before it is locked: its version is still the constraint.
    pub fn asked(d: &Dependency) -> Locked {
        Locked {
            name: d.name.clone(),
            repository: d.repository.clone(),
            version: d.version.clone(),
            manifest_digest: None,
        }
    }

    /// The entry as Helm's `chart.Dependency` holds it, which is what its digest covers.
    fn as_dependency(&self) -> Dependency {
        Dependency {
            name: self.name.clone(),
            repository: self.repository.clone(),
            version: self.version.clone(),
            ..Dependency::default()
        }
    }
}

/// Helm 3 and 4's digest (`resolver.HashReq`): sha256 of the JSON of `[declared, locked]`;
/// no list declared at all is Go's nil slice, `null`.
pub fn hash(declared: Option<&[Dependency]>, locked: &[Locked]) -> String {
    let locked: Vec<Dependency> = locked.iter().map(Locked::as_dependency).collect();
    digest::of_bytes(&go_json(&(declared, locked)))
}

/// Helm 2's digest of requirements.yaml (Helm 3's `resolver.HashV2Req`): sha256 of the JSON
/// of `{"dependencies": declared}`. Helm 2 accepts a requirements.lock only with this one,
/// and Helm 3 and 4 accept it too when theirs does not match.
pub fn hash_v2(declared: Option<&[Dependency]>) -> String {
    #[derive(Serialize)]
    struct Requirements<'a> {
        dependencies: Option<&'a [Dependency]>,
    }
    digest::of_bytes(&go_json(&Requirements { dependencies: declared }))
}

impl Lock {
    /// Reads a lock file as Helm does: unknown keys are ignored; scalars are read as text;
    /// an empty (or comment-only) file is no lock at all, as it decodes to a nil one.
    pub fn parse(bytes: &[u8]) -> Result<Option<Lock>, String> {
        let root = match yaml::first_document(bytes, &LOCK)? {
            Value::Object(map) => map,
            Value::Null => return Ok(None),
            _ => return Err("it is not a mapping".into()),
        };
        let entries = match root.get("dependencies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().map(locked).collect::<Result<_, _>>()?,
            Some(_) => return Err("dependencies is not a list".into()),
        };
        match root.get("generated") {
            None | Some(Value::Null) => {}
            Some(Value::String(time)) if parse_rfc3339(time).is_some() => {}
            Some(other) => {
                return Err(format!(
                    "generated: {other} is not a time as Helm reads it (RFC 3339, such as \"2024-01-15T10:00:00Z\")"
                ));
            }
        }
        Ok(Some(Lock {
            generated: text(root.get("generated")),
            digest: text(root.get("digest")),
            dependencies: entries,
        }))
    }

    /// The file as Helm writes it (sigs.k8s.io/yaml: keys in order, list items unindented),
    /// with each manifest digest under `MANIFEST_DIGEST_KEY`.
    pub fn to_yaml(&self) -> String {
        // Go writes an empty list as `[]`, never as nothing (which would read back as null).
        let mut out = String::from(if self.dependencies.is_empty() { "dependencies: []\n" } else { "dependencies:\n" });
        for d in &self.dependencies {
            out.push_str(&format!("- name: {}\n", scalar(&d.name)));
            out.push_str(&format!("  repository: {}\n", scalar(&d.repository)));
            if !d.version.is_empty() {
                out.push_str(&format!("  version: {}\n", scalar(&d.version)));
            }
            if let Some(manifest) = &d.manifest_digest {
                out.push_str(&format!("  {MANIFEST_DIGEST_KEY}: {}\n", scalar(manifest)));
            }
        }
        out.push_str(&format!("digest: {}\n", scalar(&self.digest)));
        // Helm's YAML quotes a timestamp, so that it reads back as text.
        out.push_str(&format!("generated: {}\n", quoted(&self.generated)));
        out
    }

    /// Whether the two lock the same content (when they were made aside).
    pub fn locks_the_same(&self, other: &Lock) -> bool {
        self.digest == other.digest && self.dependencies == other.dependencies
    }
}

/// One lock entry.
fn locked(item: &Value) -> Result<Locked, String> {
    let Value::Object(map) = item else { return Err("a dependency is not a mapping".into()) };
    Ok(Locked {
        name: text(map.get("name")),
        repository: text(map.get("repository")),
        version: text(map.get("version")),
        manifest_digest: map.get(MANIFEST_DIGEST_KEY).map(|v| text(Some(v))).filter(|d| !d.is_empty()),
    })
}

/// A scalar as text; absent or null is empty.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A string as a YAML scalar: plain where it reads back as the same text, else quoted.
fn scalar(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._/:+@-~^*=<>, |".contains(c);
    let special = matches!(
        text.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    );
    let plain = !text.is_empty()
        && text.chars().all(safe)
        && text.starts_with(|c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '^' | '~'))
        && !text.ends_with(' ')
        && !text.contains(": ")
        && !text.contains(" #")
        && !special
        && text.parse::<f64>().is_err()
        && !is_number_like(text);
    if plain { text.to_string() } else { quoted(text) }
}

/// Texts a YAML 1.1 reader could take for a number (`0x1f`, `1_000`, `1:20`, `.5`).
fn is_number_like(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    digits.starts_with("0x")
        || digits.starts_with("0o")
        || digits.starts_with('.')
        || (digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '_' | ':' | '.'))
            && digits.starts_with(|c: char| c.is_ascii_digit())
            && digits.matches('.').count() <= 1)
}

/// A double-quoted YAML scalar (JSON's escapes are YAML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::metadata::Metadata;

    fn declared(yaml: &str) -> Vec<Dependency> {
        let chart = format!("apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n{yaml}");
        Metadata::from_yaml(chart.as_bytes(), None, "Chart.yaml").unwrap().dependencies().cloned().collect()
    }

    /// The JSON Helm hashes, worked out by hand from Go's encoding/json and chart.Dependency
    /// (field order name, version, repository, condition, tags, enabled, import-values, alias;
    /// all but name and repository omitted when empty; `<`, `>`, `&` escaped).
    #[test]
    fn the_digest_is_helms_hash_req() {
        let req = declared("- name: db\n  version: '>=1.0 <2'\n  repository: oci://r.example/charts\n  alias: pg\n");
        let lock = [Locked {
            name: "db".into(),
            repository: "oci://r.example/charts".into(),
            version: "1.4.0".into(),
            manifest_digest: Some("sha256:aa".into()),
        }];
        let json = r#"[[{"name":"db","version":"\u003e=1.0 \u003c2","repository":"oci://r.example/charts","alias":"pg"}],[{"name":"db","version":"1.4.0","repository":"oci://r.example/charts"}]]"#;
        assert_eq!(hash(Some(&req), &lock), digest::of_bytes(json.as_bytes()));
        let v2 = r#"{"dependencies":[{"name":"db","version":"\u003e=1.0 \u003c2","repository":"oci://r.example/charts","alias":"pg"}]}"#;
        assert_eq!(hash_v2(Some(&req)), digest::of_bytes(v2.as_bytes()));
    }

    /// Known answers: the digests Helm's own tests expect for these dependencies (its
    /// resolver's HashReq test, and the Helm 2 requirements.lock of its issue 7233 chart).
    #[test]
    fn the_digests_are_the_ones_helm_computes() {
        let lock = |repository: &str| Locked {
            name: "alpine".into(),
            repository: repository.into(),
            version: "0.1.0".into(),
            manifest_digest: Some("sha256:aa".into()),
        };
        let req = declared("- name: alpine\n  version: 0.1.0\n  repository: http://localhost:8879/charts\n");
        assert_eq!(
            hash(Some(&req), &[lock("http://localhost:8879/charts")]),
            "sha256:fb239e836325c5fa14b29d1540a13b7d3ba13151b67fe719f820e0ef6d66aaaf"
        );
        let v1 = declared("- name: alpine\n  version: 0.1.0\n  repository: file://../alpine\n");
        assert_eq!(hash_v2(Some(&v1)), "sha256:7b380b1a826e7be1eecb089f66209d6d3df54be4bf879d4a8e6f8a9e871710e5");
    }

    #[test]
    fn every_declared_field_counts_in_the_digest() {
        let req = declared(
            "- name: web\n  version: ~2.1\n  repository: ''\n  condition: web.enabled\n  tags: [front]\n  enabled: true\n  import-values:\n  - child: a\n    parent: b\n  - data\n",
        );
        let json = r#"[[{"name":"web","version":"~2.1","repository":"","condition":"web.enabled","tags":["front"],"enabled":true,"import-values":[{"child":"a","parent":"b"},"data"]}],[]]"#;
        assert_eq!(hash(Some(&req), &[]), digest::of_bytes(json.as_bytes()));
    }

    #[test]
    fn no_list_and_an_empty_one_differ_as_go_nil_and_empty_slices_do() {
        assert_eq!(hash(None, &[]), digest::of_bytes(b"[null,[]]"));
        assert_eq!(hash(Some(&[]), &[]), digest::of_bytes(b"[[],[]]"));
        assert_eq!(hash_v2(None), digest::of_bytes(br#"{"dependencies":null}"#));
        let none =
            Lock { generated: "2026-11-22T10:00:00Z".into(), digest: hash(Some(&[]), &[]), dependencies: vec![] };
        assert!(none.to_yaml().starts_with("dependencies: []\ndigest: "), "{}", none.to_yaml());
        assert_eq!(Lock::parse(none.to_yaml().as_bytes()).unwrap().unwrap().dependencies, []);
    }

    #[test]
    fn a_lock_is_written_as_helm_writes_it_and_reads_back() {
        let lock = Lock {
            generated: "2026-11-22T10:00:00Z".into(),
            digest: "sha256:ff".into(),
            dependencies: vec![
                Locked {
                    name: "db".into(),
                    repository: "oci://r.example:5000/charts".into(),
                    version: "1.4.0".into(),
                    manifest_digest: Some("sha256:aa".into()),
                },
                Locked {
                    name: "local".into(),
                    repository: String::new(),
                    version: "1.2".into(),
                    manifest_digest: None,
                },
            ],
        };
        let text = lock.to_yaml();
        assert_eq!(
            text,
            "dependencies:\n- name: db\n  repository: oci://r.example:5000/charts\n  version: 1.4.0\n  manifestDigest: sha256:aa\n\
             - name: local\n  repository: \"\"\n  version: \"1.2\"\ndigest: sha256:ff\ngenerated: \"2026-11-22T10:00:00Z\"\n"
        );
        assert_eq!(Lock::parse(text.as_bytes()).unwrap(), Some(lock));
    }

    #[test]
    fn scalars_that_would_read_back_otherwise_are_quoted() {
        for (text, plain) in [
            ("1.4.0", true),
            ("^1.0.0", true),
            ("oci://r/x", true),
            ("1.2", false),
            ("10", false),
            ("yes", false),
            ("", false),
            ("a: b", false),
            ("*", false),
            ("1_000", false),
        ] {
            assert_eq!(scalar(text) == text, plain, "{text}");
            let back = yaml::first_document(format!("k: {}", scalar(text)).as_bytes(), &Target::Any).unwrap();
            assert_eq!(back["k"], Value::String(text.into()), "{text}");
        }
    }

    #[test]
    fn helms_own_lock_reads_without_manifest_digests() {
        let lock = Lock::parse(
            b"dependencies:\n- name: db\n  repository: oci://r/charts\n  version: 1.0.0\ndigest: sha256:ab\ngenerated: \"2024-01-02T03:04:05.123+01:00\"\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(lock.dependencies[0].manifest_digest, None);
        assert_eq!(lock.generated, "2024-01-02T03:04:05.123+01:00");
        assert!(Lock::parse(b"dependencies: 3\n").is_err());
        assert_eq!(Lock::parse(b"# nothing locked yet\n"), Ok(None));
        assert_eq!(Lock::parse(b""), Ok(None));
    }

    #[test]
    fn generated_must_be_a_time_go_reads() {
        for good in ["2024-01-15T10:00:00Z", "2024-02-29T23:59:59.123456789+05:30", "2024-01-15T10:00:00,5-08:00"] {
            assert!(parse_rfc3339(good).is_some(), "{good}");
        }
        for bad in [
            "2024-01-01 10:00:00",
            "2024-01-01",
            "2024-01-01t10:00:00z",
            "",
            "2023-02-29T10:00:00Z",
            "2024-01-15T24:00:00Z",
            "2024-01-15T10:00:00",
            "2024-01-15T10:00:00.Z",
            "2024-01-15T10:00:00+0530",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
        assert!(Lock::parse(b"generated: 1700000000\n").is_err());
        assert!(Lock::parse(b"dependencies: {}\n").is_err());
        assert!(Lock::parse(b"- a\n").is_err());
        assert!(Lock::parse(b"generated: \"2024-01-15T10:00:00Z\"\ndependencies: []\n").unwrap().is_some());
        assert!(Lock::parse(b"generated: 2024-01-15T10:00:00Z\n").unwrap().is_some());
    }
}
