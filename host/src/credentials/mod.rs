//! Registry credentials, where Helm keeps them: Helm's registry config first, then
//! Docker's, each in Docker's `config.json` format, with `credHelpers` and `credsStore`
//! answered by `docker-credential-<name>` programs (`helper`). A config that names no store,
//! helper or login uses the platform's default native store if one is installed, as Helm's
//! registry client does. Only the host touches these files and runs those programs; the
//! component receives the one credential a command needs.

mod helper;

use crate::component::exports::helm_oci::plugin::types::{BasicCredential, Credential};
use crate::output::stream::errln;
use crate::paths;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::fs;
use std::io::Write;
use std::path::Path;

/// Docker's name for Docker Hub in credential stores.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// What a helper answers as the username when the secret is an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// The key a registry's credentials are stored under.
pub fn key_for(registry: &str) -> String {
    match host_of(registry).as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => registry.to_string(),
    }
}

/// A stored key reduced to its host, since Docker's keys may carry a scheme and a path.
fn host_of(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    rest.split('/').next().unwrap_or_default().to_ascii_lowercase()
}

fn same_registry(stored: &str, key: &str) -> bool {
    host_of(stored) == host_of(key)
}

/// The value stored under `key` itself, else under another spelling of its registry
/// (`https://HOST`, `HOST/v2/`), as oras-go and Docker look: a stale `https://HOST` entry
/// left by an old `docker login` never wins over the current `HOST` one.
fn stored_for<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| same_registry(k, key)).map(|(_, v)| v))
}

/// A username and password given for one run (flags, `helm repo add`, Helm's getter), taken
/// as Helm's registry client takes them: only when both are non-empty (CI passes unset
/// secrets as ""); otherwise the stored login is used.
pub fn given(username: Option<&str>, password: Option<&str>) -> Option<Credential> {
    match (username, password) {
        (Some(username), Some(password)) if !username.is_empty() && !password.is_empty() => {
            Some(basic(username.to_string(), password.to_string()))
        }
        _ => None,
    }
}

/// The credential for a registry, looking where Helm looks, in Helm's order. A store that
/// fails to answer (a helper that fails or is missing, an entry that does not decode) gives
/// `Unavailable`: Helm's client asks its stores only when a registry wants credentials, so
/// the failure is said only then, and anonymous registries still work. A helper is waited
/// on no longer than the command's timeout (`timeout_ms`), all helpers together.
pub fn find(registry: &str, debug: bool, timeout_ms: Option<u64>) -> Result<Option<Credential>> {
    let key = key_for(registry);
    let within = helper::Limit(timeout_ms);
    let found = match find_in(&paths::registry_config(), &key, within)? {
        Some(credential) => Some(credential),
        // Docker's config is other tools' too: as in Helm's registry client, one that cannot
        // be read gives no credential rather than stopping every command.
        None => find_in(&paths::docker_config(), &key, within).or_else(|e| {
            if !e.is::<Unusable>() {
                return Err(e);
            }
            if debug {
                errln!("[debug] passing over Docker's config: {e:#}");
            }
            Ok(None)
        })?,
    };
    if let (Some(Credential::Unavailable(why)), true) = (&found, debug) {
        errln!("[debug] no credential for {registry} (said if the registry asks for one): {why}");
    }
    Ok(found)
}

/// A config that cannot be used as it is: unreadable, not JSON, an entry that cannot be
/// decoded, or a credential helper it names that is not installed.
#[derive(Debug)]
struct Unusable(String);

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unusable {}

/// The credential a config file holds for a registry; a file that cannot be read or parsed
/// is an error, an entry that cannot be answered an `Unavailable` credential.
fn find_in(file: &Path, key: &str, within: helper::Limit) -> Result<Option<Credential>> {
    let config = read(file)?.unwrap_or_else(|| json!({}));
    match entry(&config, file, key, within) {
        // The run stops; it does not go on without a credential.
        Err(e) if e.is::<crate::sandbox::Interrupted>() => Err(e),
        Err(e) => Ok(Some(Credential::Unavailable(format!("{e:#}")))),
        found => found,
    }
}

fn entry(config: &Value, file: &Path, key: &str, within: helper::Limit) -> Result<Option<Credential>> {
    // Where a helper is named, it alone holds the logins, as in oras and Docker: an `auths`
    // entry left from before is no login (`logout` erased the helper's).
    if let Some(store) = store_for(config, key) {
        return helper_get(store.helper(), key, within);
    }
    let Some(auths) = config.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let Some(entry) = stored_for(auths, key) else { return Ok(None) };
    // Field names match in any case (`Auth`, `Username`), as Go's decoder matches them.
    let field = |name: &str| {
        entry
            .get(name)
            .or_else(|| entry.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
    };
    let text = |name| field(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    if let Some(token) = text("identitytoken") {
        return Ok(Some(Credential::IdentityToken(token.to_string())));
    }
    let (username, password) = match text("auth") {
        Some(auth) => {
            // Line breaks anywhere are skipped, as Go's decoder skips them: `base64` wraps a
            // long token's encoding at 76 columns.
            let unwrapped: String = auth.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(unwrapped.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => {
                    let why = format!("{}: the auth entry for {key} is not base64 of user:password", file.display());
                    return Err(Unusable(why).into());
                }
            }
        }
        None => match (text("username"), text("password")) {
            (Some(u), Some(p)) => (u.to_string(), p.to_string()),
            _ => return Ok(None),
        },
    };
    Ok(credential(username, password))
}

/// A stored username and secret as a credential; none if both are empty (or the secret of
/// `<token>` is), as oras-go (and so Helm) reads an empty credential: the next place is
/// looked in.
fn credential(username: String, password: String) -> Option<Credential> {
    let empty = password.is_empty() && (username.is_empty() || username == TOKEN_USERNAME);
    (!empty).then(|| basic(username, password))
}

/// A username and secret as a credential, `<token>` meaning the secret is an identity token.
pub fn basic(username: String, password: String) -> Credential {
    if username == TOKEN_USERNAME {
        Credential::IdentityToken(password)
    } else {
        Credential::Basic(BasicCredential { username, password })
    }
}

/// Which credential helper holds a registry's login under this config, if any.
enum Store {
    /// `credHelpers[registry]`, else `credsStore`.
    Helper(String),
    /// The platform's default native store, for a config that names none (`detected`).
    Detected(String),
}

impl Store {
    /// The helper's name, `docker-credential-<name>`.
    fn helper(&self) -> &str {
        match self {
            Store::Helper(name) | Store::Detected(name) => name,
        }
    }
}

fn store_for(config: &Value, key: &str) -> Option<Store> {
    fn named(value: Option<&Value>) -> Option<&str> {
        value.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    // An empty helper name is none, as oras-go reads it: `credsStore` then holds the login.
    // A helper is named for the registry's own key alone (oras-go's `GetCredentialHelper`),
    // not for other spellings of the host as `auths` entries are.
    let specific = named(config.get("credHelpers").and_then(Value::as_object).and_then(|h| h.get(key)));
    match specific.or_else(|| named(config.get("credsStore"))) {
        Some(helper) => Some(Store::Helper(helper.to_string())),
        None if !auth_configured(config) => detected().clone().map(Store::Detected),
        None => None,
    }
}

/// Whether a config says anything of logins: a store, a helper or an `auths` entry
/// (oras-go's `IsAuthConfigured`). One that does not is given the detected default store.
fn auth_configured(config: &Value) -> bool {
    let filled = |name| config.get(name).and_then(Value::as_object).is_some_and(|o| !o.is_empty());
    config.get("credsStore").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
        || filled("credHelpers")
        || filled("auths")
}

/// The platform's default native store as Helm's registry client detects it on Linux
/// (oras-go's `DetectDefaultNativeStore`): `pass` where the `pass` program is installed,
/// else `secretservice`, and only if its `docker-credential-` helper is on PATH. Looked up
/// once a run, however many configs ask.
fn detected() -> &'static Option<String> {
    static DETECTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DETECTED.get_or_init(|| {
        let store = if helper::on_path("pass") { "pass" } else { "secretservice" };
        helper::on_path(&format!("docker-credential-{store}")).then(|| store.to_string())
    })
}

fn helper_get(helper: &str, key: &str, within: helper::Limit) -> Result<Option<Credential>> {
    let out = helper::run(helper, "get", key, within)?;
    if !out.succeeded {
        if out.not_found() {
            return Ok(None);
        }
        bail!("docker-credential-{helper} get failed: {}", out.complaint());
    }
    let answer: Map<String, Value> = serde_json::from_slice(&out.stdout)
        .ok()
        .with_context(|| format!("docker-credential-{helper} get answered something that is not a JSON object"))?;
    // Field names in any case, as Go's decoder (and so Helm and Docker) matches them.
    let field = |name: &str| {
        let value = answer.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str());
        value.unwrap_or_default().to_string()
    };
    Ok(credential(field("Username"), field("Secret")))
}

/// Stores a login in Helm's registry config, or in the helper that file names (waited on no
/// longer than what is left of `timeout_ms` for helpers). A detected default store is then named in the file as
/// `credsStore`, as Helm's first login does.
pub fn store(registry: &str, username: &str, password: &str, timeout_ms: Option<u64>) -> Result<()> {
    let file = paths::registry_config();
    // The directory first, so that a first login holds the lock too.
    let _ = config_dir(&file);
    let _held = lock(&file);
    let key = key_for(registry);
    let mut config = read(&file)?.unwrap_or_else(|| json!({}));
    if let Some(store) = store_for(&config, &key) {
        let helper = store.helper();
        let input = json!({ "ServerURL": key, "Username": username, "Secret": password }).to_string();
        let out = helper::run(helper, "store", &input, helper::Limit(timeout_ms))?;
        if !out.succeeded {
            bail!("docker-credential-{helper} store failed: {}", out.complaint());
        }
        if matches!(store, Store::Detected(_)) {
            let Some(object) = config.as_object_mut() else { bail!("{} is not a JSON object", file.display()) };
            object.insert("credsStore".to_string(), json!(helper));
            write(&file, &config)?;
        }
        return Ok(());
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let auths = auths_of(&mut config, &file)?;
    auths.retain(|k, _| !same_registry(k, &key));
    auths.insert(key, json!({ "auth": auth }));
    write(&file, &config)
}

/// What a logout found to remove.
pub enum Removed {
    Login,
    /// No login was stored: not in the file, and no helper holds the logins.
    Nothing,
    /// The helper that holds the logins had none for the registry.
    NotInHelper(String),
}

/// Removes a login.
pub fn remove(registry: &str) -> Result<Removed> {
    let file = paths::registry_config();
    let _held = lock(&file);
    let key = key_for(registry);
    let (mut config, found) = match read(&file)? {
        Some(config) => (config, true),
        None => (json!({}), false),
    };
    let mut removed = Removed::Nothing;
    if let Some(store) = store_for(&config, &key) {
        let helper = store.helper();
        let out = helper::run(helper, "erase", &key, helper::Limit(None))?;
        if !out.succeeded && !out.not_found() {
            bail!("docker-credential-{helper} erase failed: {}", out.complaint());
        }
        removed = if out.succeeded { Removed::Login } else { Removed::NotInHelper(helper.to_string()) };
    }
    // An `auths` entry goes too, as Docker's logout removes it beside the helper's.
    if !found {
        return Ok(removed);
    }
    let auths = auths_of(&mut config, &file)?;
    let before = auths.len();
    auths.retain(|k, _| !same_registry(k, &key));
    if auths.len() == before {
        return Ok(removed);
    }
    write(&file, &config)?;
    Ok(Removed::Login)
}

fn auths_of<'a>(config: &'a mut Value, file: &Path) -> Result<&'a mut Map<String, Value>> {
    let Some(object) = config.as_object_mut() else { bail!("{} is not a JSON object", file.display()) };
    match object.entry("auths").or_insert_with(|| json!({})) {
        Value::Object(auths) => Ok(auths),
        _ => bail!("{}: \"auths\" is not a JSON object", file.display()),
    }
}

/// A config file's JSON: its first value, as Go's decoder (and so Helm and Docker) reads
/// it, whatever follows.
fn read(file: &Path) -> Result<Option<Value>> {
    match fs::read(file) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        Ok(bytes) => serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<Value>()
            .next()
            .transpose()
            .with_context(|| reading(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| reading(file)),
    }
}

/// What a config that cannot be read or parsed is reported as.
fn reading(file: &Path) -> Unusable {
    Unusable(format!("reading {}", file.display()))
}

/// Holds the registry config for one read, change and write, so that logins and logouts
/// run at once (a CI job logging in to several registries in parallel) all land: a lock
/// file beside it (where a symlinked config leads), which the system releases when the
/// process ends, however it ends. Best effort: where it cannot be made (a config directory
/// that is not there, or read-only, for a logout or a login kept by a credential helper,
/// which may write nothing) the run goes on without it.
fn lock(file: &Path) -> Option<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = link_target(file).ok()?;
    let (dir, name) = (file.parent()?, file.file_name()?.to_str()?);
    let path = dir.join(format!(".{name}.lock"));
    let held = fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).ok()?;
    held.lock().ok()?;
    Some(held)
}

/// The directory the config is written in (made, private, if it is not there), and the
/// config's file name there.
fn config_dir(file: &Path) -> Result<(std::path::PathBuf, String)> {
    use std::os::unix::fs::DirBuilderExt;
    let file = link_target(file)?;
    let dir = file.parent().context("the registry config has no directory")?;
    // Private, as oras-go (and so Helm) makes the directories it creates for it.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("config").to_string();
    Ok((dir.to_path_buf(), name))
}

/// Replaces the file atomically with a private (0600) copy, so a crash or a concurrent
/// reader never sees half a file and no other user can read the secrets. A symlinked
/// config is written where the link points, as Docker does, and the link stays. Called
/// under `lock` where one could be taken: a temp copy another run left (it was killed)
/// holds secrets, and goes.
fn write(file: &Path, config: &Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let (dir, name) = config_dir(file)?;
    let file = &dir.join(&name);
    let stale = |entry: &fs::DirEntry| {
        let found = entry.file_name();
        let found = found.to_string_lossy();
        found
            .strip_prefix(&format!(".{name}."))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    };
    for left in fs::read_dir(&dir).into_iter().flatten().flatten().filter(stale) {
        let _ = fs::remove_file(left.path());
    }
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut out = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        out.write_all(serde_json::to_string_pretty(config)?.as_bytes())?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        fs::rename(&temp, file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing {}", file.display()))
}

/// Where a path ends up once its symlinks (a chain of them, maybe dangling) are followed.
fn link_target(file: &Path) -> Result<std::path::PathBuf> {
    let mut path = file.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&path) {
            Ok(target) => path = path.parent().map_or(target.clone(), |dir| dir.join(&target)),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput || e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(path);
            }
            Err(e) => return Err(e).with_context(|| format!("reading the link {}", path.display())),
        }
    }
    bail!("{}: too many levels of symbolic links", file.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_has_one_key() {
        assert_eq!(key_for("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(key_for("registry-1.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(key_for("localhost:5000"), "localhost:5000");
    }

    #[test]
    fn stored_keys_match_by_host() {
        assert!(same_registry("https://ghcr.io", "ghcr.io"));
        assert!(same_registry("https://index.docker.io/v1/", DOCKER_HUB_KEY));
        assert!(!same_registry("ghcr.io:5000", "ghcr.io"));
    }

    #[test]
    fn token_username_means_identity_token() {
        assert!(matches!(basic("<token>".into(), "t".into()), Credential::IdentityToken(t) if t == "t"));
        assert!(matches!(basic("u".into(), "p".into()), Credential::Basic(_)));
    }
}
