//! A refused form shown again as it was sent: the action redirects back
//! with the form's name, the field the refusal named and what was typed
//! (never a secret) in the query; the page fills the form from it and shows
//! the refusal beside its field, tied to it (`aria-invalid`,
//! `aria-describedby`).

use maud::{Markup, html};
use slipway_service::Error;

use crate::flash::Tone;
use crate::session::Ctx;

/// The query parameters the echo uses besides the fields themselves.
const FORM: &str = "form";
const ERROR_FIELD: &str = "error_field";
/// What is carried back of one field, at most (a typed value is a size, a
/// duration, a name or a reason: longer is cut).
const MAX_VALUE: usize = 1_000;

/// Whether query parameter `key` is the echo's own (not a field).
pub fn is_echo(key: &str) -> bool {
    key == FORM || key == ERROR_FIELD
}

/// What a page's query says about a refused form.
#[derive(Debug, Default)]
pub struct Echo {
    form: Option<String>,
    error_field: Option<String>,
    typed: Vec<(String, String)>,
}

impl Echo {
    /// The echo in a request's path and query (empty when there is none).
    pub fn of(path: &str) -> Self {
        let query = path.split_once('?').map_or("", |(_, q)| q);
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let mut echo = Self::default();
        for (key, value) in pairs {
            match key.as_str() {
                FORM => echo.form = Some(value),
                ERROR_FIELD => echo.error_field = Some(value),
                _ => echo.typed.push((key, value)),
            }
        }
        echo
    }

    /// The echo of the page being shown: only after a refusal (the flash
    /// the redirect set), so a link someone sends cannot fill a form.
    pub fn on(ctx: &Ctx) -> Self {
        if refusal(ctx).is_some() {
            Self::of(&ctx.path)
        } else {
            Self::default()
        }
    }

    /// Where a refused form goes back to: `page` with the form's fields
    /// (those `shown` lets through: a secret never travels in a URL) and
    /// the field `error` names, at the form (`#form`).
    pub fn location(
        page: &str,
        form: &str,
        error: &Error,
        fields: &[(String, String)],
        shown: impl Fn(&str) -> bool,
    ) -> String {
        let (path, fragment) = page.split_once('#').unwrap_or((page, form));
        let mut pairs: Vec<(&str, &str)> = vec![(FORM, form)];
        if let Some(field) = &error.field {
            pairs.push((ERROR_FIELD, field));
        }
        for (key, value) in fields {
            if key != "csrf" && key != FORM && key != ERROR_FIELD && shown(key) {
                let end = value.floor_char_boundary(MAX_VALUE);
                pairs.push((key, &value[..end]));
            }
        }
        format!(
            "{path}?{}#{fragment}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    /// Whether the echo is of form `form`.
    pub fn is_of(&self, form: &str) -> bool {
        self.form.as_deref() == Some(form)
    }

    /// What was typed in `form`'s field `field`.
    pub fn value(&self, form: &str, field: &str) -> Option<&str> {
        self.typed(form)
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `form`'s field `field` (checkboxes of one name).
    pub fn values<'a>(&'a self, form: &str, field: &'a str) -> impl Iterator<Item = &'a str> {
        self.typed(form)
            .filter(move |(k, _)| *k == field)
            .map(|(_, v)| v.as_str())
    }

    /// What was typed in `form`'s fields, by name.
    pub fn typed(&self, form: &str) -> impl Iterator<Item = (&String, &String)> {
        let of = self.is_of(form);
        self.typed.iter().filter(move |_| of).map(|(k, v)| (k, v))
    }

    /// The field of `form` the refusal named.
    pub fn error_field(&self, form: &str) -> Option<&str> {
        self.error_field.as_deref().filter(|_| self.is_of(form))
    }
}

/// One field of a form: what to show in it (what was typed before a
/// refusal, or `current`), and the refusal that names it.
pub struct Field {
    pub id: String,
    pub value: Option<String>,
    pub error: Option<String>,
}

impl Field {
    /// Field `name` of form `form`, whose input has id `id`.
    pub fn of(ctx: &Ctx, form: &str, name: &str, id: &str, current: Option<String>) -> Self {
        let echo = Echo::on(ctx);
        // Beside its field, the refusal need not name the field again.
        let error = (echo.error_field(form) == Some(name))
            .then(|| refusal(ctx))
            .flatten()
            .map(|e| {
                e.strip_prefix(&format!("{name}: "))
                    .map_or(e.clone(), str::to_owned)
            });
        Self {
            id: id.to_owned(),
            value: echo.value(form, name).map(str::to_owned).or(current),
            error,
        }
    }

    /// `aria-invalid` of the input.
    pub fn invalid(&self) -> Option<&'static str> {
        self.error.as_ref().map(|_| "true")
    }

    /// `aria-describedby` of the input: the error first, then its hint.
    pub fn described_by(&self, hint: Option<&str>) -> Option<String> {
        let error = self.error.as_ref().map(|_| format!("{}-error", self.id));
        match (error, hint) {
            (Some(e), Some(h)) => Some(format!("{e} {h}")),
            (Some(e), None) => Some(e),
            (None, h) => h.map(str::to_owned),
        }
    }

    /// The refusal, beside the input.
    pub fn message(&self) -> Markup {
        html! {
            @if let Some(e) = &self.error { p.field-error id={(self.id) "-error"} { (e) } }
        }
    }
}

/// The refusal the page was redirected with, in the viewer's time zone.
pub fn refusal(ctx: &Ctx) -> Option<String> {
    ctx.flash
        .as_ref()
        .filter(|f| f.tone == Tone::Refused)
        .map(|f| crate::format::humanize(&f.text, ctx.zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_form_comes_back_with_its_fields_but_never_a_secret() {
        let fields = vec![
            ("csrf".to_owned(), "t0k3n".to_owned()),
            ("nodes".to_owned(), "9".to_owned()),
            ("var.password".to_owned(), "hunter2".to_owned()),
            ("ttl".to_owned(), "x".repeat(5_000)),
        ];
        let at = Echo::location(
            "/clusters/c1",
            "deploy-form",
            &Error::invalid("nodes", "at most 5"),
            &fields,
            |k| k != "var.password",
        );
        assert!(at.starts_with("/clusters/c1?form=deploy-form&error_field=nodes&nodes=9&ttl="));
        assert!(at.ends_with("#deploy-form"));
        assert!(!at.contains("t0k3n") && !at.contains("hunter2"), "{at}");
        assert!(at.len() < 1_200, "a long value is cut");
        let echo = Echo::of(&at);
        assert_eq!(echo.value("deploy-form", "nodes"), Some("9"));
        assert_eq!(echo.value("extend-form", "nodes"), None, "another form's");
        assert_eq!(echo.error_field("deploy-form"), Some("nodes"));
        assert_eq!(echo.error_field("capacity-form"), None);
    }

    #[test]
    fn a_page_keeps_its_own_anchor() {
        let at = Echo::location(
            "/orgs/o#limits",
            "limits-form",
            &Error::invalid("max_nodes", "no"),
            &[],
            |_| true,
        );
        assert_eq!(at, "/orgs/o?form=limits-form&error_field=max_nodes#limits");
    }
}
