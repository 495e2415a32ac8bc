//! Properties of the header grammar over arbitrary input: nothing panics, and what is
//! written is read back.

use crate::{Challenge, Url, next_link, percent_decode, printable};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(text in ".*") {
        let _ = Challenge::parse(&text);
        let _ = next_link(&text);
        let _ = Url::parse(&text);
        let _ = percent_decode(&text);
        let shown = printable(&text);
        prop_assert!(!shown.chars().any(char::is_control));
        let base = Url::new(true, "reg:5000", "/v2/a/blobs/uploads/");
        if let Some(joined) = base.join(&text) {
            prop_assert!(joined.path.starts_with('/'));
            prop_assert!(!joined.path.contains('#'));
        }
    }

    #[test]
    fn a_written_challenge_is_read_back(
        scheme in "[A-Za-z]{1,10}",
        params in proptest::collection::vec(("[a-z]{1,8}", "[ -!#-\\[\\]-~]{0,20}"), 0..5),
    ) {
        let written: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let header = format!("{scheme} {}", written.join(","));
        let challenge = Challenge::parse(&header).unwrap();
        prop_assert!(challenge.is(&scheme));
        prop_assert_eq!(challenge.params, params);
    }

    #[test]
    fn the_next_link_is_found_among_others(target in "/[a-z0-9/?=&]{0,30}", other in "/[a-z0-9/]{0,30}") {
        let header = format!("<{other}>; rel=\"prev\", <{target}>; rel=\"next\"");
        prop_assert_eq!(next_link(&header), Some(target.as_str()));
    }
}
