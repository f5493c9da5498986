//! Secrets never reach a log: every event Terraform produces passes through a
//! [`Masker`] holding the secret values of the run.

use std::borrow::Cow;

use serde_json::Value;

/// What a masked secret reads.
pub const MASK: &str = "***";

/// Replaces every occurrence of a known secret value.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Masks these values. Very short values (under 4 characters) are not
    /// masked: replacing every `1` or `on` in a log would hide everything
    /// and protect nothing.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets }
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    /// Masks every string in a JSON value, keys included.
    pub fn mask_value(&self, value: &Value) -> Value {
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.mask(s).into_owned()),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.mask(k).into_owned(), self.mask_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let m = Masker::new(["abcd".to_owned(), "abcdef".to_owned(), "on".to_owned()]);
        assert_eq!(m.mask("x abcdef y abcd z on"), "x *** y *** z on");
        assert_eq!(
            m.mask_value(&json!({"k": ["abcd", 1, {"abcdef": "ok"}]})),
            json!({"k": ["***", 1, {"***": "ok"}]})
        );
    }
}
