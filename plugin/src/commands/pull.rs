//! `pull`: resolve a reference, through the cache: a digest it holds needs no request, a
//! tag it holds one `HEAD`, and only the blobs it lacks are downloaded (the config and the
//! chart layer concurrently). Every digest is verified, and the archive must load as the
//! chart the manifest and the tag say, before the chart is written. Mirrors are read
//! first, and one that fails or serves what does not verify is passed over.

use crate::cache::held::{self, Existing};
use crate::cache::{self, Cache, Entry, Shown, TAG_TRIES, Tagged};
use crate::chart::load::Limits;
use crate::chart::metadata::Metadata;
use crate::digest;
use crate::error::{Error, Kind, Result};
use crate::net::clock;
use crate::oci::client::{Client, Connection, MirrorHealth};
use crate::oci::helm::{self, ChartLayers, Descriptor, LEGACY_CHART, Manifest};
use crate::oci::manifests::{self, MANIFEST_MAX};
use crate::oci::mirrors::{self, Mirror, Place, Sources};
use crate::oci::reference::{self, Ref};
use crate::oci::wrapped::{self, Look};
use crate::oci::{blobs, charts, lists};
use crate::version::{Version, Wanted};
use futures::future::try_join_all;
use std::io::Write;
use std::path::PathBuf;

/// What to pull, and where.
pub struct Pull {
    pub reference: Ref,
    /// A chart version (the tag is the version with `+` written as `_`), or a constraint
    /// resolved against the repository's tags.
    pub version: Option<String>,
    /// Whether a `version` that is a version names its tag, as Helm pulls from a registry;
    /// else it is matched against the tags as a constraint is (`1.2.0` matches `v1.2.0` and
    /// `1.2.0+build.7`), as Helm resolves a dependency in a chart repository's index.
    pub version_is_tag: bool,
    /// Prereleases too, when a constraint or the newest version is resolved.
    pub devel: bool,
    /// An existing directory, granted read-write.
    pub destination: PathBuf,
    /// Unpack into `<destination>/<name>/` instead of writing the archive.
    pub untar: bool,
    /// Name the archive as Helm's pull does, after the reference as asked (see
    /// `archive_name`); else after the chart, `<name>-<version>.tgz`, the name its
    /// provenance file signs, as Helm's dependency update names the charts it vendors.
    pub named_as_asked: bool,
    /// Write the provenance file beside the archive too, if the chart has one.
    pub provenance: bool,
    pub connection: Connection,
    pub limits: Limits,
    /// The chart cache, granted read-write.
    pub cache: PathBuf,
    /// The cache alone, with no request.
    pub offline: bool,
    /// Tried in order before the registry.
    pub mirrors: Vec<Mirror>,
    /// What the call has learnt of the mirrors' health, shared with its other pulls.
    pub health: MirrorHealth,
}

/// What was pulled: the reference with its tag, the digest it names (the manifest's, or
/// that of an image index wrapping it), and where it went.
pub struct Pulled {
    pub reference: Ref,
    pub digest: String,
    pub meta: Metadata,
    /// The archive written, or the directory unpacked.
    pub path: PathBuf,
    /// The provenance file written beside the archive.
    pub provenance: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Resolves the reference, gets the manifest, config and chart through the cache, verifies
/// each against its digest and the chart against Helm's rules, and only then writes it.
/// The mirrors are tried first, each in turn, then the registry.
pub async fn run(pull: Pull) -> Result<Pulled> {
    let cache = Cache::create(&pull.cache)?;
    let asked = Asked::read(pull.version.as_deref(), pull.version_is_tag, pull.devel)?;
    let mirrors = if pull.offline { &[][..] } else { &pull.mirrors[..] };
    let origin = Client::new(&pull.reference.endpoint, &pull.connection);
    let sources = Sources::new(origin, mirrors, None, &pull.health);
    let places = sources.places(&pull.reference.repository, "");
    let (mut pulled, passed_over) =
        mirrors::first(&places, async |place| from(&pull, &cache, &asked, place).await).await?;
    pulled.warnings.splice(0..0, passed_over);
    Ok(pulled)
}

/// The pull, with what the cache lacks read from one place.
async fn from(pull: &Pull, cache: &Cache, asked: &Asked, place: &Place<'_>) -> Result<Pulled> {
    let mut r = pull.reference.clone();
    let mut warnings = Vec::new();
    if pull.offline {
        resolve_cached(cache, &mut r, asked)?;
    } else {
        resolve_tag(place, &mut r, asked, &mut warnings).await?;
    }
    let subject = said_of(place, &r);
    let source = Source { cache, place, offline: pull.offline, subject: &subject };

    let Named { bytes: manifest_bytes, digest: manifest_digest, named } = source.manifest(&r, &mut warnings).await?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Error::invalid_chart(&subject, format!("the manifest is not valid: {e}")))?;
    let layers = manifest.chart_layers(&subject)?;
    if let ChartLayers::Packaged { legacy: true, .. } = layers {
        warnings.push(format!(
            "{subject} uses the deprecated chart media type {LEGACY_CHART:?} of Helm 3.0-3.6; push it again to update it"
        ));
    }
    check_blobs(&layers, &pull.limits, &subject)?;
    let manifest_blob = Descriptor::of(manifest.own_media_type(), &manifest_bytes);
    // Another process's `remove` may take blobs between their download and the write: they
    // are fetched again.
    let mut tries = 1;
    let (meta, path, provenance) = loop {
        source.blobs(&layers.blobs(), &mut warnings).await?;
        let written = held::chart(cache, &layers, &pull.limits, &subject).and_then(|(meta, archive)| {
            check_version(&r, asked, &meta, &subject)?;
            if pull.untar {
                let path = held::unpack(&archive, &pull.destination, &meta, &pull.limits, &subject, Existing::Refuse)?;
                return Ok((meta, path, None));
            }
            let name = if pull.named_as_asked { archive_name(&pull.reference, &r, asked) } else { meta.archive_name() };
            let path = held::write_archive(&archive, (&pull.destination, &name), &meta, &pull.limits, &subject)?;
            let provenance =
                if pull.provenance { held::write_provenance(cache, &layers, &path, &subject)? } else { None };
            Ok((meta, path, provenance))
        });
        match written {
            Err(_) if tries < TAG_TRIES && !pull.offline && layers.blobs().iter().any(|b| !cache.has(b)) => tries += 1,
            written => break written?,
        }
    };
    warnings.extend(annotation_disagrees(&manifest, &meta, &subject));
    // Only a chart that passed every check gets its name in the cache. The chart is
    // pulled by now: a cache that cannot record it is worth a warning, not a failure.
    let shown =
        Shown { name: &meta.name, version: &meta.version, size: layers.archive().size, created: clock::wall_seconds() };
    let entry =
        Entry::new(&held::name_of(&r), (&manifest_blob.media_type, &manifest_digest, manifest_blob.size), shown)
            .wrapped_in(&named);
    // A digest the repository's entries hold already (under a tag) needs no entry of its own:
    // so an offline pull by digest from a cache baked read-only writes nothing.
    let held = r.tag.is_none() && matches!(held::find(cache, &r, &Wanted::default()), Ok(Some(_)));
    let kept = (&manifest_blob, manifest_bytes.as_slice());
    if !held && let Err(e) = source.record(entry, kept, &layers, &mut warnings).await {
        warnings.push(format!("{subject} was pulled, but the chart cache could not record it: {e}"));
    }
    Ok(Pulled { reference: r, digest: named, meta, path, provenance, warnings })
}

/// The reference as read at `place`: at a mirror, the mirror's copy, so that what goes
/// wrong there (credentials it lacks, say) is said of the mirror, not of the registry.
fn said_of(place: &Place<'_>, r: &Ref) -> String {
    if !place.is_mirror() {
        return r.to_string();
    }
    let endpoint = place.client.endpoint().to_string();
    Ref { registry: endpoint.clone(), endpoint, repository: place.repository.clone(), ..r.clone() }.to_string()
}

/// The manifest a chart is read from, and the digest the reference names: an image index
/// that wraps the manifest, or the manifest itself.
struct Named {
    bytes: Vec<u8>,
    digest: String,
    named: String,
}

/// Where a pull's content comes from: the cache, and a registry (or mirror) for what it lacks.
struct Source<'a> {
    cache: &'a Cache,
    place: &'a Place<'a>,
    offline: bool,
    subject: &'a str,
}

impl Source<'_> {
    /// The chart's manifest (under the image index the reference names, if it names one):
    /// a digest the cache holds for this repository is read from it (held for another, it
    /// says nothing of what this one has); a cached tag is checked with a HEAD and read from
    /// the cache if it still points there.
    async fn manifest(&self, r: &Ref, warnings: &mut Vec<String>) -> Result<Named> {
        // An index that cannot be read holds nothing a registry cannot give again; recording
        // the pull in it then fails with a warning that says why.
        let found = match held::find(self.cache, r, &Wanted::default()) {
            Err(_) if !self.offline => None,
            found => found?,
        };
        let cached = match found {
            None => None,
            Some((_, entry)) if r.digest.is_some() => Some((r.digest.clone().expect("a digest"), entry)),
            Some((_, entry)) if self.offline => Some((entry.named_digest().to_string(), entry)),
            Some((_, entry)) => {
                let tag = r.tag.as_deref().expect("resolved to a tag");
                let current = manifests::resolve(self.place.client, &self.place.repository, tag).await?;
                current.filter(|d| entry.is_named_by(d)).map(|d| (d, entry))
            }
        };
        // An entry pulled through an image index is that index's only if the index, cached
        // beside it, still shows it names the entry's manifest.
        let cached = cached.filter(|(named, entry)| {
            *named == entry.digest || wrapped::names_in_cache(self.cache, named, &entry.digest)
        });
        if let Some((named, entry)) = cached {
            match self.cache.manifest(&entry.digest) {
                Ok(Some(bytes)) => return Ok(Named { bytes, digest: entry.digest, named }),
                Ok(None) => {}
                Err(e) if matches!(e.kind, Kind::DigestMismatch { .. }) && !self.offline => {
                    warnings.push(format!("{e}; it was removed and is fetched again"));
                }
                Err(e) => return Err(e),
            }
        }
        if self.offline {
            return Err(held::not_cached(self.subject).because("--offline"));
        }
        let manifest_ref = r.manifest_ref().expect("resolve_tag leaves a tag or digest");
        let (client, repo) = (self.place.client, &self.place.repository);
        // Indexes are accepted too: one may wrap the chart, and one that does not is said
        // to be what it is, not "not found".
        let fetched = manifests::fetch_any(client, repo, manifest_ref, self.subject).await?;
        let named = fetched.verified_digest(r.digest.as_deref(), self.subject)?;
        let put_here = |bytes: &[u8]| self.cache.put(&Descriptor::new("", named.clone(), bytes.len() as u64), bytes);
        if fetched.is_oci_index() {
            put_here(&fetched.bytes)?;
            let under =
                wrapped::chart_under(&fetched.bytes, (client, repo), Some(self.cache), Look::Everywhere, self.subject);
            let chart = under.await?.ok_or_else(|| {
                Error::invalid_chart(
                    format!("{} is not a Helm chart", self.subject),
                    "it is an image index, and no manifest under it is a chart's",
                )
            })?;
            return Ok(Named { bytes: chart.bytes, digest: chart.descriptor.digest, named });
        }
        if fetched.is_index() {
            return Err(Error::invalid_chart(
                format!("{} is not a Helm chart", self.subject),
                "it is a Docker manifest list (an image per platform)",
            ));
        }
        put_here(&fetched.bytes)?;
        Ok(Named { bytes: fetched.bytes, digest: named.clone(), named })
    }

    /// Puts the pulled reference in the index. Another process's garbage collection may
    /// have taken some of its blobs meanwhile: they are fetched again.
    async fn record(
        &self,
        entry: Entry,
        (manifest, bytes): (&Descriptor, &[u8]),
        layers: &ChartLayers<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let needed: Vec<&Descriptor> = std::iter::once(manifest).chain(layers.blobs()).collect();
        for _ in 0..TAG_TRIES {
            match self.cache.tag(entry.clone(), &needed)? {
                Tagged::Done => return Ok(()),
                Tagged::Missing(gone) if self.offline => {
                    return Err(Error::not_found(self.subject, format!("blobs {} left it", gone.join(", "))));
                }
                Tagged::Missing(_) => {
                    self.cache.put(manifest, bytes)?;
                    self.blobs(&layers.blobs(), warnings).await?;
                }
            }
        }
        Err(cache::kept_removing(self.cache.root()))
    }

    /// Makes sure the cache holds these blobs, verified, downloading (concurrently) those it
    /// lacks or holds corrupt.
    async fn blobs(&self, blobs: &[&Descriptor], warnings: &mut Vec<String>) -> Result<()> {
        let mut missing = Vec::new();
        for blob in blobs {
            match self.cache.verify(blob) {
                Ok(true) => {}
                Ok(false) => missing.push(*blob),
                Err(e) if matches!(e.kind, Kind::DigestMismatch { .. }) && !self.offline => {
                    warnings.push(format!("{e}; it was removed and is fetched again"));
                    missing.push(*blob);
                }
                Err(e) => return Err(e),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if self.offline {
            let what = missing.iter().map(|b| b.digest.as_str()).collect::<Vec<_>>().join(", ");
            return Err(Error::not_found(self.subject, format!("blobs {what} are not in the chart cache (--offline)")));
        }
        let (client, repo) = (self.place.client, &self.place.repository);
        try_join_all(missing.into_iter().map(|blob| download(client, self.cache, repo, blob))).await?;
        Ok(())
    }
}

/// Streams a blob into the cache, hashing on the way; it is kept only if it verifies.
async fn download(client: &Client, cache: &Cache, repo: &str, blob: &Descriptor) -> Result<()> {
    let mut download = blobs::download(client, repo, blob).await?;
    let mut writer = cache.writer(blob)?;
    let path = cache.blob_path(&blob.digest)?;
    while let Some(piece) = download.chunk().await? {
        writer.write_all(&piece).map_err(|e| Error::io(&path, e))?;
        // One byte past the announced size is enough to tell a registry sending too much.
        if writer.written() > blob.size {
            break;
        }
    }
    writer.finish()
}

/// Settles the tag from the cache alone: the reference's own tag or digest, the exact
/// `--version`, or the newest cached version the constraint admits.
fn resolve_cached(cache: &Cache, r: &mut Ref, asked: &Asked) -> Result<()> {
    let wanted = match asked {
        Asked::Exact(v) => {
            *r = tagged(r, v)?;
            return Ok(());
        }
        Asked::Newest(_, _) if r.tag.is_some() || r.digest.is_some() => return Ok(()),
        Asked::Newest(wanted, _) => wanted,
    };
    let (found, _) = held::find(cache, r, wanted)?
        .ok_or_else(|| held::not_cached(&r.to_string()).because("--offline, and no cached version matches"))?;
    *r = found;
    Ok(())
}

/// What `--version` asks for.
enum Asked {
    /// A version: its tag, as Helm takes it, with no listing.
    Exact(String),
    /// A constraint (or none, for the newest), resolved against the tags; its text, if any.
    Newest(Wanted, Option<String>),
}

impl Asked {
    /// A value that parses as a version is one (if versions are tags), as in Helm; anything
    /// else is a constraint.
    fn read(version: Option<&str>, version_is_tag: bool, devel: bool) -> Result<Asked> {
        match version.filter(|v| !v.is_empty()) {
            Some(v) if version_is_tag && Version::parse(v).is_ok() => Ok(Asked::Exact(v.to_string())),
            version => {
                let wanted =
                    Wanted::from_flags(version, None, None, devel).map_err(|why| Error::invalid_reference("", why))?;
                Ok(Asked::Newest(wanted, version.map(str::to_string)))
            }
        }
    }
}

/// The reference at the tag of `--version`, which must agree with a tag it has.
fn tagged(r: &Ref, version: &str) -> Result<Ref> {
    let tag = reference::normalise_tag(version);
    reference::validate_tag(&tag).map_err(|why| Error::invalid_reference(format!("--version {version:?}"), why))?;
    if let Some(t) = r.tag.as_ref().filter(|t| **t != tag) {
        return Err(Error::invalid_reference("chart reference and version mismatch", format!("{version} is not {t}")));
    }
    Ok(Ref { tag: Some(tag), ..r.clone() })
}

/// Settles which tag to fetch: `--version` (which must agree with a tag in the reference),
/// else the reference's own tag or digest, else the newest semver tag the constraint admits
/// (stable ones only unless asked), as Helm does.
async fn resolve_tag(place: &Place<'_>, r: &mut Ref, asked: &Asked, warnings: &mut Vec<String>) -> Result<()> {
    match asked {
        Asked::Exact(v) => *r = tagged(r, v)?,
        // A tag or digest in the reference is what is pulled; the constraint is checked
        // against the chart's version once it is read.
        Asked::Newest(..) if r.tag.is_some() || r.digest.is_some() => {}
        Asked::Newest(wanted, constraint) => {
            let tags = lists::tags(place.client, &place.repository, None, &said_of(place, r)).await?;
            r.tag = Some(wanted.newest(tags.clone()).ok_or_else(|| {
                let why = match constraint {
                    Some(c) => format!("no chart version matches {c:?}"),
                    None if tags.iter().any(|t| Version::of_tag(t).is_some()) => {
                        "no stable chart version found (--devel includes prereleases)".to_string()
                    }
                    None => "no chart version found (no tag is a version)".to_string(),
                };
                Error::not_found(said_of(place, r), why)
            })?);
        }
    }
    // As in Helm, a tag beside a digest must name that digest, if the tag exists (the chart
    // is pulled by the digest either way). Where the registry will not say, Helm says
    // nothing either; this says that the tag went unchecked.
    if let (Some(tag), Some(pinned)) = (&r.tag, &r.digest) {
        let subject = said_of(place, r);
        match manifests::digest_of_tag(place.client, &place.repository, tag, &subject).await {
            Ok(Some(current)) if current != *pinned => {
                return Err(Error::mismatch(format!("the tag of {subject}"), pinned, current));
            }
            Ok(_) => {}
            Err(e) => warnings.push(format!("{e}; whether the tag {tag} still names {pinned} was not checked")),
        }
    }
    Ok(())
}

/// The archive's file name as Helm's pull gives it: after the reference as asked, not the
/// chart inside, so that a script written for `helm pull` finds it. The repository's last
/// segment, then the version `--version` gave, the version a constraint resolved to, or
/// the reference's tag (`app:1.2` gives `app-1.2.tgz`); a tag that reads as a version is
/// written with the `+` its `_` stands for, as Helm's listing gives it. A pull by digest
/// gives `app@sha256-<hex>.tgz`, as Helm cuts its name at the last `:`. (A tag that is no
/// version, `app:stable`, Helm's pull refuses; it gives `app-stable.tgz` here.)
fn archive_name(asked: &Ref, resolved: &Ref, version: &Asked) -> String {
    let name = asked.repository.rsplit('/').next().unwrap_or(&asked.repository);
    if let Some(digest) = &asked.digest {
        return format!("{name}@{}.tgz", digest.replacen(':', "-", 1));
    }
    let tag = |tag: &str| match Version::of_tag(tag) {
        Some(_) => tag.replace('_', "+"),
        None => tag.to_string(),
    };
    let version = match (&asked.tag, version) {
        (Some(asked), _) => tag(asked),
        (None, Asked::Exact(v)) => v.clone(),
        (None, Asked::Newest(..)) => tag(resolved.tag.as_deref().unwrap_or_default()),
    };
    format!("{name}-{version}.tgz")
}

/// Refuses blobs the manifest describes as no chart could be: a config larger than a
/// manifest may be, a chart layer larger than a chart may be unpacked (gzip adds a little).
fn check_blobs(layers: &ChartLayers, limits: &Limits, subject: &str) -> Result<()> {
    for blob in layers.blobs() {
        if !digest::is_valid(&blob.digest) {
            return Err(Error::invalid_chart(
                subject,
                format!("the manifest names an unusable digest {:?}", blob.digest),
            ));
        }
    }
    let archive = layers.archive();
    if let Some(blob) = layers.blobs().into_iter().find(|b| b.digest != archive.digest && b.size > MANIFEST_MAX) {
        return Err(Error::invalid_chart(
            format!("{} blob {}", if blob.media_type.is_empty() { "config" } else { &blob.media_type }, blob.digest),
            format!("it claims {} bytes", blob.size),
        ));
    }
    let most = limits.chart_size.saturating_add(limits.chart_size / 64).saturating_add(64 << 10);
    if archive.size > most {
        return Err(Error::invalid_chart(
            subject,
            format!(
                "its chart layer is {} bytes, more than a chart of at most {} bytes unpacked can be{}",
                archive.size,
                limits.chart_size,
                limits.raise_chart()
            ),
        ));
    }
    Ok(())
}

/// The chart must be the one asked for: the version `--version` named or admits when the
/// reference pins a tag or digest, and the version the tag says.
fn check_version(r: &Ref, asked: &Asked, meta: &Metadata, subject: &str) -> Result<()> {
    match asked {
        Asked::Exact(v)
            if r.digest.is_some() && !charts::names_version(&reference::normalise_tag(v), &meta.version) =>
        {
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
    Ok(())
}

/// A manifest annotated with another version than its chart's is pulled, as Helm pulls it
/// (the chart's own config is what search and index list), with a word of it.
fn annotation_disagrees(manifest: &Manifest, meta: &Metadata, subject: &str) -> Option<String> {
    let said = manifest.annotations.get(helm::VERSION).filter(|said| **said != meta.version)?;
    Some(format!("{subject}: its manifest is annotated as version {said}, but the chart is version {}", meta.version))
}
