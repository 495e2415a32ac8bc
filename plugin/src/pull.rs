//! `pull`: resolve a reference, verify every digest, and only then write the chart.

use crate::bindings::exports::helm_oci::plugin::registry::{PullOptions, PullResult};
use crate::chart::{archive, metadata::Metadata};
use crate::digest::{self, Hashing};
use crate::error::Result;
use crate::fsx::{TempDir, TempFile};
use crate::manifest::{self, Descriptor, Manifest};
use crate::reference::{self, Ref};
use crate::registry::{Client, MANIFEST_MAX};
use crate::Error;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

pub fn run(options: PullOptions) -> Result<PullResult> {
    let mut r = reference::parse(&options.reference)?;
    let mut client = Client::new(&r, &options.connection);
    let version = options.version.as_deref().filter(|v| !v.is_empty());
    resolve_tag(&mut client, &mut r, version)?;
    let subject = r.to_string();
    let mut warnings = Vec::new();

    let manifest_ref = r.manifest_ref().expect("resolve_tag leaves a tag or digest");
    let fetched = client.fetch_manifest(&r.repository, manifest_ref, &subject)?;
    let manifest_digest = digest::of_bytes(&fetched.bytes);
    let announced = r.digest.clone().or(fetched.digest_header.filter(|d| digest::is_valid(d)));
    if let Some(expected) = announced {
        if expected != manifest_digest {
            return Err(Error::mismatch(format!("manifest {subject}"), expected, manifest_digest));
        }
    }
    let manifest: Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| Error::invalid_chart(format!("{subject}: the manifest is not valid: {e}")))?;
    if manifest.config.media_type != manifest::CONFIG {
        return Err(Error::invalid_chart(format!(
            "{subject} is not a Helm chart (config media type {:?})",
            manifest.config.media_type
        )));
    }
    let layer = match manifest.layers.iter().find(|l| l.media_type == manifest::CHART) {
        Some(l) => l,
        None => {
            let legacy = manifest.layers.iter().find(|l| l.media_type == manifest::LEGACY_CHART);
            let l = legacy.ok_or_else(|| Error::invalid_chart(format!("{subject}: the manifest has no Helm chart layer")))?;
            warnings.push(format!(
                "{subject} uses the deprecated chart media type {:?} of Helm 3.0-3.6; push it again to update it",
                manifest::LEGACY_CHART
            ));
            l
        }
    };

    let config = fetch_small(&mut client, &r.repository, &manifest.config)?;
    let meta = Metadata::from_config(&config, &subject)?;
    if let (Some(v), Some(_)) = (version, &r.digest) {
        if v != meta.version {
            return Err(Error::NotFound(format!("{subject} is version {}, not {v}", meta.version)));
        }
    }

    let dest = Path::new(&options.destination);
    let mut tgz = TempFile::create_in(dest)?;
    download(&mut client, &r.repository, layer, &mut tgz)?;
    let path = if options.untar {
        untar(&tgz, dest, &subject)?
    } else {
        let path = dest.join(format!("{}-{}.tgz", meta.name, meta.version));
        tgz.persist(&path)?;
        path
    };
    Ok(PullResult {
        reference: subject,
        digest: manifest_digest,
        chart: meta.summary(),
        path: path.display().to_string(),
        warnings,
    })
}

/// Settles which tag to fetch: `--version` (which must agree with a tag in the reference),
/// else the reference's own tag or digest, else the newest stable semver tag.
fn resolve_tag(client: &mut Client, r: &mut Ref, version: Option<&str>) -> Result<()> {
    if let Some(v) = version {
        let tag = reference::normalise_tag(v);
        if let Some(t) = r.tag.as_ref().filter(|t| **t != tag) {
            return Err(Error::InvalidReference(format!(
                "chart reference and version mismatch: {t} is not {v}"
            )));
        }
        r.tag = Some(tag);
    } else if r.tag.is_none() && r.digest.is_none() {
        let tags = client.tags(&r.repository, &r.to_string())?;
        let newest = tags
            .iter()
            .filter_map(|t| semver::Version::parse(&t.replace('_', "+")).ok().map(|v| (v, t)))
            .filter(|(v, _)| v.pre.is_empty())
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, t)| t.clone());
        r.tag = Some(newest.ok_or_else(|| Error::NotFound(format!("{r}: no chart version found (no semver tags)")))?);
    }
    Ok(())
}

/// Fetches a small blob (the config) into memory, verified.
fn fetch_small(client: &mut Client, repo: &str, blob: &Descriptor) -> Result<Vec<u8>> {
    if blob.size > MANIFEST_MAX {
        return Err(Error::invalid_chart(format!("config blob {} claims {} bytes", blob.digest, blob.size)));
    }
    let bytes = client.fetch_blob(repo, &blob.digest, blob.size)?.bytes()?;
    digest::verify(&format!("blob {}", blob.digest), (&blob.digest, blob.size), (&digest::of_bytes(&bytes), bytes.len() as u64))?;
    Ok(bytes)
}

/// Streams a blob into a temp file, hashing on the way; the file is kept only if it verifies.
fn download(client: &mut Client, repo: &str, blob: &Descriptor, into: &mut TempFile) -> Result<()> {
    let blob_reader = client.fetch_blob(repo, &blob.digest, blob.size)?;
    let path = into.path().to_path_buf();
    let mut sink = Hashing::new(into.file());
    // One byte past the announced size is enough to tell a registry sending too much.
    let copied = io::copy(&mut blob_reader.take(blob.size + 1), &mut sink);
    let (actual, size, _) = sink.finish();
    copied.map_err(|e| match e.kind() {
        io::ErrorKind::Other | io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            Error::Network(format!("downloading blob {}: {e}", blob.digest))
        }
        _ => Error::io(&path, e),
    })?;
    digest::verify(&format!("blob {}", blob.digest), (&blob.digest, blob.size), (&actual, size))
}

/// Unpacks a verified archive as `<dest>/<chart>/`, refusing to replace an existing directory.
fn untar(tgz: &TempFile, dest: &Path, subject: &str) -> Result<std::path::PathBuf> {
    let path = tgz.path().to_path_buf();
    let staging = TempDir::create_in(dest)?;
    let reader = io::BufReader::new(File::open(&path).map_err(|e| Error::io(&path, e))?);
    let unpacked = archive::unpack(reader, staging.path(), subject)?;
    let name = unpacked.file_name().expect("unpack returns a named directory");
    let target = dest.join(name);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(Error::Io(format!(
            "failed to untar: a file or directory with the name {} already exists",
            target.display()
        )));
    }
    fs::rename(&unpacked, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}
