//! A small case-insensitive multi-keyword finder, for the prefilters of redaction and policy
//! rules. Building an Aho-Corasick automaton cost the hook more than a third of its work (it is
//! built again in every short-lived process); this index is a bitset of the keywords' first two
//! bytes plus a table grouped by them, built in microseconds, and a scan is one bit test per byte.

/// Keywords (ASCII, matched case-insensitively), each at least two bytes long. Built at run
/// time ([`KeywordSet::new`], the policy's rules, which a file may change) or at compile time
/// ([`KeywordTable`], the fixed secret rules): a lookup table either way.
pub(crate) struct KeywordSet {
    /// Bit [`slot`]`(b0 b1)` is set when some keyword starts with the (lowercase) bytes b0 b1
    /// (4,096 bits: a few pairs share a bit, the table below tells them apart).
    filter: Cow<'static, [u64; 64]>,
    /// Where each bucket (`slot & 255`) starts in `heads`; bucket `b` is
    /// `heads[starts[b]..starts[b + 1]]`.
    starts: Cow<'static, [u16; 257]>,
    /// (first two bytes, keyword index), grouped by bucket (counting sort: no comparison sort
    /// in a process that builds the set once and uses it a few times).
    heads: Cow<'static, [(u16, u16)]>,
    /// Each keyword's range in `bytes` (one allocation for all: the set is built in every process).
    keywords: Cow<'static, [(u32, u32)]>,
    /// The keywords, lowercase, one after another.
    bytes: Cow<'static, [u8]>,
}

use std::borrow::Cow;

const fn pair(a: u8, b: u8) -> u16 {
    (a.to_ascii_lowercase() as u16) << 8 | b.to_ascii_lowercase() as u16
}

/// The filter bit of a pair (its low 8 bits are its bucket).
const fn slot(p: u16) -> usize {
    ((p as u32).wrapping_mul(0x9E37_79B1) >> 20) as usize & 4095
}

/// A [`KeywordSet`]'s tables made at compile time from `N` keywords of `B` bytes in all (the
/// same layout [`KeywordSet::new`] builds, so the same search): a process that uses it builds
/// nothing.
pub(crate) struct KeywordTable<const N: usize, const B: usize> {
    filter: [u64; 64],
    starts: [u16; 257],
    heads: [(u16, u16); N],
    keywords: [(u32, u32); N],
    bytes: [u8; B],
}

impl<const N: usize, const B: usize> KeywordTable<N, B> {
    /// The table of `words` (`N` of them, `B` bytes in all, each at least two bytes long).
    pub(crate) const fn build(words: &[&str; N]) -> Self {
        let mut t = KeywordTable {
            filter: [0; 64],
            starts: [0; 257],
            heads: [(0, 0); N],
            keywords: [(0, 0); N],
            bytes: [0; B],
        };
        assert!(N < u16::MAX as usize, "too many keywords");
        let mut at = 0;
        let mut i = 0;
        while i < N {
            let k = words[i].as_bytes();
            assert!(k.len() >= 2, "keywords need two bytes");
            let mut j = 0;
            while j < k.len() {
                t.bytes[at + j] = k[j].to_ascii_lowercase();
                j += 1;
            }
            t.keywords[i] = (at as u32, (at + k.len()) as u32);
            at += k.len();
            let s = slot(pair(k[0], k[1]));
            t.filter[s >> 6] |= 1 << (s & 63);
            t.starts[(s & 255) + 1] += 1;
            i += 1;
        }
        assert!(at == B, "B is not the keywords' total length");
        let mut b = 0;
        while b < 256 {
            t.starts[b + 1] += t.starts[b];
            b += 1;
        }
        let mut next = t.starts;
        let mut i = 0;
        while i < N {
            let (start, _) = t.keywords[i];
            let p = pair(t.bytes[start as usize], t.bytes[start as usize + 1]);
            let b = slot(p) & 255;
            t.heads[next[b] as usize] = (p, i as u16);
            next[b] += 1;
            i += 1;
        }
        t
    }

    /// The set, borrowing this table.
    pub(crate) const fn set(&'static self) -> KeywordSet {
        KeywordSet {
            filter: Cow::Borrowed(&self.filter),
            starts: Cow::Borrowed(&self.starts),
            heads: Cow::Borrowed(&self.heads),
            keywords: Cow::Borrowed(&self.keywords),
            bytes: Cow::Borrowed(&self.bytes),
        }
    }
}

impl KeywordSet {
    pub(crate) fn new<'a>(keywords: impl IntoIterator<Item = &'a str, IntoIter: Clone>) -> KeywordSet {
        let keywords = keywords.into_iter();
        // Sized exactly first: no allocation grows while the set is built.
        let (n, bytes) = keywords.clone().fold((0, 0), |(n, b), k| (n + 1, b + k.len()));
        let mut filter = [0u64; 64];
        let mut starts = [0u16; 257];
        let mut list: Vec<(u32, u32)> = Vec::with_capacity(n);
        let mut text: Vec<u8> = Vec::with_capacity(bytes);
        for k in keywords {
            let k = k.as_bytes();
            assert!(k.len() >= 2, "keywords need two bytes");
            let start = text.len();
            text.extend_from_slice(k);
            text[start..].make_ascii_lowercase();
            let s = slot(pair(k[0], k[1]));
            filter[s >> 6] |= 1 << (s & 63);
            starts[(s & 255) + 1] += 1;
            list.push((start as u32, text.len() as u32));
        }
        assert!(list.len() < u16::MAX as usize, "too many keywords");
        for b in 0..256 {
            starts[b + 1] += starts[b];
        }
        let mut next = starts;
        let mut heads = vec![(0, 0); list.len()];
        for (i, &(start, _)) in list.iter().enumerate() {
            let p = pair(text[start as usize], text[start as usize + 1]);
            let b = slot(p) & 255;
            heads[next[b] as usize] = (p, i as u16);
            next[b] += 1;
        }
        KeywordSet {
            filter: Cow::Owned(filter),
            starts: Cow::Owned(starts),
            heads: Cow::Owned(heads),
            keywords: Cow::Owned(list),
            bytes: Cow::Owned(text),
        }
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
    fn a_table_made_at_compile_time_is_the_set_made_at_run_time() {
        const WORDS: [&str; 6] = ["akia", "rm ", "-----BEGIN", "sk-", "su", "\n-u"];
        static TABLE: KeywordTable<6, 25> = KeywordTable::build(&WORDS);
        let (built, made) = (TABLE.set(), KeywordSet::new(WORDS));
        assert_eq!(built.filter, made.filter);
        assert_eq!(built.starts, made.starts);
        assert_eq!(built.heads, made.heads);
        assert_eq!(built.keywords, made.keywords);
        assert_eq!(built.bytes, made.bytes);
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
