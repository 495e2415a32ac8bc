//! `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, read exactly as Go's net/http (and so Helm)
//! reads them: upper case wins over lower case, a value without a scheme is an http://
//! proxy, loopback hosts are never proxied, and `NO_PROXY` holds `*`, IP addresses, CIDR
//! ranges and domains, each optionally with a port.

use base64::Engine as _;
use std::env;
use std::net::IpAddr;

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
    no_proxy: Vec<Exclusion>,
}

/// One `NO_PROXY` entry.
#[derive(Debug, PartialEq)]
enum Exclusion {
    All,
    Cidr(IpAddr, u8),
    Ip(IpAddr, Option<u16>),
    /// `suffix` starts with a dot; `exact` says the bare domain matches too (`example.com`
    /// rather than `.example.com`).
    Domain {
        suffix: String,
        exact: bool,
        port: Option<u16>,
    },
}

fn var(upper: &str) -> Option<String> {
    [upper.to_string(), upper.to_ascii_lowercase()]
        .iter()
        .find_map(|name| env::var(name).ok().filter(|v| !v.is_empty()))
}

impl Proxies {
    pub fn from_env() -> Proxies {
        // Go ignores HTTP_PROXY under CGI, where a client can set it through a header.
        let http = if env::var_os("REQUEST_METHOD").is_some() { None } else { var("HTTP_PROXY") };
        Proxies::new(var("HTTPS_PROXY"), http, var("NO_PROXY").as_deref().unwrap_or(""))
    }

    fn new(https: Option<String>, http: Option<String>, no_proxy: &str) -> Proxies {
        Proxies { https, http, no_proxy: no_proxy.split([',', ' ']).filter_map(Exclusion::parse).collect() }
    }

    /// The proxy for a request to `host:port`, if any.
    pub fn for_target(&self, https: bool, host: &str, port: u16) -> Option<Proxy> {
        let url = if https { self.https.as_deref() } else { self.http.as_deref() }?;
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        if self.no_proxy.iter().any(|e| e.matches(&host, ip, port)) {
            return None;
        }
        parse(url)
    }
}

impl Exclusion {
    fn parse(entry: &str) -> Option<Exclusion> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Exclusion::All);
        }
        if let Some((addr, bits)) = entry.split_once('/') {
            let ip = addr.parse::<IpAddr>().ok()?;
            let bits = bits.parse::<u8>().ok().filter(|&b| b <= if ip.is_ipv4() { 32 } else { 128 })?;
            return Some(Exclusion::Cidr(ip, bits));
        }
        let (host, port) = split_port(&entry);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Exclusion::Ip(ip, port));
        }
        let host = host.strip_prefix('*').filter(|h| h.starts_with('.')).unwrap_or(host);
        if host.is_empty() || host == "." {
            return None;
        }
        let exact = !host.starts_with('.');
        let suffix = if exact { format!(".{host}") } else { host.to_string() };
        Some(Exclusion::Domain { suffix, exact, port })
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        match self {
            Exclusion::All => true,
            Exclusion::Cidr(net, bits) => ip.is_some_and(|ip| in_range(ip, *net, *bits)),
            Exclusion::Ip(addr, p) => ip == Some(*addr) && port_ok(p),
            Exclusion::Domain { suffix, exact, port: p } => {
                (host.ends_with(suffix.as_str()) || (*exact && host == &suffix[1..])) && port_ok(p)
            }
        }
    }
}

/// `host:port`, `[v6]:port` or a bare host; a v6 address without brackets has no port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
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
    let authority = match split_port(hostport) {
        (_, Some(_)) => hostport.to_string(),
        _ => format!("{hostport}:80"),
    };
    let authorization = userinfo.map(|u| {
        let decoded = helm_oci_headers::percent_decode(u);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded))
    });
    Some(Proxy { authority, authorization })
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
        assert_eq!(
            p.for_target(false, "ghcr.io", 80).unwrap(),
            Proxy { authority: "proxy.corp:80".into(), authorization: None }
        );
        assert!(Proxies::new(None, None, "").for_target(true, "ghcr.io", 443).is_none());
        assert!(Proxies::new(Some("https://proxy.corp".into()), None, "").for_target(true, "ghcr.io", 443).is_none());
    }

    #[test]
    fn never_proxies_loopback() {
        let p = proxies("");
        assert!(p.for_target(true, "localhost", 5000).is_none());
        assert!(p.for_target(true, "127.0.0.1", 5000).is_none());
        assert!(p.for_target(true, "127.8.9.1", 5000).is_none());
        assert!(p.for_target(true, "[::1]", 5000).is_none());
    }

    #[test]
    fn no_proxy_matches_domains_ports_and_star_as_go_does() {
        let p = proxies("example.com, .corp.io,*.wild.io,registry.local:5000");
        assert!(p.for_target(true, "example.com", 443).is_none());
        assert!(p.for_target(true, "charts.example.com", 443).is_none());
        assert!(p.for_target(true, "notexample.com", 443).is_some());
        assert!(p.for_target(true, "a.corp.io", 443).is_none());
        // A leading dot means subdomains only.
        assert!(p.for_target(true, "corp.io", 443).is_some());
        assert!(p.for_target(true, "x.wild.io", 443).is_none());
        assert!(p.for_target(true, "registry.local", 5000).is_none());
        assert!(p.for_target(true, "registry.local", 443).is_some());
        assert!(proxies("*").for_target(true, "ghcr.io", 443).is_none());
    }

    #[test]
    fn no_proxy_matches_addresses_and_cidr_ranges() {
        let p = proxies("10.0.0.0/8, 192.168.1.7, [2001:db8::1]:5000, 2001:db9::/32");
        assert!(p.for_target(true, "10.20.30.40", 443).is_none());
        assert!(p.for_target(true, "11.0.0.1", 443).is_some());
        assert!(p.for_target(true, "192.168.1.7", 5000).is_none());
        assert!(p.for_target(true, "192.168.1.8", 5000).is_some());
        assert!(p.for_target(true, "[2001:db8::1]", 5000).is_none());
        assert!(p.for_target(true, "[2001:db8::1]", 443).is_some());
        assert!(p.for_target(true, "[2001:db9:1::5]", 443).is_none());
        assert!(proxies("0.0.0.0/0").for_target(true, "8.8.8.8", 443).is_none());
        assert_eq!(Exclusion::parse("1.2.3.4/33"), None);
    }
}
