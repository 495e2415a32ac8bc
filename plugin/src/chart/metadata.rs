//! Chart.yaml: its fields, Helm's validation rules (and its clean-up of text fields), and
//! the config blob Helm derives from it.

use super::yaml::{self, Target, decode_onto};
use crate::error::{Error, Result};
use crate::gojson::go_json;
use crate::version::Version;
use helm_oci_headers::is_format;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What Helm 4 first reads a chart's Chart.yaml into, to learn its apiVersion
/// (`chartBase` in pkg/chart/loader).
static CHART_BASE: Target = Target::Struct(&[("apiVersion", Target::Text)]);

/// Helm's `Maintainer` as sigs.k8s.io/yaml reads it.
static MAINTAINER: Target = Target::Struct(&[("name", Target::Text), ("email", Target::Text), ("url", Target::Text)]);

/// Helm's `Dependency` as sigs.k8s.io/yaml reads it.
pub static DEPENDENCY: Target = Target::Struct(&[
    ("name", Target::Text),
    ("version", Target::Text),
    ("repository", Target::Text),
    ("condition", Target::Text),
    ("tags", Target::List(&Target::Text)),
    ("enabled", Target::Any),
    ("import-values", Target::List(&Target::Any)),
    ("alias", Target::Text),
]);

/// Helm's `Metadata` as sigs.k8s.io/yaml reads it.
static METADATA: Target = Target::Struct(&[
    ("name", Target::Text),
    ("home", Target::Text),
    ("sources", Target::List(&Target::Text)),
    ("version", Target::Text),
    ("description", Target::Text),
    ("keywords", Target::List(&Target::Text)),
    ("maintainers", Target::List(&MAINTAINER)),
    ("icon", Target::Text),
    ("apiVersion", Target::Text),
    ("condition", Target::Text),
    ("tags", Target::Text),
    ("appVersion", Target::Text),
    ("deprecated", Target::Any),
    ("annotations", Target::Map(&Target::Text)),
    ("kubeVersion", Target::Text),
    ("dependencies", Target::List(&DEPENDENCY)),
    ("type", Target::Text),
]);

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
    pub maintainers: Vec<Option<Maintainer>>,
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
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "boolean")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "scalar_map")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub kube_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "nullable")]
    pub dependencies: Vec<Option<Dependency>>,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub kind: String,
}

/// One of Chart.yaml's `maintainers`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Maintainer {
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub url: String,
}

/// One of Chart.yaml's (or requirements.yaml's) `dependencies`.
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
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "boolean")]
    pub enabled: bool,
    #[serde(default, rename = "import-values", skip_serializing_if = "Vec::is_empty", deserialize_with = "go_values")]
    pub import_values: Vec<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar")]
    pub alias: String,
}

/// Decodes the metadata; a value of the wrong type is named by its field's path
/// (`.maintainers[0].name: invalid type: sequence, expected a string`), as Helm names the
/// field.
fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Metadata, String> {
    serde_path_to_error::deserialize(d).map_err(|e| match e.path().to_string().as_str() {
        "." => e.into_inner().to_string(),
        path => format!(".{path}: {}", e.into_inner()),
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A scalar where Helm wants text; null is empty. From YAML it is text already (as
/// sigs.k8s.io/yaml writes numbers bound for strings); a config blob may hold a number.
/// Anything else is refused as not a string, which Go's type is.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(Text)
    }
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> String {
        s.0
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(String::from).unwrap_or_default())
}

fn scalars<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = Option::<Vec<Option<Scalar>>>::deserialize(d)?.unwrap_or_default();
    Ok(items.into_iter().map(|s| s.map(String::from).unwrap_or_default()).collect())
}

fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Option<Scalar>>>::deserialize(d)?.unwrap_or_default();
    Ok(map.into_iter().map(|(k, v)| (k, v.map(String::from).unwrap_or_default())).collect())
}

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Values Helm holds as Go's `interface{}`, which it reads through JSON: every number is a
/// float64 there, so `1.0` and `1e3` are written back as `1` and `1000`, and an integer past
/// 2^53 loses its last digits, in the config and in the lock digest alike.
fn go_values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(nullable::<D, Value>(d)?.into_iter().map(as_go_reads).collect())
}

fn as_go_reads(value: Value) -> Value {
    match value {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_default();
            // Go writes an integral float64 below 1e21 without a fraction or exponent; i64
            // and u64 cover those up to 1.8e19. (Further differences, all far from what
            // charts hold: 1e-6 ≤ |f| < 1e-5 and ≥ 1.8e19 are written with an exponent,
            // and Go's `e+21` is written `e21`.)
            if f.fract() == 0.0 && f.abs() < 9e18 {
                Value::from(f as i64)
            } else if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
                Value::from(f as u64)
            } else {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(as_go_reads).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, as_go_reads(v))).collect()),
        other => other,
    }
}

/// A boolean: only a YAML boolean (`true`, or YAML 1.1's `yes`, `on`, …, resolved as such
/// by the YAML reader) or null, as Go's JSON takes nothing else for a `bool` field.
fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or_default())
}

impl Metadata {
    /// The chart's archive file name, as `helm package` writes it: `<name>-<version>.tgz`.
    pub fn archive_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// Reads Chart.yaml (and, if the chart has one, requirements.yaml, whose fields Helm
    /// lays over it) and holds it to Helm's rules; `origin` names the file in messages.
    pub fn from_yaml(chart_yaml: &[u8], requirements: Option<&[u8]>, origin: &str) -> Result<Metadata> {
        Metadata::from_yamls(&[chart_yaml], requirements.as_slice(), origin)
    }

    /// As `from_yaml`, for an archive that holds Chart.yaml (or requirements.yaml) more than
    /// once: Helm decodes each, in the archive's order, onto what the ones before filled, so
    /// a later one wins field by field (and an annotation at a time).
    pub fn from_yamls(chart_yamls: &[&[u8]], requirements: &[&[u8]], origin: &str) -> Result<Metadata> {
        Metadata::merged(chart_yamls, requirements, origin).map(|(meta, _)| meta)
    }

    /// As `from_yaml`, and whether the chart declares a list of dependencies, even an empty
    /// one: Go then holds a slice that is not nil, and Helm's update writes a lock and clears
    /// `charts/`, where with none at all (or null) it does nothing.
    pub fn from_yaml_declaring(
        chart_yaml: &[u8],
        requirements: Option<&[u8]>,
        origin: &str,
    ) -> Result<(Metadata, bool)> {
        Metadata::merged(&[chart_yaml], requirements.as_slice(), origin)
    }

    /// Chart.yaml (each copy) and then requirements.yaml, each decoded onto what came before;
    /// and whether `dependencies` is a list in the end (see `from_yaml_declaring`).
    fn merged(chart_yamls: &[&[u8]], requirements: &[&[u8]], origin: &str) -> Result<(Metadata, bool)> {
        let cannot = |file: &str, e: String| Error::invalid_chart(origin, format!("cannot load {file}: {e}"));
        let mut fields = Value::Object(Default::default());
        for chart_yaml in chart_yamls {
            match yaml::first_document(chart_yaml, &METADATA).map_err(|e| cannot("Chart.yaml", e))? {
                over @ Value::Object(_) => decode_onto(&mut fields, over, &METADATA),
                Value::Null => {}
                _ => return Err(cannot("Chart.yaml", "it is not a mapping".into())),
            }
            // Helm 2 accepted charts without an apiVersion; Helm reads them as v1.
            if fields.get("apiVersion").is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
                fields["apiVersion"] = Value::String("v1".into());
            }
        }
        for requirements in requirements {
            match yaml::first_document(requirements, &METADATA).map_err(|e| cannot("requirements.yaml", e))? {
                over @ Value::Object(_) => decode_onto(&mut fields, over, &METADATA),
                Value::Null => {}
                _ => return Err(cannot("requirements.yaml", "it is not a mapping".into())),
            }
        }
        let declares = fields.get("dependencies").is_some_and(Value::is_array);
        let meta: Metadata = decode(fields).map_err(|e| cannot("Chart.yaml", e))?;
        Ok((meta.checked(origin)?, declares))
    }

    /// Helm 4 reads the Chart.yaml of the chart it is given (not its subcharts') for its
    /// apiVersion alone first; there every other field takes any value, so a NaN or an
    /// infinity anywhere in it cannot become JSON.
    pub fn detectable(chart_yaml: &[u8]) -> Result<(), String> {
        yaml::first_document(chart_yaml, &CHART_BASE).map(drop).map_err(|e| format!("cannot load Chart.yaml: {e}"))
    }

    /// Whether Chart.yaml itself lists dependencies (which `helm package` leaves out of a v1
    /// chart's Chart.yaml). A Chart.yaml that does not load lists none.
    pub fn lists_dependencies(chart_yaml: &[u8]) -> bool {
        yaml::first_document(chart_yaml, &METADATA)
            .is_ok_and(|doc| doc.get("dependencies").and_then(Value::as_array).is_some_and(|d| !d.is_empty()))
    }

    /// The Chart.yaml `helm package` writes for a v1 chart: the metadata without its
    /// dependencies (requirements.yaml, which goes with it, holds them). It is JSON, which
    /// every YAML reader reads as Helm's own YAML.
    pub fn v1_chart_yaml(&self) -> Vec<u8> {
        go_json(&Metadata { dependencies: Vec::new(), ..self.clone() })
    }

    /// Reads the config blob of a pulled chart, holding it to the same rules.
    pub fn from_config(bytes: &[u8], origin: &str) -> Result<Metadata> {
        let invalid = |e: String| Error::invalid_chart(origin, format!("the chart config is not valid JSON: {e}"));
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let mut meta: Metadata = decode(&mut json).map_err(invalid)?;
        // Nothing but white space may follow, as in Go's json.Unmarshal.
        json.end().map_err(|e| invalid(e.to_string()))?;
        // Helm pulls a chart whose config has no apiVersion (other tools push such configs),
        // and its loader reads a Chart.yaml without one as v1.
        if meta.api_version.is_empty() {
            meta.api_version = "v1".into();
        }
        let meta = meta.checked(origin)?;
        meta.chart_itself().map_err(|why| Error::invalid_chart(origin, why))?;
        Ok(meta)
    }

    /// The metadata cleaned up and validated as Helm's `Metadata.Validate` does.
    fn checked(mut self, origin: &str) -> Result<Metadata> {
        self.sanitize();
        self.validate().map_err(|why| Error::invalid_chart(origin, why))?;
        Ok(self)
    }

    /// Helm normalises white space to plain spaces and drops unprintable characters in
    /// these fields before anything else reads them (the config blob included).
    fn sanitize(&mut self) {
        for field in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *field = sanitized(field);
        }
        for text in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *text = sanitized(text);
        }
        for m in self.maintainers.iter_mut().flatten() {
            for field in [&mut m.name, &mut m.email, &mut m.url] {
                *field = sanitized(field);
            }
        }
        for d in self.dependencies.iter_mut().flatten() {
            for field in [&mut d.name, &mut d.version, &mut d.repository, &mut d.condition] {
                *field = sanitized(field);
            }
            for tag in &mut d.tags {
                *tag = sanitized(tag);
            }
        }
    }

    /// Helm's rules, in Helm's words. Any apiVersion will do here, as for a subchart; a
    /// chart itself is held to `chart_itself` too.
    fn validate(&self) -> Result<(), String> {
        if self.api_version.is_empty() {
            return Err("chart.metadata.apiVersion is required".into());
        }
        if self.name.is_empty() {
            return Err("chart.metadata.name is required".into());
        }
        if self.name == "." || self.name == ".." {
            return Err(format!("chart.metadata.name {:?} is not allowed", self.name));
        }
        if self.name.contains(['/', '\\']) {
            return Err(format!("chart.metadata.name {:?} is invalid", self.name));
        }
        if self.version.is_empty() {
            return Err("chart.metadata.version is required".into());
        }
        Version::parse(&self.version)
            .map_err(|why| format!("chart.metadata.version {:?} is invalid: {why}", self.version))?;
        if !matches!(self.kind.as_str(), "" | "application" | "library") {
            return Err("chart.metadata.type must be application or library".into());
        }
        if self.maintainers.iter().any(Option::is_none) {
            return Err("maintainers must not contain empty or null nodes".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for dependency in &self.dependencies {
            let Some(d) = dependency else { return Err("dependencies must not contain empty or null nodes".into()) };
            if !d.alias.is_empty() && !d.alias.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                return Err(format!("dependency {:?} has disallowed characters in the alias", d.name));
            }
            let key = if d.alias.is_empty() { &d.name } else { &d.alias };
            if !seen.insert(key.clone()) {
                return Err(format!("more than one dependency with name or alias {key:?}"));
            }
        }
        Ok(())
    }

    /// The apiVersion rule for a chart given to Helm (not one under its `charts/`, whose
    /// apiVersion Helm leaves unchecked): one of those Helm packages.
    pub fn chart_itself(&self) -> Result<(), String> {
        match self.api_version.as_str() {
            "v1" | "v2" => Ok(()),
            other => Err(format!("unsupported chart version {other:?} (Helm packages apiVersion v1 and v2)")),
        }
    }

    /// The declared dependencies (Chart.yaml, or requirements.yaml for v1 charts).
    pub fn dependencies(&self) -> impl Iterator<Item = &Dependency> {
        self.dependencies.iter().flatten()
    }
}

/// Go's `sanitizeString` in Helm: white space becomes a space, unprintable characters go.
fn sanitized(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() || is_format(c) {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Metadata> {
        Metadata::from_yaml(yaml.as_bytes(), None, "Chart.yaml")
    }

    #[test]
    fn a_config_without_api_version_reads_as_v1() {
        let meta = Metadata::from_config(br#"{"name":"app","version":"1.0.0"}"#, "config").unwrap();
        assert_eq!(meta.api_version, "v1");
        assert!(Metadata::from_config(br#"{"apiVersion":"v9","name":"app","version":"1.0.0"}"#, "config").is_err());
        // As Go's json.Unmarshal: white space may follow the value, nothing else.
        assert!(Metadata::from_config(b"{\"name\":\"app\",\"version\":\"1.0.0\"} \n", "config").is_ok());
        let trailing = Metadata::from_config(br#"{"name":"app","version":"1.0.0"}x"#, "config").unwrap_err();
        assert!(trailing.cause.starts_with("the chart config is not valid JSON: trailing characters"), "{trailing}");
    }

    fn invalid(yaml: &str) -> String {
        match parse(yaml) {
            Err(e) if e.kind == crate::error::Kind::InvalidChart => e.to_string(),
            other => panic!("expected invalid-chart, got {other:?}"),
        }
    }

    #[test]
    fn numbers_in_import_values_are_go_float64s() {
        let m = parse(
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: db\n  repository: oci://r/c\n  \
             import-values:\n  - {child: a, parent: b, w: 1.0, x: 1e3, big: 9007199254740993, z: [0.25, -2.0, 1e19]}\n",
        )
        .unwrap();
        let json = String::from_utf8(go_json(&m.dependencies[0].as_ref().unwrap().import_values)).unwrap();
        assert_eq!(
            json,
            r#"[{"big":9007199254740992,"child":"a","parent":"b","w":1,"x":1000,"z":[0.25,-2,10000000000000000000]}]"#
        );
    }

    #[test]
    fn config_json_matches_helms_field_order() {
        let m = parse(
            "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: 1.16\ndescription: A <chart>\n\
             type: application\nmaintainers:\n- name: A\n  email: a@x\nannotations:\n  note: 1\n",
        )
        .unwrap();
        assert_eq!(m.app_version, "1.16");
        let json = String::from_utf8(go_json(&m)).unwrap();
        assert_eq!(
            json,
            r#"{"name":"app","version":"1.2.3","description":"A \u003cchart\u003e","maintainers":[{"name":"A","email":"a@x"}],"apiVersion":"v2","appVersion":"1.16","annotations":{"note":"1"},"type":"application"}"#
        );
    }

    #[test]
    fn accepts_what_helm_accepts() {
        for (yaml, check) in [
            ("name: app\nversion: 1.0.0\n", "apiVersion defaults to v1"),
            ("apiVersion: v2\nname: app\nversion: v0.1.0\n", "v-prefixed version"),
            ("apiVersion: v2\nname: app\nversion: 1.2\n", "short version"),
            ("apiVersion: v2\nname: app\nversion: 1\n", "a number as version"),
            ("apiVersion: v2\nname: old\nname: app\nversion: 1.0.0\n", "the last of a repeated key"),
            ("\u{FEFF}apiVersion: v2\nname: app\nversion: 1.0.0\n", "a byte-order mark"),
            ("apiVersion: v2\nname: app\nversion: 1.0.0\nannotations: {foo: }\n", "a null annotation"),
            ("apiVersion: v1\nname: app\nversion: 1.0.0-rc.1+b2\ndeprecated: yes\n", "YAML 1.1 booleans"),
        ] {
            let m = parse(yaml).unwrap_or_else(|e| panic!("{check}: {e}"));
            assert_eq!(m.name, "app", "{check}");
        }
        assert_eq!(parse("name: app\nversion: 1.0.0\n").unwrap().api_version, "v1");
        assert_eq!(
            parse("apiVersion: v2\nname: app\nversion: 1.0.0\nannotations: {foo: }\n").unwrap().annotations["foo"],
            ""
        );
    }

    #[test]
    fn refuses_what_helm_refuses() {
        let v3 = parse("apiVersion: v3\nname: app\nversion: 1.0.0\n").unwrap();
        assert!(v3.chart_itself().unwrap_err().contains("unsupported chart version"));
        assert!(invalid("apiVersion: v2\nversion: 1.0.0\n").contains("name is required"));
        assert!(invalid("apiVersion: v2\nname: ../x\nversion: 1.0.0\n").contains("invalid"));
        assert!(invalid("apiVersion: v2\nname: ..\nversion: 1.0.0\n").contains("not allowed"));
        assert!(invalid("apiVersion: v2\nname: app\n").contains("version is required"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: 1.0.0.0\n").contains("version \"1.0.0.0\" is invalid"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: 1.0.0\ntype: x\n").contains("application or library"));
        assert!(invalid("apiVersion: [\n").contains("cannot load Chart.yaml"));
        assert!(invalid("apiVersion: v2\nname: app\nversion: 1.0.0\nmaintainers: [~]\n").contains("null nodes"));
        let deps = "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: a, repository: x}\n";
        assert!(invalid(&format!("{deps}- {{name: a, repository: y}}\n")).contains("more than one dependency"));
        assert!(invalid(&format!("{deps}- {{name: b, alias: 'b/c'}}\n")).contains("alias"));
    }

    #[test]
    fn requirements_lay_their_dependencies_over_chart_yaml() {
        let m = Metadata::from_yaml(
            b"apiVersion: v1\nname: app\nversion: 1.0.0\n",
            Some(b"dependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts\n"),
            "Chart.yaml",
        )
        .unwrap();
        assert_eq!(m.dependencies().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["redis"]);
    }

    #[test]
    fn fields_are_typed_as_helms_go_structs() {
        let m = parse(
            "apiVersion: v2\nname: app\nversion: 010\nappVersion: .inf\ndescription: yes\nhome: 1e6\n\
             deprecated: on\nkeywords: [0x1F, 1_000]\ndependencies:\n- {name: a, version: +12, enabled: yes}\n",
        )
        .unwrap();
        assert_eq!((m.version.as_str(), m.app_version.as_str(), m.description.as_str()), ("8", "+Inf", "true"));
        assert_eq!((m.home.as_str(), m.deprecated), ("1e+06", true));
        assert_eq!(m.keywords, ["31", "1000"]);
        let d = m.dependencies().next().unwrap();
        assert_eq!((d.version.as_str(), d.enabled), ("12", true));
        let v2 = "apiVersion: v2\nname: app\nversion: 1.0.0\n";
        assert!(invalid(&format!("{v2}deprecated: \"true\"\n")).contains("expected a boolean"));
        assert!(
            invalid(&format!("{v2}dependencies:\n- {{name: a, enabled: 'true'}}\n")).contains("expected a boolean")
        );
        assert!(invalid(&format!("{v2}anything: [.nan]\n")).contains("json: unsupported value: NaN"));
    }

    #[test]
    fn keys_are_matched_and_merged_as_helm_reads_them() {
        let m = parse(
            "apiVersion: v2\nName: app\nVERSION: 1.0.0\ndependencies:\n- &a {name: a, version: 1.0.0, repository: oci://x}\n\
             - {<<: *a, name: b}\n",
        )
        .unwrap();
        let deps: Vec<_> =
            m.dependencies().map(|d| (d.name.as_str(), d.version.as_str(), d.repository.as_str())).collect();
        assert_eq!(deps, [("a", "1.0.0", "oci://x"), ("b", "1.0.0", "oci://x")]);
    }

    #[test]
    fn requirements_are_decoded_onto_chart_yaml_as_go_decodes() {
        let m = Metadata::from_yaml(
            b"apiVersion: v2\nname: app\nversion: 1.0.0\ndescription: kept\nannotations: {a: x}\n\
              dependencies:\n- {name: a, repository: r, condition: c}\n- {name: b, repository: r}\n",
            Some(b"description: ~\nannotations: {b: y}\ndependencies:\n- {name: z, version: 2.x}\n"),
            "Chart.yaml",
        )
        .unwrap();
        assert_eq!(m.description, "kept");
        assert_eq!(m.annotations.len(), 2);
        let d: Vec<_> = m.dependencies().collect();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].name.as_str(), d[0].version.as_str(), d[0].condition.as_str()), ("z", "2.x", "c"));
    }

    #[test]
    fn chart_yamls_are_decoded_in_turn_as_helm_decodes_them() {
        let first: &[u8] = b"apiVersion: v2\nname: app\nversion: 1.0.0\nkeywords: [a, b]\nannotations: {a: x}\n";
        let m = Metadata::from_yamls(&[first, b"keywords: [c]\nannotations: {b: y}\nhome: ~\n"], &[], "Chart.yaml")
            .unwrap();
        assert_eq!(
            (m.api_version.as_str(), m.name.as_str(), m.keywords.as_slice()),
            ("v2", "app", &["c".to_string()][..])
        );
        assert_eq!(m.annotations.len(), 2);
        // Helm reads an apiVersion emptied by a later one as v1, as it reads one left out.
        assert_eq!(Metadata::from_yamls(&[first, b"apiVersion: ''\n"], &[], "Chart.yaml").unwrap().api_version, "v1");
        let refused = Metadata::from_yamls(&[first, b"- a list\n"], &[], "Chart.yaml").unwrap_err().to_string();
        assert!(refused.contains("cannot load Chart.yaml: it is not a mapping"), "{refused}");
    }

    #[test]
    fn a_v1_chart_yaml_is_packaged_without_its_dependencies() {
        let chart_yaml = b"apiVersion: v1\nname: app\nversion: 1.0.0\ndependencies: [{name: a, repository: r}]\n";
        assert!(Metadata::lists_dependencies(chart_yaml));
        assert!(!Metadata::lists_dependencies(b"apiVersion: v1\nname: app\nversion: 1.0.0\ndependencies: []\n"));
        let m = Metadata::from_yaml(chart_yaml, None, "Chart.yaml").unwrap();
        let packaged = Metadata::from_yaml(&m.v1_chart_yaml(), None, "Chart.yaml").unwrap();
        assert_eq!(packaged, Metadata { dependencies: Vec::new(), ..m });
    }

    #[test]
    fn text_fields_are_cleaned_as_helm_cleans_them() {
        let m = parse("apiVersion: v2\nname: app\nversion: 1.0.0\ndescription: \"a\\tb\\u0007c\\u200bd\"\n").unwrap();
        assert_eq!(m.description, "a bcd");
    }
}
