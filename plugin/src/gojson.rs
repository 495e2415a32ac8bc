//! JSON as Go's encoding/json writes it, for the bytes Helm hashes or stores (configs,
//! manifests, lock digests): compact, in the struct's field order, with HTML characters escaped.

use serde::Serialize;

/// Serialises like Go's encoding/json: compact, with `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = serde_json::to_string(value).expect("serialising plain data cannot fail");
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_escaped_like_go() {
        assert_eq!(go_json(&"a<b>&c\u{2028}"), br#""a\u003cb\u003e\u0026c\u2028""#.to_vec());
    }
}
