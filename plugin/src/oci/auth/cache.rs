//! Bearer tokens cached by the exact scope set they were asked for, each fetched once
//! however many requests ask for it at the same time.

use super::scope::Scopes;
use crate::error::Result;
use crate::net::clock;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A token and when to stop using it.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub value: String,
    /// When to fetch a new one: a little before the service says it expires.
    pub renew_at: u64,
}

type Fetch = Shared<LocalBoxFuture<'static, Result<Token>>>;

/// Tokens kept at most: a search touches thousands of repositories, each with a token of its
/// own that is needed only while that repository is looked at; the least recently used go
/// first. Far more than the requests in flight (`--concurrency` is at most 256), so a token
/// still in use is never dropped.
const KEPT: usize = 1024;

enum Slot {
    /// A token, the scopes it was asked for, and when it was last used (a sequence number).
    Ready(Scopes, Token, Cell<u64>),
    /// A fetch under way; whoever asks meanwhile awaits the same one.
    Fetching(Fetch),
}

/// The tokens of one session with one registry, keyed by scope set.
#[derive(Default)]
pub struct TokenCache {
    slots: RefCell<HashMap<String, Slot>>,
    uses: Cell<u64>,
}

impl TokenCache {
    /// A token for `scopes`: a fresh one cached for exactly these scopes or for a set that
    /// covers them, else the fetch already under way for them, else a new `fetch` that
    /// others asking meanwhile will share.
    pub async fn get(
        &self,
        scopes: &Scopes,
        fetch: impl FnOnce() -> LocalBoxFuture<'static, Result<Token>>,
    ) -> Result<Token> {
        let key = scopes.key();
        let pending = {
            let mut slots = self.slots.borrow_mut();
            if let Some(token) = usable(&slots, &key, scopes, clock::now(), self.next_use()) {
                return Ok(token);
            }
            match slots.get(&key) {
                Some(Slot::Fetching(under_way)) => under_way.clone(),
                _ => {
                    let started = fetch().shared();
                    slots.insert(key.clone(), Slot::Fetching(started.clone()));
                    started
                }
            }
        };
        let result = pending.clone().await;
        let mut slots = self.slots.borrow_mut();
        // The first waiter back settles the slot; the others find it settled.
        if matches!(slots.get(&key), Some(Slot::Fetching(f)) if f.ptr_eq(&pending)) {
            match &result {
                Ok(token) => {
                    slots.insert(key, Slot::Ready(scopes.clone(), token.clone(), Cell::new(self.next_use())));
                    if slots.len() > KEPT {
                        evict_oldest(&mut slots);
                    }
                }
                Err(_) => {
                    slots.remove(&key);
                }
            }
        }
        result
    }

    /// A number that orders this use after every earlier one.
    fn next_use(&self) -> u64 {
        let n = self.uses.get();
        self.uses.set(n + 1);
        n
    }

    /// Forgets a token the registry refused; tokens for other scope sets stay.
    pub fn forget(&self, token: &Token) {
        self.slots.borrow_mut().retain(|_, slot| !matches!(slot, Slot::Ready(_, t, _) if t.value == token.value));
    }

    /// Forgets every token, when the registry names another token service.
    pub fn clear(&self) {
        self.slots.borrow_mut().clear();
    }
}

/// Drops the token used least recently; fetches under way stay, as someone awaits them.
fn evict_oldest(slots: &mut HashMap<String, Slot>) {
    let oldest = slots
        .iter()
        .filter_map(|(key, slot)| match slot {
            Slot::Ready(_, _, used) => Some((used.get(), key.clone())),
            Slot::Fetching(_) => None,
        })
        .min();
    if let Some((_, key)) = oldest {
        slots.remove(&key);
    }
}

/// A fresh token for `scopes`, cached for exactly them or for a set that covers them; marked
/// as used at `now_used`.
fn usable(slots: &HashMap<String, Slot>, key: &str, scopes: &Scopes, now: u64, now_used: u64) -> Option<Token> {
    let fresh = |t: &Token| now < t.renew_at;
    let found = match slots.get(key) {
        Some(Slot::Ready(_, token, used)) if fresh(token) => Some((token, used)),
        _ => slots.values().find_map(|slot| match slot {
            Slot::Ready(granted, token, used) if fresh(token) && granted.covers(scopes) => Some((token, used)),
            _ => None,
        }),
    };
    found.map(|(token, used)| {
        used.set(now_used);
        token.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use futures::executor::block_on;
    use futures::future::{join_all, ready};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A fetch that records the scopes it was asked for and yields once before answering,
    /// so that requests made together overlap.
    fn recording(asked: &Rc<RefCell<Vec<String>>>, scopes: &Scopes) -> LocalBoxFuture<'static, Result<Token>> {
        let asked = asked.clone();
        let key = scopes.key();
        async move {
            asked.borrow_mut().push(key.clone());
            yield_now().await;
            Ok(Token { value: format!("token for {key}"), renew_at: u64::MAX })
        }
        .boxed_local()
    }

    async fn yield_now() {
        let mut yielded = false;
        futures::future::poll_fn(|cx| {
            if yielded {
                return std::task::Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await
    }

    fn pull(repo: &str) -> Scopes {
        Scopes::parse(&format!("repository:{repo}:pull"))
    }

    #[test]
    fn requests_made_together_share_one_fetch() {
        let cache = TokenCache::default();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let scopes = pull("a");
        let tokens = block_on(join_all((0..8).map(|_| cache.get(&scopes, || recording(&asked, &scopes)))));
        assert_eq!(asked.borrow().len(), 1);
        assert!(tokens.iter().all(|t| t.as_ref().unwrap().value == "token for repository:a:pull"));
        // Later requests find it cached.
        block_on(cache.get(&scopes, || recording(&asked, &scopes))).unwrap();
        assert_eq!(asked.borrow().len(), 1);
    }

    #[test]
    fn each_repository_gets_a_token_for_its_own_scope_only() {
        let cache = TokenCache::default();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let repos: Vec<Scopes> = (0..300).map(|i| pull(&format!("charts/app{i}"))).collect();
        let tokens = block_on(join_all(repos.iter().chain(&repos).map(|s| cache.get(s, || recording(&asked, s)))));
        let asked = asked.borrow();
        assert_eq!(asked.len(), 300, "one fetch per scope set");
        for (i, key) in asked.iter().enumerate() {
            assert_eq!(*key, format!("repository:charts/app{i}:pull"), "a token carries one repository's scope");
        }
        for (token, scopes) in tokens.iter().zip(repos.iter().chain(&repos)) {
            assert_eq!(token.as_ref().unwrap().value, format!("token for {}", scopes.key()));
        }
    }

    #[test]
    fn the_least_recently_used_tokens_go_first() {
        let cache = TokenCache::default();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let get = |i: usize| {
            let s = pull(&format!("r{i}"));
            block_on(cache.get(&s, || recording(&asked, &s))).unwrap();
        };
        get(0);
        for i in 1..KEPT + 10 {
            get(i);
            // r0 stays in use all along, as the catalog's token does through a search.
            get(0);
        }
        assert_eq!(cache.slots.borrow().len(), KEPT);
        assert_eq!(asked.borrow().len(), KEPT + 10, "r0 was fetched once");
        get(KEPT + 9);
        assert_eq!(asked.borrow().len(), KEPT + 10, "the newest is still cached");
        get(1);
        assert_eq!(asked.borrow().len(), KEPT + 11, "the least recently used was dropped and fetched again");
    }

    #[test]
    fn a_wider_token_serves_a_narrower_request_of_the_same_repository() {
        let cache = TokenCache::default();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let push = Scopes::parse("repository:a:pull,push");
        block_on(cache.get(&push, || recording(&asked, &push))).unwrap();
        let token = block_on(cache.get(&pull("a"), || recording(&asked, &pull("a")))).unwrap();
        assert_eq!(token.value, "token for repository:a:pull,push");
        block_on(cache.get(&pull("b"), || recording(&asked, &pull("b")))).unwrap();
        assert_eq!(*asked.borrow(), ["repository:a:pull,push", "repository:b:pull"]);
    }

    #[test]
    fn a_refused_token_is_forgotten_alone_and_an_expiring_one_renewed() {
        let cache = TokenCache::default();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let (a, b) = (pull("a"), pull("b"));
        let token_a = block_on(cache.get(&a, || recording(&asked, &a))).unwrap();
        block_on(cache.get(&b, || recording(&asked, &b))).unwrap();
        cache.forget(&token_a);
        block_on(cache.get(&a, || recording(&asked, &a))).unwrap();
        block_on(cache.get(&b, || recording(&asked, &b))).unwrap();
        assert_eq!(asked.borrow().len(), 3, "only a's token was fetched again");

        let stale = || ready(Ok(Token { value: "stale".into(), renew_at: 0 })).boxed_local();
        let c = pull("c");
        assert_eq!(block_on(cache.get(&c, stale)).unwrap().value, "stale");
        let fresh = block_on(cache.get(&c, || recording(&asked, &c))).unwrap();
        assert_eq!(fresh.value, "token for repository:c:pull");
    }

    #[test]
    fn a_failed_fetch_is_not_cached() {
        let cache = TokenCache::default();
        let a = pull("a");
        let failing = || ready(Err(Error::network("token service", "down"))).boxed_local();
        assert!(block_on(cache.get(&a, failing)).is_err());
        let asked = Rc::new(RefCell::new(Vec::new()));
        assert!(block_on(cache.get(&a, || recording(&asked, &a))).is_ok());
        assert_eq!(asked.borrow().len(), 1);
    }
}
