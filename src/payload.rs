//! What Claude Code hands a hook on stdin, read leniently.
//!
//! The payload stays a `serde_json::Value`: Claude Code adds events and fields often, and every
//! one must survive into `raw_input`. This module only reads the fields the hook maps, and notes
//! (rather than rejects) fields of an unexpected type.

pub mod lenient;

use serde_json::Value;

/// The hook events of Claude Code 2.1.x (see `crate::event`).
#[cfg(test)]
pub(crate) use crate::event::CLAUDE_CODE_EVENTS as KNOWN_EVENTS;

/// A parsed hook payload (a JSON object) with typed accessors.
pub(crate) struct Payload<'a> {
    pub value: &'a Value,
    /// Names of known fields that were present with the wrong type.
    pub type_issues: std::cell::RefCell<Vec<String>>,
}

impl<'a> Payload<'a> {
    pub(crate) fn new(value: &'a Value) -> Self {
        Payload { value, type_issues: Default::default() }
    }

    /// A top-level string field; a field of another type is noted and treated as absent.
    pub(crate) fn str(&self, key: &str) -> Option<&'a str> {
        match self.value.get(key)? {
            Value::String(s) => Some(s.as_str()),
            Value::Null => None,
            _ => {
                self.note(key);
                None
            }
        }
    }

    pub(crate) fn u64(&self, key: &str) -> Option<u64> {
        match self.value.get(key)? {
            Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::Null => None,
            _ => {
                self.note(key);
                None
            }
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Option<bool> {
        match self.value.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            _ => {
                self.note(key);
                None
            }
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// `tool_input.<key>` as a string.
    pub(crate) fn input_str(&self, key: &str) -> Option<&'a str> {
        self.get("tool_input")?.get(key)?.as_str()
    }

    pub(crate) fn event(&self) -> Option<&'a str> {
        self.str("hook_event_name")
    }

    pub(crate) fn tool_name(&self) -> Option<&'a str> {
        self.str("tool_name")
    }

    fn note(&self, key: &str) {
        let mut issues = self.type_issues.borrow_mut();
        if !issues.iter().any(|k| k == key) {
            issues.push(key.to_string());
        }
    }

    /// Notes known object fields that hold something else (e.g. `tool_input` as a string).
    pub(crate) fn check_objects(&self, keys: &[&str]) {
        for k in keys {
            if self.value.get(*k).is_some_and(|v| !v.is_object() && !v.is_null()) {
                self.note(k);
            }
        }
    }
}
