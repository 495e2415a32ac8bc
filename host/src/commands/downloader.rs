//! `helm-oci downloader CERT KEY CA URL`: Helm's getter for `ocirepo://` (HTTPS) and
//! `ocirepo+http://` (plain HTTP) repositories, named in plugin.yaml's `downloaders`. Helm 2,
//! 3 and 4 run it with the repository's cert, key and CA files (empty when unset) and the
//! URL, with `HELM_PLUGIN_USERNAME`/`HELM_PLUGIN_PASSWORD` set (Helm 3.14 and later) when
//! the repository was added with credentials, and read what it writes to stdout:
//!
//! * `SCHEME://HOST[/NAMESPACE]/index.yaml`: a chart repository index of every chart version
//!   under the namespace: the one `helm oci index` published there, else one made from the
//!   registry (see the component's `chart-index`);
//! * `SCHEME://HOST/REPOSITORY@DIGEST/NAME-VERSION.tgz`, the URLs that index gives: the
//!   chart archive, pulled through the chart cache and verified.

use super::temp::TempDir;
use crate::component::exports::helm_oci::plugin::discovery::{IndexOptions, Listing};
use crate::component::exports::helm_oci::plugin::registry::PullOptions;
use crate::component::exports::helm_oci::plugin::types::{Credential, RemoteOptions};
use crate::repositories::{self, Repository};
use crate::sandbox::{Grants, Reach, Session};
use crate::transport::{Advice, TlsFlags};
use crate::{credentials, learnt, output, registries};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use wasmtime_wasi::FsPerms;

/// The downloader's URL schemes: registries over HTTPS, and over plain HTTP.
const SCHEME: &str = "ocirepo";
const PLAIN_SCHEME: &str = "ocirepo+http";
/// Requests in flight at once while an index is made: a repository's versions are read
/// side by side, as `search` reads them.
const CONCURRENCY: u32 = 16;
/// The longest a download may take, as Helm's own getters allow by default.
const TIMEOUT_MS: u64 = 5 * 60 * 1000;

#[derive(Args)]
pub struct DownloaderArgs {
    /// Client certificate file ("" for none)
    cert_file: String,
    /// Client key file ("" for none)
    key_file: String,
    /// CA bundle file, in addition to the system's ("" for none)
    ca_file: String,
    /// ocirepo://HOST[/NAMESPACE]/index.yaml, or a chart URL of that index
    url: String,
}

/// What a URL asks for.
#[derive(Debug, PartialEq)]
enum Target {
    Index {
        registry: String,
        namespace: String,
    },
    /// A chart's archive, or its provenance file (`….tgz.prov`, which Helm's `--verify` and
    /// `--prov` ask for).
    Chart {
        reference: String,
        provenance: bool,
    },
}

/// What to do when a registry wants credentials and none were found: Helm passes the
/// downloader those a repository was added with (Helm 3.14 and later).
const LOG_IN_OR_ADD: &str = "log in with `helm oci login`, or add the repository with --username and --password";

pub async fn run(args: DownloaderArgs, debug: bool) -> Result<()> {
    let (plain_http, target) = parse_url(&args.url)?;
    let file = |path: &str| (!path.is_empty()).then(|| PathBuf::from(path));
    let passed = |name| std::env::var(name).ok();
    let given =
        credentials::given(passed("HELM_PLUGIN_USERNAME").as_deref(), passed("HELM_PLUGIN_PASSWORD").as_deref());
    let mut tls = TlsFlags {
        ca_file: file(&args.ca_file),
        cert_file: file(&args.cert_file),
        key_file: file(&args.key_file),
        insecure: false,
    };
    // What an older Helm does not pass comes from the repository it was added as: Helm 2
    // and Helm 3 before 3.14 pass no credentials (the entry's come after a stored login,
    // which is what the README tells users of those Helms to make, and which a password
    // changed with `repo add --force-update` cannot reach the entry before), and Helm 2 and
    // 3.0-3.6 pass no TLS files for a chart that `dependency update` fetches through a
    // published (relative) URL.
    let nothing_passed = tls == TlsFlags::default();
    let added = (given.is_none() || nothing_passed).then(|| added_as(&args.url)).flatten();
    if nothing_passed && let Some(added) = &added {
        tls = TlsFlags { insecure: false, ..added.tls.clone() };
    }
    let given = Given { passed: given, added: added.and_then(|added| added.login) };
    let timeout_ms = Some(TIMEOUT_MS);
    match target {
        Target::Index { registry, namespace } => {
            // The configs read are kept in the chart cache.
            let (cache, grants) = super::cache_to_keep();
            let mut session = Session::start(grants).await?;
            let endpoint = session.registry_endpoint(&registry).await?;
            // One connection ahead, for the published index's manifest, which is most often
            // all there is to read; an index made from the charts opens more as it needs them.
            let reach = Reach { plain_http, tls, own_tls: None, debug, ahead: 1, advice: Advice::RepoAdd, timeout_ms };
            let (connection, mirrors) =
                super::with_mirrors(&mut session, (&registry, &endpoint, &namespace), reach, |session, reach| {
                    connect(session, (&registry, &endpoint), given.clone(), reach)
                })
                .await?;
            let scheme = if plain_http { PLAIN_SCHEME } else { SCHEME };
            let repositories = registries::repositories(&registry, &endpoint, &namespace)?;
            let listing = Listing {
                registry,
                namespace,
                repositories,
                page_size: None,
                concurrency: CONCURRENCY,
                connection,
                mirrors,
                cache: cache.as_deref().map(super::utf8).transpose()?,
            };
            let options = IndexOptions { listing, url_scheme: scheme.to_string() };
            let built = session.chart_index(&options).await?;
            output::skipped(&built.skipped);
            output::warnings(&built.warnings);
            write_out(built.index.as_bytes())
        }
        Target::Chart { reference, provenance } => {
            let cache = super::cache()?;
            let dir = TempDir::create()?;
            let grants = vec![(dir.path().to_path_buf(), FsPerms::ReadWrite), (cache.clone(), FsPerms::ReadWrite)];
            let mut session = Session::start(Grants { dirs: grants, ..Grants::default() }).await?;
            let reference = session.parse_reference(&reference).await?;
            // Pull fetches the config and the chart layer at once.
            let reach = Reach { plain_http, tls, own_tls: None, debug, ahead: 2, advice: Advice::RepoAdd, timeout_ms };
            let (registry, endpoint) = (&reference.registry, &reference.endpoint);
            let (connection, mirrors) = super::with_mirrors(
                &mut session,
                (registry, endpoint, &reference.repository),
                reach,
                |session, reach| connect(session, (registry, endpoint), given.clone(), reach),
            )
            .await?;
            let options = PullOptions {
                reference,
                version: None,
                devel: false,
                destination: super::utf8(dir.path())?,
                untar: false,
                // Read back by its path: any name does.
                named_as_asked: false,
                provenance,
                connection,
                limits: None,
                cache: super::utf8(&cache)?,
                offline: false,
                mirrors,
            };
            let pulled = session.pull(&options).await?;
            output::warnings(&pulled.warnings);
            let written = match (provenance, &pulled.provenance) {
                (false, _) => &pulled.path,
                (true, Some(prov)) => prov,
                (true, None) => bail!("{} has no provenance file", pulled.reference),
            };
            write_out(&fs::read(dir.file(written)?).context("reading the pulled chart")?)
        }
    }
}

/// The repository Helm added that holds `url` (the one with the longest URL, if several
/// do). A repositories file Helm cannot read stops Helm before it runs the downloader, so
/// one that cannot be read here is taken as none.
fn added_as(url: &str) -> Option<Repository> {
    let known = repositories::known().ok()?;
    known.into_iter().filter(|r| r.holds(url)).max_by_key(|r| r.url.trim_end_matches('/').len())
}

/// The credentials for the repository: those Helm passed, and those it was added with
/// (used only when Helm passed none).
#[derive(Clone)]
struct Given {
    passed: Option<Credential>,
    added: Option<Credential>,
}

/// Grants the session the registry, with the credential Helm passed for the repository,
/// else the stored one, else (none stored, or the stores failing to answer) the one it was
/// added with.
fn connect(
    session: &mut Session,
    (registry, endpoint): (&str, &str),
    given: Given,
    reach: &Reach,
) -> Result<RemoteOptions> {
    session.allow_registry(endpoint, reach)?;
    let credential = match (super::credential_for(registry, given.passed, reach, LOG_IN_OR_ADD), given.added) {
        (Ok(Credential::Missing(_) | Credential::Unavailable(_)) | Err(_), Some(added)) => added,
        (found, _) => found?,
    };
    let credential = Some(credential);
    let challenge = learnt::challenge(endpoint, reach.plain_http);
    Ok(RemoteOptions {
        plain_http: reach.plain_http,
        credential,
        challenge,
        debug: reach.debug,
        timeout_ms: reach.timeout_ms,
    })
}

fn write_out(content: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(content).and_then(|()| stdout.flush()).context("writing to Helm")
}

/// The scheme (plain HTTP or not) and what the URL names.
fn parse_url(url: &str) -> Result<(bool, Target)> {
    let (plain_http, rest) = match url.split_once("://") {
        Some((SCHEME, rest)) => (false, rest),
        Some((PLAIN_SCHEME, rest)) => (true, rest),
        _ => bail!("{url:?}: helm-oci downloads {SCHEME}:// and {PLAIN_SCHEME}:// URLs only"),
    };
    if rest.contains(['?', '#']) {
        bail!("{url:?}: a repository URL has no query or fragment");
    }
    if let Some(location) = rest.strip_suffix("/index.yaml") {
        let (registry, namespace) = location.split_once('/').unwrap_or((location, ""));
        if registry.is_empty() {
            bail!("{url:?} names no registry");
        }
        return Ok((plain_http, Target::Index { registry: registry.into(), namespace: namespace.into() }));
    }
    match rest.rsplit_once('/') {
        Some((reference, file)) if file.ends_with(".tgz") && reference.contains('@') => {
            Ok((plain_http, Target::Chart { reference: reference.into(), provenance: false }))
        }
        Some((reference, file)) if file.ends_with(".tgz.prov") && reference.contains('@') => {
            Ok((plain_http, Target::Chart { reference: reference.into(), provenance: true }))
        }
        _ => bail!(
            "{url:?} is neither a repository's index.yaml nor a chart URL from it (run `helm repo update` for a fresh index)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls_name_a_registry_and_namespace() {
        let index = |url| parse_url(url).unwrap();
        assert_eq!(
            index("ocirepo://r.example/team/charts/index.yaml"),
            (false, Target::Index { registry: "r.example".into(), namespace: "team/charts".into() })
        );
        assert_eq!(
            index("ocirepo+http://localhost:5000/index.yaml"),
            (true, Target::Index { registry: "localhost:5000".into(), namespace: String::new() })
        );
    }

    #[test]
    fn chart_urls_name_a_pinned_reference() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let (plain, target) = parse_url(&format!("ocirepo://r.example/team/web@{digest}/web-1.0.0.tgz")).unwrap();
        assert!(!plain);
        assert_eq!(target, Target::Chart { reference: format!("r.example/team/web@{digest}"), provenance: false });
        let (_, target) = parse_url(&format!("ocirepo://r.example/team/web@{digest}/web-1.0.0.tgz.prov")).unwrap();
        assert_eq!(target, Target::Chart { reference: format!("r.example/team/web@{digest}"), provenance: true });
    }

    #[test]
    fn other_urls_are_refused() {
        for url in [
            "oci://r.example/team/index.yaml",
            "https://r.example/index.yaml",
            "ocirepo:///index.yaml",
            "ocirepo://r.example/team/web-1.0.0.tgz",
            "ocirepo://r.example/index.yaml?x=1",
        ] {
            assert!(parse_url(url).is_err(), "{url}");
        }
    }
}
