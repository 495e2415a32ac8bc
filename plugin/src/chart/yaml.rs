//! YAML read the way Helm reads it: sigs.k8s.io/yaml over go-yaml v2. go-yaml v2 reads YAML
//! 1.1 (its resolve.go: `yes`/`on` are booleans, `010` octal, `1_000` a thousand) and applies
//! merge keys (`<<: *anchor`); sigs.k8s.io/yaml then turns the result into JSON, writing a
//! number or boolean as text where the Go field it is bound for is a string, and failing on
//! NaN or an infinity anywhere else. A UTF-8 byte-order mark is dropped, a repeated key takes
//! the last value, and scalar keys become strings.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;
use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The shape of the Go value a document is read into, as far as sigs.k8s.io/yaml and Go's
/// JSON decoding care: which values are strings, and which mappings are structs (whose keys
/// match their fields' names case-insensitively, as Go's JSON does).
pub enum Target {
    /// `interface{}`, a boolean or anything else that takes values as they are.
    Any,
    /// A Go string.
    Text,
    List(&'static Target),
    Map(&'static Target),
    /// A struct: its fields' JSON names and shapes.
    Struct(&'static [(&'static str, Target)]),
}

impl Target {
    /// The field a key of this struct fills (its exact name, else one equal but for case)
    /// and that field's shape; keys of anything else keep their name.
    pub fn field<'a>(&'a self, key: &str) -> (Option<&'static str>, &'a Target) {
        match self {
            Target::Struct(fields) => {
                let found = fields
                    .iter()
                    .find(|(name, _)| *name == key)
                    .or_else(|| fields.iter().find(|(name, _)| equal_fold(name, key)));
                found.map_or((None, &Target::Any), |(name, target)| (Some(*name), target))
            }
            Target::Map(target) => (None, target),
            _ => (None, &Target::Any),
        }
    }
}

/// Go's `bytes.EqualFold` for a field name (ASCII) against a key: ASCII case aside, only
/// the Kelvin sign folds to `k` and the long `ſ` to `s`.
fn equal_fold(name: &str, key: &str) -> bool {
    let fold = |c: char| match c {
        '\u{212A}' => 'k',
        'ſ' => 's',
        c => c.to_ascii_lowercase(),
    };
    name.chars().count() == key.chars().count() && name.chars().zip(key.chars()).all(|(a, b)| fold(a) == fold(b))
}

/// The first document of a YAML file (the rest are ignored, as yaml.v2 does), read for
/// `target`; an empty file is null. The file may be UTF-16 (see `utf8`).
pub fn first_document(bytes: &[u8], target: &Target) -> Result<Value, String> {
    let bytes = utf8(bytes)?;
    let bytes = super::escapes::as_go_yaml(&bytes)?;
    let bytes = bytes.as_ref();
    super::nesting::check(bytes, &mut 0)?;
    yaml_version(bytes)?;
    first_of(bytes, target)
}

/// go-yaml v2 reads YAML 1.1 alone: a `%YAML` directive naming another version (1.2, say)
/// is refused, where yaml_serde would read on.
fn yaml_version(bytes: &[u8]) -> Result<(), String> {
    let lines = bytes.split(|&b| b == b'\n').map(|line| String::from_utf8_lossy(line).trim().to_string());
    for line in lines.filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let Some(directive) = line.strip_prefix('%') else { return Ok(()) };
        let mut words = directive.split_whitespace();
        if words.next() == Some("YAML")
            && words.next().is_none_or(|v| v.split_once('.').is_none_or(|v| v != ("1", "1")))
        {
            return Err("found incompatible YAML document".to_string());
        }
    }
    Ok(())
}

/// The first document of `bytes`, read no further: what follows it (past a `...` line) is
/// not looked at, as go-yaml parses no further.
fn first_of(bytes: &[u8], target: &Target) -> Result<Value, String> {
    super::aliasing::check(bytes)?;
    match yaml_serde::Deserializer::from_slice(bytes).next() {
        Some(document) => to_json(NodeSeed(bytes).deserialize(document).map_err(|e| e.to_string())?, target),
        None => Ok(Value::Null),
    }
}

/// A YAML file's text as UTF-8, without a byte-order mark: go-yaml's reader (libyaml's)
/// also reads UTF-16 that begins with its byte-order mark, as PowerShell 5.1 writes files.
fn utf8(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let decode = |rest: &[u8], unit: fn([u8; 2]) -> u16| {
        if !rest.len().is_multiple_of(2) {
            return Err("incomplete UTF-16 character".to_string());
        }
        let units = rest.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
        let text: String = char::decode_utf16(units)
            .collect::<Result<_, _>>()
            .map_err(|_| "invalid UTF-16 (an unpaired surrogate)".to_string())?;
        Ok(text.into_bytes().into())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => decode(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => decode(rest, u16::from_be_bytes),
        _ => Ok(bytes.strip_prefix(BOM).unwrap_or(bytes).into()),
    }
}

/// Every document of a values file, each a mapping (or empty), merged in order as Helm's
/// `LoadValues` merges them.
pub fn values(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    if let [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] = bytes {
        return utf16_values(bytes);
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    // Each part is what go-yaml reads, so each is read as it reads it; the guard's budget
    // is the whole file's.
    let (mut merged, mut work) = (Map::new(), 0);
    for document in documents(bytes)? {
        let document = super::escapes::as_go_yaml(document)?;
        super::nesting::check(&document, &mut work)?;
        merge(&mut merged, mapping(first_of(&document, &Target::Any)?)?);
    }
    Ok(merged)
}

/// A values document as a mapping: an empty one has no values, anything else is refused.
fn mapping(document: Value) -> Result<Map<String, Value>, String> {
    match document {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(format!("a document is {}, not a mapping", kind(&other))),
    }
}

/// A UTF-16 values file (it begins with its byte-order mark) as Helm 4 reads one: its line
/// reader cuts the bytes at each 0x0A and puts one back after every line, the last too, so
/// a file that does not end in one gains one (and little-endian, whose newline is 0A 00,
/// always ends in a lone byte, which go-yaml refuses); no `---` line can match in UTF-16,
/// so go-yaml gets the whole file and reads its first document.
fn utf16_values(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut lines = bytes.to_vec();
    if lines.last() != Some(&b'\n') {
        lines.push(b'\n');
    }
    mapping(first_document(&lines, &Target::Any)?)
}

/// A values file cut into documents as Helm 4 cuts it (apimachinery's `YAMLReader`), by
/// lines alone: at each line that begins with `---`, after which only a comment may
/// follow. A directive (`%YAML`) so ends up a document of its own, which go-yaml refuses;
/// a `...` line is no cut, and ends what go-yaml reads of its part.
fn documents(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut parts = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| at + i + 1);
        if let Some(after) = bytes[at..end].strip_prefix(b"---") {
            let after = String::from_utf8_lossy(after);
            let after = after.trim();
            if !after.is_empty() && !after.starts_with('#') {
                return Err(format!("error reading yaml document: invalid Yaml document separator: {after}"));
            }
            parts.extend((at > start).then(|| &bytes[start..at]));
            start = end;
        }
        at = end;
    }
    parts.extend((bytes.len() > start).then(|| &bytes[start..]));
    Ok(parts)
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

/// Go's JSON decoding onto what is decoded already (a second key that fills the same field;
/// requirements.yaml read into the metadata Chart.yaml filled): the fields it names are
/// replaced, except that null leaves text and booleans as they were (and clears lists and
/// maps), a map gains its keys, and a list of structs is decoded item by item onto the items
/// already there.
pub fn decode_onto(into: &mut Value, over: Value, target: &Target) {
    match (into, over, target) {
        (into, Value::Null, _) => {
            if into.is_array() || into.is_object() {
                *into = Value::Null;
            }
        }
        (Value::Object(into), Value::Object(over), Target::Struct(_)) => {
            for (key, value) in over {
                let (_, field) = target.field(&key);
                decode_onto(into.entry(key).or_insert(Value::Null), value, field);
            }
        }
        (Value::Object(into), Value::Object(over), Target::Map(_)) => into.extend(over),
        (Value::Array(into), Value::Array(over), Target::List(item @ Target::Struct(_))) => {
            into.truncate(over.len());
            for (i, value) in over.into_iter().enumerate() {
                match into.get_mut(i) {
                    Some(existing) => decode_onto(existing, value, item),
                    None => into.push(value),
                }
            }
        }
        (into, over, _) => *into = over,
    }
}

/// A YAML node as go-yaml v2 decodes it into `interface{}`.
#[derive(Debug, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(String),
    List(Vec<Node>),
    Map(BTreeMap<String, Node>),
    /// A plain `<<`: a merge as a key, the text `<<` anywhere else.
    Merge,
}

/// The node as JSON bound for `target`, converted as sigs.k8s.io/yaml converts it.
fn to_json(node: Node, target: &Target) -> Result<Value, String> {
    Ok(match (node, target) {
        (Node::Map(map), _) => {
            let mut out = Map::new();
            // In key order, as Go's JSON sees them: keys filling the same field (`Maintainers`
            // and `maintainers`) are decoded onto it in turn.
            for (key, value) in map {
                let (field, target) = target.field(&key);
                let value = to_json(value, target)?;
                match field {
                    Some(name) => decode_onto(out.entry(name).or_insert(Value::Null), value, target),
                    None => drop(out.insert(key, value)),
                }
            }
            Value::Object(out)
        }
        (Node::List(items), target) => {
            let target = if let Target::List(target) = target { target } else { &Target::Any };
            Value::Array(items.into_iter().map(|item| to_json(item, target)).collect::<Result<_, _>>()?)
        }
        (Node::Null, _) => Value::Null,
        (Node::Text(text), _) => Value::String(text),
        (Node::Merge, _) => Value::String("<<".into()),
        (scalar, Target::Text) => Value::String(text(&scalar)),
        (Node::Bool(b), _) => Value::Bool(b),
        (Node::Int(i), _) => Value::Number(i.into()),
        (Node::Uint(u), _) => Value::Number(u.into()),
        (Node::Float(f), _) => {
            Value::Number(Number::from_f64(f).ok_or_else(|| format!("json: unsupported value: {}", go_float32(f)))?)
        }
    })
}

/// A scalar as sigs.k8s.io/yaml writes it for a string field.
fn text(scalar: &Node) -> String {
    match scalar {
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Uint(u) => u.to_string(),
        Node::Float(f) => go_float32(*f),
        _ => unreachable!("only scalars are written as text"),
    }
}

/// Go's `FormatFloat(f, 'g', -1, 32)`: `NaN`, `+Inf`, `-Inf`, else the shortest digits of
/// the float32, laid out as `%e` for exponents below -4 or from 6 up, as `%f` otherwise.
fn go_float32(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} has a decimal exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let digit = |i: i32| if i >= 0 && (i as usize) < digits.len() { digits[i as usize] as char } else { '0' };
    if !(-4..6).contains(&exp) {
        let rest: String = (1..digits.len() as i32).map(digit).collect();
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{point}{rest}e{esign}{:02}", digit(0), exp.abs());
    }
    let point = exp + 1;
    let whole: String = if point > 0 { (0..point).map(digit).collect() } else { "0".into() };
    let decimals = (digits.len() as i32 - point).max(0);
    let fraction: String = (point..point + decimals).map(digit).collect();
    if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") }
}

/// A plain scalar that yaml_serde (YAML 1.2) left as text, as go-yaml v2 resolves it.
fn resolve(plain: &str) -> Node {
    match plain {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Node::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Node::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Node::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        "<<" => return Node::Merge,
        _ => {}
    }
    match plain.as_bytes()[0] {
        b'.' => float(plain).map_or_else(|| Node::Text(plain.into()), Node::Float),
        b'0'..=b'9' | b'+' | b'-' => number(plain).unwrap_or_else(|| Node::Text(plain.into())),
        _ => Node::Text(plain.into()),
    }
}

/// resolve.go for what starts with a digit or sign: underscores dropped, then Go's
/// `ParseInt(s, 0, 64)` (`0x`, `0o`, `0b`, a leading `0` for octal), `ParseUint`, a float
/// of YAML's form, or binary after `0b`/`-0b` (which may carry a sign of its own).
fn number(plain: &str) -> Option<Node> {
    let plain = plain.replace('_', "");
    if let Some(i) = go_int(&plain) {
        return Some(Node::Int(i));
    }
    if let Some(u) = go_uint(&plain) {
        return Some(Node::Uint(u));
    }
    if yaml_float(&plain)
        && let Some(f) = float(&plain)
    {
        return Some(Node::Float(f));
    }
    if let Some(binary) = plain.strip_prefix("0b") {
        return i64::from_str_radix(binary, 2)
            .map(Node::Int)
            .or_else(|_| u64::from_str_radix(binary, 2).map(Node::Uint))
            .ok();
    }
    let binary = plain.strip_prefix("-0b")?;
    i64::from_str_radix(&format!("-{binary}"), 2).map(Node::Int).ok()
}

/// Go's `ParseInt(s, 0, 64)`.
fn go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = go_uint(digits)? as i128;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Go's `ParseUint(s, 0, 64)`: no sign; `0x`, `0o`, `0b` (either case) or a leading `0`
/// choose the base.
fn go_uint(s: &str) -> Option<u64> {
    let prefixed = |p: &u8| match p.to_ascii_lowercase() {
        b'b' => Some(2),
        b'o' => Some(8),
        b'x' => Some(16),
        _ => None,
    };
    let (radix, digits) = match s.as_bytes() {
        [] => return None,
        [b'0', p, _, ..] if prefixed(p).is_some() => (prefixed(p)?, &s[2..]),
        [b'0'] => return Some(0),
        [b'0', ..] => (8, &s[1..]),
        _ => (10, s),
    };
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// resolve.go's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (number, exponent) = s.split_once(['e', 'E']).unwrap_or((s, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    let number = match number.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(number),
    };
    number && digits(exponent)
}

/// Go's `ParseFloat(s, 64)` for YAML's decimal forms: out of range is no float.
fn float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Reads a node; it holds the document's bytes to tell a plain scalar from a quoted one,
/// which YAML 1.1 resolves differently and yaml_serde does not say.
#[derive(Clone, Copy)]
struct NodeSeed<'de>(&'de [u8]);

impl NodeSeed<'_> {
    /// Whether a scalar yaml_serde lends from the document was quoted: it lends a quoted
    /// scalar's text from just inside its quotes, and a plain scalar never follows a quote.
    fn quoted(&self, scalar: &str) -> bool {
        let offset = (scalar.as_ptr() as usize).wrapping_sub(self.0.as_ptr() as usize);
        offset > 0 && offset <= self.0.len() && matches!(self.0[offset - 1], b'"' | b'\'')
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'de> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'de> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("YAML")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Uint(v), Node::Int))
    }

    /// Beyond 64 bits go-yaml v2 reads a decimal as a float.
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Float(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    /// A scalar lent from the document: plain ones are resolved as YAML 1.1.
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node, E> {
        Ok(if self.quoted(v) { Node::Text(v.into()) } else { resolve(v) })
    }

    /// A scalar not lent is quoted with escapes, a block, or plain over several lines
    /// (which holds white space, so resolves to no number or boolean): text either way.
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    /// A value with a local tag (`!Ref`, `!Sub`: CloudFormation's and other tools' own).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        let (_tag, value): (de::IgnoredAny, _) = data.variant()?;
        value.newtype_variant_seed(Tagged(self))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((key, value)) = map.next_entry_seed(self, self)? {
            match key {
                // go-yaml v2 merges where the key stands: later keys override what it
                // brings, and it overrides earlier ones.
                Node::Merge => merge_key(&mut out, value).map_err(de::Error::custom)?,
                key => {
                    // A repeated key replaces the earlier value, as in yaml.v2.
                    out.insert(key_text(key).map_err(de::Error::custom)?, value);
                }
            }
        }
        Ok(Node::Map(out))
    }
}

/// A locally tagged value as go-yaml v2 reads a tag it does not know: a collection as it
/// is, a scalar as its text, unresolved (`!foo 10` is the text `10`). yaml_serde has read
/// a plain scalar as YAML 1.2 by then, so a number comes back as its shortest spelling.
#[derive(Clone, Copy)]
struct Tagged<'de>(NodeSeed<'de>);

impl<'de> DeserializeSeed<'de> for Tagged<'de> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tagged<'de> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("YAML")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.to_string()))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Text(String::new()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node, A::Error> {
        self.0.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Node, A::Error> {
        self.0.visit_map(map)
    }
}

/// go-yaml v2's merge: a mapping's entries, or those of a list of mappings, earlier
/// mappings taking precedence.
fn merge_key(into: &mut BTreeMap<String, Node>, value: Node) -> Result<(), String> {
    const WANT_MAP: &str = "map merge requires map or sequence of maps as the value";
    let maps = match value {
        Node::Map(map) => vec![map],
        Node::List(items) => items
            .into_iter()
            .map(|i| if let Node::Map(m) = i { Ok(m) } else { Err(WANT_MAP) })
            .collect::<Result<_, _>>()?,
        _ => return Err(WANT_MAP.into()),
    };
    for map in maps.into_iter().rev() {
        into.extend(map);
    }
    Ok(())
}

/// A mapping key as sigs.k8s.io/yaml writes it; it knows no null or uint64 keys.
fn key_text(key: Node) -> Result<String, String> {
    match key {
        Node::Text(s) => Ok(s),
        Node::Merge => Ok("<<".into()),
        Node::Bool(_) | Node::Int(_) => Ok(text(&key)),
        Node::Float(_) => {
            let text = text(&key);
            Ok(match text.as_str() {
                "+Inf" => ".inf".into(),
                "-Inf" => "-.inf".into(),
                "NaN" => ".nan".into(),
                _ => text,
            })
        }
        Node::Null => Err("unsupported map key of type: <nil>".into()),
        Node::Uint(u) => Err(format!("unsupported map key of type: uint64, key: {u}")),
        Node::List(_) | Node::Map(_) => Err("invalid map key: a mapping key is not a scalar".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn any(yaml: &str) -> Value {
        first_document(yaml.as_bytes(), &Target::Any).unwrap()
    }

    const TEXT: Target = Target::Map(&Target::Text);

    fn text_of(yaml: &str) -> Value {
        first_document(format!("k: {yaml}").as_bytes(), &TEXT).unwrap()["k"].clone()
    }

    #[test]
    fn local_tags_are_read_past_as_go_yaml_v2_reads_them() {
        let doc = any("a: !Ref MyBucket\nb: !Sub '${X}-y'\nc: !foo {x: 1}\nd: !If [c, !Ref e, 2]\nnum: !foo 10\n");
        assert_eq!(doc, json!({"a": "MyBucket", "b": "${X}-y", "c": {"x": 1}, "d": ["c", "e", 2], "num": "10"}));
        assert_eq!(text_of("!foo bar"), json!("bar"));
        assert_eq!(values(b"cfn:\n  Bucket: !Ref MyBucket\n").unwrap()["cfn"], json!({"Bucket": "MyBucket"}));
    }

    #[test]
    fn utf16_with_its_byte_order_mark_is_read_as_go_yaml_reads_it() {
        let utf16 = |text: &str, be: bool| -> Vec<u8> {
            let units = "\u{FEFF}".encode_utf16().chain(text.encode_utf16());
            units.flat_map(|u| if be { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
        };
        for be in [false, true] {
            let doc = first_document(&utf16("name: café\r\nversion: 1.0.0\r\n", be), &Target::Any).unwrap();
            assert_eq!(doc, json!({"name": "café", "version": "1.0.0"}));
        }
        let odd = [utf16("a: 1", false), vec![0x41]].concat();
        assert_eq!(first_document(&odd, &Target::Any).unwrap_err(), "incomplete UTF-16 character");
        let unpaired = [vec![0xFF, 0xFE], 0xD800u16.to_le_bytes().to_vec()].concat();
        assert!(first_document(&unpaired, &Target::Any).unwrap_err().contains("unpaired surrogate"));
        // A values file, as Helm 4.3 reads one: big-endian ending in a newline only.
        assert_eq!(
            values(&utf16("a: 1\nb:\n  c: ü\n---\nd: 2\n", true)).unwrap(),
            json!({"a": 1, "b": {"c": "ü"}}).as_object().unwrap().clone()
        );
        assert_eq!(values(&utf16("a: 1", true)).unwrap_err(), "incomplete UTF-16 character");
        assert_eq!(values(&utf16("a: 1\n", false)).unwrap_err(), "incomplete UTF-16 character");
        assert_eq!(values(&utf16("- 1\n", true)).unwrap_err(), "a document is a list, not a mapping");
    }

    #[test]
    fn reads_like_helm() {
        let doc = any("\u{FEFF}name: a\nname: b\n1: one\ntrue: yes\nlist: [1, 2.5]\n---\nname: c\n");
        assert_eq!(doc, json!({"name": "b", "1": "one", "true": true, "list": [1, 2.5]}));
        assert_eq!(first_document(b"", &Target::Any).unwrap(), Value::Null);
        assert!(first_document(b"a: [\n", &Target::Any).is_err());
        assert!(first_document(b"? [a, b]\n: c\n", &Target::Any).is_err());
        assert!(first_document(b"~: c\n", &Target::Any).unwrap_err().contains("unsupported map key"));
    }

    #[test]
    fn scalars_resolve_as_yaml_1_1() {
        for (plain, resolved) in [
            ("010", json!(8)),
            ("0x1F", json!(31)),
            ("0X1f", json!(31)),
            ("0o17", json!(15)),
            ("0b10", json!(2)),
            ("-0b11", json!(-3)),
            ("1_000", json!(1000)),
            ("+12", json!(12)),
            ("08", json!(8.0)),
            ("1.5e3", json!(1500.0)),
            (".5", json!(0.5)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("'yes'", json!("yes")),
            ("\"010\"", json!("010")),
            ("0x", json!("0x")),
            ("1e400", json!("1e400")),
            ("inf", json!("inf")),
            ("2024-01-01", json!("2024-01-01")),
            ("1.2.3", json!("1.2.3")),
        ] {
            assert_eq!(any(&format!("k: {plain}"))["k"], resolved, "{plain}");
        }
    }

    #[test]
    fn numbers_bound_for_strings_become_go_text() {
        for (plain, text) in [
            ("010", "8"),
            ("1.10", "1.1"),
            ("1e6", "1e+06"),
            ("1234567.0", "1.234567e+06"),
            ("100000.0", "100000"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("3.14159265358979", "3.1415927"),
            ("-0.0", "-0"),
            ("1e39", "+Inf"),
            (".inf", "+Inf"),
            ("-.inf", "-Inf"),
            (".nan", "NaN"),
            ("on", "true"),
            ("~", ""),
        ] {
            let want = if plain == "~" { Value::Null } else { json!(text) };
            assert_eq!(text_of(plain), want, "{plain}");
        }
        let nan = first_document(b"a: .nan\n", &Target::Any).unwrap_err();
        assert_eq!(nan, "json: unsupported value: NaN");
        assert!(first_document(b"a: [-.inf]\n", &TEXT).unwrap_err().contains("-Inf"));
    }

    #[test]
    fn struct_fields_match_keys_whatever_their_case() {
        static FIELDS: Target = Target::Struct(&[("appVersion", Target::Text), ("name", Target::Text)]);
        let doc = first_document(b"APPVERSION: 1.0\nName: a\nname: b\nother: 2\n", &FIELDS).unwrap();
        assert_eq!(doc, json!({"appVersion": "1", "name": "b", "other": 2}));
    }

    #[test]
    fn merge_keys_apply_as_in_go_yaml_v2() {
        let doc = any("base: &b {a: 1, b: 1}\nother: &o {b: 2, c: 2}\n\
                       after: {<<: *b, a: 3}\nbefore: {a: 3, <<: *b}\nlist: {<<: [*o, *b]}\nquoted: {'<<': 1}\n");
        assert_eq!(doc["after"], json!({"a": 3, "b": 1}));
        assert_eq!(doc["before"], json!({"a": 1, "b": 1}));
        assert_eq!(doc["list"], json!({"a": 1, "b": 2, "c": 2}));
        assert_eq!(doc["quoted"], json!({"<<": 1}));
        assert!(first_document(b"a: {<<: 1}\n", &Target::Any).unwrap_err().contains("map merge requires"));
        assert!(first_document(b"a: {<<: [1]}\n", &Target::Any).unwrap_err().contains("map merge requires"));
    }

    #[test]
    fn values_documents_merge_and_must_be_mappings() {
        let merged = values(b"a: {p: 1, q: 2}\nb: 1\n---\n---\na: {q: 3}\ny: n\n").unwrap();
        assert_eq!(Value::Object(merged), json!({"a": {"p": 1, "q": 3}, "b": 1, "true": false}));
        assert!(values(b"- a\n- b\n").unwrap_err().contains("a list"));
        assert!(values(b"a: b: c\n").is_err());
        assert!(values(b"# only a comment\n").unwrap().is_empty());
        assert!(values(b"a: .nan\n").unwrap_err().contains("unsupported value: NaN"));
        // Each document's escapes are read as go-yaml reads them.
        let escaped = values(b"a: 1\n---\nb: \"it\\'s\"\n...\nnot read: \"\\/\"\n").unwrap();
        assert_eq!(escaped["b"], json!("it's"));
        assert!(values(b"a: 1\n---\nb: \"\\/\"\n").unwrap_err().contains("unknown escape"));
    }

    #[test]
    fn only_yaml_1_1_is_read() {
        let read = |text: &str| first_document(text.as_bytes(), &Target::Any);
        assert_eq!(read("# c\n%YAML 1.1\n%TAG !e! tag:e.com,2000:\n---\na: 1\n"), Ok(json!({"a": 1})));
        for version in ["1.2", "2.0"] {
            let text = format!("%TAG !e! tag:e.com,2000:\n%YAML {version}\n---\na: 1\n");
            assert_eq!(read(&text), Err("found incompatible YAML document".to_string()));
        }
        // What follows the document's start is no directive.
        assert_eq!(read("---\na: |\n  %YAML 1.2\n"), Ok(json!({"a": "%YAML 1.2\n"})));
    }

    #[test]
    fn values_documents_are_cut_at_separator_lines_as_in_helm_4() {
        let read = |text: &str| values(text.as_bytes()).map(Value::Object);
        let separator =
            |rest: &str| Err(format!("error reading yaml document: invalid Yaml document separator: {rest}"));
        // Only a comment may follow a separator.
        assert_eq!(read("a: 1\n--- # next\nb: 2\n"), Ok(json!({"a": 1, "b": 2})));
        assert_eq!(read("a: 1\n--- {b: 2}\n"), separator("{b: 2}"));
        assert_eq!(read("a: 1\n--- !!map\nb: 2\n"), separator("!!map"));
        assert_eq!(read("a: 1\n----\nb: 2\n"), separator("-"));
        // A `...` line ends what is read of its part, whatever follows it there.
        assert_eq!(read("a: 1\n...\nb: 2\n"), Ok(json!({"a": 1})));
        assert_eq!(read("a: 1\n...\n]]]: [\n---\nb: 2\n"), Ok(json!({"a": 1, "b": 2})));
        // A directive is a part of its own, and no document.
        assert!(read("%YAML 1.1\n---\na: 1\n").unwrap_err().contains("did not find expected <document start>"));
        // Lines that are no separator: indented, or in a block scalar.
        assert_eq!(read("a: |\n  x\n  ---\nb: 2\r\n---\r\nc: 3\r\n"), Ok(json!({"a": "x\n---\n", "b": 2, "c": 3})));
    }
}
