//! CPU and memory of the Claude process (`CLAUDE_PID`), read from `/proc` — three small reads,
//! cheap enough for every event. Elsewhere than Linux, or for a gone process, nothing.

use crate::record::ResourceUsage;

pub(crate) fn claude_process(pid: u32) -> Option<ResourceUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // f[0] is field 3 (state): utime = field 14, stime = 15, num_threads = 20, starttime = 22, rss = 24.
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let cpu_secs = (num(14)? + num(15)?) as f64 / ticks;
    let age = uptime - num(22)? as f64 / ticks;
    Some(ResourceUsage {
        claude_pid: pid,
        cpu_percent: (age > 0.0).then(|| (cpu_secs / age * 1000.0).round() / 10.0),
        memory_mb: num(24).map(|rss| (rss as f64 * page / 1_048_576.0 * 10.0).round() / 10.0),
        threads: num(20),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let r = super::claude_process(std::process::id()).expect("linux /proc");
        assert!(r.memory_mb.unwrap() > 0.0);
        assert!(r.threads.unwrap() >= 1);
        assert!(super::claude_process(u32::MAX).is_none());
    }
}
