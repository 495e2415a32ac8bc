//! Writing a loaded chart out as `helm package` does, subcharts expanded into directories
//! under `charts/`, but reproducibly: entries in a fixed order, owned by 0, mode 0644, all
//! stamped with one time, so the same chart always gives the same bytes and digest. The
//! archive is made once, in memory, where it is hashed and from where it is uploaded.

use super::directory::{self, Links};
use super::load::{self, Chart, Content, Limits, Loader};
use super::metadata::Metadata;
use crate::error::{Error, Result};
use crate::net::clock;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

/// A chart directory packaged: the chart as loaded, its archive, and the time stamped on it.
pub struct Packaged {
    pub chart: Chart,
    pub archive: Vec<u8>,
    pub created: i64,
}

/// Loads the chart directory `root` by Helm's rules and packages it, stamped with
/// `source_date_epoch` if set, else with its newest file's time, so that the same files
/// always give the same bytes; a time in the future (a clock set wrong, a file from
/// elsewhere) is never stamped. Symlinks out of the chart lead where `links` says.
pub fn directory(root: &Path, limits: &Limits, source_date_epoch: Option<i64>, links: &Links) -> Result<Packaged> {
    let origin = root.display().to_string();
    let (files, newest) = directory::files(root, limits, links)?;
    let mut chart = Loader::new(*limits, true).load(files, 0).map_err(|why| Error::invalid_chart(&origin, why))?;
    without_v1_dependencies(&mut chart).map_err(|why| Error::invalid_chart(&origin, why))?;
    let created = source_date_epoch.unwrap_or(newest).min(clock::wall_seconds());
    let archive = self::archive(&chart, created).map_err(|why| Error::invalid_chart(&origin, why))?;
    Ok(Packaged { chart, archive, created })
}

/// Whether Helm's `loader.LoadDir` would load the chart directory `root`, as far as can be
/// seen here (see `directory::seen`): its refusal, in its words, if not.
pub fn loads(root: &Path, limits: &Limits) -> Result<()> {
    let files = directory::seen(root, limits)?;
    Loader::new(*limits, false)
        .load(files, 0)
        .map(drop)
        .map_err(|why| Error::invalid_chart(root.display().to_string(), why))
}

/// `helm package` writes a v1 chart's Chart.yaml without the dependencies it lists (its
/// requirements.yaml, which goes with it, holds them), so the chart Helm loads from the
/// package, and whose metadata it pushes as the config, has only requirements.yaml's. Such
/// a Chart.yaml is written as Helm's metadata; any other goes as it is.
fn without_v1_dependencies(chart: &mut Chart) -> Result<(), String> {
    for sub in &mut chart.subcharts {
        without_v1_dependencies(sub)?;
    }
    let file = |chart: &Chart, name: &str| chart.files.iter().position(|f| f.name == name);
    let Some(at) = file(chart, "Chart.yaml") else { return Ok(()) };
    if chart.meta.api_version != "v1" || !Metadata::lists_dependencies(&load::bytes(&chart.files[at].content)?) {
        return Ok(());
    }
    let chart_yaml = chart.meta.v1_chart_yaml();
    let requirements = file(chart, "requirements.yaml").map(|i| load::bytes(&chart.files[i].content)).transpose()?;
    chart.meta = Metadata::from_yaml(&chart_yaml, requirements.as_deref(), "").map_err(|e| e.cause)?;
    chart.files[at].content = Content::Data(chart_yaml);
    Ok(())
}

/// zlib-rs's level 5. It differs from the default 6 only in trying 32 earlier matches, not
/// 128, and in settling for a 32-byte match, not a 128-byte one. On chart text (templates,
/// dashboards' JSON, source) that packs 10–25% faster for archives 0.2–0.6% larger.
const LEVEL: u32 = 5;

/// The chart's `.tgz`, every entry stamped `mtime` (seconds since the epoch).
pub fn archive(chart: &Chart, mtime: i64) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::new(LEVEL)));
    write(&mut tar, chart, &chart.meta.name, mtime.max(0) as u64)?;
    let gz = tar.into_inner().map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// Whether bytes are JSON as Go's `json.Valid` (and so `helm package`) checks a schema: by
/// its syntax alone, so that text that is not UTF-8 (a Latin-1 description) or a number
/// beyond a float's range passes.
fn is_json(data: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok()
}

/// Writes a chart's files under `base`: Chart.yaml first, the rest in name order, then each
/// subchart under `base/charts/<its name>`.
fn write(tar: &mut tar::Builder<impl Write>, chart: &Chart, base: &str, mtime: u64) -> Result<(), String> {
    let mut files: Vec<&load::File> = chart.files.iter().collect();
    files.sort_by(|a, b| (a.name != "Chart.yaml", &a.name).cmp(&(b.name != "Chart.yaml", &b.name)));
    for file in files {
        let data = load::bytes(&file.content)?;
        if file.name == "values.schema.json" && !is_json(&data) {
            return Err(format!("invalid JSON in {base}/values.schema.json"));
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        tar.append_data(&mut header, format!("{base}/{}", file.name), &data[..]).map_err(|e| e.to_string())?;
    }
    let mut subcharts: Vec<&Chart> = chart.subcharts.iter().collect();
    subcharts.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    for sub in subcharts {
        write(tar, sub, &format!("{base}/charts/{}", sub.meta.name), mtime)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::archive;
    use crate::chart::load::{Content, File, Limits, Loader};

    fn chart(files: &[(&str, &str)]) -> Chart {
        let files =
            files.iter().map(|(n, d)| File { name: n.to_string(), content: Content::Data(d.as_bytes().to_vec()) });
        Loader::new(Limits::default(), true).load(files.collect(), 0).unwrap()
    }

    fn entries(tgz: &[u8]) -> Vec<(String, u64)> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        tar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().mtime().unwrap())
            })
            .collect()
    }

    #[test]
    fn subcharts_are_expanded_and_everything_is_stamped_once() {
        let sub = archive(
            &chart(&[("Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n"), ("values.yaml", "a: 1\n")]),
            5,
        )
        .unwrap();
        let mut top = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
            ("templates/b.yaml", "b"),
            ("README.md", "r"),
        ]);
        top.subcharts.push(archive::load(&sub[..], &Loader::new(Limits::default(), true), 0).unwrap());
        let tgz = archive(&top, 1_700_000_000).unwrap();
        assert_eq!(
            entries(&tgz),
            [
                ("app/Chart.yaml".into(), 1_700_000_000),
                ("app/README.md".into(), 1_700_000_000),
                ("app/templates/b.yaml".into(), 1_700_000_000),
                ("app/charts/sub/Chart.yaml".into(), 1_700_000_000),
                ("app/charts/sub/values.yaml".into(), 1_700_000_000),
            ]
        );
        assert_eq!(tgz, archive(&top, 1_700_000_000).unwrap(), "the same chart gives the same bytes");
    }

    #[test]
    fn a_v1_chart_yaml_loses_its_dependencies_to_requirements() {
        let mut v1 = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v1\nname: app\nversion: 1.0.0\ndependencies: [{name: a, repository: r, condition: c}]\n",
            ),
            ("requirements.yaml", "dependencies: [{name: b, repository: r}]\n"),
        ]);
        assert_eq!(v1.meta.dependencies().map(|d| d.condition.as_str()).collect::<Vec<_>>(), ["c"]);
        without_v1_dependencies(&mut v1).unwrap();
        let deps: Vec<_> = v1.meta.dependencies().map(|d| (d.name.as_str(), d.condition.as_str())).collect();
        assert_eq!(deps, [("b", "")]);
        assert_eq!(v1.declared[0].name, "b");
        let packaged = load::bytes(&v1.files[0].content).unwrap();
        assert!(!Metadata::lists_dependencies(&packaged));
    }

    #[test]
    fn a_schema_must_be_json() {
        let bad = chart(&[("Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"), ("values.schema.json", "{")]);
        assert_eq!(archive(&bad, 0).unwrap_err(), "invalid JSON in app/values.schema.json");
        assert!(is_json(b"{\"description\": \"caf\xe9\", \"maximum\": 1e400}"));
        for bad in [&b"{"[..], b"{} x", b"{\"a\" 1}", b"[1,]"] {
            assert!(!is_json(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
