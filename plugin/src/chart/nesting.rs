//! A guard run before YAML is parsed: how deeply it nests.
//!
//! libyaml, which parses YAML here (libyaml-rs, under yaml_serde), does work for every open
//! flow collection at every token, so `[[[[…` a few hundred kilobytes long takes minutes;
//! and yaml_serde keeps every event of a document before it decodes any, so `- - - - …`
//! (block sequences nested on one line) a few megabytes long fills the component's memory.
//! go-yaml, which Helm uses, stops at depth 10,000, of flow and of block collections each.
//! The guard runs the same scanner over the text, counting collections as their tokens
//! come, and stops once a depth passes go-yaml's limit or the work passes what any chart's
//! YAML needs: it costs at most that, and it reads the text exactly as the parse that
//! follows will.

use super::libyaml::Scanner;
use libyaml_rs::yaml_token_type_t::{
    YAML_BLOCK_END_TOKEN, YAML_BLOCK_MAPPING_START_TOKEN, YAML_BLOCK_SEQUENCE_START_TOKEN, YAML_FLOW_MAPPING_END_TOKEN,
    YAML_FLOW_MAPPING_START_TOKEN, YAML_FLOW_SEQUENCE_END_TOKEN, YAML_FLOW_SEQUENCE_START_TOKEN, YAML_STREAM_END_TOKEN,
};

/// go-yaml's limit, and its words past it.
const MAX_DEPTH: usize = 10_000;
/// Tokens scanned, each weighted by the flow collections open around it: what a parse
/// costs (about 15 ns a unit, so a second and a half at most). Twenty levels over a whole
/// 5 MiB file stay far below it.
const MAX_WORK: u64 = 100_000_000;

/// Refuses YAML nested deeper than go-yaml reads, or so deep in flow collections for its
/// size that libyaml would take minutes over it. `work` is what texts read before this one
/// cost, for a file read in parts (a values file's documents); it grows by this one's.
/// YAML the scanner cannot read passes: the parse says why.
pub fn check(text: &[u8], work: &mut u64) -> Result<(), String> {
    let Some(mut scanner) = Scanner::new(text) else { return Ok(()) };
    let (mut depth, mut blocks) = (0usize, 0usize);
    while let Some(token) = scanner.next() {
        match token.kind {
            YAML_FLOW_SEQUENCE_START_TOKEN | YAML_FLOW_MAPPING_START_TOKEN => depth += 1,
            YAML_FLOW_SEQUENCE_END_TOKEN | YAML_FLOW_MAPPING_END_TOKEN => depth = depth.saturating_sub(1),
            YAML_BLOCK_SEQUENCE_START_TOKEN | YAML_BLOCK_MAPPING_START_TOKEN => blocks += 1,
            YAML_BLOCK_END_TOKEN => blocks = blocks.saturating_sub(1),
            YAML_STREAM_END_TOKEN => return Ok(()),
            _ => {}
        }
        if depth > MAX_DEPTH || blocks > MAX_DEPTH {
            return Err(format!("exceeded max depth of {MAX_DEPTH}"));
        }
        *work += depth as u64 + 1;
        if *work > MAX_WORK {
            return Err("it nests flow collections ([ and {) too deeply for its size to be read".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bomb(depth: usize) -> String {
        format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn refuses_what_go_yaml_refuses_and_what_would_take_minutes() {
        assert_eq!(check(bomb(MAX_DEPTH + 1).as_bytes(), &mut 0).unwrap_err(), "exceeded max depth of 10000");
        assert!(check(bomb(5_000).as_bytes(), &mut 0).is_ok());
        let blocks = |depth: usize| format!("a:\n  {}x\n", "- ".repeat(depth));
        assert_eq!(check(blocks(MAX_DEPTH + 1).as_bytes(), &mut 0).unwrap_err(), "exceeded max depth of 10000");
        assert!(check(blocks(5_000).as_bytes(), &mut 0).is_ok());
        let wide = format!("a: {}{}\n", "[".repeat(5_000), "1, ".repeat(20_000));
        assert!(check(wide.as_bytes(), &mut 0).unwrap_err().contains("too deeply for its size"));
        // A file read in parts has one budget.
        let part = format!("a: {}{}\n", "[".repeat(1_500), "1, ".repeat(20_000));
        let mut work = 0;
        assert!(check(part.as_bytes(), &mut work).is_ok() && check(part.as_bytes(), &mut work).is_err());
    }

    #[test]
    fn reads_brackets_as_the_parse_reads_them() {
        // Shapes a hand-made lexer gets wrong, each hiding a bomb or looking like one.
        let deep = "[".repeat(MAX_DEPTH + 1);
        for hidden in [
            format!("x:\n- script: |\n    echo hi\n  args: {deep}"),
            format!("x: 1\n# c\ra: {deep}"),
            format!("a: [\"x\\\n  \", {deep}"),
            format!("a: {}", "[{\"k\":\"]]\", \"v\": ".repeat(MAX_DEPTH + 1)),
            "[[#]]\n".repeat(MAX_DEPTH),
        ] {
            assert!(check(hidden.as_bytes(), &mut 0).is_err(), "{:?}", &hidden[..40]);
        }
        let quoted = format!("a: \"{deep}\"\nb: '{deep}'\nc: |\n  {deep}\n# {deep}\n");
        assert!(check(quoted.as_bytes(), &mut 0).is_ok());
        let json_like = format!("a: [{}]\n", "{\"k\": [1, 2, {\"v\": \"x\"}]}, ".repeat(100_000));
        assert!(check(json_like.as_bytes(), &mut 0).is_ok());
        assert!(check(b"a: [1\n", &mut 0).is_ok(), "broken YAML is the parse's to report");
    }
}
