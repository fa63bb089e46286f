//! The HTML report in a real browser (slow stage: needs Debian's `chromium`; a missing browser
//! fails the test, it never passes silently): it renders with no console error and no blocked
//! request, the rendered page has one waterfall bar per span (one per model call, also when the
//! transcripts are gone and the calls come from the journal), and a screenshot is kept in the
//! test's output directory.

use crate::harness::recording;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::command;

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("slow stage: chromium is not installed (apt-get install -y chromium)");
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
#[ignore = "slow stage: needs chromium"]
fn report_renders_in_chromium() {
    let browser = chromium();
    // `subagents-copy`: the transcripts deleted (a copied data dir): the model calls come from
    // the relay's model_call records and must render all the same.
    for name in ["subagents", "tools", "subagents-copy"] {
        let rep = recording::replay(name.trim_end_matches("-copy"));
        let data = rep.root().join("home/.local/share/agent-telemetry");
        if name.ends_with("-copy") {
            std::fs::remove_dir_all(rep.root().join("home/.claude")).unwrap();
        }
        let sid = rep.meta["sessions"][0].as_str().unwrap();
        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("forensics-report");
        std::fs::create_dir_all(&out_dir).unwrap();
        let html = out_dir.join(format!("{name}.html"));
        let o = command(rep.root().join("no-home"), &["report", sid, "-o"])
            .arg(&html)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let tree = command(rep.root().join("no-home"), &["tree", sid, "--json", "--data"]).arg(&data).output().unwrap();
        let tree = String::from_utf8(tree.stdout).unwrap();
        let spans = tree.lines().count();
        let chats = tree.lines().filter(|l| l.contains("\"name\":\"chat ")).count();
        assert!(spans > 3 && (name == "tools" || chats > 0), "{name}: {tree}");

        let profile = tempfile::tempdir().unwrap();
        let url = format!("file://{}", html.display());
        let dom = headless(profile.path()).arg("--dump-dom").arg(&url).output().unwrap();
        assert!(dom.status.success(), "{browser:?} --dump-dom: {}", String::from_utf8_lossy(&dom.stderr));
        let dom_text = String::from_utf8_lossy(&dom.stdout);
        assert_eq!(dom_text.matches("class=\"bar ").count(), spans, "{name}: one rendered bar per span");
        assert!(dom_text.contains("id=\"findings\"") && dom_text.contains("id=\"tree\""));
        assert_eq!(dom_text.matches("class=\"bar chat").count(), chats, "{name}: one rendered bar per model call");
        let log = String::from_utf8_lossy(&dom.stderr);
        for bad in ["Uncaught", "Refused to", "ERR_", "Content Security Policy"] {
            assert!(
                !log.lines().any(|l| l.contains("CONSOLE") && l.contains(bad)) && !log.contains(&format!("\"{bad}")),
                "{name}: console: {log}"
            );
        }
        assert!(!log.contains(":CONSOLE("), "{name}: a console message: {log}");

        let png = out_dir.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        let shot = headless(profile.path())
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1280,1600")
            .arg(&url)
            .output()
            .unwrap();
        assert!(shot.status.success(), "{}", String::from_utf8_lossy(&shot.stderr));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{name}: a real screenshot");
        println!("{name}: screenshot kept at {}", png.display());
    }
}
