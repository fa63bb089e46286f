//! The catalogue of sensitive files, by kind: one table, one row per kind, each with the paths
//! it names (a regex over the *resolved* path, case-insensitive: macOS filesystems are), the
//! keywords that let the regex be tried, a severity, and an example and a near miss that the
//! tests hold it to. Paths are resolved before they are matched (`~`, `$HOME`, `..`, `//`,
//! symlinks, quotes: see `enrich::scope` and `enrich::analyse`).
//!
//! Two more tables of the same shape: credentials read through a program rather than a file
//! (`bw get`, `op read`, `gh auth token`), matched on a command's normalised lines; and key
//! material recognised by the *content* a tool returned (a `Read` of a file with no telling
//! name that holds `-----BEGIN … PRIVATE KEY-----`).

use super::policy::{Access, Action, RuleSpec, Target};
use crate::record::Severity;

/// One kind of sensitive file (or command, or content).
pub(crate) struct Kind {
    /// The rule id (`sensitive_file.<kind>`).
    pub id: &'static str,
    pub pattern: &'static str,
    /// Case-insensitive literals, one of which occurs in every match (the prefilter).
    pub keywords: &'static [&'static str],
    /// A match of this cancels the rule (a template, a public half).
    pub unless: Option<&'static str>,
    pub severity: Severity,
    pub action: Action,
    pub access: Access,
    pub description: &'static str,
    /// Matched by this kind (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub examples: &'static [&'static str],
    /// Close to an example, matched by no sensitive kind (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub near_misses: &'static [&'static str],
}

const fn kind(
    id: &'static str,
    severity: Severity,
    keywords: &'static [&'static str],
    pattern: &'static str,
    description: &'static str,
    examples: &'static [&'static str],
    near_misses: &'static [&'static str],
) -> Kind {
    Kind {
        id,
        pattern,
        keywords,
        unless: None,
        severity,
        action: Action::Alert,
        access: Access::Any,
        description,
        examples,
        near_misses,
    }
}

use Severity::{Critical, High, Medium};

/// Shell start-up files: read (tokens exported there) and written (code every later shell runs)
/// are two kinds with one pattern.
const SHELL_STARTUP_KEYWORDS: &[&str] = &[
    "bashrc",
    "bash_profile",
    "bash_login",
    "profile",
    "zshrc",
    "zshenv",
    "zprofile",
    "zlogin",
    "kshrc",
    "cshrc",
    "config.fish",
];
const SHELL_STARTUP: &str = r"(?i)(?:^|/)\.(?:bashrc|bash_profile|bash_login|profile|zshrc|zshenv|zprofile|zlogin|kshrc|cshrc|tcshrc)$|(?:^|/)\.config/fish/config\.fish$";

/// Sensitive files, matched against resolved paths.
pub(crate) const FILES: &[Kind] = &[
    kind(
        "sensitive_file.ssh",
        High,
        &[".ssh", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"],
        r"(?i)(?:^|/)\.ssh(?:/|$)|(?:^|/)id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?:\.pub)?$",
        "SSH keys and configuration",
        &["/home/u/.ssh/id_rsa", "/home/u/.SSH/config", "/p/deploy/id_ed25519"],
        &["/p/docs/ssh-setup.md", "/p/src/id_rsa_parser.rs"],
    ),
    kind(
        "sensitive_file.host_key",
        High,
        &["ssh_host_"],
        r"(?i)(?:^|/)ssh_host_[a-z0-9*?]+_key$",
        "SSH host private key",
        &["/etc/ssh/ssh_host_ed25519_key", "/private/etc/ssh/ssh_host_rsa_key", "/etc/ssh/SSH_HOST_ECDSA_KEY"],
        &["/etc/ssh/ssh_host_rsa_key.pub", "/etc/ssh/sshd_config"],
    ),
    kind(
        "sensitive_file.private_key",
        High,
        &[".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".p8", "ssl/private"],
        r"(?i)\.(?:pem|key|p12|pfx|jks|keystore|ppk|p8)$|^(?:/private)?/etc/ssl/private(?:/|$)",
        "private key or certificate store",
        &["/p/server.pem", "/p/tls/PRIVATE.KEY", "/p/AuthKey_ABC.p8"],
        &["/p/src/keys.rs", "/p/server.pem.md"],
    ),
    Kind {
        unless: Some(r"(?i)\.env(?:rc)?\.(?:example|sample|template|dist|defaults)$"),
        ..kind(
            "sensitive_file.dotenv",
            High,
            &[".env"],
            r"(?i)(?:^|/)\.env(?:rc)?(?:\.[^/]+)?$|(?:^|/)[^/]+\.env$",
            "environment file, usually holding secrets",
            &["/p/.env", "/p/.env.production", "/p/.envrc", "/p/.ENV", "/p/config/prod.env"],
            &["/p/.env.example", "/p/src/env.rs", "/p/.environment.md", "/p/.envrc.sample"],
        )
    },
    kind(
        "sensitive_file.process_environ",
        High,
        &["environ"],
        r"(?i)^/proc/(?:[^/]*/)?(?:task/[^/]*/)?environ$",
        "a process's environment (tokens and keys passed to it)",
        &["/proc/self/environ", "/proc/1/environ", "/proc/*/environ", "/proc/42/task/43/environ"],
        &["/proc/self/status", "/p/docs/environ.md"],
    ),
    Kind {
        // Documentation about a credential is not one (`docs/kubeconfig.md`).
        unless: Some(r"(?i)\.(?:md|rst|adoc|html?)$"),
        ..kind(
            "sensitive_file.cloud_credentials",
            High,
            &[
                ".aws",
                ".azure",
                "gcloud",
                ".kube",
                "kubeconfig",
                ".docker/",
                "credentials",
                ".boto",
                "service-account",
                "service_account",
                ".terraformrc",
                ".oci/",
                ".s3cfg",
                "serviceaccount",
                "kubernetes",
            ],
            r"(?i)(?:^|/)\.aws(?:/(?:credentials|config|sso/|cli/cache/)|$)|(?:^|/)\.azure(?:/|$)|(?:^|/)\.config/gcloud(?:/|$)|(?:^|/)\.kube/[^/]*config[^/]*$|(?:^|/)\.kube/?$|/secrets/kubernetes\.io/serviceaccount(?:/|$)|^/etc/kubernetes/(?:admin|kubelet|controller-manager|scheduler|super-admin)\.conf$|(?:^|/)[^/]*kubeconfig[^/]*$|(?:^|/)\.docker/config\.json$|(?:^|/)credentials\.json$|(?:^|/)\.boto$|service[-_]account[^/]*\.json$|(?:^|/)\.terraformrc$|(?:^|/)\.terraform\.d/credentials\.tfrc\.json$|(?:^|/)\.oci/|(?:^|/)\.s3cfg$",
            "cloud, cluster or container-registry credentials and CLI session caches",
            &[
                "/home/u/.aws/credentials",
                "/home/u/.aws/sso/cache/abc.json",
                "/home/u/.azure/msal_token_cache.json",
                "/home/u/.config/gcloud/credentials.db",
                "/home/u/.kube/config",
                "/home/u/.docker/config.json",
                "/home/u/.AWS/Credentials",
            ],
            &["/p/docs/aws.md", "/p/.kube-linter.yaml", "/p/docker/config.yaml", "/p/docs/kubeconfig.md"],
        )
    },
    kind(
        "sensitive_file.package_credentials",
        High,
        &[
            ".netrc",
            "_netrc",
            ".npmrc",
            ".pypirc",
            ".git-credentials",
            "credentials",
            ".gem/",
            ".m2/",
            ".gradle/",
            "composer",
            ".yarnrc",
        ],
        r"(?i)(?:^|/)(?:\.netrc|_netrc|\.npmrc|\.pypirc|\.git-credentials)$|(?:^|/)\.gem/credentials$|(?:^|/)\.cargo/credentials(?:\.toml)?$|(?:^|/)\.m2/settings(?:-security)?\.xml$|(?:^|/)\.gradle/gradle\.properties$|(?:^|/)composer/auth\.json$|(?:^|/)\.yarnrc\.yml$",
        "package registry, build tool or git credentials",
        &[
            "/home/u/.netrc",
            "/home/u/.git-credentials",
            "/home/u/.npmrc",
            "/home/u/.pypirc",
            "/home/u/.m2/settings.xml",
            "/home/u/.gradle/gradle.properties",
            "/home/u/.cargo/credentials.toml",
            "/home/u/.cargo/credentials",
        ],
        &["/p/gradle.properties", "/p/pom.xml", "/p/.cargo/config.toml", "/p/docs/netrc.md"],
    ),
    kind(
        "sensitive_file.tool_credentials",
        High,
        &[".config/gh", "hosts.yml", ".pgpass", ".my.cnf", ".mylogin.cnf", "glab-cli", "rclone", ".config/hub"],
        r"(?i)(?:^|/)\.config/gh(?:/hosts\.ya?ml)?/?$|(?:^|/)\.pgpass$|(?:^|/)\.my(?:login)?\.cnf$|(?:^|/)\.config/glab-cli/config\.yml$|(?:^|/)\.config/rclone/rclone\.conf$|(?:^|/)\.config/hub$",
        "another tool's token or database password file (GitHub CLI, PostgreSQL, MySQL, GitLab, rclone)",
        &["/home/u/.config/gh/hosts.yml", "/home/u/.pgpass", "/home/u/.my.cnf", "/home/u/.mylogin.cnf"],
        &["/home/u/.config/gh/config.yml", "/p/docs/pgpass.md", "/p/my.cnf.md"],
    ),
    kind(
        "sensitive_file.password_manager",
        High,
        &[".kdb", ".password-store", ".1pif", ".opvault", ".psafe3", "1password", "bitwarden", ".config/op", ".lpass"],
        r"(?i)\.(?:kdbx?|1pif|opvault|agilekeychain|psafe3)$|(?:^|/)\.password-store(?:/|$)|1password[^/]*/|(?:^|/)bitwarden(?: cli)?/data\.json$|(?:^|/)\.config/op/|(?:^|/)\.lpass(?:/|$)",
        "password-manager database or vault",
        &[
            "/home/u/Passwords.kdbx",
            "/home/u/.password-store/github.gpg",
            "/home/u/.config/Bitwarden CLI/data.json",
            "/home/u/.config/op/config",
            "/home/u/vault.KDBX",
        ],
        &["/p/src/keepass.rs", "/p/docs/passwords.md", "/p/password-store.md"],
    ),
    kind(
        "sensitive_file.keyring",
        High,
        &[".gnupg", "keyrings", ".vault-token", "keychains"],
        r"(?i)(?:^|/)\.gnupg(?:/|$)|(?:^|/)keyrings(?:/|$)|(?:^|/)\.vault-token$|(?:^|/)Library/Keychains(?:/|$)",
        "GnuPG, desktop keyring, macOS keychain or Vault token",
        &[
            "/home/u/.gnupg/private-keys-v1.d/x.key",
            "/home/u/.local/share/keyrings/login.keyring",
            "/home/u/.vault-token",
        ],
        &["/p/docs/gnupg.md", "/p/src/keyring.rs"],
    ),
    kind(
        "sensitive_file.claude_credentials",
        High,
        &[".credentials.json"],
        r"(?i)(?:^|/)\.claude/\.credentials\.json$",
        "Claude Code's own OAuth credentials",
        &["/home/u/.claude/.credentials.json", "/home/u/.Claude/.Credentials.json"],
        &["/home/u/.claude/settings.json", "/p/.claude/credentials.md"],
    ),
    Kind {
        unless: Some(r"(?i)sealed|example|template|sample"),
        ..kind(
            "sensitive_file.infrastructure_state",
            High,
            &[".tfstate", "secret", ".vault_pass", ".pulumi/"],
            r"(?i)\.tfstate(?:\.backup)?$|(?:^|/)terraform\.tfstate\.d/|(?:^|/)(?:[^/]*[-_.])?secrets?\.ya?ml$|(?:^|/)\.vault_pass(?:word)?(?:\.txt)?$|(?:^|/)\.pulumi/stacks/",
            "infrastructure state or secret manifests (Terraform state, Kubernetes Secrets, Ansible vault password)",
            &["/p/terraform.tfstate", "/p/infra/prod.tfstate.backup", "/p/k8s/db-secret.yaml", "/p/k8s/secrets.yml"],
            &["/p/main.tf", "/p/k8s/sealed-secret.yaml", "/p/docs/secrets.md", "/p/k8s/deployment.yaml"],
        )
    },
    kind(
        "sensitive_file.shell_history",
        Medium,
        &["history"],
        r"(?i)(?:^|/)\.(?:bash|zsh|sh|ksh|python|node_repl|psql|mysql|sqlite|irb|lesshst|rediscli)_?history$|(?:^|/)fish_history$|(?:^|/)\.zhistory$",
        "shell or REPL history",
        &["/home/u/.bash_history", "/home/u/.psql_history", "/home/u/.local/share/fish/fish_history"],
        &["/p/docs/history.md", "/p/src/history.rs"],
    ),
    kind(
        "sensitive_file.shell_startup",
        Medium,
        SHELL_STARTUP_KEYWORDS,
        SHELL_STARTUP,
        "shell start-up file (exported tokens; code run in every shell)",
        &["/home/u/.bashrc", "/home/u/.zshrc", "/home/u/.profile", "/home/u/.config/fish/config.fish"],
        &["/p/docs/bashrc.md", "/p/.profile.d.md", "/p/src/profile.rs"],
    ),
    Kind {
        access: Access::Write,
        ..kind(
            "sensitive_file.shell_startup_write",
            High,
            SHELL_STARTUP_KEYWORDS,
            SHELL_STARTUP,
            "shell start-up file written (code run in every later shell)",
            &["/home/u/.bashrc", "/home/u/.zprofile"],
            &["/p/docs/bashrc.md"],
        )
    },
    Kind {
        action: Action::Deny,
        ..kind(
            "sensitive_file.system_auth",
            Critical,
            &["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "master.passwd", "opasswd"],
            r"(?i)^(?:/private)?/etc/(?:shadow|gshadow|sudoers(?:\.d/.*)?|master\.passwd|security/opasswd)$",
            "system password or sudo configuration",
            &["/etc/shadow", "/etc/sudoers.d/90-cloud", "/private/etc/master.passwd", "/ETC/SHADOW"],
            &["/etc/passwd", "/p/etc/shadow"],
        )
    },
];

/// Credentials read through a program (a password manager's or cloud CLI's command), matched
/// on a command's normalised lines (the program as its basename, first).
pub(crate) const COMMANDS: &[Kind] = &[kind(
    "sensitive_file.secret_cli",
    High,
    &[
        "bw ",
        "op ",
        "pass ",
        "gopass",
        "keepassxc",
        "lpass",
        "security ",
        "secret-tool",
        "gh ",
        "aws ",
        "gcloud",
        "az ",
        "kubectl",
        "vault",
        "docker-credential",
        "credential",
        "terraform",
    ],
    r"^bw (?:\S+ )*?(?:get|export|list|serve|unlock)(?: |$)|^op (?:\S+ )*?(?:read|inject|export|(?:item|document) (?:get|list))(?: |$)|^(?:pass|gopass) (?:show|cat|otp|-c|--clip)(?: |$)|^(?:pass|gopass) [^-\s]\S*$|^terraform (?:\S+ )*?state (?:pull|show)(?: |$)|^keepassxc-cli (?:show|export|clip)|^lpass (?:show|export)|^security (?:find-(?:generic|internet)-password|dump-keychain)|^secret-tool lookup|^gh auth (?:token|status (?:\S+ )*(?:-t|--show-token))|^aws (?:\S+ )*?(?:configure (?:get|export-credentials)|sts get-session-token|ecr get-login-password|secretsmanager get-secret-value|ssm get-parameters?(?: \S+)* --with-decryption)|^gcloud (?:\S+ )*?auth (?:application-default )?print-(?:access|identity)-token|^az account get-access-token|^kubectl (?:\S+ )*?get (?:\S+ )*?(?:secrets?|secret/\S+)(?: |$)|^vault (?:kv )?(?:get|read)(?: |$)|^docker-credential-\S+ get|^git credential fill",
    "a credential read through a password manager's, cloud CLI's or cluster's command",
    &[
        "bw get password github",
        "op read op://vault/item/password",
        "pass show web/github",
        "gh auth token",
        "aws configure export-credentials",
        "gcloud auth print-access-token",
        "kubectl get secret db -o yaml",
        "security find-generic-password -w -s x",
        "BW get item x",
    ],
    &["bw --help", "op --version", "gh auth status", "kubectl get pods", "kubectl describe secret db", "aws s3 ls"],
)];

/// Key material recognised by content (what a `Read` or a command's output returned).
pub(crate) const CONTENT: &[Kind] = &[
    kind(
        "sensitive_file.key_material",
        High,
        &["private key", "putty-user-key-file"],
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d",
        "private key material in what a tool returned",
        &[
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE…",
            "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "PuTTY-User-Key-File-3: ssh-ed25519",
        ],
        &["-----BEGIN PUBLIC KEY-----", "-----BEGIN CERTIFICATE-----", "the private key is in the vault"],
    ),
    kind(
        "sensitive_file.secret_manifest",
        High,
        &["kind:", "terraform_version"],
        r#"(?m)^kind:\s*["']?Secret["']?\s*$|"terraform_version"\s*:"#,
        "a Kubernetes Secret manifest or Terraform state in what a tool returned",
        &["apiVersion: v1\nkind: Secret\ndata:\n  pw: eA==", "{\"version\": 4, \"terraform_version\": \"1.6.0\"}"],
        &["kind: ConfigMap", "kind: SecretProviderClass", "terraform version 1.6"],
    ),
    kind(
        "sensitive_file.credential_content",
        High,
        &["aws_secret_access_key", "service_account"],
        r#"(?im)^\s*aws_secret_access_key\s*=|"type"\s*:\s*"service_account""#,
        "cloud credentials in what a tool returned",
        &[
            "[default]\naws_access_key_id = AKIA…\naws_secret_access_key = x",
            "{\"type\": \"service_account\", \"private_key_id\": \"1\"}",
        ],
        &["set AWS_SECRET_ACCESS_KEY in CI", "\"type\": \"user\""],
    ),
];

fn spec(k: &Kind, target: Target) -> RuleSpec {
    RuleSpec {
        id: k.id.into(),
        category: None,
        target,
        pattern: k.pattern.into(),
        keywords: k.keywords.iter().map(|s| (*s).into()).collect(),
        unless: k.unless.map(Into::into),
        severity: k.severity,
        action: k.action,
        access: k.access,
        description: k.description.into(),
    }
}

/// The catalogue as policy rules.
pub(crate) fn rules() -> Vec<RuleSpec> {
    FILES
        .iter()
        .map(|k| spec(k, Target::Path))
        .chain(COMMANDS.iter().map(|k| spec(k, Target::Command)))
        .chain(CONTENT.iter().map(|k| spec(k, Target::Content)))
        .collect()
}

/// The most of a tool's output that is scanned for key material.
pub(crate) const MAX_CONTENT_SCAN: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::policy::Policy;

    fn fired(p: &Policy, target: Target, text: &str, access: Access) -> Vec<String> {
        let mut out = Vec::new();
        match target {
            Target::Path => p.check_path(text, access, &mut out),
            Target::Command => p.check_command(text, &mut out),
            Target::Content => p.check_content(text, &mut out),
        }
        out.into_iter().map(|f| f.rule).filter(|r| r.starts_with("sensitive_file.")).collect()
    }

    /// Every kind: each example fires it (and its prefilter lets it through); each near miss
    /// fires no sensitive kind at all.
    #[test]
    fn every_kind_has_an_example_and_a_near_miss() {
        let p = Policy::builtin();
        for (table, target) in [(FILES, Target::Path), (COMMANDS, Target::Command), (CONTENT, Target::Content)] {
            for k in table {
                assert!(!k.examples.is_empty() && !k.near_misses.is_empty(), "{}", k.id);
                for e in k.examples {
                    let got = fired(&p, target, e, k.access);
                    assert!(got.iter().any(|r| r == k.id), "{}: example {e:?} gave {got:?}", k.id);
                }
                for n in k.near_misses {
                    let got = fired(&p, target, n, Access::Write);
                    assert!(got.is_empty(), "{}: near miss {n:?} fired {got:?}", k.id);
                }
            }
        }
    }

    #[test]
    fn ids_are_sensitive_file_kinds() {
        for k in FILES.iter().chain(COMMANDS).chain(CONTENT) {
            assert!(k.id.starts_with("sensitive_file."), "{}", k.id);
        }
    }
}
