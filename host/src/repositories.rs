//! Helm's chart repositories file (`helm repo add` writes it), read for the names a chart's
//! dependencies may give as `repository: "@NAME"` or `"alias:NAME"`. Only names and URLs
//! reach the component: the file also holds the repositories' passwords.

use crate::paths;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::fs;

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    repositories: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
}

/// Each repository Helm knows, as (name, URL); none if Helm has no repositories file.
pub fn known() -> Result<Vec<(String, String)>> {
    let path = paths::repository_config();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read Helm's repositories file {}", path.display())),
    };
    let file: File = if text.trim().is_empty() {
        File::default()
    } else {
        yaml_serde::from_str(&text).with_context(|| format!("{} is not a valid repositories file", path.display()))?
    };
    Ok(file.repositories.unwrap_or_default().into_iter().map(|e| (e.name, e.url)).collect())
}
