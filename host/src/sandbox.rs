//! One sandboxed instance of the component per command: only the directories the command
//! names are preopened, and wasi:http requests reach only the registry the command names.

use crate::component::exports::helm_oci::plugin::registry::{PullOptions, PullResult, PushOptions, PushResult};
use crate::component::exports::helm_oci::plugin::types::Reference;
use crate::component::{self, Plugin};
use crate::output;
use anyhow::{Context, Result};
use http_body_util::BodyExt;
use std::path::PathBuf;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

/// What a command may touch.
#[derive(Default)]
pub struct Grants {
    /// Host directories, preopened at the same absolute path inside the guest.
    pub dirs: Vec<(PathBuf, FsPerms)>,
}

/// The registry hosts requests may go to, and whether plain HTTP is allowed.
#[derive(Default)]
struct NetPolicy {
    hosts: Vec<String>,
    plain_http: bool,
}

impl NetPolicy {
    fn allows(&self, uri: &http::Uri) -> bool {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.authority().map(|a| a.as_str()).unwrap_or("");
        (https || self.plain_http) && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

impl WasiHttpHooks for NetPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                    HttpError,
                >,
            > + Send,
    > {
        if !self.allows(request.uri()) {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    net: NetPolicy,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.net }
    }
}

/// A running instance of the component with its grants.
pub struct Session {
    store: Store<State>,
    plugin: Plugin,
}

impl Session {
    pub async fn start(grants: Grants) -> Result<Session> {
        let engine = component::engine()?;
        let component = component::load(&engine, &crate::paths::cache_home().join("oci"))?;
        let mut wasi = WasiCtxBuilder::new();
        // stderr carries the component's --debug trace; nothing else is inherited.
        wasi.inherit_stderr();
        for (dir, perms) in &grants.dirs {
            let guest = dir.to_str().with_context(|| format!("{} is not a UTF-8 path", dir.display()))?;
            wasi.preopened_dir(dir, guest, *perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open {}", dir.display()))?;
        }
        let state = State { wasi: wasi.build(), http: WasiHttpCtx::new(), table: ResourceTable::new(), net: NetPolicy::default() };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let mut store = Store::new(&engine, state);
        let plugin = Plugin::instantiate_async(&mut store, &component, &linker).await?;
        Ok(Session { store, plugin })
    }

    /// Lets requests reach one registry endpoint (over plain HTTP only if asked).
    pub fn allow_registry(&mut self, endpoint: &str, plain_http: bool) {
        let net = &mut self.store.data_mut().net;
        net.hosts.push(endpoint.to_string());
        net.plain_http |= plain_http;
    }

    pub async fn version(&mut self) -> Result<String> {
        Ok(self.plugin.helm_oci_plugin_about().call_version(&mut self.store).await?)
    }

    pub async fn parse_reference(&mut self, reference: &str) -> Result<Reference> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_parse_reference(&mut self.store, reference).await?.map_err(output::component_error)
    }

    pub async fn push(&mut self, options: &PushOptions) -> Result<PushResult> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_push(&mut self.store, options).await?.map_err(output::component_error)
    }

    pub async fn pull(&mut self, options: &PullOptions) -> Result<PullResult> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_pull(&mut self.store, options).await?.map_err(output::component_error)
    }
}
