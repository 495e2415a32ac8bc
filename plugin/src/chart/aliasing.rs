//! A guard run before YAML is decoded: how much of it aliases would make.
//!
//! yaml_serde replays an alias's node wherever the alias stands, and a merge key
//! (`<<: *base`) copies a mapping in, so a few kilobytes (a list of a thousand items, aliased
//! twenty thousand times) decode to millions of nodes: minutes of work, or all the
//! component's memory. go-yaml, which Helm uses, counts every node it decodes and those it
//! decodes through an alias, and refuses a document once the second are too large a share
//! of the first. This counts the same from the parser's events, decoding nothing: an alias
//! counts as the whole of its anchor's node, as that node counted where it stood (one node
//! short for an anchored list of mappings to merge, which go-yaml counts once more when an
//! alias brings it elsewhere).

use super::libyaml::{Event, Events};
use std::collections::HashMap;

/// Up to this many nodes, go-yaml lets 99% come through aliases; from `MANY` on, 10%; in
/// between, a share falling evenly from the one to the other.
const FEW: u64 = 400_000;
const MANY: u64 = 4_000_000;

/// go-yaml's `allowedAliasRatio`.
fn allowed_share(decoded: u64) -> f64 {
    match decoded {
        ..=FEW => 0.99,
        MANY.. => 0.10,
        _ => 0.99 - 0.89 * ((decoded - FEW) as f64 / (MANY - FEW) as f64),
    }
}

/// go-yaml's running counts, checked as it checks them at every node.
struct Counts {
    decoded: u64,
    aliased: u64,
}

impl Counts {
    /// Counts `nodes` more decoded, `aliased` of them through an alias. Within one alias
    /// the share of aliased nodes only grows, and the share allowed only falls, so a check
    /// once the alias is counted whole finds what go-yaml's check at each of its nodes would.
    fn add(&mut self, nodes: u64, aliased: u64) -> Result<(), String> {
        self.decoded = self.decoded.saturating_add(nodes);
        self.aliased = self.aliased.saturating_add(aliased);
        let share = self.aliased as f64 / self.decoded as f64;
        if self.aliased > 100 && self.decoded > 1000 && share > allowed_share(self.decoded) {
            return Err("document contains excessive aliasing".to_string());
        }
        Ok(())
    }
}

/// An open collection.
struct Open {
    mapping: bool,
    /// The decoded count before it: what it counts, once closed, is the difference.
    before: u64,
    anchor: Option<Vec<u8>>,
    /// In a mapping: whether a key comes next, and whether the value that comes next
    /// follows a merge key.
    key_next: bool,
    merge_next: bool,
}

/// Refuses the first document of `text` if decoding it would go through aliases more than
/// go-yaml allows. YAML the parser cannot read passes: the decoding says why.
pub fn check(text: &[u8]) -> Result<(), String> {
    if !may_alias(text) {
        return Ok(());
    }
    let Some(mut events) = Events::new(text) else { return Ok(()) };
    // go-yaml counts the document itself as a node.
    let mut counts = Counts { decoded: 1, aliased: 0 };
    let mut sizes: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut open: Vec<Open> = Vec::new();
    while let Some(event) = events.next() {
        let parent = open.last();
        let as_key = parent.is_some_and(|p| p.mapping && p.key_next);
        let as_merged = parent.is_some_and(|p| p.mapping && !p.key_next && p.merge_next);
        // Whether the node just ended was a merge key.
        let ended = match event {
            Event::DocumentEnd => break,
            Event::Other => continue,
            // go-yaml decodes no merge key.
            Event::Scalar { anchor, merge } => {
                let merge_key = as_key && merge;
                if !merge_key {
                    counts.add(1, 0)?;
                }
                if let Some(anchor) = anchor {
                    sizes.insert(anchor, 1);
                }
                Some(merge_key)
            }
            Event::Alias(anchor) => {
                let size = sizes.get(&anchor).copied().unwrap_or(0);
                counts.add(size.saturating_add(1), size)?;
                Some(false)
            }
            Event::SequenceStart(anchor) => open_collection(&mut open, &mut counts, anchor, false, as_merged)?,
            Event::MappingStart(anchor) => open_collection(&mut open, &mut counts, anchor, true, as_merged)?,
            Event::CollectionEnd => {
                let closed = open.pop().ok_or("a collection ends that never began")?;
                if let Some(anchor) = closed.anchor {
                    sizes.insert(anchor, counts.decoded - closed.before);
                }
                Some(false)
            }
        };
        if let (Some(merge_key), Some(parent)) = (ended, open.last_mut())
            && parent.mapping
        {
            parent.merge_next = parent.key_next && merge_key;
            parent.key_next = !parent.key_next;
        }
    }
    Ok(())
}

/// Whether the text may hold an alias: a `*` followed by a name, and not straight after a
/// letter or digit (which makes it part of a plain scalar or a tag; anything else may begin
/// a node: a space, an indicator such as `:` or `?` in a flow mapping, a quote that ends a
/// key, a line break of Unicode's). Most charts' YAML has none (a `*` in prose or in `x*y`
/// is not one), and is spared the parse.
fn may_alias(text: &[u8]) -> bool {
    let names = |b: Option<&u8>| b.is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b',' | b']' | b'}'));
    text.iter()
        .enumerate()
        .any(|(i, &b)| b == b'*' && (i == 0 || !text[i - 1].is_ascii_alphanumeric()) && names(text.get(i + 1)))
}

/// Counts a collection that begins (go-yaml decodes a list of mappings to merge only for its
/// mappings); it ends nothing yet.
fn open_collection(
    open: &mut Vec<Open>,
    counts: &mut Counts,
    anchor: Option<Vec<u8>>,
    mapping: bool,
    merged: bool,
) -> Result<Option<bool>, String> {
    let before = counts.decoded;
    if mapping || !merged {
        counts.add(1, 0)?;
    }
    open.push(Open { mapping, before, anchor, key_next: true, merge_next: false });
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_bomb_is_refused() {
        let items = "- 1\n".repeat(1_000);
        let bomb = format!("a: &a\n{items}b:\n{}", "- *a\n".repeat(20_000));
        assert_eq!(check(bomb.as_bytes()).unwrap_err(), "document contains excessive aliasing");
        let laughs = (1..9).fold("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n".to_string(), |doc, n| {
            format!("{doc}l{n}: &l{n} [{}]\n", vec![format!("*l{}", n - 1); 10].join(", "))
        });
        assert!(check(laughs.as_bytes()).is_err());
    }

    #[test]
    fn a_merge_bomb_is_refused() {
        let keys: String = (0..10_000).map(|i| format!("  k{i}: {i}\n")).collect();
        let bomb = format!("a: &a\n{keys}b:\n{}", "  - <<: *a\n".repeat(10_000));
        assert_eq!(check(bomb.as_bytes()).unwrap_err(), "document contains excessive aliasing");
        // Aliases straight after a flow mapping's quoted key: no space before the `*`.
        let items = "1, ".repeat(1_000);
        let flow: String = (0..20_000).map(|i| format!("\"k{i}\":*a,")).collect();
        let bomb = format!("a: &a [{items}]\nb: {{{flow}}}\n");
        assert_eq!(check(bomb.as_bytes()).unwrap_err(), "document contains excessive aliasing");
    }

    #[test]
    fn anchors_as_charts_use_them_pass() {
        let defaults: String = (0..40).map(|i| format!("  k{i}: v{i}\n")).collect();
        let services: String =
            (0..30).map(|i| format!("s{i}:\n  <<: *defaults\n  name: s{i}\n  port: *port\n")).collect();
        let values = format!("defaults: &defaults\n{defaults}port: &port 8080\n{services}");
        assert!(check(values.as_bytes()).is_ok());
        assert!(check(b"a: '*not an alias'\n").is_ok());
        for prose in [&b"# a * b\nb: x*y\nc: 2*3\n"[..], b"a: [ * ]\n"] {
            assert!(!may_alias(prose), "{}", String::from_utf8_lossy(prose));
        }
        let flow_keys = ["a: {\"k\":*b}\n", "a: {? *b : x}\n", "a: {?*b : x}\n", "a: x\u{2028}*b\n"];
        for alias in [&b"*a\n"[..], b"a: *b\n", b"a: [x,*b]\n", b"a: {k: *b}\n", b"- *b\n"]
            .into_iter()
            .chain(flow_keys.iter().map(|k| k.as_bytes()))
        {
            assert!(may_alias(alias), "{}", String::from_utf8_lossy(alias));
        }
        assert!(check(b"a: *undefined\n").is_ok(), "the decoding reports it");
    }

    #[test]
    fn the_share_allowed_falls_with_size_as_in_go_yaml() {
        assert_eq!(allowed_share(1_000), 0.99);
        assert_eq!(allowed_share(FEW), 0.99);
        assert!((allowed_share(2_200_000) - 0.545).abs() < 1e-9);
        assert_eq!(allowed_share(MANY), 0.10);
    }
}
