//! `Link` headers, which page tag and catalog lists.

/// The target of the `rel="next"` entry of a `Link` header value, if any.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        next.then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(next_link("</v2/a/tags/list?last=b&n=2>; rel=\"next\""), Some("/v2/a/tags/list?last=b&n=2"));
        assert_eq!(next_link("<http://x/y>; rel=\"prev\", <http://x/z>; rel=next"), Some("http://x/z"));
        assert_eq!(next_link("<http://x/y>; rel=\"prev\""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
