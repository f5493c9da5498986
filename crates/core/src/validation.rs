//! Bad input: which field of a request broke which rule. Every parser in
//! `core` answers with it, and the edges turn it into a 400 naming the
//! field.

/// A field of a request broke a rule. The message names both, so a user knows
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValidationError {
    /// The request field at fault, e.g. `name` or `nodes`.
    pub field: String,
    /// The rule the value broke, phrased for a user.
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The same rule, reported against another field name.
    pub fn for_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}
