//! The command line's own conventions: `--version` for both binaries, `generate` (shell
//! completions and the man page from the clap definitions, the forensics binary's commands
//! included), and long commands that draw no progress bar when stderr is not a terminal.

use std::process::{Command, Output, Stdio};

use crate::harness::BIN;
const FORENSICS: &str = env!("CARGO_BIN_EXE_agent-telemetry-forensics");

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).stdin(Stdio::null()).output().unwrap()
}

fn generate(what: &str) -> String {
    let out = run(BIN, &["generate", what]);
    assert!(out.status.success(), "generate {what}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "generate {what} wrote to stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.trim().is_empty(), "generate {what} printed nothing");
    text
}

/// The commands each output must name: the main binary's and those it hands to the forensics binary.
const COMMANDS: [&str; 8] = ["relay", "verify", "sessions", "search", "export", "fleet", "watch", "top"];

#[test]
fn version_names_each_binary_and_the_cargo_version() {
    for (bin, name) in [(BIN, "agent-telemetry"), (FORENSICS, "agent-telemetry-forensics")] {
        for flag in ["--version", "-V"] {
            let out = run(bin, &[flag]);
            assert!(out.status.success(), "{name} {flag}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
        }
    }
}

#[test]
fn bash_completion_is_a_valid_script() {
    let script = generate("complete-bash");
    for c in COMMANDS {
        assert!(script.contains(c), "bash completion lacks {c}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent-telemetry.bash");
    std::fs::write(&file, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().expect("bash");
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn zsh_and_fish_completions_cover_every_command() {
    let zsh = generate("complete-zsh");
    assert!(zsh.starts_with("#compdef agent-telemetry"), "{}", &zsh[..zsh.len().min(80)]);
    let fish = generate("complete-fish");
    assert!(fish.contains("complete -c agent-telemetry"), "fish completion: {}", &fish[..fish.len().min(200)]);
    for c in COMMANDS {
        assert!(zsh.contains(c), "zsh completion lacks {c}");
        assert!(fish.contains(c), "fish completion lacks {c}");
    }
}

#[test]
fn man_page_has_every_command_with_its_options() {
    let man = generate("man");
    assert!(man.contains(".TH agent-telemetry 1"), "no .TH title");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH COMMANDS"] {
        assert!(man.contains(section), "man page lacks {section}");
    }
    for c in COMMANDS.iter().chain(&["fleet agents", "timeline", "report", "generate"]) {
        assert!(man.contains(&format!(".SS \"agent-telemetry {c}\"")), "man page lacks the command {c}");
    }
    // Options of a command answered by the forensics binary, and of one answered here.
    assert!(man.contains(r"\fB\-\-since\fR"), "man page lacks sessions' --since");
    assert!(man.contains(r"\fB\-\-once\fR"), "man page lacks relay's --once");
    assert!(!man.contains("autostarted"), "a hidden flag is in the man page");
}

#[test]
fn unknown_generate_target_fails_naming_the_choices() {
    let out = run(BIN, &["generate", "complete-tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'complete-tcsh'"), "{err}");
    assert!(err.contains("complete-bash, complete-zsh, complete-fish, man"), "{err}");
}

/// Enough records that the library reports progress (every few thousand) during each command.
/// The data dir and how many records it holds (whole sessions: a few more than asked for).
fn journal(records: u64) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let sum =
        agent_telemetry::forensics::synth::generate(&dir.path().join("journal"), records, 1_796_000_000_000_000_000, 5)
            .unwrap();
    (dir, sum.records)
}

fn assert_no_bar(what: &str, stderr: &[u8]) {
    let err = String::from_utf8_lossy(stderr);
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{what}: escape codes on a piped stderr: {err:?}");
    assert!(!err.contains("=>") && !err.contains('%'), "{what}: a progress bar on a piped stderr: {err:?}");
}

#[test]
fn long_commands_draw_no_bar_on_a_piped_stderr() {
    let (data, records) = journal(12_000);
    let verify =
        Command::new(BIN).arg("verify").env("AGENT_TELEMETRY_HOME", data.path()).stdin(Stdio::null()).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert_no_bar("verify", &verify.stderr);
    assert!(verify.stderr.is_empty(), "verify: {}", String::from_utf8_lossy(&verify.stderr));
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(stdout.starts_with(&format!("journal OK: {records} record(s)")), "{stdout}");

    // The first export builds the index too: both report progress, neither may draw here.
    let out = data.path().join("all.jsonl");
    let export = Command::new(BIN)
        .args(["export", "--format", "jsonl", "--data"])
        .arg(data.path())
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    assert_no_bar("export", &export.stderr);
    assert_eq!(String::from_utf8_lossy(&export.stderr), format!("exported {records} record(s)\n"));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count() as u64, records);
}
