//! What the hook benchmarks share: the recorded payloads as stdin files, and timing statistics.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// An environment variable's non-empty value, else `d`.
pub fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_string())
}

/// A temporary home with an enabled demo project, and the recorded payloads (`AT_BENCH_FIXTURES`,
/// default the pinned CLI's fixtures) rewritten to it.
pub struct Bench {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub project: PathBuf,
    pub fixtures: PathBuf,
    pub payloads: Vec<Payload>,
}

impl Bench {
    pub fn new() -> Bench {
        let fixtures = PathBuf::from(env_or(
            "AT_BENCH_FIXTURES",
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/fixtures/claude-code-2.1.328")
                .display()
                .to_string(),
        ));
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let home = root.join("home");
        let project = home.join("projects/demo");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join(".telemetry-enabled"), "").unwrap();
        std::fs::write(project.join("README.md"), "# demo project\n").unwrap();
        let payloads = load_payloads(&fixtures, &root, &home, &project);
        assert!(!payloads.is_empty(), "no fixture payloads in {}", fixtures.display());
        Bench { _tmp: tmp, root, home, project, fixtures, payloads }
    }
}

pub struct Payload {
    pub file: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Every fixture line's payload, rewritten to the temp project and home, as a file to use as stdin.
pub fn load_payloads(fixtures: &Path, root: &Path, home: &Path, project: &Path) -> Vec<Payload> {
    let dir = root.join("payloads");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .map(|rd| rd.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            let line = line
                .replace("/home/user/projects/demo", &project.display().to_string())
                .replace("/home/user", &home.display().to_string());
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let file = dir.join(format!("{:04}.json", out.len()));
            std::fs::write(&file, serde_json::to_vec(&v["payload"]).unwrap()).unwrap();
            let mut env = Vec::new();
            for (k, val) in v["env"].as_object().unwrap() {
                let val = val.as_str().unwrap().to_string();
                if k == "CLAUDE_ENV_FILE" {
                    std::fs::create_dir_all(Path::new(&val).parent().unwrap()).unwrap();
                }
                env.push((k.clone(), val));
            }
            out.push(Payload { file, env });
        }
    }
    out
}

pub struct Stats {
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(d: &mut [Duration]) -> Stats {
        d.sort();
        let s = |q: f64| d[((d.len() as f64 - 1.0) * q).round() as usize].as_secs_f64();
        Stats {
            min: s(0.0),
            median: s(0.5),
            mean: d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len() as f64,
            p95: s(0.95),
            p99: s(0.99),
            max: s(1.0),
        }
    }

    pub fn print(&self, name: &str) {
        let ms = |x: f64| format!("{:.3} ms", x * 1e3);
        println!(
            "{name:<14} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            ms(self.min),
            ms(self.median),
            ms(self.mean),
            ms(self.p95),
            ms(self.p99),
            ms(self.max)
        );
    }

    pub fn json(&self) -> String {
        format!(
            "{{\"min_ms\":{:.4},\"median_ms\":{:.4},\"mean_ms\":{:.4},\"p95_ms\":{:.4},\"p99_ms\":{:.4},\"max_ms\":{:.4}}}",
            self.min * 1e3,
            self.median * 1e3,
            self.mean * 1e3,
            self.p95 * 1e3,
            self.p99 * 1e3,
            self.max * 1e3
        )
    }
}

/// How an executable is linked: "static" (no dynamic loader named: no PT_INTERP program header)
/// or "dynamic"; "?" when it is not a 64-bit little-endian ELF file.
pub fn linkage(path: &Path) -> &'static str {
    let Ok(b) = std::fs::read(path) else { return "?" };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || (b[4], b[5]) != (2, 1) {
        return "?";
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[32..40].try_into().unwrap()) as usize;
    let (size, n) = (u16_at(54), u16_at(56));
    let interp = (0..n).any(|i| b.get(phoff + i * size..phoff + i * size + 4) == Some(&3u32.to_le_bytes()[..]));
    if interp {
        "dynamic"
    } else {
        "static"
    }
}
