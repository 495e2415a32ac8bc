//! The helm-oci component: everything that knows about charts and registries.
//!
//! The host grants directories and registry hosts; this crate does the rest through
//! standard WASI 0.2 only (filesystem, http, random, clocks).
//!
//! Natively (for unit tests) the exports are left out; the logic modules are the same.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "plugin" });
}

mod auth;
mod chart;
mod clock;
mod digest;
mod error;
mod fsx;
mod http;
mod manifest;
mod pull;
mod push;
mod reference;
mod registry;
mod retry;
mod timefmt;
mod trace;

#[cfg(target_arch = "wasm32")]
use bindings::exports::helm_oci::plugin::{about, registry as api};
pub use bindings::exports::helm_oci::plugin::types::{
    BasicCredential, ChartSummary, Credential, DigestMismatch, Error, Reference, RegistryError,
    RemoteOptions,
};

struct Component;

#[cfg(target_arch = "wasm32")]
impl api::Guest for Component {
    fn parse_reference(reference: String) -> Result<Reference, Error> {
        reference::parse(&reference).map(Into::into)
    }

    fn registry_endpoint(registry: String) -> Result<String, Error> {
        reference::endpoint(&registry)
    }

    fn login(registry: String, connection: RemoteOptions) -> Result<(), Error> {
        let endpoint = reference::endpoint(&registry)?;
        registry::Client::for_endpoint(&endpoint, &connection).ping()
    }

    fn push(options: api::PushOptions) -> Result<api::PushResult, Error> {
        let with_credential = options.connection.credential.is_some();
        push::run(options).map_err(|e| auth::explain(e, with_credential))
    }

    fn pull(options: api::PullOptions) -> Result<api::PullResult, Error> {
        let with_credential = options.connection.credential.is_some();
        pull::run(options).map_err(|e| auth::explain(e, with_credential))
    }
}

#[cfg(target_arch = "wasm32")]
impl about::Guest for Component {
    fn version() -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
