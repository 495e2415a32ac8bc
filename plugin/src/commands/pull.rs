//! `pull`: resolve a reference, fetch the config and the chart layer concurrently, verify
//! every digest, and only then write the chart.

use crate::chart::{archive, metadata::Metadata};
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::fs::temp::{TempDir, TempFile};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::manifests::{self, MANIFEST_MAX};
use crate::oci::reference::{self, Ref};
use crate::oci::{blobs, tags};
use futures::future::try_join;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub struct Pull {
    pub reference: Ref,
    /// An exact chart version; the tag is the version with `+` written as `_`.
    pub version: Option<String>,
    /// An existing directory, granted read-write.
    pub destination: PathBuf,
    /// Unpack into `<destination>/<name>/` instead of writing `<name>-<version>.tgz`.
    pub untar: bool,
    pub connection: Connection,
}

pub struct Pulled {
    pub reference: Ref,
    pub digest: String,
    pub meta: Metadata,
    /// The archive written, or the directory unpacked.
    pub path: PathBuf,
    pub warnings: Vec<String>,
}

pub async fn run(pull: Pull) -> Result<Pulled> {
    let mut r = pull.reference;
    let client = Client::new(&r.endpoint, &pull.connection);
    let version = pull.version.as_deref().filter(|v| !v.is_empty());
    resolve_tag(&client, &mut r, version).await?;
    let subject = r.to_string();
    let mut warnings = Vec::new();

    let manifest_ref = r.manifest_ref().expect("resolve_tag leaves a tag or digest");
    let fetched = manifests::fetch(&client, &r.repository, manifest_ref, &subject).await?;
    let manifest_digest = digest::of_bytes(&fetched.bytes);
    let announced = r.digest.clone().or(fetched.digest_header.filter(|d| digest::is_valid(d)));
    if let Some(expected) = announced
        && expected != manifest_digest
    {
        return Err(Error::mismatch(format!("manifest {subject}"), expected, manifest_digest));
    }
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| Error::invalid_chart(&subject, format!("the manifest is not valid: {e}")))?;
    if manifest.config.media_type != helm::CONFIG {
        return Err(Error::invalid_chart(
            format!("{subject} is not a Helm chart"),
            format!("config media type {:?}", manifest.config.media_type),
        ));
    }
    let layer = match manifest.layers.iter().find(|l| l.media_type == helm::CHART) {
        Some(l) => l,
        None => {
            let legacy = manifest.layers.iter().find(|l| l.media_type == helm::LEGACY_CHART);
            let l = legacy.ok_or_else(|| Error::invalid_chart(&subject, "the manifest has no Helm chart layer"))?;
            warnings.push(format!(
                "{subject} uses the deprecated chart media type {:?} of Helm 3.0-3.6; push it again to update it",
                helm::LEGACY_CHART
            ));
            l
        }
    };
    for blob in [&manifest.config, layer] {
        if !digest::is_valid(&blob.digest) {
            return Err(Error::invalid_chart(
                &subject,
                format!("the manifest names an unusable digest {:?}", blob.digest),
            ));
        }
    }

    let dest = &pull.destination;
    let mut tgz = TempFile::create_in(dest)?;
    let (config, ()) = try_join(
        fetch_small(&client, &r.repository, &manifest.config),
        download(&client, &r.repository, layer, &mut tgz),
    )
    .await?;
    let meta = Metadata::from_config(&config, &subject)?;
    if let (Some(v), Some(_)) = (version, &r.digest)
        && v != meta.version
    {
        return Err(Error::not_found(&subject, format!("it is version {}, not {v}", meta.version)));
    }

    let path = if pull.untar {
        untar(&tgz, dest, &subject)?
    } else {
        let path = dest.join(format!("{}-{}.tgz", meta.name, meta.version));
        tgz.persist(&path)?;
        path
    };
    Ok(Pulled { reference: r, digest: manifest_digest, meta, path, warnings })
}

/// Settles which tag to fetch: `--version` (which must agree with a tag in the reference),
/// else the reference's own tag or digest, else the newest stable semver tag.
async fn resolve_tag(client: &Client, r: &mut Ref, version: Option<&str>) -> Result<()> {
    if let Some(v) = version {
        let tag = reference::normalise_tag(v);
        reference::validate_tag(&tag).map_err(|why| Error::invalid_reference(format!("version {v:?}"), why))?;
        if let Some(t) = r.tag.as_ref().filter(|t| **t != tag) {
            return Err(Error::invalid_reference("chart reference and version mismatch", format!("{t} is not {v}")));
        }
        r.tag = Some(tag);
    } else if r.tag.is_none() && r.digest.is_none() {
        let tags = tags::list(client, &r.repository, &r.to_string()).await?;
        let newest = tags
            .iter()
            .filter_map(|t| semver::Version::parse(&t.replace('_', "+")).ok().map(|v| (v, t)))
            .filter(|(v, _)| v.pre.is_empty())
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, t)| t.clone());
        r.tag = Some(newest.ok_or_else(|| Error::not_found(r.to_string(), "no chart version found (no semver tags)"))?);
    }
    Ok(())
}

/// Fetches a small blob (the config) into memory, verified.
async fn fetch_small(client: &Client, repo: &str, blob: &Descriptor) -> Result<Vec<u8>> {
    if blob.size > MANIFEST_MAX {
        return Err(Error::invalid_chart(
            format!("config blob {}", blob.digest),
            format!("it claims {} bytes", blob.size),
        ));
    }
    let bytes = blobs::download(client, repo, blob).await?.bytes().await?;
    digest::verify(
        &format!("blob {}", blob.digest),
        (&blob.digest, blob.size),
        (&digest::of_bytes(&bytes), bytes.len() as u64),
    )?;
    Ok(bytes)
}

/// Streams a blob into a temp file, hashing on the way; the file is kept only if it verifies.
async fn download(client: &Client, repo: &str, blob: &Descriptor, into: &mut TempFile) -> Result<()> {
    let mut download = blobs::download(client, repo, blob).await?;
    let path = into.path().to_path_buf();
    let mut hasher = Hasher::default();
    while let Some(piece) = download.chunk().await? {
        hasher.update(&piece);
        into.file().write_all(&piece).map_err(|e| Error::io(&path, e))?;
        // One byte past the announced size is enough to tell a registry sending too much.
        if hasher.size() > blob.size {
            break;
        }
    }
    let (actual, size) = hasher.finish();
    digest::verify(&format!("blob {}", blob.digest), (&blob.digest, blob.size), (&actual, size))
}

/// Unpacks a verified archive as `<dest>/<chart>/`, refusing to replace an existing directory.
fn untar(tgz: &TempFile, dest: &Path, subject: &str) -> Result<PathBuf> {
    let path = tgz.path().to_path_buf();
    let staging = TempDir::create_in(dest)?;
    let reader = io::BufReader::new(File::open(&path).map_err(|e| Error::io(&path, e))?);
    let unpacked = archive::unpack(reader, staging.path(), subject)?;
    let name = unpacked.file_name().expect("unpack returns a named directory");
    let target = dest.join(name);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(Error::new(
            crate::error::Kind::Io,
            "failed to untar",
            format!("a file or directory with the name {} already exists", target.display()),
        ));
    }
    fs::rename(&unpacked, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}
