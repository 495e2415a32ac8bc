//! Answering a registry's `WWW-Authenticate` challenge. `Basic` means sending the
//! credential with every request. `Bearer` means a token for each request's own scopes,
//! from the realm the challenge names: fetched with the credential if there is one,
//! anonymously otherwise, cached by scope set, and fetched once however many ask.

mod cache;
mod scope;
mod token;

pub use scope::Scopes;

use crate::error::Result;
use crate::net::Url;
use crate::net::wire::Response;
use crate::trace::Trace;
use base64::Engine as _;
use cache::{Token, TokenCache};
use futures::FutureExt;
use helm_oci_headers::Challenge;
use std::cell::RefCell;
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
}

impl Credential {
    /// The credential as a Basic `Authorization` value.
    pub fn basic_header(&self) -> String {
        let raw = match self {
            Credential::Basic { username, password } => format!("{username}:{password}"),
            // Docker's convention for an identity token where only Basic is understood.
            Credential::IdentityToken(t) => format!("<token>:{t}"),
        };
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// How this session authenticates to its registry, as learnt from its challenges.
pub struct Auth {
    credential: Option<Credential>,
    scheme: RefCell<Scheme>,
    tokens: TokenCache,
    trace: Trace,
}

#[derive(Clone)]
enum Scheme {
    /// No challenge seen yet: requests go out without credentials.
    Unknown,
    Basic(String),
    Bearer(Realm),
}

/// What went with a request, so that a refusal drops exactly that.
pub struct Authorization {
    pub header: String,
    /// A bearer token, and the scopes it was asked for.
    token: Option<(Token, Scopes)>,
}

impl Auth {
    pub fn new(credential: Option<Credential>, trace: Trace) -> Auth {
        Auth { credential, scheme: RefCell::new(Scheme::Unknown), tokens: TokenCache::default(), trace }
    }

    /// Whether the host gave credentials, which decides how a refusal is worded.
    pub fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// The `Authorization` for a request to the registry: the request's own scopes (read
    /// from its method and path) plus `extra` ones a challenge asked for.
    pub async fn authorization(&self, method: &str, url: &Url, extra: &Scopes) -> Result<Option<Authorization>> {
        let scheme = self.scheme.borrow().clone();
        let realm = match scheme {
            Scheme::Unknown => return Ok(None),
            Scheme::Basic(header) => return Ok(Some(Authorization { header, token: None })),
            Scheme::Bearer(realm) => realm,
        };
        let mut scopes = Scopes::for_request(method, &url.path);
        scopes.extend(extra);
        let (credential, trace, asked) = (self.credential.clone(), self.trace, scopes.clone());
        let token =
            self.tokens.get(&scopes, move || token::fetch(realm, asked, credential, trace).boxed_local()).await?;
        Ok(Some(Authorization { header: format!("Bearer {}", token.value), token: Some((token, scopes)) }))
    }

    /// Learns from a 401 answer to `request`, sent with `sent`. Returns the scopes to add
    /// if the request is worth sending again: the registry asked for a scheme, a scope or a
    /// fresh token that this client can now provide.
    pub fn challenged(&self, response: &Response, request: &Url, sent: Option<&Authorization>) -> Option<Scopes> {
        let challenge = response.headers("www-authenticate").find_map(Challenge::parse)?;
        if challenge.is("basic") {
            // Credentials that went with the request were refused; another request may
            // already have learnt the scheme, which this one then simply uses.
            if sent.is_some() {
                return None;
            }
            *self.scheme.borrow_mut() = Scheme::Basic(self.credential.as_ref()?.basic_header());
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
