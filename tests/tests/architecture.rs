//! The shape docs/architecture.md promises, checked: in every crate, no
//! cycle of any length among its top-level modules (`crate::a` used under
//! `b`) nor among the sibling files of one directory (through `super::`);
//! the modules each production module uses are the ones the document's
//! edge list gives; `virsh` is spelled in one agent module; no production
//! file is over 700 lines; and the builder links neither the agent nor any
//! netlink crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module names following `prefix` in `text` (`prefix` then a name, or
/// `prefix` then `{a, b::c}`).
fn named_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|p| ident(p.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// The text without its comment lines (a doc link is not a dependency).
fn code_only(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cycles of a directed graph, of any length: each strongly connected
/// part of more than one node, its nodes in order.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(n) = todo.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|n| (n, reach(n))).collect();
    let mut placed = BTreeSet::new();
    let mut found = Vec::new();
    for (a, from_a) in &reached {
        if placed.contains(*a) {
            continue;
        }
        let part: Vec<String> = from_a
            .iter()
            .filter(|b| *b != *a && reached.get(b).is_some_and(|r| r.contains(*a)))
            .cloned()
            .collect();
        if !part.is_empty() {
            let mut part = part;
            part.insert(0, (*a).clone());
            part.sort();
            placed.extend(part.iter().cloned());
            found.push(part);
        }
    }
    found
}

/// The text without its `#[cfg(test)]` items: a `mod x;` line, or a block
/// up to the brace that closes it at the same indentation.
fn production_only(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push(line);
            continue;
        }
        let Some(item) = lines.next() else { break };
        if item.trim_end().ends_with('{') {
            let indent = &item[..item.len() - item.trim_start().len()];
            let close = format!("{indent}}}");
            for l in lines.by_ref() {
                if l.trim_end() == close {
                    break;
                }
            }
        }
    }
    out.join("\n")
}

/// The files a `#[cfg(test)] mod x;` declares: test code only.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let text = fs::read_to_string(f).unwrap();
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let dir = f.parent().unwrap();
        let dir = if ["mod", "lib", "main"].contains(&stem) {
            dir.to_owned()
        } else {
            dir.join(stem)
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            let decl = pair[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if pair[0] == "#[cfg(test)]" {
                if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
                    out.insert(dir.join(format!("{name}.rs")));
                    out.insert(dir.join(name).join("mod.rs"));
                }
            }
        }
    }
    out
}

/// A crate's production files (test-only ones left out), each with its
/// top-level module and its code without comments or test items.
fn production_files(src: &Path) -> Vec<(PathBuf, String, String)> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let tests = test_only_files(&files);
    files
        .into_iter()
        .filter(|f| !tests.contains(f))
        .map(|f| {
            let module = top_module(src, &f);
            let text = production_only(&code_only(&fs::read_to_string(&f).unwrap()));
            (f, module, text)
        })
        .collect()
}

fn top_module(src: &Path, f: &Path) -> String {
    let rel = f.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// Which top-level modules each production module uses.
fn production_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, text) in production_files(src) {
        if module == "lib" || module == "main" {
            continue;
        }
        let used = named_after(&text, "crate::");
        edges
            .entry(module.clone())
            .or_default()
            .extend(used.into_iter().filter(|m| *m != module));
    }
    edges
}

/// The edge list in docs/architecture.md: after a line
/// `<!-- module edges: CRATE -->`, a fenced block of `module → a, b` lines
/// (`module →` alone for a leaf).
fn documented_edges(doc: &str, krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let marker = format!("<!-- module edges: {krate} -->");
    let Some(at) = doc.find(&marker) else {
        return BTreeMap::new();
    };
    let mut edges = BTreeMap::new();
    for line in doc[at + marker.len()..]
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
    {
        let Some((module, uses)) = line.split_once('→') else {
            continue;
        };
        let uses: BTreeSet<String> = uses
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        edges.insert(module.trim().to_owned(), uses);
    }
    edges
}

fn edge_list(edges: &BTreeMap<String, BTreeSet<String>>) -> String {
    edges
        .iter()
        .map(|(m, uses)| {
            let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
            format!("{m} → {}", uses.join(", ")).trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one crate's `src/`; returns the cycles found, described.
fn crate_cycles(krate: &str, src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();

    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Per directory: which sibling file uses which.
    let mut siblings: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in &files {
        let module = top_module(src, f);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = code_only(&fs::read_to_string(f).unwrap());
        let used = named_after(&text, "crate::");
        top.entry(module.clone())
            .or_default()
            .extend(used.into_iter().filter(|m| *m != module));

        let stem = f.file_stem().unwrap().to_str().unwrap().to_owned();
        if stem == "mod" {
            continue;
        }
        let dir = f.parent().unwrap();
        let is_sibling =
            |m: &str| m != stem && (dir.join(format!("{m}.rs")).is_file() || dir.join(m).is_dir());
        let used: BTreeSet<String> = named_after(&text, "super::")
            .into_iter()
            .filter(|m| is_sibling(m))
            .collect();
        siblings
            .entry(dir.to_owned())
            .or_default()
            .entry(stem.clone())
            .or_default()
            .extend(used);
    }
    let mut found: Vec<String> = cycles(&top)
        .into_iter()
        .map(|c| format!("{krate}: modules {} use each other", c.join(", ")))
        .collect();
    for (dir, edges) in &siblings {
        for c in cycles(edges) {
            found.push(format!(
                "{krate}: files {} of {} use each other",
                c.join(", "),
                dir.display()
            ));
        }
    }
    found
}

#[test]
fn modules_depend_one_way_in_every_crate() {
    let root = workspace();
    let mut found = Vec::new();
    let mut checked = 0;
    for krate in ["agent", "builder", "config", "tests"] {
        let src = root.join(krate).join("src");
        assert!(src.is_dir(), "{} is missing", src.display());
        checked += 1;
        found.extend(crate_cycles(krate, &src));
    }
    assert_eq!(checked, 4);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn cycles_of_any_length_are_found() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    let three = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "d")]);
    assert_eq!(cycles(&three), [["a", "b", "c"]]);
    let two = graph(&[("x", "y"), ("y", "x")]);
    assert_eq!(cycles(&two), [["x", "y"]]);
    let none = graph(&[("a", "b"), ("b", "c"), ("a", "c")]);
    assert!(cycles(&none).is_empty());
}

#[test]
fn test_items_are_not_production_code() {
    let t = "use crate::a;\n#[cfg(test)]\nmod fake;\nfn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn g() {\n    }\n}\nuse crate::c;";
    assert_eq!(
        named_after(&production_only(t), "crate::"),
        ["a", "c"].map(String::from).into()
    );
}

#[test]
fn the_documented_module_edges_are_the_code_s() {
    let root = workspace();
    let doc = fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut wrong = Vec::new();
    for krate in ["agent", "builder", "config"] {
        let code = production_edges(&root.join(krate).join("src"));
        let documented = documented_edges(&doc, krate);
        if code != documented {
            wrong.push(format!(
                "docs/architecture.md's edges for {krate} are not the code's; the code has:\n\n<!-- module edges: {krate} -->\n```text\n{}\n```",
                edge_list(&code)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn virsh_is_spelled_in_one_agent_module() {
    let src = workspace().join("agent/src");
    let spelled: BTreeSet<String> = production_files(&src)
        .into_iter()
        .filter(|(_, _, text)| text.contains("\"virsh"))
        .map(|(_, module, _)| module)
        .collect();
    assert_eq!(spelled, ["libvirt".to_string()].into(), "{spelled:?}");
}

#[test]
fn the_machine_s_facts_are_read_only_in_facts() {
    // What the machine is (its radios' addresses, its machine id) is
    // gathered by `facts/`; the rest of the agent asks it.
    let src = workspace().join("agent/src");
    let readers: BTreeSet<String> = production_files(&src)
        .into_iter()
        .filter(|(_, _, text)| {
            [
                "\"macaddress\"",
                "\"addresses\"",
                "machine-id\"",
                "\"class/ieee80211",
            ]
            .iter()
            .any(|needle| text.contains(needle))
        })
        .map(|(_, module, _)| module)
        .collect();
    assert_eq!(readers, ["facts".to_string()].into(), "{readers:?}");
}

#[test]
fn no_production_file_is_over_700_lines() {
    let root = workspace();
    let mut long = Vec::new();
    for krate in ["agent", "builder", "config", "tests"] {
        let mut files = Vec::new();
        sources(&root.join(krate).join("src"), &mut files);
        let tests = test_only_files(&files);
        for f in files.iter().filter(|f| !tests.contains(*f)) {
            let n = fs::read_to_string(f).unwrap().lines().count();
            if n > 700 {
                long.push(format!("{}: {n} lines", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_scanner_sees_groups_and_ignores_longer_names() {
    let t = "use crate::{a, b::c};\nuse crate::d::e;\nlet x = my_crate::f;\nsuper::g::h();";
    assert_eq!(
        named_after(t, "crate::"),
        ["a", "b", "d"].map(String::from).into()
    );
    assert_eq!(named_after(t, "super::"), ["g"].map(String::from).into());
}

#[test]
fn the_builder_does_not_depend_on_the_agent_or_netlink() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "-p",
            "softap-build",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo tree runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("softap-build"), "{text}");
    assert!(text.contains("softap-config"), "{text}");
    for bad in ["softap-agent", "netlink", "nl80211", "qrcode"] {
        assert!(
            !text.contains(bad),
            "softap-build depends on {bad}:\n{text}"
        );
    }
}
