//! A blueprint checked offline, as a module author's CI runs it (`slipway
//! blueprint check DIR`): what registering it checks (`catalog`), and what
//! Slipway's contract asks of its Terraform, read from the HCL itself
//! (`hcl-edit`, which keeps where each block is), each finding naming the
//! file and the line:
//!
//! - every **standard variable** the module declares has the type Slipway
//!   passes ([`STANDARD_TYPES`]);
//! - every resource of a type that takes **tags** carries the `tags`
//!   variable, so costs can be allocated per organization and cluster: in
//!   its own `tags` (`var.tags`, or a `merge` of it), or through its
//!   provider's `default_tags { tags = var.tags }` — except an
//!   `aws_autoscaling_group`, which default tags do not reach: it needs a
//!   `dynamic "tag"` over `var.tags`;
//! - an **output** whose value is secret — it reads a sensitive variable, or
//!   an attribute such as a password or a private key — is marked
//!   `sensitive = true`.
//!
//! What it cannot do offline it says: `terraform validate` needs the
//! module's providers installed.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Block, Body};
use hcl_edit::visit::{Visit, visit_expr};
use hcl_edit::{Ident, Span};

use crate::EngineError;
use crate::catalog::{BlueprintSource, METADATA_FILE, read_tree};

/// The type each standard variable has, as a module declares it.
pub const STANDARD_TYPES: &[(&str, &str)] = &[
    ("cluster_name", "string"),
    ("organization", "string"),
    ("is_public", "bool"),
    ("node_count", "number"),
    ("min_nodes", "number"),
    ("max_nodes", "number"),
    ("version", "string"),
    ("tags", "map(string)"),
    ("jwt_issuer", "string"),
    ("jwks_url", "string"),
    ("revocations_url", "string"),
    ("runtime_dir", "string"),
];

/// Resource types that take `tags` (the AWS provider's; a type not listed
/// is not checked). Not exhaustive: the ones clusters are made of.
const TAGGABLE: &[&str] = &[
    "aws_acm_certificate",
    "aws_autoscaling_group",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_log_group",
    "aws_cloudwatch_metric_alarm",
    "aws_db_instance",
    "aws_dynamodb_table",
    "aws_ebs_volume",
    "aws_ec2_fleet",
    "aws_ecr_repository",
    "aws_efs_access_point",
    "aws_efs_file_system",
    "aws_eip",
    "aws_eks_cluster",
    "aws_eks_node_group",
    "aws_elasticache_cluster",
    "aws_iam_instance_profile",
    "aws_iam_openid_connect_provider",
    "aws_iam_policy",
    "aws_iam_role",
    "aws_instance",
    "aws_internet_gateway",
    "aws_key_pair",
    "aws_kms_key",
    "aws_lambda_function",
    "aws_launch_template",
    "aws_lb",
    "aws_lb_listener",
    "aws_lb_target_group",
    "aws_nat_gateway",
    "aws_network_interface",
    "aws_placement_group",
    "aws_route53_zone",
    "aws_route_table",
    "aws_s3_bucket",
    "aws_secretsmanager_secret",
    "aws_security_group",
    "aws_sns_topic",
    "aws_spot_fleet_request",
    "aws_sqs_queue",
    "aws_subnet",
    "aws_vpc",
    "aws_vpc_endpoint",
];

/// Attribute names whose value is a secret wherever they are read.
const SECRET_ATTRIBUTES: &[&str] = &[
    "auth_token",
    "master_password",
    "password",
    "private_key",
    "private_key_openssh",
    "private_key_pem",
    "secret",
    "secret_access_key",
    "secret_string",
    "token",
];

/// One thing wrong, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Relative to the blueprint's directory.
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// What a check found, and what it could not do here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The blueprint's name and the Terraform files read, when it got that far.
    pub blueprint: Option<String>,
    pub files: usize,
    pub resources: usize,
    /// What was not checked, and why.
    pub skipped: Vec<String>,
}

/// Checks the blueprint in `dir`. Only a directory that cannot be read is
/// an error; everything else is a finding.
pub fn check_dir(dir: &Path) -> Result<Report, EngineError> {
    let mut files = BTreeMap::new();
    read_tree(dir, dir, &mut files)?;
    Ok(check_files(&files))
}

/// Checks a blueprint given as files (relative path → content).
pub fn check_files(files: &BTreeMap<String, String>) -> Report {
    let mut report = Report::default();
    match files.get(METADATA_FILE) {
        None => report.findings.push(Finding {
            file: METADATA_FILE.into(),
            line: None,
            message: "missing: every blueprint needs one".into(),
        }),
        Some(text) => {
            if let Err(e) = toml::from_str::<toml::Table>(text) {
                report.findings.push(Finding {
                    file: METADATA_FILE.into(),
                    line: e.span().map(|s| line_of(text, s.start)),
                    message: e.message().to_owned(),
                });
            }
        }
    }
    if report.findings.is_empty() {
        // What registering it checks: the metadata's rules, the variables
        // it names declared by the module, no backend.
        match BlueprintSource::from_files(files.clone()) {
            Ok(source) => report.blueprint = Some(source.metadata.name.clone()),
            Err(EngineError::InvalidModule { file, reason }) => report.findings.push(Finding {
                file,
                line: None,
                message: reason,
            }),
            Err(e) => report.findings.push(Finding {
                file: METADATA_FILE.into(),
                line: None,
                message: e.to_string(),
            }),
        }
    }
    let sensitive_in_metadata: BTreeSet<String> = files
        .get(METADATA_FILE)
        .and_then(|text| toml::from_str::<slipway_core::blueprint::BlueprintMetadata>(text).ok())
        .map(|m| {
            m.variables
                .into_iter()
                .filter(|(_, v)| v.sensitive)
                .map(|(name, _)| name)
                .collect()
        })
        .unwrap_or_default();

    // Each directory is a module of its own (the root, `runner/`, nested
    // modules): its providers' default tags hold for its files only.
    let mut modules: BTreeMap<&str, Vec<(&str, Body, &str)>> = BTreeMap::new();
    for (path, content) in files.iter().filter(|(p, _)| p.ends_with(".tf")) {
        report.files += 1;
        match hcl_edit::parser::parse_body(content) {
            Ok(body) => {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                modules
                    .entry(dir)
                    .or_default()
                    .push((path.as_str(), body, content.as_str()));
            }
            Err(e) => report.findings.push(Finding {
                file: path.clone(),
                line: Some(e.location().line()),
                message: format!("not valid HCL: {}", e.message()),
            }),
        }
    }
    let mut providers = BTreeSet::new();
    for parsed in modules.values() {
        check_module(parsed, &sensitive_in_metadata, &mut report, &mut providers);
    }
    report
        .findings
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if !providers.is_empty() {
        report.skipped.push(format!(
            "terraform validate: it needs the module's providers ({}) installed; run it where they can be (terraform init -backend=false && terraform validate)",
            providers.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    report
}

/// The checks of one module's files.
fn check_module(
    files: &[(&str, Body, &str)],
    sensitive_in_metadata: &BTreeSet<String>,
    report: &mut Report,
    providers: &mut BTreeSet<String>,
) {
    let blocks = |kind: &'static str| {
        files.iter().flat_map(move |(path, body, text)| {
            body.blocks()
                .filter(move |b| b.ident.as_str() == kind)
                .map(move |b| (*path, b, *text))
        })
    };
    // Providers whose default tags carry var.tags, by `name` or
    // `name.alias`.
    let mut tagged_by_default = BTreeSet::new();
    for (_, provider, _) in blocks("provider") {
        let Some(name) = label(provider, 0) else {
            continue;
        };
        let key = match attribute(&provider.body, "alias").and_then(string_value) {
            Some(alias) => format!("{name}.{alias}"),
            None => name.to_owned(),
        };
        let defaults = provider
            .body
            .blocks()
            .filter(|b| b.ident.as_str() == "default_tags")
            .any(|b| attribute(&b.body, "tags").is_some_and(|e| reads(e, "var", "tags")));
        if defaults {
            tagged_by_default.insert(key);
        }
    }
    for (_, terraform, _) in blocks("terraform") {
        for required in terraform
            .body
            .blocks()
            .filter(|b| b.ident.as_str() == "required_providers")
        {
            for attr in required.body.attributes() {
                providers.insert(attr.key.as_str().to_owned());
            }
        }
    }

    let mut sensitive_variables = sensitive_in_metadata.clone();
    for (path, variable, text) in blocks("variable") {
        let Some(name) = label(variable, 0) else {
            continue;
        };
        if attribute(&variable.body, "sensitive").is_some_and(is_true) {
            sensitive_variables.insert(name.to_owned());
        }
        let Some((_, expected)) = STANDARD_TYPES.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let declared = attribute(&variable.body, "type").map(compact);
        if declared.as_deref() != Some(*expected) {
            report.findings.push(Finding {
                file: path.to_owned(),
                line: at(variable.span(), text),
                message: format!(
                    "variable \"{name}\" is a standard variable Slipway passes as {expected}: declare type = {expected}{}",
                    declared.map(|d| format!(" (not {d})")).unwrap_or_default()
                ),
            });
        }
    }

    for (path, resource, text) in blocks("resource") {
        report.resources += 1;
        let (Some(kind), Some(name)) = (label(resource, 0), label(resource, 1)) else {
            continue;
        };
        if !TAGGABLE.contains(&kind) {
            continue;
        }
        let line = at(resource.span(), text);
        if kind == "aws_autoscaling_group" {
            let tags_every_instance = resource.body.blocks().any(|b| {
                b.ident.as_str() == "dynamic"
                    && label(b, 0) == Some("tag")
                    && attribute(&b.body, "for_each").is_some_and(|e| reads(e, "var", "tags"))
            });
            if !tags_every_instance {
                report.findings.push(Finding {
                    file: path.to_owned(),
                    line,
                    message: format!(
                        "resource {kind}.{name} does not carry the tags variable: a provider's default tags do not reach an auto-scaling group; add dynamic \"tag\" {{ for_each = var.tags ... propagate_at_launch = true }}"
                    ),
                });
            }
            continue;
        }
        let own = attribute(&resource.body, "tags").is_some_and(|e| reads(e, "var", "tags"));
        let provider = attribute(&resource.body, "provider")
            .map(compact)
            .unwrap_or_else(|| kind.split('_').next().unwrap_or(kind).to_owned());
        if !own && !tagged_by_default.contains(&provider) {
            report.findings.push(Finding {
                file: path.to_owned(),
                line,
                message: format!(
                    "resource {kind}.{name} takes tags but does not carry the tags variable (costs are allocated by it): set tags = merge(var.tags, {{...}}), or default_tags {{ tags = var.tags }} in provider \"{provider}\""
                ),
            });
        }
    }

    for (path, output, text) in blocks("output") {
        let Some(name) = label(output, 0) else {
            continue;
        };
        let Some(value) = attribute(&output.body, "value") else {
            continue;
        };
        let secret = sensitive_variables
            .iter()
            .find(|v| reads(value, "var", v))
            .map(|v| format!("variable {v} is sensitive"))
            .or_else(|| secret_attribute(value).map(|a| format!("attribute {a} is a secret")));
        let marked = attribute(&output.body, "sensitive").is_some_and(is_true);
        if let (Some(why), false) = (secret, marked) {
            report.findings.push(Finding {
                file: path.to_owned(),
                line: at(output.span(), text),
                message: format!(
                    "output \"{name}\" shows a secret ({why}): mark it sensitive = true"
                ),
            });
        }
    }
}

fn label(block: &Block, index: usize) -> Option<&str> {
    block.labels.get(index).map(|l| l.as_str())
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.get_attribute(key).map(|a| &a.value)
}

fn string_value(expr: &Expression) -> Option<String> {
    expr.as_str().map(str::to_owned)
}

fn is_true(expr: &Expression) -> bool {
    expr.as_bool() == Some(true)
}

/// An expression's text without spaces: `map( string )` is `map(string)`.
fn compact(expr: &Expression) -> String {
    expr.to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Whether `expr` reads `root.name` (`var.tags`) anywhere within it.
fn reads(expr: &Expression, root: &str, name: &str) -> bool {
    struct Reads<'a> {
        root: &'a str,
        name: &'a str,
        found: bool,
    }
    impl Visit for Reads<'_> {
        fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
            let first = node.operators.first().map(|op| op.value());
            if let (Expression::Variable(var), Some(TraversalOperator::GetAttr(attr))) =
                (&node.expr, first)
                && var.as_str() == self.root
                && attr.as_str() == self.name
            {
                self.found = true;
            }
            hcl_edit::visit::visit_traversal(self, node);
        }
    }
    let mut visitor = Reads {
        root,
        name,
        found: false,
    };
    visit_expr(&mut visitor, expr);
    visitor.found
}

/// A secret attribute `expr` reads (`aws_db_instance.x.password`), if any.
fn secret_attribute(expr: &Expression) -> Option<String> {
    struct Secrets(Option<String>);
    impl Visit for Secrets {
        fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
            let names: Vec<&Ident> = node
                .operators
                .iter()
                .filter_map(|op| match op.value() {
                    TraversalOperator::GetAttr(attr) => Some(attr.value()),
                    _ => None,
                })
                .collect();
            if let Some(last) = names.last()
                && SECRET_ATTRIBUTES.contains(&last.as_str())
                && !matches!(&node.expr, Expression::Variable(v) if v.as_str() == "var")
            {
                self.0.get_or_insert_with(|| last.as_str().to_owned());
            }
            hcl_edit::visit::visit_traversal(self, node);
        }
    }
    let mut visitor = Secrets(None);
    visit_expr(&mut visitor, expr);
    visitor.0
}

fn at(span: Option<Range<usize>>, text: &str) -> Option<usize> {
    span.map(|s| line_of(text, s.start))
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "name = \"demo\"\n[nodes]\nmin = 1\nmax = 3\ndefault = 1\n";

    fn check(files: &[(&str, &str)]) -> Report {
        check_files(
            &files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect(),
        )
    }

    fn messages(report: &Report) -> Vec<String> {
        report.findings.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn a_resource_without_the_tags_variable_is_named_with_its_line() {
        let module = "variable \"tags\" {\n  type = map(string)\n}\n\nresource \"aws_instance\" \"gateway\" {\n  ami = \"ami-1\"\n}\n\nresource \"aws_instance\" \"manager\" {\n  tags = merge(var.tags, { Name = \"m\" })\n}\n";
        let report = check(&[("blueprint.toml", METADATA), ("main.tf", module)]);
        let found = messages(&report);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("main.tf:5: resource aws_instance.gateway takes tags"),
            "{found:?}"
        );
        assert_eq!(report.resources, 2);
        assert!(report.skipped.is_empty(), "no provider is required");
    }

    #[test]
    fn default_tags_cover_resources_but_not_an_auto_scaling_group() {
        let module = "variable \"tags\" {\n  type = map(string)\n}\nprovider \"aws\" {\n  default_tags {\n    tags = var.tags\n  }\n}\nresource \"aws_instance\" \"a\" {}\nresource \"aws_autoscaling_group\" \"nodes\" {\n  max_size = 3\n}\nresource \"aws_autoscaling_group\" \"tagged\" {\n  dynamic \"tag\" {\n    for_each = var.tags\n    content {\n      key = tag.key\n    }\n  }\n}\n";
        let found = messages(&check(&[("blueprint.toml", METADATA), ("main.tf", module)]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("main.tf:10: resource aws_autoscaling_group.nodes"),
            "{found:?}"
        );
    }

    #[test]
    fn standard_variables_have_their_types_and_secrets_stay_sensitive() {
        let module = "variable \"node_count\" {\n  type = string\n}\nvariable \"tags\" {\n  type = map( string )\n}\nvariable \"db_password\" {\n  type      = string\n  sensitive = true\n}\noutput \"password\" {\n  value = var.db_password\n}\noutput \"key\" {\n  value = tls_private_key.k.private_key_pem\n}\noutput \"hidden\" {\n  value     = tls_private_key.k.private_key_pem\n  sensitive = true\n}\noutput \"endpoint\" {\n  value = \"https://x\"\n}\n";
        let found = messages(&check(&[("blueprint.toml", METADATA), ("vars.tf", module)]));
        assert_eq!(
            found,
            [
                "vars.tf:1: variable \"node_count\" is a standard variable Slipway passes as number: declare type = number (not string)",
                "vars.tf:11: output \"password\" shows a secret (variable db_password is sensitive): mark it sensitive = true",
                "vars.tf:14: output \"key\" shows a secret (attribute private_key_pem is a secret): mark it sensitive = true",
            ]
        );
    }

    #[test]
    fn unparseable_files_are_named_with_their_line() {
        let report = check(&[
            ("blueprint.toml", "name = \"demo\"\n[nodes\nmin = 1\n"),
            (
                "main.tf",
                "resource \"aws_instance\" \"a\" {\n  ami = \n}\n",
            ),
        ]);
        let found = messages(&report);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("blueprint.toml:2: "), "{found:?}");
        assert!(found[1].starts_with("main.tf:"), "{found:?}");
    }

    #[test]
    fn the_local_blueprint_passes_and_a_provider_is_named_as_skipped() {
        let local = crate::catalog::BlueprintSource::embedded_local();
        let mut files = local.files.clone();
        files.insert(
            METADATA_FILE.into(),
            include_str!("../../../blueprints/local/blueprint.toml").into(),
        );
        let report = check_files(&files);
        assert!(report.findings.is_empty(), "{:?}", messages(&report));
        assert_eq!(report.blueprint.as_deref(), Some("local"));

        let module = "terraform {\n  required_providers {\n    aws = {\n      source = \"hashicorp/aws\"\n    }\n  }\n}\n";
        let report = check(&[("blueprint.toml", METADATA), ("versions.tf", module)]);
        assert!(report.skipped[0].contains("(aws)"), "{:?}", report.skipped);
    }
}
