//! A chart laid out as Helm pushes it: the archive (packaged on the way from a directory),
//! the config (Chart.yaml as JSON), the provenance file if one sits beside the archive, and
//! the manifest naming them, under the reference it goes to. `push` uploads it; `save`
//! puts it in the cache.

use crate::chart::directory::Links;
use crate::chart::load::{self, Limits, Loader};
use crate::chart::package::{self, Packaged};
use crate::chart::{archive, metadata::Metadata};
use crate::digest::{self, Hashing};
use crate::error::{Error, Result};
use crate::gojson::go_json;
use crate::net::clock;
use crate::oci::charts;
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::reference::{self, Ref};
use crate::oci::upload::Content;
use crate::timestamp;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// A chart ready to go to `target`.
pub struct Artifact {
    pub target: Ref,
    pub meta: Metadata,
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Descriptor,
    config_bytes: Vec<u8>,
    pub layer: Descriptor,
    prov: Option<(Descriptor, Vec<u8>)>,
    source: Source,
    pub warnings: Vec<String>,
}

impl Artifact {
    /// Loads (and, for a directory, packages) the chart at `path` for `remote`: `host/namespace`
    /// (the chart goes to `<namespace>/<name>:<version>`; with `names_repository`, to
    /// `host/namespace:<version>`) or a reference with a tag.
    pub fn build(
        path: &Path,
        remote: &Ref,
        names_repository: bool,
        limits: &Limits,
        source_date_epoch: Option<i64>,
        links: &Links,
    ) -> Result<Artifact> {
        if remote.digest.is_some() {
            return Err(Error::invalid_reference(
                format!("a chart cannot go to a digest ({remote})"),
                "give oci://host/namespace or a tag",
            ));
        }
        let source = Source::open(path, limits, source_date_epoch, links)?;
        let meta = source.meta.clone();
        let version_tag = reference::normalise_tag(&meta.version);
        let mut warnings = Vec::new();
        let target = match &remote.tag {
            None if names_repository => remote.with_tag(&version_tag),
            None => {
                if !reference::is_path_component(&meta.name) {
                    return Err(Error::invalid_chart(
                        format!("chart name {:?}", meta.name),
                        "it cannot be an OCI repository name (lowercase letters, digits, '.', '_', '-')",
                    ));
                }
                let repository = match remote.repository.as_str() {
                    "" => meta.name.clone(),
                    namespace => format!("{namespace}/{}", meta.name),
                };
                Ref { repository, ..remote.with_tag(&version_tag) }
            }
            Some(tag) if !charts::names_version(tag, &meta.version) => {
                // Helm, `helm oci pull` and every listing take a version tag for what it says.
                return Err(Error::invalid_reference(
                    remote.to_string(),
                    format!(
                        "tag {tag:?} reads as another chart version than {} {}; leave the tag out to push to {version_tag:?}, or use one that is no version",
                        meta.name, meta.version
                    ),
                ));
            }
            Some(tag) => {
                if *tag != version_tag {
                    warnings.push(format!(
                        "{} {} goes to tag {tag:?}: Helm resolves charts only by semver version tags, \
                         so `helm pull --version` will not find this one",
                        meta.name, meta.version
                    ));
                }
                remote.clone()
            }
        };
        let config_bytes = go_json(&meta);
        let config = Descriptor::of(helm::CONFIG, &config_bytes);
        let layer = source.layer.clone();
        let prov = source.provenance()?.map(|bytes| (Descriptor::of(helm::PROVENANCE, &bytes), bytes));
        let layers = std::iter::once(layer.clone()).chain(prov.iter().map(|(d, _)| d.clone())).collect();
        let annotations = helm::chart_annotations(&meta, &timestamp::rfc3339(source.created));
        let manifest = go_json(&Manifest::for_chart(config.clone(), layers, annotations));
        let manifest_digest = digest::of_bytes(&manifest);
        Ok(Artifact { target, meta, manifest, manifest_digest, config, config_bytes, layer, prov, source, warnings })
    }

    /// The blobs the manifest names, each with where its bytes are.
    pub fn blobs(&self) -> Vec<(&Descriptor, Content<'_>)> {
        let mut blobs = vec![(&self.config, Content::Bytes(&self.config_bytes)), (&self.layer, self.source.content())];
        if let Some((prov, bytes)) = &self.prov {
            blobs.push((prov, Content::Bytes(bytes)));
        }
        blobs
    }
}

/// The chart: as loaded, with the time stamped on it, its layer's descriptor (hashed once,
/// as it was packaged or read) and where the layer's bytes are. Either way the chart has
/// loaded by Helm's rules first, so what is pushed Helm can load.
struct Source {
    meta: Metadata,
    created: i64,
    layer: Descriptor,
    bytes: Bytes,
}

/// A directory's archive, packaged in memory, or an archive's file.
enum Bytes {
    Packaged(Vec<u8>),
    Archive(PathBuf),
}

impl Source {
    fn open(path: &Path, limits: &Limits, source_date_epoch: Option<i64>, links: &Links) -> Result<Source> {
        let origin = path.display().to_string();
        let stat = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if stat.is_dir() {
            let Packaged { chart, archive, created } = package::directory(path, limits, source_date_epoch, links)?;
            load::check_dependencies(&chart).map_err(|why| Error::invalid_chart(&origin, why))?;
            let layer = Descriptor::of(helm::CHART, &archive);
            return Ok(Source { meta: chart.meta, created, layer, bytes: Bytes::Packaged(archive) });
        }
        // The archive is hashed as it is checked: one read before the upload's.
        let mut reader = Hashing::new(io::BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?));
        let chart = archive::load(&mut reader, &Loader::new(*limits, false), 0)
            .map_err(|why| Error::invalid_chart(format!("{origin} is not a valid chart archive"), why))?;
        let (digest, size) = reader.finish().map_err(|e| Error::io(path, e))?;
        // Helm stamps `created` with the archive's modification time.
        let mtime =
            stat.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64);
        // A time in the future (a clock set wrong, a file from elsewhere) is never stamped.
        let created = source_date_epoch.unwrap_or(mtime).min(clock::wall_seconds());
        let layer = Descriptor::new(helm::CHART, digest, size);
        Ok(Source { meta: chart.meta, created, layer, bytes: Bytes::Archive(path.to_path_buf()) })
    }

    /// Where the chart layer's bytes come from.
    fn content(&self) -> Content<'_> {
        match &self.bytes {
            Bytes::Packaged(archive) => Content::Bytes(archive),
            Bytes::Archive(path) => Content::File(path),
        }
    }

    /// The provenance file Helm pushes along with an archive, if one sits beside it.
    fn provenance(&self) -> Result<Option<Vec<u8>>> {
        let Bytes::Archive(path) = &self.bytes else { return Ok(None) };
        let prov = PathBuf::from(format!("{}.prov", path.display()));
        if !prov.is_file() {
            return Ok(None);
        }
        fs::read(&prov).map(Some).map_err(|e| Error::io(&prov, e))
    }
}
