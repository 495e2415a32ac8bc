//! `copy`: a manifest and its blobs from one repository to another, on the same registry or
//! another one. Blobs the destination holds are skipped, those of the same registry mounted,
//! the others streamed through and verified; the manifest's exact bytes go last, so the copy
//! has the source's digest. An image index (a chart wrapped in one, a multi-platform image)
//! is copied whole: each manifest under it by its digest, with its blobs, then the index.

use super::{push, tag};
use crate::digest;
use crate::error::{Error, Result};
use crate::oci::client::{Client, Connection};
use crate::oci::helm::{self, Descriptor, Manifest};
use crate::oci::reference::Ref;
use crate::oci::upload::Content;
use crate::oci::{manifests, wrapped};
use std::collections::VecDeque;

/// What to copy, and where.
pub struct Copy {
    /// The manifest, by tag or digest.
    pub source: Ref,
    /// A repository, with or without a tag (see `target`).
    pub destination: Ref,
    /// How to reach the destination's registry; the source's too if it is the same one.
    pub connection: Connection,
    /// How to reach the source's registry, if it is another one.
    pub source_connection: Connection,
}

/// Where the copy went, and the digest both places now hold.
pub struct Copied {
    pub source: Ref,
    pub destination: Ref,
    pub digest: String,
}

/// Reads the source's manifest (verified), copies what the destination lacks of its blobs,
/// then puts the manifest there.
pub async fn run(copy: Copy) -> Result<Copied> {
    let source = &copy.source;
    let subject = source.to_string();
    let manifest_ref = tag::named(source, "copy")?;
    let target = target(source, &copy.destination)?;
    let client = Client::new(&target.endpoint, &copy.connection);
    // One registry is one session, so that a mount's token may cover both repositories.
    let elsewhere = (!source.endpoint.eq_ignore_ascii_case(&target.endpoint))
        .then(|| Client::new(&source.endpoint, &copy.source_connection));
    let from = elsewhere.as_ref().unwrap_or(&client);

    let fetched = manifests::fetch_any(from, &source.repository, manifest_ref, &subject).await?;
    let digest = fetched.verified_digest(source.digest.as_deref(), &subject)?;
    let repos = (source.repository.as_str(), from, &client);
    let under = match fetched.is_index() {
        true => Some(under_index(&fetched.bytes, (from, &source.repository), &subject).await?),
        false => None,
    };
    let chart = match &under {
        Some(under) => under.iter().find_map(|(_, bytes)| tag::chart_manifest(bytes)),
        None => tag::chart_manifest(&fetched.bytes),
    };
    let targets = std::slice::from_ref(&target);
    tag::refuse_other_versions(chart.as_ref(), targets, (from, &source.repository), &subject).await?;
    if let Some(under) = under {
        // Each one the index names must be there before it: the deepest go first.
        for (descriptor, bytes) in under.iter().rev() {
            let at = Ref { tag: None, digest: Some(descriptor.digest.clone()), ..target.clone() };
            let media_type = Some(descriptor.media_type.as_str()).filter(|t| !t.is_empty()).unwrap_or(helm::MANIFEST);
            copy_one(repos, &at, (media_type, bytes), &subject).await?;
        }
        push::upload(&client, &target, &[], (&fetched.media_type(), &fetched.bytes)).await?;
    } else {
        copy_one(repos, &target, (&fetched.media_type(), &fetched.bytes), &subject).await?;
    }
    Ok(Copied { source: source.clone(), destination: target, digest })
}

/// An index names no more manifests than this, nested ones included.
const MAX_UNDER: usize = 64;

/// Every manifest under an index (nested indexes and theirs too), read by digest and
/// verified, each parent before what it names.
async fn under_index(index: &[u8], (from, repo): (&Client, &str), subject: &str) -> Result<Vec<(Descriptor, Vec<u8>)>> {
    #[derive(serde::Deserialize)]
    struct Listing {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let listing = |bytes: &[u8]| {
        serde_json::from_slice::<Listing>(bytes)
            .map(|l| l.manifests)
            .map_err(|e| Error::invalid_chart(subject, format!("its image index is not valid: {e}")))
    };
    let mut pending: VecDeque<(Descriptor, usize)> = listing(index)?.into_iter().map(|d| (d, 1)).collect();
    let mut under = Vec::new();
    while let Some((descriptor, depth)) = pending.pop_front() {
        if under.len() == MAX_UNDER || !digest::is_valid(&descriptor.digest) {
            let why = format!("its image index names more than {MAX_UNDER} manifests, or one by no sha256 digest");
            return Err(Error::invalid_chart(subject, why));
        }
        let bytes = wrapped::manifest(from, repo, &descriptor, None, subject).await?;
        if manifests::INDEXES.contains(&descriptor.media_type.as_str()) && depth < manifests::INDEX_DEPTH {
            pending.extend(listing(&bytes)?.into_iter().map(|d| (d, depth + 1)));
        }
        under.push((descriptor, bytes));
    }
    Ok(under)
}

/// Copies one manifest that is no index, with its blobs, or one nested index, to `at`.
async fn copy_one(
    (repository, from, client): (&str, &Client, &Client),
    at: &Ref,
    (media_type, bytes): (&str, &[u8]),
    subject: &str,
) -> Result<()> {
    if manifests::INDEXES.contains(&media_type) {
        return push::upload(client, at, &[], (media_type, bytes)).await;
    }
    let manifest: Manifest =
        serde_json::from_slice(bytes).ok().filter(|m: &Manifest| m.schema_version == 2).ok_or_else(|| {
            Error::invalid_chart(subject, "the manifest is not an image manifest (schema 2) copy can read")
        })?;
    let named: Vec<(&Descriptor, Content)> = blobs_of(&manifest, subject)?
        .into_iter()
        .map(|blob| (blob, Content::Remote { client: from, repository }))
        .collect();
    push::upload(client, at, &named, (media_type, bytes)).await
}

/// Where the copy goes: the destination with its own tag, else the source's tag (a chart
/// keeps its version tag), else, for a source named by digest alone, by that digest.
fn target(source: &Ref, destination: &Ref) -> Result<Ref> {
    if destination.digest.is_some() {
        return Err(Error::invalid_reference(
            format!("cannot copy to {destination}"),
            "a copy keeps the source's digest: give the destination a tag, or none to keep the source's",
        ));
    }
    Ok(match (&destination.tag, &source.tag) {
        (Some(_), _) => destination.clone(),
        (None, Some(tag)) => destination.with_tag(tag),
        (None, None) => Ref { digest: source.digest.clone(), ..destination.clone() },
    })
}

/// The blobs a manifest names (its config, then its layers), each once. A digest that could
/// not name a blob is refused before it goes into a request's path.
fn blobs_of<'m>(manifest: &'m Manifest, subject: &str) -> Result<Vec<&'m Descriptor>> {
    let mut blobs: Vec<&Descriptor> = Vec::new();
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !digest::is_valid(&blob.digest) {
            return Err(Error::invalid_chart(
                subject,
                format!("the manifest names a blob by {:?}, which is not a sha256 digest", blob.digest),
            ));
        }
        if !blobs.iter().any(|b| b.digest == blob.digest) {
            blobs.push(blob);
        }
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::helm;
    use crate::oci::reference::parse;
    use std::collections::BTreeMap;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn to(source: &str, destination: &str) -> Result<String> {
        target(&parse(source).unwrap(), &parse(destination).unwrap()).map(|r| r.to_string())
    }

    #[test]
    fn the_destination_keeps_the_source_tag_unless_it_names_its_own() {
        assert_eq!(to("oci://a/staging/app:1.2.3", "oci://b/prod/app").unwrap(), "b/prod/app:1.2.3");
        assert_eq!(to("oci://a/staging/app:1.2.3", "oci://b/prod/app:stable").unwrap(), "b/prod/app:stable");
        assert_eq!(to(&format!("oci://a/app:1.0.0@{D}"), "oci://b/app").unwrap(), "b/app:1.0.0");
    }

    #[test]
    fn a_source_named_by_digest_alone_is_copied_by_digest() {
        assert_eq!(to(&format!("oci://a/app@{D}"), "oci://b/app").unwrap(), format!("b/app@{D}"));
        assert_eq!(to(&format!("oci://a/app@{D}"), "oci://b/app:1.0.0").unwrap(), "b/app:1.0.0");
        let refused = to("oci://a/app:1.0.0", &format!("oci://b/app@{D}")).unwrap_err();
        assert!(refused.to_string().contains("a copy keeps the source's digest"));
    }

    #[test]
    fn each_blob_is_copied_once_and_only_by_a_digest() {
        let blob = |media_type: &str, digest: &str| Descriptor::new(media_type, digest.to_string(), 1);
        let layers = vec![blob(helm::CHART, D), blob(helm::PROVENANCE, D)];
        let manifest = Manifest::for_chart(blob(helm::CONFIG, D), layers, BTreeMap::new());
        assert_eq!(blobs_of(&manifest, "s").unwrap().len(), 1);
        let hostile = Manifest::for_chart(blob(helm::CONFIG, "sha256:../../x"), vec![], BTreeMap::new());
        assert!(blobs_of(&hostile, "s").unwrap_err().to_string().contains("not a sha256 digest"));
    }
}
