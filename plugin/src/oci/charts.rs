//! What a tag holds, read from the registry without the chart itself: the manifest, and
//! if it is a Helm chart's, the config blob (Chart.yaml as JSON), both verified.

use super::client::Client;
use super::helm::{self, ChartLayers, Manifest};
use super::manifests::{self, MANIFEST_MAX};
use super::timestamp::parse_rfc3339;
use super::{blobs, reference};
use crate::chart::metadata::Metadata;
use crate::digest;
use crate::error::{Error, Result};
use crate::version::Version;

/// A chart in the registry: its manifest's digest, its metadata, and what a chart
/// repository's index says of it besides.
pub struct Described {
    pub digest: String,
    pub meta: Metadata,
    /// The chart archive's digest, which is that of the `.tgz` a pull writes.
    pub archive: String,
    /// The manifest's `org.opencontainers.image.created` annotation, if RFC 3339.
    pub created: Option<String>,
}

/// Reads the chart a tag (or digest) points at; None if it is not a Helm chart (an image, a
/// signature). A chart whose manifest or config is broken, or whose version is not the
/// one its tag says, is an error.
pub async fn describe(client: &Client, repo: &str, tag: &str, subject: &str) -> Result<Option<Described>> {
    let fetched = manifests::fetch(client, repo, tag, subject).await?;
    let pinned = digest::is_valid(tag).then_some(tag);
    let manifest_digest = fetched.verified_digest(pinned, subject)?;
    // Only the config's media type decides; anything else (an index, a Docker image) is
    // simply not a chart.
    let generic: serde_json::Value = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| Error::invalid_chart(subject, format!("the manifest is not valid JSON: {e}")))?;
    if generic.pointer("/config/mediaType").and_then(|t| t.as_str()) != Some(helm::CONFIG) {
        return Ok(None);
    }
    let manifest = serde_json::from_value::<Manifest>(generic)
        .map_err(|e| Error::invalid_chart(subject, format!("the manifest is not valid: {e}")))?;
    drop(fetched);
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
    let meta = Metadata::from_config(&blobs::fetch_small(client, repo, &config).await?, subject)?;
    if pinned.is_none() {
        tag_agrees(tag, &meta, subject)?;
    }
    Ok(Some(Described { digest: manifest_digest, meta, archive, created }))
}

/// A tag that is a version names the chart's version (`latest` and the like name none): a
/// registry serving another chart under it is refused.
pub fn tag_agrees(tag: &str, meta: &Metadata, subject: &str) -> Result<()> {
    if Version::parse(&tag.replace('_', "+")).is_ok() && reference::normalise_tag(&meta.version) != tag {
        return Err(Error::invalid_chart(
            subject,
            format!("the registry served version {} where the tag says {tag}", meta.version),
        ));
    }
    Ok(())
}
