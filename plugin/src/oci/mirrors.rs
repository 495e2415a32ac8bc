//! Where a read is tried: the repository's mirrors in order, then the registry itself. A
//! place that fails is passed over for the next, unless no other place could do better
//! (a local file failed, the deadline passed, the request itself is wrong).

use super::client::{Client, Connection, MirrorHealth};
use super::reference::Ref;
use crate::error::{Error, Kind, Result};
use crate::net::limit::Limit;
use crate::net::retry;

/// A mirror of a repository (or of a namespace, for a listing), as the host configured it.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// The repository (or namespace) at the mirror: registry, endpoint and path.
    pub repository: Ref,
    pub connection: Connection,
}

/// A session with each mirror and with the registry, made once for a call so that each
/// keeps its tokens and challenges however many repositories the call reads.
pub struct Sources {
    mirrors: Vec<(Client, Ref)>,
    origin: Client,
}

impl Sources {
    /// `origin` is the registry's session; with `limit`, the mirrors' requests count
    /// against the same cap as its own. What a read learns of a mirror's health (no answer,
    /// busy through every try) is kept in `health`, which other `Sources` of the call may
    /// share.
    pub fn new(origin: Client, mirrors: &[Mirror], limit: Option<&Limit>, health: &MirrorHealth) -> Sources {
        let session = |m: &Mirror| {
            let client = Client::new(&m.repository.endpoint, &m.connection).mirror().sharing(health);
            let client = match limit {
                Some(limit) => client.limited(limit.clone()),
                None => client,
            };
            (client, m.repository.clone())
        };
        Sources { mirrors: mirrors.iter().map(session).collect(), origin }
    }

    /// The registry's own session.
    pub fn origin(&self) -> &Client {
        &self.origin
    }

    /// Where to read the registry's `repository` from: each mirror at the same path below
    /// what it mirrors (`below`, empty when the mirror is of that very repository), then
    /// the registry.
    pub fn places(&self, repository: &str, below: &str) -> Vec<Place<'_>> {
        let mirrored = self.mirrors.iter().map(|(client, at)| {
            let path = if below.is_empty() { at.repository.clone() } else { format!("{}/{below}", at.repository) };
            let mirror = Some(format!("{}/{path}", at.registry));
            Place { client, repository: path, mirror }
        });
        let origin = Place { client: &self.origin, repository: repository.to_string(), mirror: None };
        mirrored.chain([origin]).collect()
    }
}

/// One place to read a repository from.
pub struct Place<'a> {
    pub client: &'a Client,
    /// The repository's path there.
    pub repository: String,
    /// `host/path` of a mirror, for messages; none for the registry itself.
    mirror: Option<String>,
}

impl Place<'_> {
    pub fn is_mirror(&self) -> bool {
        self.mirror.is_some()
    }

    /// What the repository is called in what is said of reading it here: the mirror's copy
    /// at a mirror (so that a failure there, credentials it lacks say, is not put on the
    /// registry), else `origin`, the registry's own name for it.
    pub fn called(&self, origin: String) -> String {
        self.mirror.clone().unwrap_or(origin)
    }
}

/// The first place where `read` succeeds, and a warning for each mirror passed over on the
/// way (a mirror that only lacks what was asked is said in the trace alone: that is what
/// mirrors holding part of a registry do).
pub async fn first<T>(
    places: &[Place<'_>],
    mut read: impl AsyncFnMut(&Place<'_>) -> Result<T>,
) -> Result<(T, Vec<String>)> {
    let (origin, mirrors) = places.split_last().expect("the registry is always a place");
    let mut warnings = Vec::new();
    for place in mirrors {
        let name = place.mirror.as_deref().unwrap_or_default();
        let asked_before = place.client.requests_sent();
        match read(place).await {
            Ok(found) => {
                // A read the chart cache answered alone (a pinned digest it holds) asked
                // the mirror nothing.
                if place.client.requests_sent() > asked_before {
                    place.client.trace.debug(|| format!("served by the mirror {name}"));
                }
                return Ok((found, warnings));
            }
            Err(e) if !passes_over(&e) => return Err(e),
            Err(e) => {
                place.client.trace.debug(|| format!("passing over the mirror {name}: {e}"));
                // A mirror still busy after every try the retry policy gives is asked with
                // no pauses for the rest of the call: each later read would otherwise wait
                // them out again before reaching the registry.
                if stayed_busy(&e) {
                    place.client.stayed_busy();
                }
                if e.kind != Kind::NotFound {
                    warnings.push(format!("the mirror {name} was passed over: {e}"));
                }
            }
        }
    }
    Ok((read(origin).await?, warnings))
}

/// Whether the failure is a "not now" (408, 429, 5xx) that every try was answered with.
fn stayed_busy(e: &Error) -> bool {
    matches!(e.kind, Kind::Registry { status, .. } if retry::transient_status(status))
}

/// Whether another place may succeed where this failure happened.
fn passes_over(e: &Error) -> bool {
    !matches!(e.kind, Kind::Io | Kind::TimedOut | Kind::InvalidReference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::reference;
    use futures::executor::block_on;
    use std::cell::RefCell;

    fn mirror(at: &str) -> Mirror {
        Mirror { repository: reference::parse(at).unwrap(), connection: Connection::default() }
    }

    fn sources() -> Sources {
        let origin = Client::new("reg:5000", &Connection::default());
        Sources::new(
            origin,
            &[mirror("m1.example/charts/app"), mirror("m2:5000/copies")],
            None,
            &MirrorHealth::default(),
        )
    }

    #[test]
    fn a_mirror_is_read_at_the_same_path_below_what_it_mirrors() {
        let sources = sources();
        let places = sources.places("team/charts/web", "web");
        let seen: Vec<(&str, &str, Option<&str>)> =
            places.iter().map(|p| (p.client.endpoint(), p.repository.as_str(), p.mirror.as_deref())).collect();
        assert_eq!(
            seen,
            [
                ("m1.example", "charts/app/web", Some("m1.example/charts/app/web")),
                ("m2:5000", "copies/web", Some("m2:5000/copies/web")),
                ("reg:5000", "team/charts/web", None),
            ]
        );
        assert_eq!(sources.places("team/app", "")[1].repository, "copies");
    }

    /// Runs `first` over two mirrors and the registry, each answering as `answers` says.
    fn run(answers: [Result<u32>; 3]) -> (Result<(u32, Vec<String>)>, Vec<String>) {
        let sources = sources();
        let places = sources.places("charts/app", "");
        let answers = RefCell::new(answers.into_iter().map(Some).collect::<Vec<_>>());
        let tried = RefCell::new(Vec::new());
        let outcome = block_on(first(&places, async |p: &Place<'_>| {
            let i = tried.borrow().len();
            tried.borrow_mut().push(p.mirror.clone().unwrap_or_else(|| "origin".into()));
            answers.borrow_mut()[i].take().expect("each place asked once")
        }));
        (outcome, tried.into_inner())
    }

    #[test]
    fn the_first_mirror_that_has_it_serves() {
        let (outcome, tried) = run([Err(Error::not_found("m1", "no such tag")), Ok(2), Ok(3)]);
        assert_eq!(outcome.unwrap(), (2, vec![]), "a mirror lacking it is no warning");
        assert_eq!(tried, ["m1.example/charts/app", "m2:5000/copies"]);
    }

    #[test]
    fn a_failing_mirror_falls_through_to_the_registry_with_a_warning() {
        let tampered = Error::mismatch("blob sha256:aa", "sha256:aa", "sha256:bb");
        let (outcome, tried) = run([Err(tampered), Err(Error::network("m2", "connection refused")), Ok(3)]);
        let (value, warnings) = outcome.unwrap();
        assert_eq!(value, 3);
        assert_eq!(tried, ["m1.example/charts/app", "m2:5000/copies", "origin"]);
        assert!(
            warnings[0].starts_with("the mirror m1.example/charts/app was passed over: blob sha256:aa"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("m2:5000/copies") && warnings[1].contains("connection refused"));
    }

    #[test]
    fn a_local_failure_stops_at_once() {
        let disk = Error::new(Kind::Io, "/out/app.tgz", "no space left on device");
        let (outcome, tried) = run([Err(disk.clone()), Ok(2), Ok(3)]);
        assert_eq!(outcome.unwrap_err(), disk);
        assert_eq!(tried, ["m1.example/charts/app"]);
    }

    #[test]
    fn the_registry_failing_is_the_error() {
        let gone = Error::not_found("reg/charts/app:1.0.0", "not found");
        let (outcome, _) = run([Err(Error::not_found("m1", "x")), Err(Error::not_found("m2", "x")), Err(gone.clone())]);
        assert_eq!(outcome.unwrap_err(), gone);
    }
}
