//! `Link` headers, which page tag and catalog lists.

/// The target of the `rel="next"` entry of a `Link` header value, if any.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        // RFC 8288: white space may stand around `=`, and `rel` may list several relations.
        let next = params.split(';').filter_map(|p| p.split_once('=')).any(|(name, value)| {
            let relations = value.trim().trim_matches('"');
            name.trim().eq_ignore_ascii_case("rel")
                && relations.split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
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
        assert_eq!(next_link("</c?last=a> ; rel = \"next\""), Some("/c?last=a"));
        assert_eq!(next_link("</c?last=a>; REL=\"last next\""), Some("/c?last=a"));
        assert_eq!(next_link("</c?last=a>; title=\"next\""), None);
        assert_eq!(next_link("</c?last=a>; rel=\"nextish\""), None);
    }
}
