//! Loading the component: compiled with Cranelift once, then reused from a `.cwasm` in the
//! Helm cache, keyed by the engine's compatibility hash (wasmtime version and settings) and
//! the component file's identity (size and modification time; a rebuild changes both). A
//! warm start only maps that file: it neither reads nor hashes the 1 MB component.

use anyhow::{Context, Result};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::{env, fs};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    exports: { default: async },
});

/// The component ships beside the host binary.
const COMPONENT_FILE: &str = "helm-oci.wasm";

pub fn engine() -> Result<Engine> {
    Ok(Engine::new(&Config::new())?)
}

/// Where the component is: beside the executable (`$HELM_PLUGIN_DIR/bin` when run by Helm).
fn component_path() -> Result<PathBuf> {
    let exe = env::current_exe().context("cannot locate the helm-oci executable")?;
    Ok(exe.parent().unwrap_or(Path::new(".")).join(COMPONENT_FILE))
}

/// Loads the precompiled component from the cache, compiling and caching it on first use.
pub fn load(engine: &Engine, cache_dir: &Path) -> Result<Component> {
    let wasm_path = component_path()?;
    let unreadable = || format!("cannot read the component {} (was helm-oci built?)", wasm_path.display());
    let stat = fs::metadata(&wasm_path).with_context(unreadable)?;
    let modified = stat.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
    let mut engine_key = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_key);
    let name = format!("component-{:016x}-{:x}-{:x}.cwasm", engine_key.finish(), stat.len(), modified.as_nanos());
    let cwasm = cache_dir.join(name);
    if cwasm.is_file() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash, into a cache only this tool writes, and renamed into place whole.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cwasm) } {
            return Ok(component);
        }
    }
    let wasm = fs::read(&wasm_path).with_context(unreadable)?;
    let compiled =
        engine.precompile_component(&wasm).map_err(anyhow::Error::from).context("compiling the component")?;
    fs::create_dir_all(cache_dir).with_context(|| format!("creating {}", cache_dir.display()))?;
    let tmp = cache_dir.join(format!(".{}.{}.tmp", COMPONENT_FILE, std::process::id()));
    fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &cwasm).with_context(|| format!("writing {}", cwasm.display()))?;
    // SAFETY: as above; we have just written this file from `precompile_component`.
    Ok(unsafe { Component::deserialize_file(engine, &cwasm) }?)
}
