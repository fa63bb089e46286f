//! The relay's settings (`[export]` and `AGENT_TELEMETRY_OTLP_*`), resolved: where it exports,
//! how, and how it batches. Resolved once, with everything else, by [`super::resolve`].
//!
//! Endpoints and headers may carry credentials (`https://user:token@host`, `authorization`,
//! `x-api-key`): [`ExportConfig::describe`] and [`ExportConfig::display_headers`] are the only
//! forms ever written to `status.json`, logs or records, and they never hold a credential in clear.

use crate::ids::sha256::Sha256;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf", alias = "http")]
    HttpProtobuf,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    /// OTLP JSON lines in `<dir>/traces-*.jsonl` and `<dir>/logs-*.jsonl` (the collector's file
    /// exporter format, readable by its `otlpjsonfile` receiver).
    File(PathBuf),
    Otlp {
        endpoint: String,
        protocol: Protocol,
    },
}

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub destination: Destination,
    /// `export.protocol` as resolved (an OTLP destination carries it too; a file one ignores it).
    pub protocol: Protocol,
    /// Lower-case header names → values (sent with every request).
    pub headers: BTreeMap<String, String>,
    pub ca_file: Option<PathBuf>,
    /// A file whose content is the bearer token ([`ExportConfig::with_token`] reads it).
    pub token_file: Option<PathBuf>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub batch_size: usize,
    pub poll: Duration,
    pub span_timeout: Duration,
    pub idle_exit: Duration,
    /// How often the relay checks that our settings entries and markers are still in place.
    pub gap_check: Duration,
    /// A session working on a turn with no record for this long is reported silent
    /// (`telemetry_gap`, `session_silent`); one waiting for the user, after `span_timeout`.
    pub session_silence: Duration,
    /// The hook starts a relay when none runs.
    pub autostart: bool,
}

impl ExportConfig {
    /// The defaults of the table ([`super::settings`]), the data dir placing the file export.
    pub(crate) fn defaults(data_dir: &std::path::Path) -> ExportConfig {
        let v = super::Values::defaults().export;
        let destination =
            destination(&v.endpoint, v.protocol, data_dir).unwrap_or_else(|_| Destination::File(data_dir.join("otlp")));
        ExportConfig::from_values(v, destination)
    }

    /// The resolved `[export]` settings, their endpoint already checked and turned into
    /// `destination`; the durations and lower bounds are applied here.
    pub(super) fn from_values(v: super::settings::export::Values, destination: Destination) -> ExportConfig {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        ExportConfig {
            destination,
            protocol: v.protocol,
            headers: v.headers,
            ca_file: v.ca_file,
            token_file: v.token_file,
            timeout: ms(v.timeout_ms),
            connect_timeout: ms(v.connect_timeout_ms),
            batch_size: v.batch_size.max(1) as usize,
            poll: ms(v.poll_ms.max(5)),
            span_timeout: secs(v.span_timeout_secs),
            idle_exit: secs(v.idle_exit_secs),
            gap_check: secs(v.gap_check_secs.max(1)),
            session_silence: secs(v.session_silence_secs.max(1)),
            autostart: v.autostart,
        }
    }

    /// Where the data goes, with any credential in the endpoint masked.
    pub fn describe(&self) -> String {
        match &self.destination {
            Destination::File(d) => format!("file {}", d.display()),
            Destination::Otlp { endpoint, protocol } => format!("{} ({})", redact_url(endpoint), protocol.as_str()),
        }
    }

    /// Header names with their values, masked unless the header is a known tenant selector.
    pub(crate) fn display_headers(&self) -> BTreeMap<String, String> {
        self.headers.iter().map(|(k, v)| (k.clone(), display_header(k, v))).collect()
    }

    /// `text` with every credential of these settings masked: the endpoint's password and query,
    /// and the value of every header that is not a tenant name (transport errors quote URLs).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Destination::Otlp { endpoint, .. } = &self.destination {
            let shown = redact_url(endpoint);
            if shown != *endpoint {
                out = out.replace(endpoint.as_str(), &shown);
                // Also any other spelling of the secret parts (a URL re-rendered by a library).
                for secret in url_secrets(endpoint) {
                    out = out.replace(secret, "***");
                }
            }
        }
        for (k, v) in &self.headers {
            let shown = display_header(k, v);
            if shown != *v && !v.is_empty() {
                out = out.replace(v.as_str(), &shown);
            }
        }
        out
    }

    /// These settings with the token of `token_file` as the `authorization` header, for the
    /// exporter (and for [`ExportConfig::scrub`], which then masks the token as every other
    /// header value). The error names the file, never its content.
    pub(crate) fn with_token(&self) -> Result<ExportConfig, TokenError> {
        let Some(file) = &self.token_file else { return Ok(self.clone()) };
        if self.headers.contains_key("authorization") {
            return Err(TokenError::Both(file.clone()));
        }
        let text = std::fs::read_to_string(file).map_err(|e| TokenError::Read(file.clone(), e))?;
        let token = text.trim();
        if token.is_empty() || token.contains(['\r', '\n']) {
            return Err(TokenError::Malformed(file.clone()));
        }
        let mut out = self.clone();
        out.headers.insert("authorization".into(), format!("Bearer {token}"));
        Ok(out)
    }

    /// A short digest of every setting that changes what the relay sends where (credentials
    /// included, so a changed token shows as a change; the digest does not reveal it).
    pub(crate) fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            self.destination, self.headers, self.ca_file, self.token_file, self.timeout, self.connect_timeout
        ));
        let d = h.finalize();
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// Why `export.token_file` gave no token (the texts name the file, not what it holds).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("export.token_file {}: cannot read it: {}", .0.display(), .1)]
    Read(PathBuf, #[source] std::io::Error),
    #[error("export.token_file {}: empty, or more than one line", .0.display())]
    Malformed(PathBuf),
    #[error("export.token_file {} and an `authorization` header are both set: keep one", .0.display())]
    Both(PathBuf),
}

/// Headers whose value names a tenant, not a secret: shown as they are.
const TENANT_HEADERS: &[&str] = &["x-scope-orgid", "accountid", "projectid", "x-tenant", "tenant"];

pub(crate) fn display_header(name: &str, value: &str) -> String {
    if TENANT_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        value.to_string()
    } else {
        format!("[REDACTED:{} bytes]", value.len())
    }
}

/// `scheme://user:pass@host/path?query` → `scheme://user:***@host/path?***`: the password and the
/// query (where API keys often travel) are masked; host, port and path stay readable.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let user = &authority[..at];
            let user = user.split_once(':').map(|(u, _)| format!("{u}:***")).unwrap_or_else(|| "***".to_string());
            format!("{user}@{}", &authority[at + 1..])
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => format!("{}?***", &tail[..q]),
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// The password (after `user:`) and the query of a URL, the parts [`redact_url`] masks.
fn url_secrets(url: &str) -> Vec<&str> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = Vec::new();
    if let Some(at) = rest[..auth_end].rfind('@') {
        let user = &rest[..at];
        out.push(user.split_once(':').map(|(_, p)| p).unwrap_or(user));
    }
    if let Some(q) = rest.find('?') {
        out.push(rest[q + 1..].split('#').next().unwrap_or(""));
    }
    out.retain(|s| s.len() >= 3);
    out
}

/// Checks an endpoint setting and turns it into a destination.
pub(crate) fn destination(
    endpoint: &str,
    protocol: Protocol,
    data_dir: &std::path::Path,
) -> Result<Destination, super::SettingError> {
    if endpoint == "file" {
        Ok(Destination::File(data_dir.join("otlp")))
    } else if let Some(path) = endpoint.strip_prefix("file://") {
        if path.starts_with('/') {
            Ok(Destination::File(PathBuf::from(path)))
        } else {
            Err(super::SettingError::Endpoint(format!("{endpoint:?}: a file:// endpoint needs an absolute path")))
        }
    } else if let Some(rest) = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://")) {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(super::SettingError::Endpoint(format!("{}: no host", redact_url(endpoint))));
        }
        if let Some((_, port)) = host.rsplit_once(':').filter(|(h, _)| !h.ends_with(']') || host.starts_with('[')) {
            if !port.is_empty() && !host.ends_with(']') && port.parse::<u16>().is_err() {
                return Err(super::SettingError::Endpoint(format!("{}: bad port {port:?}", redact_url(endpoint))));
            }
        }
        Ok(Destination::Otlp { endpoint: endpoint.trim_end_matches('/').to_string(), protocol })
    } else {
        Err(super::SettingError::Endpoint(format!(
            "{:?} is neither \"file\", a file:///path nor an http(s):// URL",
            redact_url(endpoint)
        )))
    }
}

/// A header name as gRPC metadata and HTTP accept it (lower-case token characters).
pub(crate) fn check_header_name(name: &str) -> Result<String, super::SettingError> {
    let n = name.trim().to_ascii_lowercase();
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(super::SettingError::HeaderName(name.to_string()));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(redact_url("https://user:s3cret@collector:4317/v1"), "https://user:***@collector:4317/v1");
        assert_eq!(redact_url("https://tok@h:4318"), "https://***@h:4318");
        assert_eq!(redact_url("http://h:4318/otlp?api_key=abc"), "http://h:4318/otlp?***");
        assert_eq!(redact_url("http://127.0.0.1:4317"), "http://127.0.0.1:4317");
        // A password holding '@' is masked whole.
        assert_eq!(redact_url("https://u:p@ss@h:1"), "https://u:***@h:1");
    }

    #[test]
    fn headers_are_masked_unless_a_tenant() {
        assert_eq!(display_header("x-scope-orgid", "team-a"), "team-a");
        assert_eq!(display_header("authorization", "Bearer abc"), "[REDACTED:10 bytes]");
        assert_eq!(display_header("x-api-key", "k"), "[REDACTED:1 bytes]");
    }

    #[test]
    fn endpoints_are_checked() {
        let d = Path::new("/data");
        assert_eq!(destination("file", Protocol::Grpc, d).unwrap(), Destination::File("/data/otlp".into()));
        assert!(
            matches!(destination("http://127.0.0.1:4317/", Protocol::Grpc, d).unwrap(), Destination::Otlp { endpoint, .. } if endpoint == "http://127.0.0.1:4317")
        );
        for bad in ["127.0.0.1:4317", "http://", "http://h:99999", "grpc://h:4317", "file://relative", "https://u:pw@"]
        {
            let e = destination(bad, Protocol::Grpc, d).expect_err(bad).to_string();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn error_texts_are_scrubbed() {
        let mut c = ExportConfig::defaults(Path::new("/d"));
        c.destination =
            Destination::Otlp { endpoint: "https://bob:pa55word@h:4318".into(), protocol: Protocol::HttpProtobuf };
        c.headers.insert("authorization".into(), "Bearer tok-123".into());
        c.headers.insert("x-scope-orgid".into(), "tenant".into());
        let t = c.scrub("error sending request for url (https://bob:pa55word@h:4318/v1/logs) with Bearer tok-123 for tenant; pa55word");
        assert!(!t.contains("pa55word") && !t.contains("tok-123"), "{t}");
        assert!(t.contains("https://bob:***@h:4318") && t.contains("tenant"), "{t}");
    }

    #[test]
    fn the_token_file_becomes_a_masked_authorization_header() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "tok-secret-42\n").unwrap();
        let mut c = ExportConfig::defaults(dir.path());
        c.token_file = Some(file.clone());
        let t = c.with_token().unwrap();
        assert_eq!(t.headers["authorization"], "Bearer tok-secret-42");
        assert!(!format!("{:?}", t.display_headers()).contains("tok-secret-42"));
        assert!(!t.scrub("refused Bearer tok-secret-42").contains("tok-secret-42"));
        // Neither the settings as shown nor any error says what the file holds.
        assert!(!format!("{:?}{}", c.display_headers(), c.describe()).contains("tok-secret"));
        std::fs::write(&file, "\n").unwrap();
        let e = c.with_token().unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("token"), "{e}");
        std::fs::write(&file, "tok-secret-42\nsecond-line").unwrap();
        assert!(!c.with_token().unwrap_err().to_string().contains("tok-secret"));
        c.headers.insert("authorization".into(), "Bearer other".into());
        let e = c.with_token().unwrap_err().to_string();
        assert!(e.contains("both") && !e.contains("other"), "{e}");
        c.headers.clear();
        c.token_file = Some(dir.path().join("missing"));
        assert!(c.with_token().unwrap_err().to_string().contains("cannot read"));
    }

    #[test]
    fn the_fingerprint_sees_a_changed_token() {
        let mut a = ExportConfig::defaults(Path::new("/d"));
        let f0 = a.fingerprint();
        a.headers.insert("authorization".into(), "Bearer 1".into());
        let f1 = a.fingerprint();
        a.headers.insert("authorization".into(), "Bearer 2".into());
        assert!(f0 != f1 && f1 != a.fingerprint());
        assert!(!a.fingerprint().contains("Bearer"));
    }
}
