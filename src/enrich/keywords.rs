//! A small case-insensitive multi-keyword finder, for the prefilters of redaction and policy
//! rules. Building an Aho-Corasick automaton cost the hook more than a third of its work (it is
//! built again in every short-lived process); this index is a bitset of the keywords' first two
//! bytes plus a table grouped by them, built in microseconds, and a scan is one bit test per byte.

/// Keywords (ASCII, matched case-insensitively), each at least two bytes long.
pub(crate) struct KeywordSet {
    /// Bit [`slot`]`(b0 b1)` is set when some keyword starts with the (lowercase) bytes b0 b1
    /// (4,096 bits: a few pairs share a bit, the table below tells them apart).
    filter: [u64; 64],
    /// Where each bucket (`slot & 255`) starts in `heads`; bucket `b` is
    /// `heads[starts[b]..starts[b + 1]]`.
    starts: [u16; 257],
    /// (first two bytes, keyword index), grouped by bucket (counting sort: no comparison sort
    /// in a process that builds the set once and uses it a few times).
    heads: Vec<(u16, u16)>,
    /// Each keyword's range in `bytes` (one allocation for all: the set is built in every process).
    keywords: Vec<(u32, u32)>,
    /// The keywords, lowercase, one after another.
    bytes: Vec<u8>,
}

fn pair(a: u8, b: u8) -> u16 {
    (a.to_ascii_lowercase() as u16) << 8 | b.to_ascii_lowercase() as u16
}

/// The filter bit of a pair (its low 8 bits are its bucket).
fn slot(p: u16) -> usize {
    ((p as u32).wrapping_mul(0x9E37_79B1) >> 20) as usize & 4095
}

impl KeywordSet {
    pub(crate) fn new<'a>(keywords: impl IntoIterator<Item = &'a str, IntoIter: Clone>) -> KeywordSet {
        let keywords = keywords.into_iter();
        // Sized exactly first: no allocation grows while the set is built.
        let (n, bytes) = keywords.clone().fold((0, 0), |(n, b), k| (n + 1, b + k.len()));
        let mut set = KeywordSet {
            filter: [0; 64],
            starts: [0; 257],
            heads: Vec::new(),
            keywords: Vec::with_capacity(n),
            bytes: Vec::with_capacity(bytes),
        };
        for k in keywords {
            let k = k.as_bytes();
            assert!(k.len() >= 2, "keywords need two bytes");
            let start = set.bytes.len();
            set.bytes.extend_from_slice(k);
            set.bytes[start..].make_ascii_lowercase();
            let s = slot(pair(k[0], k[1]));
            set.filter[s >> 6] |= 1 << (s & 63);
            set.starts[(s & 255) + 1] += 1;
            set.keywords.push((start as u32, set.bytes.len() as u32));
        }
        assert!(set.keywords.len() < u16::MAX as usize, "too many keywords");
        for b in 0..256 {
            set.starts[b + 1] += set.starts[b];
        }
        let mut next = set.starts;
        set.heads = vec![(0, 0); set.keywords.len()];
        for (i, &(start, _)) in set.keywords.iter().enumerate() {
            let p = pair(set.bytes[start as usize], set.bytes[start as usize + 1]);
            let b = slot(p) & 255;
            set.heads[next[b] as usize] = (p, i as u16);
            next[b] += 1;
        }
        set
    }

    fn keyword(&self, k: usize) -> &[u8] {
        let (start, end) = self.keywords[k];
        &self.bytes[start as usize..end as usize]
    }

    /// The keywords that start with the pair `p` (and a few that only share its bucket).
    fn bucket(&self, p: u16) -> Option<&[(u16, u16)]> {
        let s = slot(p);
        if self.filter[s >> 6] & (1 << (s & 63)) == 0 {
            return None;
        }
        let b = s & 255;
        Some(&self.heads[self.starts[b] as usize..self.starts[b + 1] as usize])
    }

    /// Calls `found` with the index of every keyword occurrence in `text` (repeats possible).
    /// A keyword that starts with `\n` also matches at the start of the text, as if a line
    /// ended before it (so `\n-u` stands for a regex's `(?:^|\s)-u`).
    pub(crate) fn find(&self, text: &str, mut found: impl FnMut(usize)) {
        self.find_ends(text, |k, _| found(k));
    }

    /// As [`KeywordSet::find`], with where each occurrence ends in `text`.
    pub(crate) fn find_ends(&self, text: &str, mut found: impl FnMut(usize, usize)) {
        let t = text.as_bytes();
        if let Some(&first) = t.first() {
            let p = pair(b'\n', first);
            for &(h, k) in self.bucket(p).unwrap_or_default() {
                let rest = &self.keyword(k as usize)[1..];
                if h == p && t.len() >= rest.len() && t[..rest.len()].eq_ignore_ascii_case(rest) {
                    found(k as usize, rest.len());
                }
            }
        }
        for i in 0..t.len().saturating_sub(1) {
            let p = pair(t[i], t[i + 1]);
            let Some(heads) = self.bucket(p) else { continue };
            for &(h, k) in heads {
                if h != p {
                    continue;
                }
                let kw = self.keyword(k as usize);
                if t.len() - i >= kw.len() && t[i..i + kw.len()].eq_ignore_ascii_case(kw) {
                    found(k as usize, i + kw.len());
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
