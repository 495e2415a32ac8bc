//! YAML read the way Helm reads it (sigs.k8s.io/yaml over yaml.v2): a UTF-8 byte-order mark
//! is dropped, a repeated key takes the last value, and scalar keys become strings, so a
//! document turns into JSON that the chart types then read.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The first document of a YAML file (the rest are ignored, as yaml.v2 does); an empty
/// file is null.
pub fn first_document(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match yaml_serde::Deserializer::from_slice(bytes).next() {
        Some(document) => Tree::deserialize(document).map(|t| t.0).map_err(|e| e.to_string()),
        None => Ok(Value::Null),
    }
}

/// Every document of a values file, each a mapping (or empty), merged in order as Helm's
/// `LoadValues` merges them.
pub fn values(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut merged = Map::new();
    for document in yaml_serde::Deserializer::from_slice(bytes) {
        match Tree::deserialize(document).map_err(|e| e.to_string())?.0 {
            Value::Null => {}
            Value::Object(map) => merge(&mut merged, map),
            other => return Err(format!("a document is {}, not a mapping", kind(&other))),
        }
    }
    Ok(merged)
}

/// Merges `b` into `a`: mappings merge key by key, anything else is replaced.
fn merge(a: &mut Map<String, Value>, b: Map<String, Value>) {
    for (key, value) in b {
        match (a.get_mut(&key), value) {
            (Some(Value::Object(into)), Value::Object(from)) => merge(into, from),
            (_, value) => {
                a.insert(key, value);
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A YAML node as JSON, read with Helm's rules for keys and repeats.
struct Tree(Value);

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(TreeVisitor).map(Tree)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("YAML")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no infinities or NaN; YAML's `.inf` and `.nan` stay as their text.
        Ok(Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Tree::deserialize(d).map(|t| t.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Tree(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((Tree(key), Tree(value))) = map.next_entry()? {
            let key = match key {
                Value::String(s) => s,
                Value::Null => "null".to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => return Err(de::Error::custom(format!("a mapping key is {}, not a scalar", kind(&other)))),
            };
            // A repeated key replaces the earlier value, as in yaml.v2.
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_like_helm() {
        let doc =
            first_document(b"\xEF\xBB\xBFname: a\nname: b\n1: one\ntrue: yes\nlist: [1, 2.5]\n---\nname: c\n").unwrap();
        assert_eq!(doc, json!({"name": "b", "1": "one", "true": "yes", "list": [1, 2.5]}));
        assert_eq!(first_document(b"").unwrap(), Value::Null);
        assert!(first_document(b"a: [\n").is_err());
        assert!(first_document(b"? [a, b]\n: c\n").is_err());
    }

    #[test]
    fn values_documents_merge_and_must_be_mappings() {
        let merged = values(b"a: {x: 1, y: 2}\nb: 1\n---\n---\na: {y: 3}\n").unwrap();
        assert_eq!(Value::Object(merged), json!({"a": {"x": 1, "y": 3}, "b": 1}));
        assert!(values(b"- a\n- b\n").unwrap_err().contains("a list"));
        assert!(values(b"a: b: c\n").is_err());
        assert!(values(b"# only a comment\n").unwrap().is_empty());
    }
}
