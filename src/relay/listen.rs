//! The relay's loopback endpoint for Claude Code's `type: "http"` hooks (`[hook] listen`): a
//! POST of the hook payload is journaled exactly as the command hook would (the same
//! `hook::handle`: record, chain, enforce decision) before the answer goes back — so an event
//! costs Claude a request on a kept-alive connection instead of a process start.
//!
//! What it cannot do: take events while the relay is down (Claude Code drops them, a
//! non-blocking error). `install --transport http` therefore keeps the command hook on
//! `SessionStart` and `UserPromptSubmit`, which start the relay when it is not running.

use crate::config::Config;
use crate::enrich::HookEnv;
use crate::hook::{self, Transport};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The path our hook entries post to (it names us, so `uninstall` finds our entries).
pub(crate) use crate::claude_settings::HOOK_PATH as PATH;

/// Largest payload taken whole (Claude Code sends far less); a larger one is cut and recorded
/// as such, like the command hook's.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Shared between the relay's loop and the endpoint.
pub(crate) struct Shared {
    /// The settings in use (the relay swaps them on a config change).
    pub config: RwLock<Arc<Config>>,
    /// Events taken so far.
    pub events: AtomicU64,
}

/// Serves until the task is dropped. Each connection is kept alive for Claude's next event.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let env = Arc::new(http_env());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (shared, env) = (shared.clone(), env.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| answer(req, shared.clone(), env.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// What the command hook reads from its environment, for an event that came without one: the
/// relay's own user, home and host — never the Claude variables the relay may have inherited
/// from the hook that started it (another session's).
fn http_env() -> HookEnv {
    let p = HookEnv::from_process();
    HookEnv { home: p.home, user: p.user, host: p.host, ..HookEnv::default() }
}

async fn answer(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    env: Arc<HookEnv>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let refusal = if req.uri().path() != PATH {
        Some((StatusCode::NOT_FOUND, "{\"error\":\"not an agent-telemetry hook path\"}"))
    } else if req.method() != Method::POST {
        Some((StatusCode::METHOD_NOT_ALLOWED, "{\"error\":\"POST the hook payload\"}"))
    } else {
        None
    };
    if let Some((status, text)) = refusal {
        // Read (and drop) a bounded body first: answering before the body has arrived makes the
        // server close the kept-alive connection, and the client's next request then fails.
        let _ = Limited::new(req.into_body(), MAX_BODY).collect().await;
        return Ok(reply(status, text.into()));
    }
    let started = std::time::Instant::now();
    let now = crate::timefmt::now_unix_nanos();
    let (body, read_error) = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => (b.to_bytes(), None),
        Err(e) => (
            Bytes::new(),
            Some(if e.is::<http_body_util::LengthLimitError>() {
                format!("input larger than {MAX_BODY} bytes was cut")
            } else {
                format!("reading the request failed: {e}")
            }),
        ),
    };
    let config = shared.config.read().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone());
    shared.events.fetch_add(1, Ordering::Relaxed);
    // The journal append locks and writes files: off the async threads.
    let deny = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(|| {
            hook::handle(&config, &env, &body, read_error.as_deref(), now, started, Transport::Http)
        })
        .ok()
        .flatten()
    })
    .await
    .ok()
    .flatten();
    Ok(reply(StatusCode::OK, decision(deny.as_deref())))
}

/// The body Claude Code reads like a command hook's JSON output: a PreToolUse refusal names its
/// reason; anything else is `{}` (go on).
pub(crate) fn decision(deny: Option<&str>) -> String {
    match deny {
        Some(reason) => serde_json::json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": reason}}).to_string(),
        None => "{}".into(),
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}
