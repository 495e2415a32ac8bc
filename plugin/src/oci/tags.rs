//! Tag listing, following `Link` pagination.

use super::client::Client;
use super::manifests::MANIFEST_MAX;
use crate::error::{Error, Result};
use helm_oci_headers::next_link;

/// Lists every tag of a repository; `subject` names it in errors.
pub async fn list(client: &Client, repo: &str, subject: &str) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct TagList {
        tags: Option<Vec<String>>,
    }
    let mut url = client.url(&format!("/v2/{repo}/tags/list"));
    let mut tags = Vec::new();
    loop {
        let response = client.send("GET", &url, &[], &[]).await?;
        if response.status != 200 {
            return Err(client.refusal(response, subject).await);
        }
        let next = response.headers("link").find_map(next_link).map(str::to_string);
        let bytes = response.bytes(MANIFEST_MAX).await?;
        let list: TagList =
            serde_json::from_slice(&bytes).map_err(|e| Error::network(subject, format!("unreadable tag list: {e}")))?;
        tags.extend(list.tags.unwrap_or_default());
        match next {
            Some(link) => {
                url = url.join(&link).ok_or_else(|| Error::network(subject, format!("unusable next page {link:?}")))?
            }
            None => return Ok(tags),
        }
    }
}
