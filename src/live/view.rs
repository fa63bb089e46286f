//! `top`'s screen and keys: an [`App`] (the [`Top`] state, which screen, the selection, the
//! filter, the sort) that takes keys ([`App::key`]) and draws itself on a ratatui frame
//! ([`App::draw`]). No terminal I/O: `commands::live` reads the keys and owns the terminal, and
//! the tests draw on ratatui's `TestBackend`.
//!
//! Screens: the sessions (fleet totals on top, the session table, the findings feed, the keys
//! at the bottom) and one session's live timeline (Enter on a session; Esc goes back).

use super::state::{Session, Sort, Status, Top};
use crate::forensics::{sessions::clip, time, timeline, Style as TextStyle};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, TableState};
use ratatui::Frame;

/// A key, as `top` understands them (the terminal's own events are mapped to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Char(char),
    Up,
    Down,
    Enter,
    Esc,
    Backspace,
    /// Ctrl-C.
    Interrupt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Screen {
    Sessions,
    /// One session's timeline, by id.
    Timeline(String),
}

pub(crate) struct App {
    pub top: Top,
    /// The span timeout (ns): a session silent longer is idle, not active.
    pub open_for: u64,
    pub screen: Screen,
    /// The selected session, by id (it keeps its place as the list re-sorts).
    pub selected: Option<String>,
    pub filter: String,
    /// `/` was pressed: keys go to the filter until Enter or Esc.
    pub editing: bool,
    pub sort: Sort,
}

/// What a key asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Continue,
    Quit,
}

impl App {
    pub(crate) fn new(open_for: u64) -> App {
        App {
            top: Top::default(),
            open_for,
            screen: Screen::Sessions,
            selected: None,
            filter: String::new(),
            editing: false,
            sort: Sort::default(),
        }
    }

    /// The sessions listed now, in order.
    fn ids(&self, now: u64) -> Vec<String> {
        self.top.rows(now, &self.filter, self.sort).into_iter().map(|s| s.id.clone()).collect()
    }

    /// The selected row's index among `ids` (the first when the selected session is not listed).
    fn selected_index(&self, ids: &[String]) -> usize {
        self.selected.as_ref().and_then(|s| ids.iter().position(|i| i == s)).unwrap_or(0)
    }

    pub(crate) fn key(&mut self, key: Key, now: u64) -> Action {
        if key == Key::Interrupt {
            return Action::Quit;
        }
        if self.editing {
            match key {
                Key::Char(c) => self.filter.push(c),
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Enter => self.editing = false,
                Key::Esc => {
                    self.filter.clear();
                    self.editing = false;
                }
                _ => {}
            }
            return Action::Continue;
        }
        if key == Key::Char('q') {
            return Action::Quit;
        }
        match &self.screen {
            Screen::Timeline(_) => {
                if key == Key::Esc {
                    self.screen = Screen::Sessions;
                }
            }
            Screen::Sessions => {
                let ids = self.ids(now);
                let i = self.selected_index(&ids);
                match key {
                    Key::Up => self.selected = ids.get(i.saturating_sub(1)).cloned(),
                    Key::Down => self.selected = ids.get((i + 1).min(ids.len().saturating_sub(1))).cloned(),
                    Key::Enter => {
                        if let Some(id) = ids.get(i) {
                            self.selected = Some(id.clone());
                            self.screen = Screen::Timeline(id.clone());
                        }
                    }
                    Key::Char('/') => self.editing = true,
                    Key::Char('s') => self.sort = self.sort.next(),
                    Key::Esc => self.filter.clear(),
                    _ => {}
                }
            }
        }
        Action::Continue
    }

    pub(crate) fn draw(&mut self, frame: &mut Frame, now: u64) {
        let [head, body, foot] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
        frame.render_widget(Paragraph::new(self.header(now)), head);
        match self.screen.clone() {
            Screen::Sessions => {
                let feed_height = (body.height / 3).clamp(3, 12);
                let [table, feed] = Layout::vertical([Constraint::Min(3), Constraint::Length(feed_height)]).areas(body);
                self.draw_sessions(frame, table, now);
                self.draw_feed(frame, feed);
            }
            Screen::Timeline(id) => self.draw_timeline(frame, body, &id, now),
        }
        frame.render_widget(Paragraph::new(self.footer()), foot);
    }

    fn header(&mut self, now: u64) -> Line<'static> {
        let t = self.top.totals(now, self.open_for);
        let hook = |us: Option<u64>| match us {
            Some(u) if u < 1000 => format!("{u}µs"),
            Some(u) => format!("{:.1}ms", u as f64 / 1000.0),
            None => "-".into(),
        };
        Line::from(vec![
            Span::styled("agent-telemetry top", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(
                "  {} active / {} sessions · {:.1} events/s · hook p50 {} p99 {} · {} findings · ${:.4} · {} records",
                t.active,
                t.sessions,
                t.events_per_s,
                hook(t.hook_p50_us),
                hook(t.hook_p99_us),
                t.findings,
                t.cost,
                t.records
            )),
        ])
    }

    fn footer(&self) -> Line<'static> {
        if self.editing {
            return Line::from(vec![
                Span::styled("filter: ", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(format!("{}▏", self.filter)),
                Span::styled("  Enter keep · Esc clear", Style::new().add_modifier(Modifier::DIM)),
            ]);
        }
        let keys = match self.screen {
            Screen::Sessions => "q quit · ↑↓ select · Enter timeline · / filter · s sort",
            Screen::Timeline(_) => "q quit · Esc back",
        };
        let mut spans = vec![Span::styled(keys.to_string(), Style::new().add_modifier(Modifier::DIM))];
        spans.push(Span::raw(format!("   sort: {}", self.sort.name())));
        if !self.filter.is_empty() {
            spans.push(Span::raw(format!("   filter: {}", self.filter)));
        }
        Line::from(spans)
    }

    fn draw_sessions(&mut self, frame: &mut Frame, area: Rect, now: u64) {
        let rows = self.top.rows(now, &self.filter, self.sort);
        let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
        let selected = self.selected_index(&ids);
        let table_rows: Vec<Row> = rows.iter().map(|s| session_row(s, now, self.open_for)).collect();
        let header = Row::new([
            "", "SESSION", "AGENT", "PROJECT", "WORKTREE", "NOW", "TOOLS", "ERR", "FINDINGS", "TOKENS", "COST $",
            "RISK",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD));
        let widths = [
            Constraint::Length(1),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Length(16),
            Constraint::Length(12),
            Constraint::Min(16),
            Constraint::Length(5),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(4),
        ];
        let title = format!(" sessions ({}) ", rows.len());
        let table = Table::new(table_rows, widths)
            .header(header)
            .block(Block::bordered().title(title))
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
        let mut state = TableState::default().with_selected((!ids.is_empty()).then_some(selected));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn draw_feed(&self, frame: &mut Frame, area: Rect) {
        let lines: Vec<Line> = self
            .top
            .feed()
            .take(area.height.saturating_sub(2) as usize)
            .map(|f| {
                let colour = match f.severity {
                    crate::record::Severity::Critical | crate::record::Severity::High => Color::Red,
                    _ => Color::Yellow,
                };
                let sid: String = f.session.as_deref().unwrap_or("-").chars().take(8).collect();
                Line::from(vec![
                    Span::raw(format!("{}  {sid}  ", clock(f.time))),
                    Span::styled(format!("{:<8} {}", f.severity.as_str(), f.rule), Style::new().fg(colour)),
                    Span::raw(format!(
                        "  {} {}",
                        f.tool.as_deref().unwrap_or(""),
                        clip(&crate::text::escape_terminal(f.detail.as_deref().unwrap_or("")), 80)
                    )),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" findings ")), area);
    }

    fn draw_timeline(&self, frame: &mut Frame, area: Rect, id: &str, now: u64) {
        let plain = TextStyle { colour: false };
        let Some(s) = self.top.session(id) else {
            frame.render_widget(Paragraph::new(format!("session {id} is no longer tracked (Esc back)")), area);
            return;
        };
        let title = format!(
            " session {} · {} · {} · {} · risk {} ",
            s.id,
            s.project.as_deref().unwrap_or("-"),
            s.agent.as_deref().unwrap_or("-"),
            status_name(s.status(now, self.open_for)),
            s.risk()
        );
        let height = area.height.saturating_sub(2) as usize;
        let skip = s.timeline.len().saturating_sub(height);
        let lines: Vec<Line> = s
            .timeline
            .iter()
            .skip(skip)
            .map(|e| {
                let who = match (&e.agent_id, &e.agent_type) {
                    (Some(_), Some(t)) => format!("sub {t}"),
                    (Some(a), None) => format!("sub {}", a.chars().take(8).collect::<String>()),
                    (None, _) => "main".into(),
                };
                let text = timeline::line(&time::offset(e.offset_ms * 1_000_000), &who, e, plain);
                let style = if !e.findings.is_empty() {
                    Style::new().fg(Color::Yellow)
                } else if e.success == Some(false) {
                    Style::new().fg(Color::Red)
                } else {
                    Style::new()
                };
                Line::styled(text.trim_end().to_string(), style)
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Idle => "idle",
        Status::Ended => "ended",
    }
}

fn session_row(s: &Session, now: u64, open_for: u64) -> Row<'static> {
    let esc = |t: Option<&str>, n: usize| clip(&crate::text::escape_terminal(t.unwrap_or("-")), n);
    let (mark, colour) = match s.status(now, open_for) {
        Status::Active => ("●", Color::Green),
        Status::Idle => ("○", Color::Reset),
        Status::Ended => ("✓", Color::DarkGray),
    };
    let running = match s.now_running(now) {
        Some((tool, for_ns, 0)) => format!("{} {}", crate::text::escape_terminal(tool), time::duration(for_ns)),
        Some((tool, for_ns, more)) => {
            format!("{} {} +{more}", crate::text::escape_terminal(tool), time::duration(for_ns))
        }
        None => String::new(),
    };
    let f = &s.findings;
    let findings = format!("{}/{}/{}/{}", f.critical, f.high, f.medium, f.low);
    let risk = s.risk();
    let risk_style = match risk {
        0 => Style::new(),
        1..=38 => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    };
    Row::new(vec![
        ratatui::widgets::Cell::from(mark).style(Style::new().fg(colour)),
        crate::text::escape_terminal(&s.id.chars().take(8).collect::<String>()).into(),
        esc(s.agent.as_deref(), 14).into(),
        esc(s.project.as_deref().map(|p| p.rsplit('/').next().unwrap_or(p)), 16).into(),
        esc(s.worktree.as_deref().map(|p| p.rsplit('/').next().unwrap_or(p)), 12).into(),
        running.into(),
        s.tool_calls().to_string().into(),
        ratatui::widgets::Cell::from(s.errors.to_string()).style(if s.errors > 0 {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        }),
        ratatui::widgets::Cell::from(findings).style(if f.critical + f.high > 0 {
            Style::new().fg(Color::Red)
        } else if f.total() > 0 {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        }),
        s.tokens().map(crate::forensics::sessions::count).unwrap_or_else(|| "-".into()).into(),
        s.cost.map(|c| format!("{c:.4}")).unwrap_or_else(|| "-".into()).into(),
        ratatui::widgets::Cell::from(risk.to_string()).style(risk_style),
    ])
}

/// `HH:MM:SS` (UTC) of a time in ns.
fn clock(ns: u64) -> String {
    let rfc = crate::timefmt::rfc3339_nanos(ns);
    rfc.get(11..19).unwrap_or(&rfc).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::state::tests::{finding, rec, tool, S};
    use super::*;
    use crate::record::Severity;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(app: &mut App, now: u64) -> String {
        let mut term = Terminal::new(TestBackend::new(140, 24)).unwrap();
        term.draw(|f| app.draw(f, now)).unwrap();
        let buf = term.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    fn app() -> App {
        let mut app = App::new(60 * S);
        app.top.ingest(&rec(1, "aaaa1111-x", "SessionStart", 100));
        let mut pre = tool(rec(2, "aaaa1111-x", "PreToolUse", 101), "Bash", "t1");
        pre.action_details.command = Some("chmod 777 NOTES.md".into());
        pre.metadata.hook_us = Some(900);
        app.top.ingest(&finding(pre, "risky_command.chmod_world_writable", Severity::High));
        let mut other = rec(3, "bbbb2222-y", "UserPromptSubmit", 102);
        other.project_name = Some("other".into());
        app.top.ingest(&other);
        app
    }

    #[test]
    fn the_sessions_screen_shows_sessions_running_tools_findings_and_totals() {
        let mut app = app();
        let s = screen(&mut app, 104 * S);
        assert!(s.contains("2 active / 2 sessions"), "{s}");
        assert!(s.contains("hook p50 900µs p99 900µs"), "{s}");
        let row = s.lines().find(|l| l.contains("aaaa1111")).expect(&s);
        assert!(
            row.contains("demo") && row.contains("Bash 3.00s") && row.contains("0/1/0/0") && row.contains(" 39"),
            "{row}"
        );
        assert!(s.lines().any(|l| l.contains("bbbb2222") && l.contains("other")), "{s}");
        assert!(s.contains("high     risky_command.chmod_world_writable  Bash chmod 777 NOTES.md"), "{s}");
        assert!(s.contains("q quit") && s.contains("sort: activity"), "{s}");
    }

    #[test]
    fn keys_select_open_the_timeline_filter_sort_and_quit() {
        let mut app = app();
        let now = 104 * S;
        // Most recent first: bbbb, then aaaa; Down selects aaaa, Enter opens its timeline.
        assert_eq!(app.key(Key::Down, now), Action::Continue);
        app.key(Key::Enter, now);
        assert_eq!(app.screen, Screen::Timeline("aaaa1111-x".into()));
        let s = screen(&mut app, now);
        assert!(s.contains("session aaaa1111-x · demo"), "{s}");
        assert!(s.lines().any(|l| l.contains("SessionStart")), "{s}");
        assert!(
            s.lines().any(|l| l.contains("PreToolUse")
                && l.contains("chmod 777 NOTES.md")
                && l.contains("⚠ risky_command.chmod_world_writable (high)")),
            "{s}"
        );
        // New records show up in the open timeline.
        app.top.ingest(&tool(rec(4, "aaaa1111-x", "PostToolUse", 103), "Bash", "t1"));
        assert!(screen(&mut app, now).contains("PostToolUse"));
        app.key(Key::Esc, now);
        assert_eq!(app.screen, Screen::Sessions);
        // `/` filters: keys go to the filter, Enter keeps it.
        app.key(Key::Char('/'), now);
        for c in "other".chars() {
            app.key(Key::Char(c), now);
        }
        assert!(screen(&mut app, now).contains("filter: other▏"));
        app.key(Key::Char('q'), now);
        assert_eq!(app.filter, "otherq", "q is text while filtering");
        app.key(Key::Backspace, now);
        app.key(Key::Enter, now);
        let s = screen(&mut app, now);
        let listed: Vec<&str> = s.lines().filter(|l| l.starts_with("│●")).collect();
        assert!(listed.len() == 1 && listed[0].contains("bbbb2222") && s.contains("sessions (1)"), "{s}");
        app.key(Key::Esc, now);
        assert!(app.filter.is_empty());
        app.key(Key::Char('s'), now);
        assert_eq!(app.sort, Sort::Risk);
        assert!(screen(&mut app, now).contains("sort: risk"));
        assert_eq!(app.key(Key::Char('q'), now), Action::Quit);
        assert_eq!(App::new(1).key(Key::Interrupt, 0), Action::Quit);
    }
}
