//! What a tag holds, read from the registry without the chart itself: the manifest, and
//! if it is a Helm chart's, the config blob (Chart.yaml as JSON), both verified.

use super::client::Client;
use super::helm::{self, ChartLayers, Manifest};
use super::manifests::{self, MANIFEST_MAX};
use super::wrapped::{self, Look};
use super::{blobs, reference};
use crate::cache::Cache;
use crate::cache::listed::Listed;
use crate::chart::metadata::Metadata;
use crate::digest;
use crate::error::{Error, Result};
use crate::timestamp::parse_rfc3339;
use crate::version::Version;

/// A chart in the registry: the digest its tag names (its manifest's, or that of an image
/// index wrapping it), its metadata, and what a chart
/// repository's index says of it besides.
pub struct Described {
    pub digest: String,
    pub meta: Metadata,
    /// The chart archive's digest, which is that of the `.tgz` a pull writes.
    pub archive: String,
    /// The manifest's `org.opencontainers.image.created` annotation, if RFC 3339.
    pub created: Option<String>,
}

/// What a listing keeps in the chart cache between runs: the configs it read
/// (content-addressed), and each tag's manifest.
pub struct Kept<'a> {
    pub cache: &'a Cache,
    pub listed: &'a Listed,
}

/// Reads the chart a tag (or digest) points at; None if it is not a Helm chart (an image, a
/// signature). A chart whose manifest or config is broken, or whose version is not the
/// one its tag says, is an error. With `kept`, what the cache holds is read from it, and what
/// is fetched is kept, so that listing again reads only what changed (see `manifest`).
pub async fn describe(
    client: &Client,
    repo: &str,
    tag: &str,
    subject: &str,
    kept: Option<&Kept<'_>>,
) -> Result<Option<Described>> {
    let pinned = digest::is_valid(tag).then_some(tag);
    let (mut bytes, manifest_digest) = manifest(client, repo, tag, pinned, subject, kept).await?;
    if manifests::is_oci_index(&bytes, None) {
        // What goes wrong under an index (a manifest the registry lacks, or that is not what
        // the index says) is said of this tag alone, as a broken chart is.
        let cache = kept.map(|k| k.cache);
        let under = wrapped::chart_under(&bytes, (client, repo), cache, Look::PastImages, subject).await;
        match under.map_err(|e| Error::invalid_chart(subject, format!("under its image index: {e}")))? {
            Some(chart) => bytes = chart.bytes,
            None => return Ok(None),
        }
    }
    // Only the config's media type decides; anything else (an index, a Docker image) is
    // simply not a chart.
    let generic: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid_chart(subject, format!("the manifest is not valid JSON: {e}")))?;
    if generic.pointer("/config/mediaType").and_then(|t| t.as_str()) != Some(helm::CONFIG) {
        return Ok(None);
    }
    let manifest = serde_json::from_value::<Manifest>(generic)
        .map_err(|e| Error::invalid_chart(subject, format!("the manifest is not valid: {e}")))?;
    drop(bytes);
    // Helm's config makes the layout Helm's own, never the early split one.
    let ChartLayers::Packaged { config, chart, .. } = manifest.chart_layers(subject)? else {
        return Ok(None);
    };
    let (config, archive) = (config.clone(), chart.digest.clone());
    if !digest::is_valid(&config.digest) || config.size > MANIFEST_MAX || !digest::is_valid(&archive) {
        return Err(Error::invalid_chart(subject, "the manifest names an unusable config or chart layer"));
    }
    let created = manifest.annotations.get(helm::CREATED).filter(|t| parse_rfc3339(t).is_some()).cloned();
    // Only what is described is kept while the config is fetched: a search may have many
    // of these waiting for a turn.
    drop(manifest);
    let meta = Metadata::from_config(&blobs::fetch_kept(client, repo, &config, kept.map(|k| k.cache)).await?, subject)?;
    if pinned.is_none() {
        tag_agrees(tag, &meta, subject)?;
    }
    Ok(Some(Described { digest: manifest_digest, meta, archive, created }))
}

/// A manifest's bytes and digest. With `kept`, a tag that a HEAD finds still naming the
/// manifest it named when last listed is not read again (Docker Hub counts no HEAD against
/// its pull limit); a tag read is remembered.
async fn manifest(
    client: &Client,
    repo: &str,
    tag: &str,
    pinned: Option<&str>,
    subject: &str,
    kept: Option<&Kept<'_>>,
) -> Result<(Vec<u8>, String)> {
    let kept = kept.filter(|_| pinned.is_none());
    if let Some(kept) = kept
        && let Some((digest, bytes)) = kept.listed.remembered(client.endpoint(), repo, tag)
        && manifests::resolve(client, repo, tag).await.ok().flatten().as_ref() == Some(&digest)
    {
        return Ok((bytes, digest));
    }
    // Indexes accepted too: a registry refuses one (404) to an `Accept` without them, and a
    // tag may name one (a multi-platform image, a signature's `sha256-…` tag).
    let fetched = manifests::fetch_any(client, repo, tag, subject).await?;
    let digest = fetched.verified_digest(pinned, subject)?;
    if let Some(kept) = kept {
        kept.listed.found(client.endpoint(), repo, tag, &digest, &fetched.bytes);
    }
    Ok((fetched.bytes, digest))
}

/// A tag that is a version names the chart's version (`latest` and the like name none): a
/// registry serving another chart under it is refused. See `names_version`.
pub fn tag_agrees(tag: &str, meta: &Metadata, subject: &str) -> Result<()> {
    if !names_version(tag, &meta.version) {
        return Err(Error::invalid_chart(
            subject,
            format!("the registry served version {} where the tag says {tag}", meta.version),
        ));
    }
    Ok(())
}

/// Whether `tag` may stand for chart `version`: it is no version at all (`latest`), or it
/// is that version however spelt (`v1.0.0` or `1.0.0`, `1.2` for 1.2.0, `_` for `+`), or a
/// floating tag over it (`1.2` on 1.2.3, as `helm oci tag` puts one), as Helm pulls them.
pub fn names_version(tag: &str, version: &str) -> bool {
    let Some(named) = Version::of_tag(tag) else { return true };
    let same = Version::parse(version).is_ok_and(|v| v == named && v.build == named.build);
    same || floats_over(tag, version)
}

/// Whether `tag` is a floating tag over `version`: one or two numbers (`1`, `v1.2`) that
/// begin the numbers of a release (`1.2.3`), and not that release's own tag (a chart may
/// be version `1.2`).
pub fn floats_over(tag: &str, version: &str) -> bool {
    if reference::normalise_tag(version) == tag {
        return false;
    }
    let numbers: Option<Vec<u64>> = tag.strip_prefix('v').unwrap_or(tag).split('.').map(|n| n.parse().ok()).collect();
    let (Some(numbers), Ok(version)) = (numbers, Version::parse(version)) else { return false };
    let own = [version.major, version.minor, version.patch];
    numbers.len() < 3 && version.pre.is_empty() && numbers[..] == own[..numbers.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: &str) -> Metadata {
        Metadata { name: "app".into(), version: version.into(), ..Metadata::default() }
    }

    #[test]
    fn a_floating_tag_agrees_with_the_releases_under_it() {
        for (tag, version) in [("1", "1.2.3"), ("1.2", "1.2.3"), ("v1.2", "1.2.0"), ("0", "0.0.1")] {
            assert!(floats_over(tag, version), "{tag} over {version}");
            assert!(tag_agrees(tag, &meta(version), "s").is_ok(), "{tag} on {version}");
        }
        for (tag, version) in [
            ("1.3", "1.2.3"),
            ("2", "1.2.3"),
            ("1.2", "1.2.3-rc.1"),
            ("1.2.3", "1.2.3"),
            ("x", "1.0.0"),
            ("1.2", "1.2"),
            ("v2", "v2"),
        ] {
            assert!(!floats_over(tag, version), "{tag} over {version}");
        }
    }

    #[test]
    fn a_full_version_tag_must_be_the_charts_version() {
        assert!(tag_agrees("1.2.3", &meta("1.2.3"), "s").is_ok());
        assert!(tag_agrees("1.2.3_build.1", &meta("1.2.3+build.1"), "s").is_ok());
        assert!(tag_agrees("latest", &meta("9.9.9"), "s").is_ok());
        let lie = tag_agrees("1.2.4", &meta("1.2.3"), "reg/app:1.2.4").unwrap_err();
        assert_eq!(lie.to_string(), "reg/app:1.2.4: the registry served version 1.2.3 where the tag says 1.2.4");
        assert!(tag_agrees("1.3", &meta("1.2.3"), "s").is_err());
        assert!(tag_agrees("1.2.3_build.2", &meta("1.2.3+build.1"), "s").is_err());
        assert!(tag_agrees("1.2.3-rc.1", &meta("1.2.3"), "s").is_err());
    }

    #[test]
    fn a_version_spelt_otherwise_is_that_version() {
        for (tag, version) in [("v1.0.0", "1.0.0"), ("1.0.0", "v1.0.0"), ("3.1", "3.1.0"), ("v1.2.3_b", "1.2.3+b")] {
            assert!(tag_agrees(tag, &meta(version), "s").is_ok(), "{tag} on {version}");
        }
    }
}
