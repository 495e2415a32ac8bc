//! Resource scopes, `type:name:action,action`: what a request needs, and what a token covers.

use helm_oci_headers::percent_decode;
use std::collections::{BTreeMap, BTreeSet};

/// A set of scopes, merged per resource.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Scopes(BTreeMap<(String, String), BTreeSet<String>>);

impl Scopes {
    /// The scopes a request needs, read from its path: reads need `pull`, writes `pull,push`,
    /// and the catalog `registry:catalog:*`. A cross-repository mount (`POST
    /// …/blobs/uploads/?mount=…&from=REPO`) also reads REPO, so its token must carry
    /// `repository:REPO:pull` beside the destination's push.
    pub fn for_request(method: &str, path_and_query: &str) -> Scopes {
        let mut scopes = Scopes::default();
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let Some(rest) = path.strip_prefix("/v2/") else { return scopes };
        if rest == "_catalog" {
            scopes.add("registry:catalog:*");
            return scopes;
        }
        let name = ["/blobs/", "/manifests/", "/tags/"]
            .iter()
            .filter_map(|marker| rest.rfind(marker).map(|i| &rest[..i]))
            .max_by_key(|n| n.len());
        let Some(name) = name.filter(|n| !n.is_empty()) else { return scopes };
        let actions = if matches!(method, "GET" | "HEAD") { "pull" } else { "pull,push" };
        scopes.add(&format!("repository:{name}:{actions}"));
        if method == "POST"
            && rest.ends_with("/blobs/uploads/")
            && let Some(from) = mounted_from(query)
        {
            scopes.add(&format!("repository:{from}:pull"));
        }
        scopes
    }

    /// The scopes a challenge's space-separated `scope` parameter names.
    pub fn parse(list: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for s in list.split(' ') {
            scopes.add(s);
        }
        scopes
    }

    /// Adds one `type:name:actions` scope; anything else is ignored. The name is what lies
    /// between the first and the last colon, as a name may hold a registry's port.
    pub fn add(&mut self, scope: &str) {
        let Some((kind, rest)) = scope.split_once(':') else { return };
        let Some((name, actions)) = rest.rsplit_once(':') else { return };
        if kind.is_empty() || name.is_empty() {
            return;
        }
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
            .map(|((kind, name), actions)| {
                format!("{kind}:{name}:{}", actions.iter().cloned().collect::<Vec<_>>().join(","))
            })
            .collect()
    }

    /// One string that names exactly this set, for keying a cache.
    pub fn key(&self) -> String {
        self.to_strings().join(" ")
    }
}

/// The repository a mount's query names in `from`, if it also names a blob to `mount`.
fn mounted_from(query: &str) -> Option<String> {
    let param = |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='));
    param("mount")?;
    Some(percent_decode(param("from")?)).filter(|from| !from.is_empty())
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
    fn uploads_push_and_the_catalog_is_registry_wide() {
        assert_eq!(scopes("POST", "/v2/a/blobs/uploads/?digest=sha256%3A1"), ["repository:a:pull,push"]);
        assert_eq!(scopes("GET", "/v2/_catalog?n=100"), ["registry:catalog:*"]);
    }

    #[test]
    fn a_mount_also_pulls_from_the_repository_it_mounts_from() {
        let mount = "/v2/prod/app/blobs/uploads/?mount=sha256%3A1&from=staging%2Fapp";
        assert_eq!(scopes("POST", mount), ["repository:prod/app:pull,push", "repository:staging/app:pull"]);
        // Without a blob to mount, `from` is only a parameter the registry ignores.
        assert_eq!(scopes("POST", "/v2/a/blobs/uploads/?from=b"), ["repository:a:pull,push"]);
        assert_eq!(scopes("GET", "/v2/a/blobs/uploads/?mount=sha256%3A1&from=b"), ["repository:a:pull"]);
    }

    #[test]
    fn sets_merge_cover_and_key() {
        let mut all = Scopes::for_request("GET", "/v2/a/manifests/1");
        let push = Scopes::for_request("PUT", "/v2/a/manifests/1");
        assert!(!all.covers(&push));
        all.extend(&push);
        assert!(all.covers(&push) && all.covers(&Scopes::for_request("HEAD", "/v2/a/blobs/x")));
        assert!(!all.covers(&Scopes::for_request("GET", "/v2/b/manifests/1")));
        all.add("repository:a:delete");
        assert_eq!(all.key(), "repository:a:delete,pull,push");
        assert_eq!(Scopes::parse("repository:reg:5000/x:pull bogus :a:b").key(), "repository:reg:5000/x:pull");
    }
}
