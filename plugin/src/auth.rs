//! Answering a registry's `WWW-Authenticate` challenge.
//!
//! `Basic` means sending the credential with every request. `Bearer` means getting a token
//! from the realm the challenge names: with the credential if there is one (Basic on a
//! GET, or an OAuth2 POST for an identity token), anonymously otherwise. The token covers
//! every scope this run has needed so far, so scopes grow (pull, then pull,push) and one
//! token serves them all until it is about to expire. Nothing here is ever traced but the
//! realm and the scopes.

use crate::error::Result;
use crate::http::{self, Body, Response, Url};
use crate::{clock, retry, trace, Credential, Error};
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};

/// The OAuth2 client id sent to token services.
const CLIENT_ID: &str = "helm-oci";
/// A token's lifetime when the token service does not say (the spec's default).
const DEFAULT_EXPIRES_IN: u64 = 60;
/// Token answers are small; a service sending more is refused.
const TOKEN_MAX: u64 = 1 << 20;

pub struct Auth {
    credential: Option<Credential>,
    mode: Mode,
    /// Every scope this run has needed; a new token asks for all of them.
    scopes: Scopes,
    token: Option<Token>,
}

enum Mode {
    /// No challenge seen yet: requests go out without credentials.
    Unknown,
    Basic(String),
    Bearer(Challenge),
}

struct Challenge {
    realm: Url,
    service: Option<String>,
}

struct Token {
    value: String,
    scopes: Scopes,
    /// When to fetch a new one: a little before the service says it expires.
    renew_at: u64,
}

impl Auth {
    pub fn new(credential: Option<Credential>) -> Auth {
        Auth { credential, mode: Mode::Unknown, scopes: Scopes::default(), token: None }
    }

    /// The `Authorization` value for a request to the registry, fetching a token first if
    /// the one at hand is missing, too narrow or about to expire.
    pub fn header(&mut self, method: &str, url: &Url) -> Result<Option<String>> {
        let challenge = match &self.mode {
            Mode::Unknown => return Ok(None),
            Mode::Basic(header) => return Ok(Some(header.clone())),
            Mode::Bearer(challenge) => challenge,
        };
        self.scopes.extend(&Scopes::for_request(method, &url.path));
        let usable = self.token.as_ref().filter(|t| t.scopes.covers(&self.scopes) && clock::now() < t.renew_at);
        if let Some(token) = usable {
            return Ok(Some(format!("Bearer {}", token.value)));
        }
        let token = fetch_token(challenge, &self.scopes, self.credential.as_ref())?;
        let header = format!("Bearer {}", token.value);
        self.token = Some(token);
        Ok(Some(header))
    }

    /// Learns from a 401 answer. True if the request is worth sending again: the registry
    /// asked for a scheme, a scope or a fresh token that this client can now provide.
    pub fn challenged(&mut self, response: &Response, registry: &Url) -> bool {
        let Some((scheme, params)) = response.headers("www-authenticate").find_map(parse_challenge) else {
            return false;
        };
        let param = |name: &str| params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => match (&self.mode, &self.credential) {
                (Mode::Basic(_), _) => false,
                (_, Some(credential)) => {
                    self.mode = Mode::Basic(basic_header(credential));
                    true
                }
                (_, None) => false,
            },
            "bearer" => {
                let Some(realm) = param("realm").and_then(|r| registry.join(&r).ok()) else {
                    return false;
                };
                if let Some(scope) = param("scope") {
                    for s in scope.split(' ') {
                        self.scopes.add(s);
                    }
                }
                // The token sent (if any) was expired, revoked or too narrow: never reuse it.
                self.token = None;
                self.mode = Mode::Bearer(Challenge { realm, service: param("service") });
                true
            }
            _ => false,
        }
    }
}

/// Says what to do about a refusal: whether credentials were sent tells the user whether
/// they are wrong or missing.
pub fn explain(error: Error, with_credential: bool) -> Error {
    match error {
        Error::Unauthorized(m) if with_credential => Error::Unauthorized(format!("{m}: the credentials were rejected")),
        Error::Unauthorized(m) => Error::Unauthorized(format!(
            "{m}: no credentials were found for this registry (log in with `helm oci login`, or pass --username and --password)"
        )),
        other => other,
    }
}

fn basic_header(credential: &Credential) -> String {
    let raw = match credential {
        Credential::Basic(c) => format!("{}:{}", c.username, c.password),
        // Docker's convention for an identity token where only Basic is understood.
        Credential::IdentityToken(t) => format!("<token>:{t}"),
    };
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

fn fetch_token(challenge: &Challenge, scopes: &Scopes, credential: Option<&Credential>) -> Result<Token> {
    let realm = &challenge.realm;
    let scope_list = scopes.to_strings();
    trace::debug(|| format!("requesting a token from {realm} for [{}]", scope_list.join(" ")));
    let response = match credential {
        Some(Credential::IdentityToken(refresh)) => {
            let response = post_for_token(challenge, &scope_list, refresh)?;
            if response.status == 404 {
                trace::debug(|| format!("{realm} has no OAuth2 endpoint; asking with GET"));
                get_for_token(challenge, &scope_list, credential)?
            } else {
                response
            }
        }
        _ => get_for_token(challenge, &scope_list, credential)?,
    };
    if response.status != 200 {
        let status = response.status;
        let said = String::from_utf8_lossy(&response.bytes(4096).unwrap_or_default()).trim().to_string();
        let who = if credential.is_some() { "the credentials" } else { "an anonymous request" };
        return Err(match status {
            401 | 403 => Error::Unauthorized(format!("the token service {} rejected {who} (HTTP {status})", realm.authority)),
            _ => Error::Network(format!("the token service {} failed (HTTP {status}): {said}", realm.authority)),
        });
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let body = response.bytes(TOKEN_MAX)?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| Error::Network(format!("the token service {} sent an unreadable answer: {e}", realm.authority)))?;
    let value = answer.access_token.or(answer.token).filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::Network(format!("the token service {} answered without a token", realm.authority))
    })?;
    Ok(Token { value, scopes: scopes.clone(), renew_at: renew_at(clock::now(), answer.expires_in) })
}

/// A token is renewed once nine tenths of its lifetime are gone, so it never expires in flight.
fn renew_at(now: u64, expires_in: Option<u64>) -> u64 {
    let lifetime = expires_in.filter(|&s| s > 0).unwrap_or(DEFAULT_EXPIRES_IN) * clock::SECOND;
    now + lifetime / 10 * 9
}

fn get_for_token(challenge: &Challenge, scopes: &[String], credential: Option<&Credential>) -> Result<Response> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = &challenge.service {
        params.push(("service", service));
    }
    params.extend(scopes.iter().map(|s| ("scope", s.as_str())));
    let url = challenge.realm.with_query(&params);
    let headers: Vec<(&str, String)> = credential.map(|c| ("authorization", basic_header(c))).into_iter().collect();
    send_retrying("GET", &url, &headers, &[])
}

/// OAuth2's refresh-token grant, for identity tokens.
fn post_for_token(challenge: &Challenge, scopes: &[String], refresh: &str) -> Result<Response> {
    let scope = scopes.join(" ");
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", CLIENT_ID)];
    if let Some(service) = &challenge.service {
        form.push(("service", service));
    }
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    let body = http::form(&form);
    let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
    send_retrying("POST", &challenge.realm, &headers, body.as_bytes())
}

fn send_retrying(method: &str, url: &Url, headers: &[(&str, String)], body: &[u8]) -> Result<Response> {
    let response = retry::run(&format!("{method} {url}"), || {
        http::send(method, url, headers, if body.is_empty() { Body::Empty } else { Body::Bytes(body) })
    });
    let response = response.map_err(Error::from)?;
    trace::debug(|| format!("{method} {url} -> {}", response.status));
    Ok(response)
}

/// The scheme and parameters of the first challenge in a `WWW-Authenticate` value.
fn parse_challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let header = header.trim();
    let (scheme, mut rest) = match header.split_once(' ') {
        Some((s, r)) => (s, r.trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        params.push((key, value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_string(), params))
}

/// Resource scopes, `type:name:action,action`, merged per resource.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct Scopes(BTreeMap<(String, String), BTreeSet<String>>);

impl Scopes {
    /// The scopes a request needs, read from its path: reads need `pull`, writes `pull,push`,
    /// a cross-repository mount also `pull` on the source, and the catalog `registry:catalog:*`.
    pub fn for_request(method: &str, path_and_query: &str) -> Scopes {
        let mut scopes = Scopes::default();
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let Some(rest) = path.strip_prefix("/v2/") else { return scopes };
        if rest == "_catalog" {
            scopes.add("registry:catalog:*");
            return scopes;
        }
        let name = ["/blobs/", "/manifests/", "/tags/", "/referrers/"]
            .iter()
            .filter_map(|marker| rest.rfind(marker).map(|i| &rest[..i]))
            .max_by_key(|n| n.len());
        let Some(name) = name.filter(|n| !n.is_empty()) else { return scopes };
        let actions = if matches!(method, "GET" | "HEAD") { "pull" } else { "pull,push" };
        scopes.add(&format!("repository:{name}:{actions}"));
        if let Some(from) = query.split('&').find_map(|kv| kv.strip_prefix("from=")) {
            scopes.add(&format!("repository:{}:pull", http::decode_query(from)));
        }
        scopes
    }

    /// Adds one `type:name:actions` scope; anything else is ignored.
    pub fn add(&mut self, scope: &str) {
        let Some((kind, rest)) = scope.split_once(':') else { return };
        let Some((name, actions)) = rest.rsplit_once(':') else { return };
        let entry = self.0.entry((kind.to_string(), name.to_string())).or_default();
        entry.extend(actions.split(',').filter(|a| !a.is_empty()).map(str::to_string));
    }

    pub fn extend(&mut self, other: &Scopes) {
        for (resource, actions) in &other.0 {
            self.0.entry(resource.clone()).or_default().extend(actions.iter().cloned());
        }
    }

    /// Whether these scopes include every action of `other`.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.iter().all(|(resource, actions)| self.0.get(resource).is_some_and(|mine| mine.is_superset(actions)))
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((kind, name), actions)| format!("{kind}:{name}:{}", actions.iter().cloned().collect::<Vec<_>>().join(",")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(method: &str, path: &str) -> Vec<String> {
        Scopes::for_request(method, path).to_strings()
    }

    #[test]
    fn reads_pull_writes_push() {
        assert_eq!(scopes("HEAD", "/v2/charts/app/blobs/sha256:1"), ["repository:charts/app:pull"]);
        assert_eq!(scopes("GET", "/v2/a/manifests/1.0"), ["repository:a:pull"]);
        assert_eq!(scopes("GET", "/v2/a/tags/list?n=10"), ["repository:a:pull"]);
        assert_eq!(scopes("POST", "/v2/a/blobs/uploads/"), ["repository:a:pull,push"]);
        assert_eq!(scopes("PUT", "/v2/a/b/manifests/1.0"), ["repository:a/b:pull,push"]);
        assert!(scopes("GET", "/v2/").is_empty());
    }

    #[test]
    fn repository_names_may_contain_the_markers() {
        assert_eq!(scopes("GET", "/v2/x/tags/y/manifests/1"), ["repository:x/tags/y:pull"]);
    }

    #[test]
    fn mounts_pull_from_their_source_and_the_catalog_is_registry_wide() {
        assert_eq!(
            scopes("POST", "/v2/a/blobs/uploads/?mount=sha256%3A1&from=lib%2Fb"),
            ["repository:a:pull,push", "repository:lib/b:pull"]
        );
        assert_eq!(scopes("GET", "/v2/_catalog?n=100"), ["registry:catalog:*"]);
    }

    #[test]
    fn scopes_grow_and_cover() {
        let mut all = Scopes::for_request("GET", "/v2/a/manifests/1");
        let push = Scopes::for_request("PUT", "/v2/a/manifests/1");
        assert!(!all.covers(&push));
        all.extend(&push);
        assert!(all.covers(&push) && all.covers(&Scopes::for_request("HEAD", "/v2/a/blobs/x")));
        assert!(!all.covers(&Scopes::for_request("GET", "/v2/b/manifests/1")));
        all.add("repository:a:delete");
        assert_eq!(all.to_strings(), ["repository:a:delete,pull,push"]);
    }

    #[test]
    fn parses_challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(scheme, "Bearer");
        assert_eq!(params[0], ("realm".into(), "https://auth.io/token".into()));
        assert_eq!(params[2], ("scope".into(), "repository:a/b:pull,push".into()));
        assert_eq!(params[3].1, "insufficient_scope");
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((scheme.as_str(), params[0].1.as_str()), ("Basic", "Registry Realm"));
        assert_eq!(parse_challenge("Basic").unwrap().1, vec![]);
        assert_eq!(parse_challenge(r#"Bearer realm=x, scope="a \"q\"""#).unwrap().1[1].1, "a \"q\"");
    }

    #[test]
    fn refusals_say_whether_credentials_were_sent() {
        let refused = || Error::Unauthorized("blob x: authentication required".into());
        assert!(matches!(explain(refused(), true), Error::Unauthorized(m) if m.ends_with("the credentials were rejected")));
        assert!(matches!(explain(refused(), false), Error::Unauthorized(m) if m.contains("helm oci login")));
        assert!(matches!(explain(Error::NotFound("x".into()), false), Error::NotFound(_)));
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(renew_at(0, Some(100)), 90 * clock::SECOND);
        assert_eq!(renew_at(5, None), 5 + 54 * clock::SECOND);
        assert_eq!(renew_at(0, Some(0)), 54 * clock::SECOND);
    }
}
