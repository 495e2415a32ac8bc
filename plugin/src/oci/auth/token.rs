//! Asking a token service for a bearer token: GET with Basic credentials (or anonymously),
//! or an OAuth2 refresh-token POST for an identity token, falling back to GET on 404.
//! Nothing here is ever traced but the realm and the scopes.

use super::Credential;
use super::cache::Token;
use super::scope::Scopes;
use crate::error::{Error, Kind, Result};
use crate::net::clock;
use crate::net::wire::{self, Patience, Response};
use crate::net::{Url, retry};
use crate::oci::client::{MAX_REDIRECTS, is_redirect, redirected};
use crate::trace::Trace;
use helm_oci_headers::form;

/// The OAuth2 client id sent to token services.
const CLIENT_ID: &str = "helm-oci";
/// A token's lifetime when the token service does not say (the spec's default).
const DEFAULT_EXPIRES_IN: u64 = 60;
/// Token answers are small; a service sending more is refused.
const TOKEN_MAX: u64 = 1 << 20;

/// Where a registry's bearer challenge sends us for tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Realm {
    pub url: Url,
    pub service: Option<String>,
}

/// Fetches a token for exactly `scopes`, waiting on the service as on its registry.
pub async fn fetch(
    realm: Realm,
    scopes: Scopes,
    credential: Option<Credential>,
    trace: Trace,
    patience: Patience,
) -> Result<Token> {
    let scope_list = scopes.to_strings();
    trace.debug(|| format!("requesting a token from {} for [{}]", realm.url, scope_list.join(" ")));
    let response = match &credential {
        Some(Credential::IdentityToken(refresh)) => {
            let response = post_for_token(&realm, &scope_list, refresh, trace, patience).await?;
            if response.status == 404 {
                trace.debug(|| format!("{} has no OAuth2 endpoint; asking with GET", realm.url));
                get_for_token(&realm, &scope_list, credential.as_ref(), trace, patience).await?
            } else {
                response
            }
        }
        _ => get_for_token(&realm, &scope_list, credential.as_ref(), trace, patience).await?,
    };
    let service = &realm.url.authority;
    if response.status != 200 {
        let status = response.status;
        // A throttled service's own wait, as a registry's is said (see `errcode`).
        let asked =
            retry::asked_pause(&response).map(|seconds| format!("the token service asks for a pause of {seconds} s"));
        let said = String::from_utf8_lossy(&response.prefix(4096).await).trim().to_string();
        let said = [Some(said).filter(|s| !s.is_empty()), asked].into_iter().flatten().collect::<Vec<_>>().join("; ");
        let who = if credential.as_ref().is_some_and(Credential::is_given) {
            "the credentials"
        } else {
            "an anonymous request"
        };
        return Err(match status {
            401 | 403 => Error::new(
                Kind::Unauthorized,
                "",
                format!("the token service {service} rejected {who} (HTTP {status})"),
            ),
            // A mirror's service still busy after every try is as good as silent: the
            // mirror is given up on for the rest of the call (`Client::authorized`), as
            // each later read would wait out the same pauses. A registry's is not marked:
            // its callers would start the whole request over.
            _ if patience == Patience::Mirror && retry::transient_status(status) => {
                Error::network(format!("the token service {service} failed (HTTP {status})"), said).transient()
            }
            _ => Error::network(format!("the token service {service} failed (HTTP {status})"), said),
        });
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        // Anything: oras reads none of it, and Docker a negative or fractional one as none;
        // a number written as a string is read as that number.
        expires_in: Option<serde_json::Value>,
    }
    let body = response.bytes(TOKEN_MAX).await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        Error::network(format!("the token service {service}"), format!("its answer is unreadable: {e}"))
    })?;
    // An empty `access_token` beside a `token` is none, as Docker and oras read it.
    let value = [answer.access_token, answer.token].into_iter().flatten().find(|t| !t.is_empty());
    let value =
        value.ok_or_else(|| Error::network(format!("the token service {service}"), "it answered without a token"))?;
    if !carriable(&value) {
        return Err(Error::network(
            format!("the token service {service}"),
            "it answered a token holding control characters, which no request can carry",
        ));
    }
    let expires_in = answer.expires_in.and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(Token { value, renew_at: renew_at(clock::now(), expires_in) })
}

/// Whether a token can go into an `Authorization` header as it is (HTTP allows no control
/// character there but the tab): one that cannot would fail every request, less tellingly.
fn carriable(token: &str) -> bool {
    token.bytes().all(|b| b == b'\t' || !(b.is_ascii_control()))
}

/// A token is renewed once nine tenths of its lifetime are gone, so it never expires in flight.
fn renew_at(now: u64, expires_in: Option<u64>) -> u64 {
    let lifetime = expires_in.filter(|&s| s > 0).unwrap_or(DEFAULT_EXPIRES_IN).saturating_mul(clock::SECOND);
    now.saturating_add(lifetime / 10 * 9)
}

async fn get_for_token(
    realm: &Realm,
    scopes: &[String],
    credential: Option<&Credential>,
    trace: Trace,
    patience: Patience,
) -> Result<Response> {
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = &realm.service {
        params.push(("service", service));
    }
    params.extend(scopes.iter().map(|s| ("scope", s.as_str())));
    let url = realm.url.with_query(&params);
    let headers: Vec<(&str, String)> =
        credential.and_then(Credential::basic_header).map(|h| ("authorization", h)).into_iter().collect();
    send_retrying("GET", &url, &headers, &[], trace, patience).await
}

/// OAuth2's refresh-token grant, for identity tokens.
async fn post_for_token(
    realm: &Realm,
    scopes: &[String],
    refresh: &str,
    trace: Trace,
    patience: Patience,
) -> Result<Response> {
    let scope = scopes.join(" ");
    let mut fields = vec![("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_id", CLIENT_ID)];
    if let Some(service) = &realm.service {
        fields.push(("service", service));
    }
    if !scope.is_empty() {
        fields.push(("scope", &scope));
    }
    let body = form(&fields);
    let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
    send_retrying("POST", &realm.url, &headers, body.as_bytes(), trace, patience).await
}

/// Sends a request to the token service and reads its (small) answer whole, following its
/// redirects as Go's client (and so Helm) follows them, with credentials only on the
/// service's own host: a GET goes on to another without its `Authorization`, and a POST (its
/// form holds a refresh token) does not go on at all. A POST goes on as a POST with its form
/// whatever the status, where Go's client turns one answered 301, 302 or 303 into a GET.
/// Each request is tried again if either fails for a moment (both requests are safe to
/// repeat). A mirror's service that gives no answer at all is not, as the mirror itself is
/// not: the mirror is passed over. One that answers 429 or 5xx is up, and is waited on as a
/// registry's.
async fn send_retrying(
    method: &str,
    url: &Url,
    headers: &[(&str, String)],
    body: &[u8],
    trace: Trace,
    patience: Patience,
) -> Result<Response> {
    let send_once = async |url: &Url, headers: &[(&str, String)]| {
        let what = format!("{method} {url}");
        let send = || wire::send_whole(method, url, headers, body, TOKEN_MAX, patience);
        let response = match patience {
            Patience::Registry => retry::run(trace, &what, send).await?,
            Patience::Mirror => retry::run_answered(trace, &what, send).await?,
        };
        trace.debug(|| format!("{what} -> {}", response.status));
        Ok::<_, Error>(response)
    };
    let (mut url, mut headers) = (url.clone(), headers.to_vec());
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&url, &headers).await?;
        if !is_redirect(response.status) {
            return Ok(response);
        }
        let next = redirected(&url, &response)?;
        if next.https != url.https || !next.is_on(&url.authority) {
            if method == "POST" {
                let why = format!("the token service redirected a request holding credentials to {next}");
                return Err(Error::network(url.to_string(), why));
            }
            headers.retain(|(name, _)| *name != "authorization");
        }
        url = next;
    }
    Err(Error::network(url.to_string(), format!("more than {MAX_REDIRECTS} redirects")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_with_white_space_or_controls_cannot_be_carried() {
        for good in ["eyJhbGciOi.J9-_~+/=", "a b", "tab\t", "caf\u{e9}"] {
            assert!(carriable(good), "{good:?}");
        }
        for bad in ["ab\r\nX-Injected: 1", "nul\0", "del\u{7f}"] {
            assert!(!carriable(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(renew_at(0, Some(100)), 90 * clock::SECOND);
        assert_eq!(renew_at(5, None), 5 + 54 * clock::SECOND);
        assert_eq!(renew_at(0, Some(0)), 54 * clock::SECOND);
        assert!(renew_at(u64::MAX - 1, Some(u64::MAX)) == u64::MAX);
    }
}
