//! Text that came from the network, made safe to show on a terminal or in a log: control
//! characters (escape sequences, carriage returns, bells) are dropped and the length is
//! capped, so a hostile server can neither drive the terminal nor flood it.

/// How many characters of outside text are shown.
pub const SHOWN: usize = 512;

/// `text` without control characters, at most `SHOWN` characters long.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(SHOWN * 4));
    for (kept, c) in text.chars().filter(|c| !c.is_control()).enumerate() {
        if kept == SHOWN {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_floods_are_defused() {
        assert_eq!(printable("bad\u{1b}[2J\u{1b}]0;owned\u{7}\r\nthing"), "bad[2J]0;ownedthing");
        assert_eq!(printable("tab\there"), "tabhere");
        assert_eq!(printable("caf\u{e9} \u{9b}x"), "caf\u{e9} x");
        let long = printable(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), SHOWN + 1);
        assert!(long.ends_with('…'));
    }
}
