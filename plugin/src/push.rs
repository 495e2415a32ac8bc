//! `push`: package (if needed) and upload a chart the way `helm push` lays it out.

use crate::bindings::exports::helm_oci::plugin::registry::{PushOptions, PushResult};
use crate::chart::{archive, metadata::Metadata, package::ChartDir};
use crate::digest::{self, Hashing};
use crate::error::Result;
use crate::manifest::{self, Descriptor, Manifest};
use crate::reference::{self, Ref};
use crate::registry::Client;
use crate::{timefmt, Error};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// What is being pushed: a directory packaged on the fly, or an archive as it is.
enum Source {
    Dir(ChartDir),
    Archive { path: PathBuf, meta: Metadata, mtime: i64 },
}

impl Source {
    fn open(path: &Path) -> Result<Source> {
        let stat = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if stat.is_dir() {
            return ChartDir::load(path).map(Source::Dir);
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = archive::inspect(io::BufReader::new(file), &path.display().to_string())?;
        // Helm stamps `created` with the archive's modification time.
        let mtime = stat.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as i64);
        Ok(Source::Archive { path: path.to_path_buf(), meta, mtime })
    }

    fn meta(&self) -> &Metadata {
        match self {
            Source::Dir(d) => &d.meta,
            Source::Archive { meta, .. } => meta,
        }
    }

    fn mtime(&self) -> i64 {
        match self {
            Source::Dir(d) => d.mtime,
            Source::Archive { mtime, .. } => *mtime,
        }
    }

    /// Writes the chart archive's bytes; called once to digest them and again to upload them.
    fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Source::Dir(d) => d.write_archive(out),
            Source::Archive { path, .. } => io::copy(&mut File::open(path)?, out).map(drop),
        }
    }

    /// The provenance file Helm pushes along with an archive, if one sits beside it.
    fn provenance(&self) -> Option<PathBuf> {
        match self {
            Source::Archive { path, .. } => {
                let prov = PathBuf::from(format!("{}.prov", path.display()));
                prov.is_file().then_some(prov)
            }
            Source::Dir(_) => None,
        }
    }
}

pub fn run(options: PushOptions) -> Result<PushResult> {
    let remote = reference::parse(&options.remote)?;
    if remote.digest.is_some() {
        return Err(Error::InvalidReference(format!(
            "cannot push to a digest ({remote}); give oci://host/namespace or a tag"
        )));
    }
    let source = Source::open(Path::new(&options.chart))?;
    let meta = source.meta();
    let version_tag = reference::normalise_tag(&meta.version);
    let mut warnings = Vec::new();
    let target = match &remote.tag {
        None => {
            if !reference::is_path_component(&meta.name) {
                return Err(Error::invalid_chart(format!(
                    "chart name {:?} cannot be an OCI repository name (lowercase letters, digits, '.', '_', '-')",
                    meta.name
                )));
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
    let mut client = Client::new(&target, &options.connection);

    let config_bytes = manifest::go_json(meta);
    let config = Descriptor { media_type: manifest::CONFIG.into(), digest: digest::of_bytes(&config_bytes), size: config_bytes.len() as u64 };
    let mut hashing = Hashing::new(io::sink());
    source.write(&mut hashing).map_err(|e| Error::Io(format!("{}: {e}", options.chart)))?;
    let (chart_digest, chart_size, _) = hashing.finish();
    let chart = Descriptor { media_type: manifest::CHART.into(), digest: chart_digest, size: chart_size };

    upload(&mut client, &target.repository, &config, &mut |w| w.write_all(&config_bytes))?;
    upload(&mut client, &target.repository, &chart, &mut |w| source.write(w))?;
    let mut layers = vec![chart];
    if let Some(prov_path) = source.provenance() {
        let prov_bytes = fs::read(&prov_path).map_err(|e| Error::io(&prov_path, e))?;
        let prov = Descriptor { media_type: manifest::PROVENANCE.into(), digest: digest::of_bytes(&prov_bytes), size: prov_bytes.len() as u64 };
        upload(&mut client, &target.repository, &prov, &mut |w| w.write_all(&prov_bytes))?;
        layers.push(prov);
    }

    let annotations = manifest::chart_annotations(meta, &timefmt::rfc3339(source.mtime()));
    let manifest_bytes = manifest::go_json(&Manifest::for_chart(config, layers, annotations));
    let manifest_digest = digest::of_bytes(&manifest_bytes);
    let reported = client.push_manifest(&target.repository, tag, manifest::MANIFEST, &manifest_bytes)?;
    if let Some(reported) = reported.filter(|d| digest::is_valid(d)) {
        if reported != manifest_digest {
            return Err(Error::mismatch(format!("manifest {target}"), manifest_digest, reported));
        }
    }
    Ok(PushResult { reference: target.to_string(), digest: manifest_digest, chart: meta.summary(), warnings })
}

/// Uploads a blob unless the repository already has it.
fn upload(
    client: &mut Client,
    repo: &str,
    blob: &Descriptor,
    produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    if client.blob_exists(repo, &blob.digest)? {
        return Ok(());
    }
    client.push_blob(repo, &blob.digest, blob.size, produce)
}
