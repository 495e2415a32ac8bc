//! Tag listing, following `Link` pagination within bounds.

use super::client::Client;
use super::reference::validate_tag;
use crate::error::{Error, Result};
use helm_oci_headers::next_link;

/// A tag list longer than this many pages, or entries, is refused: no chart has that many
/// versions, and a registry that never stops paging must not hold the command forever.
pub const MAX_PAGES: usize = 1000;
pub const MAX_TAGS: usize = 100_000;
/// One page of tags is read whole, up to this size.
const PAGE_MAX: u64 = 4 << 20;

/// Lists every tag of a repository; `subject` names it in errors. Entries that are not
/// valid tags are left out: nothing could be fetched by them, and they could be any size.
pub async fn list(client: &Client, repo: &str, subject: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let mut url = client.url(&format!("/v2/{repo}/tags/list"));
    let mut tags = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = client.get_whole(&url, &[], PAGE_MAX).await?;
        if response.status != 200 {
            return Err(client.refusal(response, subject).await);
        }
        let next = response.headers("link").find_map(next_link).map(str::to_string);
        let bytes = response.bytes(PAGE_MAX).await?;
        let list: TagList =
            serde_json::from_slice(&bytes).map_err(|e| Error::network(subject, format!("unreadable tag list: {e}")))?;
        tags.extend(list.tags.unwrap_or_default().into_iter().filter(|t| validate_tag(t).is_ok()));
        if tags.len() > MAX_TAGS {
            return Err(Error::network(subject, format!("the registry lists more than {MAX_TAGS} tags")));
        }
        match next {
            Some(link) => {
                url = url.join(&link).ok_or_else(|| Error::network(subject, format!("unusable next page {link:?}")))?
            }
            None => return Ok(tags),
        }
    }
    Err(Error::network(subject, format!("the registry's tag list goes on for more than {MAX_PAGES} pages")))
}
