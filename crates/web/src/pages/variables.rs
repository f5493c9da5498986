//! A blueprint's variables as form fields — generated from its metadata:
//! the type (a number input with its bounds, a select of the allowed
//! values, true or false), the description, the default shown, sensitive
//! ones masked, required ones marked — and read back from the form into
//! typed values for the service to check.

use std::collections::HashMap;

use maud::{Markup, html};
use slipway_core::Variables;
use slipway_core::blueprint::{BlueprintMetadata, VariableSpec, VariableType};
use slipway_service::Error;

/// The form field of variable `name`.
pub fn field_name(name: &str) -> String {
    format!("var.{name}")
}

/// The fields of every variable the blueprint lets people set.
pub fn fields(metadata: &BlueprintMetadata) -> Markup {
    html! {
        @if !metadata.variables.is_empty() {
            fieldset.variables #variables {
                legend { "Settings of " (metadata.name) }
                @for (name, spec) in &metadata.variables {
                    (field(name, spec))
                }
            }
        }
    }
}

fn field(name: &str, spec: &VariableSpec) -> Markup {
    let id = format!("var-{name}");
    let hint = format!("{id}-hint");
    let required = spec.default.is_none();
    let default = spec
        .default
        .as_ref()
        .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned));
    html! {
        label for=(id) { (name) @if required { " " span.required { "(required)" } } }
        @match (spec.kind, spec.allowed.is_empty()) {
            (VariableType::String, false) => {
                select #(id) name=(field_name(name)) required[required] aria-describedby=(hint) {
                    @if !required { option value="" { "Default (" (default.as_deref().unwrap_or_default()) ")" } }
                    @for value in &spec.allowed { option value=(value) { (value) } }
                }
            }
            (VariableType::Bool, _) => {
                select #(id) name=(field_name(name)) required[required] aria-describedby=(hint) {
                    @if !required { option value="" { "Default (" (default.as_deref().unwrap_or_default()) ")" } }
                    option value="true" { "true" }
                    option value="false" { "false" }
                }
            }
            (VariableType::Number | VariableType::Integer, _) => {
                input #(id) name=(field_name(name)) type="number" inputmode="decimal"
                    step=(if spec.kind == VariableType::Integer { "1" } else { "any" })
                    min=[spec.min] max=[spec.max] required[required]
                    placeholder=[default.as_deref()] aria-describedby=(hint) autocomplete="off";
            }
            (VariableType::String, true) => {
                input #(id) name=(field_name(name))
                    type=(if spec.sensitive { "password" } else { "text" })
                    maxlength=[spec.max_length] required[required]
                    placeholder=[default.as_deref().filter(|_| !spec.sensitive)]
                    aria-describedby=(hint) autocomplete="off" spellcheck="false";
            }
        }
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
    let mut variables = Variables::new();
    for (key, value) in form {
        let Some(name) = key.strip_prefix("var.") else {
            continue;
        };
        let Some(spec) = metadata.variables.get(name) else {
            return Err(Error::invalid(
                name,
                format!("is not a setting of blueprint {}", metadata.name),
            ));
        };
        let value = if spec.sensitive {
            value.as_str()
        } else {
            value.trim()
        };
        if value.is_empty() {
            continue;
        }
        let typed = match spec.kind {
            VariableType::String => serde_json::Value::String(value.to_owned()),
            VariableType::Bool => match value {
                "true" => serde_json::Value::Bool(true),
                "false" => serde_json::Value::Bool(false),
                _ => return Err(Error::invalid(name, "must be true or false")),
            },
            VariableType::Integer => {
                value
                    .parse::<i64>()
                    .map(serde_json::Value::from)
                    .map_err(|_| {
                        Error::invalid(name, format!("must be a whole number, not {value:?}"))
                    })?
            }
            VariableType::Number => value
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number)
                .ok_or_else(|| Error::invalid(name, format!("must be a number, not {value:?}")))?,
        };
        variables.insert(name.to_owned(), typed);
    }
    Ok(variables)
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
        assert_eq!(e.field.as_deref(), Some("count"));
        let e = from_form(&metadata(), &form(&[("var.colour", "red")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"));
    }

    #[test]
    fn every_variable_gets_a_field_and_a_secret_is_masked() {
        let html = fields(&metadata()).into_string();
        assert!(html.contains(r#"name="var.size""#) && html.contains(r#"<option value="large">"#));
        assert!(
            html.contains(r#"name="var.count""#)
                && html.contains(r#"min="1""#)
                && html.contains(r#"max="5""#)
        );
        assert!(html.contains(r#"type="password""#), "{html}");
        assert!(html.contains("(required)"));
    }
}
