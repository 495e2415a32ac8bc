//! Version constraints as Helm reads them (Masterminds/semver): `>=1.0 <2.0`, `>=1.0, <2.0`,
//! `^1.2`, `~1.2.3`, `1.2.x`, `1.2 - 1.4`, `^1 || ^2`, `!=1.2.3`, `*`, exact versions.
//!
//! Each `A - B` range is first rewritten in the text as Masterminds rewrites it (see
//! `rewrite_ranges`). Alternatives then split on `||`; within one, constraints are separated
//! by spaces or a comma and must all hold. A prerelease version satisfies an alternative only if prereleases are
//! asked for, or if one of that alternative's own constraints names a prerelease.

use super::Version;
use std::cmp::Ordering;

/// A parsed constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone)]
struct Alternative {
    all: Vec<Bound>,
    /// One of its constraints names a prerelease (`>=1.0.0-rc.1`), which lets prereleases in.
    names_prerelease: bool,
}

/// One operator and the version it compares with.
#[derive(Debug, Clone)]
struct Bound {
    op: Op,
    version: Version,
    /// Which part, and so every part after it, was a wildcard or left out (`1.x`, `1.2`).
    wild: Wild,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// No operator, or `=`: equal, or within the wildcard's range.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    /// `~`, `~>`: the same minor version (the same major one if the minor is open).
    Tilde,
    /// `^`: the same left-most non-zero part.
    Caret,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Wild {
    /// `1.2.3`: exact.
    None,
    /// `x`, `*`: anything.
    Major,
    /// `1`, `1.x`: any minor and patch.
    Minor,
    /// `1.2`, `1.2.x`: any patch.
    Patch,
}

/// Longest first, so that `>=` is not read as `>` then `=`.
const OPERATORS: [(&str, Op); 12] = [
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    ("=", Op::Equal),
    (">", Op::Greater),
    ("<", Op::Less),
    ("~", Op::Tilde),
    ("^", Op::Caret),
    ("", Op::Equal),
];

/// Go's `\s`, which is what separates parts of a constraint.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '*' | '|')
}

impl Constraint {
    /// Parses a constraint; the error names the part that is wrong.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let rewritten = rewrite_ranges(text);
        let said = if rewritten == text {
            format!("{text:?}")
        } else {
            format!("{text:?} (read as {rewritten:?}, as Helm rewrites `A - B` ranges)")
        };
        let alternatives = rewritten
            .split("||")
            .map(|alt| parse_alternative(alt).map_err(|why| format!("invalid version constraint {said}: {why}")))
            .collect::<Result<_, _>>()?;
        Ok(Constraint { alternatives })
    }

    /// Both constraints: each alternative of one joined with each of the other.
    fn and(&self, other: &Constraint) -> Constraint {
        let mut alternatives = Vec::new();
        for a in &self.alternatives {
            for b in &other.alternatives {
                alternatives.push(Alternative {
                    all: a.all.iter().chain(&b.all).cloned().collect(),
                    names_prerelease: a.names_prerelease || b.names_prerelease,
                });
            }
        }
        Constraint { alternatives }
    }

    /// Whether `version` satisfies some alternative; prereleases only if `prereleases` or
    /// that alternative names one.
    pub fn matches(&self, version: &Version, prereleases: bool) -> bool {
        self.alternatives.iter().any(|alt| {
            (!version.is_prerelease() || prereleases || alt.names_prerelease)
                && alt.all.iter().all(|bound| bound.admits(version))
        })
    }
}

/// Which versions a command asks for: `--version`, with `--version-from X` and
/// `--version-to Y` joining each of its alternatives as `>=X` and `<=Y`, so that
/// `--version "^1 || ^3" --version-to 3.2` reads as `^1 <=3.2 || ^3 <=3.2`. Prereleases only
/// in an alternative that names one, as in Helm, or with `--devel`, which unlike Helm's also
/// counts when `--version` is given (Helm then ignores it).
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    constraint: Option<Constraint>,
    devel: bool,
}

impl Wanted {
    /// From the flags' values; an error names the flag and the part that is wrong.
    pub fn from_flags(
        version: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        devel: bool,
    ) -> Result<Wanted, String> {
        let mut constraint = match version.filter(|v| !v.is_empty()) {
            Some(text) => Some(Constraint::parse(text).map_err(|why| format!("--version: {why}"))?),
            None => None,
        };
        for (flag, bound, op) in [("--version-from", from, ">="), ("--version-to", to, "<=")] {
            if let Some(text) = bound {
                if text.is_empty() || text.contains('|') || !text.chars().all(is_version_char) {
                    return Err(format!("{flag} {text:?} is not a version"));
                }
                let bound = Constraint::parse(&format!("{op}{text}")).map_err(|why| format!("{flag}: {why}"))?;
                constraint = Some(match constraint {
                    Some(c) => c.and(&bound),
                    None => bound,
                });
            }
        }
        Ok(Wanted { constraint, devel })
    }

    /// Whether any constraint was given (`--devel` alone is none).
    pub fn constrains(&self) -> bool {
        self.constraint.is_some()
    }

    /// Whether a version is wanted.
    pub fn admits(&self, version: &Version) -> bool {
        match &self.constraint {
            Some(c) => c.matches(version, self.devel),
            None => self.devel || !version.is_prerelease(),
        }
    }

    /// The tags that stand for wanted versions (see `Version::of_tag`), with their versions,
    /// newest first; of equal ones, a floating tag (`2` beside 2.0.0, see `floating`) last,
    /// as the chart behind it may be another.
    pub fn pick(&self, tags: impl IntoIterator<Item = String>) -> Vec<(Version, String)> {
        let tags: Vec<String> = tags.into_iter().collect();
        let floating = super::floating(&tags);
        let mut picked: Vec<(Version, String)> = tags
            .iter()
            .filter_map(|tag| Version::of_tag(tag).map(|v| (v, tag.clone())))
            .filter(|(v, _)| self.admits(v))
            .collect();
        picked.sort_by(|a, b| {
            let floats = |tag: &String| floating.contains(tag.as_str());
            b.0.cmp(&a.0).then_with(|| floats(&a.1).cmp(&floats(&b.1))).then_with(|| a.1.cmp(&b.1))
        });
        picked
    }

    /// How many more of these tags `--devel` would pick: the prereleases left out.
    pub fn prereleases_left_out(&self, tags: &[String]) -> usize {
        if self.devel {
            return 0;
        }
        let devel = Wanted { devel: true, ..self.clone() };
        devel.pick(tags.iter().cloned()).len() - self.pick(tags.iter().cloned()).len()
    }

    /// The tag of the newest wanted version, chosen without reading what the tags hold: a
    /// floating tag (`1.4` beside 1.4.2, see `floating`), which reads as a version (1.4.0)
    /// its chart is not, only if no other tag is wanted.
    pub fn newest(&self, tags: Vec<String>) -> Option<String> {
        let floating = super::floating(&tags);
        let picked = self.pick(tags.iter().cloned());
        let mut tags = picked.iter().map(|(_, tag)| tag);
        tags.clone().find(|tag| !floating.contains(tag.as_str())).or_else(|| tags.next()).cloned()
    }
}

/// Masterminds' `rewriteRange`: each match of `\s*(V)\s+-\s+(V)\s*`, in the whole text and
/// left to right, becomes `>= A, <= B ` (in place of the first place that text appears), where
/// V is Masterminds' version pattern: `v?`, up to three dot-separated runs of digits, `x`,
/// `X`, `*` and `|`, then optionally `-PRERELEASE` and `+BUILD`. Helm reads what comes out, so
/// this reads the same text: the spaces the match takes in join a range to what precedes it
/// (`>=1 1.2 - 1.4` is refused, as in Helm), and `2||1.2 - 1.4` is `>= 2||1.2, <= 1.4 `.
///
/// The pattern is matched by hand. At each start its parts are taken greedily, as Go's
/// leftmost-first matching prefers: for the first version a shorter take would leave a
/// character that is no space where `\s+` must follow, and after the second only `\s*`
/// follows, which any take meets.
fn rewrite_ranges(text: &str) -> String {
    let b = text.as_bytes();
    let is_space = |i: usize| b.get(i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'));
    let spaces = |mut i: usize| {
        while is_space(i) {
            i += 1;
        }
        i
    };
    let mut rewritten = text.to_string();
    let mut start = 0;
    while start < b.len() {
        let first = spaces(start);
        let found = version_end(b, first).and_then(|first_end| {
            let dash = spaces(first_end);
            let second = spaces(dash + 1);
            let ranged = dash > first_end && b.get(dash) == Some(&b'-') && second > dash + 1;
            let second_end = version_end(b, second).filter(|_| ranged)?;
            Some((&text[first..first_end], &text[second..second_end], spaces(second_end)))
        });
        match found {
            Some((low, high, end)) => {
                rewritten = rewritten.replacen(&text[start..end], &format!(">= {low}, <= {high} "), 1);
                start = end;
            }
            None => start += 1,
        }
    }
    rewritten
}

/// Where Masterminds' version pattern, taken greedily from `i`, ends; None if it does not
/// match there.
fn version_end(b: &[u8], mut i: usize) -> Option<usize> {
    let run = |i: usize, part: fn(u8) -> bool| b[i.min(b.len())..].iter().take_while(|c| part(**c)).count();
    let number = |c: u8| c.is_ascii_digit() || matches!(c, b'x' | b'X' | b'*' | b'|');
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'-';
    if b.get(i) == Some(&b'v') {
        i += 1;
    }
    let n = run(i, number);
    if n == 0 {
        return None;
    }
    i += n;
    for _ in 0..2 {
        match run(i + 1, number) {
            n if b.get(i) == Some(&b'.') && n > 0 => i += 1 + n,
            _ => break,
        }
    }
    for lead in [b'-', b'+'] {
        if b.get(i) == Some(&lead) && run(i + 1, ident) > 0 {
            i += 1 + run(i + 1, ident);
            while b.get(i) == Some(&b'.') && run(i + 1, ident) > 0 {
                i += 1 + run(i + 1, ident);
            }
        }
    }
    Some(i)
}

/// One alternative: constraints separated by spaces or `, `.
fn parse_alternative(text: &str) -> Result<Alternative, String> {
    let mut rest = text.trim_start_matches(is_space);
    if rest.is_empty() {
        return Err("an empty constraint (before or after `||`)".to_string());
    }
    let mut all = Vec::new();
    loop {
        let (bound, after) = parse_bound(rest)?;
        all.push(bound);
        let next = after.trim_start_matches(is_space);
        if next.is_empty() {
            break;
        }
        if let Some(after_comma) = next.strip_prefix(',') {
            rest = after_comma.trim_start_matches(is_space);
            if rest.is_empty() {
                return Err("nothing follows the last comma".to_string());
            }
        } else if next.len() < after.len() {
            rest = next;
        } else {
            let bad: String = next.chars().take_while(|c| !is_space(*c)).collect();
            return Err(if next.starts_with(|c| "<>=!~^".contains(c)) {
                format!("{bad:?} must be separated from what precedes it by a space or a comma")
            } else {
                format!("{bad:?} is not a version or an operator")
            });
        }
    }
    let names_prerelease = all.iter().any(|b| b.version.is_prerelease());
    Ok(Alternative { all, names_prerelease })
}

/// Reads an operator, optional spaces, and a version; returns what follows.
fn parse_bound(text: &str) -> Result<(Bound, &str), String> {
    let (symbol, op) = *OPERATORS.iter().find(|(symbol, _)| text.starts_with(symbol)).expect("\"\" always matches");
    let after_op = text[symbol.len()..].trim_start_matches(is_space);
    let end = after_op.find(|c: char| !is_version_char(c)).unwrap_or(after_op.len());
    let (written, rest) = after_op.split_at(end);
    let whole = &text[..text.len() - rest.len()];
    if written.is_empty() {
        let found: String = after_op.chars().take_while(|c| !is_space(*c)).collect();
        return Err(if found.is_empty() {
            format!("{:?} is not followed by a version", whole.trim_end_matches(is_space))
        } else {
            format!("{found:?} is not a version")
        });
    }
    let (version, wild) = parse_version(written).map_err(|why| format!("{written:?} {why}"))?;
    Ok((Bound { op, version, wild }, rest))
}

/// A version with up to three parts, any of which may be a wildcard (`x`, `X`, `*`);
/// a wildcard or a missing part leaves every later part open.
fn parse_version(written: &str) -> Result<(Version, Wild), String> {
    let not_version =
        || "is not a version (MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], parts may be x or *)".to_string();
    let bare = written.strip_prefix('v').unwrap_or(written);
    let numbers = bare.split(['-', '+']).next().unwrap_or_default();
    let suffix = &bare[numbers.len()..];
    let parts: Vec<&str> = numbers.split('.').collect();
    let wildcard = |p: &str| matches!(p, "x" | "X" | "*");
    if parts.len() > 3 || parts.iter().any(|p| !wildcard(p) && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(not_version());
    }
    let open = parts.iter().position(|p| wildcard(p)).unwrap_or(parts.len());
    let wild = match open {
        0 => Wild::Major,
        1 => Wild::Minor,
        2 => Wild::Patch,
        _ => Wild::None,
    };
    if wild == Wild::None {
        return Ok((Version::parse(written).map_err(|_| not_version())?, wild));
    }
    // The open parts count as 0; a prerelease stays, build metadata goes.
    let pre = suffix.split('+').next().unwrap_or_default();
    let fixed: Vec<&str> = parts[..open].to_vec();
    let core = [fixed.first().copied().unwrap_or("0"), fixed.get(1).copied().unwrap_or("0"), "0"].join(".");
    let version = Version::parse(&format!("{core}{pre}")).map_err(|_| not_version())?;
    Ok((version, wild))
}

impl Bound {
    /// Masterminds' check for one operator; prereleases were dealt with by the caller.
    fn admits(&self, v: &Version) -> bool {
        let c = &self.version;
        let (dirty, minor_open, patch_open) =
            (self.wild != Wild::None, self.wild == Wild::Minor, self.wild == Wild::Patch);
        match self.op {
            Op::NotEqual => {
                if dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if minor_open {
                        return false;
                    }
                    if c.minor != v.minor {
                        return true;
                    }
                    if patch_open {
                        return !same_prerelease(v, c);
                    }
                }
                v != c
            }
            Op::Greater => {
                if !dirty {
                    return v > c;
                }
                match v.major.cmp(&c.major) {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if minor_open => false,
                    Ordering::Equal if patch_open => v.minor > c.minor,
                    Ordering::Equal => v > c,
                }
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !dirty {
                    return v <= c;
                }
                !(v.major > c.major || v.major == c.major && v.minor > c.minor && !minor_open)
            }
            Op::Tilde => tilde(v, c, minor_open, patch_open),
            Op::Equal if dirty => tilde(v, c, minor_open, patch_open),
            Op::Equal => v == c,
            Op::Caret => {
                if v < c {
                    false
                } else if c.major > 0 || minor_open {
                    v.major == c.major
                } else if v.major > 0 {
                    false
                } else if c.minor > 0 || patch_open {
                    v.minor == c.minor
                } else {
                    v.minor == 0 && v.patch == c.patch
                }
            }
        }
    }
}

/// `~`: at least the version, with the same major, and the same minor unless that is open;
/// `~0.0.0` (and `~*`) admit anything.
fn tilde(v: &Version, c: &Version, minor_open: bool, patch_open: bool) -> bool {
    if v < c {
        return false;
    }
    if (c.major, c.minor, c.patch) == (0, 0, 0) && !minor_open && !patch_open {
        return true;
    }
    v.major == c.major && (minor_open || v.minor == c.minor)
}

fn same_prerelease(a: &Version, b: &Version) -> bool {
    let strip = |v: &Version| Version { build: String::new(), major: 0, minor: 0, patch: 0, pre: v.pre.clone() };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Masterminds' own test vectors (constraints_test.go), as facts: `single`, `stable` and
    /// `devel` rows are a constraint, a version and whether it satisfies the constraint
    /// (`devel` with prereleases asked for); `parse` rows give the number of alternatives
    /// and of constraints in the first one, or `error`.
    const MASTERMINDS: &str = include_str!("masterminds.tsv");

    #[test]
    fn agrees_with_masterminds_vectors() {
        let mut failures = Vec::new();
        let mut rows = 0;
        for line in MASTERMINDS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            rows += 1;
            let cols: Vec<&str> = line.split('\t').collect();
            let (kind, constraint, second, expected) = (cols[0], cols[1], cols[2], cols[3]);
            let parsed = Constraint::parse(constraint);
            if kind == "parse" {
                let got = match &parsed {
                    Ok(c) => format!("{} {}", c.alternatives.len(), c.alternatives[0].all.len()),
                    Err(_) => "error".to_string(),
                };
                if got != second {
                    failures.push(format!("parse {constraint:?}: {got}, expected {second} ({parsed:?})"));
                }
                continue;
            }
            let c = match parsed {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{constraint:?}: {e}"));
                    continue;
                }
            };
            let got = c.matches(&v(second), kind == "devel");
            if got.to_string() != expected {
                failures.push(format!("{kind} {constraint:?} on {second}: {got}, expected {expected}"));
            }
        }
        assert!(rows > 350, "the table was read: {rows} rows");
        assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn the_issue_forms() {
        for (constraint, yes, no) in [
            (">=1.0 <2.0", &["1.0.0", "1.9.9"][..], &["0.9.9", "2.0.0", "1.5.0-rc.1"][..]),
            (">=1.0, <2.0", &["1.0.0", "1.9.9"], &["2.0.0"]),
            ("^1.2", &["1.2.0", "1.9.0"], &["1.1.9", "2.0.0"]),
            ("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]),
            ("~1", &["1.0.0", "1.9.0"], &["2.0.0", "0.9.0"]),
            ("1.2.x", &["1.2.0", "1.2.7"], &["1.3.0", "1.1.0"]),
            ("1.2.*", &["1.2.7"], &["1.3.0"]),
            ("1.2 - 1.4", &["1.2.0", "1.4.9"], &["1.1.9", "1.5.0"]),
            (">=1.0, 1.2 - 1.4", &["1.3.0"], &["1.5.0"]),
            ("1.2 - 1.4 <1.3", &["1.2.9"], &["1.3.0"]),
            // Masterminds' version pattern takes `|` in: `>= 2||1.2, <= 1.4`, so `>=2 || 1.2.x`.
            ("2||1.2 - 1.4", &["10.0.0", "1.2.5"], &["1.3.0"]),
            ("^1 || ^2", &["1.0.0", "2.5.0"], &["3.0.0", "0.9.0"]),
            ("!=1.2.3", &["1.2.4", "1.2.2"], &["1.2.3"]),
            ("1.2.3", &["1.2.3", "1.2.3+build.1"], &["1.2.4"]),
            ("v1.2.3", &["1.2.3"], &["1.2.4"]),
            ("*", &["0.0.1", "9.9.9"], &["1.0.0-rc.1"]),
            (">=1.0.0-rc.1", &["1.0.0-rc.2", "1.0.0", "2.0.0-alpha"], &["1.0.0-beta"]),
        ] {
            let c = Constraint::parse(constraint).unwrap_or_else(|e| panic!("{e}"));
            for good in yes {
                assert!(c.matches(&v(good), false), "{constraint} admits {good}");
            }
            for bad in no {
                assert!(!c.matches(&v(bad), false), "{constraint} refuses {bad}");
            }
        }
        let devel = Wanted::from_flags(None, None, None, true).unwrap();
        assert!(devel.admits(&v("1.0.0-rc.1")), "--devel lets prereleases in");
        let tags = ["1.0.0", "1.1.0-rc.1", "v2.0.0-beta", "latest"].map(String::from);
        assert_eq!(Wanted::default().prereleases_left_out(&tags), 2);
        assert_eq!(Wanted::from_flags(Some("^1"), None, None, false).unwrap().prereleases_left_out(&tags), 1);
        assert_eq!(devel.prereleases_left_out(&tags), 0);
        assert!(!Wanted::from_flags(None, None, None, false).unwrap().admits(&v("1.0.0-rc.1")));
        let named = Wanted::from_flags(Some("^1"), Some("1.0.0-rc.1"), None, false).unwrap();
        assert!(named.admits(&v("1.1.0-rc.1")), "a bound that names a prerelease lets them in");
        let bounds = Wanted::from_flags(None, Some("1.0"), Some("2.1"), false).unwrap();
        for (version, admitted) in
            [("0.9.9", false), ("1.0.0", true), ("2.1.0", true), ("2.1.7", true), ("2.2.0", false)]
        {
            assert_eq!(bounds.admits(&v(version)), admitted, "--version-from 1.0 --version-to 2.1 on {version}");
        }
        assert!(Wanted::from_flags(None, Some(">1"), None, false).unwrap_err().contains("--version-from"));
        assert!(Wanted::from_flags(None, None, Some("1||9"), false).unwrap_err().contains("--version-to"));
        let joined = Wanted::from_flags(Some("^1 || ^3"), None, Some("3.2"), false).unwrap();
        for (version, admitted) in
            [("1.5.0", true), ("3.1.0", true), ("3.2.9", true), ("3.3.0", false), ("2.0.0", false)]
        {
            assert_eq!(joined.admits(&v(version)), admitted, "^1 || ^3 up to 3.2 on {version}");
        }
        let one_names_a_prerelease = Wanted::from_flags(Some("^2.0.0-0 || ^3.0.0"), None, None, false).unwrap();
        assert!(one_names_a_prerelease.admits(&v("2.0.0-beta.1")));
        assert!(!one_names_a_prerelease.admits(&v("3.1.0-alpha.1")), "only in the alternative that names one");
    }

    #[test]
    fn the_newest_is_no_floating_tag_unless_no_other_is_wanted() {
        let newest = |constraint: &str, tags: &[&str]| {
            let wanted = Wanted::from_flags(Some(constraint), None, None, false).unwrap();
            wanted.newest(tags.iter().map(|t| t.to_string()).collect())
        };
        let floated = ["1", "1.4", "1.0.0", "1.4.2", "latest"];
        assert_eq!(newest("1.0.x", &floated).as_deref(), Some("1.0.0"));
        assert_eq!(newest("<1.4.1", &floated).as_deref(), Some("1.0.0"));
        assert_eq!(newest("*", &floated).as_deref(), Some("1.4.2"));
        // A chart whose version is `1.2`, beside a later 1.2.1.
        assert_eq!(newest("<1.2.1", &["1.2", "1.2.1"]).as_deref(), Some("1.2"));
        assert_eq!(newest(">2", &floated), None);
    }

    #[test]
    fn of_equal_versions_a_floating_tag_comes_last() {
        let wanted = Wanted::from_flags(None, None, None, false).unwrap();
        let picked = wanted.pick(["2", "2.0.0", "1.0.0", "v2.0.0"].map(String::from));
        let tags: Vec<&str> = picked.iter().map(|(_, tag)| tag.as_str()).collect();
        // `2` reads as 2.0.0 and sorts first by name; the chart behind it may be another.
        assert_eq!(tags, ["2.0.0", "v2.0.0", "2", "1.0.0"]);
    }

    #[test]
    fn errors_point_at_the_bad_part() {
        for (bad, named) in [
            (">= bar", "\"bar\""),
            ("BAR >= 1.2.3", "\"BAR\""),
            ("1.2 ||", "empty"),
            ("", "empty"),
            ("12.3.4.1234", "\"12.3.4.1234\""),
            ("12.3.34~ 1.2.3", "\"~"),
            (">=1.0,", "comma"),
            (">=", "\">=\""),
            ("1.2.3 - >2", "\"-\""),
            // Helm's rewrite takes the space before a range, which then follows `>=1.0` bare.
            (">=1.0 1.2 - 1.4", r#"(read as ">=1.0>= 1.2, <= 1.4 ", as Helm rewrites `A - B` ranges)"#),
            ("1.0 - 2.0||3.0 - 4.0", "\"-\""),
            ("1.2.3-01", "\"1.2.3-01\""),
        ] {
            let e = Constraint::parse(bad).expect_err(bad);
            assert!(e.contains(named), "{bad:?}: {e}");
        }
    }
}
