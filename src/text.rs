//! Small text helpers every printing layer shares: the agent's text made safe for a terminal,
//! and the SHA-256 of some bytes in hex (how records name content they do not keep).

/// Text from records (prompts, commands, ids) is the agent's: its control characters (escape
/// sequences that move the cursor, rewrite the title, or write the clipboard with OSC 52; a
/// newline that forges a tree line) are shown as escapes, never sent to the terminal.
pub(crate) fn escape_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// The SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::ids::hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::escape_terminal;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let osc52 = "copy \u{1b}]52;c;ZXZpbA==\u{7} done\n├─ forged line\u{202e}";
        let e = escape_terminal(osc52);
        assert!(!e.chars().any(|c| c.is_control() || c == '\u{202e}'), "{e:?}");
        assert_eq!(e, "copy \\u{1b}]52;c;ZXZpbA==\\u{7} done\\n├─ forged line\\u{202e}");
    }
}
