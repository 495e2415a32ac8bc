//! Everything the user reads, in Helm's style: results on stdout, `WARNING:` and
//! `Error:` lines on stderr.

mod cache;
mod listing;
pub mod stream;

pub use cache::{exported, list as cache_list, pruned, removed, saved};

use crate::cli::Format;
use crate::component::exports::helm_oci::plugin::discovery::{PublishedIndex, SearchResult, Skipped, TagEntry};
use crate::component::exports::helm_oci::plugin::promotion::{Copied, Tagged};
use crate::component::exports::helm_oci::plugin::registry::{PullResult, PushResult};
use crate::component::exports::helm_oci::plugin::types::{Error, RegistryError};
use helm_oci_headers::printable;
use serde::Serialize;
use stream::{errln, outln};

/// Turns the component's typed error into the one line the user sees.
pub fn component_error(e: Error) -> anyhow::Error {
    anyhow::anyhow!(error_text(e))
}

fn error_text(e: Error) -> String {
    match e {
        Error::InvalidReference(m)
        | Error::NotFound(m)
        | Error::Unauthorized(m)
        | Error::Denied(m)
        | Error::InvalidChart(m)
        | Error::Network(m)
        | Error::Io(m)
        | Error::TimedOut(m) => m,
        Error::DigestMismatch(d) => {
            format!("{}: digest mismatch: expected {}, got {}", d.subject, d.expected, d.actual)
        }
        Error::Registry(RegistryError { status, code, message }) if code.is_empty() => {
            format!("{message} (HTTP {status})")
        }
        Error::Registry(RegistryError { status, code, message }) => format!("{message} ({code}, HTTP {status})"),
    }
}

/// One `Error:` line, with the causes that context added joined on it.
pub fn error(e: &anyhow::Error) {
    errln!("Error: {}", said(e));
}

/// An error on one line, the causes that context added joined on it, in Go's words.
pub fn said(e: &anyhow::Error) -> String {
    let chain: Vec<String> = e.chain().map(cause).collect();
    one_line(&chain.join(": "))
}

/// The text with its control and invisible formatting characters written out (`\n`,
/// `\u{202e}`): a file name may hold a newline, and the error that names it is still one
/// line, which reads as it is.
fn one_line(text: &str) -> String {
    let hidden = |c: char| c.is_control() || helm_oci_headers::is_format(c);
    text.chars().map(|c| if hidden(c) { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// One cause's words; the system's as Go (and so Helm, and the component) words them:
/// "no such file or directory", without Rust's " (os error 2)".
fn cause(c: &(dyn std::error::Error + 'static)) -> String {
    c.downcast_ref::<std::io::Error>().map_or_else(|| c.to_string(), helm_oci_headers::system_words)
}

pub fn warnings(list: &[String]) {
    for w in list {
        errln!("WARNING: {w}");
    }
}

/// The repositories a listing left out, and why, on stderr.
pub fn skipped(list: &[Skipped]) {
    for skipped in list {
        errln!("WARNING: skipped {}: {}", skipped.repository, error_text(skipped.reason.clone()));
    }
}

pub fn pushed(r: &PushResult) {
    warnings(&r.warnings);
    outln!("Pushed: {}", r.reference);
    outln!("Digest: {}", r.digest);
}

pub fn pulled(r: &PullResult) {
    warnings(&r.warnings);
    outln!("Pulled: {}", r.reference);
    outln!("Digest: {}", r.digest);
}

pub fn tagged(r: &Tagged) {
    for reference in &r.references {
        outln!("Tagged: {reference}");
    }
    outln!("Digest: {}", r.digest);
}

pub fn copied(r: &Copied) {
    outln!("Copied: {} -> {}", r.source, r.destination);
    outln!("Digest: {}", r.digest);
}

pub fn published(p: &PublishedIndex) {
    let said = if p.unchanged { "Unchanged" } else { "Published" };
    let counted = |n: u32, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    outln!("{said}: {} ({}, {})", p.reference, counted(p.charts, "chart"), counted(p.versions, "version"));
    outln!("Digest: {}", p.digest);
}

pub fn version(host: &str, component: &str) {
    outln!("helm-oci {host} (component {component})");
}

/// A tag as `-o json|yaml` shows it.
#[derive(Serialize)]
struct TagRow<'a> {
    tag: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<&'a str>,
}

/// A chart's versions: one per line under VERSION, or with `all` TAG and VERSION.
pub fn tags(entries: &[TagEntry], all: bool, format: Format) -> anyhow::Result<()> {
    let rows: Vec<TagRow> = entries
        .iter()
        .map(|e| TagRow { tag: &e.tag, version: e.version.as_deref(), digest: e.digest.as_deref() })
        .collect();
    let text = match format {
        Format::Json => listing::json(&rows)?,
        Format::Yaml => listing::yaml(&rows)?,
        Format::Table if entries.is_empty() => "No results found\n".to_string(),
        Format::Table if all => {
            let body = entries.iter().map(|e| vec![e.tag.clone(), printable(e.version.as_deref().unwrap_or_default())]);
            listing::table(&["TAG", "VERSION"], body, 0)
        }
        Format::Table => {
            listing::table(&["VERSION"], entries.iter().map(|e| vec![e.version.clone().unwrap_or_default()]), 0)
        }
    };
    stream::out(format_args!("{text}"));
    Ok(())
}

/// A search hit as `helm search repo -o json|yaml` shows one: Helm's field names, in its order.
#[derive(Serialize)]
struct HitRow<'a> {
    name: &'a str,
    version: &'a str,
    app_version: &'a str,
    description: &'a str,
}

/// Search results as `helm search repo` prints them; repositories that could not be
/// searched are named on stderr.
pub fn search(found: &SearchResult, format: Format, max_col_width: usize) -> anyhow::Result<()> {
    skipped(&found.skipped);
    let rows: Vec<HitRow> = found
        .hits
        .iter()
        .map(|h| HitRow {
            name: &h.name,
            version: &h.version,
            app_version: h.app_version.as_deref().unwrap_or_default(),
            description: h.description.as_deref().unwrap_or_default(),
        })
        .collect();
    let text = match format {
        Format::Json => listing::json(&rows)?,
        Format::Yaml => listing::yaml(&rows)?,
        Format::Table if rows.is_empty() => "No results found\n".to_string(),
        Format::Table => {
            let body = rows.iter().map(|r| {
                vec![r.name.to_string(), r.version.to_string(), printable(r.app_version), printable(r.description)]
            });
            listing::table(&["NAME", "CHART VERSION", "APP VERSION", "DESCRIPTION"], body, max_col_width)
        }
    };
    stream::out(format_args!("{text}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{cause, one_line};
    use std::io;

    #[test]
    fn system_errors_read_as_go_words_them() {
        let e = anyhow::Error::from(io::Error::from_raw_os_error(libc::EROFS)).context("cannot write into /x");
        let chain: Vec<String> = e.chain().map(cause).collect();
        assert_eq!(chain, ["cannot write into /x", "read-only file system"]);
        // Other errors keep their words.
        assert_eq!(cause(&io::Error::other("Not a chart")), "Not a chart");
    }

    #[test]
    fn an_error_is_one_line_whatever_the_names_in_it_hold() {
        assert_eq!(one_line("cannot read /tmp/a\nb\r: x\u{1b}[2J"), "cannot read /tmp/a\\nb\\r: x\\u{1b}[2J");
        assert_eq!(one_line("caf\u{e9} \\ fine"), "caf\u{e9} \\ fine");
        assert_eq!(one_line("evil\u{202e}txt"), "evil\\u{202e}txt");
    }
}
