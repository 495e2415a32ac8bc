//! `WWW-Authenticate` challenges (RFC 7235): a scheme and its parameters.

/// The first challenge of a `WWW-Authenticate` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// As sent; compare it case-insensitively.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses the first challenge of a header value; None if there is no scheme.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = match header.split_once([' ', '\t']) {
            Some((s, r)) => (s, r.trim_start()),
            None => (header, ""),
        };
        if scheme.is_empty() || scheme.contains([',', '=', '"']) {
            return None;
        }
        let mut params = Vec::new();
        while let Some(eq) = rest.find('=') {
            let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
            let after = &rest[eq + 1..];
            let (value, remaining) = match after.trim_start().strip_prefix('"') {
                Some(quoted) => {
                    let mut value = String::new();
                    let mut chars = quoted.char_indices();
                    let mut end = quoted.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => value.extend(chars.next().map(|(_, c)| c)),
                            '"' => {
                                end = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    (value, &quoted[end..])
                }
                None => {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_string(), &after[end..])
                }
            };
            params.push((key, value));
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge { scheme: scheme.to_string(), params })
    }

    /// Whether the scheme is `name`, case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name)
    }

    /// A parameter's value; names compare case-insensitively.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert!(c.is("bearer"));
        assert_eq!(c.param("realm"), Some("https://auth.io/token"));
        assert_eq!(c.param("Scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert!(c.is("Basic") && c.param("realm") == Some("Registry Realm"));
        assert_eq!(Challenge::parse("Basic").unwrap().params, vec![]);
    }

    #[test]
    fn reads_any_spelling_of_the_parameters() {
        assert_eq!(Challenge::parse(r#"Bearer realm=x, scope="a \"q\"""#).unwrap().param("scope"), Some("a \"q\""));
        assert_eq!(Challenge::parse(r#"BEARER REALM = "https://a/t""#).unwrap().param("realm"), Some("https://a/t"));
        assert!(Challenge::parse("").is_none());
        assert!(Challenge::parse("=x").is_none());
    }
}
