//! The authentication challenge each registry sent, remembered across runs. A command hands
//! it to the component, whose first requests then answer it at once (Basic credentials, or
//! a token from the registry's own token service) instead of going out bare to be refused:
//! one round trip less for every command against a registry that asks for credentials.
//!
//! Only what cannot send a credential anywhere new is kept: `Basic`, or `Bearer` with a
//! token service on the registry endpoint itself (GHCR, Harbor, ACR, Quay and distribution
//! all have theirs there). A token service on another host is learnt afresh each run, as
//! the sandbox grants it only when the registry's own answer names it. The file lives in
//! Helm's cache beside the chart cache, out of the component's reach, and a stale entry
//! only costs the round trip it was meant to save.

use crate::paths;
use helm_oci_headers::{Challenge, Url};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

type Remembered = BTreeMap<String, String>;

/// The challenge to hand the component for a registry endpoint (`host[:port]`), if one is
/// remembered.
pub fn remembered(endpoint: &str, plain_http: bool) -> Option<String> {
    static READ: OnceLock<Remembered> = OnceLock::new();
    READ.get_or_init(|| read(&paths::challenges_file())).get(&key(!plain_http, endpoint)).cloned()
}

/// Keeps what a registry's 401 answer to `request` says about how to authenticate, if it
/// differs from what is remembered. Best effort: a cache that cannot be written only means
/// the next run asks again.
pub fn learn(request: &Url, challenge: &Challenge) {
    learn_in(&paths::challenges_file(), request, challenge);
}

/// `learn`, with the file named; whether it was written.
fn learn_in(file: &Path, request: &Url, challenge: &Challenge) -> bool {
    let mut all = read(file);
    let key = key(request.https, &request.authority);
    let changed = match kept_form(request, challenge) {
        Some(kept) => all.insert(key, kept.clone()).as_ref() != Some(&kept),
        None => all.remove(&key).is_some(),
    };
    changed && write(file, &all).is_ok()
}

fn key(https: bool, authority: &str) -> String {
    format!("{}://{}", if https { "https" } else { "http" }, authority.to_ascii_lowercase())
}

/// What is kept of a challenge: `Basic`, or `Bearer` with its realm as a path on the
/// registry (so that it can only ever name the registry) and its service; None for
/// anything else.
fn kept_form(request: &Url, challenge: &Challenge) -> Option<String> {
    if challenge.is("basic") {
        return Some("Basic".to_string());
    }
    let realm = request.join(challenge.param("realm").filter(|_| challenge.is("bearer"))?)?;
    if realm.https != request.https || !realm.is_on(&request.authority) {
        return None;
    }
    let mut kept = format!("Bearer realm=\"{}\"", quoted(&realm.path));
    if let Some(service) = challenge.param("service") {
        kept.push_str(&format!(",service=\"{}\"", quoted(service)));
    }
    Some(kept)
}

fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The remembered challenges; none if the file is missing or unreadable.
fn read(file: &Path) -> Remembered {
    fs::read(file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Replaces the file whole, so that concurrent runs never read half of one.
fn write(file: &Path, all: &Remembered) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".challenges.{}.tmp", std::process::id()));
    let written = fs::write(&temp, serde_json::to_vec_pretty(all)?).and_then(|()| fs::rename(&temp, file));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(request: &str, header: &str) -> Option<String> {
        kept_form(&Url::parse(request).unwrap(), &Challenge::parse(header).unwrap())
    }

    #[test]
    fn basic_is_kept_without_its_realm() {
        assert_eq!(kept("https://reg:5000/v2/", r#"Basic realm="Registry Realm""#).as_deref(), Some("Basic"));
    }

    #[test]
    fn a_token_service_on_the_registry_is_kept_as_a_path() {
        let header = r#"Bearer realm="https://REG:5000/token?x=1",service="reg \"svc\"",scope="repository:a:pull""#;
        let kept = kept("https://reg:5000/v2/a/manifests/1", header).unwrap();
        assert_eq!(kept, r#"Bearer realm="/token?x=1",service="reg \"svc\"""#);
        // What the component reads back is what the registry said.
        let again = Challenge::parse(&kept).unwrap();
        assert_eq!((again.param("realm"), again.param("service")), (Some("/token?x=1"), Some(r#"reg "svc""#)));
        assert_eq!(kept_form(&Url::parse("https://reg:5000/v2/").unwrap(), &again), Some(kept));
    }

    #[test]
    fn a_token_service_elsewhere_or_another_scheme_is_not_kept() {
        assert_eq!(kept("https://reg/v2/", r#"Bearer realm="https://auth.reg/token""#), None);
        assert_eq!(kept("https://reg/v2/", r#"Bearer realm="http://reg/token""#), None);
        assert_eq!(kept("https://reg/v2/", r#"Bearer service="reg""#), None);
        assert_eq!(kept("https://reg/v2/", "Negotiate abc"), None);
    }

    #[test]
    fn learning_writes_only_changes_and_forgets_what_no_longer_holds() {
        let dir = std::env::temp_dir().join(format!("helm-oci-challenges-{}", std::process::id()));
        let file = dir.join("challenges.json");
        let request = Url::parse("https://Reg:5000/v2/").unwrap();
        let basic = Challenge::parse("Basic").unwrap();
        assert!(learn_in(&file, &request, &basic));
        assert!(!learn_in(&file, &request, &basic), "an unchanged challenge is not written again");
        assert_eq!(read(&file).get("https://reg:5000").map(String::as_str), Some("Basic"));
        let elsewhere = Challenge::parse(r#"Bearer realm="https://auth.io/token""#).unwrap();
        assert!(learn_in(&file, &request, &elsewhere));
        assert!(read(&file).is_empty());
        fs::write(&file, "not json").unwrap();
        assert!(read(&file).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
