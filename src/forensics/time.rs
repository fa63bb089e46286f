//! Times as the forensics commands take them (`--since 2h`, `--until 2026-11-30T12:00:00Z`) and
//! print them. Hand-written like `timefmt`: no date library for two formats.

/// A time on the command line that is neither a duration back from now nor a UTC time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad time {text:?}: want a duration back from now (90s, 30m, 2h, 7d, 1w) or a UTC time (2026-11-30, 2026-11-30T12:00:00Z)")]
pub(crate) struct BadTime {
    pub text: String,
}

/// `--since` and `--until` as given (either may be absent): nanoseconds since the epoch, checked
/// to leave something between them.
pub(crate) fn window(
    since: Option<&str>,
    until: Option<&str>,
    now: u64,
) -> Result<(Option<u64>, Option<u64>), super::Error> {
    let point = |text: Option<&str>, flag: &'static str| {
        text.map(|t| parse_point(t, now).map_err(|error| super::Error::BadTime { flag, error })).transpose()
    };
    let (s, u) = (point(since, "--since")?, point(until, "--until")?);
    if let (Some(s), Some(u)) = (s, u) {
        if s > u {
            return Err(super::Error::EmptyWindow);
        }
    }
    Ok((s, u))
}

/// A point in time given on the command line: a duration back from `now` (`90s`, `30m`, `2h`,
/// `7d`, `1w`) or an absolute UTC time (`2026-11-30`, `2026-11-30T12:00`, `…T12:00:00Z`,
/// `…T12:00:00.5Z`). Returns nanoseconds since the epoch.
pub(crate) fn parse_point(text: &str, now: u64) -> Result<u64, BadTime> {
    let t = text.trim();
    let bad = || BadTime { text: text.to_string() };
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let num = &t[..t.len() - 1];
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = num.parse().map_err(|_| bad())?;
            let secs = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(bad()),
            };
            return Ok(now.saturating_sub(n.saturating_mul(secs).saturating_mul(1_000_000_000)));
        }
    }
    parse_utc(t).ok_or_else(bad)
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff…]]][Z]` as UTC.
fn parse_utc(t: &str) -> Option<u64> {
    let t = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')).unwrap_or(t);
    let (date, time) = match t.split_once(['T', 't', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let mut d = date.split('-');
    let y: i64 = num(d.next()?, 4)?;
    let m: i64 = num(d.next()?, 2)?;
    let day: i64 = num(d.next()?, 2)?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) || y < 1970 {
        return None;
    }
    let (mut secs, mut nanos) = (0i64, 0u64);
    if let Some(tm) = time {
        let (hms, frac) = match tm.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (tm, None),
        };
        let mut p = hms.split(':');
        let h: i64 = num(p.next()?, 2)?;
        let mi: i64 = num(p.next()?, 2)?;
        let s: i64 = match p.next() {
            Some(s) => num(s, 2)?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs = h * 3600 + mi * 60 + s;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nanos = f.parse::<u64>().ok()? * 10u64.pow(9 - f.len() as u32);
        }
    }
    let days = days_from_civil(y, m as u32, day as u32);
    Some(((days * 86_400 + secs) as u64) * 1_000_000_000 + nanos)
}

fn num(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Howard Hinnant's civil-to-days (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `+1:02.345` (minutes, seconds, ms) from a session's start; hours when it runs longer.
pub(crate) fn offset(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (h, m, s, ms) = (ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000);
    if h > 0 {
        format!("+{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("+{m}:{s:02}.{ms:03}")
    }
}

/// `64ms`, `1.41s`, `2m03s`.
pub(crate) fn duration(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0) as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// `2026-11-30 12:00:01` from an RFC 3339 string this crate wrote.
pub(crate) fn short_rfc(rfc: &str) -> String {
    rfc.get(..19).map(|s| s.replacen('T', " ", 1)).unwrap_or_else(|| rfc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points() {
        let now = 1_000_000 * 1_000_000_000u64;
        assert_eq!(parse_point("2h", now).unwrap(), now - 7200 * 1_000_000_000);
        assert_eq!(parse_point("90s", now).unwrap(), now - 90 * 1_000_000_000);
        assert_eq!(parse_point("1970-01-02", now).unwrap(), 86_400 * 1_000_000_000);
        assert_eq!(parse_point("2026-11-30T12:00:00Z", now).unwrap(), parse_point("2026-11-30T12:00", now).unwrap());
        let t = parse_point("2026-11-23T21:03:25.123456789Z", now).unwrap();
        assert_eq!(crate::timefmt::rfc3339_nanos(t), "2026-11-23T21:03:25.123456789Z");
        for bad in ["", "2x", "h", "yesterday", "2026-13-01", "2026-11-30T25:00", "-2h", "2026-11-30T12:00:00.Z"] {
            assert!(parse_point(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_window_names_the_flag_and_refuses_since_after_until() {
        let now = 1_000_000 * 1_000_000_000u64;
        assert_eq!(window(Some("2h"), None, now).unwrap(), (Some(now - 7200 * 1_000_000_000), None));
        assert!(matches!(window(Some("1h"), Some("2h"), now), Err(super::super::Error::EmptyWindow)));
        let e = window(None, Some("soon"), now).unwrap_err();
        assert!(matches!(&e, super::super::Error::BadTime { flag: "--until", error } if error.text == "soon"), "{e}");
        // The command line prints the message and its `source()` chain: the cause's text once.
        assert!(e.to_string().starts_with("--until: bad time \"soon\": want a duration"), "{e}");
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn formats() {
        assert_eq!(offset(61_234_000_000), "+1:01.234");
        assert_eq!(offset(3_723_000_000_000), "+1:02:03.000");
        assert_eq!(duration(64_000_000), "64ms");
        assert_eq!(duration(1_410_000_000), "1.41s");
        assert_eq!(duration(123_000_000_000), "2m03s");
    }
}
