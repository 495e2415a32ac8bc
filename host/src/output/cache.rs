//! What the cache commands print, in the words of Helm 3.0-3.6's `helm chart` commands:
//! a summary per chart, `<tag>: saved` and the like, and a REF NAME VERSION DIGEST SIZE
//! CREATED table with sizes and ages for people.

use super::stream::outln;
use super::{listing, warnings};
use crate::cli::Format;
use crate::component::exports::helm_oci::plugin::cache::{CacheEntry, Exported, Pruned, Removed, Saved};
use helm_oci_headers::printable;
use serde::Serialize;

/// `ref:`, `digest:` (hex), `size:`, `name:` and `version:`, as Helm 3.0-3.6 printed them.
fn summary(entry: &CacheEntry) {
    outln!("ref:     {}", printable(&entry.reference));
    outln!("digest:  {}", printable(hex(&entry.digest)));
    outln!("size:    {}", bytes(entry.size));
    outln!("name:    {}", printable(&entry.chart.name));
    outln!("version: {}", printable(&entry.chart.version));
}

pub fn saved(s: &Saved) {
    warnings(&s.warnings);
    summary(&s.entry);
    outln!("config:  {}", s.config_digest);
    outln!("content: {}", s.content_digest);
    outln!("{}: saved", printable(tag(&s.entry.reference)));
}

pub fn exported(e: &Exported) {
    summary(&e.entry);
    outln!("Exported chart to {}/", printable(&e.path));
}

pub fn removed(r: &Removed) {
    for entry in &r.entries {
        outln!("{}: removed", printable(tag(&entry.reference)));
    }
    outln!("Freed {}", bytes(r.freed));
    held_back(r.held_back.as_deref());
    cut_short(r.cut_short);
}

pub fn pruned(p: &Pruned) {
    outln!("Deleted {} unused blob{}, freed {}", p.blobs, if p.blobs == 1 { "" } else { "s" }, bytes(p.freed));
    held_back(p.held_back.as_deref());
    cut_short(p.cut_short);
}

/// Why a collection stopped early, if it did.
fn cut_short(cut: bool) {
    if cut {
        warnings(&[
            "another helm-oci took the chart cache's lock over (this run was paused too long), so deleting unused blobs stopped: `helm oci prune` deletes the rest".to_string(),
        ]);
    }
}

/// Why a collection deleted nothing, if an entry held it back.
fn held_back(entry: Option<&str>) {
    if let Some(entry) = entry {
        let entry = printable(entry);
        // An entry another tool wrote may have no reference to remove it by.
        let remedy = if entry.starts_with("sha256:") { String::new() } else { format!(" (`helm oci remove {entry}`)") };
        warnings(&[format!(
            "no blob was deleted: the cached manifest of {entry} cannot be read, so what it uses is unknown{remedy}"
        )]);
    }
}

/// A cached chart as `-o json|yaml` shows it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(rename = "ref")]
    reference: &'a str,
    name: &'a str,
    version: &'a str,
    digest: &'a str,
    size: u64,
    created: String,
}

pub fn list(entries: &[CacheEntry], format: Format) -> anyhow::Result<()> {
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| Row {
            reference: &e.reference,
            name: &e.chart.name,
            version: &e.chart.version,
            digest: &e.digest,
            size: e.size,
            created: known(e.created).map(rfc3339).unwrap_or_default(),
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let text = match format {
        Format::Json => listing::json(&rows)?,
        Format::Yaml => listing::yaml(&rows)?,
        Format::Table => {
            let body = entries.iter().map(|e| {
                vec![
                    printable(&e.reference),
                    printable(&e.chart.name),
                    printable(&e.chart.version),
                    printable(&hex(&e.digest).chars().take(7).collect::<String>()),
                    known(e.size).map(bytes).unwrap_or_default(),
                    known(e.created).map_or_else(String::new, |created| format!("{} ago", age(now - created))),
                ]
            });
            listing::table(&["REF", "NAME", "VERSION", "DIGEST", "SIZE", "CREATED"], body, 60)
        }
    };
    super::stream::out(format_args!("{text}"));
    Ok(())
}

/// A size or time an entry records; zero in one another tool wrote without it.
fn known<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// The tag (or digest) a reference ends with.
fn tag(reference: &str) -> &str {
    match reference.rsplit_once('@') {
        Some((_, digest)) => digest,
        None => reference.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(reference, |(_, t)| t),
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// A size as Helm 3.0-3.6 wrote one: `512 B`, `2.4 KiB`, `1.0 MiB`.
fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let (mut div, mut exp) = (1024u64, 0);
    let mut rest = n / 1024;
    while rest >= 1024 {
        div *= 1024;
        exp += 1;
        rest /= 1024;
    }
    format!("{:.1} {}iB", n as f64 / div as f64, ["K", "M", "G", "T", "P", "E"][exp])
}

/// An age as Docker's `HumanDuration` says it: `5 minutes`, `About an hour`, `3 days`.
fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (minutes, hours) = (s / 60, (s as f64 / 3600.0 + 0.5) as i64);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// Seconds since the epoch as RFC 3339 in UTC, as Go's encoding/json writes a time.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_for_people() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(2458), "2.4 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
        assert_eq!(age(0), "Less than a second");
        assert_eq!(age(45), "45 seconds");
        assert_eq!(age(90), "About a minute");
        assert_eq!(age(3 * 3600), "3 hours");
        assert_eq!(age(3 * 86_400), "3 days");
        assert_eq!(age(400 * 86_400), "13 months");
    }

    #[test]
    fn tags_and_times() {
        assert_eq!(tag("localhost:5000/charts/app:1.0.0"), "1.0.0");
        assert_eq!(tag("localhost:5000/charts/app@sha256:ab"), "sha256:ab");
        assert_eq!(rfc3339(1_763_719_199), "2025-11-21T09:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
