//! Terraform's machine-readable UI (`-json`): one JSON object per line, typed
//! here, masked, and turned into operation events with progress attached.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use slipway_core::event::{EventLevel, NewEvent};

use crate::masking::Masker;

/// A message of Terraform's `-json` stream, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerraformMessage {
    Version {
        terraform: String,
        ui: String,
    },
    Log,
    PlannedChange {
        resource: String,
        action: String,
    },
    ChangeSummary {
        add: u64,
        change: u64,
        remove: u64,
        operation: String,
    },
    ApplyStart {
        resource: String,
        action: String,
    },
    ApplyProgress {
        resource: String,
        action: String,
        elapsed_seconds: u64,
    },
    ApplyComplete {
        resource: String,
        action: String,
        elapsed_seconds: u64,
        id_value: Option<String>,
    },
    ApplyErrored {
        resource: String,
        action: String,
        elapsed_seconds: u64,
    },
    ProvisionStart {
        resource: String,
        provisioner: String,
    },
    ProvisionProgress {
        resource: String,
        provisioner: String,
        output: String,
    },
    ProvisionComplete {
        resource: String,
        provisioner: String,
    },
    ProvisionErrored {
        resource: String,
        provisioner: String,
    },
    RefreshStart {
        resource: String,
    },
    RefreshComplete {
        resource: String,
    },
    ResourceDrift {
        resource: String,
        action: String,
    },
    Diagnostic {
        severity: String,
        summary: String,
        detail: String,
        address: Option<String>,
    },
    Outputs {
        outputs: BTreeMap<String, OutputValue>,
    },
    /// A type this version of Slipway does not know; its `@message` is kept.
    Other {
        kind: String,
    },
}

/// One output of the `outputs` message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputValue {
    pub sensitive: bool,
    pub value: Value,
}

/// A parsed line: the common envelope and the typed message.
#[derive(Debug, Clone, PartialEq)]
pub struct TerraformLine {
    pub level: EventLevel,
    pub message: String,
    pub timestamp: Option<DateTime<Utc>>,
    pub body: TerraformMessage,
}

fn text(v: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn number(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_u64)
        .unwrap_or_default()
}

/// Parses one line of `-json` output. `None` if the line is not a JSON
/// object (Terraform prints a few plain lines in some failure modes).
pub fn parse_line(line: &str) -> Option<TerraformLine> {
    let v: Value = serde_json::from_str(line).ok()?;
    let kind = v.get("type")?.as_str()?.to_owned();
    let resource = || text(&v, &["hook", "resource", "addr"]);
    let action = || text(&v, &["hook", "action"]);
    let elapsed = || number(&v, &["hook", "elapsed_seconds"]);
    let provisioner = || text(&v, &["hook", "provisioner"]);
    let body = match kind.as_str() {
        "version" => TerraformMessage::Version {
            terraform: text(&v, &["terraform"]),
            ui: text(&v, &["ui"]),
        },
        "log" => TerraformMessage::Log,
        "planned_change" => TerraformMessage::PlannedChange {
            resource: text(&v, &["change", "resource", "addr"]),
            action: text(&v, &["change", "action"]),
        },
        "change_summary" => TerraformMessage::ChangeSummary {
            add: number(&v, &["changes", "add"]),
            change: number(&v, &["changes", "change"]),
            remove: number(&v, &["changes", "remove"]),
            operation: text(&v, &["changes", "operation"]),
        },
        "apply_start" => TerraformMessage::ApplyStart {
            resource: resource(),
            action: action(),
        },
        "apply_progress" => TerraformMessage::ApplyProgress {
            resource: resource(),
            action: action(),
            elapsed_seconds: elapsed(),
        },
        "apply_complete" => TerraformMessage::ApplyComplete {
            resource: resource(),
            action: action(),
            elapsed_seconds: elapsed(),
            id_value: v
                .pointer("/hook/id_value")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "apply_errored" => TerraformMessage::ApplyErrored {
            resource: resource(),
            action: action(),
            elapsed_seconds: elapsed(),
        },
        "provision_start" => TerraformMessage::ProvisionStart {
            resource: resource(),
            provisioner: provisioner(),
        },
        "provision_progress" => TerraformMessage::ProvisionProgress {
            resource: resource(),
            provisioner: provisioner(),
            output: text(&v, &["hook", "output"]),
        },
        "provision_complete" => TerraformMessage::ProvisionComplete {
            resource: resource(),
            provisioner: provisioner(),
        },
        "provision_errored" => TerraformMessage::ProvisionErrored {
            resource: resource(),
            provisioner: provisioner(),
        },
        "refresh_start" => TerraformMessage::RefreshStart {
            resource: resource(),
        },
        "refresh_complete" => TerraformMessage::RefreshComplete {
            resource: resource(),
        },
        "resource_drift" => TerraformMessage::ResourceDrift {
            resource: text(&v, &["change", "resource", "addr"]),
            action: text(&v, &["change", "action"]),
        },
        "diagnostic" => TerraformMessage::Diagnostic {
            severity: text(&v, &["diagnostic", "severity"]),
            summary: text(&v, &["diagnostic", "summary"]),
            detail: text(&v, &["diagnostic", "detail"]),
            address: v
                .pointer("/diagnostic/address")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        "outputs" => TerraformMessage::Outputs {
            outputs: v
                .get("outputs")
                .and_then(Value::as_object)
                .map(|outputs| {
                    outputs
                        .iter()
                        .map(|(name, o)| {
                            let value = OutputValue {
                                sensitive: o
                                    .get("sensitive")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                value: o.get("value").cloned().unwrap_or(Value::Null),
                            };
                            (name.clone(), value)
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => TerraformMessage::Other { kind },
    };
    Some(TerraformLine {
        level: EventLevel::parse(&text(&v, &["@level"])),
        message: text(&v, &["@message"]),
        timestamp: v
            .get("@timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        body,
    })
}

/// What the placeholder of a sensitive value reads.
pub const SENSITIVE: &str = "(sensitive)";

/// Output values with every sensitive one masked.
pub fn masked_outputs(
    outputs: &BTreeMap<String, OutputValue>,
    masker: &Masker,
) -> Map<String, Value> {
    outputs
        .iter()
        .map(|(name, o)| {
            let value = if o.sensitive {
                Value::String(SENSITIVE.into())
            } else {
                masker.mask_value(&o.value)
            };
            (name.clone(), value)
        })
        .collect()
}

/// Resources done out of planned, and the one in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProgressCount {
    pub done: u32,
    pub planned: u32,
}

/// Tracks progress through an apply: a resource is done when every hook its
/// planned action implies has completed (a replacement is a delete and a
/// create).
#[derive(Debug, Default)]
pub struct Progress {
    expected: BTreeMap<String, u32>,
    completed: BTreeMap<String, u32>,
    current: Option<String>,
}

impl Progress {
    /// Takes a message into account; returns whether progress changed.
    pub fn observe(&mut self, body: &TerraformMessage) -> bool {
        match body {
            TerraformMessage::PlannedChange { resource, action } => {
                let hooks = match action.as_str() {
                    "create" | "update" | "delete" => 1,
                    "replace" => 2,
                    _ => return false,
                };
                self.expected.insert(resource.clone(), hooks);
                true
            }
            TerraformMessage::ApplyStart { resource, .. } => {
                self.current = Some(resource.clone());
                true
            }
            TerraformMessage::ApplyComplete { resource, .. }
            | TerraformMessage::ApplyErrored { resource, .. } => {
                *self.completed.entry(resource.clone()).or_default() += 1;
                if self.current.as_deref() == Some(resource) {
                    self.current = None;
                }
                true
            }
            _ => false,
        }
    }

    pub fn count(&self) -> ProgressCount {
        let done = self
            .expected
            .iter()
            .filter(|(resource, hooks)| {
                self.completed.get(*resource).copied().unwrap_or(0) >= **hooks
            })
            .count();
        ProgressCount {
            done: u32::try_from(done).unwrap_or(u32::MAX),
            planned: u32::try_from(self.expected.len()).unwrap_or(u32::MAX),
        }
    }

    /// The resource whose change started last and has not completed.
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }
}

/// How an apply ended, from its whole `-json` output — in counts only: what
/// its lines say may hold secrets that no one is left to mask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyEnding {
    /// Resources whose change ended (made or failed), out of planned.
    pub progress: ProgressCount,
    /// Resources whose change failed.
    pub failed: u32,
    /// Whether Terraform reported the apply complete.
    pub completed: bool,
    /// The errors it reported.
    pub errors: u32,
}

impl ApplyEnding {
    pub fn of(output: &str) -> Self {
        let mut progress = Progress::default();
        let mut failed = BTreeSet::new();
        let mut ending = Self::default();
        for line in output.lines().filter_map(parse_line) {
            progress.observe(&line.body);
            match line.body {
                TerraformMessage::ChangeSummary { operation, .. } if operation != "plan" => {
                    ending.completed = true;
                }
                TerraformMessage::ApplyErrored { resource, .. } => {
                    failed.insert(resource);
                }
                TerraformMessage::Diagnostic { severity, .. } if severity == "error" => {
                    ending.errors += 1;
                }
                _ => {}
            }
        }
        ending.progress = progress.count();
        ending.failed = u32::try_from(failed.len()).unwrap_or(u32::MAX);
        ending
    }

    /// Resources whose change was made.
    pub fn made(&self) -> u32 {
        self.progress.done.saturating_sub(self.failed)
    }
}

/// Turns a parsed line into an operation event: the typed fields under
/// `data`, masked, with progress attached when given.
pub fn to_event(line: &TerraformLine, progress: Option<&Progress>, masker: &Masker) -> NewEvent {
    let (kind, mut data) = match &line.body {
        TerraformMessage::Other { kind } => (kind.clone(), Map::new()),
        TerraformMessage::Outputs { outputs } => (
            "outputs".to_owned(),
            Map::from_iter([(
                "outputs".to_owned(),
                Value::Object(masked_outputs(outputs, masker)),
            )]),
        ),
        body => {
            let Ok(Value::Object(mut fields)) = serde_json::to_value(body) else {
                unreachable!("messages serialize to objects")
            };
            let kind = match fields.remove("type") {
                Some(Value::String(kind)) => kind,
                _ => unreachable!("messages are tagged with their type"),
            };
            (kind, fields)
        }
    };
    if let Some(p) = progress {
        let count = p.count();
        data.insert(
            "progress".into(),
            json!({"done": count.done, "planned": count.planned, "current": p.current()}),
        );
    }
    NewEvent {
        at: line.timestamp.unwrap_or_else(Utc::now),
        kind,
        level: line.level,
        message: masker.mask(&line.message).into_owned(),
        data: masker.mask_value(&Value::Object(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLY: &str = r#"{"@level":"info","@message":"Terraform 1.15.5","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.100000Z","terraform":"1.15.5","type":"version","ui":"1.2"}
{"@level":"info","@message":"terraform_data.base: Plan to create","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.2Z","change":{"resource":{"addr":"terraform_data.base","module":"","resource":"terraform_data.base","implied_provider":"terraform","resource_type":"terraform_data","resource_name":"base","resource_key":null},"action":"create"},"type":"planned_change"}
{"@level":"info","@message":"terraform_data.node[0]: Plan to replace","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.2Z","change":{"resource":{"addr":"terraform_data.node[0]"},"action":"replace"},"type":"planned_change"}
{"@level":"info","@message":"Plan: 2 to add, 0 to change, 1 to destroy.","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.3Z","changes":{"add":2,"change":0,"import":0,"remove":1,"operation":"plan"},"type":"change_summary"}
{"@level":"info","@message":"terraform_data.base: Creating...","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.4Z","hook":{"resource":{"addr":"terraform_data.base"},"action":"create"},"type":"apply_start"}
{"@level":"info","@message":"terraform_data.base: Provisioning with 'local-exec'...","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.4Z","hook":{"resource":{"addr":"terraform_data.base"},"provisioner":"local-exec"},"type":"provision_start"}
{"@level":"info","@message":"terraform_data.base: (local-exec): password is hunter22","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.4Z","hook":{"resource":{"addr":"terraform_data.base"},"provisioner":"local-exec","output":"password is hunter22"},"type":"provision_progress"}
{"@level":"info","@message":"terraform_data.base: Creation complete after 0s [id=abc]","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.5Z","hook":{"resource":{"addr":"terraform_data.base"},"action":"create","id_key":"id","id_value":"abc","elapsed_seconds":0},"type":"apply_complete"}
{"@level":"info","@message":"terraform_data.node[0]: Destroying...","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.5Z","hook":{"resource":{"addr":"terraform_data.node[0]"},"action":"delete"},"type":"apply_start"}
{"@level":"info","@message":"terraform_data.node[0]: Destruction complete after 0s","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.6Z","hook":{"resource":{"addr":"terraform_data.node[0]"},"action":"delete","elapsed_seconds":0},"type":"apply_complete"}
{"@level":"error","@message":"Error: local-exec provisioner error","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.7Z","diagnostic":{"severity":"error","summary":"local-exec provisioner error","detail":"exit status 1","address":"terraform_data.node[0]"},"type":"diagnostic"}
{"@level":"info","@message":"Outputs: 2","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.8Z","outputs":{"endpoint":{"sensitive":false,"type":"string","value":"http://127.0.0.1:1"},"token":{"sensitive":true,"type":"string","value":"s3cr3t-token"}},"type":"outputs"}
{"@level":"info","@message":"something new","@module":"terraform.ui","@timestamp":"2026-11-22T01:11:08.9Z","type":"test_summary","extra":1}"#;

    #[test]
    fn an_apply_ending_is_told_in_counts() {
        // node[0] is a replacement: deleted, not yet created again.
        let interrupted = ApplyEnding::of(&format!("{APPLY}\nnot JSON\n"));
        assert_eq!(
            interrupted,
            ApplyEnding {
                progress: ProgressCount {
                    done: 1,
                    planned: 2
                },
                failed: 0,
                completed: false,
                errors: 1,
            }
        );
        let complete = format!(
            "{APPLY}\n{}",
            r#"{"@level":"info","@message":"Apply complete! Resources: 2 added, 0 changed, 1 destroyed.","@timestamp":"2026-11-22T01:11:09Z","changes":{"add":2,"change":0,"import":0,"remove":1,"operation":"apply"},"type":"change_summary"}"#
        );
        assert!(ApplyEnding::of(&complete).completed);
        assert_eq!(ApplyEnding::of(""), ApplyEnding::default());
    }

    fn lines() -> Vec<TerraformLine> {
        APPLY
            .lines()
            .map(|l| parse_line(l).expect("parses"))
            .collect()
    }

    #[test]
    fn every_message_type_is_typed() {
        let lines = lines();
        assert_eq!(
            lines[0].body,
            TerraformMessage::Version {
                terraform: "1.15.5".into(),
                ui: "1.2".into()
            }
        );
        assert_eq!(
            lines[2].body,
            TerraformMessage::PlannedChange {
                resource: "terraform_data.node[0]".into(),
                action: "replace".into()
            }
        );
        assert_eq!(
            lines[3].body,
            TerraformMessage::ChangeSummary {
                add: 2,
                change: 0,
                remove: 1,
                operation: "plan".into()
            }
        );
        assert!(matches!(
            &lines[7].body,
            TerraformMessage::ApplyComplete { id_value: Some(id), .. } if id == "abc"
        ));
        assert!(matches!(
            &lines[10].body,
            TerraformMessage::Diagnostic { severity, address: Some(a), .. } if severity == "error" && a == "terraform_data.node[0]"
        ));
        assert_eq!(lines[10].level, EventLevel::Error);
        assert_eq!(
            lines[12].body,
            TerraformMessage::Other {
                kind: "test_summary".into()
            }
        );
        assert!(parse_line("Terraform crashed!").is_none());
        assert!(parse_line("{\"no\":\"type\"}").is_none());
    }

    #[test]
    fn progress_counts_a_replacement_once_both_halves_are_done() {
        let mut progress = Progress::default();
        let mut seen = Vec::new();
        for line in lines() {
            if progress.observe(&line.body) {
                seen.push((progress.count(), progress.current().map(str::to_owned)));
            }
        }
        let last = progress.count();
        assert_eq!(
            last,
            ProgressCount {
                done: 1,
                planned: 2
            }
        );
        assert!(seen.contains(&(
            ProgressCount {
                done: 0,
                planned: 2
            },
            Some("terraform_data.base".into())
        )));
    }

    #[test]
    fn events_are_masked_and_sensitive_outputs_hidden() {
        let masker = Masker::new(["hunter22".to_owned()]);
        let lines = lines();
        let provision = to_event(&lines[6], None, &masker);
        assert_eq!(provision.kind, "provision_progress");
        assert!(
            !provision.message.contains("hunter22"),
            "{}",
            provision.message
        );
        assert!(!provision.data.to_string().contains("hunter22"));

        let outputs = to_event(&lines[11], None, &masker);
        assert_eq!(outputs.kind, "outputs");
        assert_eq!(outputs.data["outputs"]["endpoint"], "http://127.0.0.1:1");
        assert_eq!(outputs.data["outputs"]["token"], SENSITIVE);
        assert!(!outputs.data.to_string().contains("s3cr3t-token"));

        let unknown = to_event(&lines[12], None, &masker);
        assert_eq!(unknown.kind, "test_summary");
        assert_eq!(unknown.message, "something new");

        let mut progress = Progress::default();
        progress.observe(&lines[1].body);
        let planned = to_event(&lines[1], Some(&progress), &masker);
        assert_eq!(planned.data["progress"]["planned"], 1);
        assert_eq!(planned.data["resource"], "terraform_data.base");
    }
}
