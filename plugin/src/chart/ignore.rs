//! `.helmignore`: Helm's ignore rules (Go `filepath.Match` globs; `**` is refused).
//!
//! A pattern without `/` matches a file's base name; one with `/` matches the path from the
//! chart root; a trailing `/` matches directories only. Helm's `!` is not git's: a path is
//! ignored when any rule matches it or when it does not match some `!` rule, so `!` keeps
//! only what it names, and `*.md` then `!KEEP.md` ignores Chart.yaml too. The order of the
//! rules never matters.

/// Helm ignores dot files in `templates/` even without a `.helmignore`.
const DEFAULT_RULES: &str = "templates/.?*";

/// The size of Go's `bufio.MaxScanTokenSize`: a line must be shorter.
const MAX_LINE: usize = 64 << 10;

/// A `.helmignore`'s rules.
pub struct Rules {
    rules: Vec<Rule>,
}

struct Rule {
    pattern: Vec<char>,
    negate: bool,
    dir_only: bool,
    /// Matches the whole relative path rather than the base name.
    anchored: bool,
}

impl Rules {
    /// Parses `.helmignore` text (add Helm's defaults with `with_defaults`), refusing what
    /// Helm refuses, in Helm's words.
    pub fn parse(text: &str) -> Result<Rules, String> {
        // Helm reads the file with a bufio.Scanner, whose 64 KiB buffer must hold a whole line.
        if text.split('\n').any(|line| line.len() >= MAX_LINE) {
            return Err(format!("a line is longer than {} bytes (bufio.Scanner: token too long)", MAX_LINE - 1));
        }
        // Helm drops a byte-order mark, which would otherwise become part of the first rule.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            if line.contains("**") {
                return Err("double-star (**) syntax is not supported".into());
            }
            if !well_formed(&line.chars().collect::<Vec<_>>()) {
                return Err(format!("syntax error in pattern {line:?}"));
            }
            let (negate, line) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (dir_only, line) = match line.strip_suffix('/') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let anchored = line.contains('/');
            let pattern = line.strip_prefix('/').unwrap_or(line).chars().collect();
            rules.push(Rule { pattern, negate, dir_only, anchored });
        }
        Ok(Rules { rules })
    }

    /// Parses `.helmignore` text along with the rules Helm always applies.
    pub fn with_defaults(text: &str) -> Result<Rules, String> {
        Rules::parse(&format!("{text}\n{DEFAULT_RULES}"))
    }

    /// Whether a path relative to the chart root (with `/` separators) is ignored.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        self.rules.iter().any(|rule| rule.ignores(path, is_dir))
    }
}

impl Rule {
    fn ignores(&self, path: &str, is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            // A file never matches a directory rule, so a `!dir/` rule ignores every file.
            return self.negate;
        }
        let subject = if self.anchored { path } else { path.rsplit('/').next().unwrap_or(path) };
        glob(&self.pattern, &subject.chars().collect::<Vec<_>>()) != self.negate
    }
}

/// Go's `filepath.Match` on a well-formed pattern: `*` and `?` never match `/`; `[...]`
/// classes with `^` negation and ranges; `\\` escapes. Characters, not bytes, as Go's runes.
fn glob(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => {
            let rest = &pattern[1..];
            (0..=name.len()).take_while(|&i| i == 0 || name[i - 1] != '/').any(|i| glob(rest, &name[i..]))
        }
        Some('?') => matches!(name.first(), Some(&c) if c != '/') && glob(&pattern[1..], &name[1..]),
        Some('[') => {
            let class = Class::parse(&pattern[1..]).expect("checked by well_formed");
            match name.first() {
                Some(&c) if c != '/' && class.matches(c) => glob(&pattern[1 + class.len..], &name[1..]),
                _ => false,
            }
        }
        Some('\\') => name.first() == pattern.get(1) && glob(&pattern[2..], &name[1..]),
        Some(&p) => name.first() == Some(&p) && glob(&pattern[1..], &name[1..]),
    }
}

/// Whether Go's `filepath.Match` takes the pattern: every `\\` escapes something and every
/// class is closed and well formed.
fn well_formed(pattern: &[char]) -> bool {
    let mut i = 0;
    while i < pattern.len() {
        i += match pattern[i] {
            '\\' if i + 1 == pattern.len() => return false,
            '\\' => 2,
            '[' => match Class::parse(&pattern[i + 1..]) {
                Some(class) => 1 + class.len,
                None => return false,
            },
            _ => 1,
        };
    }
    true
}

/// A character class, `[...]`.
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
    /// The characters it spans after `[`, through `]`.
    len: usize,
}

impl Class {
    /// The class after a `[`, parsed as Go parses it. None where Go reports a bad pattern:
    /// a class left open, or an item that is empty, begins with `-` or `]` (Go has no
    /// literal `]` first), or ends the pattern.
    fn parse(p: &[char]) -> Option<Class> {
        let negated = p.first() == Some(&'^');
        let mut i = usize::from(negated);
        let mut ranges = Vec::new();
        loop {
            if p.get(i) == Some(&']') && !ranges.is_empty() {
                return Some(Class { ranges, negated, len: i + 1 });
            }
            let lo = item(p, &mut i)?;
            let hi = if p.get(i) == Some(&'-') {
                i += 1;
                item(p, &mut i)?
            } else {
                lo
            };
            ranges.push((lo, hi));
        }
    }

    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

/// One character of a class at `p[*i]`, escaped or not, as Go's `getEsc` reads it.
fn item(p: &[char], i: &mut usize) -> Option<char> {
    let mut c = *p.get(*i).filter(|&&c| c != '-' && c != ']')?;
    if c == '\\' {
        *i += 1;
        c = *p.get(*i)?;
    }
    *i += 1;
    // Go also refuses a class item that ends the pattern.
    (*i < p.len()).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(pattern: &str, name: &str) -> bool {
        let pattern: Vec<char> = pattern.chars().collect();
        assert!(well_formed(&pattern));
        glob(&pattern, &name.chars().collect::<Vec<_>>())
    }

    #[test]
    fn globs_like_go() {
        assert!(globs("*.txt", "a.txt"));
        assert!(!globs("*.txt", "d/a.txt"));
        assert!(globs("a?c", "abc"));
        assert!(globs("a?c", "aéc"));
        assert!(globs("[a-c]x", "bx"));
        assert!(!globs("[^a-c]x", "bx"));
        assert!(globs("[\\]]", "]"));
        assert!(globs("\\*", "*"));
        assert!(globs("templates/.?*", "templates/.hidden"));
        assert!(!globs("templates/.?*", "templates/."));
    }

    #[test]
    fn patterns_go_refuses_are_refused_as_helm_refuses_them() {
        for bad in ["[abc", "a\\", "[]a]", "[a-]", "[-a]", "[^]", "x[a"] {
            let why = Rules::parse(&format!("ok.txt\n{bad}\n")).err().unwrap_or_else(|| panic!("{bad} was taken"));
            assert_eq!(why, format!("syntax error in pattern {bad:?}"));
        }
        assert_eq!(Rules::parse("sub/**/x.txt").err().unwrap(), "double-star (**) syntax is not supported");
        // A line must fit bufio.Scanner's 64 KiB buffer, with its newline or at the end.
        let line = |n: usize| format!("#{}", "x".repeat(n - 1));
        assert!(Rules::parse(&format!("{}\n*.bak\n", line(65535))).is_ok());
        assert!(Rules::parse(&line(65535)).is_ok());
        for long in [format!("*.bak\n{}\n", line(65536)), line(65536)] {
            let why = Rules::parse(&long).err().unwrap();
            assert_eq!(why, "a line is longer than 65535 bytes (bufio.Scanner: token too long)");
        }
    }

    #[test]
    fn rules_match_base_names_paths_and_directories() {
        let r = Rules::with_defaults("# comment\n*.bak\n/secrets/\nci/*.yaml\ntmp/\n").unwrap();
        assert!(r.ignored("a.bak", false));
        assert!(r.ignored("templates/x.bak", false));
        assert!(r.ignored("secrets", true));
        assert!(!r.ignored("secrets", false));
        assert!(r.ignored("ci/values.yaml", false));
        assert!(!r.ignored("values.yaml", false));
        assert!(r.ignored("templates/.hidden", false));
        assert!(r.ignored("sub/tmp", true));
        assert!(!r.ignored("templates/deploy.yaml", false));
    }

    #[test]
    fn a_negated_rule_keeps_only_what_it_names_as_helm_does() {
        // Not git's "last match wins": KEEP.md is ignored by `*.md`, and everything that is
        // not KEEP.md by `!KEEP.md`, Chart.yaml included.
        let r = Rules::with_defaults("*.md\n!KEEP.md\n").unwrap();
        assert!(r.ignored("KEEP.md", false));
        assert!(r.ignored("Chart.yaml", false));
        let r = Rules::with_defaults("*.md\n!*.yaml\n").unwrap();
        assert!(!r.ignored("Chart.yaml", false));
        assert!(!r.ignored("templates/cm.yaml", false));
        assert!(r.ignored("templates", true));
        assert!(r.ignored(".helmignore", false));
        assert!(r.ignored("NOTES.md", false));
        // A file never matches a directory rule, so `!dir/` ignores every file.
        assert!(Rules::parse("!templates/").unwrap().ignored("Chart.yaml", false));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_rule() {
        assert!(Rules::parse("\u{feff}secret.txt\n").unwrap().ignored("secret.txt", false));
    }
}
