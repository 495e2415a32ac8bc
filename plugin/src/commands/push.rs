//! `push`: package (if needed) and upload a chart the way `helm push` lays it out. The
//! blobs are checked and uploaded concurrently; the manifest goes last.

use super::artifact::Artifact;
use crate::cache::Cache;
use crate::cache::held;
use crate::chart::directory::Links;
use crate::chart::load::Limits;
use crate::chart::metadata::Metadata;
use crate::digest;
use crate::error::{Error, Result};
use crate::net::executor::{DEFAULT_CONCURRENCY, bounded};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Descriptor};
use crate::oci::reference::Ref;
use crate::oci::upload::Content;
use crate::oci::{blobs, manifests, upload};
use futures::future::{Either, select};
use std::path::{Path, PathBuf};
use std::pin::pin;

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
    /// Where the chart directory's symlinks out of it lead.
    pub links: Links,
}

/// What was pushed: the reference with its tag, and the manifest's digest.
pub struct Pushed {
    pub reference: Ref,
    pub digest: String,
    pub meta: Metadata,
    pub warnings: Vec<String>,
}

/// Loads (and, for a directory, packages) the chart, then uploads what the registry lacks
/// and puts the manifest under the chart's version.
pub async fn run(push: Push) -> Result<Pushed> {
    let artifact =
        Artifact::build(&push.chart, &push.remote, false, &push.limits, push.source_date_epoch, &push.links)?;
    let client = Client::new(&artifact.target.endpoint, &push.connection);
    upload(&client, &artifact.target, &artifact.blobs(), (helm::MANIFEST, &artifact.manifest)).await?;
    let Artifact { target, manifest_digest, meta, warnings, .. } = artifact;
    Ok(Pushed { reference: target, digest: manifest_digest, meta, warnings })
}

/// Pushes a cached reference as it is: its manifest and blobs, verified first.
pub async fn run_cached(cache: &Path, reference: Ref, connection: Connection) -> Result<Pushed> {
    let cache = Cache::open(cache);
    let subject = reference.to_string();
    if reference.tag.is_none() {
        return Err(Error::invalid_reference(format!("cannot push {subject}"), "give the tag it was saved under"));
    }
    let (_, entry) = held::entry(&cache, &reference)?;
    // Its manifest alone under the tag would replace the index (and the images beside the
    // chart) in the registry.
    if entry.named_digest() != entry.digest {
        return Err(Error::invalid_reference(
            format!("cannot push {subject}"),
            format!(
                "it was pulled through the image index {}, of which the chart cache holds only the chart's manifest; `helm oci copy` copies the whole index between registries",
                entry.named_digest()
            ),
        ));
    }
    let (manifest_bytes, manifest) = held::manifest(&cache, &entry, &subject)?;
    let named: Vec<&Descriptor> = std::iter::once(&manifest.config).chain(&manifest.layers).collect();
    held::require(&cache, named.iter().copied(), &subject)?;
    let paths = named.into_iter().map(|blob| Ok((blob, cache.blob_path(&blob.digest)?))).collect::<Result<Vec<_>>>()?;
    let blobs: Vec<(&Descriptor, Content)> = paths.iter().map(|(blob, path)| (*blob, Content::File(path))).collect();
    let client = Client::new(&reference.endpoint, &connection);
    upload(&client, &reference, &blobs, (&entry.media_type, &manifest_bytes)).await?;
    let shown = entry.shown();
    let meta = Metadata { name: shown.name.to_string(), version: shown.version.to_string(), ..Default::default() };
    Ok(Pushed { reference, digest: entry.digest, meta, warnings: Vec::new() })
}

/// Uploads what the registry lacks of `blobs` and puts the manifest (of that media type)
/// under the target's tag (or, if it has none, its digest).
pub async fn upload(
    client: &Client,
    target: &Ref,
    blobs: &[(&Descriptor, Content<'_>)],
    (media_type, manifest): (&str, &[u8]),
) -> Result<()> {
    let reference = target.manifest_ref().expect("the target has a tag or a digest");
    let repo = &target.repository;
    let manifest_digest = digest::of_bytes(manifest);
    // While the blobs are checked (and uploaded if missing), ask what the tag points at:
    // if it is this very manifest already, the push is done, whatever the blob checks
    // still in flight would say (the registry took that manifest with its blobs), as
    // oras-go's copy stops when the destination has the root.
    let uploads =
        pin!(bounded(DEFAULT_CONCURRENCY, blobs.iter().map(|(blob, content)| ensure(client, repo, blob, content))));
    let resolve = pin!(manifests::resolve(client, repo, reference));
    // Asking was an optimisation: whatever went wrong there, the PUT below says it properly.
    let names_this = |tagged: &Result<Option<String>>| {
        tagged.as_ref().ok().and_then(Option::as_deref) == Some(manifest_digest.as_str())
    };
    let already = match select(resolve, uploads).await {
        Either::Left((tagged, _)) if names_this(&tagged) => true,
        Either::Left((_, uploads)) => {
            uploads.await.into_iter().collect::<Result<Vec<()>>>()?;
            false
        }
        Either::Right((uploaded, resolve)) => {
            uploaded.into_iter().collect::<Result<Vec<()>>>()?;
            names_this(&resolve.await)
        }
    };
    if already {
        client.trace.debug(|| format!("{target} is already {manifest_digest}"));
        return Ok(());
    }
    manifests::push(client, repo, reference, (media_type, manifest), &format!("manifest {target}")).await
}

/// Uploads a blob unless the repository already has it.
async fn ensure(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    if blobs::exists(client, repo, &blob.digest).await? {
        return Ok(());
    }
    upload::push(client, repo, blob, content).await
}
