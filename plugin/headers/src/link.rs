//! `Link` headers, which page tag and catalog lists.
//!
//! Read as RFC 8288 writes them, not split at every `,` and `;`: a quoted parameter
//! (`title="a; b, c"`) or a target (`</v2/_catalog?last=a,b>`) may hold either.

/// The target of the `rel="next"` entry of a `Link` header value, if any.
pub fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    loop {
        let after_open = rest.trim_start_matches([' ', '\t', ',']).strip_prefix('<')?;
        let (target, mut params) = after_open.split_once('>')?;
        let mut rel = None;
        while let Some(param) = params.trim_start().strip_prefix(';') {
            let (name, value, remaining) = link_param(param);
            // Only the first `rel` counts; it may list several relations.
            if rel.is_none() && name.eq_ignore_ascii_case("rel") {
                rel = Some(value);
            }
            params = remaining;
        }
        if rel.is_some_and(|rel| rel.split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))) {
            return Some(target.trim());
        }
        // An entry that makes no sense to its end is passed over, up to the next one.
        rest = &params[params.find(',')?..];
    }
}

/// One `name[=value]` parameter at the start of `text`: its name, its value (unquoted),
/// and what follows it.
fn link_param(text: &str) -> (&str, String, &str) {
    let end = text.find(['=', ';', ',']).unwrap_or(text.len());
    let name = text[..end].trim();
    let Some(after) = text[end..].strip_prefix('=') else { return (name, String::new(), &text[end..]) };
    let after = after.trim_start();
    let Some(quoted) = after.strip_prefix('"') else {
        let end = after.find([';', ',']).unwrap_or(after.len());
        return (name, after[..end].trim().to_string(), &after[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.extend(chars.next().map(|(_, c)| c)),
            '"' => return (name, value, &quoted[i + 1..]),
            c => value.push(c),
        }
    }
    // An unclosed quote runs to the end.
    (name, value, "")
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

    #[test]
    fn quoted_parameters_and_targets_may_hold_separators() {
        assert_eq!(next_link("</p>; title=\"a; rel=next\"; rel=\"prev\", </n>; rel=\"next\""), Some("/n"));
        assert_eq!(next_link("</p>; title=\"one, two\"; rel=prev, </n>; rel=next"), Some("/n"));
        assert_eq!(next_link("</p>; title=\"say \\\"hi\\\", then\"; rel=next"), Some("/p"));
        assert_eq!(next_link("</v2/_catalog?last=a,b&n=2>; rel=\"next\""), Some("/v2/_catalog?last=a,b&n=2"));
        assert_eq!(next_link("</p>; hreflang; rel=next"), Some("/p"));
        assert_eq!(next_link("</p>; title=\"unclosed; rel=next"), None);
        assert_eq!(next_link("</p>; rel=prev; rel=next"), None);
        assert_eq!(next_link("</p> junk, </n>; rel=next"), Some("/n"));
    }
}
