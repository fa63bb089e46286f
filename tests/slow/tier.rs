//! The collector tier of deploy/ (slow stage: `#[ignore]`d in the fast stage, run by
//! `just test-slow`), run here with the project's collector build, Jaeger and VictoriaLogs on
//! free loopback ports:
//!
//! ```text
//! 20 hosts (own data dir, agent id, journal, relay --foreground)
//!   hosts 0..9   --gRPC--> agent collector 0 ┐  deploy/collector-agent.yaml: loadbalancing by trace id
//!   hosts 10..17 --gRPC--> agent collector 1 ┘  (static list), persistent queue, TLS + bearer token
//!   host 18 --gRPC, TLS, token file--> gateway 0  (the relay's own [export] token_file / ca_file)
//!   host 19 --HTTP, TLS, token file--> gateway 0
//!       -> gateway 0, gateway 1                 deploy/collector-gateway.yaml: TLS + bearertokenauth,
//!                                               tail sampling (the rest at 0 %), persistent queues
//!       -> VictoriaLogs (logs), Jaeger (traces)
//! ```
//!
//! The journals grow in three waves; gateway 0 is stopped (SIGTERM) after the first and started
//! again after the second, while the relays and agents keep sending; agent 1 is killed (SIGKILL)
//! while the third is sent, and started again. Then:
//! - every journaled record of every host arrives in VictoriaLogs (distinct `agent_telemetry.seq`
//!   per `agent.id` = the host's journal);
//! - every trace the sampling policy must keep (a span with a finding, an error status or an
//!   incomplete span, in the reference: the same journals through `relay --once` to files) is
//!   in Jaeger whole (the same span ids), and no other trace is (the rest is sampled at 0 %);
//! - the token is nowhere in clear: not in the hosts' files (status, checkpoint, journal, relay
//!   logs), `status` output, the collectors' logs, nor in the data that arrived.
//!
//! Throughput (records per second, first relay start to the last record visible) and end-to-end
//! latency (a hook record to visible in VictoriaLogs, through agent and gateway) are printed.
//!
//!     cargo test --test slow tier:: -- --include-ignored --test-threads=1 --nocapture
//!     AT_TIER_WAVE=500 cargo test --test slow tier::twenty -- --include-ignored --nocapture   (30,000 records)

use crate::harness::relay::{self, Dest, Install, RelayProc};
use crate::harness::run_with_stdin;
use crate::harness::stack::{self, wait_for, Stack};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOSTS: usize = 20;
/// Records per host per wave (three waves): 60, or `AT_TIER_WAVE` for a larger run.
fn wave_size() -> usize {
    std::env::var("AT_TIER_WAVE").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}
const TOKEN: &str = "tier-token-4b1d9e27c3";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_ports<const N: usize>() -> [u16; N] {
    let l: Vec<TcpListener> = (0..N).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    std::array::from_fn(|i| l[i].local_addr().unwrap().port())
}

/// One collector of the tier: the shipped config, settings by environment, its own ports and
/// queue dir (kept across a restart).
struct Collector {
    name: String,
    config: &'static str,
    env: Vec<(String, String)>,
    grpc: u16,
    http: u16,
    health: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// CPU seconds (user + system) of the processes that have exited, less their start-up.
    cpu_done: f64,
    /// CPU seconds the running process had used when it became healthy (start-up, not work).
    cpu_start: f64,
}

impl Collector {
    fn new(name: &str, config: &'static str, base: &Path, extra: Vec<(String, String)>) -> Collector {
        let [grpc, http, health, metrics] = free_ports::<4>();
        let dir = base.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("AGENT_TELEMETRY_BIND".into(), "127.0.0.1".into()),
            ("AGENT_TELEMETRY_OTLP_GRPC_PORT".into(), grpc.to_string()),
            ("AGENT_TELEMETRY_OTLP_HTTP_PORT".into(), http.to_string()),
            ("AGENT_TELEMETRY_COLLECTOR_HEALTH_PORT".into(), health.to_string()),
            ("AGENT_TELEMETRY_COLLECTOR_METRICS_PORT".into(), metrics.to_string()),
            ("AGENT_TELEMETRY_COLLECTOR_QUEUE_DIR".into(), dir.join("queue").display().to_string()),
            ("AGENT_TELEMETRY_COLLECTOR_NAME".into(), name.into()),
            ("AGENT_TELEMETRY_RETRY_MAX_INTERVAL".into(), "1s".into()),
        ];
        env.extend(extra);
        let mut c = Collector {
            name: name.into(),
            config,
            env,
            grpc,
            http,
            health,
            dir,
            child: None,
            cpu_done: 0.0,
            cpu_start: 0.0,
        };
        c.start();
        c
    }

    fn start(&mut self) {
        let bin = stack::collector_bin(&root());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("collector.log")).unwrap();
        let child = Command::new(&bin)
            .arg("--config")
            .arg(root().join(self.config))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        self.child = Some(child);
        let url = format!("http://127.0.0.1:{}/", self.health);
        let up = wait_for(Duration::from_secs(60), || {
            stack::http_get(&url, &[]).ok().filter(|(s, _)| *s == 200).map(|_| ())
        });
        assert!(up.is_some(), "{} did not become healthy:\n{}", self.name, self.log());
        self.cpu_start = self.child.as_ref().map(|c| proc_cpu_secs(c.id())).unwrap_or(0.0);
    }

    /// CPU seconds (user + system) used since start-up, the running process's and those before it.
    fn cpu_secs(&self) -> f64 {
        self.cpu_done + self.child.as_ref().map(|c| proc_cpu_secs(c.id()) - self.cpu_start).unwrap_or(0.0)
    }

    /// SIGTERM (a graceful stop, as a rolling update or a scale-down does) and wait.
    fn stop(&mut self) {
        self.cpu_done = self.cpu_secs();
        self.cpu_start = 0.0;
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL (a crash, an OOM kill) and wait.
    fn kill9(&mut self) {
        self.cpu_done = self.cpu_secs();
        self.cpu_start = 0.0;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("collector.log")).unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

/// utime + stime of a process, in seconds (from /proc/<pid>/stat; clock ticks of 1/100 s).
fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let tick = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(14) + tick(15)) / 100.0
}

/// A CA and a certificate for 127.0.0.1/localhost signed by it (openssl), in `dir`.
fn make_tls(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (slow stage needs it)");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tier-test-ca"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "gw.key", "-out", "gw.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "gw.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "gw.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (dir.join("ca.pem"), dir.join("gw.crt"), dir.join("gw.key"))
}

struct Host {
    id: String,
    env: Install,
    dest: Dest,
    extra: Vec<(String, String)>,
    relay: Option<RelayProc>,
}

impl Host {
    fn grow(&self, wave: usize) {
        relay::synth_journal_as(
            &self.env.data,
            &self.env.project,
            wave_size(),
            &format!("{}w{wave}c", self.id),
            relay::now_ns(),
            Some(&self.id),
        );
    }

    fn start_relay(&mut self) {
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.relay = Some(RelayProc::start(&self.env, &self.dest, &extra));
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// `otelcol validate` of the tier's configs with no variable set (every per-deployment value
/// has a default), the agent also with its DNS overlay.
#[test]
#[ignore = "slow stage: the collector build"]
fn the_tier_configs_validate_with_nothing_set() {
    let bin = stack::collector_bin(&root());
    for configs in [
        &["deploy/collector-agent.yaml"][..],
        &["deploy/collector-agent.yaml", "deploy/collector-agent.dns.yaml"],
        &["deploy/collector-gateway.yaml"],
    ] {
        let mut cmd = Command::new(&bin);
        cmd.arg("validate").env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for c in configs {
            cmd.arg("--config").arg(root().join(c));
        }
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "validate {configs:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// The gateway tier's Kubernetes manifests against the API schemas (offline: the schemas ship
/// in the `kubernetes-validate` Python package; `pip install kubernetes-validate`).
#[test]
#[ignore = "slow stage: kubernetes-validate (pip)"]
fn the_k8s_manifests_pass_the_kubernetes_schemas() {
    let files = crate::harness::k8s_manifests();
    assert!(files.len() >= 4, "{files:?}");
    let o = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.33.0"])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("kubernetes-validate (pip install kubernetes-validate): {e}"));
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches(" passed ").count(), 6, "every resource checked: {out}");
}

#[test]
#[ignore = "slow stage: the collector build, Jaeger, VictoriaLogs, openssl"]
fn twenty_hosts_through_agents_and_gateways_survive_a_gateway_restart_and_an_agent_crash() {
    // Jaeger + VictoriaLogs from the stack harness; its own collector is not part of the tier.
    let stack = Stack::start();
    stack.stop("collector");
    let base = tempfile::Builder::new().prefix("agent-telemetry-tier-").tempdir().unwrap();
    let (ca, cert, key) = make_tls(base.path());
    let token_file = base.path().join("gateway-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let s = |x: &Path| x.display().to_string();

    let gateway_env = || -> Vec<(String, String)> {
        vec![
            ("AGENT_TELEMETRY_GATEWAY_TOKEN_FILE".into(), s(&token_file)),
            ("AGENT_TELEMETRY_GATEWAY_TLS_CERT".into(), s(&cert)),
            ("AGENT_TELEMETRY_GATEWAY_TLS_KEY".into(), s(&key)),
            ("AGENT_TELEMETRY_LOGS_EXPORTERS".into(), "[otlp_http/victorialogs]".into()),
            ("AGENT_TELEMETRY_TRACES_EXPORTERS".into(), "[otlp_grpc/jaeger]".into()),
            (
                "AGENT_TELEMETRY_VICTORIALOGS_ENDPOINT".into(),
                format!("{}/insert/opentelemetry", stack.victorialogs_url()),
            ),
            ("AGENT_TELEMETRY_JAEGER_OTLP_ENDPOINT".into(), format!("127.0.0.1:{}", stack.ports.jaeger_otlp_grpc)),
            // Longer than the agent's outage below: a trace's spans delayed by it still meet its decision.
            ("AGENT_TELEMETRY_SAMPLING_DECISION_WAIT".into(), "15s".into()),
            ("AGENT_TELEMETRY_SAMPLING_PERCENT".into(), "0".into()),
        ]
    };
    let mut gateways: Vec<Collector> = (0..2)
        .map(|i| Collector::new(&format!("gateway-{i}"), "deploy/collector-gateway.yaml", base.path(), gateway_env()))
        .collect();
    let ring = format!("[127.0.0.1:{}, 127.0.0.1:{}]", gateways[0].grpc, gateways[1].grpc);
    let mut agents: Vec<Collector> = (0..2)
        .map(|i| {
            let env = vec![
                ("AGENT_TELEMETRY_GATEWAY_TOKEN_FILE".into(), s(&token_file)),
                ("AGENT_TELEMETRY_GATEWAY_CA_FILE".into(), s(&ca)),
                ("AGENT_TELEMETRY_GATEWAYS".into(), ring.clone()),
            ];
            Collector::new(&format!("agent-{i}"), "deploy/collector-agent.yaml", base.path(), env)
        })
        .collect();

    let relay_settings = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = vec![
            ("AGENT_TELEMETRY_POLL_MS".into(), "50".into()),
            ("AGENT_TELEMETRY_BATCH_SIZE".into(), "50".into()),
            ("AGENT_TELEMETRY_OTLP_CONNECT_TIMEOUT_MS".into(), "500".into()),
        ];
        v.extend(extra.iter().map(|(k, x)| (k.to_string(), x.clone())));
        v
    };
    let mut hosts: Vec<Host> = (0..HOSTS)
        .map(|i| {
            let id = format!("tier-h{i:02}");
            let env = Install::new(&format!("agent-telemetry-{id}-"));
            let (dest, extra) = match i {
                0..=9 => (Dest::Grpc(format!("http://127.0.0.1:{}", agents[0].grpc)), relay_settings(&[])),
                10..=17 => (Dest::Grpc(format!("http://127.0.0.1:{}", agents[1].grpc)), relay_settings(&[])),
                _ => {
                    let tls =
                        [("AGENT_TELEMETRY_OTLP_TOKEN_FILE", s(&token_file)), ("AGENT_TELEMETRY_OTLP_CA_FILE", s(&ca))];
                    let dest = if i == 18 {
                        Dest::Grpc(format!("https://localhost:{}", gateways[0].grpc))
                    } else {
                        Dest::Http(format!("https://localhost:{}", gateways[0].http))
                    };
                    (dest, relay_settings(&tls))
                }
            };
            Host { id, env, dest, extra, relay: None }
        })
        .collect();

    // Wave 1, relays start; gateway 0 stops mid-stream; wave 2 while it is down; it comes back;
    // wave 3.
    for h in &hosts {
        h.grow(1);
    }
    let started = Instant::now();
    for h in &mut hosts {
        h.start_relay();
    }
    let expected_after = |waves: usize| (HOSTS * wave_size() * waves) as u64;
    // The first wave delivered, and the relays still streaming: gateway 0 stops. (Stopping it
    // in the middle of a trace would split that trace across two tail-sampling decisions, see
    // docs/deployment.md; the graceful stop decides and queues what it holds.)
    let per_host = |h: &Host| stack.vl_count(&format!("agent.id:={}", h.id)).map(|(_, u)| u).unwrap_or(0);
    let wave1 = wait_for(Duration::from_secs(120), || {
        (hosts.iter().map(per_host).sum::<u64>() >= expected_after(1)).then_some(())
    });
    assert!(wave1.is_some(), "the first wave did not arrive:\n{}\n{}", gateways[0].log(), agents[0].log());
    gateways[0].stop();
    for h in &hosts {
        h.grow(2);
    }
    std::thread::sleep(Duration::from_secs(3));
    gateways[0].start();
    for h in &hosts {
        h.grow(3);
    }
    // Agent 1 crashes (SIGKILL) while its relays send the third wave, and comes back: what it
    // had accepted is in its queue on disk, what it had not is still in the relays' journals.
    std::thread::sleep(Duration::from_millis(300));
    agents[1].kill9();
    std::thread::sleep(Duration::from_secs(2));
    agents[1].start();

    // Every journaled record of every host, by its distinct seq.
    let want_total = expected_after(3);
    let all = wait_for(Duration::from_secs(180), || {
        let n: u64 = hosts.iter().map(per_host).sum();
        (n >= want_total).then_some(())
    });
    let elapsed = started.elapsed();
    let counts: Vec<(String, u64, usize)> =
        hosts.iter().map(|h| (h.id.clone(), per_host(h), h.env.journal_records())).collect();
    assert!(
        all.is_some(),
        "not every record arrived: (host, distinct seq in VictoriaLogs, journal) {counts:?}\n{}\n{}",
        gateways[0].log(),
        agents[0].log()
    );
    for (id, got, journal) in &counts {
        assert_eq!(*got as usize, *journal, "{id}: distinct seq in VictoriaLogs vs records in its journal");
    }
    let throughput = want_total as f64 / elapsed.as_secs_f64();
    let gateway_cpu: f64 = gateways.iter().map(Collector::cpu_secs).sum();
    let agent_cpu: f64 = agents.iter().map(Collector::cpu_secs).sum();

    // The reference: each host's journal through `relay --once` to files.
    let mut reference: BTreeMap<String, Vec<relay::Span>> = BTreeMap::new();
    for h in &hosts {
        let copy = Install::new("agent-telemetry-tier-ref-");
        std::fs::create_dir_all(&copy.data).unwrap();
        let o = Command::new("cp").arg("-r").arg(h.env.data.join("journal")).arg(&copy.data).status().unwrap();
        assert!(o.success());
        relay::relay_once(&copy, &Dest::File, &[], Duration::from_secs(60));
        let (spans, _) = relay::read_otlp(&copy.data, (0, 0));
        for sp in spans {
            reference.entry(sp.trace_id.clone()).or_default().push(sp);
        }
    }
    let must_keep: BTreeSet<&String> = reference
        .iter()
        .filter(|(_, spans)| {
            spans.iter().any(|sp| {
                sp.attr("agent_telemetry.security.risk").is_some()
                    || sp.status_code == 2
                    || sp.attr("agent_telemetry.span.incomplete") == Some("true")
            })
        })
        .map(|(t, _)| t)
        .collect();
    let findings = reference
        .values()
        .filter(|spans| spans.iter().any(|sp| sp.attr("agent_telemetry.security.risk").is_some()))
        .count();
    assert!(findings > 0, "the synthetic sessions hold no finding: the policy would not be tested");
    assert!(must_keep.len() < reference.len(), "every trace must be kept: sampling at 0 % would not be tested");

    // Kept traces whole in Jaeger; the rest not there (after the decision wait).
    let whole = wait_for(Duration::from_secs(120), || {
        let missing: Vec<&String> = must_keep
            .iter()
            .copied()
            .filter(|t| {
                let want: BTreeSet<&str> = reference[*t].iter().map(|sp| sp.span_id.as_str()).collect();
                let got: BTreeSet<String> = stack
                    .jaeger_trace(t)
                    .map(|tr| relay::spans_from_jaeger(&tr).into_iter().map(|sp| sp.span_id).collect())
                    .unwrap_or_default();
                got.iter().map(String::as_str).collect::<BTreeSet<_>>() != want
            })
            .collect();
        missing.is_empty().then_some(())
    });
    assert!(whole.is_some(), "a trace the policy keeps is missing or not whole in Jaeger");
    let traces_done = started.elapsed();
    // Both gateways took traces (the agents' ring spreads them), each trace whole in one of them.
    let mut by_gateway: BTreeMap<String, usize> = BTreeMap::new();
    for t in &must_keep {
        let spans = relay::spans_from_jaeger(&stack.jaeger_trace(t).expect("kept trace"));
        let gws: BTreeSet<&str> =
            spans.iter().filter_map(|sp| sp.resource.get("agent_telemetry.collector").map(String::as_str)).collect();
        assert_eq!(gws.len(), 1, "trace {t} went through more than one gateway: {gws:?}");
        *by_gateway.entry(gws.into_iter().next().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(by_gateway.len(), 2, "kept traces by gateway: {by_gateway:?}");
    let dropped: Vec<&String> = reference.keys().filter(|t| !must_keep.contains(t)).collect();
    for t in &dropped {
        assert!(stack.jaeger_trace(t).is_none(), "trace {t} has no finding, error or incomplete span, yet was kept");
    }

    // End-to-end latency: one hook record per probe, through relay, agent, gateway.
    let mut lat = Vec::new();
    for (n, h) in hosts.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
        let before = h.env.journal_records() as u64;
        let session = format!("tier-probe-{n}");
        let line = serde_json::json!({
            "session_id": session, "hook_event_name": "UserPromptSubmit", "prompt": "probe",
            "cwd": h.env.project, "transcript_path": "/dev/null"
        })
        .to_string();
        let mut cmd = h.env.command(&["hook"]);
        cmd.env("CLAUDE_PROJECT_DIR", &h.env.project).env("AGENT_TELEMETRY_AGENT_ID", &h.id);
        let t0 = Instant::now();
        let r = run_with_stdin(cmd, line.as_bytes(), Duration::from_secs(20));
        assert_eq!(r.code, 0, "hook: {}", r.stderr);
        let seen = wait_for(Duration::from_secs(60), || {
            stack.vl_count(&format!("agent.id:={}", h.id)).filter(|(_, u)| *u > before).map(|_| t0.elapsed())
        });
        lat.push(seen.unwrap_or_else(|| panic!("probe record of {} never arrived", h.id)));
    }
    lat.sort();

    // The token in clear nowhere: the hosts' files, `status`, the data that arrived.
    for h in &hosts[18..] {
        let mut files = Vec::new();
        files_under(h.env.dir.path(), &mut files);
        for f in &files {
            let bytes = std::fs::read(f).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(TOKEN),
                "{}: the token in clear in {}",
                h.id,
                f.display()
            );
        }
        let extra: Vec<(&str, &str)> = h.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let o = relay::relay_command(&h.env, &h.dest, &["status", "--json"], &extra).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!text.contains(TOKEN), "status shows the token: {text}");
    }
    for c in gateways.iter().chain(agents.iter()) {
        assert!(!c.log().contains(TOKEN), "{}: the token in clear in its log", c.name);
    }
    let leaked = stack.victorialogs_rows(&format!("\"{TOKEN}\"")).unwrap_or_default();
    assert!(leaked.is_empty(), "the token arrived in records: {leaked:?}");

    println!(
        "tier: {HOSTS} hosts, {want_total} records in {:.1} s (three waves, a gateway stopped for 3 s, an agent killed for 2 s): \
         {throughput:.0} records/s to VictoriaLogs; {} of {} traces kept ({findings} with a finding, the rest \
         sampled at 0 %), every one whole in Jaeger {:.1} s after the relays started, by gateway {by_gateway:?}",
        elapsed.as_secs_f64(),
        must_keep.len(),
        reference.len(),
        traces_done.as_secs_f64()
    );
    println!(
        "tier: CPU (start-up excluded) until every record arrived: gateways {gateway_cpu:.2} s ({:.0} records per gateway core-second), \
         agents {agent_cpu:.2} s ({:.0} per agent core-second); records and their spans, TLS, auth, tail sampling, \
         persistent queues included",
        want_total as f64 / gateway_cpu,
        want_total as f64 / agent_cpu
    );
    println!(
        "tier: end-to-end latency, hook record to visible in VictoriaLogs via agent and gateway: median {:?}, max {:?} ({} probes)",
        lat[lat.len() / 2],
        lat[lat.len() - 1],
        lat.len()
    );
    for h in &mut hosts {
        if let Some(r) = h.relay.take() {
            r.stop(Duration::from_secs(10));
        }
    }
    drop(agents);
    drop(gateways);
}
