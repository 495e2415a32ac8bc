//! Escapes in double-quoted scalars as go-yaml reads them. go-yaml (Helm's) is a port of an
//! older libyaml than the one that parses here: it reads `\'` as `'`, which libyaml 0.2
//! refuses, and it refuses `\/`, which libyaml 0.2 reads as `/` (YAML 1.2's escape for
//! JSON). Before anything else reads the first document of a text, each `\'` in a
//! double-quoted scalar loses its backslash, and a `\/` in one is refused.

use super::libyaml::Scanner;
use libyaml_rs::yaml_token_type_t::{
    YAML_DOCUMENT_END_TOKEN, YAML_DOCUMENT_START_TOKEN, YAML_STREAM_END_TOKEN, YAML_STREAM_START_TOKEN,
    YAML_TAG_DIRECTIVE_TOKEN, YAML_VERSION_DIRECTIVE_TOKEN,
};
use std::borrow::Cow;
use std::ops::Range;

/// Where a first reading is not confirmed, the scanner reads the text again after each
/// scalar with a `\'`: at most this many bytes in all (under a second).
const SCAN_BUDGET: usize = 16 << 20;

/// The text with each `\'` in a double-quoted scalar of its first document read as go-yaml
/// reads it; an error, in go-yaml's words, for a `\/` in one. Text the scanner cannot read
/// otherwise is given back as it is, for the parse to say why.
pub fn as_go_yaml(text: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let holds = |pair: &[u8]| text.windows(2).any(|w| w == pair);
    if !holds(b"\\'") && !holds(b"\\/") {
        return Ok(Cow::Borrowed(text));
    }
    // The usual case, read once: every `\'` taken for an escape, and one scan confirming
    // that each was in a double-quoted scalar (dropping a backslash elsewhere, in a plain
    // scalar or a comment, would show: the quote would then be outside any).
    let (guess, unescaped) = unescape_all(text);
    if !unescaped.is_empty()
        && let Scan::Read(quoted) = scan(&guess)
        && all_inside(&unescaped, &quoted)
    {
        return refuse_slashes(Cow::Owned(guess), &quoted);
    }
    // Otherwise scalar by scalar, where the scanner stops at one.
    let mut text = Cow::Borrowed(text);
    let mut budget = SCAN_BUDGET;
    loop {
        budget = budget.checked_sub(text.len()).ok_or("too many \\' escapes in double-quoted scalars to read")?;
        match scan(&text) {
            Scan::Read(quoted) => return refuse_slashes(text, &quoted),
            Scan::StoppedAtQuoteEscape(at) => unescape_quotes(text.to_mut(), at),
            Scan::Stopped => return Ok(text),
        }
    }
}

/// How the scanner read the first document.
enum Scan {
    /// To its end; where its double-quoted scalars lie.
    Read(Vec<Range<usize>>),
    /// Stopped at a `\'` in a double-quoted scalar, at this offset.
    StoppedAtQuoteEscape(usize),
    /// Stopped for another reason.
    Stopped,
}

fn scan(text: &[u8]) -> Scan {
    let Some(mut scanner) = Scanner::new(text) else { return Scan::Stopped };
    let (mut quoted, mut begun) = (Vec::new(), false);
    loop {
        let Some(token) = scanner.next() else {
            let failure = scanner.failure();
            let escape = failure.problem == b"found unknown escape character"
                && text.get(failure.context_at) == Some(&b'"')
                && text.get(failure.at..failure.at + 2) == Some(b"\\'");
            return if escape { Scan::StoppedAtQuoteEscape(failure.at) } else { Scan::Stopped };
        };
        match token.kind {
            // The first document ends at `...`, or at a `---` once it has begun.
            YAML_STREAM_END_TOKEN | YAML_DOCUMENT_END_TOKEN => return Scan::Read(quoted),
            YAML_DOCUMENT_START_TOKEN if begun => return Scan::Read(quoted),
            YAML_DOCUMENT_START_TOKEN => begun = true,
            YAML_STREAM_START_TOKEN | YAML_VERSION_DIRECTIVE_TOKEN | YAML_TAG_DIRECTIVE_TOKEN => {}
            _ if token.double_quoted => {
                begun = true;
                quoted.push(token.span);
            }
            _ => begun = true,
        }
    }
}

/// Whether each offset (in order) lies in one of the spans (in order, apart).
fn all_inside(offsets: &[usize], spans: &[Range<usize>]) -> bool {
    let mut spans = spans.iter().peekable();
    offsets.iter().all(|at| {
        while spans.next_if(|span| span.end <= *at).is_some() {}
        spans.peek().is_some_and(|span| span.contains(at))
    })
}

/// The text with the backslash of every `\'` dropped (reading `\` and what follows it as a
/// pair, as double quotes do), and where each of those quotes now is.
fn unescape_all(text: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let (mut out, mut unescaped, mut i) = (Vec::with_capacity(text.len()), Vec::new(), 0);
    while i < text.len() {
        match (text[i], text.get(i + 1)) {
            (b'\\', Some(b'\'')) => {
                unescaped.push(out.len());
                out.push(b'\'');
            }
            (b'\\', Some(&next)) => out.extend([b'\\', next]),
            (byte, _) => {
                out.push(byte);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    (out, unescaped)
}

/// Drops the backslash of each `\'` from `at` (one) to the end of the double-quoted scalar
/// it is in: the first `"` no backslash escapes.
fn unescape_quotes(text: &mut Vec<u8>, at: usize) {
    let end = at
        + text[at..]
            .iter()
            .scan(false, |escaped, &b| {
                let ends = !*escaped && b == b'"';
                *escaped = !*escaped && b == b'\\';
                Some(ends)
            })
            .take_while(|ends| !ends)
            .count();
    let (unescaped, _) = unescape_all(&text[at..end]);
    text.splice(at..end, unescaped);
}

/// The text, unless a double-quoted scalar in `quoted` has a `\/` escape.
fn refuse_slashes<'t>(text: Cow<'t, [u8]>, quoted: &[Range<usize>]) -> Result<Cow<'t, [u8]>, String> {
    match quoted.iter().find_map(|q| slash_escape(&text[q.clone()]).map(|at| q.start + at)) {
        Some(at) => Err(unknown_escape(&text, at)),
        None => Ok(text),
    }
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

/// go-yaml's words, with where, as libyaml's own errors say it (the column in characters).
fn unknown_escape(text: &[u8], at: usize) -> String {
    let before = &text[..at];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
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
        // Elsewhere a backslash is itself, also beside a double-quoted scalar that has one.
        for kept in ["a: it\\'s\n", "a: 'C:\\'\n", "a: |\n  it\\'s\n", "# it\\'s\na: 1\n"] {
            assert_eq!(read(kept).unwrap(), kept);
            let beside = format!("{kept}z: \"\\'\"\n");
            assert_eq!(read(&beside).unwrap(), format!("{kept}z: \"'\"\n"));
        }
    }

    #[test]
    fn a_slash_escaped_in_double_quotes_is_refused() {
        let e = read("a: 1\nhome: \"https:\\/\\/example.com\"\n").unwrap_err();
        assert_eq!(e, "found unknown escape character at line 2 column 14");
        assert!(read("a: \"éé\\/\"\n").unwrap_err().ends_with("column 7"));
        for kept in
            ["a: https:\\/\\/x\n", "a: '\\/'\n", "a: \"\\\\/\"\n", "a: 1\n---\nb: \"\\/\"\n", "a: 1\n...\n\"\\/\"\n"]
        {
            assert_eq!(read(kept).unwrap(), kept, "only the first document is read");
        }
    }

    #[test]
    fn text_the_scanner_stops_at_for_another_reason_is_left_to_the_parse() {
        for kept in ["a: \"\\q \\'\"\n", "a: !foo\\'bar \"x\"\n", "\\'c: \"x\"\n", "b\n\\'c: \"x\"\n"] {
            assert_eq!(read(kept).unwrap(), kept);
        }
    }

    #[test]
    fn many_escapes_are_read_in_one_scan_or_scalar_by_scalar() {
        let many = format!("a: \"{}\"\n", "x\\'\\\\\\\"".repeat(10_000));
        assert_eq!(read(&many).unwrap(), format!("a: \"{}\"\n", "x'\\\\\\\"".repeat(10_000)));
        let scalars = "a: \"don\\'t\"\n".repeat(100_000);
        assert_eq!(read(&scalars).unwrap(), "a: \"don't\"\n".repeat(100_000));
        // A plain `\'` too sends every scalar through the scanner in turn, within a budget.
        let mixed = format!("p: it\\'s\n{}", "a: \"\\'\"\n".repeat(100_000));
        assert!(read(&mixed).unwrap_err().contains("too many"));
    }
}
