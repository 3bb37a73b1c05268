//! No top-level module of the crate depends on itself round about: `plan` may use `render`
//! or `render` may use `plan`, not both. A reference is any `crate::` path in code (`use
//! crate::x::…`, `use crate::{x::…, y::…}`, an inline `crate::x::f(…)`, `$crate::x` in a
//! macro, a path in an attribute's string such as `#[serde(default = "crate::x::f")]`) and
//! any `super::` path that climbs to the crate root; comments, doc comments, other string
//! literals and `#[cfg(test)]` items (a `#[cfg(test)] mod tests { … }`) do not count.
//!
//! Issue 12 found 13 edges on cycles and its reshaping removed them all; the ratchet that
//! listed them while it did (`KNOWN_CYCLE_EDGES`) went with the last. Any edge on a cycle
//! now fails, printed with a cycle through it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

/// The library's sources.
const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Where a reference is: `src/plan.rs:12`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Site {
    file: String,
    line: usize,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Every reference from one top-level module to another, with every place that makes it.
type Edges = BTreeMap<(String, String), Vec<Site>>;

#[test]
fn top_level_modules_have_no_dependency_cycles() {
    let edges = crate_edges(Path::new(SRC));
    assert!(
        edges.len() >= 10,
        "only {} edges between top-level modules found in {SRC}: is the scanner blind?",
        edges.len()
    );
    if let Err(report) = check(&edges, "top-level modules") {
        panic!("{report}");
    }
}

/// The same between the submodules of every module, at any depth (review 12v, R31, one
/// level down; review 12w, R36, every level): within `cluster`, `serve`, `plan`, `github`,
/// `github::event`, `agentrun::source`, … no submodule depends on itself round about, so
/// `cluster::controller ↔ cluster::report` (the cycle issue 12 named), `cluster::decide
/// ↔ cluster::queue`, `config`'s `formats ↔ scope ↔ model`, `plan`'s `approval ↔ reasons`
/// (and `reasons → repository → again → approval`), `render`'s `pod_names ↔ validate` and
/// `github::event`'s `actions ↔ wire` (two levels down, unseen while the check looked one
/// level down only) stay gone.
#[test]
fn the_submodules_of_each_module_have_no_dependency_cycles_at_any_depth() {
    let src = Path::new(SRC);
    let scans = scanned(src);
    let folders = folder_modules(&scans);
    let imports = imports_by_module(&scans);
    let named = |path: &[&str]| path.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert!(
        [
            &["cluster"][..],
            &["github", "event"],
            &["agentrun", "source"]
        ]
        .iter()
        .all(|f| folders.contains(&named(f)))
            && folders.len() >= 14,
        "only the modules with submodules {folders:?} found in {SRC}: is the scan blind?"
    );
    let edge = |folder: &[&str], from: &str, to: &str| {
        let edges = folder_edges(src, &scans, &imports, &named(folder));
        assert!(
            edges.contains_key(&(from.to_string(), to.to_string())),
            "{}'s {from} -> {to} not seen: is the scan blind? {:?}",
            folder.join("::"),
            edges.keys().collect::<Vec<_>>()
        );
    };
    edge(&["cluster"], "controller", "report");
    edge(&["cluster"], "decide", "queue");
    // Through `super::SkipReason`, a name plan/mod.rs imports from reasons.
    edge(&["plan"], "again", "reasons");
    // Two levels down, through `super::CheckRunAction`, which github/event/mod.rs
    // re-exports from actions.
    edge(&["github", "event"], "wire", "actions");
    let reports: Vec<String> = folders
        .iter()
        .filter_map(|folder| {
            check(
                &folder_edges(src, &scans, &imports, folder),
                &format!("submodules of `{}`", folder.join("::")),
            )
            .err()
        })
        .collect();
    assert!(reports.is_empty(), "{}", reports.join(""));
}

/// The layers of docs/architecture.md, bottom to top: a top-level module uses only modules
/// of its own layer (without a cycle) or of the layers below it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "leaves",
        &[
            "clock",
            "text",
            "suggest",
            "names",
            "ids",
            "template",
            "agent_pod",
        ],
    ),
    ("vocabulary", &["github", "config"]),
    ("pure core", &["plan", "render"]),
    ("stored run", &["agentrun"]),
    ("GitHub client", &["github_client"]),
    ("ports", &["ports"]),
    ("reports", &["report"]),
    ("edges", &["cluster", "agent"]),
    ("top", &["serve", "cli"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The layering is a rule, not only the absence of cycles (outside review 12, R4): an
/// edge from a lower layer up (`agent_pod` → `plan`, `names` → `config`) fails even when
/// nothing closes a cycle, and a new top-level module must be given a layer.
#[test]
fn each_top_level_module_uses_only_its_own_layer_and_those_below() {
    let edges = crate_edges(Path::new(SRC));
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(Path::new(SRC), f).into_iter().next())
        .collect();
    let unplaced: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules in no layer: {unplaced:?}; give each a row in docs/architecture.md \
         (Layers) and in LAYERS here"
    );
    let upward: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| layer_of(to) > layer_of(from))
        .map(|((from, to), sites)| {
            let at: Vec<String> = sites.iter().map(ToString::to_string).collect();
            format!(
                "  - {from} ({}) uses {to} ({}), a layer above it: {}",
                LAYERS[layer_of(from).unwrap_or(0)].0,
                LAYERS[layer_of(to).unwrap_or(0)].0,
                at.join(", ")
            )
        })
        .collect();
    assert!(
        upward.is_empty(),
        "modules that use a layer above their own:\n{}",
        upward.join("\n")
    );
}

/// The layer table of docs/architecture.md and [`LAYERS`] name the same modules in the
/// same layers, so the rule this file holds is the one the docs show.
#[test]
fn the_layers_here_are_the_layers_in_the_architecture_doc() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md"))
        .expect("docs/architecture.md");
    let rows: Vec<(String, Vec<String>)> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| layer |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let modules = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (cells[1].to_string(), modules)
        })
        .collect();
    let here: Vec<(String, Vec<String>)> = LAYERS
        .iter()
        .map(|(name, modules)| {
            (
                name.to_string(),
                modules.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        rows, here,
        "docs/architecture.md's Layers table and LAYERS differ"
    );
}

/// The crate root renamed (`use crate as root;`, `use crate::{self as root}`, `extern
/// crate self as root;`) would let paths through the new name go unseen (outside review
/// 12, R4, which closed a cycle that way): it is an error of the scan.
#[test]
fn a_renamed_crate_root_is_refused_not_overlooked() {
    for source in [
        "use crate as root;\nfn f() { root::serve::x(); }",
        "use crate::{self as root, plan::Launch};",
        "extern crate self as root;",
        "use super as up;",
    ] {
        let found = scan(source, &["plan".to_string()]).err();
        assert!(
            found
                .as_ref()
                .is_some_and(|e| e.what.contains("renames the crate root")),
            "{source}: {:?}",
            found.map(|e| e.to_string())
        );
    }
    // A module renamed within a path is an ordinary reference.
    assert_eq!(
        modules_in(
            "use crate::cluster::runs::{self as cluster_runs};",
            &["cli"]
        ),
        ["cluster"]
    );
}

/// A submodule's glob of its folder's module (`use super::*;`) brought in every name the
/// folder's `mod.rs` imports, used bare, so which sibling each came from went unseen (review
/// 12w, R36: ten files did it, and in `github::event` it hid `actions <-> wire`). It is
/// refused now; an inline module's glob of its own file, and a test module's, are not.
#[test]
fn a_submodule_s_glob_of_its_parent_is_refused() {
    let path = ["github_client".to_string(), "checks".to_string()];
    let found = scan("use super::*;\nfn f() { let _ = wire::X; }", &path)
        .err()
        .map(|e| e.to_string());
    assert!(
        found
            .as_ref()
            .is_some_and(|e| e.contains("a glob of the parent module")),
        "{found:?}"
    );
    assert!(scan("mod inner {\n    use super::*;\n}\n", &path).is_ok());
    assert!(scan("#[cfg(test)]\nmod tests {\n    use super::*;\n}\n", &path).is_ok());
}

/// The five ways outside review 12b hid an edge (`plan -> serve`, `render -> serve`), each
/// of which compiled and went unseen: each is an error of the scan now (R2).
#[test]
fn the_five_ways_review_12b_hid_an_edge_are_refused() {
    let plan = ["plan".to_string()];
    let render = ["render".to_string()];
    let cases: [(&str, &[String], &str); 5] = [
        (
            "mod glob {\n    use crate::*;\n    fn peek() { let _ = serve::intake::decide_event; }\n}",
            &plan,
            "a glob of the crate root",
        ),
        (
            "#[macro_export]\nmacro_rules! peek {\n    () => { $crate::serve::intake::decide_event };\n}",
            &["serve".to_string()],
            "`#[macro_export]`",
        ),
        (
            "#[allow(dead_code)]\n#[path = \"../serve/hidden.rs\"]\nmod hidden;",
            &plan,
            "`#[path]`",
        ),
        (
            "fn f() { let _ = self::super::serve::intake::decide_event; }",
            &render,
            "`self::super::`",
        ),
        (
            "use super::*;\nfn f() { let _ = serve::intake::decide_event; }",
            &plan,
            "`super::*`",
        ),
    ];
    for (source, path, says) in cases {
        let found = scan(source, path).err().map(|e| e.to_string());
        assert!(
            found.as_ref().is_some_and(|e| e.contains(says)),
            "{source}: {found:?}"
        );
    }
    // A re-export at the crate root, then `crate::review12b_decide` in plan.
    let found = crate_root(
        "pub mod plan;\npub mod serve;\npub(crate) use serve::intake::decide_event as review12b_decide;",
    )
    .err()
    .map(|e| e.to_string());
    assert!(
        found
            .as_ref()
            .is_some_and(|e| e.contains("a `use` in lib.rs")),
        "{found:?}"
    );
    // What stays allowed: a test module's `use super::*`, a `super::` below the root.
    assert_eq!(
        modules_in(
            "mod tests {\n    use super::*;\n}\nuse super::x;",
            &["plan", "x"]
        ),
        Vec::<String>::new()
    );
    assert!(crate_root("pub mod plan;\npub(crate) mod text;").is_ok());
}

/// The four ways outside review 12c hid an edge (`plan -> serve`, `render -> serve`), each
/// of which compiled and went unseen (R1): an inline `mod tests` without `#[cfg(test)]` and
/// a path in an attribute's string are read now; `include!` and `#[macro_use]` are errors
/// of the scan, as `#[path]` is.
#[test]
fn the_four_ways_review_12c_hid_an_edge_are_read_or_refused() {
    // A: a `mod tests` with no `#[cfg(test)]`, nested one level down, is in the release
    // build.
    assert_eq!(
        modules_in(
            "mod review12c_a {\n    mod tests {\n        pub(crate) fn peek() -> usize {\n            let f = crate::serve::intake::decide;\n            std::mem::size_of_val(&f)\n        }\n    }\n}",
            &["plan"]
        ),
        ["serve"]
    );
    // B: a path in a serde attribute's string, from the root or climbing to it.
    assert_eq!(
        modules_in(
            "#[derive(serde::Deserialize)]\npub(crate) struct Review12cB {\n    #[serde(default = \"crate::serve::review12c_default\")]\n    pub(crate) n: usize,\n    #[serde(with = \"super::super::cli::x\")]\n    pub(crate) m: usize,\n    #[serde(rename = \"crate\", deserialize_with = \"super::local\")]\n    pub(crate) o: usize,\n}",
            &["plan", "inner"]
        ),
        ["serve", "cli"]
    );
    // C: `include!` of a file in another module's folder.
    let found = scan(
        "include!(\"../serve/review12c_included.rs\");",
        &["plan".to_string()],
    )
    .err()
    .map(|e| e.to_string());
    assert!(
        found.as_ref().is_some_and(|e| e.contains("`include!`")),
        "{found:?}"
    );
    // D: `#[macro_use]` on a module in lib.rs, so that render calls serve's macro by its
    // bare name; and the same from inside the module's own file.
    let found = crate_root("pub mod agent;\n#[macro_use]\npub mod serve;\npub mod plan;")
        .err()
        .map(|e| e.to_string());
    assert!(
        found.as_ref().is_some_and(|e| e.contains("`#[macro_use]`")),
        "{found:?}"
    );
    let found = scan(
        "#![macro_use]\nmacro_rules! review12c_peek {\n    () => { $crate::serve::intake::decide };\n}",
        &["serve".to_string()],
    )
    .err()
    .map(|e| e.to_string());
    assert!(
        found.as_ref().is_some_and(|e| e.contains("`#[macro_use]`")),
        "{found:?}"
    );
    // What stays allowed: a `#[cfg(test)] mod tests`, an attribute's text that is no path.
    assert_eq!(
        modules_in(
            "#[cfg(test)]\nmod tests {\n    use crate::serve::x;\n}\n#[error(\"see crate::serve::x for {0}\")]\nstruct E;\nconst S: &str = include_str!(\"x.txt\");",
            &["plan"]
        ),
        Vec::<String>::new()
    );
}

// ---------------------------------------------------------------------------------------
// The check.

/// Whether no edge of `edges` lies on a cycle; otherwise a report of every cycle edge,
/// each with a cycle through it and the line that makes each step.
fn check(edges: &Edges, what: &str) -> Result<(), String> {
    let on_cycle = cycle_edges(edges);
    if on_cycle.is_empty() {
        return Ok(());
    }
    let mut report = format!("{what} depend on each other round about:\n");
    for (from, to) in &on_cycle {
        report.push_str(&format!(
            "  - new cycle: {}\n",
            describe_cycle(edges, from, to)
        ));
    }
    Err(report)
}

/// The edges whose two ends are in one strongly connected component.
fn cycle_edges(edges: &Edges) -> BTreeSet<(String, String)> {
    let component = components(edges);
    edges
        .keys()
        .filter(|(a, b)| component[a] == component[b])
        .cloned()
        .collect()
}

/// Tarjan's strongly connected components: each module's component number.
fn components(edges: &Edges) -> BTreeMap<String, usize> {
    struct Tarjan<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        component: BTreeMap<String, usize>,
        components: usize,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.next.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    self.component.insert(w.to_string(), self.components);
                    if w == v {
                        break;
                    }
                }
                self.components += 1;
            }
        }
    }
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    let nodes: Vec<&str> = next.keys().copied().collect();
    let mut tarjan = Tarjan {
        next,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        component: BTreeMap::new(),
        components: 0,
    };
    for v in nodes {
        if !tarjan.index.contains_key(v) {
            tarjan.visit(v);
        }
    }
    tarjan.component
}

/// `from -> to (site) -> … -> from (site)`: the edge and the shortest way back.
fn describe_cycle(edges: &Edges, from: &str, to: &str) -> String {
    let site = |a: &str, b: &str| {
        edges
            .get(&(a.to_string(), b.to_string()))
            .map(|s| s[0].to_string())
            .unwrap_or_default()
    };
    // Breadth-first from `to` back to `from`.
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([to]);
    while let Some(v) = queue.pop_front() {
        if v == from {
            break;
        }
        for (a, b) in edges.keys() {
            if a == v && b != to && !came_from.contains_key(b.as_str()) {
                came_from.insert(b, a);
                queue.push_back(b);
            }
        }
    }
    let mut path = vec![from, to];
    if came_from.contains_key(from) {
        let mut back = vec![from];
        while let Some(&prev) = came_from.get(back.last().copied().unwrap_or(to)) {
            back.push(prev);
        }
        // `back` is from, …, to: the way home, backwards.
        path.extend(back.into_iter().rev().skip(1));
    }
    let mut text = from.to_string();
    for pair in path.windows(2) {
        text.push_str(&format!(" -> {} ({})", pair[1], site(pair[0], pair[1])));
    }
    text
}

// ---------------------------------------------------------------------------------------
// The crate's graph.

/// Every file of the library under `src` that is not test code, with its module path and
/// what it refers to.
fn scanned(src: &Path) -> Vec<(PathBuf, Vec<String>, Scan)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut scans = Vec::new();
    let mut test_files = BTreeSet::new();
    for file in files {
        let path = module_path(src, &file);
        if path.is_empty() {
            // lib.rs declares the modules, and only that; main.rs is the binary, its own
            // crate.
            if file.ends_with("lib.rs") {
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{}: cannot read: {e}", file.display()));
                if let Err(e) = crate_root(&text) {
                    panic!("{}: {e}", file.display());
                }
            }
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: cannot read: {e}", file.display()));
        let scan = scan(&text, &path);
        if let Ok(scan) = &scan {
            let dir = module_dir(src, &path);
            for name in &scan.test_modules {
                test_files.insert(dir.join(format!("{name}.rs")));
                test_files.insert(dir.join(name).join("mod.rs"));
            }
        }
        scans.push((file, path, scan));
    }
    // A file of test code (`#[cfg(test)] mod NAME;`) counts for nothing, its refusals
    // included; any other file's refusal stops the check.
    scans
        .into_iter()
        .filter(|(file, _, _)| !test_files.contains(file))
        .map(|(file, path, scan)| {
            let scan = scan.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            (file, path, scan)
        })
        .collect()
}

/// `src/cluster/report.rs`, as the sites of an edge name it.
fn site(src: &Path, file: &Path, line: usize) -> Site {
    let relative = file
        .strip_prefix(src.parent().unwrap_or(src))
        .unwrap_or(file);
    Site {
        file: relative.display().to_string(),
        line,
    }
}

/// The references between top-level modules of the library under `src`.
fn crate_edges(src: &Path) -> Edges {
    let scans = scanned(src);
    let modules: BTreeSet<String> = scans.iter().map(|(_, path, _)| path[0].clone()).collect();
    let mut edges = Edges::new();
    for (file, path, scan) in scans {
        for reference in scan.references {
            if reference.module != path[0] && modules.contains(&reference.module) {
                edges
                    .entry((path[0].clone(), reference.module))
                    .or_default()
                    .push(site(src, &file, reference.line));
            }
        }
    }
    for sites in edges.values_mut() {
        sites.sort();
    }
    edges
}

/// The modules that have submodules, at any depth (`cluster`, `github`, `github::event`,
/// `agentrun::source`, …), each as its path from the crate root.
fn folder_modules(scans: &[(PathBuf, Vec<String>, Scan)]) -> BTreeSet<Vec<String>> {
    scans
        .iter()
        .flat_map(|(_, path, _)| (1..path.len()).map(|n| path[..n].to_vec()))
        .collect()
}

/// The references between the submodules of the module `folder` (`[cluster]`:
/// `controller`, `report`, …; `[github, event]`: `actions`, `wire`, …; a file deeper down
/// counts for the submodule it is in), by any path that reaches one from another
/// (`super::report`, `crate::cluster::report`, `super::{queue, …}`), directly or through
/// what the folder's own file imports from a submodule (`pub use reasons::SkipReason;` in
/// plan/mod.rs makes `super::SkipReason` a path to `reasons`; so does a private `use`,
/// which the submodules see too, and a glob, `pub use model::*;`, for each name the
/// submodule defines), and through any module's imports on the way ([`resolve`]:
/// `crate::g::X`, where g/mod.rs has `pub use f::x::X;`, is a path to `g::f::x`). What the
/// folder's own file declares, imports or defines is not itself an edge: it is the parent,
/// not a sibling.
fn folder_edges(
    src: &Path,
    scans: &[(PathBuf, Vec<String>, Scan)],
    imports: &Imports,
    folder: &[String],
) -> Edges {
    let depth = folder.len();
    let below: Vec<_> = scans
        .iter()
        .filter(|(_, path, _)| path.len() > depth && path.starts_with(folder))
        .collect();
    let children: BTreeSet<String> = below
        .iter()
        .map(|(_, path, _)| path[depth].clone())
        .collect();
    let through_parent = imported_by_parent(src, folder, &children);
    let mut edges = Edges::new();
    for (file, path, scan) in below {
        // Each path as written and as resolved through the modules' imports on its way
        // (`crate::github::Login`, where github re-exports `event::Login`, is
        // `github::event::ids::Login`): both name what the file depends on.
        let written = scan.paths.iter().map(|(to, line)| (to.clone(), *line));
        let resolved = scan
            .paths
            .iter()
            .map(|(to, line)| (resolve(imports, to), *line));
        for (to, line) in written.chain(resolved) {
            if to.len() <= depth || !to.starts_with(folder) {
                continue;
            }
            let child = if children.contains(&to[depth]) {
                &to[depth]
            } else if let Some(child) = through_parent.get(&to[depth]) {
                child
            } else {
                continue;
            };
            if *child != path[depth] {
                edges
                    .entry((path[depth].clone(), child.clone()))
                    .or_default()
                    .push(site(src, file, line));
            }
        }
    }
    for sites in edges.values_mut() {
        sites.sort();
        sites.dedup();
    }
    edges
}

/// Each module's own imports (its file's top-level `use`s, globs aside): the name it binds
/// and the path from the crate root it stands for.
type Imports = BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>;

/// The [`Imports`] of every module of `scans`: a `use` of `crate::…`, `super::…`,
/// `self::…` or of one of its own submodules (`use event::Login;` in github/mod.rs); one of
/// another crate's (`serde::…`) is none of the crate's.
fn imports_by_module(scans: &[(PathBuf, Vec<String>, Scan)]) -> Imports {
    let modules: BTreeSet<&Vec<String>> = scans.iter().map(|(_, path, _)| path).collect();
    let mut out = Imports::new();
    for (file, module, _) in scans {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{}: cannot read: {e}", file.display()));
        let tokens = tokenize(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (_, imported) = top_level_items(&tokens);
        let mut names = BTreeMap::new();
        for (path, name) in imported {
            if name == "*" {
                continue;
            }
            let Some((first, rest)) = path.split_first() else {
                continue;
            };
            let absolute: Vec<String> = match first.as_str() {
                "crate" => rest.to_vec(),
                "super" => {
                    let climbs = path.iter().take_while(|s| *s == "super").count();
                    if climbs > module.len() {
                        continue;
                    }
                    module[..module.len() - climbs]
                        .iter()
                        .chain(&path[climbs..])
                        .cloned()
                        .collect()
                }
                "self" => module.iter().chain(rest).cloned().collect(),
                _ => {
                    let child: Vec<String> = module.iter().chain([first]).cloned().collect();
                    if !modules.contains(&child) {
                        continue;
                    }
                    module.iter().chain(&path).cloned().collect()
                }
            };
            names.insert(name, absolute);
        }
        out.insert(module.clone(), names);
    }
    out
}

/// `path` with each name a module imports replaced by the path it stands for, the
/// shortest module first, until none is left (`[github, Login]` →
/// `[github, event, Login]` → `[github, event, ids, Login]`).
fn resolve(imports: &Imports, path: &[String]) -> Vec<String> {
    let mut path = path.to_vec();
    // A chain of re-exports is short; a `use` that names itself stops here too.
    for _ in 0..16 {
        let next = (1..path.len()).find_map(|k| {
            let target = imports.get(&path[..k])?.get(&path[k])?;
            Some(
                target
                    .iter()
                    .chain(&path[k + 1..])
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        });
        match next {
            Some(next) if next != path => path = next,
            _ => break,
        }
    }
    path
}

/// The names the module `folder`'s own file (`src/github/event/mod.rs`, or
/// `src/agent_pod.rs`) imports from its submodules, each with the submodule it comes from.
fn imported_by_parent(
    src: &Path,
    folder: &[String],
    children: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let dir = module_dir(src, folder);
    let Some(parent) = [dir.join("mod.rs"), dir.with_extension("rs")]
        .into_iter()
        .find(|file| file.is_file())
    else {
        return BTreeMap::new();
    };
    let read = |file: &Path| {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{}: cannot read: {e}", file.display()));
        tokenize(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    };
    let tokens = read(&parent);
    let (own, imports) = top_level_items(&tokens);
    let mut out = BTreeMap::new();
    let mut explicit = Vec::new();
    for (path, name) in imports {
        let path: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .skip_while(|s| *s == "self")
            .collect();
        let path = match path.split_first() {
            Some((&"crate", rest))
                if rest.len() >= folder.len()
                    && rest.iter().zip(folder).all(|(a, b)| *a == b.as_str()) =>
            {
                rest[folder.len()..].to_vec()
            }
            _ => path,
        };
        let Some(child) = path.first().filter(|c| children.contains(**c)) else {
            continue;
        };
        if name == "*" {
            if path.len() != 1 {
                continue;
            }
            let file = [
                dir.join(format!("{child}.rs")),
                dir.join(child).join("mod.rs"),
            ]
            .into_iter()
            .find(|file| file.is_file());
            if let Some(file) = file {
                let (defined, imported) = top_level_items(&read(&file));
                for name in defined
                    .into_iter()
                    .chain(imported.into_iter().map(|(_, name)| name))
                    .filter(|name| name != "*" && !own.contains(name))
                {
                    out.insert(name, child.to_string());
                }
            }
        } else if path.len() > 1 {
            explicit.push((name, child.to_string()));
        }
    }
    out.extend(explicit);
    out
}

/// What a file defines at its top level (`struct`, `enum`, `fn`, `const`, `static`,
/// `type`, `trait`, `union`, `mod`), and what its top-level `use`s bring in: each path
/// with the name it is bound to (`*` for a glob).
fn top_level_items(tokens: &[Token]) -> (BTreeSet<String>, Vec<(Vec<String>, String)>) {
    const DEFINES: [&str; 9] = [
        "struct", "enum", "fn", "const", "static", "type", "trait", "union", "mod",
    ];
    let mut defined = BTreeSet::new();
    let mut imported = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Ident(w) if depth == 0 && w == "use" => {
                i = use_tree(tokens, i + 1, &[], &mut imported);
                continue;
            }
            Tok::Ident(w) if depth == 0 && DEFINES.contains(&w.as_str()) => {
                if let Some(Token {
                    tok: Tok::Ident(name),
                    ..
                }) = tokens.get(i + 1)
                {
                    defined.insert(name.clone());
                }
            }
            _ => {}
        }
        i += 1;
    }
    (defined, imported)
}

/// A `use` tree at `at` (`a::b::C`, `a::{B, c::D as E, *}`, `a::*`) under `prefix`: each
/// path with the name it binds (`*` for a glob), into `out`; where the tree ends.
fn use_tree(
    tokens: &[Token],
    at: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, String)>,
) -> usize {
    let mut path = prefix.to_vec();
    let mut i = at;
    loop {
        match tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Ident(name)) => {
                path.push(name.strip_prefix("r#").unwrap_or(name).to_string());
                i += 1;
                if tokens.get(i).is_some_and(|t| t.tok == Tok::PathSep) {
                    i += 1;
                    continue;
                }
                let mut bound = path.last().cloned().unwrap_or_default();
                if bound == "self" {
                    path.pop();
                    bound = path.last().cloned().unwrap_or_default();
                }
                if is_ident(tokens.get(i), "as")
                    && let Some(Token {
                        tok: Tok::Ident(alias),
                        ..
                    }) = tokens.get(i + 1)
                {
                    bound = alias.clone();
                    i += 2;
                }
                out.push((path, bound));
                return i;
            }
            Some(Tok::Punct('*')) => {
                out.push((path, "*".to_string()));
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                let end = after_group(tokens, i);
                for member in group_members(tokens, i) {
                    use_tree(tokens, member, &path, out);
                }
                return end;
            }
            _ => return i + 1,
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: cannot read: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `src/cluster/crd.rs` → `[cluster, crd]`; `src/cluster/mod.rs` → `[cluster]`; `src/lib.rs`
/// and `src/main.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|l| l == "mod") || path == ["lib"] || path == ["main"] {
        path.pop();
    }
    path
}

/// The folder where a module's out-of-line children live.
fn module_dir(src: &Path, path: &[String]) -> PathBuf {
    path.iter().fold(src.to_path_buf(), |dir, p| dir.join(p))
}

// ---------------------------------------------------------------------------------------
// The scanner: a small Rust tokenizer, enough to tell code from comments and literals.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// A plain string literal (`"…"`), its text as written between the quotes: an
    /// attribute's string may name a path (`#[serde(default = "crate::x::f")]`).
    Str(String),
    /// A byte string, raw string, char, byte or number literal.
    Literal,
    Lifetime,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    line: usize,
}

#[derive(Debug, PartialEq)]
struct ScanError {
    line: usize,
    what: &'static str,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn tokenize(source: &str) -> Result<Vec<Token>, ScanError> {
    let s: Vec<char> = source.chars().collect();
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Skips a quoted literal whose opening quote is at `i`; returns the index after it.
    let quoted = |mut i: usize, quote: char, line: &mut usize| -> Result<usize, ScanError> {
        let start = *line;
        i += 1;
        loop {
            match s.get(i) {
                None => {
                    return Err(ScanError {
                        line: start,
                        what: "an unterminated literal",
                    });
                }
                Some('\\') => {
                    if s.get(i + 1) == Some(&'\n') {
                        *line += 1;
                    }
                    i += 2;
                }
                Some(&c) if c == quote => return Ok(i + 1),
                Some(&c) => {
                    if c == '\n' {
                        *line += 1;
                    }
                    i += 1;
                }
            }
        }
    };
    while i < s.len() {
        let c = s[i];
        let start = line;
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < s.len() && s[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                loop {
                    match (s.get(i), s.get(i + 1)) {
                        (None, _) => {
                            return Err(ScanError {
                                line: start,
                                what: "an unterminated block comment",
                            });
                        }
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(&c), _) => {
                            if c == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    }
                }
            }
            '"' => {
                let open = i;
                i = quoted(i, '"', &mut line)?;
                out.push(Token {
                    tok: Tok::Str(s[open + 1..i - 1].iter().collect()),
                    line: start,
                });
            }
            '\'' => {
                // A char literal ('a', '\n', '\'') or a lifetime ('a, 'static).
                if at(i + 1) == '\\' || (at(i + 2) == '\'' && at(i + 1) != '\n') {
                    i = quoted(i, '\'', &mut line)?;
                    out.push(Token {
                        tok: Tok::Literal,
                        line: start,
                    });
                } else {
                    i += 1;
                    while is_ident_char(at(i)) {
                        i += 1;
                    }
                    out.push(Token {
                        tok: Tok::Lifetime,
                        line: start,
                    });
                }
            }
            c if c.is_ascii_digit() => {
                while is_ident_char(at(i)) || (at(i) == '.' && at(i + 1).is_ascii_digit()) {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Literal,
                    line: start,
                });
            }
            c if is_ident_start(c) => {
                let begin = i;
                while is_ident_char(at(i)) {
                    i += 1;
                }
                let word: String = s[begin..i].iter().collect();
                let raw_string = matches!(word.as_str(), "r" | "br" | "cr")
                    && (at(i) == '"' || (at(i) == '#' && matches!(at(i + 1), '#' | '"')));
                if raw_string {
                    let mut hashes = 0;
                    while at(i) == '#' {
                        hashes += 1;
                        i += 1;
                    }
                    i += 1; // the opening quote
                    loop {
                        match s.get(i) {
                            None => {
                                return Err(ScanError {
                                    line: start,
                                    what: "an unterminated raw string",
                                });
                            }
                            Some('"') if (1..=hashes).all(|k| at(i + k) == '#') => {
                                i += 1 + hashes;
                                break;
                            }
                            Some(&c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                i += 1;
                            }
                        }
                    }
                    out.push(Token {
                        tok: Tok::Literal,
                        line: start,
                    });
                } else if word == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                    // A raw identifier: r#type.
                    let begin = i + 1;
                    i += 1;
                    while is_ident_char(at(i)) {
                        i += 1;
                    }
                    out.push(Token {
                        tok: Tok::Ident(s[begin..i].iter().collect()),
                        line: start,
                    });
                } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                    i = quoted(i, '"', &mut line)?;
                    out.push(Token {
                        tok: Tok::Literal,
                        line: start,
                    });
                } else if word == "b" && at(i) == '\'' {
                    i = quoted(i, '\'', &mut line)?;
                    out.push(Token {
                        tok: Tok::Literal,
                        line: start,
                    });
                } else {
                    out.push(Token {
                        tok: Tok::Ident(word),
                        line: start,
                    });
                }
            }
            ':' if at(i + 1) == ':' => {
                i += 2;
                out.push(Token {
                    tok: Tok::PathSep,
                    line: start,
                });
            }
            c => {
                i += 1;
                out.push(Token {
                    tok: Tok::Punct(c),
                    line: start,
                });
            }
        }
    }
    Ok(out)
}

/// A path from the crate root: the top-level module it names first, and its line.
#[derive(Debug, Clone, PartialEq)]
struct Reference {
    module: String,
    line: usize,
}

/// What one file refers to, and the out-of-line test modules it declares.
#[derive(Debug, Default, PartialEq)]
struct Scan {
    references: Vec<Reference>,
    /// Every path in code resolved from the crate root (`crate::`, `super::` and `self::`
    /// paths, however few levels they climb), whole, and its line: the edges between the
    /// submodules of a module, at any depth.
    paths: Vec<(Vec<String>, usize)>,
    /// `#[cfg(test)] mod NAME;`: files that are test code.
    test_modules: Vec<String>,
}

fn is_ident(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token { tok: Tok::Ident(w), .. }) if w == word)
}

fn is_punct(token: Option<&Token>, c: char) -> bool {
    matches!(token, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

/// The index after the group opened at `open` (`(`, `[` or `{`), counting all three.
fn after_group(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The index after the item starting at `start`: its `;`, or the end of its first `{…}`.
fn after_item(tokens: &[Token], start: usize) -> usize {
    let mut i = start;
    while i < tokens.len() {
        match tokens[i].tok {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return after_group(tokens, i),
            Tok::Punct('(' | '[') => i = after_group(tokens, i),
            _ => i += 1,
        }
    }
    tokens.len()
}

fn ident(token: &Token) -> Option<&str> {
    match &token.tok {
        Tok::Ident(word) => Some(word),
        _ => None,
    }
}

/// Whether a `cfg` predicate (the tokens inside `cfg(…)`) holds only under `cargo test`:
/// `test`, or `all(…)` with a member that does (not `any(test, …)`, not `not(test)`).
fn test_only(predicate: &[Token]) -> bool {
    let Some((first, rest)) = predicate.split_first() else {
        return false;
    };
    match ident(first) {
        Some("test") => rest.is_empty(),
        Some("all") => {
            // rest: `( member , member … )`
            let inner = rest.get(1..rest.len().saturating_sub(1)).unwrap_or(&[]);
            let mut depth = 0usize;
            let mut members = vec![Vec::new()];
            for token in inner {
                match token.tok {
                    Tok::Punct('(') => depth += 1,
                    Tok::Punct(')') => depth = depth.saturating_sub(1),
                    Tok::Punct(',') if depth == 0 => {
                        members.push(Vec::new());
                        continue;
                    }
                    _ => {}
                }
                if let Some(member) = members.last_mut() {
                    member.push(token.clone());
                }
            }
            members.iter().any(|m| test_only(m))
        }
        _ => false,
    }
}

/// Where each member of the `{a::…, b, self, …}` group opened at `open` begins.
fn group_members(tokens: &[Token], open: usize) -> Vec<usize> {
    let end = after_group(tokens, open);
    let mut depth = 0usize;
    let mut members = Vec::new();
    for i in open..end {
        match &tokens[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => depth = depth.saturating_sub(1),
            Tok::Ident(_)
                if depth == 1
                    && (is_punct(tokens.get(i - 1), '{') || is_punct(tokens.get(i - 1), ',')) =>
            {
                members.push(i);
            }
            _ => {}
        }
    }
    members
}

/// The first names of a `{a::…, b, self, …}` group opened at `open`, with their lines.
fn group_heads(tokens: &[Token], open: usize) -> Vec<(String, usize)> {
    group_members(tokens, open)
        .into_iter()
        .filter_map(|i| match &tokens[i].tok {
            Tok::Ident(name) if name != "self" => Some((name.clone(), tokens[i].line)),
            _ => None,
        })
        .collect()
}

/// The paths from `prefix` written at `at` (`a::b`, `{a::b, c}`, `a::{b, c}`), whole, with
/// their lines.
fn paths_at(tokens: &[Token], at: usize, prefix: &[String]) -> Vec<(Vec<String>, usize)> {
    let mut path = prefix.to_vec();
    let mut i = at;
    let mut line = tokens.get(at).map_or(0, |t| t.line);
    loop {
        match tokens.get(i) {
            Some(Token {
                tok: Tok::Ident(name),
                line: l,
            }) if name != "self" => {
                path.push(name.clone());
                line = *l;
            }
            Some(Token {
                tok: Tok::Punct('{'),
                ..
            }) => {
                return group_members(tokens, i)
                    .into_iter()
                    .flat_map(|j| paths_at(tokens, j, &path))
                    .collect();
            }
            _ => break,
        }
        if tokens.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep) {
            i += 2;
        } else {
            break;
        }
    }
    if path.is_empty() {
        Vec::new()
    } else {
        vec![(path, line)]
    }
}

/// The references to the crate root's modules in a file that is module `path`
/// (`[cluster, crd]`).
/// The line of a `use` or `extern crate` that gives the crate root (or a parent, which
/// may be it) another name, if any.
fn renamed_crate_root(tokens: &[Token]) -> Option<usize> {
    for (i, token) in tokens.iter().enumerate() {
        let line = token.line;
        if (is_ident(Some(token), "crate") || is_ident(Some(token), "super"))
            && is_ident(tokens.get(i + 1), "as")
        {
            return Some(line);
        }
        if is_ident(Some(token), "crate")
            && is_ident(tokens.get(i + 1), "self")
            && is_ident(tokens.get(i + 2), "as")
        {
            return Some(line);
        }
        if is_ident(Some(token), "crate")
            && matches!(
                tokens.get(i + 1),
                Some(Token {
                    tok: Tok::PathSep,
                    ..
                })
            )
            && is_punct(tokens.get(i + 2), '{')
        {
            let mut depth = 1usize;
            let mut j = i + 3;
            while j < tokens.len() && depth > 0 {
                match &tokens[j].tok {
                    Tok::Punct('{' | '(' | '[') => depth += 1,
                    Tok::Punct('}' | ')' | ']') => depth -= 1,
                    _ => {}
                }
                if depth == 1
                    && is_ident(tokens.get(j), "self")
                    && is_ident(tokens.get(j + 1), "as")
                {
                    return Some(tokens[j].line);
                }
                j += 1;
            }
        }
    }
    None
}

/// The crate root (lib.rs) declares modules and nothing else: a `use` there (`pub(crate)
/// use serve::x as y;`) makes a name at the root, and `crate::y` in another module would
/// reach `serve` unseen (outside review 12b, R2). A scan error.
///
/// Nor a macro made visible to the modules declared after it (outside review 12c, R1):
/// `#[macro_use] pub mod serve;` lets render call serve's macro by its bare name, and the
/// macro's `$crate::serve::` paths would count as serve's; a `macro_rules!` or an
/// `include!` in lib.rs is not read at all.
fn crate_root(source: &str) -> Result<(), ScanError> {
    let tokens = tokenize(source)?;
    for token in &tokens {
        let what = if is_ident(Some(token), "use") {
            "a `use` in lib.rs: a name re-exported at the crate root hides the module it \
             comes from; write its `crate::module::` path where it is used"
        } else if is_ident(Some(token), "macro_use") {
            "`#[macro_use]` in lib.rs: the module's macros would be called by bare name in \
             the modules declared after it, their `$crate::` paths counted as the defining \
             module's; import a macro by its path"
        } else if is_ident(Some(token), "macro_rules") || is_ident(Some(token), "include") {
            "a macro in lib.rs (`macro_rules!`, `include!`): lib.rs is not read for \
             references; put the code in the module that uses it"
        } else {
            continue;
        };
        return Err(ScanError {
            line: token.line,
            what,
        });
    }
    Ok(())
}

/// The line of a construct that would hide an edge from the scan, and why (outside review
/// 12b, R2): the scan assigns a file to a module by its folder, reads `crate::` and
/// `super::` paths, and nothing else.
fn hidden_edge(tokens: &[Token]) -> Option<(usize, &'static str)> {
    let sep = |at: usize| tokens.get(at).is_some_and(|t| t.tok == Tok::PathSep);
    for (i, token) in tokens.iter().enumerate() {
        if is_punct(Some(token), '#') {
            let open = if is_punct(tokens.get(i + 1), '!') {
                i + 2
            } else {
                i + 1
            };
            if is_punct(tokens.get(open), '[') {
                if is_ident(tokens.get(open + 1), "path") {
                    return Some((
                        token.line,
                        "a `#[path]` module: its file would be counted as the module of the \
                         folder it sits in, not the one declaring it; put the file in its \
                         module's folder",
                    ));
                }
                if is_ident(tokens.get(open + 1), "macro_export") {
                    return Some((
                        token.line,
                        "`#[macro_export]`: the `$crate::` paths in the macro would be counted \
                         as this module's, not those of the modules calling it; write a \
                         function, or a macro used where it is defined",
                    ));
                }
            }
        }
        if is_ident(Some(token), "include") && is_punct(tokens.get(i + 1), '!') {
            return Some((
                token.line,
                "`include!`: the included file would be counted as the module of the folder \
                 it sits in, or not read at all; put the code in its module's file",
            ));
        }
        if is_ident(Some(token), "macro_use") {
            return Some((
                token.line,
                "`#[macro_use]`: the module's macros would be called by bare name outside \
                 it, their `$crate::` paths counted as the defining module's; import a \
                 macro by its path",
            ));
        }
        if is_ident(Some(token), "self") && sep(i + 1) && is_ident(tokens.get(i + 2), "super") {
            return Some((
                token.line,
                "`self::super::`: a climb the scan does not follow; write `super::`",
            ));
        }
        if is_ident(Some(token), "crate") && sep(i + 1) && is_punct(tokens.get(i + 2), '*') {
            return Some((
                token.line,
                "a glob of the crate root (`crate::*`): the modules named after it would go \
                 unseen; write `crate::` paths",
            ));
        }
    }
    None
}

/// The paths an attribute names in its strings (outside review 12c, R1): serde's
/// `default`, `with`, `serialize_with` and `deserialize_with` take a function's path as a
/// string (`#[serde(default = "crate::serve::x")]`). A string that is a path from the crate
/// root, or climbs to it with `super::` (`here` is the module it is written in), is a
/// reference; any other string is text. Each path, resolved from the crate root, is also
/// an edge between submodules (`"super::scope::f"` written in `config::formats` is
/// `config::scope::f`, an edge to `scope`); a bare name (`"default_command"`) is the
/// module's own.
fn attribute_paths(
    attribute: &[Token],
    here: &[String],
) -> (Vec<Reference>, Vec<(Vec<String>, usize)>) {
    let mut references = Vec::new();
    let mut paths = Vec::new();
    for token in attribute {
        let Tok::Str(text) = &token.tok else {
            continue;
        };
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let segments: Vec<&str> = text.split("::").collect();
        let is_path = segments.len() > 1
            && segments.iter().all(|s| {
                let s = s.strip_prefix("r#").unwrap_or(s);
                s.chars().next().is_some_and(is_ident_start) && s.chars().all(is_ident_char)
            });
        if !is_path {
            continue;
        }
        let segments: Vec<&str> = segments
            .iter()
            .map(|s| s.strip_prefix("r#").unwrap_or(s))
            .collect();
        let (base, rest): (Vec<String>, &[&str]) = match segments.first() {
            Some(&"crate") => (Vec::new(), &segments[1..]),
            Some(&"super") => {
                let climbs = segments.iter().take_while(|s| **s == "super").count();
                if climbs > here.len() {
                    continue;
                }
                (here[..here.len() - climbs].to_vec(), &segments[climbs..])
            }
            Some(&"self") => {
                let skipped = segments.iter().take_while(|s| **s == "self").count();
                (here.to_vec(), &segments[skipped..])
            }
            _ => continue,
        };
        if base.is_empty()
            && let Some(module) = rest.first()
        {
            references.push(Reference {
                module: module.to_string(),
                line: token.line,
            });
        }
        let full: Vec<String> = base
            .into_iter()
            .chain(rest.iter().map(|s| s.to_string()))
            .collect();
        if !full.is_empty() {
            paths.push((full, token.line));
        }
    }
    (references, paths)
}

fn scan(source: &str, path: &[String]) -> Result<Scan, ScanError> {
    let tokens = tokenize(source)?;
    if let Some(line) = renamed_crate_root(&tokens) {
        return Err(ScanError {
            line,
            what: "renames the crate root (`crate as`, `self as` in `crate::{…}`, `super as`): \
                   paths through the new name would go unseen; write `crate::` paths",
        });
    }
    if let Some((line, what)) = hidden_edge(&tokens) {
        return Err(ScanError { line, what });
    }
    let mut out = Scan::default();
    // Inline `mod name { … }` blocks: the name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut skip_next_item = false;
    let mut i = 0;
    let heads_at = |out: &mut Scan, at: usize| match tokens.get(at) {
        Some(Token {
            tok: Tok::Ident(name),
            line,
        }) => out.references.push(Reference {
            module: name.clone(),
            line: *line,
        }),
        Some(Token {
            tok: Tok::Punct('{'),
            ..
        }) => out.references.extend(
            group_heads(&tokens, at)
                .into_iter()
                .map(|(module, line)| Reference { module, line }),
        ),
        _ => {}
    };
    while i < tokens.len() {
        let token = &tokens[i];
        // Attributes: `#[…]` and `#![…]`.
        if is_punct(Some(token), '#') {
            let inner = is_punct(tokens.get(i + 1), '!');
            let open = if inner { i + 2 } else { i + 1 };
            if is_punct(tokens.get(open), '[') {
                let end = after_group(&tokens, open);
                let attribute = &tokens[open + 1..end.saturating_sub(1)];
                if let [cfg, rest @ ..] = attribute
                    && is_ident(Some(cfg), "cfg")
                    && test_only(rest.get(1..rest.len().saturating_sub(1)).unwrap_or(&[]))
                {
                    if inner && depth == 0 {
                        return Ok(Scan::default()); // #![cfg(test)]: the whole file.
                    }
                    skip_next_item = true;
                }
                let (references, paths) = attribute_paths(attribute, &here(path, &inline));
                out.references.extend(references);
                out.paths.extend(paths);
                i = end;
                continue;
            }
        }
        if skip_next_item && !is_punct(Some(token), '#') {
            skip_next_item = false;
            let end = after_item(&tokens, i);
            let item = &tokens[i..end];
            if let Some(m) = item.iter().position(|t| is_ident(Some(t), "mod"))
                && let (
                    Some(Token {
                        tok: Tok::Ident(name),
                        ..
                    }),
                    true,
                ) = (item.get(m + 1), is_punct(item.get(m + 2), ';'))
            {
                out.test_modules.push(name.clone());
            }
            i = end;
            continue;
        }
        match &token.tok {
            Tok::Ident(w) if w == "mod" => {
                if let (
                    Some(Token {
                        tok: Tok::Ident(name),
                        ..
                    }),
                    true,
                ) = (tokens.get(i + 1), is_punct(tokens.get(i + 2), '{'))
                {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w)
                if w == "crate" && tokens.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep) =>
            {
                heads_at(&mut out, i + 2);
                out.paths.extend(paths_at(&tokens, i + 2, &[]));
            }
            Tok::Ident(w)
                if w == "self"
                    && tokens.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep)
                    && i.checked_sub(1)
                        .and_then(|p| tokens.get(p))
                        .is_none_or(|t| t.tok != Tok::PathSep) =>
            {
                out.paths
                    .extend(paths_at(&tokens, i + 2, &here(path, &inline)));
            }
            Tok::Ident(w)
                if w == "super"
                    && i.checked_sub(1)
                        .and_then(|p| tokens.get(p))
                        .is_none_or(|t| t.tok != Tok::PathSep) =>
            {
                // Climb: each `super::` leaves one module of the file's path and its
                // inline modules; reaching the root makes the next name a top-level one.
                let mut climbs = 0;
                let mut at = i;
                while is_ident(tokens.get(at), "super")
                    && tokens.get(at + 1).is_some_and(|t| t.tok == Tok::PathSep)
                {
                    climbs += 1;
                    at += 2;
                }
                let full = here(path, &inline);
                if climbs > 0 && climbs <= full.len() {
                    out.paths
                        .extend(paths_at(&tokens, at, &full[..full.len() - climbs]));
                }
                if climbs > 0 && climbs == path.len() + inline.len() {
                    if is_punct(tokens.get(at), '*') {
                        return Err(ScanError {
                            line: token.line,
                            what: "a glob of the crate root (`super::*` up to it): the \
                                   modules named after it would go unseen; write `crate::` \
                                   paths",
                        });
                    }
                    heads_at(&mut out, at);
                } else if climbs > inline.len() && is_punct(tokens.get(at), '*') {
                    // A glob of the folder's module (review 12w, R36): every name it brings
                    // in is then used bare, and which sibling each comes from goes unseen.
                    return Err(ScanError {
                        line: token.line,
                        what: "a glob of the parent module (`use super::*;`): which of its \
                               submodules the names come from would go unseen; write the \
                               imports out",
                    });
                }
                i = at.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(out)
}

/// The module a point of a file is in: the file's module and the inline modules around it.
fn here(path: &[String], inline: &[(String, usize)]) -> Vec<String> {
    path.iter()
        .cloned()
        .chain(inline.iter().map(|(name, _)| name.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The scanner and the ratchet on small inputs.

fn modules_in(source: &str, path: &[&str]) -> Vec<String> {
    let path: Vec<String> = path.iter().map(|p| p.to_string()).collect();
    scan(source, &path)
        .unwrap_or_else(|e| panic!("{e}"))
        .references
        .into_iter()
        .map(|r| r.module)
        .collect()
}

#[test]
fn a_use_and_an_inline_path_are_references_with_their_lines() {
    let source = "use crate::render::names;\n\nfn f() {\n    crate::plan::run_name(\"a\");\n}\n";
    let scan = scan(source, &["config".to_string()]).expect("scans");
    assert_eq!(
        scan.references,
        [
            Reference {
                module: "render".into(),
                line: 1
            },
            Reference {
                module: "plan".into(),
                line: 4
            }
        ]
    );
}

#[test]
fn a_grouped_use_names_each_module_once_and_not_what_is_inside() {
    let source = "use crate::{\n    plan::{Launch, Subject},\n    render::{self, names::dns_label},\n    self,\n};";
    assert_eq!(modules_in(source, &["cluster"]), ["plan", "render"]);
}

#[test]
fn paths_in_comments_doc_comments_and_strings_are_not_references() {
    let source = r####"
//! See [`crate::plan::Launch`].
/// Calls `crate::render::x`.
/* crate::serve::a /* nested crate::cli::b */ crate::config::c */
fn f() -> &'static str {
    let _ = '"'; let _ = b'\''; let _ = '\\';
    let _ = "crate::github::event \" crate::agent::x";
    let _ = r#"crate::cluster::crd "still inside" "#;
    let _ = br##"crate::clock::x "# still"##;
    let _ = b"crate::suggest::x";
    let _ = c"crate::server::x";
    "crate::plan::Launch"
}
"####;
    assert_eq!(modules_in(source, &["render"]), Vec::<String>::new());
}

#[test]
fn code_after_tricky_literals_is_still_read() {
    let source = "fn f<'a>(x: &'a str) { let _ = '\"'; let _ = r#\"\"#; crate::plan::f(x); }";
    assert_eq!(modules_in(source, &["render"]), ["plan"]);
}

#[test]
fn test_modules_and_test_only_items_are_not_references() {
    let source = "
use crate::plan::Launch;
#[cfg(test)]
mod tests {
    use crate::render::x;
    fn f() { crate::serve::y(); }
}
#[cfg(test)]
use crate::cli::z;
#[cfg(all(test, feature = \"slow\"))]
fn slow() { crate::agent::w(); }
#[cfg(not(test))]
use crate::github::event;
#[cfg(any(test, feature = \"x\"))]
use crate::serve::k;
mod tests { use crate::cluster::q; }
#[cfg(test)]
mod more;
";
    let scan = scan(source, &["config".to_string()]).expect("scans");
    let modules: Vec<&str> = scan.references.iter().map(|r| r.module.as_str()).collect();
    // A `mod tests` without `#[cfg(test)]` is compiled into the service: it counts.
    assert_eq!(modules, ["plan", "github", "serve", "cluster"]);
    assert_eq!(scan.test_modules, ["more"]);
}

#[test]
fn super_counts_only_when_it_climbs_to_the_crate_root() {
    let source = "use super::launcher::Launcher;\nuse super::super::plan::Launch;\nfn f() { super::super::render::x(); }\nuse super::super::{clock, config::Agent};";
    assert_eq!(
        modules_in(source, &["serve", "intake"]),
        ["plan", "render", "clock", "config"]
    );
    // From a mod.rs, one `super` is the root.
    assert_eq!(
        modules_in("use super::plan::Launch;", &["cluster"]),
        ["plan"]
    );
    // An inline module is one more level.
    assert_eq!(
        modules_in(
            "mod inner { use super::super::plan::x; use super::y; }\nuse super::render::z;",
            &["cluster"]
        ),
        ["plan", "render"]
    );
}

#[test]
fn paths_are_resolved_from_the_crate_root_whole_at_any_depth() {
    let source = "use super::controller::ConfigSource;\nuse super::{queue::{self, Held}, decide};\nfn f() { crate::cluster::report::x(); self::inner::y(); }\nuse super::super::ports::reload;";
    let path = ["cluster".to_string(), "report".to_string()];
    let names = |source: &str, path: &[String]| -> Vec<(String, usize)> {
        scan(source, path)
            .expect("scans")
            .paths
            .into_iter()
            .map(|(p, line)| (p.join("::"), line))
            .collect()
    };
    assert_eq!(
        names(source, &path),
        [
            ("cluster::controller::ConfigSource".to_string(), 1),
            ("cluster::queue".to_string(), 2),
            ("cluster::queue::Held".to_string(), 2),
            ("cluster::decide".to_string(), 2),
            ("cluster::report::x".to_string(), 3),
            ("cluster::report::inner::y".to_string(), 3),
            ("ports::reload".to_string(), 4),
        ]
    );
    // Two levels down, `super::` stays below the folder (review 12w, R36: cut to two
    // names, `super::wire::Spelled` in `github::event::actions` was `github::event`).
    let path = ["github", "event", "actions"].map(String::from);
    assert_eq!(
        names(
            "use super::wire::Spelled;\nfn f() -> super::CheckRunAction {}",
            &path
        ),
        [
            ("github::event::wire::Spelled".to_string(), 1),
            ("github::event::CheckRunAction".to_string(), 2),
        ]
    );
}

#[test]
fn a_macro_crate_path_and_a_raw_identifier_are_read() {
    let source =
        "macro_rules! m { () => { $crate::render::x() }; }\nfn r#type() { crate::r#plan::y(); }";
    assert_eq!(modules_in(source, &["config"]), ["render", "plan"]);
}

#[test]
fn an_unterminated_string_is_an_error_with_its_line() {
    let error = scan("fn f() {}\nlet s = \"open", &["x".to_string()]).expect_err("fails");
    assert_eq!(
        error,
        ScanError {
            line: 2,
            what: "an unterminated literal"
        }
    );
}

fn graph(edges: &[(&str, &str, &str)]) -> Edges {
    let mut out = Edges::new();
    for (a, b, site) in edges {
        let (file, line) = site.split_once(':').expect("file:line");
        out.entry((a.to_string(), b.to_string()))
            .or_default()
            .push(Site {
                file: file.into(),
                line: line.parse().expect("a line"),
            });
    }
    out
}

#[test]
fn a_new_cycle_fails_and_is_printed_edge_by_edge() {
    let edges = graph(&[
        ("plan", "render", "src/plan.rs:12"),
        ("render", "config", "src/render/mod.rs:3"),
        ("config", "plan", "src/config/mod.rs:40"),
        ("serve", "plan", "src/serve/mod.rs:1"),
    ]);
    let report = check(&edges, "top-level modules").expect_err("a cycle");
    assert!(
        report.contains(
            "new cycle: plan -> render (src/plan.rs:12) -> config (src/render/mod.rs:3) -> plan (src/config/mod.rs:40)"
        ),
        "{report}"
    );
    assert!(!report.contains("serve ->"), "{report}");
    // Without the edge that closes it, the same graph passes.
    let edges = graph(&[
        ("plan", "render", "src/plan.rs:12"),
        ("render", "config", "src/render/mod.rs:3"),
        ("serve", "plan", "src/serve/mod.rs:1"),
    ]);
    assert_eq!(check(&edges, "top-level modules"), Ok(()));
}

#[test]
fn a_path_in_an_attribute_s_string_is_an_edge_between_submodules() {
    let source = "#[serde(default = \"super::scope::every\")]\nstruct A;\n#[serde(with = \"crate::config::model::as_text\")]\nstruct B;\n#[serde(default = \"default_command\")]\nstruct C;";
    let path = ["config".to_string(), "formats".to_string()];
    let paths = scan(source, &path).expect("scans").paths;
    let path = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        paths,
        [
            (path(&["config", "scope", "every"]), 1),
            (path(&["config", "model", "as_text"]), 3),
        ]
    );
}

/// A folder-module whose `mod.rs` imports a name from each of its two submodules, and each
/// submodule names the other's through it: a cycle no `super::a::…` path shows.
#[test]
fn a_name_the_folder_s_mod_rs_imports_is_a_path_to_the_submodule_it_comes_from() {
    let edges = edges_of_files(
        &[
            (
                "f/mod.rs",
                "mod a;\nmod b;\nmod c;\npub use a::{Alpha as A, self as _};\nuse b::*;\npub(crate) use self::c::Gamma;\npub struct Own;\n",
            ),
            ("f/a.rs", "pub struct Alpha(super::Beta);\n"),
            (
                "f/b.rs",
                "pub struct Beta;\nfn first() -> Option<super::A> { None }\nfn own() -> super::Own { super::Own }\n",
            ),
            (
                "f/c.rs",
                "pub struct Gamma;\nfn g() -> crate::f::Beta { todo!() }\n",
            ),
        ],
        &["f"],
    );
    assert_eq!(pairs(&edges), [("a", "b"), ("b", "a"), ("c", "b")]);
    let report = check(&edges, "submodules of `f`").expect_err("a cycle");
    assert!(report.contains("a -> b"), "{report}");
}

/// The edges between the submodules of `folder` in a crate of `files` (path, text).
fn edges_of_files(files: &[(&str, &str)], folder: &[&str]) -> Edges {
    let src = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        let file = src.path().join(name);
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("the folder");
        std::fs::write(file, text).expect("a file");
    }
    let scans = scanned(src.path());
    let imports = imports_by_module(&scans);
    let folder: Vec<String> = folder.iter().map(|f| f.to_string()).collect();
    folder_edges(src.path(), &scans, &imports, &folder)
}

fn pairs(edges: &Edges) -> Vec<(&str, &str)> {
    edges
        .keys()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect()
}

/// Two levels down, a submodule that names its sibling's item through a re-export of the
/// folder's parent (`crate::g::X`, where g/mod.rs has `pub use f::x::X;`) depends on that
/// sibling all the same (review 12w, R36): the path is followed through the imports.
#[test]
fn a_name_an_ancestor_re_exports_is_a_path_to_the_module_it_comes_from() {
    let edges = edges_of_files(
        &[
            (
                "g/mod.rs",
                "mod f;\npub use f::x::X;\npub use self::f::y as why;\n",
            ),
            ("g/f/mod.rs", "mod x;\nmod y;\nmod z;\n"),
            ("g/f/x.rs", "pub struct X(crate::g::f::y::Y);\n"),
            ("g/f/y.rs", "pub struct Y(Box<crate::g::X>);\n"),
            ("g/f/z.rs", "fn z() -> super::super::why::Y { todo!() }\n"),
        ],
        &["g", "f"],
    );
    assert_eq!(pairs(&edges), [("x", "y"), ("y", "x"), ("z", "y")]);
    let report = check(&edges, "submodules of `g::f`").expect_err("a cycle");
    assert!(report.contains("x -> y"), "{report}");
}

/// `ports` is where the intake and the cluster side meet: traits and the state both read,
/// no I/O of its own (review 12v, R28). Loading services.yaml and asking GitHub whether it
/// answers are `serve`'s (`serve::reload`, `serve::probe`), so `ports` names no GitHub
/// client.
/// The port between the intake and the cluster side names no Kubernetes type: the cluster
/// side reads the API server's errors into a `ClusterFault` (review 12w, R34), so `serve`
/// does not learn Kubernetes' error model through it.
#[test]
fn ports_names_no_kubernetes_type() {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(Path::new(SRC).join("ports")).expect("src/ports") {
        files.push(entry.expect("an entry").path());
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("kube::") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "ports names Kubernetes types:\n{}",
        found.join("\n")
    );
}

#[test]
fn ports_does_not_use_the_github_client() {
    let edges = crate_edges(Path::new(SRC));
    let sites = edges.get(&("ports".to_string(), "github_client".to_string()));
    assert!(
        sites.is_none(),
        "ports uses github_client at {sites:?}: move what asks GitHub to serve"
    );
}

/// `config` reads services.yaml and its templates folder in one place, `config::load`
/// (review 12w, R40): the rules and the rest of `config` take what was read as data, so
/// they stay pure. A file-system call (`std::fs`, `File::`, a path's `is_file()`,
/// `is_dir()`, `exists()`, `metadata()`, `read_dir()`, `canonicalize()`) in any other file
/// of `src/config/`, outside its test modules, fails here; so does `std::fs` named at all.
#[test]
fn config_reads_files_only_in_load() {
    let config = Path::new(SRC).join("config");
    let mut files = Vec::new();
    rust_files(&config, &mut files);
    files.sort();
    let load = config.join("load");
    assert!(
        files.iter().any(|f| f.starts_with(&load)) && files.len() >= 10,
        "src/config/load/ not found among {files:?}: is the scan blind?"
    );
    let mut found = Vec::new();
    let mut in_load = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a source file");
        let calls = file_system_calls(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if file.starts_with(&load) {
            in_load += calls.len();
            continue;
        }
        for (line, call) in calls {
            found.push(format!("  - {}: {call}", site(Path::new(SRC), file, line)));
        }
    }
    assert!(
        in_load > 0,
        "no file-system call found in src/config/load/: is the scan blind?"
    );
    assert!(
        found.is_empty(),
        "config reads files outside config::load; move the reading there and pass what it \
         read:\n{}",
        found.join("\n")
    );
}

/// The file-system calls in code, outside `#[cfg(test)]` items, with their lines.
fn file_system_calls(source: &str) -> Result<Vec<(usize, String)>, ScanError> {
    const PATH_CALLS: [&str; 8] = [
        "is_file",
        "is_dir",
        "exists",
        "try_exists",
        "metadata",
        "symlink_metadata",
        "read_dir",
        "canonicalize",
    ];
    let tokens = tokenize(source)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        if is_punct(Some(token), '#') && is_punct(tokens.get(i + 1), '[') {
            let end = after_group(&tokens, i + 1);
            let attribute = &tokens[i + 2..end.saturating_sub(1)];
            if let [cfg, rest @ ..] = attribute
                && is_ident(Some(cfg), "cfg")
                && test_only(rest.get(1..rest.len().saturating_sub(1)).unwrap_or(&[]))
            {
                i = after_item(&tokens, end);
            } else {
                i = end;
            }
            continue;
        }
        let next_is_path = tokens.get(i + 1).is_some_and(|t| t.tok == Tok::PathSep);
        let after_dot = i > 0 && is_punct(tokens.get(i - 1), '.');
        match ident(token) {
            // `std::fs` named at all (`use std::{fs, io};`, `use std::fs::read;`).
            Some("fs") if !after_dot => out.push((token.line, "`fs`".to_string())),
            Some(word @ ("File" | "OpenOptions")) if next_is_path => {
                out.push((token.line, format!("`{word}::`")));
            }
            Some(word) if after_dot && PATH_CALLS.contains(&word) => {
                out.push((token.line, format!("`.{word}()`")));
            }
            _ => {}
        }
        i += 1;
    }
    Ok(out)
}

#[test]
fn a_file_system_call_is_found_and_a_test_module_s_is_not() {
    let calls = |source: &str| -> Vec<String> {
        file_system_calls(source)
            .expect("scans")
            .into_iter()
            .map(|(line, call)| format!("{line}: {call}"))
            .collect()
    };
    assert_eq!(
        calls(
            "use std::fs;\nfn f(p: &Path) -> bool {\n    // std::fs::read(p)\n    let _ = \"fs::read\";\n    p.is_file() || std::fs::File::open(p).is_ok()\n}\n#[cfg(test)]\nmod tests {\n    fn g() { std::fs::read(\"x\"); }\n}\n"
        ),
        ["1: `fs`", "5: `.is_file()`", "5: `fs`", "5: `File::`"]
    );
    assert_eq!(
        calls("use std::{fs, io};\nuse std::fs::read_to_string as read;"),
        ["1: `fs`", "2: `fs`"]
    );
    assert_eq!(
        calls("fn f(p: &Path) { p.join(\"x\").display(); }"),
        Vec::<String>::new()
    );
}
