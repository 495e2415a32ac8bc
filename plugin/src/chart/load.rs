//! Helm's loader rules (`LoadFiles`): what each file of a chart means, which files Helm
//! leaves out, and how the subcharts under `charts/` are found and loaded in turn. Files
//! come from a directory walk or an archive; either way the same rules decide.

use super::lock::Lock;
use super::metadata::{Dependency, Metadata};
use super::{archive, yaml};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

/// Subchart archives may hold subchart archives, but not without end.
const MAX_DEPTH: usize = 10;
/// What tar headers and padding may take at least, whatever the chart's size limit.
const TAR_OVERHEAD: u64 = 16 << 20;

/// What an archive's tar headers and padding may take beside the files' bytes.
fn headers_allowed(limits: &Limits) -> u64 {
    limits.chart_size.max(TAR_OVERHEAD)
}

/// Helm's caps on a chart: all its files together, and each one, unpacked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub chart_size: u64,
    pub file_size: u64,
    /// The command's `--max-chart-size` and `--max-file-size` set these, so a message about
    /// a limit names the flag that raises it (Helm runs the downloader with no such flags).
    pub flags: bool,
}

impl Limits {
    /// What a message about the limit on one file adds: the flag that raises it, if any.
    pub fn raise_file(&self) -> &'static str {
        if self.flags { " (--max-file-size raises it)" } else { "" }
    }

    /// What a message about the limit on the whole chart adds.
    pub fn raise_chart(&self) -> &'static str {
        if self.flags { " (--max-chart-size raises it)" } else { "" }
    }
}

impl Default for Limits {
    /// Helm's `MaxDecompressedChartSize` and `MaxDecompressedFileSize`.
    fn default() -> Limits {
        Limits { chart_size: 100 << 20, file_size: 5 << 20, flags: false }
    }
}

/// One file of a chart, named by its path inside the chart (`templates/a.yaml`).
pub struct File {
    pub name: String,
    pub content: Content,
}

/// Where a file's bytes are.
pub enum Content {
    /// In memory, without a UTF-8 byte-order mark (Helm drops it).
    Data(Vec<u8>),
    /// On disk, read when the archive is written.
    Disk(PathBuf),
    /// Not kept: the chart was loaded to be checked, and only this file's name matters.
    Dropped,
}

/// A loaded chart: its metadata, the files that go into its archive (subcharts apart), and
/// its subcharts, loaded the same way.
pub struct Chart {
    pub meta: Metadata,
    /// The dependencies `helm package` looks for under `charts/`: those of the chart as
    /// loaded, even where packaging leaves them out of its metadata (v1 charts).
    pub declared: Vec<Dependency>,
    pub files: Vec<File>,
    pub subcharts: Vec<Chart>,
}

/// One chart load: Helm's limits, whether file contents are kept, and how many unpacked
/// bytes the load may still decompress, all its archives together (nested subchart
/// archives get no fresh allowance).
pub struct Loader {
    pub limits: Limits,
    keep: bool,
    unpackable: Cell<u64>,
}

impl Loader {
    /// With `keep`, every file's bytes stay in memory, to write the chart out again;
    /// otherwise only those the loader reads.
    pub fn new(limits: Limits, keep: bool) -> Loader {
        // Tar headers and padding come on top of the files' bytes in what an archive unpacks
        // to: as much again is allowed for them, and never less than TAR_OVERHEAD. Helm
        // bounds only the files' bytes, so a chart of many small files (200,000 at Helm's
        // default size) loads as in Helm, and what the entries take in memory stays bounded.
        let unpackable = limits.chart_size.saturating_add(headers_allowed(&limits));
        Loader { limits, keep, unpackable: Cell::new(unpackable) }
    }

    /// Whether every file's bytes are kept.
    pub fn keeps(&self) -> bool {
        self.keep
    }

    /// Takes `n` bytes of unpacking (files, headers and padding) from the allowance.
    pub fn unpack(&self, n: u64) -> Result<(), String> {
        let left = self.unpackable.get().checked_sub(n).ok_or_else(|| {
            format!(
                "the chart unpacks to more than the {} bytes allowed, with {} more for its archive's headers{}",
                self.limits.chart_size,
                headers_allowed(&self.limits),
                self.limits.raise_chart()
            )
        })?;
        self.unpackable.set(left);
        Ok(())
    }

    /// Applies Helm's rules to a chart's files; `depth` counts the subchart archives it is
    /// inside. The error is Helm's wording of the cause.
    pub fn load(&self, files: Vec<File>, depth: usize) -> Result<Chart, String> {
        if depth == 0
            && let Some(chart_yaml) = files.iter().find(|f| f.name == "Chart.yaml")
        {
            Metadata::detectable(&bytes(&chart_yaml.content)?)?;
        }
        let chart = load(files, self, depth)?;
        if depth == 0 {
            chart.meta.chart_itself()?;
        }
        Ok(chart)
    }
}

/// Whether the loader reads this file's bytes (rather than only carrying it): Chart.yaml
/// and its companions, and subchart archives, of the chart or of any chart under `charts/`.
pub fn reads(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    while parts.len() >= 3 && parts[0] == "charts" {
        parts.drain(..2);
    }
    match parts.as_slice() {
        [name] => {
            matches!(*name, "Chart.yaml" | "Chart.lock" | "values.yaml" | "requirements.yaml" | "requirements.lock")
        }
        ["charts", sub] => sub.ends_with(".tgz"),
        _ => false,
    }
}

fn load(files: Vec<File>, loader: &Loader, depth: usize) -> Result<Chart, String> {
    // An archive may hold Chart.yaml (or requirements.yaml) more than once; Helm reads
    // every one, in order.
    let all = |name: &str| -> Result<Vec<Vec<u8>>, String> {
        files.iter().filter(|f| f.name == name).map(|f| bytes(&f.content)).collect()
    };
    let (chart_yamls, requirements) = (all("Chart.yaml")?, all("requirements.yaml")?);
    if chart_yamls.is_empty() {
        return Err("Chart.yaml file is missing".into());
    }
    let chart_yamls: Vec<&[u8]> = chart_yamls.iter().map(Vec::as_slice).collect();
    let requirements: Vec<&[u8]> = requirements.iter().map(Vec::as_slice).collect();
    let meta = Metadata::from_yamls(&chart_yamls, &requirements, "").map_err(|e| e.cause)?;
    let v1 = meta.api_version == "v1";

    let mut kept = Vec::new();
    let mut groups: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for file in files {
        let name = file.name.as_str();
        match name {
            "Chart.yaml" => kept.push(file),
            "Chart.lock" | "requirements.lock" => {
                let lock = Lock::parse(&bytes(&file.content)?).map_err(|e| format!("cannot load {name}: {e}"))?;
                if !v1 {
                    // Helm's lock is the last of the two it read, and for a v2 chart it
                    // writes that as Chart.lock, unless it is none (an empty file); a v1
                    // chart keeps requirements.lock as it is.
                    kept.retain(|f: &File| f.name != "Chart.lock");
                    if lock.is_some() {
                        kept.push(File { name: "Chart.lock".into(), content: file.content });
                    }
                } else if name == "requirements.lock" {
                    kept.push(file);
                }
            }
            "values.yaml" => {
                yaml::values(&bytes(&file.content)?).map_err(|e| format!("cannot load values.yaml: {e}"))?;
                kept.push(file);
            }
            // Helm lays a v2 chart's requirements.yaml over its metadata too, then writes that
            // metadata into Chart.yaml. Chart.yaml goes as it is here, so requirements.yaml
            // goes with it where it changes what Helm reads.
            "requirements.yaml"
                if !v1 && Metadata::from_yamls(&chart_yamls, &[], "").is_ok_and(|alone| alone == meta) => {}
            _ if name.starts_with("charts/") && !name.ends_with(".prov") => {
                let rest = &name["charts/".len()..];
                let group = rest.split('/').next().unwrap_or_default().to_string();
                groups.entry(group).or_default().push(file);
            }
            _ => kept.push(file),
        }
    }

    let mut subcharts = Vec::new();
    for (group, members) in groups {
        // Helm skips `charts/_…` and `charts/.…` entirely.
        if group.starts_with(['_', '.']) {
            continue;
        }
        let unpacking = |e: String| format!("error unpacking subchart {group} in {}: {e}", meta.name);
        let sub = if group.ends_with(".tgz") {
            let [archive] = members.as_slice() else {
                return Err(format!("error unpacking subchart tar in {}: expected charts/{group} alone", meta.name));
            };
            if archive.name != format!("charts/{group}") {
                return Err(format!(
                    "error unpacking subchart tar in {}: expected charts/{group}, got {}",
                    meta.name, archive.name
                ));
            }
            if depth >= MAX_DEPTH {
                return Err(unpacking(format!("subchart archives nest more than {MAX_DEPTH} deep")));
            }
            let data = bytes(&archive.content).map_err(&unpacking)?;
            archive::load(&data[..], loader, depth + 1).map_err(unpacking)?
        } else {
            // A file lying in charts/ that is no chart's is not part of any subchart.
            let inside: Vec<File> = members
                .into_iter()
                .filter_map(|f| {
                    let (_, rest) = f.name.split_once('/')?.1.split_once('/')?;
                    Some(File { name: rest.to_string(), content: f.content })
                })
                .collect();
            load(inside, loader, depth).map_err(unpacking)?
        };
        subcharts.push(sub);
    }
    let declared = meta.dependencies().cloned().collect();
    Ok(Chart { meta, declared, files: kept, subcharts })
}

/// Refuses a chart whose declared dependencies are not all under `charts/`, as `helm
/// package` does.
pub fn check_dependencies(chart: &Chart) -> Result<(), String> {
    let missing: Vec<&str> = chart
        .declared
        .iter()
        .filter(|d| !chart.subcharts.iter().any(|s| s.meta.name == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("found in Chart.yaml, but missing in charts/ directory: {}", missing.join(", ")))
    }
}

/// A file's bytes, read from disk if they are not in memory yet.
pub fn bytes(content: &Content) -> Result<Vec<u8>, String> {
    match content {
        Content::Data(data) => Ok(data.clone()),
        Content::Disk(path) => {
            let mut data = Vec::new();
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Ok(strip_bom(data))
        }
        Content::Dropped => Err("the file's content was not kept".into()),
    }
}

/// Helm drops a UTF-8 byte-order mark at the start of every file it loads.
pub fn strip_bom(mut data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(b"\xEF\xBB\xBF") {
        data.drain(..3);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<File> {
        list.iter().map(|(n, d)| File { name: n.to_string(), content: Content::Data(d.as_bytes().to_vec()) }).collect()
    }

    fn load(list: Vec<File>, _: &Limits, keep: bool) -> Result<Chart, String> {
        Loader::new(Limits::default(), keep).load(list, 0)
    }

    fn names(chart: &Chart) -> Vec<&str> {
        chart.files.iter().map(|f| f.name.as_str()).collect()
    }

    const V2: &str = "apiVersion: v2\nname: app\nversion: 1.0.0\n";
    const V1: &str = "apiVersion: v1\nname: app\nversion: 1.0.0\n";

    #[test]
    fn leaves_out_what_helm_leaves_out() {
        let chart = load(
            files(&[
                ("Chart.yaml", V2),
                ("Chart.lock", "dependencies: []\n"),
                ("requirements.yaml", "dependencies: []\n"),
                ("requirements.lock", "dependencies: []\n"),
                ("charts/_helpers/x", "x"),
                ("charts/.gitkeep", ""),
                ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
                ("charts/sub.prov", "signature"),
                ("templates/a.yaml", "a"),
            ]),
            &Limits::default(),
            true,
        )
        .unwrap();
        assert_eq!(names(&chart), ["Chart.yaml", "Chart.lock", "charts/sub.prov", "templates/a.yaml"]);
        // The last lock Helm reads is the one it writes as Chart.lock.
        assert!(
            matches!(&chart.files[1].content, Content::Data(d) if d == b"dependencies: []\n" && chart.files[1].name == "Chart.lock")
        );
        assert_eq!(chart.subcharts.len(), 1);
        assert_eq!(names(&chart.subcharts[0]), ["Chart.yaml"]);

        let v1 = load(
            files(&[
                ("Chart.yaml", V1),
                ("Chart.lock", "x: 1\n"),
                ("requirements.yaml", "dependencies: []\n"),
                ("requirements.lock", "{}"),
            ]),
            &Limits::default(),
            true,
        )
        .unwrap();
        assert_eq!(names(&v1), ["Chart.yaml", "requirements.yaml", "requirements.lock"]);
    }

    #[test]
    fn a_v2_chart_keeps_requirements_that_change_its_metadata() {
        let requirements = "dependencies:\n- {name: db, repository: r}\n";
        let chart = load(
            files(&[("Chart.yaml", V2), ("requirements.yaml", requirements), ("requirements.lock", "{}")]),
            &Limits::default(),
            true,
        )
        .unwrap();
        assert_eq!(names(&chart), ["Chart.yaml", "requirements.yaml", "Chart.lock"]);
        assert_eq!(chart.meta.dependencies().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["db"]);
        assert!(load(files(&[("Chart.yaml", V2), ("Chart.lock", "a: .nan\n")]), &Limits::default(), true).is_err());
        let infinite = format!("{V2}appVersion: .inf\n");
        let refused = load(files(&[("Chart.yaml", &infinite)]), &Limits::default(), true).err().unwrap();
        assert_eq!(refused, "cannot load Chart.yaml: json: unsupported value: +Inf");
        let sub = load(files(&[("Chart.yaml", V2), ("charts/s/Chart.yaml", &infinite)]), &Limits::default(), true);
        assert_eq!(sub.unwrap().subcharts[0].meta.app_version, "+Inf", "Helm reads subcharts with its v2 loader alone");
    }

    #[test]
    fn refuses_what_helm_refuses() {
        let refuse = |list: &[(&str, &str)]| load(files(list), &Limits::default(), true).err().unwrap();
        assert_eq!(refuse(&[("values.yaml", "a: 1\n")]), "Chart.yaml file is missing");
        assert!(refuse(&[("Chart.yaml", V2), ("values.yaml", "a: [\n")]).starts_with("cannot load values.yaml"));
        assert!(refuse(&[("Chart.yaml", V2), ("Chart.lock", "a: [\n")]).starts_with("cannot load Chart.lock"));
        let bad_sub = refuse(&[("Chart.yaml", V2), ("charts/sub/Chart.yaml", "name: sub\n")]);
        assert!(
            bad_sub.starts_with("error unpacking subchart sub in app: ") && bad_sub.contains("version is required")
        );
        let stray = refuse(&[("Chart.yaml", V2), ("charts/README.md", "hello")]);
        assert_eq!(stray, "error unpacking subchart README.md in app: Chart.yaml file is missing");
        // The chart's apiVersion must be one Helm packages; a subchart's is not checked.
        let v3 = "apiVersion: v3\nname: s\nversion: 1.0.0\n";
        assert!(refuse(&[("Chart.yaml", v3)]).starts_with("unsupported chart version \"v3\""));
        let chart = load(files(&[("Chart.yaml", V2), ("charts/s/Chart.yaml", v3)]), &Limits::default(), false).unwrap();
        assert_eq!(chart.subcharts[0].meta.api_version, "v3");
    }

    #[test]
    fn dependencies_must_be_vendored() {
        let deps =
            format!("{V2}dependencies:\n- {{name: redis, repository: x}}\n- {{name: db, alias: pg, repository: y}}\n");
        let chart = load(
            files(&[("Chart.yaml", &deps), ("charts/db/Chart.yaml", "apiVersion: v2\nname: db\nversion: 1.0.0\n")]),
            &Limits::default(),
            true,
        )
        .unwrap();
        assert_eq!(
            check_dependencies(&chart).unwrap_err(),
            "found in Chart.yaml, but missing in charts/ directory: redis"
        );
    }

    #[test]
    fn knows_which_files_it_reads() {
        for read in ["Chart.yaml", "values.yaml", "charts/a/Chart.yaml", "charts/a/charts/b/Chart.lock", "charts/x.tgz"]
        {
            assert!(reads(read), "{read}");
        }
        for carried in ["templates/a.yaml", "charts/a/templates/Chart.yaml", "x/values.yaml", "charts/a.prov"] {
            assert!(!reads(carried), "{carried}");
        }
    }
}
