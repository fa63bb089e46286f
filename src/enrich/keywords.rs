//! A small case-insensitive multi-keyword finder, for the prefilters of redaction and policy
//! rules. Building an Aho-Corasick automaton cost the hook more than a third of its work (it is
//! built again in every short-lived process); this index is a bitset of the keywords' first two
//! bytes plus a sorted table, built in microseconds, and a scan is one bit test per byte.

/// Keywords (ASCII, matched case-insensitively), each at least two bytes long.
pub(crate) struct KeywordSet {
    /// Bit `b0 << 8 | b1` is set when some keyword starts with the (lowercase) bytes b0 b1.
    bigrams: Box<[u64; 1024]>,
    /// (first two bytes, keyword index), sorted.
    heads: Vec<(u16, usize)>,
    /// Each keyword's range in `bytes` (one allocation for all: the set is built in every process).
    keywords: Vec<(usize, usize)>,
    /// The keywords, lowercase, one after another.
    bytes: Vec<u8>,
}

fn pair(a: u8, b: u8) -> u16 {
    (a.to_ascii_lowercase() as u16) << 8 | b.to_ascii_lowercase() as u16
}

impl KeywordSet {
    pub(crate) fn new<'a>(keywords: impl IntoIterator<Item = &'a str>) -> KeywordSet {
        let keywords = keywords.into_iter();
        let n = keywords.size_hint().0;
        let mut set = KeywordSet {
            bigrams: Box::new([0; 1024]),
            heads: Vec::with_capacity(n),
            keywords: Vec::with_capacity(n),
            bytes: Vec::with_capacity(n * 8),
        };
        for (i, k) in keywords.enumerate() {
            let k = k.as_bytes();
            assert!(k.len() >= 2, "keywords need two bytes");
            let p = pair(k[0], k[1]);
            set.bigrams[(p >> 6) as usize] |= 1 << (p & 63);
            set.heads.push((p, i));
            let start = set.bytes.len();
            set.bytes.extend(k.iter().map(u8::to_ascii_lowercase));
            set.keywords.push((start, set.bytes.len()));
        }
        set.heads.sort_unstable();
        set
    }

    fn keyword(&self, k: usize) -> &[u8] {
        let (start, end) = self.keywords[k];
        &self.bytes[start..end]
    }

    /// Calls `found` with the index of every keyword occurrence in `text` (repeats possible).
    /// A keyword that starts with `\n` also matches at the start of the text, as if a line
    /// ended before it (so `\n-u` stands for a regex's `(?:^|\s)-u`).
    pub(crate) fn find(&self, text: &str, mut found: impl FnMut(usize)) {
        let t = text.as_bytes();
        if let Some(&first) = t.first() {
            let p = pair(b'\n', first);
            if self.bigrams[(p >> 6) as usize] & (1 << (p & 63)) != 0 {
                let start = self.heads.partition_point(|(h, _)| *h < p);
                for &(_, k) in self.heads[start..].iter().take_while(|(h, _)| *h == p) {
                    let rest = &self.keyword(k)[1..];
                    if t.len() >= rest.len() && t[..rest.len()].eq_ignore_ascii_case(rest) {
                        found(k);
                    }
                }
            }
        }
        for i in 0..t.len().saturating_sub(1) {
            let p = pair(t[i], t[i + 1]);
            if self.bigrams[(p >> 6) as usize] & (1 << (p & 63)) == 0 {
                continue;
            }
            let start = self.heads.partition_point(|(h, _)| *h < p);
            for &(h, k) in &self.heads[start..] {
                if h != p {
                    break;
                }
                let kw = self.keyword(k);
                if t.len() - i >= kw.len() && t[i..i + kw.len()].eq_ignore_ascii_case(kw) {
                    found(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keywords_case_insensitively() {
        let set = KeywordSet::new(["akia", "rm ", "-----begin", "sk-", "su"]);
        let mut hits = Vec::new();
        set.find("echo AKIAX && RM -rf; -----BEGIN key; task-1", |k| hits.push(k));
        hits.sort();
        assert_eq!(hits, vec![0, 1, 2, 3]);
        let mut none = Vec::new();
        set.find("ls -la", |k| none.push(k));
        set.find("", |k| none.push(k));
        set.find("s", |k| none.push(k));
        assert!(none.is_empty());
    }

    #[test]
    fn a_newline_keyword_also_matches_at_the_start() {
        let set = KeywordSet::new(["\n-u", " -u"]);
        let mut hits = Vec::new();
        set.find("-u a:b", |k| hits.push(k));
        set.find("x\n-U a:b", |k| hits.push(k));
        set.find("curl -u a:b", |k| hits.push(k));
        assert_eq!(hits, vec![0, 0, 1]);
        let mut none = Vec::new();
        set.find("/p/-home-user-projects/x", |k| none.push(k));
        set.find("u", |k| none.push(k));
        assert!(none.is_empty());
    }
}
