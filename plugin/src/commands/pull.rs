//! `pull`: resolve a reference, fetch the config and the chart layer concurrently, verify
//! every digest and that the archive loads as the chart the manifest and the tag say, and
//! only then write the chart.

use crate::chart::archive::{self, Unpacking};
use crate::chart::load::{Limits, Loader};
use crate::chart::metadata::Metadata;
use crate::digest::{self, Hasher};
use crate::error::{Error, Kind, Result};
use crate::fs::granted;
use crate::fs::temp::{TempDir, TempFile};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::manifests::{self, MANIFEST_MAX};
use crate::oci::reference::{self, Ref};
use crate::oci::{blobs, charts, lists};
use crate::version::{Version, Wanted};
use futures::future::try_join;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What to pull, and where to.
pub struct Pull {
    pub reference: Ref,
    /// A chart version (the tag is the version with `+` written as `_`), or a constraint
    /// resolved against the repository's tags.
    pub version: Option<String>,
    /// Prereleases too, when a constraint or the newest version is resolved.
    pub devel: bool,
    /// An existing directory, granted read-write.
    pub destination: PathBuf,
    /// Unpack into `<destination>/<name>/` instead of writing `<name>-<version>.tgz`.
    pub untar: bool,
    pub connection: Connection,
    pub limits: Limits,
}

/// What was pulled: the reference with its tag, the manifest's digest, and where it went.
pub struct Pulled {
    pub reference: Ref,
    pub digest: String,
    pub meta: Metadata,
    /// The archive written, or the directory unpacked.
    pub path: PathBuf,
    pub warnings: Vec<String>,
}

/// Resolves the reference, fetches the manifest, config and chart, verifies each against
/// its digest and the chart against Helm's rules, and only then writes it.
pub async fn run(pull: Pull) -> Result<Pulled> {
    let mut r = pull.reference;
    let client = Client::new(&r.endpoint, &pull.connection);
    let asked = Asked::read(pull.version.as_deref(), pull.devel)?;
    resolve_tag(&client, &mut r, &asked).await?;
    let subject = r.to_string();
    let mut warnings = Vec::new();

    let manifest_ref = r.manifest_ref().expect("resolve_tag leaves a tag or digest");
    let fetched = manifests::fetch(&client, &r.repository, manifest_ref, &subject).await?;
    let manifest_digest = fetched.verified_digest(r.digest.as_deref(), &subject)?;
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
    check_blobs(&manifest.config, layer, &pull.limits, &subject)?;

    let dest = &pull.destination;
    let mut tgz = TempFile::create_in(dest)?;
    let (config, ()) = try_join(
        blobs::fetch_small(&client, &r.repository, &manifest.config),
        download(&client, &r.repository, layer, &mut tgz),
    )
    .await?;
    let meta = Metadata::from_config(&config, &subject)?;
    check_version(&r, &asked, &manifest, &meta, &subject)?;

    let path = if pull.untar {
        untar(&tgz, dest, &meta, &pull.limits, &subject)?
    } else {
        let reader = io::BufReader::new(File::open(tgz.path()).map_err(|e| Error::io(tgz.path(), e))?);
        let chart =
            archive::load(reader, &Loader::new(pull.limits, false), 0).map_err(|why| unloadable(&subject, why))?;
        same_chart(&chart.meta, &meta, &subject)?;
        let path = dest.join(format!("{}-{}.tgz", meta.name, meta.version));
        tgz.persist(&path)?;
        path
    };
    Ok(Pulled { reference: r, digest: manifest_digest, meta, path, warnings })
}

/// What `--version` asks for.
enum Asked {
    /// A version: its tag, as Helm takes it, with no listing.
    Exact(String),
    /// A constraint (or none, for the newest), resolved against the tags; its text, if any.
    Newest(Wanted, Option<String>),
}

impl Asked {
    /// A value that parses as a version is one, as in Helm; anything else is a constraint.
    fn read(version: Option<&str>, devel: bool) -> Result<Asked> {
        match version.filter(|v| !v.is_empty()) {
            Some(v) if Version::parse(v).is_ok() => Ok(Asked::Exact(v.to_string())),
            version => {
                let wanted =
                    Wanted::from_flags(version, None, None, devel).map_err(|why| Error::invalid_reference("", why))?;
                Ok(Asked::Newest(wanted, version.map(str::to_string)))
            }
        }
    }
}

/// Settles which tag to fetch: `--version` (which must agree with a tag in the reference),
/// else the reference's own tag or digest, else the newest semver tag the constraint admits
/// (stable ones only unless asked), as Helm does.
async fn resolve_tag(client: &Client, r: &mut Ref, asked: &Asked) -> Result<()> {
    match asked {
        Asked::Exact(v) => {
            let tag = reference::normalise_tag(v);
            reference::validate_tag(&tag).map_err(|why| Error::invalid_reference(format!("--version {v:?}"), why))?;
            if let Some(t) = r.tag.as_ref().filter(|t| **t != tag) {
                return Err(Error::invalid_reference(
                    "chart reference and version mismatch",
                    format!("{t} is not {v}"),
                ));
            }
            r.tag = Some(tag);
        }
        // A tag or digest in the reference is what is pulled; the constraint is checked
        // against the chart's version once it is read.
        Asked::Newest(..) if r.tag.is_some() || r.digest.is_some() => {}
        Asked::Newest(wanted, constraint) => {
            let tags = lists::tags(client, &r.repository, None, &r.to_string()).await?;
            let newest = wanted.pick(tags.iter().cloned()).into_iter().next().map(|(_, tag)| tag);
            r.tag = Some(newest.ok_or_else(|| {
                let why = match constraint {
                    Some(c) => format!("no chart version matches {c:?}"),
                    None if tags.iter().any(|t| Version::of_tag(t).is_some()) => {
                        "no stable chart version found (--devel includes prereleases)".to_string()
                    }
                    None => "no chart version found (no tag is a version)".to_string(),
                };
                Error::not_found(r.to_string(), why)
            })?);
        }
    }
    Ok(())
}

/// Refuses blobs the manifest describes as no chart could be: a config larger than a
/// manifest may be, a chart layer larger than a chart may be unpacked (gzip adds a little).
fn check_blobs(config: &Descriptor, layer: &Descriptor, limits: &Limits, subject: &str) -> Result<()> {
    for blob in [config, layer] {
        if !digest::is_valid(&blob.digest) {
            return Err(Error::invalid_chart(
                subject,
                format!("the manifest names an unusable digest {:?}", blob.digest),
            ));
        }
    }
    if config.size > MANIFEST_MAX {
        return Err(Error::invalid_chart(
            format!("config blob {}", config.digest),
            format!("it claims {} bytes", config.size),
        ));
    }
    let most = limits.chart_size.saturating_add(limits.chart_size / 64).saturating_add(64 << 10);
    if layer.size > most {
        return Err(Error::invalid_chart(
            subject,
            format!(
                "its chart layer is {} bytes, more than a chart of at most {} bytes unpacked can be (raise it with --max-chart-size)",
                layer.size, limits.chart_size
            ),
        ));
    }
    Ok(())
}

/// The chart must be the one asked for: the version `--version` named or admits when the
/// reference pins a tag or digest, and the version the tag and the manifest say.
fn check_version(r: &Ref, asked: &Asked, manifest: &Manifest, meta: &Metadata, subject: &str) -> Result<()> {
    match asked {
        Asked::Exact(v) if r.digest.is_some() && *v != meta.version => {
            return Err(Error::not_found(subject, format!("it is version {}, not {v}", meta.version)));
        }
        Asked::Newest(wanted, Some(c)) if !Version::parse(&meta.version).is_ok_and(|v| wanted.admits(&v)) => {
            return Err(Error::not_found(
                subject,
                format!("it is version {}, which {c:?} does not admit", meta.version),
            ));
        }
        _ => {}
    }
    if let Some(tag) = r.tag.as_deref().filter(|_| r.digest.is_none()) {
        charts::tag_agrees(tag, meta, subject)?;
    }
    match manifest.annotations.get("org.opencontainers.image.version") {
        Some(said) if *said != meta.version => Err(Error::invalid_chart(
            subject,
            format!("the registry served version {} where the manifest says {said}", meta.version),
        )),
        _ => Ok(()),
    }
}

/// What the archive holds must be the chart the config describes.
fn same_chart(loaded: &Metadata, config: &Metadata, subject: &str) -> Result<()> {
    if loaded.name != config.name || loaded.version != config.version {
        return Err(Error::invalid_chart(
            subject,
            format!(
                "the chart layer holds {} {} where the config says {} {}",
                loaded.name, loaded.version, config.name, config.version
            ),
        ));
    }
    Ok(())
}

fn unloadable(subject: &str, why: String) -> Error {
    Error::invalid_chart(format!("{subject}: the chart layer is not a chart Helm can load"), why)
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

/// Unpacks a verified archive as `<dest>/<chart name>/`, refusing to replace anything.
fn untar(tgz: &TempFile, dest: &Path, meta: &Metadata, limits: &Limits, subject: &str) -> Result<PathBuf> {
    let target = dest.join(&meta.name);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(Error::new(
            Kind::Io,
            "failed to untar",
            format!("a file or directory with the name {} already exists", target.display()),
        ));
    }
    let staging = TempDir::create_in(dest)?;
    let reader = io::BufReader::new(File::open(tgz.path()).map_err(|e| Error::io(tgz.path(), e))?);
    let (chart, unpacked) =
        archive::unpack(reader, staging.path(), &Loader::new(*limits, false)).map_err(|e| match e {
            Unpacking::Chart(why) => unloadable(subject, why),
            Unpacking::Write(why) => Error::new(Kind::Io, "failed to untar", why),
        })?;
    same_chart(&chart.meta, meta, subject)?;
    granted::rename(&unpacked, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}
