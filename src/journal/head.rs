//! The journal's head: the `seq` and `hash` of the last record written, kept at the start of
//! `journal/.lock` (the file every append already holds open and locked, so keeping it costs one
//! `pwrite` per record, no extra open).
//!
//! The chain alone cannot show that whole records were removed from its end: what is left is a
//! valid, shorter chain. The head can. `verify` compares it with the journal's last record, and
//! every append compares it with the tail it found: a tail behind the head (records cut from the
//! end, or the last segment renamed away) is written into the chain as a `journal_tail_removed`
//! record, so the evidence survives the next append that moves the head on.
//!
//! What it does not prove: an agent running as our user can rewrite the head together with the
//! journal. Records already exported are then caught by the relay's checkpoint and by
//! `verify --remote`; records not yet exported, by nothing local.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The directory entries a journal holds besides its segments. `verify` refuses anything else
/// (a hidden or renamed segment is not skipped silently).
pub(crate) const AUX_FILES: &[&str] = &[".lock", ".lost", ".projects", ".downloads"];

/// The event type of the record an append writes when it finds the journal shorter than its head.
pub(crate) const TAIL_REMOVED: &str = "journal_tail_removed";

const PREFIX: &str = "head ";
/// `head <seq, 20 wide> <hash, 64 hex>\n`: fixed width, rewritten in place.
const LEN: usize = PREFIX.len() + 20 + 1 + 64 + 1;

/// The line stored for `(seq, hash)`.
fn line(seq: u64, hash: &str) -> String {
    format!("{PREFIX}{seq:>20} {hash}\n")
}

/// Parses the head from the start of the lock file's bytes. `Ok(None)`: no head was ever
/// written (an empty lock file, or a journal from before heads); `Err`: bytes that are not a head.
pub(crate) fn parse(bytes: &[u8]) -> Result<Option<(u64, String)>, &'static str> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes.get(..LEN).ok_or("the head is cut short")?).map_err(|_| "not text")?;
    let rest = text.strip_prefix(PREFIX).ok_or("not a head")?;
    let (seq, hash) = rest.trim_end_matches('\n').trim_start().split_once(' ').ok_or("not a head")?;
    let seq = seq.parse::<u64>().map_err(|_| "the head's seq is not a number")?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the head's hash is not 64 hex digits");
    }
    Ok(Some((seq, hash.to_string())))
}

/// Reads the head from the open lock file.
pub(crate) fn read(lock: &File) -> Result<Option<(u64, String)>, &'static str> {
    let mut buf = [0u8; LEN];
    let mut got = 0;
    while got < LEN {
        match lock.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err("the head cannot be read"),
        }
    }
    parse(&buf[..got])
}

/// Records `(seq, hash)` as the head (best effort: a head that lags by one record after a
/// crash is allowed by every check).
pub(crate) fn write(lock: &File, seq: u64, hash: &str) {
    let _ = lock.write_all_at(line(seq, hash).as_bytes(), 0);
}

/// Reads the head of the journal in `dir` (its `.lock`), not following a link. `Ok(None)`: no
/// lock file, or no head in it.
pub(crate) fn load(dir: &std::path::Path) -> Result<Option<(u64, String)>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(".lock"))
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("the journal's head (.lock) cannot be opened: {e}")),
    };
    if !f.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err("the journal's head (.lock) is not a regular file".into());
    }
    read(&f).map_err(|why| format!("the journal's head (.lock) is damaged: {why}"))
}

/// How the tail an append found compares with the head: `Some(reason)` when records were removed
/// from the end (the tail is behind the head, or the record at the head's seq is another one).
pub(crate) fn tail_removed(head: &(u64, String), tail: Option<&(u64, String)>) -> Option<String> {
    let (hs, hh) = head;
    match tail {
        None => Some(format!("the journal is empty, but its head says seq {hs} was written: every record was removed")),
        Some((ts, _)) if ts < hs => Some(format!(
            "the journal ends at seq {ts}, but its head says seq {hs} was written: {} record(s) were removed from the end",
            hs - ts
        )),
        Some((ts, th)) if ts == hs && th != hh => Some(format!(
            "the record at seq {ts} is not the one the head names ({hh}): the end of the journal was rewritten"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let h = "ab".repeat(32);
        let l = line(42, &h);
        assert_eq!(l.len(), LEN);
        assert_eq!(parse(l.as_bytes()).unwrap(), Some((42, h.clone())));
        assert_eq!(parse(b"").unwrap(), None);
        assert!(parse(b"head 1 x\n").is_err());
        assert!(parse(l.replace("42", "4x").as_bytes()).is_err());
        assert!(tail_removed(&(5, h.clone()), Some(&(5, h.clone()))).is_none());
        assert!(tail_removed(&(5, h.clone()), Some(&(6, "cd".repeat(32)))).is_none(), "a head lagging by a crash");
        assert!(tail_removed(&(5, h.clone()), Some(&(3, h.clone()))).unwrap().contains("2 record(s)"));
        assert!(tail_removed(&(5, h.clone()), Some(&(5, "cd".repeat(32)))).is_some());
        assert!(tail_removed(&(0, h.clone()), None).is_some());
    }
}
