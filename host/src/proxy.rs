//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, read as Go's net/http reads them, so
//! helm-oci goes where Helm would: upper case wins over lower case, a value without a
//! scheme is an http:// proxy, and loopback hosts are never proxied.

use base64::Engine as _;
use std::env;

/// Where to send a request instead of its host.
#[derive(Debug, PartialEq)]
pub struct Proxy {
    /// host:port of the proxy.
    pub authority: String,
    /// `Basic …` for a proxy URL with user info.
    pub authorization: Option<String>,
}

#[derive(Default)]
pub struct Proxies {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Vec<String>,
}

fn var(upper: &str) -> Option<String> {
    [upper.to_string(), upper.to_ascii_lowercase()]
        .iter()
        .find_map(|name| env::var(name).ok().filter(|v| !v.is_empty()))
}

impl Proxies {
    pub fn from_env() -> Proxies {
        Proxies::new(var("HTTPS_PROXY"), var("HTTP_PROXY"), var("NO_PROXY").as_deref().unwrap_or(""))
    }

    fn new(https: Option<String>, http: Option<String>, no_proxy: &str) -> Proxies {
        let no_proxy = no_proxy
            .split([',', ' '])
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Proxies { https, http, no_proxy }
    }

    /// The proxy for a request to `host:port`, if any.
    pub fn for_target(&self, https: bool, host: &str, port: u16) -> Option<Proxy> {
        let url = if https { self.https.as_deref() } else { self.http.as_deref() }?;
        if is_loopback(host) || self.excluded(&host.to_ascii_lowercase(), port) {
            return None;
        }
        parse(url)
    }

    fn excluded(&self, host: &str, port: u16) -> bool {
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            // An entry may name a port; then only that port is excluded.
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name.trim_matches(['[', ']']);
            // "example.com" and ".example.com" both cover the domain's subdomains.
            let domain = name.trim_start_matches('.');
            host == domain || host.ends_with(&format!(".{domain}"))
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse(url: &str) -> Option<Proxy> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        // TLS to the proxy itself is not supported; such a proxy is ignored rather than misused.
        Some(_) => return None,
        None => url,
    };
    let rest = rest.split('/').next().unwrap_or_default();
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let authority = if hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']'))) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let authorization = userinfo.map(|u| {
        let decoded = percent_decode(u);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded))
    });
    Some(Proxy { authority, authorization })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(no_proxy: &str) -> Proxies {
        Proxies::new(Some("http://u:p%40ss@proxy.corp:3128".into()), Some("proxy.corp".into()), no_proxy)
    }

    #[test]
    fn picks_the_proxy_by_scheme() {
        let p = proxies("");
        let https = p.for_target(true, "ghcr.io", 443).unwrap();
        assert_eq!(https.authority, "proxy.corp:3128");
        assert_eq!(https.authorization.as_deref(), Some("Basic dTpwQHNz"));
        assert_eq!(p.for_target(false, "ghcr.io", 80).unwrap(), Proxy { authority: "proxy.corp:80".into(), authorization: None });
        assert!(Proxies::new(None, None, "").for_target(true, "ghcr.io", 443).is_none());
    }

    #[test]
    fn never_proxies_loopback() {
        let p = proxies("");
        assert!(p.for_target(true, "localhost", 5000).is_none());
        assert!(p.for_target(true, "127.0.0.1", 5000).is_none());
        assert!(p.for_target(true, "::1", 5000).is_none());
    }

    #[test]
    fn no_proxy_matches_domains_ports_and_star() {
        let p = proxies("example.com, .corp.io,registry.local:5000");
        assert!(p.for_target(true, "example.com", 443).is_none());
        assert!(p.for_target(true, "charts.example.com", 443).is_none());
        assert!(p.for_target(true, "notexample.com", 443).is_some());
        assert!(p.for_target(true, "a.corp.io", 443).is_none());
        assert!(p.for_target(true, "registry.local", 5000).is_none());
        assert!(p.for_target(true, "registry.local", 443).is_some());
        assert!(proxies("*").for_target(true, "ghcr.io", 443).is_none());
    }
}
