//! `tag`: more tags for a manifest already in a registry. Its bytes are read once and put
//! back unchanged under each new tag (several at once), so every tag names the same digest
//! and no blob moves.

use crate::digest;
use crate::error::{Error, Result};
use crate::net::executor::{DEFAULT_CONCURRENCY, bounded};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Manifest};
use crate::oci::manifests::{self, Fetched, MANIFEST_MAX};
use crate::oci::reference::{self, Ref};
use crate::oci::wrapped::{self, Look};
use crate::oci::{blobs, charts};
use crate::version::Version;

/// Which manifest, and the tags to add.
pub struct Tag {
    /// The manifest, by tag or digest.
    pub source: Ref,
    /// The new tags, as the user wrote them (a chart version's `+` may be among them).
    pub tags: Vec<String>,
    pub connection: Connection,
}

/// The references now naming the manifest, and its digest.
pub struct Tagged {
    pub references: Vec<Ref>,
    pub digest: String,
}

/// Reads the manifest (verified against its digest), then puts it under every new tag.
pub async fn run(tag: Tag) -> Result<Tagged> {
    let source = &tag.source;
    let subject = source.to_string();
    let manifest_ref = named(source, "tag")?;
    let tags = new_tags(&tag.tags)?;
    let client = Client::new(&source.endpoint, &tag.connection);
    let fetched = manifests::fetch_any(&client, &source.repository, manifest_ref, &subject).await?;
    let digest = fetched.verified_digest(source.digest.as_deref(), &subject)?;
    let references: Vec<Ref> = tags.iter().map(|t| source.with_tag(t)).collect();
    // What is under an index is read only where a new tag reads as a version.
    let place = (&client, source.repository.as_str());
    let chart = match references.iter().any(reads_as_version) {
        true => chart_in(&fetched, place, &subject).await,
        false => None,
    };
    refuse_other_versions(chart.as_ref(), &references, place, &subject).await?;
    let (client, manifest) = (&client, (fetched.media_type(), fetched.bytes.as_slice()));
    let puts = references.iter().map(|target| {
        let reference = target.tag.as_deref().expect("made with a tag");
        let (subject, manifest) = (format!("manifest {target}"), (manifest.0.as_str(), manifest.1));
        async move { manifests::push(client, &target.repository, reference, manifest, &subject).await }
    });
    bounded(DEFAULT_CONCURRENCY, puts).await.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(Tagged { references, digest })
}

/// The tag or digest a command that starts from an existing manifest reads it by; `verb`
/// names the command in the error.
pub fn named<'r>(source: &'r Ref, verb: &str) -> Result<&'r str> {
    source.manifest_ref().ok_or_else(|| {
        Error::invalid_reference(
            format!("nothing to {verb} in {source}"),
            "name the manifest with a tag (:1.2.3) or a digest (@sha256:…)",
        )
    })
}

/// The tags asked for, as OCI tags: `+` written `_` (as push writes a chart version), each
/// checked, duplicates dropped.
fn new_tags(asked: &[String]) -> Result<Vec<String>> {
    if asked.is_empty() {
        return Err(Error::invalid_reference("", "give at least one tag to add"));
    }
    let mut tags: Vec<String> = Vec::with_capacity(asked.len());
    for tag in asked {
        let tag = reference::normalise_tag(tag);
        reference::validate_tag(&tag).map_err(|why| Error::invalid_reference(format!("cannot tag {tag:?}"), why))?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

/// Refuses each of `targets` whose tag reads as another version than `chart`'s (see
/// `refuse_other_version`). The chart's config is read only where its manifest does not say
/// the version and a tag reads as one.
pub async fn refuse_other_versions(
    chart: Option<&Manifest>,
    targets: &[Ref],
    place: (&Client, &str),
    subject: &str,
) -> Result<()> {
    let Some(chart) = chart.filter(|_| targets.iter().any(reads_as_version)) else { return Ok(()) };
    let version = chart_version(chart, place, subject).await?;
    targets.iter().try_for_each(|target| refuse_other_version(version.as_deref(), target))
}

/// Whether `target`'s tag reads as a chart version, and so may claim one the chart is not.
fn reads_as_version(target: &Ref) -> bool {
    target.tag.as_deref().and_then(Version::of_tag).is_some()
}

/// The chart's manifest, if the manifest is one or an index wraps one. Under an index, not
/// in entries that name a platform (tagging a multi-platform image reads none of its
/// manifests), and what cannot be read there is taken for no chart: this only guards the
/// version tags.
async fn chart_in(fetched: &Fetched, (client, repo): (&Client, &str), subject: &str) -> Option<Manifest> {
    if !fetched.is_index() {
        return chart_manifest(&fetched.bytes);
    }
    let found = wrapped::chart_under(&fetched.bytes, (client, repo), None, Look::PastImages, subject).await;
    found.ok().flatten().and_then(|unwrapped| chart_manifest(&unwrapped.bytes))
}

/// A Helm chart's manifest, if these bytes are one.
pub fn chart_manifest(bytes: &[u8]) -> Option<Manifest> {
    serde_json::from_slice::<Manifest>(bytes).ok().filter(|m| m.config.media_type == helm::CONFIG)
}

/// A chart's version: its manifest's annotation, else (Helm before 3.12 and other tools
/// write none) its config's `version`, read from the registry; None if the config says
/// none.
async fn chart_version(chart: &Manifest, (client, repo): (&Client, &str), subject: &str) -> Result<Option<String>> {
    if let Some(version) = chart.chart_version() {
        return Ok(Some(version.to_string()));
    }
    let config = &chart.config;
    if !digest::is_valid(&config.digest) || config.size > MANIFEST_MAX {
        return Err(Error::invalid_chart(subject, "the manifest names an unusable config"));
    }
    let bytes = blobs::fetch_whole(client, repo, config).await?;
    let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(config.get("version").and_then(|v| v.as_str()).map(str::to_string))
}

/// Refuses to put a chart of `version` under `target`'s tag if the tag reads as a chart
/// version other than that and is not a floating tag over it (`1.2` on chart 1.2.3 is one),
/// as push refuses it: Helm takes version tags for what they say, and so do helm-oci's pull
/// (which would then fail, also when it picks the newest version) and listings.
fn refuse_other_version(version: Option<&str>, target: &Ref) -> Result<()> {
    let (Some(version), Some(tag)) = (version, target.tag.as_deref()) else { return Ok(()) };
    if charts::names_version(tag, version) {
        return Ok(());
    }
    Err(Error::invalid_reference(
        target.to_string(),
        format!(
            "tag {tag:?} reads as chart version {}, but the chart is {version}: a pull of that tag, or of the \
             newest version, would fail; use a tag that is no version, or one over the chart's (1.2 on 1.2.3)",
            tag.replace('_', "+")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::helm::{self, Descriptor};
    use std::collections::BTreeMap;

    #[test]
    fn new_tags_are_oci_tags_with_build_metadata_written_as_push_writes_it() {
        let asked = ["stable", "1.2.3+build.7", "stable"].map(String::from);
        assert_eq!(new_tags(&asked).unwrap(), ["stable", "1.2.3_build.7"]);
        let bad = new_tags(&["-x".to_string()]).unwrap_err();
        assert_eq!(bad.to_string(), r#"cannot tag "-x": tag "-x" is not a valid tag"#);
        assert!(new_tags(&[]).is_err());
        assert!(new_tags(&["a/b".to_string()]).is_err());
    }

    #[test]
    fn a_manifest_is_named_by_a_tag_or_a_digest() {
        let r = reference::parse("oci://reg/app").unwrap();
        assert!(named(&r, "tag").unwrap_err().to_string().starts_with("nothing to tag in reg/app"));
        assert_eq!(named(&r.with_tag("1.0.0"), "tag").unwrap(), "1.0.0");
    }

    #[test]
    fn only_a_version_tag_of_another_version_is_refused() {
        let at = |tag: &str| reference::parse("oci://reg/app").unwrap().with_tag(tag);
        let version = Some("1.2.3+b");
        assert!(refuse_other_version(version, &at("stable")).is_ok());
        assert!(refuse_other_version(version, &at("1.2.3_b")).is_ok());
        assert!(refuse_other_version(version, &at("1.2")).is_ok(), "a floating tag over 1.2.3");
        let refused = refuse_other_version(version, &at("1.3")).unwrap_err().to_string();
        assert!(refused.starts_with("reg/app:1.3: tag \"1.3\" reads as chart version 1.3, but the chart is 1.2.3+b"));
        assert!(refuse_other_version(None, &at("1.3")).is_ok(), "a config that names no version");
    }

    #[test]
    fn a_charts_manifest_has_helms_config() {
        let config = Descriptor::new(helm::CONFIG, "sha256:c".into(), 1);
        let chart = Manifest::for_chart(config, vec![], BTreeMap::new());
        assert!(chart_manifest(&serde_json::to_vec(&chart).unwrap()).is_some());
        let image = Manifest {
            config: Descriptor::new("application/vnd.oci.image.config.v1+json", "sha256:c".into(), 1),
            ..chart
        };
        assert!(chart_manifest(&serde_json::to_vec(&image).unwrap()).is_none());
    }
}
