//! The shape docs/architecture.md promises, checked: in every crate, no two
//! top-level modules name each other (`crate::a` used under `b` and
//! `crate::b` under `a`) and no two sibling files of one directory use each
//! other through `super::`; and the builder links neither the agent nor any
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

/// Checks one crate's `src/`; returns the cycles found, described.
fn crate_cycles(krate: &str, src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();

    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Per directory: which sibling file uses which.
    let mut siblings: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(src).unwrap();
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
        .map(|(a, b)| format!("{krate}: modules `{a}` and `{b}` use each other"))
        .collect();
    for (dir, edges) in &siblings {
        for (a, b) in cycles(edges) {
            found.push(format!(
                "{krate}: files `{a}` and `{b}` of {} use each other",
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
