//! Loading the component: compiled with Cranelift once, then reused from a `.cwasm` that
//! lives beside the executable, where only whoever installed helm-oci writes (the install
//! hook compiles it there). Compiled code is loaded as native code, so it is never taken
//! from a directory the component or a restored CI cache could write, such as Helm's cache.
//!
//! The file is keyed by the engine's compatibility hash (wasmtime version and settings)
//! and the component file's identity (size and modification time; a rebuild changes
//! both). A warm start only maps it: it neither reads nor hashes the 1 MB component. Where
//! the install directory cannot be written, the component is compiled for each run.
//!
//! The component and the host are built together: an instance whose exports do not fit
//! this host's WIT, or whose version is not the host's, is refused with one line that says
//! to reinstall.

use anyhow::{Context, Result};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::{env, fs};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});

/// The component ships beside the host binary.
const COMPONENT_FILE: &str = "helm-oci.wasm";

/// The engine: compiled code checks an epoch counter, so that a host thread can make a
/// busy component yield (to a signal, or past its deadline). No native unwind tables: they
/// only serve outside stack walkers, and registering one per function (and unregistering
/// it again) is a measurable part of every start and exit.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.native_unwind_info(false);
    Ok(Engine::new(&config)?)
}

/// Where helm-oci is installed: the executable's directory (`$HELM_PLUGIN_DIR/bin` when
/// run by Helm).
fn install_dir() -> Result<PathBuf> {
    let exe = env::current_exe().context("cannot locate the helm-oci executable")?;
    Ok(exe.parent().unwrap_or(Path::new(".")).to_path_buf())
}

fn component_path() -> Result<PathBuf> {
    Ok(install_dir()?.join(COMPONENT_FILE))
}

/// What to do about a component that does not belong to this host.
const REINSTALL: &str = "reinstall the plugin (or run host/build.sh)";

/// Instantiates the component and checks that it is this host's: its exports fit this WIT
/// and its version is this host's (one cheap call).
pub async fn instantiate<T: Send + 'static>(
    store: &mut Store<T>,
    component: &Component,
    linker: &Linker<T>,
) -> Result<Plugin> {
    let host = env!("CARGO_PKG_VERSION");
    let path = || component_path().map(|p| p.display().to_string()).unwrap_or_else(|_| COMPONENT_FILE.into());
    let misfit = || {
        format!("the component {} does not match this helm-oci {host} (built from another WIT?): {REINSTALL}", path())
    };
    let plugin = Plugin::instantiate_async(&mut *store, component, linker)
        .await
        .map_err(anyhow::Error::from)
        .with_context(misfit)?;
    let version = plugin.helm_oci_plugin_about().call_version(&mut *store).await?;
    anyhow::ensure!(
        version == host,
        "the component {} is version {version} but this helm-oci is {host}: {REINSTALL}",
        path()
    );
    Ok(plugin)
}

/// Loads the component, compiled on first use.
pub fn load(engine: &Engine) -> Result<Component> {
    let wasm_path = component_path()?;
    let dir = wasm_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let unreadable = || format!("cannot read the component {} (was helm-oci built?)", wasm_path.display());
    let stat = fs::metadata(&wasm_path).with_context(unreadable)?;
    let modified = stat.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    let mut engine_key = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_key);
    let name = format!("helm-oci-{:016x}-{:x}-{:x}.cwasm", engine_key.finish(), stat.len(), modified.as_nanos());
    let cwasm = dir.join(name);
    if cwasm.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash, into the install directory, renamed into place whole.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cwasm) } {
            return Ok(component);
        }
    }
    let wasm = fs::read(&wasm_path).with_context(unreadable)?;
    let compiled =
        engine.precompile_component(&wasm).map_err(anyhow::Error::from).context("compiling the component")?;
    let tmp = dir.join(format!(".{COMPONENT_FILE}.{}.tmp", std::process::id()));
    let kept = fs::write(&tmp, &compiled).and_then(|()| fs::rename(&tmp, &cwasm));
    if kept.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    // SAFETY: as above; these bytes come from `precompile_component` just now.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}
