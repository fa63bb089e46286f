//! The live views: `watch` (the journal followed like `tail -f`, one line or one JSON object per
//! record) and `top` (a full-screen view of the sessions running now). Both read the journal
//! directly — no index, no backend — and never write anything under the data dir: they work on a
//! read-only copy as well as on the live one.
//!
//! - [`follow`]: an incremental reader of the journal from a position (the end, a time, the last
//!   bytes), across segment rotation.
//! - [`filter`]: a record as `search --json` prints it ([`filter::event_row`]) and `search`'s
//!   filters applied to one record at a time.
//! - [`risk`]: a session's findings counted, and its risk score ([`risk::session_risk`], the
//!   project's one score, `enrich::risk`).
//! - [`state`]: what `top` shows, built from records (pure: records and a clock in, rows out).
//! - [`watch`]: `watch`'s text line (the timeline's, with the time of day).
//! - [`view`]: `top`'s screen and keys over a [`state::Top`] (ratatui; no terminal I/O here).
//!
//! Not for: the terminal itself (raw mode, the event loop, signals): `commands::live`.

pub(crate) mod filter;
pub(crate) mod follow;
pub(crate) mod risk;
pub(crate) mod state;
pub(crate) mod view;
pub(crate) mod watch;
