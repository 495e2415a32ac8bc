//! Chart archives, read the way Helm's loader reads them: the first path component is the
//! chart's directory, paths may not leave it, every file counts against Helm's size limits,
//! and a byte-order mark is dropped. Reading either loads the chart (to check it) or also
//! unpacks it, for `pull --untar`.

use super::load::{self, Chart, Content, File, Limits, Loader};
use crate::fs::granted;
use flate2::read::MultiGzDecoder;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::Path;

/// Loads a chart from an archive, `depth` subchart archives down.
pub fn load(reader: impl Read, loader: &Loader, depth: usize) -> Result<Chart, String> {
    let mut files = Vec::new();
    read(reader, loader, |name, data| {
        let content = if loader.keeps() || load::reads(&name) { Content::Data(data) } else { Content::Dropped };
        files.push(File { name, content });
        Ok::<(), String>(())
    })?;
    loader.load(files, depth)
}

/// Unpacks an archive into `dest` (an empty directory) as `<chart name>/…`, checking it on
/// the way: Helm's limits, and a chart that loads. As Helm expands a chart, the first path
/// component of every entry is dropped (so entries under several top-level directories
/// land together), and a path the archive holds twice has the later entry's bytes.
/// Returns the chart and the directory written.
pub fn unpack(reader: impl Read, dest: &Path, loader: &Loader) -> Result<(Chart, std::path::PathBuf), Unpacking> {
    let staging = dest.join("chart");
    let mut files = Vec::new();
    let mut written = BTreeSet::new();
    read(reader, loader, |name, data| {
        let path = name.split('/').fold(staging.clone(), |p, c| p.join(c));
        write_file(&path, &data, written.insert(name.clone()))
            .map_err(|e| Unpacking::Write(format!("{}: {e}", path.display())))?;
        let content = if load::reads(&name) { Content::Data(data) } else { Content::Dropped };
        files.push(File { name, content });
        Ok::<(), Unpacking>(())
    })?;
    let chart = loader.load(files, 0).map_err(Unpacking::Chart)?;
    Ok((chart, staging))
}

/// Why unpacking failed: the archive, or writing it out.
#[derive(Debug)]
pub enum Unpacking {
    Chart(String),
    Write(String),
}

impl From<String> for Unpacking {
    fn from(why: String) -> Unpacking {
        Unpacking::Chart(why)
    }
}

/// Writes a file of the chart: a new one, or (`first` false) one an earlier entry wrote.
fn write_file(path: &Path, data: &[u8], first: bool) -> io::Result<()> {
    if !first {
        return granted::rewrite(path)?.write_all(data);
    }
    if let Some(parent) = path.parent() {
        granted::create_dir_all(parent)?;
    }
    granted::create_new(path)?.write_all(data)
}

/// Visits every file of a gzipped tar with Helm's rules, giving `each` the path inside the
/// chart and the bytes. It reads as far as Go's tar reader does, and no further: what
/// follows the archive's end, the gzip trailer (CRC) among it, Helm never reads.
fn read<R: Read, E: From<String>>(
    reader: R,
    loader: &Loader,
    mut each: impl FnMut(String, Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let limits = &loader.limits;
    // Everything unpacked counts against the load's allowance, headers (long names among
    // them) included.
    // Every gzip member, as Go's gzip reader reads them: Helm would see files in a second
    // member that the first alone hides.
    let mut archive = tar::Archive::new(Allowance { inner: MultiGzDecoder::new(reader), loader });
    let mut remaining = limits.chart_size;
    let mut count = 0;
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        // Go reads a PAX header by its length prefixes, the tar crate line by line, skipping
        // lines it cannot read: were any skipped, the two would see different names.
        if let Some(mut records) = entry.pax_extensions().map_err(|e| e.to_string())?
            && records.any(|record| record.is_err())
        {
            let why =
                format!("the archive's PAX header of {:?} is malformed", String::from_utf8_lossy(&entry.path_bytes()));
            return Err(why.into());
        }
        let kind = entry.header().entry_type();
        // The tar crate applies a PAX or GNU long-name header only with a ustar or GNU magic;
        // Go applies one whatever its magic, to the entry after it. Handed over here, it
        // would name that entry otherwise than Helm does.
        if matches!(kind, tar::EntryType::XHeader | tar::EntryType::GNULongName | tar::EntryType::GNULongLink) {
            return Err(String::from("the archive holds an extended header its reader cannot apply").into());
        }
        if kind.is_dir() || kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = chart_path(&raw)?;
        let size = entry.header().size().map_err(|e| e.to_string())?;
        if size > limits.file_size {
            let why = format!(
                "the file {raw:?} is {size} bytes unpacked, more than the {} allowed for one file{}",
                limits.file_size,
                limits.raise_file()
            );
            return Err(why.into());
        }
        if size > remaining {
            return Err(too_large(limits).into());
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry).take(remaining.min(limits.file_size) + 1).read_to_end(&mut data).map_err(|e| e.to_string())?;
        if data.len() as u64 > limits.file_size {
            return Err(format!(
                "the file {raw:?} is more than the {} bytes allowed for one file{}",
                limits.file_size,
                limits.raise_file()
            )
            .into());
        }
        // Using up the allowance exactly is too much, as in Helm (`remainingSize <= 0`).
        remaining =
            remaining.checked_sub(data.len() as u64).filter(|&left| left > 0).ok_or_else(|| too_large(limits))?;
        count += 1;
        each(name, load::strip_bom(data))?;
    }
    // The tar crate stops at a zero block; Go reads the next block too, and takes it as the
    // end only if it is zeros as well, or the stream ends there.
    let mut next = Vec::with_capacity(512);
    archive.into_inner().take(512).read_to_end(&mut next).map_err(|e| e.to_string())?;
    if !next.is_empty() && (next.len() < 512 || next.iter().any(|&b| b != 0)) {
        return Err(String::from("archive/tar: invalid tar header after a zero block").into());
    }
    if count == 0 {
        return Err(String::from("no files in chart archive").into());
    }
    Ok(())
}

/// Unpacked bytes, taken from a load's allowance as they are read.
struct Allowance<'a, R> {
    inner: R,
    loader: &'a Loader,
}

impl<R: Read> Read for Allowance<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.loader.unpack(n as u64).map_err(io::Error::other)?;
        Ok(n)
    }
}

fn too_large(limits: &Limits) -> String {
    format!("the chart is more than the {} bytes allowed unpacked{}", limits.chart_size, limits.raise_chart())
}

/// An entry's path without its first component (the chart's directory), made clean, with
/// Helm's checks, in Helm's order: no absolute paths, nothing outside the chart's directory
/// (a file at the top, Chart.yaml among them), no top directory named Chart.yaml.
fn chart_path(raw: &str) -> Result<String, String> {
    // An archive made on Windows may use backslashes.
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let mut parts = raw.split(delimiter);
    let top = parts.next();
    let rest: Vec<&str> = parts.collect();
    if rest.first().is_some_and(|p| p.is_empty()) && rest.len() > 1 {
        return Err("chart illegally contains absolute paths".into());
    }
    let mut clean: Vec<&str> = Vec::new();
    for part in rest {
        match part {
            "" | "." => {}
            ".." => {
                if clean.pop().is_none() {
                    return Err("chart illegally references parent directory".into());
                }
            }
            p => clean.push(p),
        }
    }
    if clean.is_empty() {
        return Err(format!("chart illegally contains content outside the base directory: {raw:?}"));
    }
    // Helm refuses any path inside the chart that begins with `..` (`..data` too).
    if clean[0].starts_with("..") {
        return Err("chart illegally references parent directory".into());
    }
    if clean[0].len() == 2 && clean[0].ends_with(':') && clean[0].as_bytes()[0].is_ascii_alphabetic() {
        return Err("chart contains illegally named files".into());
    }
    if top == Some("Chart.yaml") {
        return Err("chart yaml not in base directory".into());
    }
    Ok(clean.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the name raw so that hostile paths can be built.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: app\nversion: 0.1.0\n";

    fn load(reader: &[u8], limits: &Limits, keep: bool) -> Result<Chart, String> {
        super::load(reader, &Loader::new(*limits, keep), 0)
    }

    #[test]
    fn loads_a_valid_archive() {
        let chart = load(
            &tgz(&[("app/Chart.yaml", CHART), ("app/values.yaml", b"\xEF\xBB\xBFa: 1")])[..],
            &Limits::default(),
            true,
        )
        .unwrap();
        assert_eq!((chart.meta.name.as_str(), chart.meta.version.as_str()), ("app", "0.1.0"));
        assert!(matches!(&chart.files[1].content, Content::Data(d) if d == b"a: 1"));
    }

    #[test]
    fn refuses_broken_archives() {
        let good = tgz(&[("app/Chart.yaml", CHART), ("app/values.yaml", &[7u8; 4096])]);
        let limits = Limits::default();
        for bad in [b"not gzip at all".to_vec(), good[..good.len() / 2].to_vec()] {
            assert!(load(&bad[..], &limits, false).is_err());
        }
        // Helm reads no further than the archive's end: not a damaged or missing gzip
        // trailer, nor bytes after the stream.
        let valid = tgz(&[("app/Chart.yaml", CHART), ("app/values.yaml", &b"a: 1\n".repeat(800))]);
        let mut flipped = valid.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff; // inside the gzip CRC
        let after = [valid.clone(), b"trailing bytes".to_vec()].concat();
        for read_as_helm_reads in [flipped, valid[..n - 8].to_vec(), after] {
            assert!(load(&read_as_helm_reads[..], &limits, false).is_ok());
        }
        // Entries after a single zero block are not the end Go's reader accepts.
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(CHART.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, "app/Chart.yaml", CHART).unwrap();
        let mut hidden = tar.into_inner().unwrap();
        hidden.truncate(hidden.len() - 1024);
        hidden.extend([0u8; 512]);
        let mut more = tar::Builder::new(Vec::new());
        more.append_data(&mut h, "app/hidden.yaml", CHART).unwrap();
        hidden.extend(more.into_inner().unwrap());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&hidden).unwrap();
        let e = load(&gz.finish().unwrap()[..], &limits, false).err().unwrap();
        assert!(e.contains("invalid tar header"), "{e}");
        assert_eq!(
            load(&tgz(&[("app/values.yaml", b"")])[..], &limits, false).err().unwrap(),
            "Chart.yaml file is missing"
        );
        let escape = load(&tgz(&[("app/Chart.yaml", CHART), ("app/../../evil", b"")])[..], &limits, false);
        assert_eq!(escape.err().unwrap(), "chart illegally references parent directory");
        assert!(
            load(&tgz(&[("Chart.yaml", CHART)])[..], &limits, false)
                .err()
                .unwrap()
                .contains("outside the base directory: \"Chart.yaml\"")
        );
        let named_so = load(&tgz(&[("Chart.yaml/Chart.yaml", CHART)])[..], &limits, false);
        assert_eq!(named_so.err().unwrap(), "chart yaml not in base directory");
    }

    #[test]
    fn every_chart_yaml_is_read_and_top_directories_merge_as_helm_reads_them() {
        let archive = tgz(&[
            ("app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 0.1.0\ndescription: first\nannotations: {a: x}\n"),
            ("other/Chart.yaml", b"version: 0.2.0\nannotations: {b: y}\n"),
            ("other/templates/a.yaml", b"kind: A\n"),
        ]);
        let chart = load(&archive[..], &Limits::default(), true).unwrap();
        let meta = &chart.meta;
        assert_eq!((meta.name.as_str(), meta.version.as_str(), meta.description.as_str()), ("app", "0.2.0", "first"));
        assert_eq!(meta.annotations.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(chart.files.iter().any(|f| f.name == "templates/a.yaml"));
    }

    #[test]
    fn helms_limits_hold() {
        let small = Limits { chart_size: 10_000, file_size: 3000, flags: true };
        let big_file = load(&tgz(&[("app/Chart.yaml", CHART), ("app/big", &[0u8; 4000])])[..], &small, false);
        assert!(big_file.err().unwrap().contains("allowed for one file"));
        let many: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("app/f{i}"), vec![0u8; 2500])).collect();
        let mut entries: Vec<(&str, &[u8])> = vec![("app/Chart.yaml", CHART)];
        entries.extend(many.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        assert!(load(&tgz(&entries)[..], &small, false).err().unwrap().contains("allowed unpacked"));
        // Files that add up to the allowance exactly are too much, as in Helm; a byte less is not.
        let even = Limits { chart_size: 5000, file_size: 5000, flags: true };
        let filler = vec![b'x'; 5000 - CHART.len()];
        let exact = tgz(&[("app/Chart.yaml", CHART), ("app/filler", &filler)]);
        assert!(load(&exact[..], &even, false).err().unwrap().contains("allowed unpacked"));
        let under = tgz(&[("app/Chart.yaml", CHART), ("app/filler", &filler[1..])]);
        assert!(load(&under[..], &even, false).is_ok());
    }

    #[test]
    fn what_an_archive_unpacks_to_is_bounded_whatever_its_headers_say() {
        // A 20 MiB name: tar stores it in a long-name entry read before any size check.
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        tar.append_data(&mut header, format!("app/{}", "a".repeat(20 << 20)), &b""[..]).unwrap();
        let bomb = tar.into_inner().unwrap().finish().unwrap();
        let small = Limits { chart_size: 64 << 10, file_size: 64 << 10, flags: true };
        let e = load(&bomb[..], &small, false).err().unwrap();
        assert!(e.contains("unpacks to more than"), "{e}");
    }

    #[test]
    fn a_chart_of_many_small_files_loads_as_in_helm() {
        let many: Vec<(String, Vec<u8>)> = (0..30_000).map(|i| (format!("app/files/f{i}"), b"x\n".to_vec())).collect();
        let mut entries: Vec<(&str, &[u8])> = vec![("app/Chart.yaml", CHART)];
        entries.extend(many.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
        let chart = load(&tgz(&entries)[..], &Limits::default(), true).unwrap();
        assert_eq!(chart.files.iter().filter(|f| f.name.starts_with("files/")).count(), 30_000);
    }

    #[test]
    fn subchart_archives_nest_only_so_deep() {
        let mut inner = tgz(&[("c0/Chart.yaml", b"apiVersion: v2\nname: c0\nversion: 1.0.0\n")]);
        for i in 1..=12 {
            let chart = format!("apiVersion: v2\nname: c{i}\nversion: 1.0.0\n");
            let (chart_path, sub_path) = (format!("c{i}/Chart.yaml"), format!("c{i}/charts/c{}.tgz", i - 1));
            inner = tgz(&[(chart_path.as_str(), chart.as_bytes()), (sub_path.as_str(), &inner)]);
        }
        let e = load(&inner[..], &Limits::default(), false).err().unwrap();
        assert!(e.contains("nest more than 10 deep"), "{e}");
    }

    #[test]
    fn paths_are_cleaned_as_helm_cleans_them() {
        assert_eq!(chart_path("app/a/../b").unwrap(), "b");
        assert_eq!(chart_path("app\\templates\\x").unwrap(), "templates/x");
        assert!(chart_path("app//etc/passwd").is_err());
        assert!(chart_path("app").is_err());
        assert!(chart_path("app/c:/x").is_err());
        for parent in ["app/..data", "app/..d/x.yaml", "app/a/../../b"] {
            assert_eq!(chart_path(parent).unwrap_err(), "chart illegally references parent directory", "{parent}");
        }
        assert!(chart_path("app/templates/..data").is_ok());
    }

    #[test]
    fn every_gzip_member_is_read_as_go_reads_them() {
        // A tar without its end blocks in one member, the rest in a second: Helm reads both.
        let mut first = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(CHART.len() as u64);
        h.set_cksum();
        first.append_data(&mut h, "app/Chart.yaml", CHART).unwrap();
        let first = first.get_ref().clone();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&first).unwrap();
        let mut two = gz.finish().unwrap();
        two.extend(tgz(&[("app/templates/hidden.yaml", b"kind: Secret\n")]));
        let chart = load(&two[..], &Limits::default(), true).unwrap();
        assert!(chart.files.iter().any(|f| f.name == "templates/hidden.yaml"));
    }

    #[test]
    fn an_extended_header_the_tar_crate_does_not_apply_is_refused() {
        // A PAX header with the old (v7) magic: Go applies its path to the next entry.
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut h = tar::Header::new_ustar();
        h.set_size(CHART.len() as u64);
        h.set_cksum();
        tar.append_data(&mut h, "app/Chart.yaml", CHART).unwrap();
        let pax = b"29 path=app/templates/x.yaml\n";
        let mut x = tar::Header::new_old();
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_size(pax.len() as u64);
        x.set_cksum();
        tar.append_data(&mut x, "PaxHeaders/x", &pax[..]).unwrap();
        let tgz = tar.into_inner().unwrap().finish().unwrap();
        let e = load(&tgz[..], &Limits::default(), false).err().unwrap();
        assert!(e.contains("extended header"), "{e}");
    }

    #[test]
    fn a_pax_header_read_otherwise_by_go_is_refused() {
        // A name with a newline, and a comment hiding a path record: Go reads these by their
        // length prefixes, the tar crate by lines.
        let record = |key: &str, value: &str| {
            let body = format!(" {key}={value}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            format!("{len}{body}")
        };
        for pax in [record("path", "app/README\n.md"), record("comment", "x\n30 path=app/templates/evil.yaml")] {
            let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
            let mut h = tar::Header::new_ustar();
            h.set_size(CHART.len() as u64);
            h.set_cksum();
            tar.append_data(&mut h, "app/Chart.yaml", CHART).unwrap();
            let mut x = tar::Header::new_ustar();
            x.set_entry_type(tar::EntryType::XHeader);
            x.set_size(pax.len() as u64);
            x.set_cksum();
            tar.append_data(&mut x, "PaxHeaders/x", pax.as_bytes()).unwrap();
            let mut f = tar::Header::new_ustar();
            f.set_size(2);
            f.set_cksum();
            tar.append_data(&mut f, "app/templates/evil.yaml", &b"{}"[..]).unwrap();
            let tgz = tar.into_inner().unwrap().finish().unwrap();
            let e = load(&tgz[..], &Limits::default(), false).err().unwrap();
            assert!(e.contains("PAX header") && e.contains("malformed"), "{e}");
        }
    }
}
