//! The files that bring the container back after a reboot of the host carry
//! what README.md's commands carry, flag for flag: the Quadlet unit
//! (`softap.container`) README's `podman run`, `compose.yaml` its `docker
//! run`. A flag added to a command and not to its file (or the other way
//! round) fails here.

use std::collections::BTreeMap;

use softap_tests::{images::workspace_root, readme};

/// A run command's flags in order, each with its value, and its image.
fn run_flags(cmd: &str, runtime: &str) -> (Vec<(String, Option<String>)>, String) {
    let prefix = format!("{runtime} run ");
    let rest = cmd
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{cmd:?} is not a `{prefix}` command"));
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let image = words.pop().expect("the command names an image").to_owned();
    let mut flags = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        assert!(w.starts_with('-'), "{w:?} in {cmd:?} is not a flag");
        let (flag, value) = match w.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None if ["-d", "--privileged"].contains(&w) => (w, None),
            None => (
                w,
                Some(
                    words
                        .next()
                        .unwrap_or_else(|| panic!("{w} has no value in {cmd:?}"))
                        .to_owned(),
                ),
            ),
        };
        flags.push((flag.to_owned(), value));
    }
    (flags, image)
}

/// A systemd-style unit file as (section, key, value), in order.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{line:?} is not key=value"));
        out.push((section.clone(), key.to_owned(), value.to_owned()));
    }
    out
}

#[test]
fn the_quadlet_unit_carries_the_readme_podman_flags() {
    let readme = readme::read().unwrap();
    let path = workspace_root().join("softap.container");
    let unit = unit_entries(&std::fs::read_to_string(&path).unwrap());
    let values = |section: &str, key: &str| -> Vec<&str> {
        unit.iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };

    let (flags, image) = run_flags(&readme.podman_run, "podman");
    let mut want: Vec<(&str, String)> = Vec::new();
    for (flag, value) in &flags {
        let value = value.clone().unwrap_or_default();
        match flag.as_str() {
            // systemd runs the container in the background itself.
            "-d" => {}
            "--name" => want.push(("ContainerName", value)),
            "--privileged" => want.push(("PodmanArgs", flag.clone())),
            "--network" => want.push(("Network", value)),
            "--stop-timeout" => want.push(("StopTimeout", value)),
            "-v" => want.push(("Volume", value)),
            other => panic!(
                "README's podman command has {other}, which {} does not carry",
                path.display()
            ),
        }
    }
    // The archive README runs, by an absolute path (a system unit has no
    // working directory of the user's).
    let (transport, file) = image.split_once(':').expect("a transport:path image");
    let unit_image = values("Container", "Image");
    let [unit_image] = unit_image.as_slice() else {
        panic!("{}: one Image= wanted, got {unit_image:?}", path.display())
    };
    let (unit_transport, unit_file) = unit_image.split_once(':').unwrap();
    assert_eq!(unit_transport, transport);
    assert!(unit_file.starts_with('/'), "{unit_image} is not absolute");
    assert_eq!(
        unit_file.rsplit('/').next(),
        file.rsplit('/').next(),
        "{} runs another archive than README's command",
        path.display()
    );

    // Both ways: every [Container] key but Image= stands for a flag. Keys
    // in any order, the volumes in README's.
    let mut got: Vec<(&str, String)> = unit
        .iter()
        .filter(|(s, k, _)| s == "Container" && k != "Image")
        .map(|(_, k, v)| (k.as_str(), v.clone()))
        .collect();
    got.sort_by_key(|(k, _)| *k);
    want.sort_by_key(|(k, _)| *k);
    assert_eq!(
        got,
        want,
        "{}'s [Container] and README's podman command differ",
        path.display()
    );

    assert_eq!(values("Install", "WantedBy"), ["multi-user.target"]);
    let stop: u64 = values("Container", "StopTimeout")[0].parse().unwrap();
    let timeout = values("Service", "TimeoutStopSec");
    let timeout: u64 = timeout
        .first()
        .map(|t| t.parse().expect("TimeoutStopSec in seconds"))
        .unwrap_or(90);
    assert!(
        timeout > stop,
        "systemd would cut podman's {stop} s stop short at {timeout} s"
    );
}

/// The subset of YAML compose.yaml is written in: nested maps, lists of
/// plain values, comments.
#[derive(Debug, Clone, PartialEq)]
enum Yaml {
    Scalar(String),
    List(Vec<String>),
    Map(BTreeMap<String, Yaml>),
}

impl Yaml {
    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(m) => m.get(key),
            _ => None,
        }
    }
    fn scalar(&self) -> &str {
        match self {
            Yaml::Scalar(s) => s,
            other => panic!("{other:?} is not a plain value"),
        }
    }
}

fn parse_yaml(text: &str) -> Yaml {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| (l.len() - l.trim_start().len(), l.trim()))
        .collect();
    let (yaml, next) = block(&lines, 0, 0);
    assert_eq!(
        next,
        lines.len(),
        "compose.yaml: {:?} is out of place",
        lines.get(next)
    );
    yaml
}

fn block(lines: &[(usize, &str)], mut at: usize, indent: usize) -> (Yaml, usize) {
    if lines
        .get(at)
        .is_some_and(|(i, l)| *i == indent && l.starts_with("- "))
    {
        let mut items = Vec::new();
        while let Some((i, l)) = lines.get(at).filter(|(i, _)| *i == indent) {
            let item = l
                .strip_prefix("- ")
                .unwrap_or_else(|| panic!("{l:?} at {i}: not an item"));
            items.push(item.to_owned());
            at += 1;
        }
        return (Yaml::List(items), at);
    }
    let mut map = BTreeMap::new();
    while let Some((i, l)) = lines.get(at).filter(|(i, _)| *i == indent) {
        let (key, value) = l
            .split_once(':')
            .unwrap_or_else(|| panic!("{l:?} at {i}: not key: value"));
        at += 1;
        let value = value.trim();
        let value = if value.is_empty() {
            let deeper = lines.get(at).map_or(indent, |(i, _)| *i);
            assert!(deeper > indent, "{key} has no value");
            let (v, next) = block(lines, at, deeper);
            at = next;
            v
        } else {
            Yaml::Scalar(value.to_owned())
        };
        assert!(map.insert(key.to_owned(), value).is_none(), "{key} twice");
    }
    (Yaml::Map(map), at)
}

#[test]
fn the_compose_file_carries_the_readme_docker_flags() {
    let readme = readme::read().unwrap();
    assert!(
        readme.docker_run.contains(" --restart unless-stopped "),
        "README's docker command does not come back after a reboot: {}",
        readme.docker_run
    );
    let path = workspace_root().join("compose.yaml");
    let compose = parse_yaml(&std::fs::read_to_string(&path).unwrap());
    let Some(Yaml::Map(services)) = compose.get("services") else {
        panic!("{}: no services", path.display())
    };
    let [(_, service)] = services.iter().collect::<Vec<_>>()[..] else {
        panic!("{}: one service wanted", path.display())
    };

    let (flags, image) = run_flags(&readme.docker_run, "docker");
    let mut want: BTreeMap<String, Yaml> = BTreeMap::new();
    let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    want.insert("image".into(), Yaml::Scalar(image));
    for (flag, value) in &flags {
        let value = value.clone().unwrap_or_default();
        let scalar = match flag.as_str() {
            // `docker compose up -d`.
            "-d" => continue,
            "--name" => ("container_name", value),
            "--privileged" => ("privileged", "true".to_owned()),
            "--network" => ("network_mode", value),
            "--restart" => ("restart", value),
            "--stop-timeout" => ("stop_grace_period", format!("{value}s")),
            "--tmpfs" => {
                lists.entry("tmpfs").or_default().push(value);
                continue;
            }
            "-v" => {
                lists.entry("volumes").or_default().push(value);
                continue;
            }
            other => panic!(
                "README's docker command has {other}, which {} does not carry",
                path.display()
            ),
        };
        want.insert(scalar.0.into(), Yaml::Scalar(scalar.1));
    }
    for (key, items) in &lists {
        want.insert((*key).into(), Yaml::List(items.clone()));
    }
    assert_eq!(
        service,
        &Yaml::Map(want),
        "{}'s service and README's docker command differ",
        path.display()
    );

    // Named volumes are README's own, not prefixed with the project's name.
    for volume in &lists["volumes"] {
        let source = volume.split(':').next().unwrap();
        if source.starts_with('/') {
            continue;
        }
        let declared = compose.get("volumes").and_then(|v| v.get(source));
        assert_eq!(
            declared.and_then(|d| d.get("name")).map(Yaml::scalar),
            Some(source),
            "{}: volume {source} is not declared with name: {source}",
            path.display()
        );
    }
}

#[test]
fn the_readme_names_both_files() {
    let text = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    for (file, use_) in [
        (
            "softap.container",
            "/etc/containers/systemd/softap.container",
        ),
        ("compose.yaml", "docker compose up -d"),
    ] {
        assert!(
            text.contains(&format!("`{file}`")),
            "README.md does not name {file}"
        );
        assert!(text.contains(use_), "README.md does not say `{use_}`");
    }
}

#[test]
fn the_parsers_see_what_the_files_say() {
    let (flags, image) = run_flags("podman run -d --network=host --name x -v a:b img", "podman");
    assert_eq!(image, "img");
    assert_eq!(
        flags,
        [
            ("-d".to_owned(), None),
            ("--network".to_owned(), Some("host".to_owned())),
            ("--name".to_owned(), Some("x".to_owned())),
            ("-v".to_owned(), Some("a:b".to_owned())),
        ]
    );
    let y = parse_yaml("a:\n  b: c\n  d:\n    - e\n    - f\nx:\n  y:\n    name: z\n");
    assert_eq!(
        y.get("a").and_then(|a| a.get("b")).map(Yaml::scalar),
        Some("c")
    );
    assert_eq!(
        y.get("a").and_then(|a| a.get("d")),
        Some(&Yaml::List(vec!["e".into(), "f".into()]))
    );
    assert_eq!(
        unit_entries("# c\n[A]\nK=v\n\n[B]\nK=w=x\n"),
        [
            ("A".to_owned(), "K".to_owned(), "v".to_owned()),
            ("B".to_owned(), "K".to_owned(), "w=x".to_owned())
        ]
    );
}
