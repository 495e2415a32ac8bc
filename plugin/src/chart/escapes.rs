//! Escapes in double-quoted scalars as go-yaml reads them. go-yaml (Helm's) is a port of an
//! older libyaml than the one that parses here: it reads `\'` as `'`, which libyaml 0.2
//! refuses, and it refuses `\/`, which libyaml 0.2 reads as `/` (YAML 1.2's escape for
//! JSON). Before anything else reads the text, each `\'` in a double-quoted scalar loses
//! its backslash (the scalar found where the scanner stops at its first), and a `\/` in one
//! is refused.

use super::libyaml::Scanner;
use libyaml_rs::yaml_token_type_t::YAML_STREAM_END_TOKEN;
use std::borrow::Cow;

/// The scanner reads the text again after each scalar with a `\'` it stops at: at most this
/// many bytes in all (a quarter of a second), however many there are.
const SCAN_BUDGET: usize = 64 << 20;

/// The text with each `\'` in a double-quoted scalar read as go-yaml reads it; an error,
/// in go-yaml's words, for a `\/` in one. Text the scanner cannot read otherwise is given
/// back as it is, for the parse to say why.
pub fn as_go_yaml(text: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let holds = |pair: &[u8]| text.windows(2).any(|w| w == pair);
    if !holds(b"\\'") && !holds(b"\\/") {
        return Ok(Cow::Borrowed(text));
    }
    let mut text = Cow::Borrowed(text);
    let mut budget = SCAN_BUDGET;
    loop {
        budget = budget.checked_sub(text.len()).ok_or("too many \\' escapes in double-quoted scalars to read")?;
        let stopped = {
            let Some(mut scanner) = Scanner::new(&text) else { return Ok(text) };
            loop {
                match scanner.next() {
                    Some(token) if token.kind == YAML_STREAM_END_TOKEN => break None,
                    Some(token) if token.double_quoted => {
                        if let Some(at) = slash_escape(&text[token.span.clone()]) {
                            return Err(unknown_escape(&text, token.span.start + at));
                        }
                    }
                    Some(_) => {}
                    None => break Some(scanner.stopped_at()),
                }
            }
        };
        match stopped {
            Some(at) if text.get(at..at + 2) == Some(b"\\'") => unescape_quotes(text.to_mut(), at),
            _ => return Ok(text),
        }
    }
}

/// Drops the backslash of each `\'` from `at` (one) to the end of the double-quoted scalar
/// it is in: the first `"` no backslash escapes.
fn unescape_quotes(text: &mut Vec<u8>, at: usize) {
    let (mut read, mut kept) = (at, Vec::new());
    while read < text.len() && text[read] != b'"' {
        match (text[read], text.get(read + 1)) {
            (b'\\', Some(b'\'')) => kept.push(b'\''),
            (b'\\', Some(&next)) => kept.extend([b'\\', next]),
            (byte, _) => {
                kept.push(byte);
                read += 1;
                continue;
            }
        }
        read += 2;
    }
    text.splice(at..read, kept);
}

/// Where a double-quoted scalar (its text, quotes and all) has a `\/` escape.
fn slash_escape(quoted: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < quoted.len() {
        match (quoted[i], quoted[i + 1]) {
            (b'\\', b'/') => return Some(i),
            (b'\\', _) => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// go-yaml's words, with where, as libyaml's own errors say it.
fn unknown_escape(text: &[u8], at: usize) -> String {
    let before = &text[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
    format!("found unknown escape character at line {line} column {column}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<String, String> {
        as_go_yaml(text.as_bytes()).map(|t| String::from_utf8(t.into_owned()).unwrap())
    }

    #[test]
    fn a_quote_escaped_in_double_quotes_is_a_quote() {
        assert_eq!(read("a: \"It\\'s\"\nb: \"x \\' y \\\\' z\"\n").unwrap(), "a: \"It's\"\nb: \"x ' y \\\\' z\"\n");
        // Elsewhere a backslash is itself.
        for kept in ["a: it\\'s\n", "a: 'C:\\'\n", "a: |\n  it\\'s\n", "# it\\'s\na: 1\n"] {
            assert_eq!(read(kept).unwrap(), kept);
        }
    }

    #[test]
    fn a_slash_escaped_in_double_quotes_is_refused() {
        let e = read("a: 1\nhome: \"https:\\/\\/example.com\"\n").unwrap_err();
        assert_eq!(e, "found unknown escape character at line 2 column 14");
        for kept in ["a: https:\\/\\/x\n", "a: '\\/'\n", "a: \"\\\\/\"\n"] {
            assert_eq!(read(kept).unwrap(), kept);
        }
    }

    #[test]
    fn text_the_scanner_cannot_read_is_left_to_the_parse() {
        assert_eq!(read("a: \"\\q \\'\"\n").unwrap(), "a: \"\\q \\'\"\n");
        let many = format!("a: \"{}\"\n", "x\\'\\\\\\\"".repeat(10_000));
        assert_eq!(read(&many).unwrap(), format!("a: \"{}\"\n", "x'\\\\\\\"".repeat(10_000)));
        let scalars = "a: \"\\'\"\n".repeat(100_000);
        assert!(read(&scalars).unwrap_err().contains("too many"));
    }
}
