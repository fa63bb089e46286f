//! A risk score, 0–100, from findings: one number per session (or per agent, over its sessions'
//! findings) that `sessions`, `fleet compare`, the report, `top` and the session span
//! (`agent_telemetry.risk.score`) all show. The formula (docs/security.md, "Risk score"):
//!
//! 1. Each finding is worth points by severity: low 2, medium 6, high 15, critical 35; a
//!    behaviour finding (`behaviour.*`, a pattern across records) is worth half as much again.
//! 2. Findings of one rule count less and less: the rule's findings, highest severity first,
//!    are worth their points × 1, × ½, × ¼, … — a rule repeated a hundred times is worth less
//!    than twice its first finding, so many kinds of trouble weigh more than one kind repeated.
//! 3. score = round(100 × (1 − e^(−points / 30))): 0 with no finding, one low ≈ 6, one medium
//!    ≈ 18, one high ≈ 39, one critical ≈ 69, a critical behaviour finding ≈ 83, never above 100.
//!
//! The score depends only on the findings, never on their order or time: the same journal
//! gives the same score everywhere.

use crate::record::Severity;
use std::collections::BTreeMap;

/// The points of one finding of this severity (before the behaviour factor and repetition).
pub fn severity_points(s: Severity) -> f64 {
    match s {
        Severity::Low => 2.0,
        Severity::Medium => 6.0,
        Severity::High => 15.0,
        Severity::Critical => 35.0,
    }
}

/// Behaviour findings (a pattern across a session's records) weigh this much more.
pub const BEHAVIOUR_FACTOR: f64 = 1.5;

/// Points at which the score reaches 1 − 1/e ≈ 63.
pub const SCALE: f64 = 30.0;

/// The risk score of a session (or an agent) from its findings, each given as its rule id, its
/// severity and how many findings of that rule had that severity (`count` 0 is ignored).
///
/// ```
/// use agent_telemetry::enrich::risk::score;
/// use agent_telemetry::record::Severity;
/// assert_eq!(score([]), 0);
/// assert_eq!(score([("secret_exposure.redacted", Severity::High, 1)]), 39);
/// assert_eq!(score([("behaviour.exfiltration", Severity::Critical, 1)]), 83);
/// ```
pub fn score<'a>(findings: impl IntoIterator<Item = (&'a str, Severity, u64)>) -> u8 {
    let mut by_rule: BTreeMap<&str, Vec<(Severity, u64)>> = BTreeMap::new();
    for (rule, sev, n) in findings {
        if n > 0 {
            by_rule.entry(rule).or_default().push((sev, n));
        }
    }
    let mut points = 0.0;
    for (rule, mut sevs) in by_rule {
        let factor = if rule.starts_with("behaviour.") { BEHAVIOUR_FACTOR } else { 1.0 };
        sevs.sort_by_key(|s| std::cmp::Reverse(s.0));
        // The k-th finding of the rule (from 0) is worth points × 0.5^k.
        let mut k = 0u64;
        for (sev, n) in sevs {
            let w = severity_points(sev) * factor;
            // Σ_{i=k}^{k+n-1} w·0.5^i = 2w·(0.5^k − 0.5^(k+n))
            let half = |e: u64| 0.5f64.powi(e.min(1000) as i32);
            points += 2.0 * w * (half(k) - half(k.saturating_add(n)));
            k = k.saturating_add(n);
        }
    }
    from_points(points)
}

/// The score of a number of points.
pub fn from_points(points: f64) -> u8 {
    if points <= 0.0 || points.is_nan() {
        return 0;
    }
    (100.0 * (1.0 - (-points / SCALE).exp())).round().clamp(0.0, 100.0) as u8
}

/// Counts findings by (rule, severity): the input [`score`] takes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tally(BTreeMap<String, [u64; 4]>);

impl Tally {
    pub fn add(&mut self, rule: &str, s: Severity, n: u64) {
        let slot = &mut self.0.entry(rule.to_string()).or_default()[s as usize];
        *slot = slot.saturating_add(n);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn score(&self) -> u8 {
        const SEVS: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
        score(
            self.0.iter().flat_map(|(rule, counts)| SEVS.iter().map(move |s| (rule.as_str(), *s, counts[*s as usize]))),
        )
    }
}

/// The risk score of the records' findings (a session's records, or an agent's): every finding
/// of every record counts, as [`score`] weighs them.
pub fn of_records<'a>(records: impl IntoIterator<Item = &'a crate::record::JournalRecord>) -> u8 {
    let mut t = Tally::default();
    for r in records {
        for f in &r.security.findings {
            t.add(&f.rule, f.severity, 1);
        }
    }
    t.score()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_points() {
        assert_eq!(score([("a", Severity::Low, 1)]), 6);
        assert_eq!(score([("a", Severity::Medium, 1)]), 18);
        assert_eq!(score([("a", Severity::High, 1)]), 39);
        assert_eq!(score([("a", Severity::Critical, 1)]), 69);
        assert_eq!(score([("behaviour.exfiltration", Severity::Critical, 1)]), 83);
        assert_eq!(score([("a", Severity::Low, 0)]), 0);
    }

    #[test]
    fn repetition_counts_less_than_variety_and_the_score_is_bounded() {
        let repeated = score([("a", Severity::High, 3)]);
        let varied = score([("a", Severity::High, 1), ("b", Severity::High, 1)]);
        assert!(repeated < varied, "{repeated} {varied}");
        assert!(repeated > score([("a", Severity::High, 1)]));
        assert!(score([("a", Severity::High, 100)]) <= varied, "a hundred repeats weigh no more than two kinds");
        let many: Vec<(String, Severity, u64)> =
            (0..1000).map(|i| (format!("r{i}"), Severity::Critical, u64::MAX)).collect();
        assert_eq!(score(many.iter().map(|(r, s, n)| (r.as_str(), *s, *n))), 100);
        // Order does not matter; a rule's highest severity counts first.
        let a = score([("a", Severity::Low, 3), ("a", Severity::Critical, 1)]);
        let b = score([("a", Severity::Critical, 1), ("a", Severity::Low, 3)]);
        assert_eq!(a, b);
        let mut t = Tally::default();
        t.add("a", Severity::Critical, 1);
        t.add("a", Severity::Low, 3);
        assert_eq!(t.score(), a);
        let rec = |rule: &str, s: Severity| {
            let mut r = crate::record::JournalRecord::default();
            r.security.findings.push(crate::record::Finding {
                rule: rule.into(),
                category: String::new(),
                severity: s,
                action: String::new(),
                matched: String::new(),
                description: String::new(),
            });
            r
        };
        let records =
            [rec("a", Severity::Critical), rec("a", Severity::Low), rec("a", Severity::Low), rec("a", Severity::Low)];
        assert_eq!(of_records(&records), a);
    }
}
