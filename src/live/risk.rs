//! A session's risk number for `top`: 0 (nothing found) to 100, from its findings.
//!
//! The formula, [`session_risk`]: each finding adds points by severity — critical 40, high 15,
//! medium 5, low 1 — and a behaviour finding (a rule `behaviour.*`, a pattern over several
//! events) 10 more; the sum is capped at 100. So one critical finding is 40, three high ones
//! 45, one critical behaviour finding 50, and a session reaches 100 with three critical ones or
//! many lesser ones. It reads nothing but the counts, so any record that carries findings —
//! those the hook writes and derived ones the relay writes — moves it.

/// A session's findings, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct FindingCounts {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
    /// Of those, findings of a `behaviour.*` rule.
    pub behaviour: u64,
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
        if f.rule.starts_with("behaviour.") {
            self.behaviour += 1;
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low
    }
}

/// The risk number, 0–100 (see the module's documentation for the formula).
pub(crate) fn session_risk(f: &FindingCounts) -> u8 {
    let points = f
        .critical
        .saturating_mul(40)
        .saturating_add(f.high.saturating_mul(15))
        .saturating_add(f.medium.saturating_mul(5))
        .saturating_add(f.low)
        .saturating_add(f.behaviour.saturating_mul(10));
    points.min(100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_points() {
        let c = |critical, high, medium, low, behaviour| {
            session_risk(&FindingCounts { critical, high, medium, low, behaviour })
        };
        assert_eq!(c(0, 0, 0, 0, 0), 0);
        assert_eq!(c(0, 0, 0, 1, 0), 1);
        assert_eq!(c(0, 0, 1, 0, 0), 5);
        assert_eq!(c(1, 0, 0, 0, 0), 40);
        assert_eq!(c(0, 3, 0, 0, 0), 45);
        assert_eq!(c(1, 0, 0, 0, 1), 50, "a critical behaviour finding");
        assert_eq!(c(3, 0, 0, 0, 0), 100);
        assert_eq!(c(u64::MAX, u64::MAX, 0, 0, 0), 100, "capped, no overflow");
    }
}
