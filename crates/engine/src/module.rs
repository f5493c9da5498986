//! What a module declares, read from its root `.tf` and `.tf.json` files
//! without running Terraform: the variables it accepts, and whether it brings
//! its own state backend (Slipway keeps the state, so it must not).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::EngineError;

/// The parts of a module's root that Slipway relies on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Names of the root module's `variable` blocks.
    pub variables: BTreeSet<String>,
    /// The type of a `backend` (or `cloud`) block the module declares.
    pub backend: Option<String>,
}

impl ModuleInfo {
    /// Reads the module's root files (`path → content`; files in
    /// subdirectories belong to nested modules and are ignored).
    pub fn inspect(files: &BTreeMap<String, String>) -> Result<Self, EngineError> {
        let mut info = ModuleInfo::default();
        for (path, content) in files {
            if path.contains('/') {
                continue;
            }
            if path.ends_with(".tf.json") {
                info.read_json(path, content)?;
            } else if path.ends_with(".tf") {
                info.read_hcl(path, content)?;
            }
        }
        Ok(info)
    }

    fn read_hcl(&mut self, path: &str, content: &str) -> Result<(), EngineError> {
        let body = hcl::parse(content).map_err(|e| EngineError::InvalidModule {
            file: path.to_owned(),
            reason: e.to_string(),
        })?;
        for block in body.blocks() {
            match block.identifier() {
                "variable" => {
                    if let Some(label) = block.labels().first() {
                        self.variables.insert(label.as_str().to_owned());
                    }
                }
                "terraform" => {
                    for inner in block.body().blocks() {
                        match inner.identifier() {
                            "backend" => {
                                self.backend =
                                    inner.labels().first().map(|l| l.as_str().to_owned());
                            }
                            "cloud" => self.backend = Some("cloud".into()),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn read_json(&mut self, path: &str, content: &str) -> Result<(), EngineError> {
        let doc: Value = serde_json::from_str(content).map_err(|e| EngineError::InvalidModule {
            file: path.to_owned(),
            reason: e.to_string(),
        })?;
        if let Some(vars) = doc.get("variable").and_then(Value::as_object) {
            self.variables.extend(vars.keys().cloned());
        }
        let terraform_blocks = match doc.get("terraform") {
            Some(Value::Array(items)) => items.clone(),
            Some(block) => vec![block.clone()],
            None => vec![],
        };
        for block in terraform_blocks {
            if let Some(backend) = block.get("backend").and_then(Value::as_object) {
                self.backend = backend.keys().next().cloned();
            }
            if block.get("cloud").is_some() {
                self.backend = Some("cloud".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect()
    }

    #[test]
    fn finds_root_variables_in_hcl_and_json() {
        let info = ModuleInfo::inspect(&files(&[
            (
                "main.tf",
                r#"
variable "cluster_name" { type = string }
variable "node_count" {
  type    = number
  default = 1
}
resource "terraform_data" "x" { input = var.cluster_name }
"#,
            ),
            (
                "extra.tf.json",
                r#"{"variable": {"region": {"default": "us-west-2"}}}"#,
            ),
            ("modules/child/main.tf", r#"variable "hidden" {}"#),
            ("README.md", "not terraform"),
        ]))
        .unwrap();
        assert_eq!(
            info.variables
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["cluster_name", "node_count", "region"]
        );
        assert_eq!(info.backend, None);
    }

    #[test]
    fn notices_a_backend() {
        let hcl = ModuleInfo::inspect(&files(&[(
            "main.tf",
            r#"terraform {
  backend "s3" {
    bucket = "b"
  }
}"#,
        )]))
        .unwrap();
        assert_eq!(hcl.backend.as_deref(), Some("s3"));
        let json = ModuleInfo::inspect(&files(&[(
            "b.tf.json",
            r#"{"terraform": {"backend": {"local": {"path": "x"}}}}"#,
        )]))
        .unwrap();
        assert_eq!(json.backend.as_deref(), Some("local"));
    }

    #[test]
    fn reports_unparsable_files_by_name() {
        let err = ModuleInfo::inspect(&files(&[("bad.tf", "variable \"x\" {")])).unwrap_err();
        assert!(err.to_string().contains("bad.tf"), "{err}");
    }
}
