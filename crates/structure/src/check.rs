//! The checks, and the report naming what breaks them.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use crate::resolve::{Graph, ModuleId, Named, Resolution};
use crate::rules::{self, FORBIDDEN, Forbidden, TEST_ONLY, TOOLS};
use crate::tree::{How, PathRef, Ref, Site};
use crate::workspace::Workspace;

/// What the checks found.
#[derive(Default)]
pub struct Report {
    /// Dependencies between crates that break the layers.
    pub layers: Vec<String>,
    /// Cargo dependencies a rule forbids.
    pub dependencies: Vec<String>,
    /// Module cycles, each described.
    pub cycles: Vec<String>,
    /// Forbidden imports, by rule and crate, each described.
    pub imports: Vec<String>,
    /// How many places the forbidden imports are in.
    pub import_sites: usize,
    /// How many crates (library and binary targets) were read.
    pub crates: usize,
    /// How many modules were read.
    pub modules: usize,
}

impl Report {
    /// Whether nothing breaks a rule.
    pub fn clean(&self) -> bool {
        self.layers.is_empty()
            && self.dependencies.is_empty()
            && self.cycles.is_empty()
            && self.imports.is_empty()
    }

    /// The report, for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sections = [
            ("Crates out of their layers", &self.layers),
            ("Forbidden dependencies (Cargo.toml)", &self.dependencies),
            ("Module cycles", &self.cycles),
            ("Forbidden imports", &self.imports),
        ];
        for (title, entries) in sections {
            if entries.is_empty() {
                continue;
            }
            let _ = writeln!(out, "== {title}\n");
            for entry in entries {
                let entry = entry.trim_end();
                let _ = writeln!(out, "{entry}");
                // Entries of several lines stand apart.
                if entry.contains('\n') {
                    let _ = writeln!(out);
                }
            }
            if entries.last().is_some_and(|e| !e.trim_end().contains('\n')) {
                let _ = writeln!(out);
            }
        }
        if self.clean() {
            let _ = writeln!(
                out,
                "structure: {}, {}: crates depend one way; no module cycle, no forbidden import",
                count(self.crates, "crate", "crates"),
                count(self.modules, "module", "modules"),
            );
        } else {
            let _ = writeln!(
                out,
                "structure: FAILED in {}, {}: {}, {}, {}, {} in {}",
                count(self.crates, "crate", "crates"),
                count(self.modules, "module", "modules"),
                count(self.layers.len(), "layer problem", "layer problems"),
                count(
                    self.dependencies.len(),
                    "forbidden dependency",
                    "forbidden dependencies"
                ),
                count(self.cycles.len(), "module cycle", "module cycles"),
                count(self.imports.len(), "forbidden import", "forbidden imports"),
                count(self.import_sites, "place", "places"),
            );
        }
        out
    }
}

/// Runs every check on `workspace`, read as `graph`.
pub fn check(workspace: &Workspace, graph: &Graph) -> Report {
    let mut report = Report {
        crates: graph.units.len(),
        modules: graph.units.iter().map(|u| u.tree.modules.len()).sum(),
        ..Report::default()
    };
    let root = &workspace.root;
    check_layers(workspace, &mut report);
    check_dependencies(workspace, &mut report);
    for unit in 0..graph.units.len() {
        check_cycles(graph, unit, root, &mut report);
    }
    check_imports(graph, root, &mut report);
    report
}

fn check_layers(workspace: &Workspace, report: &mut Report) {
    let members: BTreeSet<&str> = workspace.packages.iter().map(|p| p.name.as_str()).collect();
    for package in &workspace.packages {
        let name = package.name.as_str();
        let manifest = shown(&package.manifest, &workspace.root);
        let internal: BTreeSet<&str> = package
            .shipped_dependencies()
            .map(|d| d.package.as_str())
            .filter(|d| members.contains(d) && *d != name)
            .collect();
        for dependency in &internal {
            if TOOLS.contains(dependency) {
                report.layers.push(format!(
                    "{name} depends on the developer tool {dependency} ({manifest})"
                ));
            } else if TEST_ONLY.contains(dependency) {
                report.layers.push(format!(
                    "{name} depends on the test-only {dependency} ({manifest}): only as a dev-dependency"
                ));
            }
        }
        if TOOLS.contains(&name) {
            for dependency in &internal {
                report.layers.push(format!(
                    "the developer tool {name} depends on {dependency} ({manifest}): tools stand apart"
                ));
            }
            continue;
        }
        if TEST_ONLY.contains(&name) {
            continue;
        }
        let Some(here) = rules::layer_of(name) else {
            report.layers.push(format!(
                "{name} is in no layer: place it in LAYERS, TEST_ONLY or TOOLS (crates/structure/src/rules.rs)"
            ));
            continue;
        };
        for dependency in &internal {
            if let Some(there) = rules::layer_of(dependency)
                && there >= here
            {
                report.layers.push(format!(
                    "{name} (layer {here}) depends on {dependency} (layer {there}): upward or sideways ({manifest})"
                ));
            }
        }
    }
}

fn check_dependencies(workspace: &Workspace, report: &mut Report) {
    for rule in FORBIDDEN.iter().filter(|r| r.cargo) {
        for package in workspace.packages.iter().filter(|p| p.name == rule.krate) {
            for dependency in package.shipped_dependencies() {
                if rules::matches(rule.crates.crates, &dependency.package) {
                    report.dependencies.push(format!(
                        "{} depends on {}, {} ({}): {}",
                        package.name,
                        rule.crates.name,
                        dependency.package,
                        shown(&package.manifest, &workspace.root),
                        rule.why
                    ));
                }
            }
        }
    }
}

/// A place that makes a module depend on another.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Evidence {
    site: Site,
    how: How,
    path: PathRef,
    via: Vec<String>,
}

/// Each module's dependencies on the other modules of its crate, with what
/// makes them.
fn dependencies(
    graph: &Graph,
    unit: usize,
    root: &Path,
) -> Vec<BTreeMap<usize, BTreeSet<Evidence>>> {
    let tree = &graph.units[unit].tree;
    let mut edges: Vec<BTreeMap<usize, BTreeSet<Evidence>>> =
        vec![BTreeMap::new(); tree.modules.len()];
    for (from, module) in tree.modules.iter().enumerate() {
        for reference in &module.refs {
            for resolution in graph.resolve_all((unit, from), &reference.path) {
                let Some(target) = resolution.named.module() else {
                    continue;
                };
                // A module's own modules are part of it, not dependencies.
                if target.0 != unit || tree.within(target.1, from) {
                    continue;
                }
                edges[from].entry(target.1).or_default().insert(Evidence {
                    site: reference.site.clone(),
                    how: reference.how,
                    path: reference.path.clone(),
                    via: via(graph, (unit, from), &resolution, root),
                });
            }
        }
    }
    edges
}

/// Every dependency between two modules of a crate, with the places that
/// make it: for planning a change of structure.
pub fn list_dependencies(graph: &Graph, root: &Path) -> String {
    let mut out = String::new();
    for (unit_id, unit) in graph.units.iter().enumerate() {
        let tree = &unit.tree;
        let name = |m: usize| module_name(&tree.modules[m].path);
        for (from, targets) in dependencies(graph, unit_id, root).iter().enumerate() {
            for (to, evidence) in targets {
                let _ = writeln!(out, "{}: {} -> {}", unit.label(), name(from), name(*to));
                for evidence in chosen(evidence) {
                    let _ = writeln!(out, "    {}", describe(evidence, root));
                }
            }
        }
    }
    out
}

fn check_cycles(graph: &Graph, unit: usize, root: &Path, report: &mut Report) {
    let tree = &graph.units[unit].tree;
    let count = tree.modules.len();
    let edges = dependencies(graph, unit, root);
    let name = |m: usize| module_name(&tree.modules[m].path);
    for component in strongly_connected(count, &edges) {
        let members: BTreeSet<usize> = component.iter().copied().collect();
        let mut names: Vec<String> = members.iter().map(|&m| name(m)).collect();
        names.sort();
        let mut text = format!(
            "{}: {} modules import each other in a cycle: {}\n",
            graph.units[unit].label(),
            members.len(),
            names.join(", ")
        );
        let start = *members
            .iter()
            .min_by_key(|&&m| name(m))
            .expect("a component has members");
        let cycle = shortest_cycle(start, &members, &edges);
        let shown_cycle: Vec<String> = cycle.iter().map(|&m| name(m)).collect();
        let _ = writeln!(text, "  a cycle: {}", shown_cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let evidence = &edges[pair[0]][&pair[1]];
            let first = chosen(evidence).next().expect("an edge has evidence");
            let _ = writeln!(
                text,
                "    {} -> {}: {}",
                name(pair[0]),
                name(pair[1]),
                describe(first, root)
            );
        }
        let mut inside: Vec<(usize, usize)> = Vec::new();
        for &from in &members {
            for &to in edges[from].keys() {
                if members.contains(&to) {
                    inside.push((from, to));
                }
            }
        }
        inside.sort_by_key(|&(from, to)| (name(from), name(to)));
        let _ = writeln!(
            text,
            "  every dependency between them ({} edges):",
            inside.len()
        );
        for (from, to) in inside {
            let _ = writeln!(text, "    {} -> {}", name(from), name(to));
            for evidence in chosen(&edges[from][&to]) {
                let _ = writeln!(text, "      {}", describe(evidence, root));
            }
        }
        report.cycles.push(text);
    }
}

/// The places to show for an edge: its `use`s, or, when it has none, its
/// paths in code.
fn chosen(evidence: &BTreeSet<Evidence>) -> impl Iterator<Item = &Evidence> {
    let any_use = evidence
        .iter()
        .any(|e| matches!(e.how, How::Use | How::Glob));
    evidence
        .iter()
        .filter(move |e| !any_use || matches!(e.how, How::Use | How::Glob))
}

fn describe(evidence: &Evidence, root: &Path) -> String {
    let mut text = format!(
        "{}:{}: {} `{}{}`",
        shown(&evidence.site.file, root),
        evidence.site.line,
        evidence.how.describe(),
        evidence.path,
        if evidence.how == How::Glob { "::*" } else { "" }
    );
    for hop in &evidence.via {
        let _ = write!(text, ", {hop}");
    }
    text
}

/// The re-exports a resolution followed outside the module it started in.
fn via(graph: &Graph, at: ModuleId, resolution: &Resolution, root: &Path) -> Vec<String> {
    resolution
        .hops
        .iter()
        .filter(|hop| hop.module != at)
        .map(|hop| {
            format!(
                "{} by {} {} `{}{}` ({}:{})",
                if hop.alias { "aliased" } else { "re-exported" },
                module_label(graph, hop.module),
                if hop.alias { "to" } else { "from" },
                hop.path,
                if hop.glob { "::*" } else { "" },
                shown(&hop.site.file, root),
                hop.site.line
            )
        })
        .collect()
}

/// Tarjan's strongly connected components with more than one module.
fn strongly_connected(
    count: usize,
    edges: &[BTreeMap<usize, BTreeSet<Evidence>>],
) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [BTreeMap<usize, BTreeSet<Evidence>>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s.edges[v].keys().copied().collect();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().expect("v is on the stack");
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.components.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..count {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.components
}

/// The shortest cycle from `start` back to it inside `members`, both ends
/// included.
fn shortest_cycle(
    start: usize,
    members: &BTreeSet<usize>,
    edges: &[BTreeMap<usize, BTreeSet<Evidence>>],
) -> Vec<usize> {
    let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in edges[v].keys() {
            if !members.contains(&w) {
                continue;
            }
            if w == start {
                let mut cycle = vec![start, v];
                let mut at = v;
                while at != start {
                    at = previous[&at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if let std::collections::btree_map::Entry::Vacant(entry) = previous.entry(w) {
                entry.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

fn check_imports(graph: &Graph, root: &Path, report: &mut Report) {
    for rule in FORBIDDEN {
        for (unit_id, unit) in graph.units.iter().enumerate() {
            if unit.package != rule.krate {
                continue;
            }
            let excepted: Vec<usize> = rule
                .except
                .iter()
                .filter_map(|path| {
                    let path: Vec<&str> = path.split("::").collect();
                    unit.tree.find(&path)
                })
                .collect();
            let mut places: BTreeSet<(Site, String)> = BTreeSet::new();
            for (module_id, module) in unit.tree.modules.iter().enumerate() {
                if excepted.iter().any(|&e| unit.tree.within(module_id, e)) {
                    continue;
                }
                let at = (unit_id, module_id);
                // Names bound by a forbidden `use`: their uses in code are
                // that import's, already reported.
                let mut reported: HashSet<&str> = HashSet::new();
                for reference in module
                    .refs
                    .iter()
                    .filter(|r| matches!(r.how, How::Use | How::Glob))
                {
                    if let Some(found) = forbidden(graph, rule, at, reference, root) {
                        places.insert(found);
                        if let Some(name) = &reference.binds {
                            reported.insert(name);
                        }
                    }
                }
                for reference in module.refs.iter().filter(|r| {
                    !matches!(r.how, How::Use | How::Glob)
                        && (r.path.global || r.path.segments.len() > 1)
                }) {
                    if reported.contains(reference.path.segments[0].as_str()) {
                        continue;
                    }
                    if let Some(found) = forbidden(graph, rule, at, reference, root) {
                        places.insert(found);
                    }
                }
            }
            if places.is_empty() {
                continue;
            }
            report.import_sites += places.len();
            let mut text = format!(
                "{} imports {} ({}) in {}: {}\n",
                unit.label(),
                rule.crates.name,
                rule.crates.crates.join(", "),
                count(places.len(), "place", "places"),
                rule.why
            );
            for (_, place) in places {
                let _ = writeln!(text, "  {place}");
            }
            report.imports.push(text);
        }
    }
}

/// If `reference` imports what `rule` forbids: its place, described.
fn forbidden(
    graph: &Graph,
    rule: &Forbidden,
    at: ModuleId,
    reference: &Ref,
    root: &Path,
) -> Option<(Site, String)> {
    let named = graph
        .extern_named(at, &reference.path)
        .filter(|krate| rules::matches(rule.crates.crates, krate));
    let reached = graph
        .resolve_all(at, &reference.path)
        .into_iter()
        .find_map(|resolution| {
            let krate = match &resolution.named {
                Named::Module(m) | Named::Item(m) | Named::Unseen(m) => {
                    graph.units[m.0].package.clone()
                }
                Named::External(package) => package.clone(),
                Named::Local => return None,
            };
            rules::matches(rule.crates.crates, &krate).then_some((krate, resolution))
        });
    if named.is_none() && reached.is_none() {
        return None;
    }
    let mut text = format!(
        "{}:{}: {} `{}{}`",
        shown(&reference.site.file, root),
        reference.site.line,
        reference.how.describe(),
        reference.path,
        if reference.how == How::Glob {
            "::*"
        } else {
            ""
        }
    );
    if let (None, Some((defined, resolution))) = (&named, &reached) {
        let _ = write!(text, " (defined in {defined}");
        for hop in via(graph, at, resolution, root) {
            let _ = write!(text, ", {hop}");
        }
        text.push(')');
    }
    Some((reference.site.clone(), text))
}

fn module_label(graph: &Graph, module: ModuleId) -> String {
    let unit = &graph.units[module.0];
    let path = &unit.tree.modules[module.1].path;
    if path.is_empty() {
        unit.target.clone()
    } else {
        format!("{}::{}", unit.target, path.join("::"))
    }
}

fn module_name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// A path as shown: relative to the workspace's root when inside it.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Every path that reaches a module of the workspace but names nothing the
/// reading saw in it (an item a macro makes, or a reading's mistake): what
/// the check counts at that module. For checking the check.
pub fn unseen(graph: &Graph, root: &Path) -> Vec<String> {
    let mut lines = BTreeSet::new();
    for (unit_id, unit) in graph.units.iter().enumerate() {
        for (module_id, module) in unit.tree.modules.iter().enumerate() {
            for reference in &module.refs {
                let resolution = graph.resolve((unit_id, module_id), &reference.path);
                if let Named::Unseen(at) = resolution.named {
                    lines.insert(format!(
                        "{}:{}: `{}` stops in {}",
                        shown(&reference.site.file, root),
                        reference.site.line,
                        reference.path,
                        module_label(graph, at)
                    ));
                }
            }
        }
    }
    lines.into_iter().collect()
}
