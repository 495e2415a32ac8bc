//! Where Helm keeps things, from the environment Helm gives plugins (Helm 2's `HELM_HOME`
//! included) or, standalone, Helm's XDG defaults.

use std::env;
use std::path::PathBuf;

fn var(name: &str) -> Option<PathBuf> {
    env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn home() -> PathBuf {
    var("HOME").unwrap_or_else(|| PathBuf::from("/"))
}

/// Helm passes `--debug` to plugins as `HELM_DEBUG` ("true" in Helm 3 and 4, "1" in Helm 2).
pub fn helm_debug() -> bool {
    matches!(env::var("HELM_DEBUG").as_deref(), Ok("1" | "true" | "TRUE" | "True"))
}

/// Set for plugins by Helm 2 alone (its `SetupPluginEnv`); Helm 3 and 4 set neither.
const HELM2_PLUGIN_ENV: &[&str] = &["HELM_PATH_STARTER", "HELM_PATH_REPOSITORY_FILE"];

/// Whether Helm 2 runs this plugin, as its plugin environment says.
pub fn run_by_helm_2() -> bool {
    HELM2_PLUGIN_ENV.iter().any(|name| env::var_os(name).is_some())
}

/// Under Helm 2, what Helm 2's variable says, then Helm 3's; else Helm 3's alone. Each
/// Helm's variables left in the environment by the other (Helm 3.0-3.3 pass plugins no
/// `HELM_CONFIG_HOME` to put before a leftover `HELM_HOME`) do not move its files.
fn by_helm(helm_3: Option<PathBuf>, helm_2: Option<PathBuf>) -> Option<PathBuf> {
    if run_by_helm_2() { helm_2.or(helm_3) } else { helm_3 }
}

/// `$HELM_CONFIG_HOME`, Helm 2's `$HELM_HOME`, or `$XDG_CONFIG_HOME/helm`.
fn config_home() -> PathBuf {
    by_helm(var("HELM_CONFIG_HOME"), var("HELM_HOME"))
        .or_else(|| var("XDG_CONFIG_HOME").map(|x| x.join("helm")))
        .unwrap_or_else(|| home().join(".config").join("helm"))
}

/// `$HELM_CACHE_HOME`, Helm 2's `$HELM_HOME/cache`, else `$XDG_CACHE_HOME/helm` or `~/.cache/helm`.
fn cache_home() -> PathBuf {
    by_helm(var("HELM_CACHE_HOME"), var("HELM_HOME").map(|h| h.join("cache")))
        .or_else(|| var("XDG_CACHE_HOME").map(|x| x.join("helm")))
        .unwrap_or_else(|| home().join(".cache").join("helm"))
}

/// helm-oci's chart cache, an OCI image layout: `<cache home>/oci`.
pub fn cache_dir() -> PathBuf {
    cache_home().join("oci")
}

/// What earlier runs learnt about each registry endpoint, beside the chart cache but not in
/// it, where the component cannot write: `<cache home>/helm-oci/endpoints.json`.
pub fn endpoints_file() -> PathBuf {
    cache_home().join("helm-oci").join("endpoints.json")
}

/// Helm's registry credentials: `$HELM_REGISTRY_CONFIG`, else `<config home>/registry/config.json`.
pub fn registry_config() -> PathBuf {
    var("HELM_REGISTRY_CONFIG").unwrap_or_else(|| config_home().join("registry").join("config.json"))
}

/// Helm's chart repositories (`helm repo add`): `$HELM_REPOSITORY_CONFIG` (Helm 3 and 4),
/// `$HELM_PATH_REPOSITORY_FILE` (Helm 2), else `<config home>/repositories.yaml`.
pub fn repository_config() -> PathBuf {
    by_helm(var("HELM_REPOSITORY_CONFIG"), var("HELM_PATH_REPOSITORY_FILE"))
        .unwrap_or_else(|| config_home().join("repositories.yaml"))
}

/// The registries configuration (mirrors, repository lists): `<config home>/oci/registries.yaml`.
pub fn registries_config() -> PathBuf {
    config_home().join("oci").join("registries.yaml")
}

/// Docker's credentials, which Helm falls back to: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn docker_config() -> PathBuf {
    var("DOCKER_CONFIG").unwrap_or_else(|| home().join(".docker")).join("config.json")
}
