//! Registry references, parsed once at the edge: `oci://host[:port]/path[:tag][@digest]`
//! and the bare `host/path:tag` form of the Helm 3 registry proposals.

use crate::digest;
use crate::error::{Error, Result};
use std::fmt;

/// A parsed reference; `endpoint` is where the registry API is actually served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub registry: String,
    pub endpoint: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Parses `oci://host/path[:tag|@digest]`, or the same without `oci://`.
pub fn parse(input: &str) -> Result<Ref> {
    parse_or_root(input, false)
}

/// Parses where a chart is pushed: what `parse` takes, or `oci://host` alone, the
/// registry's root (an empty repository), as Helm joins the chart's name onto it.
pub fn parse_destination(input: &str) -> Result<Ref> {
    parse_or_root(input, true)
}

fn parse_or_root(input: &str, root: bool) -> Result<Ref> {
    // Before any message repeats the input.
    let after_scheme = input.split_once("://").map_or(input, |(_, rest)| rest);
    no_credentials(after_scheme.split('/').next().unwrap_or_default(), "reference")?;
    let bad = |why: &str| Error::invalid_reference(format!("invalid reference {input:?}"), why);
    let (explicit_host, rest) = match input.split_once("://") {
        Some(("oci", rest)) => (true, rest),
        Some((scheme, _)) => return Err(bad(&format!("scheme {scheme:?} is not supported; use oci://"))),
        None => (false, input),
    };
    if rest.is_empty() {
        return Err(bad("it is empty"));
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains white space"));
    }
    let (first, path) = match rest.split_once('/') {
        Some((first, path)) => (first, Some(path)),
        None => (rest, None),
    };
    // Docker's rule: a bare first component is a host only if a path follows and it looks like one.
    let looks_like_host = first.contains(['.', ':']) || first == "localhost" || first.starts_with('[');
    let first_is_host = explicit_host || (path.is_some() && looks_like_host);
    let (registry, path) = match (first_is_host, path) {
        (true, Some(path)) => (first.to_string(), path.to_string()),
        (true, None) if root => (first.to_string(), String::new()),
        (true, None) => return Err(bad("a repository path is needed after the host")),
        (false, Some(_)) => (DOCKER_HUB.to_string(), rest.to_string()),
        // Docker reads `127.0.0.1:5000` as Docker Hub's `library/127.0.0.1` at tag 5000; a
        // user who writes that means the registry, and forgot the chart's path.
        (false, None) if is_host_and_port(rest) => {
            let meant = if root { format!("oci://{rest}") } else { format!("oci://{rest}/PATH/CHART") };
            return Err(bad(&format!("it names a registry alone; write {meant}")));
        }
        (false, None) => (DOCKER_HUB.to_string(), format!("library/{rest}")),
    };
    validate_host(&registry).map_err(|why| bad(&why))?;

    let (path, digest) = match path.split_once('@') {
        Some((p, d)) => {
            if !digest::is_valid(d) {
                return Err(bad(&format!("digest {d:?} is not {}", digest::SHAPE)));
            }
            (p.to_string(), Some(d.to_string()))
        }
        None => (path, None),
    };
    let last_slash = path.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match path[last_slash..].find(':') {
        Some(i) => {
            let tag = normalise_tag(&path[last_slash + i + 1..]);
            validate_tag(&tag).map_err(|why| bad(&why))?;
            (path[..last_slash + i].to_string(), Some(tag))
        }
        None => (path, None),
    };
    if !(root && repository.is_empty()) {
        validate_repository(&repository).map_err(|why| bad(&why))?;
    }
    let endpoint = api_host(&registry);
    Ok(Ref { registry, endpoint, repository, tag, digest })
}

/// Whether `text` reads as `host:port` (a host with a dot, `localhost`, or an IPv6 address).
fn is_host_and_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (host.contains('.') || host == "localhost" || host.starts_with('['))
    })
}

/// The host:port serving a registry's API, for a registry named on its own (as `login` takes it).
pub fn endpoint(registry: &str) -> Result<String> {
    no_credentials(registry, "registry")?;
    validate_host(registry).map_err(|why| Error::invalid_reference(format!("invalid registry {registry:?}"), why))?;
    Ok(api_host(registry))
}

/// Refuses `user:password@` before a host, without repeating it: it would print the
/// password in every message that names the host.
fn no_credentials(authority: &str, what: &str) -> Result<()> {
    if !authority.contains('@') {
        return Ok(());
    }
    Err(Error::invalid_reference(
        format!("invalid {what}"),
        "it holds credentials before the host; give them with --username and --password, or `helm oci login`",
    ))
}

fn api_host(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" => DOCKER_HUB_API.to_string(),
        other => other.to_string(),
    }
}

/// Tags cannot hold `+`, so Helm stores a chart version's build metadata with `_`.
pub fn normalise_tag(version: &str) -> String {
    version.replace('+', "_")
}

fn validate_host(host: &str) -> Result<(), String> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("IPv6 host is missing ']'")?;
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(format!("host [{addr}] is not an IPv6 address"));
        }
        match after {
            "" => ("v6", None),
            p => ("v6", Some(p.strip_prefix(':').ok_or("unexpected text after ']'")?)),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.is_empty() || !name.split('.').all(label_ok) {
        return Err(format!("host {host:?} is not a valid host name"));
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return Err(format!("port {port:?} is not a number from 1 to 65535"));
    }
    Ok(())
}

/// Repository components per the distribution spec: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository path is empty".into());
    }
    for component in repository.split('/') {
        if !is_path_component(component) {
            return Err(format!(
                "repository component {component:?} must be lowercase letters and digits, \
                 separated by '.', '_', '__' or '-'"
            ));
        }
    }
    if repository.len() > 255 {
        return Err("the repository path is longer than 255 characters".into());
    }
    Ok(())
}

/// Whether `c` may be one `/`-separated part of a repository name, as the distribution
/// spec's grammar says: lower-case alphanumerics joined by `.`, `_`, `__` or dashes.
pub fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// Tags per the distribution spec: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`. Checked before a tag
/// goes into a request path.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok { Ok(()) } else { Err(format!("tag {tag:?} is not a valid tag")) }
}

impl Ref {
    /// A reference already split into its parts (as the WIT `reference` record carries it),
    /// held to the same rules as a parsed one. The endpoint is derived here, not taken.
    pub fn from_parts(registry: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Result<Ref> {
        let bad = |why: String| Error::invalid_reference(format!("invalid reference to {registry}/{repository}"), why);
        validate_host(registry).map_err(bad)?;
        validate_repository(repository).map_err(bad)?;
        if let Some(tag) = tag {
            validate_tag(tag).map_err(bad)?;
        }
        if let Some(d) = digest.filter(|d| !digest::is_valid(d)) {
            return Err(bad(format!("digest {d:?} is not {}", digest::SHAPE)));
        }
        Ok(Ref {
            registry: registry.to_string(),
            endpoint: api_host(registry),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// A registry's root, where a chart goes to `<name>` (see `parse_destination`).
    pub fn root(registry: &str) -> Result<Ref> {
        let endpoint = endpoint(registry)?;
        Ok(Ref { registry: registry.to_string(), endpoint, repository: String::new(), tag: None, digest: None })
    }

    /// The same repository at another tag.
    pub fn with_tag(&self, tag: &str) -> Ref {
        Ref { tag: Some(tag.to_string()), digest: None, ..self.clone() }
    }

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn manifest_ref(&self) -> Option<&str> {
        self.digest.as_deref().or(self.tag.as_deref())
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Ref {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Err(e) if e.kind == crate::error::Kind::InvalidReference => e.to_string(),
            other => panic!("{s}: expected an invalid-reference error, got {other:?}"),
        }
    }

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn oci_references() {
        let r = ok("oci://localhost:5000/charts/app:1.2.3");
        assert_eq!((r.registry.as_str(), r.endpoint.as_str()), ("localhost:5000", "localhost:5000"));
        assert_eq!(r.repository, "charts/app");
        assert_eq!(r.tag.as_deref(), Some("1.2.3"));
        assert_eq!(r.to_string(), "localhost:5000/charts/app:1.2.3");

        let r = ok(&format!("oci://reg.example.com/app@{D}"));
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.tag, None);

        let r = ok(&format!("oci://reg.example.com/app:1.0.0@{D}"));
        assert_eq!(r.manifest_ref(), Some(D));

        let r = ok("oci://[::1]:5000/ns/app");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.tag, None);
    }

    #[test]
    fn build_metadata_is_stored_with_underscore() {
        assert_eq!(ok("oci://h.io/app:1.0.0+build.1").tag.as_deref(), Some("1.0.0_build.1"));
    }

    #[test]
    fn bare_references_and_docker_hub() {
        let r = ok("localhost:5000/myrepo/mychart:latest");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.tag.as_deref(), Some("latest"));

        let r = ok("someuser/chart:1.0.0");
        assert_eq!((r.registry.as_str(), r.endpoint.as_str()), ("docker.io", "registry-1.docker.io"));
        assert_eq!(r.repository, "someuser/chart");

        assert_eq!(ok("chart:1.0.0").repository, "library/chart");
        // A registry alone is no Docker Hub chart.
        for registry in ["127.0.0.1:5000", "localhost:5000", "reg.example.com:443", "[::1]:5000"] {
            let why = parse(registry).unwrap_err().cause;
            assert_eq!(why, format!("it names a registry alone; write oci://{registry}/PATH/CHART"));
            let why = parse_destination(registry).unwrap_err().cause;
            assert_eq!(why, format!("it names a registry alone; write oci://{registry}"));
        }
        assert_eq!(ok("nginx:5000").repository, "library/nginx");
        assert_eq!(ok("oci://docker.io/u/c").endpoint, "registry-1.docker.io");
        assert_eq!(ok("oci://index.docker.io/u/c").endpoint, "registry-1.docker.io");
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        assert!(err("").contains("empty"));
        assert!(err("oci://").contains("empty"));
        assert!(err("https://h.io/app").contains("oci://"));
        assert!(err("oci://localhost:5000").contains("repository path"));
        assert!(err("oci://localhost:99999/app").contains("port"));
        assert!(err("oci://h.io/App").contains("lowercase"));
        assert!(err("oci://h.io/a//b").contains("component"));
        assert!(err("oci://h.io/app:-bad").contains("tag"));
        assert!(err("oci://h.io/app@sha256:xyz").contains("digest"));
        assert!(err("oci://h.io/app name").contains("white space"));
        assert!(err("oci://bad_host/app").contains("host"));
        for with_password in [
            "oci://user:s3cret@h.io/app",
            "user:s3cret@h.io/app:1.0.0",
            "https://u:s3cret@h.io/a",
            "oci://u:s3 cret@h.io/a",
        ] {
            let said = err(with_password);
            assert!(said.contains("credentials") && !said.contains("s3cret"), "{said}");
        }
        let said = endpoint("user:s3cret@h.io").unwrap_err().to_string();
        assert!(said.contains("credentials") && !said.contains("s3cret"), "{said}");
    }

    #[test]
    fn parts_from_another_host_are_held_to_the_same_rules() {
        let r = Ref::from_parts("docker.io", "u/c", Some("1.0.0"), None).unwrap();
        assert_eq!((r.endpoint.as_str(), r.to_string().as_str()), ("registry-1.docker.io", "docker.io/u/c:1.0.0"));
        assert!(Ref::from_parts("h.io", "a/../b", None, None).is_err());
        assert!(Ref::from_parts("h.io", "a", Some("1.0.0/../../x"), None).is_err());
        assert!(Ref::from_parts("h.io", "a", None, Some("sha256:../x")).is_err());
        assert!(Ref::from_parts("bad host", "a", None, None).is_err());
    }

    #[test]
    fn path_components() {
        for good in ["a", "a.b", "a_b", "a__b", "a---b", "0x"] {
            assert!(is_path_component(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a___b", "a._b", "A"] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }
}
