//! What can go wrong when exporting, typed by what the relay should do about it.

/// An export failure. Every kind keeps the data in the journal (nothing is dropped); the kind
/// decides how the relay waits and what it tells the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// The settings cannot work (bad header, unreadable CA file, bad endpoint): fixing the config
    /// is the only way on. `relay --once` gives up at once.
    #[error("export settings: {0}")]
    Setup(String),
    /// The destination answered and refused the data (authentication, permission, a malformed
    /// or unroutable request): retrying the same request will not help until something changes.
    #[error("the destination refused the data: {0}")]
    Rejected(String),
    /// The destination could not be reached or was overloaded: retry with back-off.
    #[error("the destination is unavailable: {0}")]
    Unavailable(String),
    /// Writing the OTLP files failed (disk full, permissions): retry with back-off.
    #[error("writing OTLP files: {0}")]
    Io(String),
}

impl ExportError {
    /// Whether waiting and sending the same data again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Unavailable(_) | ExportError::Io(_))
    }

    /// Classifies an exporter's error text (opentelemetry-otlp reports gRPC status codes and HTTP
    /// status lines only as text).
    pub fn from_export_text(text: String) -> ExportError {
        const REFUSED: &[&str] = &[
            "Unauthenticated",
            "PermissionDenied",
            "InvalidArgument",
            "Unimplemented",
            "status: 400",
            "status: 401",
            "status: 403",
            "status: 404",
            "status: 405",
            "status: 413",
            "Status Code: 400",
            "Status Code: 401",
            "Status Code: 403",
            "Status Code: 404",
            "Status Code: 405",
            "Status Code: 413",
        ];
        if REFUSED.iter().any(|p| text.contains(p)) {
            ExportError::Rejected(text)
        } else {
            ExportError::Unavailable(text)
        }
    }

    /// The same error with its text passed through `f` (to mask credentials).
    pub fn map_text(self, f: impl Fn(&str) -> String) -> ExportError {
        match self {
            ExportError::Setup(t) => ExportError::Setup(f(&t)),
            ExportError::Rejected(t) => ExportError::Rejected(f(&t)),
            ExportError::Unavailable(t) => ExportError::Unavailable(f(&t)),
            ExportError::Io(t) => ExportError::Io(f(&t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_outages() {
        assert!(
            !ExportError::from_export_text("grpc status: Unauthenticated, message: bad token".into()).is_retryable()
        );
        assert!(!ExportError::from_export_text("HTTP export failed. Url: x, Status Code: 404, Response: ".into())
            .is_retryable());
        assert!(ExportError::from_export_text("transport error: connection refused".into()).is_retryable());
        assert!(ExportError::from_export_text("Status Code: 503".into()).is_retryable());
        assert!(!ExportError::Setup("x".into()).is_retryable());
    }
}
