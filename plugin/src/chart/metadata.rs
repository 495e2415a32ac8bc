//! Chart.yaml: parsing, Helm's validation rules, and the config blob Helm derives from it.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Chart.yaml's fields in the order of Helm's Go struct, so the JSON config blob matches Helm's.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub home: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "scalars")]
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "scalars")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub maintainers: Vec<Maintainer>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub icon: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub tags: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub app_version: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "scalar_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub kube_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub kind: String,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Maintainer {
    #[serde(default, deserialize_with = "scalar")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dependency {
    #[serde(default, deserialize_with = "scalar")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub version: String,
    #[serde(default, deserialize_with = "scalar")]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub condition: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "scalars")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    #[serde(default, rename = "import-values", skip_serializing_if = "Vec::is_empty")]
    pub import_values: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub alias: String,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// YAML writes `appVersion: 1.16` as a number; Helm keeps the text, and so do we.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> String {
        match s {
            Scalar::Text(t) => t,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(String::from).unwrap_or_default())
}

fn scalars<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<Scalar>>::deserialize(d)?.unwrap_or_default().into_iter().map(String::from).collect())
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(d)?.unwrap_or_default();
    Ok(map.into_iter().map(|(k, v)| (k, v.into())).collect())
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Metadata {
    /// Parses and validates Chart.yaml; `origin` names the file in messages.
    pub fn from_yaml(bytes: &[u8], origin: &str) -> Result<Metadata> {
        let meta: Metadata = serde_yaml::from_slice(bytes)
            .map_err(|e| Error::invalid_chart(origin, format!("cannot parse Chart.yaml: {e}")))?;
        meta.validate().map_err(|why| Error::invalid_chart(origin, why))?;
        Ok(meta)
    }

    /// Reads the config blob of a pulled chart, holding it to the same rules.
    pub fn from_config(bytes: &[u8], origin: &str) -> Result<Metadata> {
        let meta: Metadata = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid_chart(origin, format!("the chart config is not valid JSON: {e}")))?;
        meta.validate().map_err(|why| Error::invalid_chart(origin, why))?;
        Ok(meta)
    }

    /// Helm's rules, with the version held to strict semver since it becomes the tag.
    pub fn validate(&self) -> Result<(), String> {
        match self.api_version.as_str() {
            "" => return Err("chart.metadata.apiVersion is required".into()),
            "v1" | "v2" => {}
            other => return Err(format!("chart.metadata.apiVersion {other:?} is not valid (must be v1 or v2)")),
        }
        if self.name.is_empty() {
            return Err("chart.metadata.name is required".into());
        }
        if self.name.contains(['/', '\\']) || self.name.starts_with('.') || self.name.chars().any(char::is_control) {
            return Err(format!("chart.metadata.name {:?} is not valid", self.name));
        }
        if self.version.is_empty() {
            return Err("chart.metadata.version is required".into());
        }
        if let Err(e) = semver::Version::parse(&self.version) {
            return Err(format!(
                "chart.metadata.version {:?} is not strict semver (MAJOR.MINOR.PATCH): {e}",
                self.version
            ));
        }
        if !matches!(self.kind.as_str(), "" | "application" | "library") {
            return Err(format!("chart.metadata.type {:?} is not valid (application or library)", self.kind));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::helm::go_json;

    fn parse(yaml: &str) -> Result<Metadata> {
        Metadata::from_yaml(yaml.as_bytes(), "Chart.yaml")
    }

    fn invalid(yaml: &str) -> String {
        match parse(yaml) {
            Err(e) if e.kind == crate::error::Kind::InvalidChart => e.to_string(),
            other => panic!("expected invalid-chart, got {other:?}"),
        }
    }

    #[test]
    fn config_json_matches_helms_field_order() {
        let m = parse(
            "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: 1.16\ndescription: A <chart>\n\
             type: application\nmaintainers:\n- name: A\n  email: a@x\nannotations:\n  n: 1\n",
        )
        .unwrap();
        assert_eq!(m.app_version, "1.16");
        let json = String::from_utf8(go_json(&m)).unwrap();
        assert_eq!(
            json,
            r#"{"name":"app","version":"1.2.3","description":"A \u003cchart\u003e","maintainers":[{"name":"A","email":"a@x"}],"apiVersion":"v2","appVersion":"1.16","annotations":{"n":"1"},"type":"application"}"#
        );
    }

    #[test]
    fn validation_follows_helm() {
        assert!(invalid("name: app\nversion: 1.0.0\n").contains("apiVersion is required"));
        assert!(invalid("apiVersion: v3\nname: app\nversion: 1.0.0\n").contains("v1 or v2"));
        assert!(invalid("apiVersion: v2\nversion: 1.0.0\n").contains("name is required"));
        assert!(invalid("apiVersion: v2\nname: ../x\nversion: 1.0.0\n").contains("not valid"));
        assert!(invalid("apiVersion: v2\nname: app\n").contains("version is required"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: 1.0\n").contains("strict semver"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: v1.0.0\n").contains("strict semver"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: 1.0.0\ntype: x\n").contains("type"));
        assert!(invalid("apiVersion: [\n").contains("cannot parse"));
        assert!(parse("apiVersion: v1\nname: app\nversion: 1.0.0-rc.1+b2\n").is_ok());
    }
}
