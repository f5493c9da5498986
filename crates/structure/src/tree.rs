//! A crate's module tree, read from its root file the way the compiler
//! finds modules, with every name each module defines or imports and every
//! path its code uses.
//!
//! - `mod x;` is `x.rs` or `x/mod.rs` beside a root or `mod.rs` file, and in
//!   `a/` for a file `a.rs`; `mod x { … }` is inline; `#[path = "…"]` is
//!   honoured (relative to the declaring file's directory, or the inline
//!   module's; a file so loaded finds its own modules in its directory);
//!   `include!("x.rs")` in item position makes that file's items the
//!   module's.
//! - Whatever is `#[cfg(test)]` (a module, a `#![cfg(test)]` file, an item,
//!   an impl's item) is left out: unit tests are not part of the structure.
//! - The paths used: every leaf of every `use` tree (grouped, nested,
//!   `self`, renames, globs), every path in code (expressions, types,
//!   patterns, bounds, attributes) through `syn::visit`, the paths with `::`
//!   inside macro invocations and `macro_rules!` bodies (`$crate::…`
//!   included), and paths written as strings in attributes
//!   (`#[serde(with = "crate::duration::time_delta")]`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{Attribute, Ident, ImplItem, Item, Meta, TraitItem, UseTree};

/// A place in a source file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
}

/// A path as written: `crate::a::B`, `super::super::x`, `::std::fmt`,
/// `$crate::a` (in a macro), `x::y`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathRef {
    /// Whether it starts with `::` (an extern crate).
    pub global: bool,
    /// Its segments, without generic arguments or `r#`.
    pub segments: Vec<String>,
}

impl fmt::Display for PathRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.global {
            f.write_str("::")?;
        }
        f.write_str(&self.segments.join("::"))
    }
}

/// How a path came to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum How {
    /// A leaf of a `use` tree.
    Use,
    /// A glob of a `use` tree (`use a::*`): the path is the module's.
    Glob,
    /// A path in code, or an attribute's path.
    Code,
    /// A path inside a macro's tokens.
    Macro,
    /// A path in an attribute's arguments, or written there as a string.
    Attribute,
}

impl How {
    /// What the report calls it.
    pub fn describe(self) -> &'static str {
        match self {
            How::Use | How::Glob => "use",
            How::Code => "path in code",
            How::Macro => "path in a macro",
            How::Attribute => "path in an attribute",
        }
    }
}

/// A path a module uses.
#[derive(Debug, Clone)]
pub struct Ref {
    /// The path.
    pub path: PathRef,
    /// Where.
    pub site: Site,
    /// How.
    pub how: How,
    /// The name a `use` binds with it (`None` for `as _`, globs and paths
    /// in code).
    pub binds: Option<String>,
}

/// An import: a name bound by `use` (or `extern crate`), or a glob.
#[derive(Debug, Clone)]
pub struct Import {
    /// What it imports.
    pub path: PathRef,
    /// Where.
    pub site: Site,
}

/// A module.
#[derive(Debug)]
pub struct Module {
    /// Its path inside the crate (empty for the root).
    pub path: Vec<String>,
    /// The module declaring it.
    pub parent: Option<usize>,
    /// The modules it declares.
    pub children: BTreeMap<String, usize>,
    /// The names it defines (types, functions, constants, traits, macros…).
    pub items: BTreeSet<String>,
    /// The names it imports, each with what it imports (a name may be
    /// imported once per namespace).
    pub imports: BTreeMap<String, Vec<Import>>,
    /// Its glob imports.
    pub globs: Vec<Import>,
    /// Its type aliases (`type X = a::Y<b::Z>;`), each with the paths its
    /// type names: a use of the alias depends on them too, as on a
    /// re-export's source.
    pub aliases: BTreeMap<String, Vec<Ref>>,
    /// Every path it uses.
    pub refs: Vec<Ref>,
}

/// A crate's modules; the root is the first.
#[derive(Debug)]
pub struct Tree {
    /// The modules.
    pub modules: Vec<Module>,
}

impl Tree {
    /// Reads the tree of the crate whose root file is `root`.
    pub fn load(root: &Path) -> Result<Tree> {
        let mut tree = Tree {
            modules: Vec::new(),
        };
        let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
        tree.load_file(None, None, root, &dir)?;
        if tree.modules.is_empty() {
            bail!("{}: the crate's root is for tests only", root.display());
        }
        Ok(tree)
    }

    /// Whether `module` is `ancestor` or inside it.
    pub fn within(&self, module: usize, ancestor: usize) -> bool {
        let mut at = Some(module);
        while let Some(m) = at {
            if m == ancestor {
                return true;
            }
            at = self.modules[m].parent;
        }
        false
    }

    /// The module at `path`, if any.
    pub fn find(&self, path: &[&str]) -> Option<usize> {
        let mut at = 0;
        for name in path {
            at = *self.modules[at].children.get(*name)?;
        }
        Some(at)
    }

    fn add(&mut self, parent: Option<usize>, name: Option<String>) -> usize {
        let id = self.modules.len();
        let mut path = parent
            .map(|p| self.modules[p].path.clone())
            .unwrap_or_default();
        if let (Some(parent), Some(name)) = (parent, name) {
            path.push(name.clone());
            self.modules[parent].children.insert(name, id);
        }
        self.modules.push(Module {
            path,
            parent,
            children: BTreeMap::new(),
            items: BTreeSet::new(),
            imports: BTreeMap::new(),
            globs: Vec::new(),
            aliases: BTreeMap::new(),
            refs: Vec::new(),
        });
        id
    }

    /// Reads a module's file; `dir` is where its own `mod x;` files are.
    fn load_file(
        &mut self,
        parent: Option<usize>,
        name: Option<String>,
        file: &Path,
        dir: &Path,
    ) -> Result<()> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let ast = parse(&text, file)?;
        if test_only(&ast.attrs) {
            return Ok(());
        }
        let id = self.add(parent, name);
        let mut collector = Collector::new(file);
        for attr in &ast.attrs {
            collector.visit_attribute(attr);
        }
        self.modules[id].refs.append(&mut collector.refs);
        self.collect(id, &ast.items, file, dir, false)
    }

    fn collect(
        &mut self,
        id: usize,
        items: &[Item],
        file: &Path,
        dir: &Path,
        inline: bool,
    ) -> Result<()> {
        for item in items {
            if test_only(item_attrs(item)) {
                continue;
            }
            let mut collector = Collector::new(file);
            match item {
                Item::Mod(module) => {
                    let name = unraw(&module.ident);
                    let path_attr = path_attribute(&module.attrs)?;
                    match &module.content {
                        Some((_, inner)) => {
                            let child = self.add(Some(id), Some(name.clone()));
                            let child_dir = dir.join(path_attr.as_deref().unwrap_or(&name));
                            self.collect(child, inner, file, &child_dir, true)?;
                        }
                        None => {
                            let (child_file, child_dir) = match path_attr {
                                Some(path) => {
                                    let base = if inline {
                                        dir.to_path_buf()
                                    } else {
                                        file.parent().unwrap_or(Path::new(".")).to_path_buf()
                                    };
                                    let child_file = base.join(path);
                                    let child_dir =
                                        child_file.parent().unwrap_or(Path::new(".")).to_path_buf();
                                    (child_file, child_dir)
                                }
                                None => {
                                    let flat = dir.join(format!("{name}.rs"));
                                    let nested = dir.join(&name).join("mod.rs");
                                    let child_file = if flat.is_file() {
                                        flat
                                    } else if nested.is_file() {
                                        nested
                                    } else {
                                        bail!(
                                            "{}:{}: no file for `mod {name};` ({} or {})",
                                            file.display(),
                                            line(module.ident.span()),
                                            flat.display(),
                                            nested.display()
                                        );
                                    };
                                    (child_file, dir.join(&name))
                                }
                            };
                            self.load_file(Some(id), Some(name), &child_file, &child_dir)?;
                        }
                    }
                    continue;
                }
                Item::Use(item) => {
                    let mut leaves = Vec::new();
                    use_leaves(&item.tree, &mut Vec::new(), &mut leaves);
                    for leaf in leaves {
                        let path = PathRef {
                            global: item.leading_colon.is_some(),
                            segments: leaf.segments,
                        };
                        let site = Site {
                            file: file.to_path_buf(),
                            line: leaf.line,
                        };
                        let module = &mut self.modules[id];
                        let import = Import {
                            path: path.clone(),
                            site: site.clone(),
                        };
                        if leaf.glob {
                            module.globs.push(import);
                        } else if let Some(name) = &leaf.binds {
                            module.imports.entry(name.clone()).or_default().push(import);
                        }
                        module.refs.push(Ref {
                            path,
                            site,
                            how: if leaf.glob { How::Glob } else { How::Use },
                            binds: leaf.binds,
                        });
                    }
                }
                Item::ExternCrate(item) => {
                    let krate = unraw(&item.ident);
                    if krate != "self" {
                        let name = match &item.rename {
                            Some((_, rename)) => unraw(rename),
                            None => krate.clone(),
                        };
                        let path = PathRef {
                            global: true,
                            segments: vec![krate],
                        };
                        let site = Site {
                            file: file.to_path_buf(),
                            line: line(item.ident.span()),
                        };
                        let module = &mut self.modules[id];
                        module
                            .imports
                            .entry(name.clone())
                            .or_default()
                            .push(Import {
                                path: path.clone(),
                                site: site.clone(),
                            });
                        module.refs.push(Ref {
                            path,
                            site,
                            how: How::Use,
                            binds: Some(name),
                        });
                    }
                }
                Item::Macro(item) => {
                    if let Some(ident) = &item.ident {
                        self.modules[id].items.insert(unraw(ident));
                    }
                    // `include!("x.rs");` makes the file's items the module's.
                    if item.mac.path.is_ident("include")
                        && let Ok(included) = item.mac.parse_body::<syn::LitStr>()
                    {
                        let path = file
                            .parent()
                            .unwrap_or(Path::new("."))
                            .join(included.value());
                        let text = std::fs::read_to_string(&path).with_context(|| {
                            format!(
                                "{}:{}: reading {}",
                                file.display(),
                                line(included.span()),
                                path.display()
                            )
                        })?;
                        let ast = parse(&text, &path)?;
                        self.collect(id, &ast.items, &path, dir, inline)?;
                    }
                    visit::visit_item_macro(&mut collector, item);
                }
                Item::Type(alias) => {
                    let mut named = Collector::new(file);
                    named.visit_type(&alias.ty);
                    let name = unraw(&alias.ident);
                    let module = &mut self.modules[id];
                    module.items.insert(name.clone());
                    module.aliases.insert(name, named.refs);
                    visit::visit_item_type(&mut collector, alias);
                }
                other => {
                    if let Some(ident) = item_name(other) {
                        self.modules[id].items.insert(unraw(ident));
                    }
                    visit::visit_item(&mut collector, other);
                }
            }
            self.modules[id].refs.append(&mut collector.refs);
        }
        Ok(())
    }
}

/// Parses a file of Rust.
fn parse(text: &str, file: &Path) -> Result<syn::File> {
    syn::parse_file(text).map_err(|e| {
        let at = e.span().start();
        anyhow::anyhow!("{}:{}:{}: {e}", file.display(), at.line, at.column + 1)
    })
}

/// One leaf of a `use` tree.
struct Leaf {
    segments: Vec<String>,
    binds: Option<String>,
    glob: bool,
    line: usize,
}

/// The leaves of a `use` tree, each with its whole path.
fn use_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<Leaf>) {
    match tree {
        UseTree::Path(path) => {
            prefix.push(unraw(&path.ident));
            use_leaves(&path.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(name) => {
            let (segments, binds) = leaf(prefix, &name.ident);
            out.push(Leaf {
                binds,
                segments,
                glob: false,
                line: line(name.ident.span()),
            });
        }
        UseTree::Rename(rename) => {
            let (segments, _) = leaf(prefix, &rename.ident);
            let binds = Some(unraw(&rename.rename)).filter(|name| name != "_");
            out.push(Leaf {
                segments,
                binds,
                glob: false,
                line: line(rename.ident.span()),
            });
        }
        UseTree::Glob(glob) => out.push(Leaf {
            segments: prefix.clone(),
            binds: None,
            glob: true,
            line: line(glob.star_token.span),
        }),
        UseTree::Group(group) => {
            for tree in &group.items {
                use_leaves(tree, prefix, out);
            }
        }
    }
}

/// A leaf's path and the name it binds: `a::b::{self}` binds `b` to `a::b`.
fn leaf(prefix: &[String], ident: &Ident) -> (Vec<String>, Option<String>) {
    let name = unraw(ident);
    if name == "self" {
        (prefix.to_vec(), prefix.last().cloned())
    } else {
        let mut segments = prefix.to_vec();
        segments.push(name.clone());
        (segments, Some(name))
    }
}

/// Collects the paths used in code.
struct Collector<'a> {
    file: &'a Path,
    refs: Vec<Ref>,
}

impl<'a> Collector<'a> {
    fn new(file: &'a Path) -> Self {
        Collector {
            file,
            refs: Vec::new(),
        }
    }

    fn push(&mut self, path: PathRef, line: usize, how: How) {
        self.refs.push(Ref {
            path,
            site: Site {
                file: self.file.to_path_buf(),
                line,
            },
            how,
            binds: None,
        });
    }

    /// The paths with `::` in a macro's or an attribute's tokens (and, in an
    /// attribute, in its string literals).
    fn scan(&mut self, tokens: TokenStream, how: How) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    if group.delimiter() != Delimiter::None || !group.stream().is_empty() {
                        self.scan(group.stream(), how);
                    }
                    i += 1;
                }
                TokenTree::Literal(literal) => {
                    if how == How::Attribute {
                        self.string_path(literal);
                    }
                    i += 1;
                }
                TokenTree::Ident(ident) => {
                    let after_dollar = i > 0 && is_punct(&tokens[i - 1], '$');
                    let after_quote = i > 0 && is_punct(&tokens[i - 1], '\'');
                    let (mut segments, next) = path_at(&tokens, i);
                    if after_dollar {
                        if ident == "crate" {
                            segments[0] = "$crate".to_owned();
                        } else {
                            // A metavariable (`$x::y`): not a path of this module.
                            segments.clear();
                        }
                    }
                    if segments.len() > 1 && !after_quote {
                        self.push(
                            PathRef {
                                global: false,
                                segments,
                            },
                            line(ident.span()),
                            how,
                        );
                    }
                    i = next;
                }
                TokenTree::Punct(_) => {
                    let after_ident = i > 0 && matches!(tokens[i - 1], TokenTree::Ident(_));
                    if !after_ident
                        && is_path_sep(&tokens, i)
                        && let Some(TokenTree::Ident(ident)) = tokens.get(i + 2)
                    {
                        let (segments, next) = path_at(&tokens, i + 2);
                        self.push(
                            PathRef {
                                global: true,
                                segments,
                            },
                            line(ident.span()),
                            how,
                        );
                        i = next;
                    } else {
                        i += 1;
                    }
                }
            }
        }
    }

    /// A string literal that is a path of two segments or more.
    fn string_path(&mut self, literal: &proc_macro2::Literal) {
        let Ok(string) = syn::parse2::<syn::LitStr>(TokenTree::Literal(literal.clone()).into())
        else {
            return;
        };
        if let Ok(path) = syn::parse_str::<syn::Path>(&string.value())
            && path.segments.len() > 1
        {
            self.push(
                PathRef {
                    global: path.leading_colon.is_some(),
                    segments: path.segments.iter().map(|s| unraw(&s.ident)).collect(),
                },
                line(literal.span()),
                How::Attribute,
            );
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        if test_only(item_attrs(item)) {
            return;
        }
        match item {
            // A module inside a function body is not part of the tree.
            Item::Mod(_) => {}
            // A `use` inside a block: its paths count, its names are local.
            Item::Use(item) => {
                let mut leaves = Vec::new();
                use_leaves(&item.tree, &mut Vec::new(), &mut leaves);
                for leaf in leaves {
                    self.push(
                        PathRef {
                            global: item.leading_colon.is_some(),
                            segments: leaf.segments,
                        },
                        leaf.line,
                        if leaf.glob { How::Glob } else { How::Use },
                    );
                }
            }
            other => visit::visit_item(self, other),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        let attrs = match item {
            ImplItem::Const(i) => &i.attrs,
            ImplItem::Fn(i) => &i.attrs,
            ImplItem::Type(i) => &i.attrs,
            ImplItem::Macro(i) => &i.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        let attrs = match item {
            TraitItem::Const(i) => &i.attrs,
            TraitItem::Fn(i) => &i.attrs,
            TraitItem::Type(i) => &i.attrs,
            TraitItem::Macro(i) => &i.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        if !test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    // `pub(crate)`, `pub(super)`, `pub(in a::b)` restrict who sees an
    // item; they use nothing.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            self.push(
                PathRef {
                    global: path.leading_colon.is_some(),
                    segments: path.segments.iter().map(|s| unraw(&s.ident)).collect(),
                },
                line(first.ident.span()),
                How::Code,
            );
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.scan(mac.tokens.clone(), How::Macro);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        // Documentation mentions paths; it does not use them.
        if attr.path().is_ident("doc") {
            return;
        }
        visit::visit_attribute(self, attr);
        match &attr.meta {
            Meta::List(list) => self.scan(list.tokens.clone(), How::Attribute),
            Meta::NameValue(pair) => {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(string),
                    ..
                }) = &pair.value
                {
                    self.string_path(&string.token());
                }
            }
            Meta::Path(_) => {}
        }
    }
}

/// The path starting at `tokens[i]` (an identifier): its segments and the
/// index after it.
fn path_at(tokens: &[TokenTree], i: usize) -> (Vec<String>, usize) {
    let TokenTree::Ident(first) = &tokens[i] else {
        return (Vec::new(), i + 1);
    };
    let mut segments = vec![first.unraw().to_string()];
    let mut at = i + 1;
    while is_path_sep(tokens, at) {
        match tokens.get(at + 2) {
            Some(TokenTree::Ident(next)) => {
                segments.push(next.unraw().to_string());
                at += 3;
            }
            _ => break,
        }
    }
    (segments, at)
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

fn is_punct(token: &TokenTree, c: char) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == c)
}

/// Whether attributes make what they are on exist only in unit tests:
/// `#[cfg(test)]`, or `#[cfg(all(…, test, …))]`.
pub fn test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<Meta>()
                .is_ok_and(|meta| cfg_requires_test(&meta))
    })
}

fn cfg_requires_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(path) => path.is_ident("test"),
        Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated)
            .is_ok_and(|all| all.iter().any(cfg_requires_test)),
        Meta::List(_) | Meta::NameValue(_) => false,
    }
}

/// The `#[path = "…"]` of a module, if any.
fn path_attribute(attrs: &[Attribute]) -> Result<Option<String>> {
    for attr in attrs {
        if attr.path().is_ident("path") {
            let Meta::NameValue(pair) = &attr.meta else {
                bail!("a `#[path]` attribute without a value");
            };
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(string),
                ..
            }) = &pair.value
            {
                return Ok(Some(string.value()));
            }
        }
    }
    Ok(None)
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &Item) -> Option<&Ident> {
    match item {
        Item::Const(i) => Some(&i.ident),
        Item::Enum(i) => Some(&i.ident),
        Item::Fn(i) => Some(&i.sig.ident),
        Item::Static(i) => Some(&i.ident),
        Item::Struct(i) => Some(&i.ident),
        Item::Trait(i) => Some(&i.ident),
        Item::TraitAlias(i) => Some(&i.ident),
        Item::Type(i) => Some(&i.ident),
        Item::Union(i) => Some(&i.ident),
        _ => None,
    }
}

fn unraw(ident: &Ident) -> String {
    ident.unraw().to_string()
}

fn line(span: Span) -> usize {
    span.start().line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(source: &str) -> Vec<(String, Option<String>, bool)> {
        let item: syn::ItemUse = syn::parse_str(source).expect("a use item");
        let mut out = Vec::new();
        use_leaves(&item.tree, &mut Vec::new(), &mut out);
        out.into_iter()
            .map(|l| (l.segments.join("::"), l.binds, l.glob))
            .collect()
    }

    fn refs(source: &str) -> Vec<(String, How)> {
        let file = syn::parse_file(source).expect("Rust");
        let mut collector = Collector::new(Path::new("x.rs"));
        for item in &file.items {
            collector.visit_item(item);
        }
        collector
            .refs
            .into_iter()
            .map(|r| (r.path.to_string(), r.how))
            .collect()
    }

    fn own(path: &str, binds: Option<&str>, glob: bool) -> (String, Option<String>, bool) {
        (path.to_owned(), binds.map(str::to_owned), glob)
    }

    #[test]
    fn the_tree_is_read_as_the_compiler_reads_it() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let files = [
            (
                "lib.rs",
                "mod a; mod b; #[path = \"elsewhere/c.rs\"] mod c; #[cfg(test)] mod t;",
            ),
            ("a.rs", "mod inner { mod deeper; }"),
            ("a/inner/deeper.rs", "use crate::b::X;"),
            ("b/mod.rs", "mod leaf; pub struct X;"),
            ("b/leaf.rs", "include!(\"made.rs\");"),
            ("b/made.rs", "pub fn made() { crate::c::f(); }"),
            ("elsewhere/c.rs", "mod d; pub fn f() {}"),
            ("elsewhere/d.rs", ""),
        ];
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let tree = Tree::load(&dir.path().join("lib.rs")).expect("the tree");
        let mut paths: Vec<String> = tree.modules.iter().map(|m| m.path.join("::")).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "",
                "a",
                "a::inner",
                "a::inner::deeper",
                "b",
                "b::leaf",
                "c",
                "c::d"
            ]
        );
        let leaf = &tree.modules[tree.find(&["b", "leaf"]).expect("b::leaf")];
        assert!(leaf.items.contains("made"));
        assert!(
            leaf.refs
                .iter()
                .any(|r| r.path.to_string() == "crate::c::f")
        );
        let missing = dir.path().join("elsewhere/d.rs");
        std::fs::remove_file(missing).expect("rm");
        let error = Tree::load(&dir.path().join("lib.rs")).expect_err("a module is missing");
        assert!(
            error.to_string().contains("no file for `mod d;`"),
            "{error}"
        );
    }

    #[test]
    fn use_trees_expand_to_every_leaf() {
        assert_eq!(
            leaves("use super::{a, b::{self, C as D, e::*}, _f as _, r#type};"),
            vec![
                own("super::a", Some("a"), false),
                own("super::b", Some("b"), false),
                own("super::b::C", Some("D"), false),
                own("super::b::e", None, true),
                own("super::_f", None, false),
                own("super::type", Some("type"), false),
            ]
        );
        assert_eq!(
            leaves("use crate::{x::{y::{Z}}};"),
            vec![own("crate::x::y::Z", Some("Z"), false)]
        );
    }

    #[test]
    fn unit_tests_are_left_out() {
        let attrs = |source: &str| syn::parse_str::<syn::ItemFn>(source).expect("a fn").attrs;
        assert!(test_only(&attrs("#[cfg(test)] fn f() {}")));
        assert!(test_only(&attrs("#[cfg(all(unix, test))] fn f() {}")));
        assert!(!test_only(&attrs("#[cfg(not(test))] fn f() {}")));
        assert!(!test_only(&attrs("#[cfg(any(test, unix))] fn f() {}")));
        assert!(!test_only(&attrs("#[inline] fn f() {}")));
        let found = refs(
            "impl S { #[cfg(test)] fn t() { crate::t::x(); } fn f() { crate::f::x(); } }
             #[cfg(test)] fn g() { crate::g::x(); }",
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"crate::f::x"), "{paths:?}");
        assert!(!paths.contains(&"crate::t::x"), "{paths:?}");
        assert!(!paths.contains(&"crate::g::x"), "{paths:?}");
    }

    #[test]
    fn paths_in_code_macros_and_attributes_are_found() {
        let found = refs(
            r#"
            #[derive(serde::Serialize)]
            struct S {
                #[serde(with = "crate::duration::time_delta")]
                d: crate::a::Delta,
            }
            pub(crate) fn f(x: <T as super::b::Tr>::Out) -> ::std::fmt::Result {
                use self::c::{D, E};
                println!("{}", crate::m::shown(x), "crate::not::a::path");
                matches!(x, crate::n::K::V);
                Ok(())
            }
            macro_rules! m { ($x:ident) => { $crate::r::made!($x); $x::not_mine(); 'a: loop {} } }
            "#,
        );
        let has = |path: &str, how: How| found.contains(&(path.to_owned(), how));
        assert!(has("serde::Serialize", How::Attribute), "{found:?}");
        assert!(
            has("crate::duration::time_delta", How::Attribute),
            "{found:?}"
        );
        assert!(has("crate::a::Delta", How::Code), "{found:?}");
        assert!(has("super::b::Tr::Out", How::Code), "{found:?}");
        assert!(has("::std::fmt::Result", How::Code), "{found:?}");
        assert!(has("self::c::D", How::Use), "{found:?}");
        assert!(has("self::c::E", How::Use), "{found:?}");
        assert!(has("crate::m::shown", How::Macro), "{found:?}");
        assert!(has("crate::n::K::V", How::Macro), "{found:?}");
        assert!(has("$crate::r::made", How::Macro), "{found:?}");
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        // A string in a macro is text; a metavariable's path is the caller's;
        // `pub(crate)` uses nothing.
        assert!(!paths.contains(&"crate::not::a::path"), "{paths:?}");
        assert!(!paths.iter().any(|p| p.contains("not_mine")), "{paths:?}");
        assert!(!paths.contains(&"crate"), "{paths:?}");
    }
}
