//! What earlier runs learnt about each registry endpoint, so that a command starts as the
//! last one ended instead of finding out again at a round trip's cost:
//!
//! - the authentication challenge it sent. A command hands it to the component, whose first
//!   requests then answer it at once (Basic credentials, or a token from the registry's own
//!   token service) instead of going out bare to be refused. Only what cannot send a
//!   credential anywhere new is kept: `Basic`, or `Bearer` with a token service on the
//!   registry endpoint itself (GHCR, Harbor, ACR, Quay and distribution all have theirs
//!   there). A token service on another host is learnt afresh each run, as the sandbox
//!   grants it only when the registry's own answer names it.
//! - whether it chose HTTP/2, so that a command opens one connection ahead for all its
//!   requests instead of one per request it will have in flight.
//!
//! The file lives in Helm's cache beside the chart cache, out of the component's reach. It
//! is written only when something changed, and a stale entry costs no more than what it
//! was meant to save.

use crate::paths;
use helm_oci_headers::{Challenge, Url};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Default, Deserialize, PartialEq, Serialize)]
struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    challenge: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    http2: bool,
}

type Endpoints = BTreeMap<String, Endpoint>;

/// What the file said when the run started.
fn known(https: bool, authority: &str) -> Endpoint {
    static READ: OnceLock<Endpoints> = OnceLock::new();
    READ.get_or_init(|| read(&paths::endpoints_file())).get(&key(https, authority)).cloned().unwrap_or_default()
}

/// The challenge to hand the component for a registry endpoint (`host[:port]`), if one is
/// remembered.
pub fn challenge(endpoint: &str, plain_http: bool) -> Option<String> {
    known(!plain_http, endpoint).challenge
}

/// Whether the endpoint (`host[:port]`, over TLS) chose HTTP/2 last time.
pub fn http2(authority: &str) -> bool {
    known(true, authority).http2
}

/// Keeps what a registry's 401 answer to `request` says about how to authenticate. What
/// the run started knowing is not read or written again.
pub fn learn_challenge(request: &Url, challenge: &Challenge) {
    let kept = kept_form(request, challenge);
    if known(request.https, &request.authority).challenge != kept {
        update(&paths::endpoints_file(), &key(request.https, &request.authority), |e| e.challenge = kept);
    }
}

/// Keeps whether a TLS endpoint (`host:port`) chose HTTP/2, as `learn_challenge` does.
pub fn learn_http2(authority: &str, http2: bool) {
    if known(true, authority).http2 != http2 {
        update(&paths::endpoints_file(), &key(true, authority), |e| e.http2 = http2);
    }
}

/// Applies `change` to an endpoint's entry, and writes the file if that changed anything.
/// Best effort: a cache that cannot be written only means the next run finds out again.
/// Whether it was written.
fn update(file: &Path, key: &str, change: impl FnOnce(&mut Endpoint)) -> bool {
    // Runs in parallel (a CI job logging in to several registries at once) each read, change
    // and write the whole file: without the lock, each would drop what the others wrote.
    let _held = match lock(file) {
        Lock::Held(file) => Some(file),
        Lock::Unsupported => None,
        Lock::Unavailable => return false,
    };
    let mut all = read(file);
    let before = all.get(key).cloned().unwrap_or_default();
    let mut after = before.clone();
    change(&mut after);
    if after == before {
        return false;
    }
    if after == Endpoint::default() {
        all.remove(key);
    } else {
        all.insert(key.to_string(), after);
    }
    write(file, &all).is_ok()
}

/// `scheme://host:port`, the port always written, the host in lower case.
fn key(https: bool, authority: &str) -> String {
    let authority = authority.to_ascii_lowercase();
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && (!host.contains(':') || host.ends_with(']'))
    });
    let (scheme, port) = if https { ("https", 443) } else { ("http", 80) };
    if has_port { format!("{scheme}://{authority}") } else { format!("{scheme}://{authority}:{port}") }
}

/// What is kept of a challenge: `Basic`, or `Bearer` with its realm as a path on the
/// registry (so that it can only ever name the registry) and its service; None for
/// anything else.
fn kept_form(request: &Url, challenge: &Challenge) -> Option<String> {
    if challenge.is("basic") {
        return Some("Basic".to_string());
    }
    let realm = request.join(challenge.param("realm").filter(|_| challenge.is("bearer"))?)?;
    // A path starting `//` would read back as another host's.
    if realm.https != request.https || !realm.is_on(&request.authority) || realm.path.starts_with("//") {
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

/// The lock beside the file, as `lock` finds it.
enum Lock {
    /// Held until dropped. The kernel drops it with its holder, so a killed run leaves
    /// nothing stale.
    Held(fs::File),
    /// The file system has no locks (some network ones): the update goes ahead unguarded.
    Unsupported,
    /// Not to be had: the directory cannot be written, or another run holds the lock longer
    /// than reading and writing a small file takes (a stopped process). The entry waits for
    /// a later run.
    Unavailable,
}

/// Takes the lock file beside `file`. The run waits for it on its only thread, so not for
/// long.
fn lock(file: &Path) -> Lock {
    let dir = file.parent().unwrap_or(Path::new("."));
    let opened = fs::create_dir_all(dir).and_then(|()| {
        fs::File::options().create(true).truncate(false).write(true).open(file.with_extension("json.lock"))
    });
    let Ok(lock) = opened else { return Lock::Unavailable };
    let deadline = Instant::now() + Duration::from_millis(250);
    loop {
        match lock.try_lock() {
            Ok(()) => return Lock::Held(lock),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
            Err(fs::TryLockError::WouldBlock) => return Lock::Unavailable,
            Err(fs::TryLockError::Error(_)) => return Lock::Unsupported,
        }
    }
}

/// What the file holds; nothing if it is missing or unreadable.
fn read(file: &Path) -> Endpoints {
    fs::read(file).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Replaces the file whole, so that concurrent runs never read half of one.
fn write(file: &Path, all: &Endpoints) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    // Not the process id alone: containers sharing a cache repeat process ids.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let temp = dir.join(format!(".endpoints.{}-{nanos}.tmp", std::process::id()));
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
        // On the registry, but a path that would read back as another host's.
        assert_eq!(kept("https://reg/v2/", r#"Bearer realm="https://reg//evil.example/token""#), None);
    }

    #[test]
    fn an_endpoint_is_named_with_its_port() {
        assert_eq!(key(true, "GHCR.io"), "https://ghcr.io:443");
        assert_eq!(key(true, "ghcr.io:443"), "https://ghcr.io:443");
        assert_eq!(key(false, "reg:5000"), "http://reg:5000");
        assert_eq!(key(true, "[::1]"), "https://[::1]:443");
        assert_eq!(key(true, "[::1]:5000"), "https://[::1]:5000");
    }

    #[test]
    fn only_changes_are_written_and_an_empty_entry_goes() {
        let dir = std::env::temp_dir().join(format!("helm-oci-endpoints-{}", std::process::id()));
        let file = dir.join("endpoints.json");
        let basic = |e: &mut Endpoint| e.challenge = Some("Basic".into());
        assert!(update(&file, "https://reg:443", basic));
        assert!(!update(&file, "https://reg:443", basic), "an unchanged entry is not written again");
        assert!(update(&file, "https://reg:443", |e| e.http2 = true));
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains(r#""challenge": "Basic""#) && text.contains(r#""http2": true"#), "{text}");
        assert!(update(&file, "https://reg:443", |e| *e = Endpoint::default()));
        assert!(read(&file).is_empty());
        fs::write(&file, "not json").unwrap();
        assert!(read(&file).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parallel_updates_keep_every_entry() {
        let dir = std::env::temp_dir().join(format!("helm-oci-endpoints-parallel-{}", std::process::id()));
        let file = dir.join("endpoints.json");
        let writers: Vec<_> = (0..16)
            .map(|i| {
                let file = file.clone();
                thread::spawn(move || assert!(update(&file, &format!("https://reg{i}:443"), |e| e.http2 = true)))
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!(read(&file).len(), 16);
        fs::remove_dir_all(&dir).unwrap();
    }
}
