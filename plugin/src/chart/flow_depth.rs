//! A guard run before YAML is parsed: how deeply it nests flow collections (`[`, `{`).
//!
//! libyaml, which parses YAML here, does work for every open flow collection at every token,
//! so `[[[[…` a few hundred kilobytes long takes minutes; go-yaml, which Helm uses, stops at
//! depth 10,000. This lexer follows YAML closely enough to tell a bracket that opens a
//! collection from one in a quoted scalar, a comment or a block scalar, and where it cannot
//! tell, it counts the bracket: it may overestimate the nesting, never underestimate it.

/// go-yaml's limit, and its words past it.
const MAX_DEPTH: usize = 10_000;
/// Bytes read inside open flow collections, each weighted by how many are open: what the
/// parse costs. Ten levels over a whole 5 MiB file stay far below it.
const MAX_WORK: u64 = 300_000_000;

/// Refuses YAML nested deeper than go-yaml reads, or so deep for its size that libyaml
/// would take minutes over it.
pub fn check(text: &[u8]) -> Result<(), String> {
    let mut lexer = Lexer::default();
    for (at, &byte) in text.iter().enumerate() {
        lexer.step(byte, text.get(at + 1).copied());
        if lexer.deepest > MAX_DEPTH {
            return Err(format!("exceeded max depth of {MAX_DEPTH}"));
        }
        if lexer.work > MAX_WORK {
            return Err("it nests flow collections ([ and {) too deeply for its size to be read".to_string());
        }
    }
    Ok(())
}

#[derive(Default)]
struct Lexer {
    depth: usize,
    deepest: usize,
    work: u64,
    state: State,
    /// Spaces before the first character of the current line, while it is being counted.
    indent: Option<usize>,
    line_indent: usize,
    /// Inside a block scalar begun on a line of this indentation: more indented lines are text.
    block: Option<usize>,
    /// Where a node may begin: a quote opens a quoted scalar, a bracket a collection.
    node_start: bool,
    /// The previous byte was a space, a tab or a line break (a `#` then opens a comment).
    after_blank: bool,
}

#[derive(Default, PartialEq)]
enum State {
    #[default]
    Plain,
    Comment,
    /// A node property (`&anchor`, `!tag`): a node may still begin after it.
    Property,
    Quoted {
        quote: u8,
        escaped: bool,
    },
    /// A line of a block scalar's text.
    Text,
}

impl Lexer {
    fn step(&mut self, byte: u8, next: Option<u8>) {
        self.work += self.depth as u64;
        if byte == b'\n' {
            self.line_break();
            return;
        }
        if let Some(spaces) = self.indent {
            if byte == b' ' {
                self.indent = Some(spaces + 1);
                return;
            }
            self.indent = None;
            self.line_indent = spaces;
            // A block scalar's text is every more indented line (blank ones too).
            if let Some(parent) = self.block {
                if spaces > parent {
                    self.state = State::Text;
                    return;
                }
                self.block = None;
            }
        }
        let blank_before = self.after_blank;
        self.after_blank = matches!(byte, b' ' | b'\t');
        match self.state {
            State::Text | State::Comment => {}
            State::Quoted { quote, escaped } => self.quoted(byte, quote, escaped, next),
            State::Property if self.after_blank => self.state = State::Plain,
            State::Property if self.depth > 0 && matches!(byte, b',' | b'[' | b']' | b'{' | b'}') => {
                self.state = State::Plain;
                self.structure(byte, next, blank_before);
            }
            State::Property => {}
            State::Plain => self.structure(byte, next, blank_before),
        }
    }

    fn line_break(&mut self) {
        self.after_blank = true;
        self.indent = Some(0);
        match self.state {
            // A quoted scalar outside a collection is taken to end with its line: were it
            // not a quote at all, what follows would be missed.
            State::Quoted { .. } if self.depth == 0 => self.state = State::Plain,
            State::Quoted { .. } => {}
            _ => self.state = State::Plain,
        }
        // A line begins a node outside collections; inside one, a line break is only white
        // space (`[a⏎ 'b` is the plain scalar `a 'b`, its quote no quote).
        if self.depth == 0 {
            self.node_start = true;
        }
    }

    fn quoted(&mut self, byte: u8, quote: u8, escaped: bool, next: Option<u8>) {
        self.state = match (byte, escaped) {
            (_, true) => State::Quoted { quote, escaped: false },
            (b'\\', false) if quote == b'"' => State::Quoted { quote, escaped: true },
            // `''` is a quote inside a single-quoted scalar.
            (b'\'', false) if quote == b'\'' && next == Some(b'\'') => State::Quoted { quote, escaped: true },
            (b, false) if b == quote => {
                self.node_start = false;
                State::Plain
            }
            _ => State::Quoted { quote, escaped: false },
        };
    }

    /// A byte outside quotes, comments and text.
    fn structure(&mut self, byte: u8, next: Option<u8>, blank_before: bool) {
        let blank_next = next.is_none_or(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        let flow_indicator_next = next.is_some_and(|b| matches!(b, b',' | b'[' | b']' | b'{' | b'}'));
        match byte {
            b' ' | b'\t' | b'\r' => {}
            b'#' if blank_before => self.state = State::Comment,
            b'[' | b'{' if self.node_start || self.depth > 0 => {
                self.depth += 1;
                self.deepest = self.deepest.max(self.depth);
                self.node_start = true;
            }
            b']' | b'}' if self.depth > 0 => {
                self.depth -= 1;
                self.node_start = false;
            }
            b',' if self.depth > 0 => self.node_start = true,
            b'"' | b'\'' if self.node_start => self.state = State::Quoted { quote: byte, escaped: false },
            b'&' | b'!' if self.node_start => self.state = State::Property,
            b'|' | b'>' if self.node_start && self.depth == 0 => self.block = Some(self.line_indent),
            // Indicators after which a node begins: `key: `, `- `, `? ` (and `key:,` in flow).
            b':' if blank_next || (self.depth > 0 && flow_indicator_next) => self.node_start = true,
            b'-' | b'?' if self.node_start && blank_next => {}
            _ => self.node_start = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deepest(text: &str) -> usize {
        let mut lexer = Lexer::default();
        let bytes = text.as_bytes();
        for (at, &b) in bytes.iter().enumerate() {
            lexer.step(b, bytes.get(at + 1).copied());
        }
        lexer.deepest
    }

    #[test]
    fn counts_collections_and_not_brackets_in_text() {
        assert_eq!(deepest("a: [1, {b: [2]}]\n"), 3);
        assert_eq!(deepest("a: &x !!seq [[1]]\n- [[[]]]\n"), 3);
        assert_eq!(deepest("a: \"[[[[\"\nb: '[[''[['\nc: x[0] # [[[[\n"), 0);
        assert_eq!(deepest("a: |\n  [[[[\n  'x\n\n  {{{{\nb: [1]\n"), 1);
        assert_eq!(deepest("a: [\"]]]\", '}}', [x]]\n"), 2);
        assert_eq!(deepest("a: rate(x[5m])\nb: it's [\nc: [[1]]\n"), 2);
    }

    #[test]
    fn a_quote_that_is_not_one_hides_nothing() {
        // A plain scalar's apostrophe, and a block scalar's quote, then a real bomb.
        let bomb = "[".repeat(50);
        assert_eq!(deepest(&format!("a: it's\nb: {bomb}\n")), 50);
        assert_eq!(deepest(&format!("a: |\n  [ '\nb: {bomb}\n")), 50);
        // A quote continuing a plain scalar on the next line inside a collection opens nothing.
        assert_eq!(deepest(&format!("a: [x\n 'y, {bomb}\n")), 51);
        // Closers inside quoted scalars inside the collections do not close them.
        let hidden = "[\"]\", ".repeat(50);
        assert_eq!(deepest(&format!("a: {hidden}\n")), 50);
    }

    #[test]
    fn refuses_what_go_yaml_refuses_and_what_would_take_minutes() {
        let deep = format!("a: {}{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(check(deep.as_bytes()).unwrap_err(), "exceeded max depth of 10000");
        let wide = format!("a: {}{}\n", "[".repeat(9_000), "1, ".repeat(20_000));
        assert!(check(wide.as_bytes()).unwrap_err().contains("too deeply for its size"));
        let json_like = format!("a: [{}]\n", "{\"k\": [1, 2, {\"v\": \"x\"}]}, ".repeat(100_000));
        assert!(check(json_like.as_bytes()).is_ok());
    }
}
