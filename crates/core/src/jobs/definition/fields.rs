//! Reading a definition's JSON: where a value sits (`Loc`), the errors found so far (`Cx`)
//! and typed reads of an object's fields that report what is wrong and where (`Obj`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::FieldError;
use crate::jobs::template;

/// A location under construction.
#[derive(Debug, Clone)]
pub(super) struct Loc(pub(super) Vec<String>);

impl Loc {
    pub(super) fn at(&self, part: impl ToString) -> Loc {
        let mut parts = self.0.clone();
        parts.push(part.to_string());
        Loc(parts)
    }
}

/// The errors found so far.
#[derive(Default)]
pub(super) struct Cx {
    pub(super) errors: Vec<FieldError>,
}

impl Cx {
    pub(super) fn push(&mut self, loc: &Loc, kind: &str, msg: impl Into<String>) {
        self.errors.push(FieldError {
            loc: loc.0.clone(),
            msg: msg.into(),
            kind: kind.into(),
            input: None,
        });
    }

    pub(super) fn missing(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "missing", msg);
    }

    pub(super) fn invalid(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "value_error", msg);
    }

    pub(super) fn wrong_type(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "type_error", msg);
    }

    pub(super) fn not_one_of(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "enum", msg);
    }

    /// One error per key of `obj` not in `allowed`; `context` ends the message (e.g. the step type).
    pub(super) fn unknown_keys(&mut self, obj: &Obj<'_>, allowed: &[&str], context: &str) {
        for key in obj.map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.push(
                &obj.loc.at(key),
                "extra_forbidden",
                format!("Additional properties are not allowed ('{key}' was unexpected{context})"),
            );
        }
    }

    /// An integer in `lo..=hi`; floats such as `1.0` are not integers.
    pub(super) fn int(&mut self, loc: &Loc, v: &Value, lo: i64, hi: i64) -> Option<i64> {
        let n = match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64(),
            _ => {
                self.wrong_type(loc, "must be an integer");
                return None;
            }
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ if hi == i64::MAX => {
                self.invalid(loc, format!("must be at least {lo}"));
                None
            }
            _ => {
                self.invalid(loc, format!("must be between {lo} and {hi}"));
                None
            }
        }
    }

    /// Reports a malformed placeholder in `text` at `loc`.
    pub(super) fn placeholders(&mut self, loc: &Loc, text: &str) {
        if let Err(msg) = template::scan(text) {
            self.invalid(loc, msg);
        }
    }
}

/// A JSON object and where it sits.
pub(super) struct Obj<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) loc: Loc,
}

impl Obj<'_> {
    /// A present, non-blank string.
    pub(super) fn required_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        match self.map.get(key) {
            None => {
                cx.missing(&self.loc.at(key), "Field required");
                None
            }
            Some(_) => self.non_empty_str(cx, key),
        }
    }

    /// A string that, when present, is not blank.
    pub(super) fn non_empty_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        let s = self.opt_str(cx, key)?;
        if s.trim().is_empty() {
            cx.invalid(&self.loc.at(key), format!("{key} must not be empty"));
            return None;
        }
        Some(s)
    }

    pub(super) fn opt_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        match self.map.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                cx.wrong_type(&self.loc.at(key), format!("{key} must be a string"));
                None
            }
        }
    }

    pub(super) fn bool_or(&self, cx: &mut Cx, key: &str, default: bool) -> bool {
        match self.map.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                cx.wrong_type(&self.loc.at(key), format!("{key} must be true or false"));
                default
            }
        }
    }

    pub(super) fn int_or(&self, cx: &mut Cx, key: &str, lo: i64, hi: i64, default: i64) -> i64 {
        match self.map.get(key) {
            None => default,
            Some(v) => cx.int(&self.loc.at(key), v, lo, hi).unwrap_or(default),
        }
    }

    /// An object of string values, with every key passing `key_ok` (whose message explains a
    /// bad key) and every value a string without malformed placeholders.
    pub(super) fn string_map(
        &self,
        cx: &mut Cx,
        key: &str,
        key_ok: fn(&str) -> Result<(), &'static str>,
        value_ok: fn(&str) -> Result<(), &'static str>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let loc = self.loc.at(key);
        match self.map.get(key) {
            None => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    if let Err(msg) = key_ok(k) {
                        cx.invalid(&loc.at(k), msg);
                    }
                    match v {
                        Value::String(s) => {
                            if let Err(msg) = value_ok(s) {
                                cx.invalid(&loc.at(k), msg);
                            }
                            cx.placeholders(&loc.at(k), s);
                            out.insert(k.clone(), s.clone());
                        }
                        _ => cx.wrong_type(&loc.at(k), "must be a string"),
                    }
                }
            }
            Some(_) => cx.wrong_type(&loc, format!("{key} must be an object of strings")),
        }
        out
    }
}
