//! A lenient JSON reader for hook payloads: nothing inside a payload can make the hook give up
//! on analysing it.
//!
//! `serde_json` refuses a whole payload for a lone UTF-16 surrogate escape (`"\ud800"`, which
//! Node's `JSON.stringify` emits for a broken string), for nesting deeper than 128, and it keeps
//! only the last of duplicate keys. An agent controls many strings and objects that end up in a
//! payload (commands, MCP tool arguments), so each of these would let it switch the analysis
//! off, or hide one value behind another. This reader:
//!
//! - replaces lone surrogates with U+FFFD (and counts them);
//! - replaces an array or object nested deeper than [`MAX_DEPTH`] with a string giving its size
//!   and SHA-256 (the shallow part of the payload is still analysed); skipping it is iterative,
//!   so no depth can overflow the stack;
//! - keeps the last value of a duplicated key (as JavaScript does) and returns the earlier ones
//!   with their JSON pointer, so the caller can analyse and store every value;
//! - accepts raw control characters inside strings and numbers out of `f64` range (kept as
//!   their text), noting both.
//!
//! What it does not repair: input that is not one JSON value (truncated, trailing bytes). Claude
//! Code writes the framing, not the agent, so such input is an error record, as before.

use serde_json::{Map, Number, Value};

/// Arrays and objects nested deeper than this (from the payload's root) are replaced by a digest.
/// Records nest the payload a few levels down and readers use serde_json's limit of 128.
pub(crate) const MAX_DEPTH: usize = 64;

/// What was repaired while reading.
#[derive(Debug, Default, Clone)]
pub struct Repairs {
    pub lone_surrogates: u32,
    pub deep_values: u32,
    pub control_chars: u32,
    pub big_numbers: u32,
    /// Earlier values of duplicated keys: (JSON pointer, value). The payload keeps the last.
    pub duplicates: Vec<(String, Value)>,
}

impl Repairs {
    pub(crate) fn any(&self) -> bool {
        self.lone_surrogates + self.deep_values + self.control_chars + self.big_numbers > 0
            || !self.duplicates.is_empty()
    }

    /// One sentence for the record.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.lone_surrogates > 0 {
            parts.push(format!("{} lone UTF-16 surrogate(s) replaced with U+FFFD", self.lone_surrogates));
        }
        if self.deep_values > 0 {
            parts.push(format!(
                "{} value(s) nested deeper than {MAX_DEPTH} levels replaced by a digest",
                self.deep_values
            ));
        }
        if self.control_chars > 0 {
            parts.push(format!("{} raw control character(s) in strings accepted", self.control_chars));
        }
        if self.big_numbers > 0 {
            parts.push(format!("{} number(s) out of range kept as text", self.big_numbers));
        }
        if !self.duplicates.is_empty() {
            let mut ptrs: Vec<&str> = self.duplicates.iter().map(|(p, _)| p.as_str()).collect();
            ptrs.dedup();
            parts.push(format!(
                "duplicate keys (every value analysed, the last kept in raw_input): {}",
                ptrs.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// Why a payload is not one JSON value: what the reader found, and at which byte of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at byte {at}")]
pub struct NotJson {
    /// In plain words: `unterminated string`, `expected ':'`, `trailing characters after the JSON value`.
    pub problem: &'static str,
    pub at: usize,
}

/// Reads one JSON value from `text` leniently. `Err` names where and why it is not JSON.
pub fn parse(text: &str) -> Result<(Value, Repairs), NotJson> {
    let mut p = Parser { s: text.as_bytes(), text, i: 0, repairs: Repairs::default(), path: Vec::new() };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok((v, p.repairs))
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    repairs: Repairs,
    /// Where the parser is (the JSON pointer of a duplicate key is made from it, only then).
    path: Vec<Segment>,
}

/// A step of a JSON pointer: an object's key (unescaped) or an array's index.
enum Segment {
    Key(String),
    Index(usize),
}

impl Parser<'_> {
    /// The JSON pointer of where the parser is (RFC 6901: `~` as `~0`, `/` as `~1`).
    fn pointer(&self) -> String {
        let mut p = String::new();
        for segment in &self.path {
            p.push('/');
            match segment {
                Segment::Key(k) => p.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Segment::Index(i) => p.push_str(&i.to_string()),
            }
        }
        p
    }

    fn err(&self, problem: &'static str) -> NotJson {
        NotJson { problem, at: self.i }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, NotJson> {
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of input")),
            Some(b'{' | b'[') if depth >= MAX_DEPTH => self.skip_deep(),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, NotJson> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn number(&mut self) -> Result<Value, NotJson> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let d = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i > d
        };
        if !digits(self) {
            return Err(self.err("invalid number"));
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.err("invalid number"));
            }
        }
        let tok = &self.text[start..self.i];
        match serde_json::from_str::<Number>(tok) {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.repairs.big_numbers += 1;
                Ok(Value::String(tok.to_string()))
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let s = std::str::from_utf8(h).ok()?;
        let v = u32::from_str_radix(s, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Result<String, NotJson> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\') {
                if self.s[self.i] < 0x20 {
                    self.repairs.control_chars += 1;
                }
                self.i += 1;
            }
            out.push_str(&self.text[start..self.i]);
            match self.s.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                _ => {}
            }
            self.i += 1; // the backslash
            let Some(&e) = self.s.get(self.i) else { return Err(self.err("unterminated escape")) };
            self.i += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let Some(hi) = self.hex4() else { return Err(self.err("invalid \\u escape")) };
                    if (0xD800..0xDC00).contains(&hi) {
                        // A high surrogate: valid only when a low one follows.
                        let save = self.i;
                        let lo = if self.s[self.i..].starts_with(b"\\u") {
                            self.i += 2;
                            self.hex4().filter(|lo| (0xDC00..0xE000).contains(lo))
                        } else {
                            None
                        };
                        match lo {
                            Some(lo) => out.push(
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)).unwrap_or('\u{FFFD}'),
                            ),
                            None => {
                                self.i = save;
                                self.repairs.lone_surrogates += 1;
                                out.push('\u{FFFD}');
                            }
                        }
                    } else if (0xDC00..0xE000).contains(&hi) {
                        self.repairs.lone_surrogates += 1;
                        out.push('\u{FFFD}');
                    } else {
                        out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                    }
                }
                _ => return Err(self.err("invalid escape")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, NotJson> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            self.path.push(Segment::Index(items.len()));
            let v = self.value(depth + 1);
            self.path.pop();
            items.push(v?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, NotJson> {
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            self.path.push(Segment::Key(key));
            let v = self.value(depth + 1);
            let duplicate = matches!(self.path.last(), Some(Segment::Key(k)) if map.contains_key(k));
            let pointer = duplicate.then(|| self.pointer());
            let key = match self.path.pop() {
                Some(Segment::Key(k)) => k,
                _ => String::new(), // pushed above: never
            };
            let v = v?;
            if let Some(earlier) = map.insert(key, v) {
                self.repairs.duplicates.push((pointer.unwrap_or_default(), earlier));
            }
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    /// Skips a too-deep array or object without recursion; returns its digest.
    fn skip_deep(&mut self) -> Result<Value, NotJson> {
        let start = self.i;
        let mut depth = 0usize;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        break;
                    }
                }
                b'"' => {
                    self.i += 1;
                    while self.i < self.s.len() && self.s[self.i] != b'"' {
                        self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        if depth != 0 || self.i > self.s.len() {
            self.i = self.s.len();
            return Err(self.err("unterminated deep nesting"));
        }
        let raw = &self.s[start..self.i];
        self.repairs.deep_values += 1;
        Ok(Value::String(format!(
            "[nesting deeper than {MAX_DEPTH} levels omitted: {} bytes sha256={}]",
            raw.len(),
            crate::text::sha256_hex(raw)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_serde_reads() {
        for t in [r#"{"a":[1,2.5,-3e2,true,null,"x\n\u00e9\ud83d\ude00"],"b":{}}"#, "[]", "\"s\"", "0"] {
            let (v, r) = parse(t).unwrap();
            assert_eq!(v, serde_json::from_str::<Value>(t).unwrap(), "{t}");
            assert!(!r.any());
        }
    }

    #[test]
    fn repairs_surrogates_depth_and_duplicates() {
        let (v, r) = parse(r#"{"p":"a\ud800b\udc00c"}"#).unwrap();
        assert_eq!(v["p"], "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(r.lone_surrogates, 2);

        let deep = format!("{{\"cmd\":\"rm -rf /\",\"x\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let (v, r) = parse(&deep).unwrap();
        assert_eq!(v["cmd"], "rm -rf /");
        assert_eq!(r.deep_values, 1);

        let (v, r) = parse(r#"{"tool_input":{"command":"rm -rf /","command":"ls"}}"#).unwrap();
        assert_eq!(v["tool_input"]["command"], "ls");
        assert_eq!(r.duplicates, vec![("/tool_input/command".to_string(), json!("rm -rf /"))]);

        // Pointers escape `~` and `/` and count array items.
        let (_, r) = parse(r#"{"a/b":[0,{"c~d":1,"c~d":2}],"x":{"y":1}}"#).unwrap();
        assert_eq!(r.duplicates, vec![("/a~1b/1/c~0d".to_string(), json!(1))]);
    }

    #[test]
    fn refuses_what_is_not_one_value() {
        for t in ["", "{", "{\"a\":1}x", "[1,]", "{\"a\" 1}", "\"\\x\"", &"[".repeat(100_000)] {
            assert!(parse(t).is_err(), "{t}");
        }
        assert_eq!(parse("{\"a\" 1}").unwrap_err(), NotJson { problem: "expected ':'", at: 5 });
        assert_eq!(parse("[1] x").unwrap_err().to_string(), "trailing characters after the JSON value at byte 4");
    }
}
