//! The helm-oci component: everything that knows about charts and registries.
//!
//! The host grants directories and registry hosts; this crate does the rest through
//! standard WASI 0.2 only (filesystem, http, io, random, clocks). Each export below is a
//! thin call into `api`, which runs a command.
//!
//! Layers, each using only those below it: `api` (WIT <-> domain), `commands`, `cache`,
//! `oci`, `chart`, `version`, `net` (the only user of wasi:http and wasi:io), `fs`.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "plugin" });
}

mod api;
mod cache;
mod chart;
mod commands;
mod digest;
mod error;
mod fs;
mod gojson;
mod net;
mod oci;
#[cfg(test)]
mod properties;
mod timestamp;
mod trace;
mod version;

#[cfg(target_arch = "wasm32")]
mod exports {
    use crate::api;
    use crate::bindings::exports::helm_oci::plugin::about;
    use crate::bindings::exports::helm_oci::plugin::cache::{
        self, CacheEntry, ExportOptions, Exported, Pruned, Removed, SaveOptions, Saved,
    };
    use crate::bindings::exports::helm_oci::plugin::dependencies::{
        self, ChartRepository, Declared, DependenciesResult, DependencyOptions,
    };
    use crate::bindings::exports::helm_oci::plugin::discovery::{
        self, IndexOptions, Listing, PublishedIndex, RepositoryIndex, SearchOptions, SearchResult, TagList, TagsOptions,
    };
    use crate::bindings::exports::helm_oci::plugin::promotion::{self, Copied, CopyOptions, TagOptions, Tagged};
    use crate::bindings::exports::helm_oci::plugin::registry::{
        Guest, PullOptions, PullResult, PushCachedOptions, PushOptions, PushResult,
    };
    use crate::bindings::exports::helm_oci::plugin::types::{ChartLink, Error, LinkOut, Reference, RemoteOptions};

    struct Component;

    impl Guest for Component {
        fn parse_reference(reference: String) -> Result<Reference, Error> {
            api::parse_reference(&reference)
        }

        fn parse_destination(destination: String) -> Result<Reference, Error> {
            api::parse_destination(&destination)
        }

        fn registry_endpoint(registry: String) -> Result<String, Error> {
            api::registry_endpoint(&registry)
        }

        fn login(registry: String, connection: RemoteOptions) -> Result<(), Error> {
            api::login(&registry, connection)
        }

        fn push(options: PushOptions) -> Result<PushResult, Error> {
            api::push(options)
        }

        fn chart_links(chart: String, links: Vec<ChartLink>) -> Result<Vec<LinkOut>, Error> {
            api::chart_links(chart, links)
        }

        fn pull(options: PullOptions) -> Result<PullResult, Error> {
            api::pull(options)
        }

        fn push_cached(options: PushCachedOptions) -> Result<PushResult, Error> {
            api::push_cached(options)
        }
    }

    impl discovery::Guest for Component {
        fn tags(options: TagsOptions) -> Result<TagList, Error> {
            api::tags(options)
        }

        fn search(options: SearchOptions) -> Result<SearchResult, Error> {
            api::search(options)
        }

        fn chart_index(options: IndexOptions) -> Result<RepositoryIndex, Error> {
            api::chart_index(options)
        }

        fn publish_index(options: Listing) -> Result<PublishedIndex, Error> {
            api::publish_index(options)
        }
    }

    impl cache::Guest for Component {
        fn save(options: SaveOptions) -> Result<Saved, Error> {
            api::save(options)
        }

        fn list(cache: String) -> Result<Vec<CacheEntry>, Error> {
            api::list(&cache)
        }

        fn export(options: ExportOptions) -> Result<Exported, Error> {
            api::export(options)
        }

        fn remove(cache: String, reference: Reference) -> Result<Removed, Error> {
            api::remove(&cache, &reference)
        }

        fn prune(cache: String) -> Result<Pruned, Error> {
            api::prune(&cache)
        }
    }

    impl promotion::Guest for Component {
        fn tag(options: TagOptions) -> Result<Tagged, Error> {
            api::promotion::tag(options)
        }

        fn copy(options: CopyOptions) -> Result<Copied, Error> {
            api::promotion::copy(options)
        }
    }

    impl dependencies::Guest for Component {
        fn read(chart_dir: String, repositories: Vec<ChartRepository>) -> Result<Declared, Error> {
            api::dependencies::read(&chart_dir, repositories)
        }

        fn update(options: DependencyOptions) -> Result<DependenciesResult, Error> {
            api::dependencies::update(options)
        }

        fn build(options: DependencyOptions) -> Result<DependenciesResult, Error> {
            api::dependencies::build(options)
        }
    }

    impl about::Guest for Component {
        fn version() -> String {
            env!("CARGO_PKG_VERSION").to_string()
        }
    }

    crate::bindings::export!(Component with_types_in crate::bindings);
}
