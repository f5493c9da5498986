//! A blueprint's variables as form fields — generated from its metadata:
//! the type (a number input with its bounds, a select of the allowed
//! values, true or false), the description, the default shown, sensitive
//! ones masked, required ones marked, what is typed or set kept — and read
//! back from the form into typed values for the service to check.

use std::collections::{BTreeSet, HashMap};

use maud::{Markup, html};
use slipway_core::Variables;
use slipway_core::blueprint::{BlueprintMetadata, VariableSpec, VariableType};
use slipway_service::Error;

/// The form field of variable `name`.
pub fn field_name(name: &str) -> String {
    format!("var.{name}")
}

/// The field a refusal about variable `name` names, as the service names
/// it.
fn error_field(name: &str) -> String {
    format!("variables.{name}")
}

/// The variable a refusal names, if it names one.
pub fn refused_variable(field: &str) -> Option<&str> {
    field.strip_prefix("variables.")
}

/// What the fields show: a value per variable (what was typed before a
/// refusal, or what the cluster runs with), and which sensitive variables
/// have a value no one may read back.
#[derive(Debug, Default)]
pub struct Shown {
    values: HashMap<String, String>,
    secrets_set: BTreeSet<String>,
}

impl Shown {
    /// A cluster's variables as its definition holds them (sensitive ones
    /// masked by the service: only that they are set is shown).
    pub fn current(metadata: &BlueprintMetadata, variables: &Variables) -> Self {
        let mut shown = Self::default();
        for (name, value) in variables {
            if metadata.variables.get(name).is_some_and(|v| v.sensitive) {
                shown.secrets_set.insert(name.clone());
            } else {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                shown.values.insert(name.clone(), text);
            }
        }
        shown
    }

    /// These values with what a form's fields held (`var.<name>`) instead,
    /// sensitive ones left out: a secret is never sent back into a page.
    pub fn typed<'a>(
        mut self,
        metadata: &BlueprintMetadata,
        form: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Self {
        let shown = &mut self;
        for (key, value) in form {
            let Some(name) = key.strip_prefix("var.") else {
                continue;
            };
            if metadata.variables.get(name).is_some_and(|v| !v.sensitive) {
                shown.values.insert(name.to_owned(), value.clone());
            }
        }
        self
    }
}

/// The fields of every variable the blueprint lets people set; `error`
/// is a refusal that names one of them, shown beside it.
pub fn fields(metadata: &BlueprintMetadata, shown: &Shown, error: Option<(&str, &str)>) -> Markup {
    html! {
        @if !metadata.variables.is_empty() {
            fieldset.variables #variables {
                legend { "Settings of " (metadata.name) }
                @for (name, spec) in &metadata.variables {
                    (field(name, spec, shown, error.filter(|(field, _)| field == name).map(|(_, e)| e)))
                }
            }
        }
    }
}

fn field(name: &str, spec: &VariableSpec, shown: &Shown, error: Option<&str>) -> Markup {
    let id = format!("var-{name}");
    let hint = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described = if error.is_some() {
        format!("{error_id} {hint}")
    } else {
        hint.clone()
    };
    let invalid = error.map(|_| "true");
    let required = spec.default.is_none();
    let secret_set = shown.secrets_set.contains(name);
    let value = shown.values.get(name).map(String::as_str);
    let default = spec
        .default
        .as_ref()
        .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned));
    html! {
        label for=(id) { (name) @if required { " " span.required { "(required)" } } }
        @match (spec.kind, spec.allowed.is_empty()) {
            (VariableType::String, false) => {
                select #(id) name=(field_name(name)) required[required] aria-describedby=(described) aria-invalid=[invalid] {
                    @if !required { option value="" { "Default (" (default.as_deref().unwrap_or_default()) ")" } }
                    @for allowed in &spec.allowed { option value=(allowed) selected[value == Some(allowed.as_str())] { (allowed) } }
                }
            }
            (VariableType::Bool, _) => {
                select #(id) name=(field_name(name)) required[required] aria-describedby=(described) aria-invalid=[invalid] {
                    @if !required { option value="" { "Default (" (default.as_deref().unwrap_or_default()) ")" } }
                    option value="true" selected[value == Some("true")] { "true" }
                    option value="false" selected[value == Some("false")] { "false" }
                }
            }
            (VariableType::Number | VariableType::Integer, _) => {
                input #(id) name=(field_name(name)) type="number" inputmode="decimal"
                    step=(if spec.kind == VariableType::Integer { "1" } else { "any" })
                    min=[spec.min] max=[spec.max] required[required] value=[value]
                    placeholder=[default.as_deref()] aria-describedby=(described) aria-invalid=[invalid] autocomplete="off";
            }
            (VariableType::String, true) if spec.sensitive => {
                // A set secret is never sent to the page: left empty, it
                // stays as it is.
                input #(id) name=(field_name(name)) type="password"
                    maxlength=[spec.max_length] required[required && !secret_set]
                    placeholder=[secret_set.then_some("set — type to replace, leave empty to keep")]
                    aria-describedby=(described) aria-invalid=[invalid] autocomplete="off" spellcheck="false";
            }
            (VariableType::String, true) => {
                input #(id) name=(field_name(name)) type="text"
                    maxlength=[spec.max_length] required[required] value=[value]
                    placeholder=[default.as_deref()]
                    aria-describedby=(described) aria-invalid=[invalid] autocomplete="off" spellcheck="false";
            }
        }
        @if let Some(e) = error { p.field-error #(error_id) { (e) } }
        p.hint #(hint) {
            (spec.description)
            @if spec.sensitive { " Sensitive: sealed at rest and masked everywhere it is shown." }
            @if let (Some(d), false) = (&default, spec.sensitive) { " Default: " code { (d) } "." }
            @if let (Some(min), Some(max)) = (spec.min, spec.max) { " From " (min) " to " (max) "." }
        }
    }
}

/// The variables a form set (an empty field keeps the default), typed as
/// the blueprint declares them; a field of no variable of it is refused.
pub fn from_form(
    metadata: &BlueprintMetadata,
    form: &HashMap<String, String>,
) -> Result<Variables, Error> {
    Ok(read(metadata, form)?
        .into_iter()
        .filter_map(|(name, value, _)| value.map(|v| (name, v)))
        .collect())
}

/// The change a deploy form makes to a cluster's variables, as a merge
/// patch: an empty field goes back to its default (`null`), except a
/// sensitive one, which keeps the value it has.
pub fn patch_from_form(
    metadata: &BlueprintMetadata,
    form: &HashMap<String, String>,
) -> Result<Variables, Error> {
    Ok(read(metadata, form)?
        .into_iter()
        .filter_map(|(name, value, sensitive)| match value {
            Some(v) => Some((name, v)),
            None if sensitive => None,
            None => Some((name, serde_json::Value::Null)),
        })
        .collect())
}

/// Each `var.<name>` field of the form: the variable, its typed value
/// (`None` when empty) and whether it is sensitive.
fn read(
    metadata: &BlueprintMetadata,
    form: &HashMap<String, String>,
) -> Result<Vec<(String, Option<serde_json::Value>, bool)>, Error> {
    let mut read = Vec::new();
    for (key, value) in form {
        let Some(name) = key.strip_prefix("var.") else {
            continue;
        };
        let Some(spec) = metadata.variables.get(name) else {
            return Err(Error::invalid(
                &error_field(name),
                format!("is not a setting of blueprint {}", metadata.name),
            ));
        };
        let value = if spec.sensitive {
            value.as_str()
        } else {
            value.trim()
        };
        if value.is_empty() {
            read.push((name.to_owned(), None, spec.sensitive));
            continue;
        }
        let typed =
            match spec.kind {
                VariableType::String => serde_json::Value::String(value.to_owned()),
                VariableType::Bool => match value {
                    "true" => serde_json::Value::Bool(true),
                    "false" => serde_json::Value::Bool(false),
                    _ => return Err(Error::invalid(&error_field(name), "must be true or false")),
                },
                VariableType::Integer => value
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .map_err(|_| {
                        Error::invalid(
                            &error_field(name),
                            format!("must be a whole number, not {value:?}"),
                        )
                    })?,
                VariableType::Number => value
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| {
                        Error::invalid(
                            &error_field(name),
                            format!("must be a number, not {value:?}"),
                        )
                    })?,
            };
        read.push((name.to_owned(), Some(typed), spec.sensitive));
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> BlueprintMetadata {
        toml::from_str(
            r#"
            name = "bp"
            [variables.size]
            type = "string"
            allowed = ["small", "large"]
            [variables.count]
            type = "integer"
            min = 1
            max = 5
            default = 2
            [variables.password]
            type = "string"
            sensitive = true
            "#,
        )
        .unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn fields_are_read_back_typed_and_an_empty_one_keeps_the_default() {
        let read = from_form(
            &metadata(),
            &form(&[
                ("var.size", "large"),
                ("var.count", ""),
                ("var.password", " s3cret "),
                ("name", "c1"),
            ]),
        )
        .unwrap();
        assert_eq!(read.get("size"), Some(&serde_json::json!("large")));
        assert_eq!(read.get("count"), None, "empty: the default");
        assert_eq!(
            read.get("password"),
            Some(&serde_json::json!(" s3cret ")),
            "a secret is taken as typed"
        );
        let counted = from_form(&metadata(), &form(&[("var.count", "3")])).unwrap();
        assert_eq!(counted.get("count"), Some(&serde_json::json!(3)));
    }

    #[test]
    fn a_wrong_type_or_an_unknown_setting_is_refused_naming_it() {
        let e = from_form(&metadata(), &form(&[("var.count", "2.5")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("variables.count"));
        let e = from_form(&metadata(), &form(&[("var.colour", "red")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("variables.colour"));
    }

    #[test]
    fn every_variable_gets_a_field_and_a_secret_is_masked() {
        let html = fields(&metadata(), &Shown::default(), None).into_string();
        assert!(html.contains(r#"name="var.size""#) && html.contains(r#"<option value="large">"#));
        assert!(
            html.contains(r#"name="var.count""#)
                && html.contains(r#"min="1""#)
                && html.contains(r#"max="5""#)
        );
        assert!(html.contains(r#"type="password""#), "{html}");
        assert!(html.contains("(required)"));
    }

    #[test]
    fn a_deploy_form_resets_an_emptied_setting_and_keeps_an_untouched_secret() {
        let patch = patch_from_form(
            &metadata(),
            &form(&[
                ("var.size", "large"),
                ("var.count", ""),
                ("var.password", ""),
            ]),
        )
        .unwrap();
        assert_eq!(patch.get("size"), Some(&serde_json::json!("large")));
        assert_eq!(patch.get("count"), Some(&serde_json::Value::Null));
        assert_eq!(patch.get("password"), None, "an empty secret is kept");
        let replaced = patch_from_form(&metadata(), &form(&[("var.password", "new")])).unwrap();
        assert_eq!(replaced.get("password"), Some(&serde_json::json!("new")));
    }

    #[test]
    fn the_fields_show_current_values_but_never_a_secret() {
        let current: Variables = [
            ("size".to_owned(), serde_json::json!("large")),
            ("count".to_owned(), serde_json::json!(4)),
            ("password".to_owned(), serde_json::json!("(sensitive)")),
        ]
        .into_iter()
        .collect();
        let html = fields(
            &metadata(),
            &Shown::current(&metadata(), &current),
            Some(("count", "must be at most 5")),
        )
        .into_string();
        assert!(
            html.contains(r#"<option value="large" selected>"#),
            "{html}"
        );
        assert!(html.contains(r#"value="4""#), "{html}");
        assert!(!html.contains("(sensitive)"), "{html}");
        assert!(html.contains("set — type to replace"), "{html}");
        assert!(
            html.contains(r#"id="var-count-error""#) && html.contains(r#"aria-invalid="true""#),
            "{html}"
        );
        let typed = Shown::default().typed(
            &metadata(),
            &form(&[("var.size", "small"), ("var.password", "typed secret")]),
        );
        let html = fields(&metadata(), &typed, None).into_string();
        assert!(
            html.contains(r#"<option value="small" selected>"#),
            "{html}"
        );
        assert!(
            !html.contains("typed secret"),
            "a typed secret is not sent back"
        );
    }
}
