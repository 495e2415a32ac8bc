//! Where the component's requests may go. The registry endpoint is granted by the command;
//! everything else is learnt from what that registry answers: the token service its
//! `WWW-Authenticate` challenge names (for the whole run), and each redirect target it, a
//! storage host or the token service names (for one request). The guest cannot widen this by itself. Headers are read with the same
//! parsers the component uses, so both sides agree on where a request may go.

use helm_oci_headers::{Challenge, Url};

/// The hosts this command's requests may reach, grown only as the registry's own answers
/// (a challenge's realm, a redirect's location), and the redirects of the hosts those name,
/// name new ones.
#[derive(Default)]
pub struct Access {
    /// Each registry endpoint, and whether it may be reached over plain HTTP.
    registries: Vec<(String, bool)>,
    /// Token endpoints: scheme, authority and path; any query.
    realms: Vec<Url>,
    /// Redirect targets, query included, each good for one request, with the verdict it gets.
    redirects: Vec<(Url, Verdict)>,
}

/// Why a request was let through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Registry,
    Realm,
    Redirect,
}

impl Access {
    /// Lets requests reach a registry endpoint, over plain HTTP only if asked.
    pub fn allow_registry(&mut self, endpoint: &str, plain_http: bool) {
        self.registries.push((endpoint.to_string(), plain_http));
    }

    /// Whether a request may go out, and on what grounds. A redirect grant is used up.
    pub fn judge(&mut self, uri: &http::Uri) -> Option<Verdict> {
        let url = Url::parse(&uri.to_string())?;
        if self.registries.iter().any(|(h, plain_http)| url.is_on(h) && (url.https || *plain_http)) {
            return Some(Verdict::Registry);
        }
        if self.realms.iter().any(|realm| same_endpoint(realm, &url)) {
            return Some(Verdict::Realm);
        }
        let granted = self.redirects.iter().position(|(r, _)| same_endpoint(r, &url) && r.path == url.path)?;
        Some(self.redirects.swap_remove(granted).1)
    }

    /// Learns the grants an answer hands out: the hosts a redirect names (from the registry,
    /// a storage host it sent us to, or its token service), and a token service named by the
    /// registry's own 401 answer, with its request and challenge, which may be worth
    /// remembering. What an answer over HTTPS names must be HTTPS too: a target over plain
    /// HTTP is granted only when the answer naming it came over plain HTTP itself (from a
    /// registry the command lets be reached so, or a host one of its answers named), never
    /// because another registry (a mirror) may be reached so.
    pub fn learn(&mut self, request: &http::Uri, verdict: &Verdict, response: &http::response::Parts) -> Learnt {
        let mut learnt = Learnt::default();
        let Some(request) = Url::parse(&request.to_string()) else { return learnt };
        let scheme_kept = |to: &Url| to.https || !request.https;
        let header = |name| response.headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        // A token service's redirect is followed too, as Go's client follows it, and keeps
        // the credentials on the service's own host, as Go's client keeps them (the
        // component sends none to another).
        if response.status.is_redirection() {
            learnt.named.extend(header(http::header::LOCATION).filter_map(|l| request.join(l)).filter(scheme_kept));
            let on_the_realm =
                |to: &Url| *verdict == Verdict::Realm && to.https == request.https && to.is_on(&request.authority);
            let grants = learnt
                .named
                .iter()
                .map(|to| (to.clone(), if on_the_realm(to) { Verdict::Realm } else { Verdict::Redirect }));
            self.redirects.extend(grants);
        }
        if *verdict == Verdict::Registry && response.status == http::StatusCode::UNAUTHORIZED {
            // The component answers the first challenge it can read; so does this.
            let Some(challenge) = header(http::header::WWW_AUTHENTICATE).find_map(Challenge::parse) else {
                return learnt;
            };
            let realm = Some(&challenge)
                .filter(|c| c.is("bearer"))
                .and_then(|c| request.join(c.param("realm")?))
                .filter(scheme_kept);
            if let Some(realm) = realm {
                if !self.realms.iter().any(|known| same_endpoint(known, &realm)) {
                    self.realms.push(realm.clone());
                }
                learnt.named.push(realm);
            }
            learnt.challenge = Some((request, challenge));
        }
        learnt
    }
}

/// What one answer taught.
#[derive(Default)]
pub struct Learnt {
    /// The hosts it named (redirect targets, a token service), now granted.
    pub named: Vec<Url>,
    /// A registry's 401 answer: the request, and the challenge it sent.
    pub challenge: Option<(Url, Challenge)>,
}

/// Same scheme, host, port and path, whatever the query.
fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.https == b.https && a.is_on(&b.authority) && a.path_only() == b.path_only()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> http::response::Parts {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn access() -> Access {
        let mut a = Access::default();
        a.allow_registry("reg:5000", false);
        a
    }

    #[test]
    fn only_the_registry_and_only_https_unless_asked() {
        let mut a = access();
        assert_eq!(a.judge(&uri("https://reg:5000/v2/")), Some(Verdict::Registry));
        assert_eq!(a.judge(&uri("https://REG:5000/v2/")), Some(Verdict::Registry));
        assert!(a.judge(&uri("http://reg:5000/v2/")).is_none());
        assert!(a.judge(&uri("https://other:5000/v2/")).is_none());
        a.allow_registry("reg:5000", true);
        assert_eq!(a.judge(&uri("http://reg:5000/v2/")), Some(Verdict::Registry));
    }

    #[test]
    fn plain_http_is_granted_per_registry() {
        let mut a = access();
        a.allow_registry("mirror:5001", true);
        assert_eq!(a.judge(&uri("http://mirror:5001/v2/")), Some(Verdict::Registry));
        assert_eq!(a.judge(&uri("https://reg:5000/v2/")), Some(Verdict::Registry));
        assert!(a.judge(&uri("http://reg:5000/v2/")).is_none());
        // The HTTPS registry's answers name nothing over plain HTTP, plain as the mirror is.
        let challenge = [("www-authenticate", r#"Bearer realm="http://auth.io/token""#)];
        assert!(a.learn(&uri("https://reg:5000/v2/"), &Verdict::Registry, &answer(401, &challenge)).named.is_empty());
        assert!(a.judge(&uri("http://auth.io/token")).is_none());
        let moved = answer(307, &[("location", "http://cdn.io/b")]);
        assert!(a.learn(&uri("https://reg:5000/v2/a/blobs/sha256:1"), &Verdict::Registry, &moved).named.is_empty());
        assert!(a.judge(&uri("http://cdn.io/b")).is_none());
        // The mirror's plain answers may, and so may the plain answers of what they name.
        a.learn(&uri("http://mirror:5001/v2/"), &Verdict::Registry, &answer(401, &challenge));
        assert_eq!(a.judge(&uri("http://auth.io/token")), Some(Verdict::Realm));
        a.learn(&uri("http://auth.io/token"), &Verdict::Realm, &answer(307, &[("location", "http://cdn.io/t")]));
        assert_eq!(a.judge(&uri("http://cdn.io/t")), Some(Verdict::Redirect));
    }

    #[test]
    fn a_registry_challenge_grants_its_token_realm() {
        let mut a = access();
        let request = uri("https://reg:5000/v2/a/tags/list");
        let challenge = [("www-authenticate", r#"BEARER Realm="https://auth.io/token",service="reg""#)];
        let learnt = a.learn(&request, &Verdict::Registry, &answer(401, &challenge));
        assert_eq!(learnt.named, [Url::new(true, "auth.io", "/token")]);
        assert_eq!(a.judge(&uri("https://auth.io/token?scope=x&service=reg")), Some(Verdict::Realm));
        assert_eq!(a.judge(&uri("https://auth.io/token?scope=y")), Some(Verdict::Realm));
        assert!(a.judge(&uri("https://auth.io/other")).is_none());
        assert!(a.judge(&uri("http://auth.io/token")).is_none());
    }

    #[test]
    fn a_relative_realm_is_resolved_against_the_request() {
        let mut a = access();
        a.learn(
            &uri("https://reg:5000/v2/"),
            &Verdict::Registry,
            &answer(401, &[("www-authenticate", r#"Bearer realm="/auth/token""#)]),
        );
        assert_eq!(a.judge(&uri("https://reg:5000/auth/token?scope=x")), Some(Verdict::Registry));
        a.learn(
            &uri("https://reg:5000/v2/"),
            &Verdict::Registry,
            &answer(401, &[("www-authenticate", r#"Bearer realm="//auth.io/t""#)]),
        );
        assert_eq!(a.judge(&uri("https://auth.io/t")), Some(Verdict::Realm));
    }

    #[test]
    fn a_redirect_grants_its_target_once() {
        let mut a = access();
        let request = uri("https://reg:5000/v2/a/blobs/sha256:1");
        let learnt = a.learn(&request, &Verdict::Registry, &answer(307, &[("location", "https://cdn.io/b?sig=1")]));
        assert_eq!(learnt.named, [Url::new(true, "cdn.io", "/b?sig=1")]);
        assert!(a.judge(&uri("https://cdn.io/b?sig=2")).is_none());
        assert_eq!(a.judge(&uri("https://cdn.io/b?sig=1")), Some(Verdict::Redirect));
        assert!(a.judge(&uri("https://cdn.io/b?sig=1")).is_none());
        // Scheme-relative, as the component follows them.
        a.learn(&request, &Verdict::Registry, &answer(302, &[("location", "//cdn.io/c")]));
        assert_eq!(a.judge(&uri("https://cdn.io/c")), Some(Verdict::Redirect));
    }

    #[test]
    fn a_token_services_redirect_grants_its_target_once() {
        let mut a = access();
        let challenge = [("www-authenticate", r#"Bearer realm="https://auth.io/token""#)];
        a.learn(&uri("https://reg:5000/v2/"), &Verdict::Registry, &answer(401, &challenge));
        let moved = answer(301, &[("location", "/v2/token?scope=x")]);
        let learnt = a.learn(&uri("https://auth.io/token?scope=x"), &Verdict::Realm, &moved);
        assert_eq!(learnt.named, [Url::new(true, "auth.io", "/v2/token?scope=x")]);
        // On the service's own host, with its credentials, and once.
        assert_eq!(a.judge(&uri("https://auth.io/v2/token?scope=x")), Some(Verdict::Realm));
        assert!(a.judge(&uri("https://auth.io/v2/token?scope=x")).is_none());
        a.learn(&uri("https://auth.io/token"), &Verdict::Realm, &answer(307, &[("location", "https://cdn.io/t")]));
        assert_eq!(a.judge(&uri("https://cdn.io/t")), Some(Verdict::Redirect));
    }

    #[test]
    fn only_the_registry_grants_realms() {
        let mut a = access();
        let challenge = answer(401, &[("www-authenticate", r#"Bearer realm="https://evil.io/t""#)]);
        assert!(a.learn(&uri("https://cdn.io/b"), &Verdict::Redirect, &challenge).named.is_empty());
        assert!(a.judge(&uri("https://evil.io/t")).is_none());
    }
}
