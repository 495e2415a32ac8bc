//! Charts in the early Helm 3 registry layout (`chart.meta.v1+json` and
//! `chart.content.v1+tar`): the archive holds the chart under a stand-in Chart.yaml (name
//! `-`, version 0.1.0), and the real Chart.yaml is the meta layer's JSON plus the name and
//! version from the content layer's annotations. They are rebuilt as the archive
//! `helm package` would make, which every Helm loads.

use super::load::{Limits, Loader};
use super::metadata::Metadata;
use super::{archive, load, package};
use std::io::Read;

/// The chart's metadata and its archive, rebuilt.
pub fn rebuild(
    content: impl Read,
    meta_json: &[u8],
    name: &str,
    version: &str,
    limits: Limits,
) -> Result<(Metadata, Vec<u8>), String> {
    let mut chart = archive::load(content, &Loader::new(limits, true), 0)?;
    let mut fields = match serde_json::from_slice(meta_json) {
        Ok(serde_json::Value::Object(fields)) => fields,
        Ok(_) => return Err("the meta layer is not a JSON object".into()),
        Err(e) => return Err(format!("the meta layer is not valid JSON: {e}")),
    };
    fields.insert("name".into(), name.into());
    fields.insert("version".into(), version.into());
    // JSON is YAML: Chart.yaml is the meta layer with the name and version put back.
    let chart_yaml = serde_json::to_vec_pretty(&fields).expect("a JSON map serialises");
    let requirements = chart.files.iter().find(|f| f.name == "requirements.yaml").map(|f| load::bytes(&f.content));
    let requirements = requirements.transpose()?;
    chart.meta = Metadata::from_yaml(&chart_yaml, requirements.as_deref(), "Chart.yaml").map_err(|e| e.cause)?;
    match chart.files.iter_mut().find(|f| f.name == "Chart.yaml") {
        Some(file) => file.content = load::Content::Data(chart_yaml),
        None => return Err("the content layer has no Chart.yaml".into()),
    }
    let tgz = package::archive(&chart, 0)?;
    Ok((chart.meta, tgz))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, name, data.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_stand_in_chart_yaml_is_replaced() {
        let content = tgz(&[
            ("-/Chart.yaml", "apiVersion: v1\nname: \"-\"\nversion: 0.1.0\n"),
            ("-/values.yaml", "a: 1\n"),
            ("-/templates/cm.yaml", "kind: ConfigMap\n"),
        ]);
        let meta = br#"{"apiVersion":"v1","description":"old times","appVersion":"2.0"}"#;
        let (m, rebuilt) = rebuild(&content[..], meta, "legacy", "1.2.3", Limits::default()).unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str(), m.description.as_str()), ("legacy", "1.2.3", "old times"));
        let again = archive::load(&rebuilt[..], &Loader::new(Limits::default(), true), 0).unwrap();
        assert_eq!((again.meta.name.as_str(), again.meta.app_version.as_str()), ("legacy", "2.0"));
        let names: Vec<&str> = again.files.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"templates/cm.yaml") && names.contains(&"values.yaml"), "{names:?}");
    }

    #[test]
    fn a_meta_layer_that_is_not_an_object_is_refused() {
        let content = tgz(&[("-/Chart.yaml", "apiVersion: v1\nname: \"-\"\nversion: 0.1.0\n")]);
        let err = rebuild(&content[..], b"[1]", "x", "1.0.0", Limits::default()).unwrap_err();
        assert_eq!(err, "the meta layer is not a JSON object");
    }
}
