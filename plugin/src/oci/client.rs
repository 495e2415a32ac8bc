//! A session with one registry endpoint: requests that authenticate when challenged,
//! retry what failed for a moment, and send credentials to the registry only.

use super::auth::{Auth, Authorization, Credential, Presented, Scopes};
use super::errcode;
use crate::error::{Error, Kind, Result};
use crate::net::limit::Limit;
use crate::net::wire::{self, Body, Patience, Response};
use crate::net::{Url, retry};
use crate::trace::Trace;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::rc::Rc;

/// How many 401 challenges one request answers: the first may only say which scheme and
/// scope to use; the second may say that the token just fetched was already expired.
const CHALLENGE_ANSWERS: u32 = 2;
/// How many redirects one request may follow: Go's client (and so Helm) stops after 10.
pub const MAX_REDIRECTS: usize = 10;

pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where a redirect from `url` leads.
pub fn redirected(url: &Url, response: &Response) -> Result<Url> {
    let location =
        response.header("location").ok_or_else(|| Error::network(url.to_string(), "redirect without a location"))?;
    url.join(location)
        .ok_or_else(|| Error::network(url.to_string(), format!("the answer named an unusable location {location:?}")))
}

/// How to reach a registry, as the host set it up for this call.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub plain_http: bool,
    pub credential: Option<Credential>,
    /// The `WWW-Authenticate` challenge the registry sent on an earlier run, if the host kept it.
    pub challenge: Option<String>,
    pub trace: Trace,
}

/// What the call has learnt of its mirrors, by endpoint, shared by the sessions of the call
/// so that one that reads through several (a pull per dependency, an index of many
/// repositories) waits on a mirror in trouble once, not once per session or repository.
#[derive(Clone, Default)]
pub struct MirrorHealth(Rc<RefCell<Health>>);

#[derive(Default)]
struct Health {
    /// Mirrors given up on, and why: they gave no answer (see `Client::sent`), or their
    /// token service gave none or stayed busy (see `Client::authorized`). They are passed
    /// over at once.
    given_up: HashMap<(bool, String), Error>,
    /// Mirrors that answered "not now" (429, 5xx) to every try of a read (see
    /// `mirrors::first`): later requests are sent once, with no pauses. They are not given
    /// up on, as such trouble may be one repository's (a proxy cache's upstream).
    busy: HashSet<(bool, String)>,
}

impl MirrorHealth {
    fn key(https: bool, endpoint: &str) -> (bool, String) {
        (https, endpoint.to_ascii_lowercase())
    }

    fn why_given_up(&self, https: bool, endpoint: &str) -> Option<Error> {
        self.0.borrow().given_up.get(&MirrorHealth::key(https, endpoint)).cloned()
    }

    fn give_up(&self, https: bool, endpoint: &str, why: Error) {
        self.0.borrow_mut().given_up.insert(MirrorHealth::key(https, endpoint), why);
    }

    fn is_busy(&self, https: bool, endpoint: &str) -> bool {
        self.0.borrow().busy.contains(&MirrorHealth::key(https, endpoint))
    }

    fn busy(&self, https: bool, endpoint: &str) {
        self.0.borrow_mut().busy.insert(MirrorHealth::key(https, endpoint));
    }
}

/// One registry endpoint, with the tokens and credentials this call uses for it.
pub struct Client {
    https: bool,
    endpoint: String,
    auth: Auth,
    /// Caps the requests in flight, if the command does bulk work.
    limit: Option<Limit>,
    patience: Patience,
    /// What the call has learnt of the mirrors' health: the rest of the call passes a mirror
    /// given up on over at once, and asks a busy one without pauses.
    health: MirrorHealth,
    /// Requests sent so far, so that a read the chart cache answered alone is not said to
    /// have been served from here.
    sent: Cell<u64>,
    pub trace: Trace,
}

impl Client {
    /// A session with the registry API at `endpoint` (`host[:port]`).
    pub fn new(endpoint: &str, connection: &Connection) -> Client {
        let Connection { plain_http, credential, challenge, trace } = connection.clone();
        let registry = Url::new(!plain_http, endpoint, "/v2/");
        let auth = Auth::new(credential, challenge.as_deref(), &registry, trace);
        let (limit, patience, health) = (None, Patience::Registry, MirrorHealth::default());
        let sent = Cell::new(0);
        Client { https: !plain_http, endpoint: endpoint.to_string(), auth, limit, patience, health, sent, trace }
    }

    /// The same session with at most `limit`'s permits' worth of requests in flight.
    pub fn limited(self, limit: Limit) -> Client {
        Client { limit: Some(limit), ..self }
    }

    /// The same session, for a mirror: an answer (its token service's too) is waited on for
    /// less long, and a request that gets none is not tried again, so that the next place is
    /// tried soon.
    pub fn mirror(self) -> Client {
        Client { patience: Patience::Mirror, auth: self.auth.waiting(Patience::Mirror), ..self }
    }

    /// The same session, with the record of mirrors' health it shares with others.
    pub fn sharing(self, health: &MirrorHealth) -> Client {
        Client { health: health.clone(), ..self }
    }

    /// A URL on the registry.
    pub fn url(&self, path: &str) -> Url {
        Url::new(self.https, &self.endpoint, path)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How many requests this session has sent.
    pub fn requests_sent(&self) -> u64 {
        self.sent.get()
    }

    /// Whether `other` talks to the same registry endpoint, the same way: only then can one
    /// of its repositories lend a blob to another by a mount.
    pub fn same_registry(&self, other: &Client) -> bool {
        self.https == other.https && self.endpoint.eq_ignore_ascii_case(&other.endpoint)
    }

    /// Sends a request whose body (if any) is in memory, so it can go again: transient
    /// failures are retried (except a chunk PATCH, which moves an upload's offset) and
    /// 401 challenges are answered. Credentials go to the registry endpoint only; a storage
    /// host's URL may be used once, so requests to other hosts go once, bare. (The one POST,
    /// starting an upload, is safe to repeat: a session opened twice is left to expire.)
    pub async fn send(&self, method: &str, url: &Url, headers: &[(&str, String)], body: &[u8]) -> Result<Response> {
        self.exchange(method, url, headers, body, None).await
    }

    /// Sends a GET for a small answer (a manifest, a page of tags) and reads a successful one
    /// whole, at most `limit` bytes, so that a body breaking off midway is retried like a
    /// failed request (see `wire::send_whole`).
    pub async fn get_whole(&self, url: &Url, headers: &[(&str, String)], limit: u64) -> Result<Response> {
        self.exchange("GET", url, headers, &[], Some(limit)).await
    }

    /// A GET (read whole, at most `limit` bytes) or HEAD that follows redirects, as Go's
    /// client and so Helm do: a registry may serve manifests, blobs and lists from another
    /// path or host.
    pub async fn following(&self, method: &str, url: &Url, headers: &[(&str, String)], limit: u64) -> Result<Response> {
        Ok(self.following_to(method, url, headers, limit).await?.0)
    }

    /// `following`, and the URL that gave the answer, which its relative links are from.
    pub async fn following_to(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        limit: u64,
    ) -> Result<(Response, Url)> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = match method {
                "GET" => self.get_whole(&url, headers, limit).await?,
                _ => self.send(method, &url, headers, &[]).await?,
            };
            if !is_redirect(response.status) {
                return Ok((response, url));
            }
            url = redirected(&url, &response)?;
        }
        Err(Error::network(url.to_string(), format!("more than {MAX_REDIRECTS} redirects")))
    }

    async fn exchange(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: &[u8],
        whole: Option<u64>,
    ) -> Result<Response> {
        // Before a token is fetched for it, too.
        self.given_up_before(url)?;
        let own = self.owns(url);
        let mut extra = Scopes::default();
        let mut answered = 0;
        loop {
            let authorization = if own { self.authorized(method, url, &extra).await? } else { None };
            let mut all = headers.to_vec();
            if let Some(a) = &authorization {
                all.push(("authorization", a.header.clone()));
            }
            let what = format!("{method} {url}");
            let once = || async {
                let body = if body.is_empty() { Body::Empty } else { Body::Bytes(body) };
                let sent = self.sent(url, wire::send(method, url, &all, body, self.patience)).await?;
                match whole {
                    Some(limit) => wire::read_whole(sent, limit).await,
                    None => Ok(sent),
                }
            };
            let permit = self.permit().await;
            let retried = own && method != "PATCH" && !self.is_busy_mirror(url);
            let response = if retried { retry::run(self.trace, &what, once).await? } else { once().await? };
            drop(permit);
            self.trace.debug(|| format!("{what} -> {}", response.status));
            if response.status == 401
                && own
                && answered < CHALLENGE_ANSWERS
                && let Some(scopes) = self.auth.challenged(&response, url, authorization.as_ref())
            {
                extra = scopes;
                answered += 1;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends a request whose body streams from a reader: it goes once, with the
    /// authorization at hand, and its failures are for the caller to handle.
    pub async fn send_once(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response> {
        let mut all = headers.to_vec();
        if self.owns(url)
            && let Some(a) = self.auth.authorization(method, url, &Scopes::default()).await?
        {
            all.push(("authorization", a.header));
        }
        let what = format!("{method} {url}");
        let _permit = self.permit().await;
        let response = self.sent(url, wire::send(method, url, &all, body, self.patience)).await?;
        self.trace.debug(|| format!("{what} -> {}", response.status));
        Ok(response)
    }

    /// What sending a request to `url` came to, up to its answer's head. At a mirror,
    /// getting no answer from the mirror itself (refused, timed out, cut off, not found,
    /// no TLS with it, no way through a proxy) is final and remembered: the rest of the call
    /// passes the mirror over at once, without sending. A failure of this one request (one
    /// the HTTP layer would not send, or an answer it could not read) says nothing of the
    /// next, and is not remembered. (A storage host it redirects to, or a body read later,
    /// may fail on its own.)
    async fn sent(&self, url: &Url, sent: impl Future<Output = Result<Response>>) -> Result<Response> {
        self.given_up_before(url)?;
        self.sent.set(self.sent.get() + 1);
        match sent.await {
            Err(e) if self.at_mirror(url) && e.kind == Kind::Network && !e.request_only => Err(self.give_up(e)),
            sent => sent,
        }
    }

    /// The authorization for a request to `url`. A mirror whose token service gives no
    /// answer (refused, timed out, cut off: the failures that pass at a registry), or stays
    /// busy through every try (429, 5xx), is no use, and is given up on for the rest of the
    /// call; one that answers with another error (404, say, which may be one scope's) leaves
    /// the mirror to be tried again.
    async fn authorized(&self, method: &str, url: &Url, extra: &Scopes) -> Result<Option<Authorization>> {
        match self.auth.authorization(method, url, extra).await {
            Err(e) if self.at_mirror(url) && e.kind == Kind::Network && e.transient => {
                Err(self.give_up(e.because("the mirror's token service")))
            }
            authorized => authorized,
        }
    }

    /// Gives this mirror up for the rest of the call, for `e`.
    fn give_up(&self, e: Error) -> Error {
        let e = Error { transient: false, ..e };
        self.health.give_up(self.https, &self.endpoint, e.clone());
        e
    }

    /// Notes that this mirror stayed busy through every try: for the rest of the call its
    /// requests go once, with no pauses, so that each later read does not wait as long.
    pub fn stayed_busy(&self) {
        self.health.busy(self.https, &self.endpoint);
    }

    fn is_busy_mirror(&self, url: &Url) -> bool {
        self.at_mirror(url) && self.health.is_busy(self.https, &self.endpoint)
    }

    /// Fails, without sending, a request to a mirror given up on earlier in the call.
    fn given_up_before(&self, url: &Url) -> Result<()> {
        if self.at_mirror(url)
            && let Some(why) = self.health.why_given_up(self.https, &self.endpoint)
        {
            return Err(why);
        }
        Ok(())
    }

    /// Whether `url` is this registry's own, to send its credentials to: on its host and
    /// port, and never over plain HTTP when the registry is reached over TLS.
    fn owns(&self, url: &Url) -> bool {
        url.is_on(&self.endpoint) && (url.https || !self.https)
    }

    /// Whether `url` is this mirror's own (not a storage host it redirects to).
    fn at_mirror(&self, url: &Url) -> bool {
        self.patience == Patience::Mirror && url.is_on(&self.endpoint)
    }

    async fn permit(&self) -> Option<crate::net::limit::Permit> {
        match &self.limit {
            Some(limit) => Some(limit.acquire().await),
            None => None,
        }
    }

    /// The error an unexpected answer stands for, worded for what was sent.
    pub async fn refusal(&self, response: Response, subject: &str) -> Error {
        errcode::error_from(response, subject, self.auth.presented(), !self.https).await
    }

    /// The error an unexpected answer to a request sent once stands for; one that a later
    /// try could cure (429, 5xx) is marked transient, with the pause the registry asked
    /// for, so the caller may start over when it says.
    pub async fn refusal_once(&self, response: Response, subject: &str) -> Error {
        let (status, retry_after) = (response.status, retry::retry_after(&response));
        let error = self.refusal(response, subject).await;
        if retry::transient_status(status) { Error { retry_after, ..error.transient() } } else { error }
    }

    /// Checks that the registry accepts this client: `GET /v2/` through whatever auth flow
    /// it asks for.
    pub async fn ping(&self) -> Result<()> {
        let response = self.send("GET", &self.url("/v2/"), &[], &[]).await?;
        match response.status {
            200 => Ok(()),
            401 if self.auth.presented() == Presented::Credentials => {
                Err(Error::new(Kind::Unauthorized, &self.endpoint, "the registry rejected the username or password"))
            }
            _ => Err(self.refusal(response, &self.endpoint).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::cell::Cell;

    fn no_answer() -> Result<Response> {
        Err(Error::network("cannot reach m:5000", "timed out waiting for the registry").transient())
    }

    #[test]
    fn a_mirror_that_gave_no_answer_is_not_asked_again() {
        let mirror = Client::new("m:5000", &Connection::default()).mirror();
        let url = mirror.url("/v2/charts/app/manifests/1.0.0");
        let failed = block_on(mirror.sent(&url, async { no_answer() })).err().expect("failed");
        assert!(!failed.transient, "not tried again: the next place is");
        let asked = Cell::new(false);
        let again = block_on(mirror.sent(&url, async {
            asked.set(true);
            no_answer()
        }));
        assert_eq!(again.err().expect("failed"), failed);
        assert!(!asked.get(), "nothing is sent");
    }

    #[test]
    fn a_request_the_http_layer_would_not_send_leaves_the_mirror_to_be_asked_again() {
        let mirror = Client::new("m:5000", &Connection::default()).mirror();
        let url = mirror.url("/v2/charts/app/manifests/1.0.0");
        let unsendable = || async {
            Err(Error::network("a request to m:5000", "it would carry a path of 20000 bytes").request_only())
        };
        let failed = block_on(mirror.sent(&url, unsendable())).err().expect("failed");
        assert!(failed.cause.contains("20000 bytes"), "{failed}");
        let asked = Cell::new(false);
        let _ = block_on(mirror.sent(&url, async {
            asked.set(true);
            no_answer()
        }));
        assert!(asked.get(), "the next request is sent");
    }

    #[test]
    fn sessions_sharing_a_record_pass_over_a_mirror_another_gave_up_on() {
        let health = MirrorHealth::default();
        let plain = Connection { plain_http: true, ..Connection::default() };
        let first = Client::new("m:5000", &plain).mirror().sharing(&health);
        let _ = block_on(first.sent(&first.url("/v2/a/manifests/1"), async { no_answer() }));
        let asked = Cell::new(0);
        let ask = || async {
            asked.set(asked.get() + 1);
            no_answer()
        };
        // The same mirror, named in other case, in another session: passed over.
        let second = Client::new("M:5000", &plain).mirror().sharing(&health);
        let _ = block_on(second.sent(&second.url("/v2/b/manifests/1"), ask()));
        assert_eq!(asked.get(), 0);
        // Over TLS it is another endpoint; unshared, another call's; a registry, never passed over.
        let tls = Client::new("m:5000", &Connection::default()).mirror().sharing(&health);
        let unshared = Client::new("m:5000", &plain).mirror();
        let registry = Client::new("m:5000", &plain).sharing(&health);
        for client in [&tls, &unshared, &registry] {
            let _ = block_on(client.sent(&client.url("/v2/b/manifests/1"), ask()));
        }
        assert_eq!(asked.get(), 3);
    }

    #[test]
    fn only_the_mirror_itself_failing_passes_it_over() {
        let mirror = Client::new("m:5000", &Connection::default()).mirror();
        let registry = Client::new("reg:5000", &Connection::default());
        // A storage host a mirror redirects to fails on its own; a registry is tried again.
        let storage = Url::new(true, "storage.example", "/blob");
        for (client, url) in [(&mirror, storage), (&registry, registry.url("/v2/"))] {
            assert!(block_on(client.sent(&url, async { no_answer() })).err().expect("failed").transient);
            let asked = Cell::new(false);
            let _ = block_on(client.sent(&client.url("/v2/"), async {
                asked.set(true);
                no_answer()
            }));
            assert!(asked.get(), "{} is asked again", client.endpoint());
        }
    }
}
