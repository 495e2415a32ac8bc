//! Error answers from a registry, shaped as the distribution spec says
//! (`{"errors":[{"code","message","detail"}]}`), turned into the matching error kind.

use super::auth::{Presented, Scopes};
use crate::error::{Error, Kind};
use crate::net::retry;
use crate::net::wire::{Response, WORDS_MAX};
use helm_oci_headers::Challenge;

/// Why an answer failed when it says nothing of why (no message; a HEAD's has no body):
/// over plain HTTP, a bare 400 is most often an HTTPS server's ...
pub const MAYBE_HTTPS_ONLY: &str = "the registry refused a plain HTTP request (does it speak HTTPS only?)";
/// ... and otherwise nothing can be said.
pub const UNSAID: &str = "request failed";

/// The error an unexpected answer stands for, keeping the registry's own words, worded for
/// what was sent: what the host gave to answer with decides what a 401 tells the user to
/// do, and whether the request went `plain` (HTTP) what a wordless answer means.
pub async fn error_from(response: Response, subject: &str, presented: Presented<'_>, plain: bool) -> Error {
    let status = response.status;
    // A throttled answer's own wait, which may be longer than helm-oci waits: the user's
    // next move depends on it.
    let asked = retry::asked_pause(&response)
        .map(|seconds| format!("; the registry asks for a pause of {seconds} s"))
        .unwrap_or_default();
    // A token the credentials got, without the access the request needs: they were
    // accepted, and it is the access that is refused (as a push to a repository one may
    // only pull).
    let short = response
        .headers("www-authenticate")
        .find_map(Challenge::parse)
        .filter(|c| c.param("error") == Some("insufficient_scope"))
        // distribution lists a scope's actions in no fixed order.
        .map(|c| Scopes::parse(c.param("scope").unwrap_or_default()).to_strings().join(" "));
    let body = response.prefix(WORDS_MAX).await;
    let (code, message) = parse(&body);
    let detail = if message.is_empty() { String::new() } else { format!(" ({message})") };
    if let (401, Presented::Credentials, Some(scope)) = (status, presented, short) {
        let what = if scope.is_empty() { "this".to_string() } else { scope };
        return Error::new(Kind::Denied, subject, format!("access denied: the credentials do not allow {what}"));
    }
    match status {
        401 => {
            // distribution's own words for a 401 say nothing more.
            let detail = if message.eq_ignore_ascii_case("authentication required") { "" } else { &detail };
            let what_now = match presented {
                Presented::Credentials => "the credentials were rejected".to_string(),
                Presented::Nothing => NONE_FOUND.to_string(),
                Presented::Missing(hint) => format!("{NONE_FOUND} ({hint})"),
                Presented::Unavailable(why) => format!("the stored credentials could not be read: {why}"),
            };
            Error::new(Kind::Unauthorized, subject, format!("authentication required{detail}: {what_now}"))
        }
        403 => Error::new(Kind::Denied, subject, format!("access denied{detail}")),
        404 => Error::not_found(subject, "not found"),
        _ => {
            let cause = match (message.is_empty(), code.is_empty()) {
                (false, _) => message,
                // An HTTPS server answers a plain HTTP request with a bare 400 (Go's says why in
                // its body, which a HEAD's answer does not have); a registry's carry a code.
                (true, true) if plain && status == 400 => MAYBE_HTTPS_ONLY.to_string(),
                (true, _) => UNSAID.to_string(),
            };
            Error::new(Kind::Registry { status, code }, subject, format!("{cause}{asked}"))
        }
    }
}

const NONE_FOUND: &str = "no credentials were found for this registry";

/// The first error's code, and every error's message (as Helm shows them all: a rejected
/// manifest may say what is wrong in its second); else the body's start on one line, or,
/// for an HTML page (a web server or a proxy's error page, not a registry), only that it is
/// one.
pub fn parse(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let Some(errors) = serde_json::from_slice::<Errors>(body).ok().filter(|e| !e.errors.is_empty()) else {
        return (String::new(), plain(&String::from_utf8_lossy(body)));
    };
    // Each error by its message, else its code; one said once; a long list cut short.
    let mut said: Vec<&str> = Vec::new();
    for entry in &errors.errors {
        let words = [&entry.message, &entry.code].into_iter().flatten().find(|w| !w.is_empty());
        if let Some(words) = words.filter(|w| !said.contains(&w.as_str())) {
            said.push(words);
        }
    }
    let more = said.len().saturating_sub(SAID_MOST);
    let mut message = said[..said.len().min(SAID_MOST)].join("; ");
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    let code = errors.errors.into_iter().next().and_then(|e| e.code).unwrap_or_default();
    (code, message)
}

/// A registry's errors said in one line: a manifest naming many missing blobs may get one
/// error each.
const SAID_MOST: usize = 3;

fn plain(text: &str) -> String {
    let start = text.trim_start().chars().take(15).collect::<String>().to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") {
        return "the server answered with a web page, not as a registry does".into();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_shape_and_anything_else() {
        let spec = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}}]}"#;
        assert_eq!(parse(spec), ("MANIFEST_INVALID".into(), "manifest invalid".into()));
        assert_eq!(parse(b"  upstream broke \n"), (String::new(), "upstream broke".into()));
        assert_eq!(parse(b"line one\r\n  line two\n"), (String::new(), "line one line two".into()));
        let page = b"\n<!DOCTYPE HTML PUBLIC>\n<html><title>Error response</title>";
        assert_eq!(parse(page).1, "the server answered with a web page, not as a registry does");
        assert_eq!(parse(b"<html>\n<body>502</body>").1, "the server answered with a web page, not as a registry does");
        assert_eq!(parse(b"<html></html>").1, "the server answered with a web page, not as a registry does");
        assert_eq!(parse(br#"{"errors":[]}"#).0, "");
    }

    #[test]
    fn every_error_says_its_part() {
        let two = br#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},
            {"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"},
            {"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"},{"code":"X"},{"message":""}]}"#;
        assert_eq!(
            parse(two),
            (
                "DIGEST_INVALID".into(),
                "provided digest did not match uploaded content; blob unknown to registry; X".into()
            )
        );
        let many =
            br#"{"errors":[{"code":"A","message":"a"},{"message":"b"},{"message":"c"},{"message":"d"},{"code":"E"}]}"#;
        assert_eq!(parse(many), ("A".into(), "a; b; c (and 2 more)".into()));
    }
}
