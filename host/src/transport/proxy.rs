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

/// The proxy settings the environment gave.
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
        // Go ignores HTTP_PROXY under CGI (a REQUEST_METHOD that is set and not empty), where
        // a client can set it through a header.
        let cgi = env::var_os("REQUEST_METHOD").is_some_and(|method| !method.is_empty());
        let http = if cgi { None } else { var("HTTP_PROXY") };
        Proxies::new(var("HTTPS_PROXY"), http, var("NO_PROXY").as_deref().unwrap_or(""))
    }

    fn new(https: Option<String>, http: Option<String>, no_proxy: &str) -> Proxies {
        Proxies { https, http, no_proxy: no_proxy.split([',', ' ']).filter_map(Exclusion::parse).collect() }
    }

    /// The proxy for a request to `host:port`, if any; an error if the one set is of a
    /// kind this client cannot use (going around it silently could break a policy).
    pub fn for_target(&self, https: bool, host: &str, port: u16) -> Result<Option<Proxy>, String> {
        let (name, url) = if https { ("HTTPS_PROXY", &self.https) } else { ("HTTP_PROXY", &self.http) };
        let Some(url) = url else { return Ok(None) };
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return Ok(None);
        }
        if self.no_proxy.iter().any(|e| e.matches(&host, ip, port)) {
            return Ok(None);
        }
        parse(url).map(Some).map_err(|scheme| {
            format!("{name} names a {scheme}:// proxy, which is not supported (only http:// proxies are)")
        })
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

/// Whether `host:port` (or `[v6]:port`) names a port, a number or not; an empty one is
/// none, as Go reads it.
fn names_port(hostport: &str) -> bool {
    let port = match hostport.strip_prefix('[') {
        Some(rest) => rest.split_once(']').and_then(|(_, after)| after.strip_prefix(':')),
        None if hostport.matches(':').count() == 1 => hostport.split_once(':').map(|(_, port)| port),
        None => None,
    };
    port.is_some_and(|port| !port.is_empty())
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

/// A proxy URL; the scheme is the error if it is not http (TLS to the proxy itself and
/// SOCKS are not supported). A URL without a scheme is http, as Go reads it.
fn parse(url: &str) -> Result<Proxy, String> {
    // A scheme ends at the first `://`, unless a path, query or fragment began before it.
    let scheme_end = url.find("://").filter(|&i| !url[..i].contains(['/', '?', '#']));
    let rest = match scheme_end {
        Some(i) if url[..i].eq_ignore_ascii_case("http") => &url[i + 3..],
        Some(i) => return Err(url[..i].to_ascii_lowercase()),
        None => url,
    };
    let rest = rest.split('/').next().unwrap_or_default();
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    // A port that is not a number is kept, for connecting to say so; an empty one is none.
    let authority = match hostport.strip_suffix(':') {
        _ if names_port(hostport) => hostport.to_string(),
        Some(host) => format!("{host}:80"),
        None => format!("{hostport}:80"),
    };
    let authorization = userinfo.map(|u| {
        // Basic of user:password, the colon there even without a password (`TOKEN@proxy`),
        // as Go sends it.
        let mut pair = helm_oci_headers::percent_decode(u);
        if !u.contains(':') {
            pair.push(':');
        }
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    });
    Ok(Proxy { authority, authorization })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn via(p: &Proxies, https: bool, host: &str, port: u16) -> Option<Proxy> {
        p.for_target(https, host, port).unwrap()
    }

    fn proxies(no_proxy: &str) -> Proxies {
        Proxies::new(Some("http://u:p%40ss@proxy.corp:3128".into()), Some("proxy.corp".into()), no_proxy)
    }

    #[test]
    fn picks_the_proxy_by_scheme() {
        let p = proxies("");
        let https = via(&p, true, "ghcr.io", 443).unwrap();
        assert_eq!(https.authority, "proxy.corp:3128");
        assert_eq!(https.authorization.as_deref(), Some("Basic dTpwQHNz"));
        assert_eq!(
            via(&p, false, "ghcr.io", 80).unwrap(),
            Proxy { authority: "proxy.corp:80".into(), authorization: None }
        );
        assert!(via(&Proxies::new(None, None, ""), true, "ghcr.io", 443).is_none());
        let tls = Proxies::new(Some("socks5://proxy.corp:1080".into()), None, "");
        assert_eq!(
            tls.for_target(true, "ghcr.io", 443).unwrap_err(),
            "HTTPS_PROXY names a socks5:// proxy, which is not supported (only http:// proxies are)"
        );
        // Refused only where it would be used.
        assert_eq!(via(&tls, true, "localhost", 443), None);
    }

    #[test]
    fn never_proxies_loopback() {
        let p = proxies("");
        assert!(via(&p, true, "localhost", 5000).is_none());
        assert!(via(&p, true, "127.0.0.1", 5000).is_none());
        assert!(via(&p, true, "127.8.9.1", 5000).is_none());
        assert!(via(&p, true, "[::1]", 5000).is_none());
    }

    #[test]
    fn no_proxy_matches_domains_ports_and_star_as_go_does() {
        let p = proxies("example.com, .corp.io,*.wild.io,registry.local:5000");
        assert!(via(&p, true, "example.com", 443).is_none());
        assert!(via(&p, true, "charts.example.com", 443).is_none());
        assert!(via(&p, true, "notexample.com", 443).is_some());
        assert!(via(&p, true, "a.corp.io", 443).is_none());
        // A leading dot means subdomains only.
        assert!(via(&p, true, "corp.io", 443).is_some());
        assert!(via(&p, true, "x.wild.io", 443).is_none());
        assert!(via(&p, true, "registry.local", 5000).is_none());
        assert!(via(&p, true, "registry.local", 443).is_some());
        assert!(via(&proxies("*"), true, "ghcr.io", 443).is_none());
    }

    #[test]
    fn no_proxy_matches_addresses_and_cidr_ranges() {
        let p = proxies("10.0.0.0/8, 192.168.1.7, [2001:db8::1]:5000, 2001:db9::/32");
        assert!(via(&p, true, "10.20.30.40", 443).is_none());
        assert!(via(&p, true, "11.0.0.1", 443).is_some());
        assert!(via(&p, true, "192.168.1.7", 5000).is_none());
        assert!(via(&p, true, "192.168.1.8", 5000).is_some());
        assert!(via(&p, true, "[2001:db8::1]", 5000).is_none());
        assert!(via(&p, true, "[2001:db8::1]", 443).is_some());
        assert!(via(&p, true, "[2001:db9:1::5]", 443).is_none());
        assert!(via(&proxies("0.0.0.0/0"), true, "8.8.8.8", 443).is_none());
        assert_eq!(Exclusion::parse("1.2.3.4/33"), None);
    }

    #[test]
    fn a_scheme_is_read_only_before_the_path() {
        assert_eq!(parse("proxy.corp:3128/x?u=https://y").unwrap().authority, "proxy.corp:3128");
        assert_eq!(parse("HTTP://proxy.corp").unwrap().authority, "proxy.corp:80");
        assert_eq!(parse("https://proxy.corp").unwrap_err(), "https");
    }

    #[test]
    fn credentials_are_user_colon_password_even_without_a_password() {
        let basic = |url| parse(url).unwrap().authorization.unwrap();
        assert_eq!(basic("http://tok@proxy.corp:3128"), format!("Basic {}", STANDARD.encode("tok:")));
        assert_eq!(basic("http://u:@proxy.corp"), format!("Basic {}", STANDARD.encode("u:")));
        assert_eq!(basic("http://a%3Ab@proxy.corp"), format!("Basic {}", STANDARD.encode("a:b:")));
        assert_eq!(basic("http://u:p%3Aq@proxy.corp"), format!("Basic {}", STANDARD.encode("u:p:q")));
    }

    #[test]
    fn a_port_is_kept_as_written_and_80_only_added_where_none_is() {
        assert_eq!(parse("http://proxy.corp:99999").unwrap().authority, "proxy.corp:99999");
        assert_eq!(parse("http://[fd00::1]:3128").unwrap().authority, "[fd00::1]:3128");
        assert_eq!(parse("http://[fd00::1]").unwrap().authority, "[fd00::1]:80");
        assert_eq!(parse("http://proxy.corp:").unwrap().authority, "proxy.corp:80");
    }
}
