//! The registry's paged lists: a repository's tags (`tags/list`) and the catalog of
//! repositories (`_catalog`), read a page at a time, following `Link: <…>; rel="next"`
//! within bounds, so that a registry that never stops paging cannot hold a command forever.

use super::client::Client;
use super::errcode;
use super::reference::{validate_repository, validate_tag};
use crate::error::{Error, Result};
use crate::net::Url;
use crate::net::wire::WORDS_MAX;
use futures::stream::{self, Stream, TryStreamExt};
use helm_oci_headers::next_link;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// One page is read whole, up to this size.
const PAGE_MAX: u64 = 4 << 20;

/// A list longer than this many pages, or entries, is refused. No chart has 100,000
/// versions; the catalog is streamed, so its bound is only about time.
pub const TAG_PAGES: usize = 1000;
pub const TAGS: usize = 100_000;
pub const CATALOG_PAGES: usize = 100_000;
pub const REPOSITORIES: usize = 10_000_000;

/// Which list, and how far it may go.
struct Kind {
    /// The JSON field that holds the entries.
    field: &'static str,
    /// What its entries are called in errors.
    noun: &'static str,
    /// Entries that fail this are left out: nothing could be fetched by them, and they could
    /// be any size.
    keep: fn(&str) -> bool,
    pages: usize,
    entries: usize,
}

const TAG_LIST: Kind =
    Kind { field: "tags", noun: "tags", keep: |t| validate_tag(t).is_ok(), pages: TAG_PAGES, entries: TAGS };
const CATALOG: Kind = Kind {
    field: "repositories",
    noun: "repositories",
    keep: |r| validate_repository(r).is_ok(),
    pages: CATALOG_PAGES,
    entries: REPOSITORIES,
};

/// A list being read.
struct Pages<'c> {
    client: &'c Client,
    kind: Kind,
    /// Whether the catalog listed this repository: see `tag_pages`.
    catalogued: bool,
    next: Option<Url>,
    /// Hashes of the pages read, so that a registry linking back to one is caught.
    seen: HashSet<u64>,
    entries: usize,
    subject: String,
}

impl<'c> Pages<'c> {
    /// `page_size` is the `n` to ask for; the registry's own default if None.
    fn new(client: &'c Client, kind: Kind, path: &str, page_size: Option<u32>, subject: &str) -> Pages<'c> {
        let mut url = client.url(path);
        if let Some(n) = page_size {
            url = url.with_query(&[("n", &n.to_string())]);
        }
        let subject = subject.to_string();
        Pages { client, kind, catalogued: false, next: Some(url), seen: HashSet::new(), entries: 0, subject }
    }

    /// The next page's entries, or None after the last.
    async fn next_page(&mut self) -> Result<Option<Vec<String>>> {
        let Some(url) = self.next.take() else { return Ok(None) };
        let subject = &self.subject;
        if !self.seen.insert(hash(&url)) {
            return Err(Error::network(subject, "the registry links back to a page it already gave"));
        }
        if self.seen.len() > self.kind.pages {
            return Err(Error::network(
                subject,
                format!("the registry's list of {} goes on for more than {} pages", self.kind.noun, self.kind.pages),
            ));
        }
        let (response, url) = self.client.following_to("GET", &url, &[], PAGE_MAX).await?;
        if response.status == 404 && self.catalogued && self.seen.len() == 1 {
            // distribution lists a repository that holds only untagged manifests (what a copy
            // by digest leaves) in its catalog, and says its name is unknown to a tag list.
            let (code, _) = errcode::parse(&response.prefix(WORDS_MAX).await);
            return if code == "NAME_UNKNOWN" { Ok(None) } else { Err(Error::not_found(subject, "not found")) };
        }
        if response.status != 200 {
            return Err(self.client.refusal(response, subject).await);
        }
        let link = response.headers("link").find_map(next_link).map(str::to_string);
        let bytes = response.bytes(PAGE_MAX).await?;
        let page: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|e| Error::network(subject, format!("unreadable list: {e}")))?;
        let entries: Vec<String> = match page.get(self.kind.field) {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|i| i.as_str()).filter(|e| (self.kind.keep)(e)).map(str::to_string).collect()
            }
            Some(_) => {
                return Err(Error::network(subject, format!("unreadable list: {:?} is not a list", self.kind.field)));
            }
        };
        self.entries += entries.len();
        if self.entries > self.kind.entries {
            return Err(Error::network(
                subject,
                format!("the registry lists more than {} {}", self.kind.entries, self.kind.noun),
            ));
        }
        if let Some(link) = link {
            let next =
                url.join(&link).ok_or_else(|| Error::network(subject, format!("unusable next page {link:?}")))?;
            if next == url {
                return Err(Error::network(subject, "the registry gives the same page as the next one"));
            }
            self.next = Some(next);
        }
        Ok(Some(entries))
    }
}

/// Every tag of a repository; `subject` names it in errors.
pub async fn tags(client: &Client, repo: &str, page_size: Option<u32>, subject: &str) -> Result<Vec<String>> {
    let pages: Vec<Vec<String>> = tag_pages(client, repo, page_size, subject, false).try_collect().await?;
    Ok(unique(pages.concat()))
}

/// The tags in the order listed, each once: a registry may list one on several pages.
pub fn unique(mut tags: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    tags
}

/// A repository's tags a page at a time, for callers that keep only some of them. For a
/// repository the catalog listed (`catalogued`), a registry saying it knows no such name
/// means it has nothing tagged: the list is empty. (Named by the user, or at a mirror that
/// may lack it, the repository is not found.)
pub fn tag_pages<'c>(
    client: &'c Client,
    repo: &str,
    page_size: Option<u32>,
    subject: &str,
    catalogued: bool,
) -> impl Stream<Item = Result<Vec<String>>> + 'c {
    let pages = Pages::new(client, TAG_LIST, &format!("/v2/{repo}/tags/list"), page_size, subject);
    stream(Pages { catalogued, ..pages })
}

/// The registry's repositories, a page at a time as they are needed: the catalog is never
/// held whole.
pub fn catalog(client: &Client, page_size: Option<u32>) -> impl Stream<Item = Result<Vec<String>>> + '_ {
    let subject = format!("the catalog of {}", client.endpoint());
    stream(Pages::new(client, CATALOG, "/v2/_catalog", page_size, &subject))
}

/// The pages of a list as a stream; an error ends it.
fn stream(pages: Pages<'_>) -> impl Stream<Item = Result<Vec<String>>> + '_ {
    stream::unfold(Some(pages), |state| async move {
        let mut pages = state?;
        match pages.next_page().await {
            Ok(Some(page)) => Some((Ok(page), Some(pages))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// A page's URL (its query included: that is what tells pages apart), hashed: remembering
/// 100,000 of them costs little.
fn hash(url: &Url) -> u64 {
    let mut hasher = DefaultHasher::new();
    (url.https, url.authority.to_ascii_lowercase(), &url.path).hash(&mut hasher);
    hasher.finish()
}
