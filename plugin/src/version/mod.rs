//! Chart versions as Helm reads them (Masterminds/semver): a lenient form for Chart.yaml,
//! `--version` and tags (`v1.2.3`, `1.2`, `1`, leading zeros coerced), semver precedence
//! for ordering, and (`constraint`) the ranges commands ask for.

mod constraint;

pub use constraint::{Constraint, Wanted};

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;

/// A parsed version.
#[derive(Debug, Clone)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated prerelease identifiers, empty for a release.
    pub pre: String,
    pub build: String,
}

impl Version {
    /// Helm's `semver.NewVersion`: an optional `v`, one to three numbers (leading zeros
    /// allowed and dropped), then an optional prerelease and build metadata.
    pub fn parse(text: &str) -> Result<Version, String> {
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match rest.split_once('+') {
            Some((r, b)) => (r, b),
            None => (rest, ""),
        };
        let (numbers, pre) = match rest.split_once('-') {
            Some((n, p)) => (n, p),
            None => (rest, ""),
        };
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("{text:?} is not a version (MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD])"));
        }
        let number = |i: usize| -> Result<u64, String> {
            parts.get(i).map_or(Ok(0), |p| p.parse().map_err(|_| format!("{text:?}: {p} is too large")))
        };
        if rest.contains('-') && pre.is_empty() || text.contains('+') && build.is_empty() {
            return Err(format!("{text:?} has an empty prerelease or build part"));
        }
        check_prerelease(pre).map_err(|why| format!("{text:?}: {why}"))?;
        check_build(build).map_err(|why| format!("{text:?}: {why}"))?;
        Ok(Version {
            major: number(0)?,
            minor: number(1)?,
            patch: number(2)?,
            pre: pre.to_string(),
            build: build.to_string(),
        })
    }

    /// The chart version a tag stands for, with `+` written `_` (OCI tags cannot hold `+`);
    /// None for `latest`, `sha256-….sig` and the like. Tags read as leniently as chart
    /// versions (`v1.2.3`, `1.2`): Helm's own listing takes strict semver only, and so never
    /// finds charts such as cert-manager's, whose versions and tags carry a `v`.
    pub fn of_tag(tag: &str) -> Option<Version> {
        Version::parse(&tag.replace('_', "+")).ok()
    }

    /// Whether the version has a pre-release part (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// The short tags among `tags` (`1`, `v1.2`: fewer than three numbers) that begin a release
/// tagged beside them (`1.2.3`): floating tags, as `helm oci tag` puts them, which read as
/// versions (`1.2.0`) the chart behind them is not. A short tag with no such release stays
/// a version: a chart may be version `1.2` (Helm packages it), and its tag is `1.2`.
pub fn floating(tags: &[String]) -> HashSet<&str> {
    let numbers = |tag: &str| -> Option<Vec<u64>> {
        tag.strip_prefix('v').unwrap_or(tag).split('.').map(|n| n.parse().ok()).collect()
    };
    let short = |tag: &str| numbers(tag).filter(|n| n.len() < 3);
    let mut begun: HashSet<Vec<u64>> = HashSet::new();
    for tag in tags.iter().filter(|t| short(t).is_none()) {
        if let Some(release) = Version::of_tag(tag).filter(|v| !v.is_prerelease()) {
            begun.insert(vec![release.major]);
            begun.insert(vec![release.major, release.minor]);
        }
    }
    tags.iter().map(String::as_str).filter(|t| short(t).is_some_and(|n| begun.contains(&n))).collect()
}

/// Prerelease identifiers: non-empty, `[0-9A-Za-z-]`, numeric ones without leading zeros.
fn check_prerelease(pre: &str) -> Result<(), String> {
    if pre.is_empty() {
        return Ok(());
    }
    for id in pre.split('.') {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("prerelease {pre:?} is not dot-separated [0-9A-Za-z-] identifiers"));
        }
        if id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("prerelease identifier {id:?} starts with 0"));
        }
    }
    Ok(())
}

/// Build metadata identifiers: non-empty, `[0-9A-Za-z-]`.
fn check_build(build: &str) -> Result<(), String> {
    if build.is_empty()
        || build.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        Ok(())
    } else {
        Err(format!("build metadata {build:?} is not dot-separated [0-9A-Za-z-] identifiers"))
    }
}

/// Semver precedence: numbers, then a release above its prereleases, then prerelease
/// identifiers one by one (numbers below words, more identifiers above fewer). Build
/// metadata does not count.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, without a `v`, as Masterminds prints it.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn short_tags_beside_a_release_they_begin_are_floating() {
        let tags: Vec<String> =
            ["1", "1.4", "v1.0", "1.0.0", "1.4.2", "2", "2.1", "2.1.0-rc.1", "3.0", "3.0.0_build.1", "latest"]
                .map(String::from)
                .into();
        let mut floating: Vec<&str> = floating(&tags).into_iter().collect();
        floating.sort();
        // `2` and `2.1` begin only a prerelease: they are versions of their own.
        assert_eq!(floating, ["1", "1.4", "3.0", "v1.0"]);
        let own: Vec<String> = ["1.2", "v2", "1.3.0"].map(String::from).into();
        assert!(super::floating(&own).is_empty(), "a chart may be version 1.2 or v2");
    }

    #[test]
    fn reads_what_helm_reads() {
        for (text, shown) in [
            ("1.2.3", "1.2.3"),
            ("v1.2.3", "1.2.3"),
            ("1.2", "1.2.0"),
            ("1", "1.0.0"),
            ("v2", "2.0.0"),
            ("01.02.03", "1.2.3"),
            ("1.2.3-rc.1+build.7", "1.2.3-rc.1+build.7"),
            ("1.0.0-alpha-1", "1.0.0-alpha-1"),
            ("1.0.0+20130313144700", "1.0.0+20130313144700"),
            ("1.2-beta", "1.2.0-beta"),
        ] {
            assert_eq!(v(text).to_string(), shown, "{text}");
        }
    }

    #[test]
    fn refuses_what_helm_refuses() {
        for bad in [
            "",
            "v",
            "1.2.3.4",
            "a.b.c",
            "1..2",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+b$",
            "1.2.3 ",
            " 1.2.3",
            "1.2.3-é",
            "99999999999999999999",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_are_versions_with_underscores_for_plus() {
        assert_eq!(Version::of_tag("1.2.3-rc.1_b.7").map(|v| v.to_string()).as_deref(), Some("1.2.3-rc.1+b.7"));
        assert_eq!(Version::of_tag("v1.14.0").map(|v| v.to_string()).as_deref(), Some("1.14.0"));
        for other in ["latest", "stable", "sha256-0a1b.sig", "1.2.3_"] {
            assert!(Version::of_tag(other).is_none(), "{other}");
        }
    }

    #[test]
    fn orders_by_semver_precedence() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0.0+a"), v("v1.0.0+b"));
    }
}
