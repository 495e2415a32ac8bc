//! `push`: package (if needed) and upload a chart the way `helm push` lays it out. The
//! blobs are checked and uploaded concurrently; the manifest goes last.

use crate::chart::load::{self, Limits, Loader};
use crate::chart::{archive, directory, metadata::Metadata, package};
use crate::digest::{self, Hashing};
use crate::error::{Error, Result};
use crate::net::clock;
use crate::net::executor::{DEFAULT_CONCURRENCY, bounded};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::reference::{self, Ref};
use crate::oci::upload::Content;
use crate::oci::{blobs, manifests, timestamp, upload};
use futures::future::join;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// What to push, and where.
pub struct Push {
    /// A chart directory (packaged on the way) or a packaged `.tgz`.
    pub chart: PathBuf,
    /// `host/namespace` (pushed to `<namespace>/<name>:<version>`), or a reference with a tag.
    pub remote: Ref,
    pub connection: Connection,
    pub limits: Limits,
    /// `SOURCE_DATE_EPOCH`: the time to stamp instead of the newest file's.
    pub source_date_epoch: Option<i64>,
}

/// What was pushed: the reference with its tag, and the manifest's digest.
pub struct Pushed {
    pub reference: Ref,
    pub digest: String,
    pub meta: Metadata,
    pub warnings: Vec<String>,
}

/// What is being pushed: a directory packaged in memory, or an archive read from its file.
/// Either way the chart has loaded by Helm's rules first, so what is pushed Helm can load.
enum Source {
    Packaged { archive: Vec<u8>, meta: Metadata, created: i64 },
    Archive { path: PathBuf, meta: Metadata, created: i64, digest: String, size: u64 },
}

impl Source {
    fn open(path: &Path, limits: &Limits, source_date_epoch: Option<i64>) -> Result<Source> {
        let origin = path.display().to_string();
        let stat = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        // A time in the future (a clock set wrong, a file from elsewhere) is never stamped.
        let now = clock::wall_seconds();
        if stat.is_dir() {
            let (files, newest) = directory::files(path, limits)?;
            let chart = Loader::new(*limits, true).load(files, 0).map_err(|why| Error::invalid_chart(&origin, why))?;
            load::check_dependencies(&chart).map_err(|why| Error::invalid_chart(&origin, why))?;
            let created = source_date_epoch.unwrap_or(newest).min(now);
            let archive = package::archive(&chart, created).map_err(|why| Error::invalid_chart(&origin, why))?;
            return Ok(Source::Packaged { archive, meta: chart.meta, created });
        }
        // The archive is hashed as it is checked: one read before the upload's.
        let mut reader = Hashing::new(io::BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?));
        let chart = archive::load(&mut reader, &Loader::new(*limits, false), 0)
            .map_err(|why| Error::invalid_chart(format!("{origin} is not a valid chart archive"), why))?;
        let (digest, size) = reader.finish().map_err(|e| Error::io(path, e))?;
        // Helm stamps `created` with the archive's modification time.
        let mtime =
            stat.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64);
        let created = source_date_epoch.unwrap_or(mtime).min(now);
        Ok(Source::Archive { path: path.to_path_buf(), meta: chart.meta, created, digest, size })
    }

    fn meta(&self) -> &Metadata {
        match self {
            Source::Packaged { meta, .. } | Source::Archive { meta, .. } => meta,
        }
    }

    fn created(&self) -> i64 {
        match self {
            Source::Packaged { created, .. } | Source::Archive { created, .. } => *created,
        }
    }

    /// The chart layer's descriptor and where its bytes come from.
    fn layer(&self) -> (Descriptor, Content<'_>) {
        let (digest, size, content) = match self {
            Source::Packaged { archive, .. } => {
                (digest::of_bytes(archive), archive.len() as u64, Content::Bytes(archive))
            }
            Source::Archive { path, digest, size, .. } => (digest.clone(), *size, Content::File(path)),
        };
        (Descriptor { media_type: helm::CHART.into(), digest, size }, content)
    }

    /// The provenance file Helm pushes along with an archive, if one sits beside it.
    fn provenance(&self) -> Result<Option<Vec<u8>>> {
        let Source::Archive { path, .. } = self else { return Ok(None) };
        let prov = PathBuf::from(format!("{}.prov", path.display()));
        if !prov.is_file() {
            return Ok(None);
        }
        fs::read(&prov).map(Some).map_err(|e| Error::io(&prov, e))
    }
}

/// Loads (and, for a directory, packages) the chart, then uploads what the registry lacks
/// and puts the manifest under the chart's version.
pub async fn run(push: Push) -> Result<Pushed> {
    let remote = push.remote;
    if remote.digest.is_some() {
        return Err(Error::invalid_reference(
            format!("cannot push to a digest ({remote})"),
            "give oci://host/namespace or a tag",
        ));
    }
    let source = Source::open(&push.chart, &push.limits, push.source_date_epoch)?;
    let meta = source.meta();
    let version_tag = reference::normalise_tag(&meta.version);
    let mut warnings = Vec::new();
    let target = match &remote.tag {
        None => {
            if !reference::is_path_component(&meta.name) {
                return Err(Error::invalid_chart(
                    format!("chart name {:?}", meta.name),
                    "it cannot be an OCI repository name (lowercase letters, digits, '.', '_', '-')",
                ));
            }
            Ref { repository: format!("{}/{}", remote.repository, meta.name), ..remote.with_tag(&version_tag) }
        }
        Some(tag) => {
            if *tag != version_tag {
                warnings.push(format!(
                    "pushing {} {} to tag {tag:?}: Helm resolves charts only by semver version tags, \
                     so `helm pull --version` will not find this one",
                    meta.name, meta.version
                ));
            }
            remote.clone()
        }
    };
    let tag = target.tag.as_deref().expect("the target always has a tag");
    let client = Client::new(&target.endpoint, &push.connection);
    let repo = &target.repository;

    let config_bytes = helm::go_json(meta);
    let config = Descriptor {
        media_type: helm::CONFIG.into(),
        digest: digest::of_bytes(&config_bytes),
        size: config_bytes.len() as u64,
    };
    let (chart, chart_content) = source.layer();
    let prov_bytes = source.provenance()?;
    let mut blobs = vec![(config.clone(), Content::Bytes(&config_bytes)), (chart.clone(), chart_content)];
    let mut layers = vec![chart];
    if let Some(bytes) = &prov_bytes {
        let prov = Descriptor {
            media_type: helm::PROVENANCE.into(),
            digest: digest::of_bytes(bytes),
            size: bytes.len() as u64,
        };
        layers.push(prov.clone());
        blobs.push((prov, Content::Bytes(bytes)));
    }
    let annotations = helm::chart_annotations(meta, &timestamp::rfc3339(source.created()));
    let manifest_bytes = helm::go_json(&Manifest::for_chart(config, layers, annotations));
    let manifest_digest = digest::of_bytes(&manifest_bytes);

    // While the blobs are checked (and uploaded if missing), ask what the tag points at:
    // if it is this very manifest already, the push is done.
    let uploads =
        bounded(DEFAULT_CONCURRENCY, blobs.iter().map(|(blob, content)| ensure(&client, repo, blob, content)));
    let (tagged, uploaded) = join(manifests::resolve(&client, repo, tag), uploads).await;
    uploaded.into_iter().collect::<Result<Vec<()>>>()?;
    // Asking was an optimisation: whatever went wrong there, the PUT below says it properly.
    if tagged.ok().flatten().as_deref() == Some(manifest_digest.as_str()) {
        client.trace.debug(|| format!("{target} is already {manifest_digest}"));
        return Ok(Pushed { reference: target, digest: manifest_digest, meta: meta.clone(), warnings });
    }
    let reported = manifests::push(&client, repo, tag, helm::MANIFEST, &manifest_bytes).await?;
    if let Some(reported) = reported.filter(|d| digest::is_valid(d))
        && reported != manifest_digest
    {
        return Err(Error::mismatch(format!("manifest {target}"), manifest_digest, reported));
    }
    Ok(Pushed { reference: target, digest: manifest_digest, meta: meta.clone(), warnings })
}

/// Uploads a blob unless the repository already has it.
async fn ensure(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    if blobs::exists(client, repo, &blob.digest).await? {
        return Ok(());
    }
    upload::push(client, repo, blob, content).await
}
