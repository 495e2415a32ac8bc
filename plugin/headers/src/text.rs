//! Text that came from the network, made safe to show on a terminal or in a log: control
//! characters (escape sequences, carriage returns, bells) and invisible formatting ones
//! (bidirectional overrides, which can make shown text read differently) are dropped and
//! the length is capped, so a hostile server can neither drive the terminal nor flood it.

/// How many characters of outside text are shown.
pub const SHOWN: usize = 512;

/// `text` without control or formatting characters, at most `SHOWN` characters long.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(SHOWN * 4));
    for (kept, c) in text.chars().filter(|&c| !c.is_control() && !is_format(c)).enumerate() {
        if kept == SHOWN {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// The system's words for a failure as Go (and so Helm) says them: "no such file or
/// directory", without Rust's capital and " (os error 2)". Host and component say them alike.
pub fn system_words(err: &std::io::Error) -> String {
    let text = err.to_string();
    let Some(code) = err.raw_os_error() else { return text };
    let words = text.strip_suffix(&format!(" (os error {code})")).unwrap_or(&text);
    let mut chars = words.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// Invisible formatting characters (Unicode category Cf), which Go does not call printable
/// either.
pub fn is_format(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_floods_are_defused() {
        assert_eq!(printable("bad\u{1b}[2J\u{1b}]0;owned\u{7}\r\nthing"), "bad[2J]0;ownedthing");
        assert_eq!(printable("tab\there"), "tabhere");
        assert_eq!(printable("caf\u{e9} \u{9b}x"), "caf\u{e9} x");
        assert_eq!(printable("evil\u{202E}txt.exe\u{200B}"), "eviltxt.exe");
        let long = printable(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), SHOWN + 1);
        assert!(long.ends_with('…'));
    }
}
