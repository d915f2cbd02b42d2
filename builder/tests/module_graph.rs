//! The builder's modules depend one way: no two top-level modules of the
//! crate name each other (`crate::a` used under `b` and `crate::b` under
//! `a`), and no two sibling files of one directory use each other through
//! `super::`. The allowed graph is described in docs/architecture.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

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

fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (a, uses) in edges {
        for b in uses {
            if a < b && edges.get(b).is_some_and(|u| u.contains(a)) {
                found.push((a.clone(), b.clone()));
            }
        }
    }
    found
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();

    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Per directory: which sibling file uses which.
    let mut siblings: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(f).unwrap();
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
    assert_eq!(
        cycles(&top),
        vec![],
        "modules importing each other: {top:#?}"
    );
    for (dir, edges) in &siblings {
        assert_eq!(
            cycles(edges),
            vec![],
            "files of {} importing each other",
            dir.display()
        );
    }
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
