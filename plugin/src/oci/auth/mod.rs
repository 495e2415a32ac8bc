//! Answering a registry's `WWW-Authenticate` challenge. `Basic` means sending the
//! credential with every request. `Bearer` means a token for each request's own scopes,
//! from the realm the challenge names: fetched with the credential if there is one,
//! anonymously otherwise, cached by scope set, and fetched once however many ask.
//!
//! The host may also hand over the challenge the registry answered with on an earlier run.
//! The first requests then go out authenticated instead of bare, which saves the round
//! trip of the 401. Such a challenge is only a guess: if its token service fails, requests
//! go out bare again and the live challenge takes over.

mod cache;
mod scope;
mod token;

pub use scope::Scopes;

use crate::error::Result;
use crate::net::Url;
use crate::net::wire::{Patience, Response};
use crate::trace::Trace;
use base64::Engine as _;
use cache::{Token, TokenCache};
use futures::FutureExt;
use helm_oci_headers::Challenge;
use std::cell::{Cell, RefCell};
use token::Realm;

/// Credentials the host found for a registry.
#[derive(Clone, Debug)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An identity (refresh) token, exchanged for bearer tokens.
    IdentityToken(String),
    /// The host's stores could not give one: why. Requests go out as if there were none,
    /// and a refusal says why there was none.
    Unavailable(String),
    /// None was given or stored: what the user can do to give one, in the front end's words.
    /// Requests go out without one, and a refusal says it.
    Missing(String),
}

impl Credential {
    /// Whether there is a credential to present (not only why there is none).
    pub fn is_given(&self) -> bool {
        matches!(self, Credential::Basic { .. } | Credential::IdentityToken(_))
    }

    /// The credential as a Basic `Authorization` value, if there is one to send.
    pub fn basic_header(&self) -> Option<String> {
        let raw = match self {
            Credential::Basic { username, password } => format!("{username}:{password}"),
            // Docker's convention for an identity token where only Basic is understood.
            Credential::IdentityToken(t) => format!("<token>:{t}"),
            Credential::Unavailable(_) | Credential::Missing(_) => return None,
        };
        Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
    }
}

/// How this session authenticates to its registry, as learnt from its challenges.
pub struct Auth {
    credential: Option<Credential>,
    scheme: RefCell<Scheme>,
    /// The scheme is the one remembered from an earlier run; no live challenge has come yet.
    remembered: Cell<bool>,
    tokens: TokenCache,
    trace: Trace,
    /// How long the token service is waited on: as the registry it serves.
    patience: Patience,
}

#[derive(Clone, Debug, PartialEq)]
enum Scheme {
    /// No challenge seen yet: requests go out without credentials.
    Unknown,
    Basic(String),
    Bearer(Realm),
}

/// What the host gave for a registry: a refusal is worded after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Presented<'a> {
    Credentials,
    /// Nothing, and the front end said nothing of how to give one.
    Nothing,
    /// Nothing; what the front end says the user can do to give one.
    Missing(&'a str),
    /// The stores failed to give one, for this reason.
    Unavailable(&'a str),
}

/// What went with a request, so that a refusal drops exactly that.
pub struct Authorization {
    pub header: String,
    /// A bearer token, and the scopes it was asked for.
    token: Option<(Token, Scopes)>,
}

impl Auth {
    /// `remembered` is the challenge the registry at `registry` (its `/v2/` URL) answered
    /// with on an earlier run, if the host kept one. Only a token service on the registry
    /// itself is taken from it; anything else is ignored. The token service is waited on as
    /// a registry is (a mirror's session says otherwise with `waiting`).
    pub fn new(credential: Option<Credential>, remembered: Option<&str>, registry: &Url, trace: Trace) -> Auth {
        let scheme = remembered
            .and_then(Challenge::parse)
            .map_or(Scheme::Unknown, |challenge| remembered_scheme(&challenge, registry, credential.as_ref()));
        if scheme != Scheme::Unknown {
            trace.debug(|| format!("answering the challenge {} sent on an earlier run", registry.authority));
        }
        Auth {
            credential,
            remembered: Cell::new(scheme != Scheme::Unknown),
            scheme: RefCell::new(scheme),
            tokens: TokenCache::default(),
            trace,
            patience: Patience::Registry,
        }
    }

    /// The same, waiting on the token service as `patience` says.
    pub fn waiting(self, patience: Patience) -> Auth {
        Auth { patience, ..self }
    }

    /// What the host gave to answer challenges with, which decides how a refusal is worded.
    pub fn presented(&self) -> Presented<'_> {
        match &self.credential {
            None => Presented::Nothing,
            Some(Credential::Unavailable(why)) => Presented::Unavailable(why),
            Some(Credential::Missing(hint)) => Presented::Missing(hint),
            Some(_) => Presented::Credentials,
        }
    }

    /// The `Authorization` for a request to the registry: the request's own scopes (read
    /// from its method and path) plus `extra` ones a challenge asked for.
    pub async fn authorization(&self, method: &str, url: &Url, extra: &Scopes) -> Result<Option<Authorization>> {
        let scheme = self.scheme.borrow().clone();
        let remembered = self.remembered.get();
        let realm = match scheme {
            Scheme::Unknown => return Ok(None),
            Scheme::Basic(header) => return Ok(Some(Authorization { header, token: None })),
            Scheme::Bearer(realm) => realm,
        };
        let mut scopes = Scopes::for_request(method, &url.path);
        scopes.extend(extra);
        let (credential, trace, patience, asked) = (self.credential.clone(), self.trace, self.patience, scopes.clone());
        let fetched =
            self.tokens.get(&scopes, move || token::fetch(realm, asked, credential, trace, patience).boxed_local());
        let token = match fetched.await {
            Ok(token) => token,
            // The token service of an earlier run may be gone: the request goes out bare, and
            // the registry's answer says where tokens come from now.
            Err(e) if remembered => {
                self.trace.debug(|| format!("the remembered token service failed ({e}); asking the registry"));
                if self.remembered.get() {
                    *self.scheme.borrow_mut() = Scheme::Unknown;
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(Some(Authorization { header: format!("Bearer {}", token.value), token: Some((token, scopes)) }))
    }

    /// Learns from a 401 answer to `request`, sent with `sent`. Returns the scopes to add
    /// if the request is worth sending again: the registry asked for a scheme, a scope or a
    /// fresh token that this client can now provide.
    pub fn challenged(&self, response: &Response, request: &Url, sent: Option<&Authorization>) -> Option<Scopes> {
        let challenge = response.headers("www-authenticate").find_map(Challenge::parse)?;
        self.remembered.set(false);
        if challenge.is("basic") {
            // Credentials that went with the request were refused; another request may
            // already have learnt the scheme, which this one then simply uses. (A token that
            // went instead, on a remembered challenge, is no answer to this one.)
            if sent.is_some_and(|a| a.token.is_none()) {
                return None;
            }
            *self.scheme.borrow_mut() = Scheme::Basic(self.credential.as_ref()?.basic_header()?);
            return Some(Scopes::default());
        }
        if !challenge.is("bearer") {
            return None;
        }
        let realm = Realm {
            url: request.join(challenge.param("realm")?)?,
            service: challenge.param("service").map(str::to_string),
        };
        let wanted = challenge.param("scope").map(Scopes::parse).unwrap_or_default();
        // The token sent (if any) was expired, revoked or too narrow: never reuse it.
        if let Some((token, asked)) = sent.and_then(|a| a.token.as_ref()) {
            self.tokens.forget(token);
            // A token asked for these very scopes came back without them: the service will not
            // grant them, and asking again would only cost another round trip.
            if challenge.param("error") == Some("insufficient_scope") && asked.covers(&wanted) {
                return None;
            }
        }
        let mut scheme = self.scheme.borrow_mut();
        if !matches!(&*scheme, Scheme::Bearer(known) if *known == realm) {
            self.tokens.clear();
            *scheme = Scheme::Bearer(realm);
        }
        Some(wanted)
    }
}

/// The scheme a remembered challenge stands for: Basic if there is a credential to send, or
/// Bearer from a token service on the registry itself.
fn remembered_scheme(challenge: &Challenge, registry: &Url, credential: Option<&Credential>) -> Scheme {
    if challenge.is("basic") {
        return credential.and_then(Credential::basic_header).map_or(Scheme::Unknown, Scheme::Basic);
    }
    let realm = challenge.param("realm").filter(|_| challenge.is("bearer")).and_then(|realm| registry.join(realm));
    match realm {
        Some(url) if url.https == registry.https && url.is_on(&registry.authority) => {
            Scheme::Bearer(Realm { url, service: challenge.param("service").map(str::to_string) })
        }
        _ => Scheme::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(header: &str, registry: &str, credential: bool) -> Scheme {
        let credential = credential.then(|| Credential::Basic { username: "u".into(), password: "p".into() });
        remembered_scheme(&Challenge::parse(header).unwrap(), &Url::parse(registry).unwrap(), credential.as_ref())
    }

    #[test]
    fn a_remembered_basic_challenge_sends_the_credential_if_there_is_one() {
        assert_eq!(scheme("Basic", "https://reg/v2/", true), Scheme::Basic("Basic dTpw".into()));
        assert_eq!(scheme("Basic", "https://reg/v2/", false), Scheme::Unknown);
    }

    #[test]
    fn a_remembered_token_service_is_used_only_on_the_registry_itself() {
        let on_registry = scheme(r#"Bearer realm="/token",service="reg""#, "https://Reg:5000/v2/", false);
        let realm = Realm { url: Url::parse("https://Reg:5000/token").unwrap(), service: Some("reg".into()) };
        assert_eq!(on_registry, Scheme::Bearer(realm));
        assert_eq!(scheme(r#"Bearer realm="https://auth.io/token""#, "https://reg/v2/", true), Scheme::Unknown);
        assert_eq!(scheme(r#"Bearer realm="http://reg/token""#, "https://reg/v2/", true), Scheme::Unknown);
        assert_eq!(scheme(r#"Bearer service="reg""#, "https://reg/v2/", true), Scheme::Unknown);
        assert_eq!(scheme(r#"Negotiate realm="/token""#, "https://reg/v2/", true), Scheme::Unknown);
    }
}
