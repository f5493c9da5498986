//! What a path names, the way the compiler resolves it: from `crate`,
//! `self`, `super` (any depth), `$crate`, an extern crate, or a name in the
//! module's scope (its modules, items, imports and globs), and through
//! every re-export (`pub use`, glob re-exports, chains of them, across the
//! workspace's crates) to the module that defines what it names. A type
//! alias is counted at its module and, like a re-export, at what its type
//! names.

use std::collections::HashMap;

use crate::tree::{Import, PathRef, Site, Tree};
use crate::workspace::Workspace;

/// A crate of the workspace: a library or binary target of a package.
pub struct Unit {
    /// The package.
    pub package: String,
    /// The target's crate name.
    pub target: String,
    /// Whether it is the package's library.
    pub lib: bool,
    /// Its modules.
    pub tree: Tree,
    /// The extern crates it may name, by the name it uses.
    externs: HashMap<String, Extern>,
}

impl Unit {
    /// How the report names it: the package, and the binary if it is one.
    pub fn label(&self) -> String {
        if self.lib {
            self.package.clone()
        } else {
            format!("{} (binary `{}`)", self.package, self.target)
        }
    }
}

#[derive(Clone)]
enum Extern {
    /// A library of the workspace, by its unit.
    Workspace(usize),
    /// Any other crate, by its package name.
    Other(String),
}

/// A module of the workspace: its unit and its index there.
pub type ModuleId = (usize, usize);

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A module.
    Module(ModuleId),
    /// Something defined in a module (the rest of the path is inside it: a
    /// variant, an associated item).
    Item(ModuleId),
    /// Something in a module the reading cannot see (made by a macro): the
    /// module is the last one the path reached.
    Unseen(ModuleId),
    /// Something in a crate outside the workspace, by package name (or the
    /// name written, for `std` and its kin).
    External(String),
    /// A name in no scope the check knows: a local, a generic, the prelude.
    Local,
}

impl Named {
    /// The module the path depends on, if it names one of the workspace.
    pub fn module(&self) -> Option<ModuleId> {
        match self {
            Named::Module(m) | Named::Item(m) | Named::Unseen(m) => Some(*m),
            Named::External(_) | Named::Local => None,
        }
    }
}

/// A re-export followed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// The module whose import it is.
    pub module: ModuleId,
    /// What the import names.
    pub path: PathRef,
    /// Whether it is a glob (`path::*`).
    pub glob: bool,
    /// Whether it is a type alias's type (`type X = path;`), not an import.
    pub alias: bool,
    /// Where it is.
    pub site: Site,
}

/// A path resolved.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// What it names.
    pub named: Named,
    /// The imports (and type aliases) followed on the way, in order.
    pub hops: Vec<Hop>,
    /// When it names an item: the item's name in its module.
    item: Option<String>,
}

/// The workspace's crates, read.
pub struct Graph {
    /// Every library and binary target.
    pub units: Vec<Unit>,
}

impl Graph {
    /// Reads every crate of `workspace`.
    pub fn load(workspace: &Workspace) -> anyhow::Result<Graph> {
        let mut units = Vec::new();
        for package in &workspace.packages {
            for target in &package.targets {
                units.push(Unit {
                    package: package.name.clone(),
                    target: target.name.clone(),
                    lib: target.lib,
                    tree: Tree::load(&target.root)?,
                    externs: HashMap::new(),
                });
            }
        }
        let libs: HashMap<String, usize> = units
            .iter()
            .enumerate()
            .filter(|(_, unit)| unit.lib)
            .map(|(i, unit)| (unit.package.clone(), i))
            .collect();
        for unit in &mut units {
            let package = workspace
                .packages
                .iter()
                .find(|p| p.name == unit.package)
                .expect("a unit's package is in the workspace");
            // A library's code sees its normal dependencies; a binary's also
            // its own package's library.
            for dependency in package.shipped_dependencies() {
                let named = match libs.get(&dependency.package) {
                    Some(lib) => Extern::Workspace(*lib),
                    None => Extern::Other(dependency.package.clone()),
                };
                unit.externs.insert(dependency.extern_name.clone(), named);
            }
            if !unit.lib
                && let Some(lib) = libs.get(&unit.package)
                && let Some(target) = package.targets.iter().find(|t| t.lib)
            {
                unit.externs
                    .insert(target.name.clone(), Extern::Workspace(*lib));
            }
        }
        Ok(Graph { units })
    }

    /// The module with id `id`.
    pub fn module(&self, id: ModuleId) -> &crate::tree::Module {
        &self.units[id.0].tree.modules[id.1]
    }

    /// What `path`, used in module `at`, names.
    pub fn resolve(&self, at: ModuleId, path: &PathRef) -> Resolution {
        let mut resolver = Resolver {
            graph: self,
            busy: Vec::new(),
            hops: Vec::new(),
            item: None,
        };
        let named = resolver.path(at, path);
        let item = match named {
            Named::Item(_) => resolver.item.map(|(_, name)| name),
            Named::Module(_) | Named::Unseen(_) | Named::External(_) | Named::Local => None,
        };
        Resolution {
            named,
            hops: resolver.hops,
            item,
        }
    }

    /// What `path`, used in module `at`, depends on: what it names and, when
    /// that is a type alias, what the alias's type names (through aliases of
    /// aliases), each with the way there.
    pub fn resolve_all(&self, at: ModuleId, path: &PathRef) -> Vec<Resolution> {
        let mut all = vec![self.resolve(at, path)];
        let mut seen: Vec<(ModuleId, String)> = Vec::new();
        let mut next = 0;
        while next < all.len() {
            let resolution = all[next].clone();
            next += 1;
            let (Named::Item(module), Some(name)) = (&resolution.named, &resolution.item) else {
                continue;
            };
            let key = (*module, name.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            for aliased in self.module(*module).aliases.get(name).into_iter().flatten() {
                let mut hops = resolution.hops.clone();
                hops.push(Hop {
                    module: *module,
                    path: aliased.path.clone(),
                    glob: false,
                    alias: true,
                    site: aliased.site.clone(),
                });
                let inner = self.resolve(*module, &aliased.path);
                hops.extend(inner.hops);
                all.push(Resolution {
                    named: inner.named,
                    hops,
                    item: inner.item,
                });
            }
        }
        all
    }

    /// The extern crate a path's first segment names in module `at`, if it
    /// names one: `slipway_store` in `slipway_store::Store`, but not `http`
    /// in `http::router` where `http` is a module in scope.
    pub fn extern_named(&self, at: ModuleId, path: &PathRef) -> Option<String> {
        let first = path.segments.first()?;
        if !path.global {
            if matches!(
                first.as_str(),
                "crate" | "$crate" | "self" | "super" | "Self"
            ) {
                return None;
            }
            let mut resolver = Resolver {
                graph: self,
                busy: Vec::new(),
                hops: Vec::new(),
                item: None,
            };
            if resolver.member(at, first).is_some() {
                return None;
            }
        }
        Some(match self.units[at.0].externs.get(first) {
            Some(Extern::Workspace(unit)) => self.units[*unit].package.clone(),
            Some(Extern::Other(package)) => package.clone(),
            None => first.clone(),
        })
    }
}

struct Resolver<'g> {
    graph: &'g Graph,
    /// The names being looked up (module, name): an import that leads back
    /// to itself (`use serde;`, globs importing each other) stops there.
    busy: Vec<(ModuleId, String)>,
    hops: Vec<Hop>,
    /// The item last found: when the answer is an item, it is that one.
    item: Option<(ModuleId, String)>,
}

impl Resolver<'_> {
    fn path(&mut self, at: ModuleId, path: &PathRef) -> Named {
        let Some(first) = path.segments.first() else {
            return Named::Module(at);
        };
        let mut current = if path.global {
            match self.extern_crate(at.0, first) {
                Some(Named::Module(root)) => root,
                Some(other) => return other,
                None => return Named::External(first.clone()),
            }
        } else {
            match first.as_str() {
                "crate" | "$crate" => (at.0, 0),
                "self" => at,
                "super" => self.parent(at),
                "Self" => return Named::Local,
                name => match self.member(at, name) {
                    Some(Named::Module(module)) => module,
                    Some(other) => return other,
                    None => match self.extern_crate(at.0, name) {
                        Some(Named::Module(root)) => root,
                        Some(other) => return other,
                        None => return Named::Local,
                    },
                },
            }
        };
        for segment in &path.segments[1..] {
            match segment.as_str() {
                "super" => current = self.parent(current),
                "self" => {}
                name => match self.member(current, name) {
                    Some(Named::Module(module)) => current = module,
                    Some(other) => return other,
                    None => return Named::Unseen(current),
                },
            }
        }
        Named::Module(current)
    }

    fn parent(&self, module: ModuleId) -> ModuleId {
        let parent = self.graph.module(module).parent.unwrap_or(module.1);
        (module.0, parent)
    }

    /// The extern crate `name` in unit `unit`.
    fn extern_crate(&self, unit: usize, name: &str) -> Option<Named> {
        match self.graph.units[unit].externs.get(name) {
            Some(Extern::Workspace(lib)) => Some(Named::Module((*lib, 0))),
            Some(Extern::Other(package)) => Some(Named::External(package.clone())),
            None if matches!(name, "std" | "core" | "alloc" | "proc_macro") => {
                Some(Named::External(name.to_owned()))
            }
            None => None,
        }
    }

    /// What `name` is in module `module`: a module it declares, an item it
    /// defines, a name it imports, or a name one of its globs brings.
    fn member(&mut self, module: ModuleId, name: &str) -> Option<Named> {
        let graph = self.graph;
        let m = graph.module(module);
        if let Some(child) = m.children.get(name) {
            return Some(Named::Module((module.0, *child)));
        }
        if m.items.contains(name) {
            self.item = Some((module, name.to_owned()));
            return Some(Named::Item(module));
        }
        let key = (module, name.to_owned());
        if self.busy.contains(&key) {
            return None;
        }
        self.busy.push(key);
        let found = self.imported(module, name);
        self.busy.pop();
        found
    }

    fn imported(&mut self, module: ModuleId, name: &str) -> Option<Named> {
        let graph = self.graph;
        let m = graph.module(module);
        for import in m.imports.get(name).into_iter().flatten() {
            let mark = self.hop(module, import, false);
            let named = self.path(module, &import.path);
            if named != Named::Local {
                return Some(named);
            }
            self.hops.truncate(mark);
        }
        for glob in &m.globs {
            let mark = self.hop(module, glob, true);
            if let Named::Module(source) = self.path(module, &glob.path)
                && let Some(named) = self.member(source, name)
            {
                return Some(named);
            }
            self.hops.truncate(mark);
        }
        None
    }

    fn hop(&mut self, module: ModuleId, import: &Import, glob: bool) -> usize {
        let mark = self.hops.len();
        self.hops.push(Hop {
            module,
            path: import.path.clone(),
            glob,
            alias: false,
            site: import.site.clone(),
        });
        mark
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Dependency, Package, Target};

    /// A graph of one library crate `slipway_core` made of `files`, which
    /// depends on the library `dep` (a second crate, made of `dep_files`).
    fn graph(files: &[(&str, &str)], dep_files: &[(&str, &str)]) -> (tempfile::TempDir, Graph) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let write = |root: &str, files: &[(&str, &str)]| {
            for (path, text) in files {
                let path = dir.path().join(root).join(path);
                std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
                std::fs::write(path, text).expect("write");
            }
        };
        write("core", files);
        write("dep", dep_files);
        if dep_files.is_empty() {
            write("dep", &[("lib.rs", "")]);
        }
        let package = |name: &str, root: &str, dependencies| Package {
            name: name.to_owned(),
            manifest: dir.path().join(root).join("Cargo.toml"),
            dependencies,
            targets: vec![Target {
                name: name.replace('-', "_"),
                lib: true,
                root: dir.path().join(root).join("lib.rs"),
            }],
        };
        let workspace = Workspace {
            root: dir.path().to_path_buf(),
            packages: vec![
                package(
                    "slipway-core",
                    "core",
                    vec![Dependency {
                        package: "dep".to_owned(),
                        extern_name: "dep".to_owned(),
                        dev: false,
                    }],
                ),
                package("dep", "dep", Vec::new()),
            ],
        };
        let graph = Graph::load(&workspace).expect("the crates are read");
        (dir, graph)
    }

    fn path(text: &str) -> PathRef {
        PathRef {
            global: false,
            segments: text.split("::").map(str::to_owned).collect(),
        }
    }

    fn module(graph: &Graph, unit: usize, path: &[&str]) -> ModuleId {
        (unit, graph.units[unit].tree.find(path).expect("the module"))
    }

    #[test]
    fn re_exports_lead_to_the_defining_module() {
        let (_dir, graph) = graph(
            &[
                (
                    "lib.rs",
                    "mod a; mod b; mod c; pub use a::Facade as Thing; pub use c::*;",
                ),
                // `a` re-exports from `b`, which re-exports from `b::inner`.
                ("a.rs", "pub use crate::b::Facade;"),
                (
                    "b.rs",
                    "mod inner { pub struct Real; } pub use inner::Real as Facade;",
                ),
                (
                    "c.rs",
                    "pub use super::super_glob::*; pub mod deep { pub fn f() {} }",
                ),
            ],
            &[],
        );
        let root = (0, 0);
        let inner = module(&graph, 0, &["b", "inner"]);
        assert_eq!(
            graph.resolve(root, &path("crate::Thing")).named,
            Named::Item(inner)
        );
        let resolution = graph.resolve(module(&graph, 0, &["a"]), &path("super::Thing::new"));
        assert_eq!(resolution.named, Named::Item(inner));
        assert_eq!(resolution.hops.len(), 3, "{:?}", resolution.hops);
        // Through a glob re-export, to a module.
        let deep = module(&graph, 0, &["c", "deep"]);
        assert_eq!(
            graph.resolve(root, &path("crate::deep::f")).named,
            Named::Item(deep)
        );
        // What no reading sees (a macro's item) counts at the last module.
        let c = module(&graph, 0, &["c"]);
        assert_eq!(
            graph.resolve(root, &path("crate::c::Made")).named,
            Named::Unseen(c)
        );
    }

    #[test]
    fn a_type_alias_depends_on_what_its_type_names() {
        let (_dir, graph) = graph(
            &[
                (
                    "lib.rs",
                    "mod a; mod b; pub type Error = b::Real; pub type Result<T> = std::result::Result<T, Error>;",
                ),
                ("a.rs", "fn f() -> crate::Result<()> { Ok(()) }"),
                ("b.rs", "pub struct Real;"),
            ],
            &[],
        );
        let a = module(&graph, 0, &["a"]);
        let b = module(&graph, 0, &["b"]);
        let named: Vec<Named> = graph
            .resolve_all(a, &path("crate::Result"))
            .into_iter()
            .map(|r| r.named)
            .collect();
        // The alias's module, what its type names, and through `Error` (an
        // alias too) the module that defines the error.
        assert!(named.contains(&Named::Item((0, 0))), "{named:?}");
        assert!(
            named.contains(&Named::External("std".to_owned())),
            "{named:?}"
        );
        assert!(named.contains(&Named::Item(b)), "{named:?}");
    }

    #[test]
    fn imports_that_lead_back_to_themselves_end() {
        let (_dir, graph) = graph(
            &[
                ("lib.rs", "mod a; mod b; pub use a::*; use dep;"),
                ("a.rs", "pub use super::*;"),
                ("b.rs", ""),
            ],
            &[("lib.rs", "pub struct D;")],
        );
        let a = module(&graph, 0, &["a"]);
        assert_eq!(
            graph.resolve(a, &path("super::Nothing")).named,
            Named::Unseen((0, 0))
        );
        // `use dep;` names the extern crate, a library of the workspace.
        assert_eq!(
            graph.resolve((0, 0), &path("dep::D")).named,
            Named::Item((1, 0))
        );
        assert_eq!(
            graph.extern_named((0, 0), &path("dep::D")).as_deref(),
            None,
            "`dep` is a name the root imports"
        );
        // In `a` too, through its glob of the root; in `b`, it is the crate.
        assert_eq!(graph.extern_named(a, &path("dep::D")).as_deref(), None);
        let b = module(&graph, 0, &["b"]);
        assert_eq!(
            graph.extern_named(b, &path("dep::D")).as_deref(),
            Some("dep")
        );
    }

    #[test]
    fn names_in_scope_come_before_extern_crates() {
        let (_dir, graph) = graph(
            &[
                ("lib.rs", "mod http; mod user;"),
                ("http.rs", "pub fn router() {}"),
                ("user.rs", "use crate::http; fn f() { http::router(); }"),
            ],
            &[],
        );
        let user = module(&graph, 0, &["user"]);
        let http = module(&graph, 0, &["http"]);
        assert_eq!(
            graph.resolve(user, &path("http::router")).named,
            Named::Item(http)
        );
        assert_eq!(graph.extern_named(user, &path("http::router")), None);
        // In the root, `http` is its module too; elsewhere, a crate.
        assert_eq!(
            graph.resolve(http, &path("http::StatusCode")).named,
            Named::Local
        );
        assert_eq!(
            graph
                .extern_named(http, &path("http::StatusCode"))
                .as_deref(),
            Some("http")
        );
        assert_eq!(
            graph.resolve(user, &path("std::fmt::Debug")).named,
            Named::External("std".to_owned())
        );
    }
}
