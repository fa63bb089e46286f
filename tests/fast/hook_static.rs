//! The binaries are static on Linux with glibc (`.cargo/config.toml`): the hook starts with no
//! dynamic loader. Checked on the ELF headers of the binaries this build made (the same flags make
//! the release binaries), and that a static binary still resolves host names (the relay and
//! `verify --remote` connect to names; glibc's `files` and `dns` lookups are built into libc.a).
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use crate::harness::sandbox::Sandbox;
use crate::harness::BIN;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

const FORENSICS: &str = env!("CARGO_BIN_EXE_agent-telemetry-forensics");

/// ELF type and the program header types of a 64-bit little-endian ELF file.
fn elf_kind(path: &str) -> (u16, Vec<u32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "{path}: not ELF");
    assert_eq!((b[4], b[5]), (2, 1), "{path}: not a 64-bit little-endian ELF");
    let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap());
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let e_type = u16_at(16);
    let phoff = u64::from_le_bytes(b[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    (e_type, (0..phnum).map(|i| u32_at(phoff + i * phentsize)).collect())
}

#[test]
fn hook_binaries_are_static_and_position_dependent() {
    const ET_EXEC: u16 = 2;
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    for bin in [BIN, FORENSICS] {
        let (e_type, phdrs) = elf_kind(bin);
        assert!(
            !phdrs.contains(&PT_INTERP),
            "{bin}: names a dynamic loader (PT_INTERP): not static (is RUSTFLAGS set? it replaces .cargo/config.toml's flags)"
        );
        assert!(!phdrs.contains(&PT_DYNAMIC), "{bin}: has a dynamic section: not static");
        assert_eq!(e_type, ET_EXEC, "{bin}: not position-dependent (ET_EXEC): relocated at every start");
    }
}

#[test]
fn hook_static_binary_resolves_localhost_by_name() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut first = String::new();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let _ = r.read_line(&mut first);
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                break;
            }
        }
        let _ = write!(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        first
    });
    let sb = Sandbox::new();
    let p = sb.payload("PreToolUse", "s", serde_json::json!({"tool_name": "Bash", "tool_input": {"command": "ls"}}));
    sb.hook(&p).ok();
    let out = sb.run(&["verify", "--remote", &format!("http://localhost:{port}")], &[], b"");
    out.no_panic();
    // Had the name not resolved, nothing connected: this connection ends the wait (and the check fails).
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    let first = seen.join().unwrap();
    assert!(first.starts_with("GET /select/logsql/query"), "request: {first:?}\n{}\n{}", out.stdout, out.stderr);
}
