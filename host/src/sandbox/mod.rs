//! One sandboxed instance of the component per command: only the directories the command
//! names are preopened, and wasi:http requests reach only the registry the command names,
//! plus the token service and redirect targets that registry hands out (`policy`).

mod interrupt;
mod policy;

pub use interrupt::{Interrupted, Stopping, came as signal_came, record as record_signals};

use crate::component::exports::helm_oci::plugin::cache::{
    CacheEntry, ExportOptions, Exported, Pruned, Removed, SaveOptions, Saved,
};
use crate::component::exports::helm_oci::plugin::dependencies::{
    ChartRepository, Declared, DependenciesResult, DependencyOptions,
};
use crate::component::exports::helm_oci::plugin::discovery::{
    IndexOptions, Listing, PublishedIndex, RepositoryIndex, SearchOptions, SearchResult, TagList, TagsOptions,
};
use crate::component::exports::helm_oci::plugin::promotion::{Copied, CopyOptions, TagOptions, Tagged};
use crate::component::exports::helm_oci::plugin::registry::{
    PullOptions, PullResult, PushCachedOptions, PushOptions, PushResult,
};
use crate::component::exports::helm_oci::plugin::types::{ChartLink, LinkOut, Reference, RemoteOptions};
use crate::component::{self, Plugin};
use crate::transport::{Advice, IoFuture, TlsFlags, Transport};
use crate::{learnt, output};
use anyhow::{Context, Result};
use policy::{Access, Verdict};
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

/// How a command reaches its registry.
#[derive(Clone)]
pub struct Reach {
    pub plain_http: bool,
    /// The command's TLS flags: for this registry (unless it has its own), and for hosts
    /// with no settings of their own (those a registry's answer names get the registry's).
    pub tls: TlsFlags,
    /// This registry's own TLS settings: a chart repository's, as `helm repo add` set it up.
    pub own_tls: Option<TlsFlags>,
    /// Report each connection opened.
    pub debug: bool,
    /// Connections to open before the component asks: as many as it will use at once.
    pub ahead: usize,
    /// Where the user sets what a failed handshake asks for.
    pub advice: Advice,
    /// The command's `--timeout` in milliseconds (none: no limit). It bounds the component's
    /// calls, and the credential helpers (all of a command's together: see `helper::Limit`).
    pub timeout_ms: Option<u64>,
}

/// What a command may touch.
#[derive(Clone, Default)]
pub struct Grants {
    /// Host directories, preopened at the same absolute path inside the guest.
    pub dirs: Vec<(PathBuf, FsPerms)>,
    /// Directories below those where the component also keeps temp files (a chart's
    /// `charts/` while its dependencies are staged), cleaned like them when a run is stopped.
    pub temp_dirs: Vec<PathBuf>,
}

struct NetPolicy {
    access: Arc<Mutex<Access>>,
    transport: Option<Arc<Transport>>,
}

impl WasiHttpHooks for NetPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send> {
        let verdict = self.access.lock().expect("access lock").judge(request.uri());
        let (Some(verdict), Some(transport)) = (verdict, self.transport.clone()) else {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        };
        // Credentials belong to the registry and its token service, never to a storage host.
        if matches!(verdict, Verdict::Redirect) {
            request.headers_mut().remove(http::header::AUTHORIZATION);
        }
        let access = self.access.clone();
        Box::new(async move {
            let uri = request.uri().clone();
            let (response, io) = transport.send(request, options).await?;
            let (parts, body) = response.into_parts();
            let learnt = access.lock().expect("access lock").learn(&uri, &verdict, &parts);
            // A registry's token service and storage hosts are reached as the registry is.
            for named in &learnt.named {
                transport.share_tls(&uri, named.https, &named.authority);
            }
            if let Some((request, challenge)) = learnt.challenge {
                learnt::learn_challenge(&request, &challenge);
            }
            Ok((http::Response::from_parts(parts, body), io))
        })
    }
}

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    net: NetPolicy,
    limits: StoreLimits,
}

/// The most memory the component may use: a chart is loaded within Helm's 100 MiB caps,
/// and a component asking for more is broken or being fed something hostile.
const MEMORY_MAX: usize = 1 << 30;
/// How often a busy component yields to the host.
const EPOCH: Duration = Duration::from_millis(10);
/// How long past its own deadline a component that does not stop is given.
const GRACE: Duration = Duration::from_secs(2);
/// The chart cache's directory of temp files, besides its root (the component's
/// `cache::INCOMING`).
const CACHE_INCOMING: &str = "incoming";

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
    /// Never torn down: the process ends with its command, and dropping an instance
    /// (unmapping its memory and code, freeing its tables) would add about a millisecond
    /// to every command for nothing.
    store: ManuallyDrop<Store<State>>,
    plugin: Plugin,
    /// This run's id, in the names of the temp files the component makes.
    run: String,
    /// The directories the component may write, where its temp files would be.
    writable: Vec<PathBuf>,
}

impl Session {
    /// Instantiates the component with exactly `grants`: those directories, that network.
    pub async fn start(grants: Grants) -> Result<Session> {
        let engine = component::engine()?;
        let component = component::load(&engine)?;
        let mut wasi = WasiCtxBuilder::new();
        // stderr carries the component's --debug trace; nothing else is inherited.
        wasi.inherit_stderr();
        let run = interrupt::run_id();
        wasi.env("HELM_OCI_RUN", &run);
        // File calls run on this thread: a hop to tokio's blocking pool per call costs more
        // than the call itself, and nothing else runs meanwhile.
        wasi.allow_blocking_current_thread(true);
        for (dir, perms) in &grants.dirs {
            let guest = dir.to_str().with_context(|| format!("{} is not a UTF-8 path", dir.display()))?;
            wasi.preopened_dir(dir, guest, *perms)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open {}", dir.display()))?;
        }
        let state = State {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            net: NetPolicy { access: Arc::default(), transport: None },
            limits: StoreLimitsBuilder::new().memory_size(MEMORY_MAX).build(),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let mut store = Store::new(&engine, state);
        store.limiter(|state| &mut state.limits);
        // Every tick, running code yields to the host, which can then take a signal or see
        // a deadline pass; a thread of its own ticks even while the component computes.
        store.epoch_deadline_async_yield_and_update(1);
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(EPOCH);
                engine.increment_epoch();
            }
        });
        let plugin = component::instantiate(&mut store, &component, &linker).await?;
        // The chart cache writes temp files in a directory of its own, too.
        let writable = grants
            .dirs
            .iter()
            .filter(|(_, p)| *p == FsPerms::ReadWrite)
            .flat_map(|(d, _)| [d.clone(), d.join(CACHE_INCOMING)])
            .chain(grants.temp_dirs.iter().cloned())
            .collect();
        Ok(Session { store: ManuallyDrop::new(store), plugin, run, writable })
    }

    /// Lets requests reach one registry endpoint (over plain HTTP only if asked), with its
    /// TLS settings, and starts opening connections to it.
    pub fn allow_registry(&mut self, endpoint: &str, reach: &Reach) -> Result<()> {
        let net = &mut self.store.data_mut().net;
        let transport = net
            .transport
            .get_or_insert_with(|| Arc::new(Transport::new(&reach.tls, reach.debug, reach.advice)))
            .clone();
        // A command finds out about unusable TLS settings before it starts, even over plain
        // HTTP (where its mirrors may use them), as Helm refuses them whatever it reaches.
        if !reach.plain_http {
            transport.grant_tls(endpoint, reach.own_tls.as_ref().unwrap_or(&reach.tls))?;
        } else if reach.tls != TlsFlags::default() {
            transport.check_tls()?;
        }
        net.access.lock().expect("access lock").allow_registry(endpoint, reach.plain_http);
        transport.open_ahead(endpoint, !reach.plain_http, reach.ahead);
        Ok(())
    }

    pub async fn version(&mut self) -> Result<String> {
        Ok(self.plugin.helm_oci_plugin_about().call_version(&mut *self.store).await?)
    }

    pub async fn registry_endpoint(&mut self, registry: &str) -> Result<String> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_registry_endpoint(&mut *self.store, registry).await?.map_err(output::component_error)
    }

    pub async fn login(&mut self, registry: &str, options: &RemoteOptions) -> Result<()> {
        let api = self.plugin.helm_oci_plugin_registry();
        let call = api.call_login(&mut *self.store, registry, options);
        guarded(call, options.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn parse_reference(&mut self, reference: &str) -> Result<Reference> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_parse_reference(&mut *self.store, reference).await?.map_err(output::component_error)
    }

    pub async fn parse_destination(&mut self, destination: &str) -> Result<Reference> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_parse_destination(&mut *self.store, destination).await?.map_err(output::component_error)
    }

    pub async fn chart_links(&mut self, chart: &str, links: &[ChartLink]) -> Result<Vec<LinkOut>> {
        let call = self.plugin.helm_oci_plugin_registry().call_chart_links(&mut *self.store, chart, links);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn push(&mut self, options: &PushOptions) -> Result<PushResult> {
        let api = self.plugin.helm_oci_plugin_registry();
        let call = api.call_push(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn pull(&mut self, options: &PullOptions) -> Result<PullResult> {
        let api = self.plugin.helm_oci_plugin_registry();
        let call = api.call_pull(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn push_cached(&mut self, options: &PushCachedOptions) -> Result<PushResult> {
        let api = self.plugin.helm_oci_plugin_registry();
        let call = api.call_push_cached(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn tag(&mut self, options: &TagOptions) -> Result<Tagged> {
        let call = self.plugin.helm_oci_plugin_promotion().call_tag(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn copy(&mut self, options: &CopyOptions) -> Result<Copied> {
        let call = self.plugin.helm_oci_plugin_promotion().call_copy(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn save(&mut self, options: &SaveOptions) -> Result<Saved> {
        let call = self.plugin.helm_oci_plugin_cache().call_save(&mut *self.store, options);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn list(&mut self, cache: &str) -> Result<Vec<CacheEntry>> {
        let call = self.plugin.helm_oci_plugin_cache().call_list(&mut *self.store, cache);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn export(&mut self, options: &ExportOptions) -> Result<Exported> {
        let call = self.plugin.helm_oci_plugin_cache().call_export(&mut *self.store, options);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn remove(&mut self, cache: &str, reference: &Reference) -> Result<Removed> {
        let call = self.plugin.helm_oci_plugin_cache().call_remove(&mut *self.store, cache, reference);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn prune(&mut self, cache: &str) -> Result<Pruned> {
        let call = self.plugin.helm_oci_plugin_cache().call_prune(&mut *self.store, cache);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn read_dependencies(&mut self, chart_dir: &str, repositories: &[ChartRepository]) -> Result<Declared> {
        let call = self.plugin.helm_oci_plugin_dependencies().call_read(&mut *self.store, chart_dir, repositories);
        guarded(call, None, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn update_dependencies(&mut self, options: &DependencyOptions) -> Result<DependenciesResult> {
        let call = self.plugin.helm_oci_plugin_dependencies().call_update(&mut *self.store, options);
        guarded(call, options.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn build_dependencies(&mut self, options: &DependencyOptions) -> Result<DependenciesResult> {
        let call = self.plugin.helm_oci_plugin_dependencies().call_build(&mut *self.store, options);
        guarded(call, options.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn tags(&mut self, options: &TagsOptions) -> Result<TagList> {
        let api = self.plugin.helm_oci_plugin_discovery();
        let call = api.call_tags(&mut *self.store, options);
        guarded(call, options.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }

    pub async fn search(&mut self, options: &SearchOptions) -> Result<SearchResult> {
        let api = self.plugin.helm_oci_plugin_discovery();
        let call = api.call_search(&mut *self.store, options);
        guarded(call, options.listing.connection.timeout_ms, &self.run, &self.writable)
            .await?
            .map_err(output::component_error)
    }

    pub async fn chart_index(&mut self, options: &IndexOptions) -> Result<RepositoryIndex> {
        let api = self.plugin.helm_oci_plugin_discovery();
        let call = api.call_chart_index(&mut *self.store, options);
        guarded(call, options.listing.connection.timeout_ms, &self.run, &self.writable)
            .await?
            .map_err(output::component_error)
    }

    pub async fn publish_index(&mut self, listing: &Listing) -> Result<PublishedIndex> {
        let api = self.plugin.helm_oci_plugin_discovery();
        let call = api.call_publish_index(&mut *self.store, listing);
        guarded(call, listing.connection.timeout_ms, &self.run, &self.writable).await?.map_err(output::component_error)
    }
}

/// Runs a call into the component unless a signal stops it first, or it runs well past its
/// own deadline (`timeout_ms`; it normally stops itself there); then the run's temp files
/// are removed and the command fails. A component that traps fails with one line too.
async fn guarded<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    timeout_ms: Option<u64>,
    run: &str,
    writable: &[PathBuf],
) -> Result<T> {
    let signalled = interrupt::signalled();
    let backstop = async {
        match timeout_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms) + GRACE).await,
            None => std::future::pending().await,
        }
    };
    // The signal first: one that came before the call stops it before it starts (a call
    // that never waits would otherwise run to its end in its first poll).
    tokio::select! {
        biased;
        signal = signalled => {
            interrupt::clean_up(run, writable);
            Err(Interrupted(signal).into())
        }
        outcome = call => outcome.map_err(stopped),
        () = backstop => {
            interrupt::clean_up(run, writable);
            anyhow::bail!("the component did not stop at its deadline (see --timeout), so it was stopped")
        }
    }
}

/// A component that trapped (a bug, or memory exhausted), said in one line.
fn stopped(e: wasmtime::Error) -> anyhow::Error {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::UnreachableCodeReached) => {
            anyhow::anyhow!("the component stopped: it failed (out of memory?)")
        }
        Some(trap) => anyhow::anyhow!("the component stopped: {trap}"),
        None => anyhow::anyhow!("the component stopped: {}", e.to_string().lines().next().unwrap_or_default()),
    }
}
