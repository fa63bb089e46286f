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
    crate::ids::hex(&crate::ids::sha256::Sha256::digest(bytes))
}

/// Standard or URL-safe base64, trailing `=` optional; `None` if `run` is not base64 (a
/// character outside both alphabets, or a length no encoding gives). The one decoder the
/// analysis uses: tokens in records, names built at run time, `base64 -d` in commands.
pub(crate) fn base64_decode(run: &[u8]) -> Option<Vec<u8>> {
    let end = run.iter().rposition(|c| *c != b'=').map_or(0, |i| i + 1);
    let run = &run[..end];
    if run.len() % 4 == 1 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    for chunk in run.chunks(4) {
        let mut n = 0u32;
        for (k, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * k);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{base64_decode, escape_terminal};

    #[test]
    fn control_characters_are_shown_not_sent() {
        let osc52 = "copy \u{1b}]52;c;ZXZpbA==\u{7} done\n├─ forged line\u{202e}";
        let e = escape_terminal(osc52);
        assert!(!e.chars().any(|c| c.is_control() || c == '\u{202e}'), "{e:?}");
        assert_eq!(e, "copy \\u{1b}]52;c;ZXZpbA==\\u{7} done\\n├─ forged line\\u{202e}");
    }

    #[test]
    fn base64_in_both_alphabets_padded_or_not() {
        assert_eq!(base64_decode(b"ZXZpbA==").as_deref(), Some(&b"evil"[..]));
        assert_eq!(base64_decode(b"ZXZpbA").as_deref(), Some(&b"evil"[..]));
        assert_eq!(base64_decode(b"-_-_").as_deref(), base64_decode(b"+/+/").as_deref());
        assert_eq!(base64_decode(b"ZXZpb"), None, "a length no encoding gives");
        assert_eq!(base64_decode(b"ZX*p"), None, "outside both alphabets");
    }
}
