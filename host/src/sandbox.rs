//! One sandboxed instance of the component per command: only the directories the command
//! names are preopened, and wasi:http requests reach only the registry the command names,
//! plus the token service and redirect targets that registry hands out.

use crate::component::exports::helm_oci::plugin::registry::{PullOptions, PullResult, PushOptions, PushResult};
use crate::component::exports::helm_oci::plugin::types::{Reference, RemoteOptions};
use crate::component::{self, Plugin};
use crate::output;
use anyhow::{Context, Result};
use crate::transport::{IoFuture, TlsFlags, Transport};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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

/// Where the component's requests may go. The registry endpoint is granted by the command;
/// everything else is learned from what that registry answers: the token service its
/// `WWW-Authenticate` challenge names (for the whole run), and each redirect target (for
/// one request). The guest cannot widen this by itself.
#[derive(Default)]
struct Access {
    registries: Vec<String>,
    plain_http: bool,
    realms: Vec<Target>,
    redirects: Vec<Target>,
}

/// A URL as compared for access: scheme, authority and path (with query for redirects).
#[derive(Debug, PartialEq)]
struct Target {
    https: bool,
    authority: String,
    path: String,
}

impl Target {
    fn of(uri: &http::Uri, with_query: bool) -> Option<Target> {
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let path = match (with_query, uri.path_and_query()) {
            (true, Some(pq)) => pq.as_str().to_string(),
            _ => uri.path().to_string(),
        };
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        Some(Target { https, authority: uri.authority()?.as_str().to_ascii_lowercase(), path })
    }
}

enum Verdict {
    Registry,
    Realm,
    Redirect,
}

impl Access {
    fn judge(&mut self, uri: &http::Uri) -> Option<Verdict> {
        let target = Target::of(uri, true)?;
        if !target.https && !self.plain_http {
            return None;
        }
        if self.registries.iter().any(|h| h.eq_ignore_ascii_case(&target.authority)) {
            return Some(Verdict::Registry);
        }
        if let Some(realm) = Target::of(uri, false) {
            if self.realms.contains(&realm) {
                return Some(Verdict::Realm);
            }
        }
        let granted = self.redirects.iter().position(|r| *r == target)?;
        self.redirects.swap_remove(granted);
        Some(Verdict::Redirect)
    }

    /// Learns the grants a registry (or a storage host it sent us to) hands out.
    fn learn(&mut self, request: &http::Uri, verdict: &Verdict, response: &http::response::Parts) {
        let header = |name| response.headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        if matches!(verdict, Verdict::Registry | Verdict::Redirect) && response.status.is_redirection() {
            for location in header(http::header::LOCATION) {
                if let Some(target) = resolve(request, location).and_then(|u| Target::of(&u, true)) {
                    self.redirects.push(target);
                }
            }
        }
        if matches!(verdict, Verdict::Registry) && response.status == http::StatusCode::UNAUTHORIZED {
            for challenge in header(http::header::WWW_AUTHENTICATE) {
                let realm = bearer_realm(challenge).and_then(|r| r.parse::<http::Uri>().ok());
                if let Some(realm) = realm.as_ref().and_then(|u| Target::of(u, false)) {
                    if !self.realms.contains(&realm) {
                        self.realms.push(realm);
                    }
                }
            }
        }
    }
}

/// A `Location` made absolute against the request it answered.
fn resolve(request: &http::Uri, location: &str) -> Option<http::Uri> {
    if location.starts_with('/') && !location.starts_with("//") {
        let scheme = request.scheme_str()?;
        let authority = request.authority()?;
        return format!("{scheme}://{authority}{location}").parse().ok();
    }
    location.parse::<http::Uri>().ok().filter(|u| u.scheme().is_some())
}

/// The `realm` of a `Bearer` challenge.
fn bearer_realm(challenge: &str) -> Option<&str> {
    let (scheme, params) = challenge.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let start = params.find("realm=\"")? + "realm=\"".len();
    let len = params[start..].find('"')?;
    Some(&params[start..start + len])
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
            access.lock().expect("access lock").learn(&uri, &verdict, &parts);
            Ok((http::Response::from_parts(parts, body), io))
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
        let state = State { wasi: wasi.build(), http: WasiHttpCtx::new(), table: ResourceTable::new(), net: NetPolicy { access: Arc::default(), transport: None } };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let mut store = Store::new(&engine, state);
        let plugin = Plugin::instantiate_async(&mut store, &component, &linker).await?;
        Ok(Session { store, plugin })
    }

    /// Lets requests reach one registry endpoint (over plain HTTP only if asked), through a
    /// transport set up with the command's TLS flags.
    pub fn allow_registry(&mut self, endpoint: &str, plain_http: bool, tls: &TlsFlags) -> Result<()> {
        let net = &mut self.store.data_mut().net;
        if net.transport.is_none() {
            let transport = Transport::new(tls);
            // An HTTPS command finds out about unusable TLS flags before it starts.
            if !plain_http {
                transport.tls()?;
            }
            net.transport = Some(Arc::new(transport));
        }
        let mut access = net.access.lock().expect("access lock");
        access.registries.push(endpoint.to_string());
        access.plain_http |= plain_http;
        Ok(())
    }

    pub async fn version(&mut self) -> Result<String> {
        Ok(self.plugin.helm_oci_plugin_about().call_version(&mut self.store).await?)
    }

    pub async fn registry_endpoint(&mut self, registry: &str) -> Result<String> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_registry_endpoint(&mut self.store, registry).await?.map_err(output::component_error)
    }

    pub async fn login(&mut self, registry: &str, options: &RemoteOptions) -> Result<()> {
        let api = self.plugin.helm_oci_plugin_registry();
        api.call_login(&mut self.store, registry, options).await?.map_err(output::component_error)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn access() -> Access {
        Access { registries: vec!["reg:5000".into()], ..Access::default() }
    }

    #[test]
    fn only_the_registry_and_only_https_unless_asked() {
        let mut a = access();
        assert!(matches!(a.judge(&uri("https://reg:5000/v2/")), Some(Verdict::Registry)));
        assert!(a.judge(&uri("http://reg:5000/v2/")).is_none());
        assert!(a.judge(&uri("https://other:5000/v2/")).is_none());
        a.plain_http = true;
        assert!(matches!(a.judge(&uri("http://reg:5000/v2/")), Some(Verdict::Registry)));
    }

    #[test]
    fn a_registry_challenge_grants_its_token_realm() {
        let mut a = access();
        let request = uri("https://reg:5000/v2/a/tags/list");
        a.learn(&request, &Verdict::Registry, &answer(401, &[("www-authenticate", r#"Bearer realm="https://auth.io/token",service="reg""#)]));
        assert!(matches!(a.judge(&uri("https://auth.io/token?scope=x&service=reg")), Some(Verdict::Realm)));
        assert!(matches!(a.judge(&uri("https://auth.io/token?scope=y")), Some(Verdict::Realm)));
        assert!(a.judge(&uri("https://auth.io/other")).is_none());
    }

    #[test]
    fn a_redirect_grants_its_target_once() {
        let mut a = access();
        let request = uri("https://reg:5000/v2/a/blobs/sha256:1");
        a.learn(&request, &Verdict::Registry, &answer(307, &[("location", "https://cdn.io/b?sig=1")]));
        assert!(a.judge(&uri("https://cdn.io/b?sig=2")).is_none());
        assert!(matches!(a.judge(&uri("https://cdn.io/b?sig=1")), Some(Verdict::Redirect)));
        assert!(a.judge(&uri("https://cdn.io/b?sig=1")).is_none());
    }

    #[test]
    fn only_the_registry_grants_realms() {
        let mut a = access();
        let challenge = answer(401, &[("www-authenticate", r#"Bearer realm="https://evil.io/t""#)]);
        a.learn(&uri("https://cdn.io/b"), &Verdict::Redirect, &challenge);
        assert!(a.judge(&uri("https://evil.io/t")).is_none());
    }
}
