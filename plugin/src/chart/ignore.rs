//! `.helmignore`: Helm's ignore rules (Go `filepath.Match` globs, no `**`).
//!
//! A pattern without `/` matches a file's base name; one with `/` matches the path from the
//! chart root; a trailing `/` matches directories only; `!` re-includes. As in git, the last
//! rule that matches decides.

/// Helm ignores dot files in `templates/` even without a `.helmignore`.
const DEFAULT_RULES: &str = "templates/.?*";

/// A `.helmignore`'s rules, in order.
pub struct Rules {
    rules: Vec<Rule>,
}

struct Rule {
    pattern: String,
    negate: bool,
    dir_only: bool,
    /// Matches the whole relative path rather than the base name.
    anchored: bool,
}

impl Rules {
    /// Parses `.helmignore` text (add Helm's defaults with `with_defaults`).
    pub fn parse(text: &str) -> Rules {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let (negate, line) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let (dir_only, line) = match line.strip_suffix('/') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let anchored = line.contains('/');
                let pattern = line.strip_prefix('/').unwrap_or(line).to_string();
                (!pattern.is_empty()).then_some(Rule { pattern, negate, dir_only, anchored })
            })
            .collect();
        Rules { rules }
    }

    /// Parses `.helmignore` text after the rules Helm always applies.
    pub fn with_defaults(text: &str) -> Rules {
        Rules::parse(&format!("{DEFAULT_RULES}\n{text}"))
    }

    /// Whether a path relative to the chart root (with `/` separators) is ignored.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let subject = if rule.anchored { path } else { base };
            if glob(rule.pattern.as_bytes(), subject.as_bytes()) {
                ignored = !rule.negate;
            }
        }
        ignored
    }
}

/// Go's `filepath.Match`: `*` and `?` never match `/`; `[...]` classes with `^` negation and ranges; `\` escapes.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some(b'*') => {
            let rest = &pattern[1..];
            (0..=name.len()).take_while(|&i| i == 0 || name[i - 1] != b'/').any(|i| glob(rest, &name[i..]))
        }
        Some(b'?') => matches!(name.first(), Some(&c) if c != b'/') && glob(&pattern[1..], &name[1..]),
        Some(b'[') => match (name.first(), class(&pattern[1..])) {
            (Some(&c), Some((matches, len))) if c != b'/' && matches(c) => glob(&pattern[1 + len..], &name[1..]),
            _ => false,
        },
        Some(b'\\') if pattern.len() > 1 => name.first() == Some(&pattern[1]) && glob(&pattern[2..], &name[1..]),
        Some(&p) => name.first() == Some(&p) && glob(&pattern[1..], &name[1..]),
    }
}

/// Parses a character class after `[`; returns a matcher and the bytes consumed (through `]`).
fn class(p: &[u8]) -> Option<(impl Fn(u8) -> bool, usize)> {
    let (negated, mut i) = if p.first() == Some(&b'^') { (true, 1) } else { (false, 0) };
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == b']' && !first {
            break;
        }
        first = false;
        let lo = if c == b'\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        let hi = if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|&b| b != b']') {
            i += 1;
            let h = if p[i] == b'\\' {
                i += 1;
                *p.get(i)?
            } else {
                p[i]
            };
            i += 1;
            h
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
    Some((move |c: u8| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negated, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go() {
        assert!(glob(b"*.txt", b"a.txt"));
        assert!(!glob(b"*.txt", b"d/a.txt"));
        assert!(glob(b"a?c", b"abc"));
        assert!(glob(b"[a-c]x", b"bx"));
        assert!(!glob(b"[^a-c]x", b"bx"));
        assert!(glob(b"\\*", b"*"));
        assert!(glob(b"templates/.?*", b"templates/.hidden"));
        assert!(!glob(b"templates/.?*", b"templates/."));
    }

    #[test]
    fn rules_match_base_names_paths_and_directories() {
        let r = Rules::with_defaults("# comment\n*.bak\n/secrets/\nci/*.yaml\n!keep.bak\ntmp/\n");
        assert!(r.ignored("a.bak", false));
        assert!(r.ignored("templates/x.bak", false));
        assert!(!r.ignored("keep.bak", false));
        assert!(r.ignored("secrets", true));
        assert!(!r.ignored("secrets", false));
        assert!(r.ignored("ci/values.yaml", false));
        assert!(!r.ignored("values.yaml", false));
        assert!(r.ignored("templates/.hidden", false));
        assert!(r.ignored("sub/tmp", true));
        assert!(!r.ignored("templates/deploy.yaml", false));
    }
}
