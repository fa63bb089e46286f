//! What can go wrong when exporting, typed by what the relay should do about it.
//!
//! The kind is decided from the transport's own status — the gRPC code or the HTTP status —
//! never from an error's text: the text is for people (it goes into the relay's status and log),
//! and a library that rewords it must not turn a refusal into a fast retry loop or back.
//! The tables follow the OTLP specification's failure rules (docs/export.md).

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
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Unavailable(_) | ExportError::Io(_))
    }

    /// A gRPC status other than OK: the kind from its code, `text` (what was being done and the
    /// status' message) for the user.
    pub(crate) fn from_grpc(code: tonic::Code, has_retry_info: bool, text: String) -> ExportError {
        if grpc_retryable(code, has_retry_info) {
            ExportError::Unavailable(text)
        } else {
            ExportError::Rejected(text)
        }
    }

    /// An HTTP answer with a status other than 2xx.
    pub(crate) fn from_http(status: u16, text: String) -> ExportError {
        if http_retryable(status) {
            ExportError::Unavailable(text)
        } else {
            ExportError::Rejected(text)
        }
    }

    /// The same error with its text passed through `f` (to mask credentials).
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> ExportError {
        match self {
            ExportError::Setup(t) => ExportError::Setup(f(&t)),
            ExportError::Rejected(t) => ExportError::Rejected(f(&t)),
            ExportError::Unavailable(t) => ExportError::Unavailable(f(&t)),
            ExportError::Io(t) => ExportError::Io(f(&t)),
        }
    }
}

/// The OTLP specification's retryable gRPC codes (RESOURCE_EXHAUSTED only when the server says
/// when to come back, with `RetryInfo`: without it the request itself is too much), plus
/// UNKNOWN: tonic gives that code to transport failures that carry no server answer (a reset
/// stream, a proxy cutting the response), which are outages, not refusals. Every other code is
/// the server refusing this request: waiting alone will not change its answer.
pub(crate) fn grpc_retryable(code: tonic::Code, has_retry_info: bool) -> bool {
    use tonic::Code::*;
    match code {
        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss | Unknown => true,
        ResourceExhausted => has_retry_info,
        Ok | InvalidArgument | NotFound | AlreadyExists | PermissionDenied | FailedPrecondition | Unimplemented
        | Internal | Unauthenticated => false,
    }
}

/// The OTLP specification's retryable HTTP statuses: 429, 502, 503, 504. Every other 4xx or 5xx
/// is a refusal of this request. (A failure with no status at all — connect, timeout, a cut
/// response — is an outage; the caller classifies it.)
pub(crate) fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn grpc_codes_follow_the_otlp_failure_table() {
        let refused = [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::InvalidArgument,
            Code::Unimplemented,
            Code::NotFound,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Internal,
        ];
        for c in refused {
            assert!(!grpc_retryable(c, false), "{c:?}");
            assert!(!ExportError::from_grpc(c, false, "x".into()).is_retryable(), "{c:?}");
        }
        let retried = [
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unavailable,
            Code::DataLoss,
            Code::Unknown,
        ];
        for c in retried {
            assert!(grpc_retryable(c, false), "{c:?}");
            assert!(ExportError::from_grpc(c, false, "x".into()).is_retryable(), "{c:?}");
        }
        // RESOURCE_EXHAUSTED: only a throttle (with RetryInfo) is worth a retry.
        assert!(!grpc_retryable(Code::ResourceExhausted, false));
        assert!(grpc_retryable(Code::ResourceExhausted, true));
    }

    #[test]
    fn http_statuses_follow_the_otlp_failure_table() {
        for s in [429, 502, 503, 504] {
            assert!(http_retryable(s), "{s}");
            assert!(ExportError::from_http(s, "x".into()).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 408, 413, 415, 500, 501] {
            assert!(!http_retryable(s), "{s}");
            assert!(!ExportError::from_http(s, "x".into()).is_retryable(), "{s}");
        }
    }

    #[test]
    fn the_text_does_not_decide() {
        // Text that reads like a refusal on a retryable status, and the other way round.
        assert!(ExportError::from_grpc(Code::Unavailable, false, "Unauthenticated, status: 401".into()).is_retryable());
        assert!(!ExportError::from_http(401, "service unavailable, status: 503".into()).is_retryable());
        assert!(!ExportError::Setup("x".into()).is_retryable());
        assert!(ExportError::Io("x".into()).is_retryable());
    }
}
