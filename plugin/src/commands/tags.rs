//! `tags`: a chart's versions from its repository's tag list, newest first, filtered by
//! the versions asked for; with `all`, the other tags too, each read to learn the chart
//! version it points to.

use crate::error::{Error, Kind, Result};
use crate::net::executor::bounded;
use crate::net::limit::Limit;
use crate::oci::client::{Client, Connection, MirrorHealth};
use crate::oci::mirrors::{self, Mirror, Place, Sources};
use crate::oci::reference::Ref;
use crate::oci::{charts, lists};
use crate::version::{self, Version, Wanted};

/// Which repository, and which of its tags.
pub struct Tags {
    /// A repository, without tag or digest.
    pub repository: Ref,
    pub wanted: Wanted,
    pub all: bool,
    pub page_size: Option<u32>,
    pub concurrency: usize,
    pub connection: Connection,
    /// Tried in order before the registry: the first that lists the repository answers.
    pub mirrors: Vec<Mirror>,
}

/// A tag, and the chart version it stands for (the tag with `_` read as `+`) or points to
/// (none if it is not a chart).
pub struct Entry {
    pub tag: String,
    pub version: Option<String>,
    /// The manifest digest, for the tags that were read.
    pub digest: Option<String>,
}

/// Version tags newest first (ties by tag), then with `all` the others (floating tags among
/// them) by name, from the first mirror that lists the repository, else the registry. The
/// warnings are for mirrors passed over.
pub async fn run(tags: Tags) -> Result<(Vec<Entry>, Vec<String>)> {
    let r = &tags.repository;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(Error::invalid_reference(format!("{r}"), "tags lists a repository: leave out the tag or digest"));
    }
    let limit = Limit::new(tags.concurrency);
    let origin = Client::new(&r.endpoint, &tags.connection).limited(limit.clone());
    let sources = Sources::new(origin, &tags.mirrors, Some(&limit), &MirrorHealth::default());
    let ((entries, mut skipped), mut warnings) =
        mirrors::first(&sources.places(&r.repository, ""), async |place| listed_at(&tags, place).await).await?;
    warnings.append(&mut skipped);
    Ok((entries, warnings))
}

/// The entries, as one place lists and describes them, and a warning for each other tag
/// that could not be read (a broken manifest or config, one gone since it was listed): it
/// hides only itself, as in `search`. At a mirror, it fails the mirror instead.
async fn listed_at(tags: &Tags, place: &Place<'_>) -> Result<(Vec<Entry>, Vec<String>)> {
    let (client, repository) = (place.client, &place.repository);
    let subject = place.called(tags.repository.to_string());
    let listed = lists::tags(client, repository, tags.page_size, &subject).await?;
    // A floating tag (`1.2` beside 1.2.3) is read, as tags that are no version are.
    let floating = version::floating(&listed);
    let mut others: Vec<String> =
        listed.iter().filter(|t| Version::of_tag(t).is_none() || floating.contains(t.as_str())).cloned().collect();
    let mut skipped = Vec::new();
    let mut entries: Vec<Entry> = tags
        .wanted
        .pick(listed.iter().filter(|t| !floating.contains(t.as_str())).cloned())
        .into_iter()
        .map(|(_, tag)| Entry { version: Some(tag.replace('_', "+")), tag, digest: None })
        .collect();
    if tags.all {
        others.sort();
        let read = bounded(
            tags.concurrency,
            others.iter().map(|tag| {
                let subject = format!("{subject}:{tag}");
                async move { charts::describe(client, repository, tag, &subject, None).await }
            }),
        )
        .await;
        for (tag, described) in others.into_iter().zip(read) {
            let described = match described {
                Err(e) if matches!(e.kind, Kind::InvalidChart | Kind::NotFound) && !place.is_mirror() => {
                    skipped.push(format!("skipped tag {tag}: {e}"));
                    continue;
                }
                described => described?,
            };
            let entry = match described {
                Some(chart) => {
                    let admitted = Version::parse(&chart.meta.version).is_ok_and(|v| tags.wanted.admits(&v));
                    admitted.then_some(Entry { tag, version: Some(chart.meta.version), digest: Some(chart.digest) })
                }
                // Not a chart: shown only when no version was asked for.
                None => (!tags.wanted.constrains()).then_some(Entry { tag, version: None, digest: None }),
            };
            entries.extend(entry);
        }
    }
    // As pull does, say why nothing is listed when only prereleases would be.
    let prereleases = tags.wanted.prereleases_left_out(&listed);
    if entries.is_empty() && prereleases > 0 {
        skipped.push(format!("only prereleases of {subject} match; --devel lists them ({prereleases})"));
    }
    Ok((entries, skipped))
}
