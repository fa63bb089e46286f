//! A session's risk number in `top`: the project's one risk score, 0–100
//! ([`crate::enrich::risk`]; the formula is in docs/security.md, "Risk score"), so `top` shows
//! the number `sessions`, `fleet compare`, the report and the session span show. It reads
//! nothing but the findings, so any record that carries them — those the hook writes and the
//! behaviour records the relay writes — moves it.

use crate::enrich::risk::Tally;

/// A session's findings: counted by severity (the FINDINGS column) and by rule (the score).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FindingCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    tally: Tally,
}

impl FindingCounts {
    pub(crate) fn add(&mut self, f: &crate::record::Finding) {
        use crate::record::Severity;
        match f.severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
        }
        self.tally.add(&f.rule, f.severity, 1);
    }

    pub(crate) fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low
    }
}

/// The risk score, 0–100, of a session's findings ([`crate::enrich::risk::score`]).
pub(crate) fn session_risk(f: &FindingCounts) -> u8 {
    f.tally.score()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Finding, Severity};

    fn counts(findings: &[(&str, Severity)]) -> FindingCounts {
        let mut c = FindingCounts::default();
        for (rule, severity) in findings {
            c.add(&Finding {
                rule: rule.to_string(),
                category: String::new(),
                severity: *severity,
                action: "alert".into(),
                matched: String::new(),
                description: String::new(),
            });
        }
        c
    }

    #[test]
    fn the_projects_score_of_the_sessions_findings() {
        assert_eq!(session_risk(&counts(&[])), 0);
        assert_eq!(session_risk(&counts(&[("secret_exposure.redacted", Severity::High)])), 39);
        assert_eq!(session_risk(&counts(&[("behaviour.exfiltration", Severity::Critical)])), 83);
        let repeated = counts(&[("a.x", Severity::High), ("a.x", Severity::High), ("a.x", Severity::High)]);
        assert_eq!(session_risk(&repeated), crate::enrich::risk::score([("a.x", Severity::High, 3)]));
        assert_eq!((repeated.high, repeated.total()), (3, 3));
    }
}
