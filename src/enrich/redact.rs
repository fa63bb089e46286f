//! Secret redaction: every string the hook stores passes through [`Redactor::redact`] before it
//! is written, so no secret reaches the journal, the relay or a backend.
//!
//! Speed matters (the hook's budget is about a millisecond, and compiling all patterns would cost
//! more than that): one keyword pass ([`KeywordSet`]) finds the rules whose keyword occurs in the
//! text, and only those rules' regexes are compiled (once per process) and run.

use super::keywords::KeywordSet;
use regex_lite::{Captures, Regex};
use std::sync::OnceLock;

/// A kind of secret: keywords that must occur for it to be possible, and the pattern.
struct SecretRule {
    kind: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
    /// Capture group holding the secret itself; the rest of the match is kept (0 = all).
    secret_group: usize,
}

/// The secrets we recognise. Order matters: specific kinds first, the generic assignment rule
/// last, so a known token inside `token=...` is named by its kind.
const RULES: &[SecretRule] = &[
    SecretRule {
        kind: "private_key",
        keywords: &["-----begin"],
        pattern: r"(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        secret_group: 0,
    },
    SecretRule {
        kind: "aws_access_key_id",
        keywords: &["akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva"],
        pattern: r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
        secret_group: 0,
    },
    SecretRule {
        kind: "aws_secret_access_key",
        keywords: &["secret_access_key", "secretaccesskey", "aws_secret"],
        pattern: r#"(?i)((?:aws_?)?secret_?access_?key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})"#,
        secret_group: 2,
    },
    SecretRule {
        kind: "github_token",
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        pattern: r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        secret_group: 0,
    },
    SecretRule {
        kind: "gitlab_token",
        keywords: &["glpat-"],
        pattern: r"glpat-[A-Za-z0-9_-]{20,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "slack_token",
        keywords: &["xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-", "xoxo-", "hooks.slack.com"],
        pattern: r"xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
        secret_group: 0,
    },
    SecretRule {
        kind: "anthropic_api_key",
        keywords: &["sk-ant-"],
        pattern: r"sk-ant-[A-Za-z0-9_-]{16,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "openai_api_key",
        keywords: &["sk-"],
        pattern: r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "google_api_key",
        keywords: &["aiza"],
        pattern: r"AIza[0-9A-Za-z_-]{35}",
        secret_group: 0,
    },
    SecretRule {
        kind: "stripe_key",
        keywords: &["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
        pattern: r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "package_registry_token",
        keywords: &["npm_", "pypi-"],
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b|pypi-AgE[A-Za-z0-9_-]{50,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "jwt",
        keywords: &["eyj"],
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        secret_group: 0,
    },
    SecretRule {
        kind: "url_password",
        keywords: &["://"],
        pattern: r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)",
        secret_group: 2,
    },
    SecretRule {
        kind: "bearer_token",
        keywords: &["bearer", "authorization"],
        pattern: r"(?i)((?:\bbearer|\bbasic|\btoken)\s+)([A-Za-z0-9._~+/=-]{16,})",
        secret_group: 2,
    },
    SecretRule {
        kind: "password_assignment",
        keywords: &[
            "password", "passwd", "pwd", "secret", "token", "api_key", "apikey", "api-key",
            "access_key", "private_key", "credential", "auth",
        ],
        pattern: r#"(?i)(\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)[A-Za-z0-9_.-]*["']?\s*(?::=|[=:])\s*["']?)([^\s"'&;,)}\]]{4,})"#,
        secret_group: 2,
    },
];

/// Values the generic assignment rule leaves alone: they are not secrets.
fn is_not_a_secret(value: &str) -> bool {
    value.starts_with("[REDACTED")
        || value.starts_with('$')
        || value.starts_with("${")
        || value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "undefined" | "required" | "optional" | "string"
        )
}

struct Compiled {
    prefilter: KeywordSet,
    /// For each keyword of the prefilter, the rule it belongs to.
    keyword_rule: Vec<usize>,
    regexes: Vec<OnceLock<Regex>>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let mut keywords = Vec::new();
        let mut keyword_rule = Vec::new();
        for (i, r) in RULES.iter().enumerate() {
            for k in r.keywords {
                keywords.push(*k);
                keyword_rule.push(i);
            }
        }
        let prefilter = KeywordSet::new(keywords);
        Compiled { prefilter, keyword_rule, regexes: RULES.iter().map(|_| OnceLock::new()).collect() }
    })
}

/// Counts what was redacted across all the strings of one record.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    pub count: u32,
    pub kinds: Vec<&'static str>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the text with every recognised secret replaced by `[REDACTED:<kind>]`.
    pub fn redact(&mut self, text: &str) -> Option<String> {
        let c = compiled();
        let mut candidates = [false; RULES.len()];
        let mut any = false;
        c.prefilter.find(text, |k| {
            candidates[c.keyword_rule[k]] = true;
            any = true;
        });
        if !any {
            return None;
        }
        let mut out: Option<String> = None;
        for (i, rule) in RULES.iter().enumerate() {
            if !candidates[i] {
                continue;
            }
            let re = c.regexes[i].get_or_init(|| Regex::new(rule.pattern).expect("static pattern"));
            let current = out.as_deref().unwrap_or(text);
            let mut n = 0u32;
            let replaced = re.replace_all(current, |caps: &Captures| {
                let whole = caps.get(0).map(|m| m.as_str()).unwrap_or("");
                if rule.secret_group == 0 {
                    n += 1;
                    return format!("[REDACTED:{}]", rule.kind);
                }
                let secret = caps.get(rule.secret_group).map(|m| m.as_str()).unwrap_or("");
                if rule.kind == "password_assignment" && is_not_a_secret(secret) {
                    return whole.to_string();
                }
                n += 1;
                let mut s = String::with_capacity(whole.len());
                for g in 1..caps.len() {
                    match caps.get(g) {
                        Some(m) if g == rule.secret_group => {
                            let _ = m;
                            s.push_str("[REDACTED:");
                            s.push_str(rule.kind);
                            s.push(']');
                        }
                        Some(m) => s.push_str(m.as_str()),
                        None => {}
                    }
                }
                s
            });
            if n > 0 {
                self.count += n;
                if !self.kinds.contains(&rule.kind) {
                    self.kinds.push(rule.kind);
                }
                out = Some(replaced.into_owned());
            }
        }
        out
    }

    /// Redacts in place; returns whether anything changed.
    pub fn redact_in_place(&mut self, s: &mut String) -> bool {
        match self.redact(s) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(s: &str) -> (String, u32) {
        let mut r = Redactor::new();
        let out = r.redact(s).unwrap_or_else(|| s.to_string());
        (out, r.count)
    }

    #[test]
    fn redacts_each_kind() {
        let cases = [
            ("echo token=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
            ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ("git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x", "ghp_abcdefghij"),
            ("curl -H 'Authorization: Bearer abcdefghijklmnop12345' x", "abcdefghijklmnop12345"),
            ("psql postgres://admin:hunter2pass@db:5432/x", "hunter2pass"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3"),
            ("password = 'correct-horse'", "correct-horse"),
            ("ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuv"),
            ("key AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA123"),
            ("sk_live_abcdefghijklmnop1234", "sk_live_abcdefghijklmnop1234"),
            ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012"),
        ];
        for (input, secret) in cases {
            let (out, n) = red(input);
            assert!(!out.contains(secret), "{input} -> {out}");
            assert!(n >= 1, "{input}");
            assert!(out.contains("[REDACTED:"), "{out}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for s in [
            "ls -la",
            "max_tokens: 1000",
            "token_count = 12",
            "password: $DB_PASSWORD",
            "see https://example.com/a:b@c",
            "README.md",
        ] {
            let (out, n) = red(s);
            assert_eq!(n, 0, "{s} -> {out}");
            assert_eq!(out, s);
        }
    }

    #[test]
    fn counts_every_secret_once() {
        let (out, n) = red("token=AKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPL2");
        assert_eq!(n, 2, "{out}");
    }
}
