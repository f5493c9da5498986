//! A blueprint's metadata (docs/domain.md §5): what users may set, within which
//! limits. The module itself is the engine's business.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::cost::CostModel;
use crate::job::Jobs;
use crate::{ClusterSpec, MAX_NODES_CEILING, ValidationError, Variables};

/// The metadata file (`blueprint.toml`) beside a blueprint's module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueprintMetadata {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub nodes: NodeBounds,
    /// Variables users may set, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableSpec>,
    /// What a deployed cluster costs; free without a `[cost]` table.
    #[serde(default)]
    pub cost: CostModel,
    /// Tags a worker must offer to run this blueprint's operations (a cloud
    /// account, a region, the machine local clusters live on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker_tags: Vec<String>,
    /// TEST and RELEASE: the project's repository, its test suites and its
    /// release command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Jobs>,
}

/// How many nodes a cluster of the blueprint may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeBounds {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

impl Default for NodeBounds {
    fn default() -> Self {
        Self {
            min: 1,
            max: MAX_NODES_CEILING,
            default: 1,
        }
    }
}

/// The type of a user variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    String,
    Number,
    /// A whole number (`1`, not `1.5`).
    Integer,
    Bool,
}

/// One variable users may set, and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    #[serde(rename = "type")]
    pub kind: VariableType,
    #[serde(default)]
    pub description: String,
    /// Used when the user gives none; without one the variable is required.
    pub default: Option<serde_json::Value>,
    /// For strings: the only values allowed.
    #[serde(default)]
    pub allowed: Vec<String>,
    /// For strings: the maximum length.
    pub max_length: Option<usize>,
    /// For numbers: the smallest and largest values allowed.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Masked in every log and output.
    #[serde(default)]
    pub sensitive: bool,
}

impl BlueprintMetadata {
    /// Checks the metadata itself: bounds in order, defaults of the right type.
    pub fn check(&self) -> Result<(), ValidationError> {
        let n = self.nodes;
        if !(1 <= n.min && n.min <= n.default && n.default <= n.max && n.max <= MAX_NODES_CEILING) {
            return Err(ValidationError::new(
                "nodes",
                format!(
                    "blueprint bounds must satisfy 1 <= min <= default <= max <= {MAX_NODES_CEILING} (got min {}, default {}, max {})",
                    n.min, n.default, n.max
                ),
            ));
        }
        for (name, spec) in &self.variables {
            if let Some(default) = &spec.default {
                spec.check(name, default)?;
            }
        }
        if let Some(jobs) = &self.jobs {
            jobs.check()?;
        }
        Ok(())
    }

    /// Checks a node count against the blueprint's bounds.
    pub fn check_nodes(&self, nodes: u32) -> Result<(), ValidationError> {
        let NodeBounds { min, max, .. } = self.nodes;
        if nodes < min || nodes > max {
            return Err(ValidationError::new(
                "nodes",
                format!(
                    "must be between {min} and {max} for blueprint {} (got {nodes})",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Checks user variables: every one known and of its type and limits,
    /// every required one present. Returns them with defaults filled in.
    pub fn resolve_variables(&self, given: &Variables) -> Result<Variables, ValidationError> {
        let mut resolved = Variables::new();
        for (name, value) in given {
            let spec = self.variables.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.variables.keys().map(String::as_str).collect();
                ValidationError::new(
                    format!("variables.{name}"),
                    format!(
                        "blueprint {} has no such variable (it has: {})",
                        self.name,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
            let value = spec.coerce(value);
            spec.check(name, &value)?;
            resolved.insert(name.clone(), value);
        }
        for (name, spec) in &self.variables {
            if resolved.contains_key(name) {
                continue;
            }
            match &spec.default {
                Some(default) => {
                    resolved.insert(name.clone(), default.clone());
                }
                None => {
                    return Err(ValidationError::new(
                        format!("variables.{name}"),
                        "is required by the blueprint",
                    ));
                }
            }
        }
        Ok(resolved)
    }

    /// Checks a whole cluster spec against the blueprint.
    pub fn check_spec(&self, spec: &ClusterSpec) -> Result<(), ValidationError> {
        self.check_nodes(spec.nodes)?;
        self.resolve_variables(&spec.variables).map(|_| ())
    }

    /// Names of the variables whose values must be masked.
    pub fn sensitive_variables(&self) -> impl Iterator<Item = &str> {
        self.variables
            .iter()
            .filter(|(_, spec)| spec.sensitive)
            .map(|(name, _)| name.as_str())
    }
}

impl VariableSpec {
    /// Reads a string as the variable's type where it is one, so values
    /// given as text (`--var replicas=2`) need no JSON quoting.
    fn coerce(&self, value: &serde_json::Value) -> serde_json::Value {
        let serde_json::Value::String(text) = value else {
            return value.clone();
        };
        let parsed = match self.kind {
            VariableType::Number => text
                .parse::<i64>()
                .map(serde_json::Value::from)
                .ok()
                .or_else(|| {
                    text.parse::<f64>().ok().and_then(|f| {
                        serde_json::Number::from_f64(f).map(serde_json::Value::Number)
                    })
                }),
            VariableType::Integer => text.parse::<i64>().map(serde_json::Value::from).ok(),
            VariableType::Bool => text.parse::<bool>().ok().map(serde_json::Value::Bool),
            VariableType::String => None,
        };
        parsed.unwrap_or_else(|| value.clone())
    }

    fn check(&self, name: &str, value: &serde_json::Value) -> Result<(), ValidationError> {
        let field = format!("variables.{name}");
        let fail = |rule: String| Err(ValidationError::new(field.clone(), rule));
        match (self.kind, value) {
            (VariableType::String, serde_json::Value::String(s)) => {
                if !self.allowed.is_empty() && !self.allowed.contains(s) {
                    return fail(format!("must be one of {}", self.allowed.join(", ")));
                }
                if let Some(max) = self.max_length
                    && s.chars().count() > max
                {
                    return fail(format!("must be at most {max} characters"));
                }
                Ok(())
            }
            (VariableType::Integer, serde_json::Value::Number(n)) if n.as_i64().is_none() => {
                fail("must be a whole number".into())
            }
            (VariableType::Number | VariableType::Integer, serde_json::Value::Number(n)) => {
                let v = n.as_f64().unwrap_or(f64::NAN);
                if self.min.is_some_and(|min| v < min) || self.max.is_some_and(|max| v > max) {
                    return fail(format!(
                        "must be between {} and {}",
                        self.min.map_or("-inf".into(), |m| m.to_string()),
                        self.max.map_or("inf".into(), |m| m.to_string())
                    ));
                }
                Ok(())
            }
            (VariableType::Bool, serde_json::Value::Bool(_)) => Ok(()),
            (kind, _) => fail(format!("must be a {}", format!("{kind:?}").to_lowercase())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata() -> BlueprintMetadata {
        serde_json::from_value(json!({
            "name": "demo",
            "nodes": {"min": 1, "max": 8, "default": 1},
            "variables": {
                "size": {"type": "string", "allowed": ["small", "large"], "default": "small"},
                "replicas": {"type": "number", "min": 1, "max": 3},
                "workers": {"type": "integer", "min": 0, "max": 600, "default": 0},
                "debug": {"type": "bool", "default": false, "sensitive": true}
            }
        }))
        .unwrap()
    }

    #[test]
    fn integers_are_whole_numbers() {
        let m = metadata();
        let with = |v: serde_json::Value| {
            m.resolve_variables(&Variables::from([
                ("replicas".to_owned(), json!(1)),
                ("workers".to_owned(), v),
            ]))
        };
        assert_eq!(with(json!(3)).unwrap()["workers"], json!(3));
        assert_eq!(with(json!("4")).unwrap()["workers"], json!(4), "from text");
        for bad in [json!(0.5), json!("0.5"), json!(601), json!(-1), json!("x")] {
            let err = with(bad.clone()).unwrap_err();
            assert_eq!(err.field, "variables.workers", "{bad}");
        }
        assert!(with(json!(0.5)).unwrap_err().rule.contains("whole number"));
    }

    #[test]
    fn nodes_out_of_bounds_name_the_bounds() {
        let m = metadata();
        assert!(m.check_nodes(8).is_ok());
        let err = m.check_nodes(9).unwrap_err();
        assert_eq!(err.field, "nodes");
        assert!(err.rule.contains("between 1 and 8"), "{err}");
        assert!(m.check_nodes(0).is_err());
    }

    #[test]
    fn variables_are_checked_and_defaults_filled_in() {
        let m = metadata();
        let given = Variables::from([("replicas".to_owned(), json!(2))]);
        let resolved = m.resolve_variables(&given).unwrap();
        assert_eq!(resolved["size"], json!("small"));
        assert_eq!(resolved["debug"], json!(false));

        let missing = m.resolve_variables(&Variables::new()).unwrap_err();
        assert_eq!(missing.field, "variables.replicas");

        let unknown = Variables::from([
            ("replicas".to_owned(), json!(1)),
            ("colour".to_owned(), json!("red")),
        ]);
        let err = m.resolve_variables(&unknown).unwrap_err();
        assert_eq!(err.field, "variables.colour");
        assert!(err.rule.contains("size"), "{err}");

        for (name, bad) in [
            ("size", json!("huge")),
            ("replicas", json!(4)),
            ("replicas", json!("two")),
            ("debug", json!(1)),
        ] {
            let vars = Variables::from([
                ("replicas".to_owned(), json!(1)),
                (name.to_owned(), bad.clone()),
            ]);
            let err = m.resolve_variables(&vars).unwrap_err();
            assert_eq!(err.field, format!("variables.{name}"), "{bad}");
        }
        assert_eq!(m.sensitive_variables().collect::<Vec<_>>(), ["debug"]);

        // text reads as the declared type
        let text = Variables::from([
            ("replicas".to_owned(), json!("3")),
            ("debug".to_owned(), json!("true")),
            ("size".to_owned(), json!("large")),
        ]);
        let resolved = m.resolve_variables(&text).unwrap();
        assert_eq!(resolved["replicas"], json!(3));
        assert_eq!(resolved["debug"], json!(true));
        assert!(
            m.resolve_variables(&Variables::from([("replicas".to_owned(), json!("three"))]))
                .is_err()
        );
    }

    #[test]
    fn the_cost_model_reads_exactly_and_defaults_to_free() {
        let m: BlueprintMetadata = toml::from_str(
            "name = \"demo\"\n[cost]\nfixed_hourly_usd = 0.153\nper_node_hourly_usd = 0.226\n",
        )
        .unwrap();
        assert_eq!(m.cost, CostModel::GENERATION_1);
        assert_eq!(m.cost.hourly(3).to_string(), "0.831");
        let free: BlueprintMetadata = toml::from_str("name = \"demo\"").unwrap();
        assert_eq!(free.cost, CostModel::default());
        let zero: BlueprintMetadata = toml::from_str(
            "name = \"local\"\n[cost]\nfixed_hourly_usd = 0.0\nper_node_hourly_usd = 0.0\n",
        )
        .unwrap();
        assert_eq!(zero.cost.hourly(5), crate::money::Rate::ZERO);
    }

    #[test]
    fn metadata_with_inverted_bounds_is_rejected() {
        let mut m = metadata();
        m.nodes = NodeBounds {
            min: 4,
            max: 2,
            default: 3,
        };
        assert!(m.check().is_err());
        assert!(metadata().check().is_ok());
    }
}

/// Blueprint versions in the catalog's order, newest first: by semantic
/// version (`1.10.0` after `1.9.0`, a pre-release before its release); a
/// version that is not one (`2024-05`, `local+3f2a`) after those that are,
/// by text, highest first.
pub fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => b.cmp(&a),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => b.cmp(a),
    }
}

/// A version `latest` may name, among those the one asking may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestCandidate<'a> {
    pub version: &'a str,
    pub deprecated: bool,
    /// An administrator pointed `latest` at it.
    pub alias: bool,
}

/// What `latest` names among the versions one may use: the version an
/// administrator pointed it at, unless it is deprecated; else the newest
/// version not deprecated. None: no version one may start a cluster on.
pub fn latest<'a>(candidates: &[LatestCandidate<'a>]) -> Option<&'a str> {
    let usable = || candidates.iter().filter(|c| !c.deprecated);
    usable()
        .find(|c| c.alias)
        .or_else(|| usable().min_by(|a, b| newest_first(a.version, b.version)))
        .map(|c| c.version)
}

#[cfg(test)]
mod catalog_tests {
    use super::*;

    fn candidate(version: &str, deprecated: bool, alias: bool) -> LatestCandidate<'_> {
        LatestCandidate {
            version,
            deprecated,
            alias,
        }
    }

    #[test]
    fn versions_are_ordered_as_semantic_versions_newest_first() {
        let mut versions = vec![
            "1.9.0",
            "local+3f2a",
            "1.10.0",
            "1.10.0-rc.1",
            "0.2.0",
            "2024-05",
        ];
        versions.sort_by(|a, b| newest_first(a, b));
        assert_eq!(
            versions,
            [
                "1.10.0",
                "1.10.0-rc.1",
                "1.9.0",
                "0.2.0",
                "local+3f2a",
                "2024-05"
            ]
        );
    }

    #[test]
    fn latest_is_the_alias_unless_deprecated_else_the_newest_usable() {
        let all = [
            candidate("1.9.0", false, true),
            candidate("1.10.0", false, false),
            candidate("2.0.0", true, false),
        ];
        assert_eq!(latest(&all), Some("1.9.0"));
        let alias_deprecated = [
            candidate("1.9.0", true, true),
            candidate("1.10.0", false, false),
            candidate("2.0.0", true, false),
        ];
        assert_eq!(latest(&alias_deprecated), Some("1.10.0"));
        assert_eq!(latest(&[candidate("1.0.0", true, false)]), None);
        assert_eq!(latest(&[]), None);
    }
}
