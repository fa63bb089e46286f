//! The process environment, read once: one pass over the C environment block into a sorted
//! table, then every lookup is a binary search. `std::env::var` scans the whole block (glibc's
//! `getenv`) and copies under a lock for each name, and a configuration asks for some sixty
//! names; with the hundred-odd variables of a developer's shell that was most of the
//! configuration's cost in every hook process.
//!
//! Sound because nothing in this product changes its own environment (no `set_var`,
//! `remove_var`, `putenv`, `setenv`): the block is only read.

use std::ffi::CStr;
use std::os::raw::c_char;

/// A copy of the environment's `NAME=value` entries (one allocation for all), sorted by name.
pub(crate) struct Environ {
    text: Vec<u8>,
    /// (start of the name, its `=`, end of the value) in `text`.
    entries: Vec<(u32, u32, u32)>,
}

extern "C" {
    static environ: *const *const c_char;
}

impl Environ {
    pub(crate) fn capture() -> Environ {
        let mut entries = Vec::new();
        let mut text = Vec::new();
        // SAFETY: `environ` is the C library's NUL-terminated array of NUL-terminated strings;
        // nothing in this process modifies it (see the module's documentation).
        unsafe {
            let mut p = environ;
            while !p.is_null() && !(*p).is_null() {
                let entry = CStr::from_ptr(*p).to_bytes();
                if let Some(eq) = entry.iter().position(|&b| b == b'=') {
                    let start = text.len() as u32;
                    text.extend_from_slice(entry);
                    entries.push((start, start + eq as u32, text.len() as u32));
                }
                p = p.add(1);
            }
        }
        let mut env = Environ { text, entries };
        // The first of two entries with one name wins, as with getenv (a stable sort keeps it first).
        let Environ { text, entries } = &mut env;
        entries.sort_by(|a, b| text[a.0 as usize..a.1 as usize].cmp(&text[b.0 as usize..b.1 as usize]));
        env
    }

    fn name(&self, e: &(u32, u32, u32)) -> &[u8] {
        &self.text[e.0 as usize..e.1 as usize]
    }

    /// The value of `name` if it is set, not empty and UTF-8 (what the configuration reads).
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let i = self.entries.partition_point(|e| self.name(e) < name.as_bytes());
        let e = self.entries.get(i).filter(|e| self.name(e) == name.as_bytes())?;
        let value = std::str::from_utf8(&self.text[e.1 as usize + 1..e.2 as usize]).ok()?;
        (!value.is_empty()).then(|| value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_reads_as_std_reads_it() {
        let env = Environ::capture();
        let mut n = 0;
        for (k, v) in std::env::vars_os() {
            let Some(k) = k.to_str() else { continue };
            let want = v.to_str().filter(|v| !v.is_empty()).map(str::to_string);
            assert_eq!(env.get(k), want, "{k}");
            n += 1;
        }
        assert!(n > 0);
        assert_eq!(env.get("AGENT_TELEMETRY_SURELY_NOT_SET_ANYWHERE"), None);
        assert_eq!(env.get(""), None);
    }
}
