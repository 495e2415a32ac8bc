//! Absolute http(s) URLs as registries hand them out, and `Location` resolution.

use std::fmt;

/// An absolute http(s) URL split the way wasi:http and the host's policy want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// `host[:port]`, as written (compare it case-insensitively).
    pub authority: String,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    pub fn new(https: bool, authority: &str, path: &str) -> Url {
        Url { https, authority: authority.to_string(), path: path.to_string() }
    }

    /// Parses an absolute `http://` or `https://` URL; None for anything else.
    pub fn parse(url: &str) -> Option<Url> {
        let (scheme, rest) = url.split_once("://")?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains(['@', ' ']) {
            return None;
        }
        Some(Url { https, authority: authority.to_string(), path: strip_fragment(path) })
    }

    /// Resolves a `Location` (absolute, scheme-relative `//host/path`, absolute path or
    /// relative path) against this URL, the way browsers do. None if it is unusable.
    pub fn join(&self, location: &str) -> Option<Url> {
        let location = location.trim();
        // An empty one is no redirect: Go's client hands such an answer back as it is.
        if location.is_empty() {
            return None;
        }
        let joined = if has_scheme(location) {
            Url::parse(location)?
        } else if let Some(rest) = location.strip_prefix("//") {
            Url::parse(&format!("{}://{rest}", if self.https { "https" } else { "http" }))?
        } else {
            self.join_path(location)
        };
        Some(Url { path: without_dot_segments(&joined.path), ..joined })
    }

    /// A location on this URL's own host.
    fn join_path(&self, location: &str) -> Url {
        let path = if location.starts_with('/') {
            location.to_string()
        } else if let Some(query) = location.strip_prefix('?') {
            format!("{}?{query}", self.path_only())
        } else {
            let base = self.path_only();
            format!("{}{location}", &base[..base.rfind('/').map_or(0, |i| i + 1)])
        };
        Url { path: strip_fragment(path), ..self.clone() }
    }

    /// The path without its query.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("/")
    }

    /// Appends query parameters, keeping any the URL already has.
    pub fn with_query(&self, params: &[(&str, &str)]) -> Url {
        let mut path = self.path.clone();
        for (k, v) in params {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("{k}={}", encode_query(v)));
        }
        Url { path, ..self.clone() }
    }

    /// Whether this URL is on the given `host[:port]`: names compare case-insensitively, and
    /// the scheme's default port written out is the same endpoint as none (registries
    /// hand out upload locations either way; oras-go, and so Helm, takes both).
    pub fn is_on(&self, authority: &str) -> bool {
        let default = if self.https { ":443" } else { ":80" };
        let bare = |a: &'_ str| a.strip_suffix(default).unwrap_or(a).to_string();
        bare(&self.authority).eq_ignore_ascii_case(&bare(authority))
    }
}

/// Whether a reference starts with a scheme (RFC 3986 §3.1: a letter, then letters, digits,
/// `+`, `-` or `.`, up to a `:`), as Go's URL parser reads one: a `://` in the query of a
/// relative location (`/v2/...?next=https://cdn`) is no scheme.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else { return false };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The path with its `.` and `..` segments resolved (RFC 3986 §5.2.4), as browsers and Go's
/// client resolve them; the query is left as it is.
fn without_dot_segments(path: &str) -> String {
    let (path, query) = path.split_at(path.find('?').unwrap_or(path.len()));
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            other => {
                kept.push(other);
                continue;
            }
        }
        // `/a/b/..` is `/a/`: a dot segment at the end leaves the directory.
        if last {
            kept.push("");
        }
    }
    format!("/{}{query}", kept.join("/"))
}

/// A fragment is the client's business and never goes on the wire.
fn strip_fragment(mut path: String) -> String {
    if let Some(i) = path.find('#') {
        path.truncate(i);
    }
    path
}

/// Shown without its query, which may carry upload state or signed storage parameters.
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.path.split_once('?') {
            Some((path, _)) => write!(f, "{scheme}://{}{path}?…", self.authority),
            None => write!(f, "{scheme}://{}{}", self.authority, self.path),
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn encode_query(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={}", encode_query(v))).collect::<Vec<_>>().join("&")
}

/// Undoes percent-encoding; a `%` not followed by two hex digits stays as it is.
pub fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = Url::new(false, "reg:5000", "/v2/a/blobs/uploads/");
        let join = |l: &str| base.join(l).unwrap();
        assert_eq!(
            join("/v2/a/blobs/uploads/x?_state=1"),
            Url::new(false, "reg:5000", "/v2/a/blobs/uploads/x?_state=1")
        );
        assert_eq!(join("https://cdn.io/b?sig=1"), Url::new(true, "cdn.io", "/b?sig=1"));
        assert_eq!(join("HTTP://cdn.io?x"), Url::new(false, "cdn.io", "/?x"));
        assert_eq!(join("//other:1/p"), Url::new(false, "other:1", "/p"));
        assert_eq!(join("x"), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/x"));
        assert_eq!(join("?n=1"), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/?n=1"));
        assert_eq!(join("/p#frag"), Url::new(false, "reg:5000", "/p"));
        assert_eq!(join("../../../../v2/b/x"), Url::new(false, "reg:5000", "/v2/b/x"));
        assert_eq!(join("./x/../y?q=/../z"), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/y?q=/../z"));
        assert_eq!(join(".."), Url::new(false, "reg:5000", "/v2/a/blobs/"));
        assert_eq!(join("https://cdn.io/a/./b/../c"), Url::new(true, "cdn.io", "/a/c"));
        // A `://` in the query of a relative location is no scheme.
        assert_eq!(join("/v2/b?next=https://cdn.io/x"), Url::new(false, "reg:5000", "/v2/b?next=https://cdn.io/x"));
        assert_eq!(join("x?u=http://y"), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/x?u=http://y"));
        assert_eq!(join("//other:1/p?u=https://x"), Url::new(false, "other:1", "/p?u=https://x"));
        assert_eq!(join("https://cdn.io/b?next=http://x"), Url::new(true, "cdn.io", "/b?next=http://x"));
        assert!(base.join(" ").is_none());
        assert!(base.join("ftp://x/y").is_none());
        assert!(base.join("https:///nohost").is_none());
        assert!(base.join("https://user@evil/x").is_none());
    }

    #[test]
    fn the_schemes_default_port_is_the_same_endpoint_as_none() {
        assert!(Url::new(true, "Reg.io", "/").is_on("reg.io:443"));
        assert!(Url::new(true, "reg.io:443", "/").is_on("REG.IO"));
        assert!(Url::new(false, "reg.io:80", "/").is_on("reg.io"));
        assert!(Url::new(true, "[::1]:443", "/").is_on("[::1]"));
        assert!(!Url::new(true, "reg.io", "/").is_on("reg.io:80"));
        assert!(!Url::new(false, "reg.io:443", "/").is_on("reg.io"));
        assert!(!Url::new(true, "reg.io:8443", "/").is_on("reg.io"));
        assert!(!Url::new(true, "reg.io", "/").is_on("reg.io:4443"));
    }

    #[test]
    fn display_hides_the_query() {
        assert_eq!(Url::new(true, "h", "/b?sig=secret").to_string(), "https://h/b?…");
        assert_eq!(Url::new(false, "h:1", "/b").to_string(), "http://h:1/b");
    }

    #[test]
    fn query_values_round_trip() {
        assert_eq!(percent_decode(&encode_query("lib/b c:1")), "lib/b c:1");
        assert_eq!(percent_decode("p%40ss+%zz"), "p@ss+%zz");
        assert_eq!(form(&[("a", "x y"), ("b", "1")]), "a=x%20y&b=1");
    }

    #[test]
    fn adds_query_parameters() {
        let u = Url::new(true, "h", "/up?_state=a").with_query(&[("digest", "sha256:ab")]);
        assert_eq!(u.path, "/up?_state=a&digest=sha256%3Aab");
        assert_eq!(Url::new(true, "h", "/t").with_query(&[("n", "5")]).path, "/t?n=5");
    }
}
