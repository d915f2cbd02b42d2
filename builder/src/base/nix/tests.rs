use super::*;

fn sp(hash_char: char, name: &str) -> String {
    format!("/nix/store/{}-{name}", hash_char.to_string().repeat(32))
}

fn info(path: &str, size: u64, refs: &[&str]) -> PathInfo {
    PathInfo {
        path: path.to_owned(),
        nar_size: size,
        references: refs.iter().map(|r| (*r).to_owned()).collect(),
    }
}

fn registration(entries: &[(&str, u64, &[&str])]) -> String {
    let mut s = String::new();
    for (path, size, refs) in entries {
        s.push_str(&format!(
            "{path}\nsha256:0000000000000000000000000000000000000000000000000000\n{size}\n\n{}\n",
            refs.len()
        ));
        for r in *refs {
            s.push_str(r);
            s.push('\n');
        }
    }
    s
}

#[test]
fn store_path_rules() {
    assert!(check_store_path(&sp('a', "glibc-2.40")).is_ok());
    assert!(check_store_path(&sp('a', "x+y_z.?=1")).is_ok());
    assert!(check_store_path("/nix/store").is_err());
    assert!(check_store_path("/usr/bin/bash").is_err());
    // e, o, t and u are not Nix base-32 digits.
    assert!(check_store_path(&sp('e', "x")).is_err());
    assert!(check_store_path(&format!("{}/bin", sp('a', "x"))).is_err());
    assert!(check_store_path(&sp('a', "..")).is_err());
    assert!(check_store_path(&sp('a', "")).is_err());
    assert!(check_store_path(&format!("/nix/store/{}x", "a".repeat(32))).is_err());
}

#[test]
fn registration_round_trip_and_self_references_dropped() {
    let (a, b) = (sp('a', "a"), sp('b', "b"));
    let text = registration(&[(&a, 10, &[&a, &b]), (&b, 20, &[])]);
    let got = parse_registration(&text, Path::new("reg")).unwrap();
    assert_eq!(got, vec![info(&a, 10, &[&b]), info(&b, 20, &[])]);
}

#[test]
fn registration_errors_name_the_line() {
    let a = sp('a', "a");
    let text = format!("{a}\nsha256:00\nten\n\n0\n");
    let e = parse_registration(&text, Path::new("reg")).unwrap_err();
    assert!(e.to_string().starts_with("reg:3: narSize `ten`"), "{e}");

    let text = format!("{a}\nsha256:00\n1\n\n2\n{a}\n");
    let e = parse_registration(&text, Path::new("reg")).unwrap_err();
    assert!(
        e.to_string()
            .contains("reg:7: file ends where the reference"),
        "{e}"
    );

    let e = parse_store_paths("/nix/store/short\n", Path::new("sp")).unwrap_err();
    assert!(e.to_string().starts_with("sp:1: `/nix/store/short`"), "{e}");
}

#[test]
fn closure_info_must_be_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (sp('a', "a"), sp('b', "b"), sp('c', "c"));
    std::fs::write(dir.path().join("store-paths"), format!("{a}\n{b}\n")).unwrap();
    std::fs::write(
        dir.path().join("registration"),
        registration(&[(&a, 1, &[&b]), (&b, 1, &[])]),
    )
    .unwrap();
    let closure = read_closure_info(dir.path()).unwrap();
    assert_eq!(closure.paths.len(), 2);
    assert!(closure.registration.is_some());

    std::fs::write(
        dir.path().join("registration"),
        registration(&[(&a, 1, &[&c]), (&b, 1, &[])]),
    )
    .unwrap();
    let e = read_closure_info(dir.path()).unwrap_err();
    assert!(e.to_string().contains("which is not in the closure"), "{e}");

    std::fs::write(
        dir.path().join("registration"),
        registration(&[(&a, 1, &[])]),
    )
    .unwrap();
    let e = read_closure_info(dir.path()).unwrap_err();
    assert!(e.to_string().contains("only in store-paths: ["), "{e}");
}

#[test]
fn popularity_counts_transitive_dependents() {
    // app -> lib -> libc, app -> libc, tool -> libc
    let (app, lib, libc, tool) = (
        sp('a', "app"),
        sp('b', "lib"),
        sp('c', "libc"),
        sp('d', "tool"),
    );
    let closure = Closure {
        paths: vec![
            info(&app, 1, &[&lib, &libc]),
            info(&lib, 1, &[&libc]),
            info(&libc, 1, &[]),
            info(&tool, 1, &[&libc]),
        ],
        registration: None,
    };
    let pop = popularity(&closure);
    assert_eq!(pop[libc.as_str()], 3);
    assert_eq!(pop[lib.as_str()], 1);
    assert_eq!(pop[app.as_str()], 0);
    assert_eq!(pop[tool.as_str()], 0);
}

#[test]
fn popularity_survives_cycles() {
    let (a, b) = (sp('a', "a"), sp('b', "b"));
    let closure = Closure {
        paths: vec![info(&a, 1, &[&b]), info(&b, 1, &[&a])],
        registration: None,
    };
    let pop = popularity(&closure);
    assert_eq!((pop[a.as_str()], pop[b.as_str()]), (1, 1));
}

#[test]
fn grouping_caps_layers_and_keeps_the_popular_alone() {
    let libc = sp('c', "libc");
    let mut paths = vec![info(&libc, 5, &[])];
    let chars: Vec<char> = "abdfghijklmnpqrsvwxyz".chars().collect();
    for (i, ch) in chars.iter().enumerate() {
        paths.push(info(&sp(*ch, &format!("p{i}")), i as u64, &[&libc]));
    }
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    let closure = Closure {
        paths,
        registration: None,
    };
    let n = closure.paths.len();

    let all = group(&closure, 100);
    assert_eq!(all.len(), n);
    assert!(all.iter().all(|g| g.len() == 1));
    assert_eq!(
        all[0],
        vec![libc.clone()],
        "the most depended-upon path goes lowest"
    );
    // Among equally popular paths the bigger one comes first.
    assert_eq!(
        all[1],
        vec![sp(chars[chars.len() - 1], &format!("p{}", chars.len() - 1))]
    );

    let capped = group(&closure, 5);
    assert_eq!(capped.len(), 5);
    assert!(capped[..4].iter().all(|g| g.len() == 1));
    assert_eq!(capped[4].len(), n - 4);
    let mut flat: Vec<String> = capped.concat();
    flat.sort();
    let mut want: Vec<String> = closure.paths.iter().map(|p| p.path.clone()).collect();
    want.sort();
    assert_eq!(flat, want, "every path in exactly one layer");

    assert_eq!(group(&closure, 1).len(), 1);
}

#[test]
fn layer_budget_is_capped() {
    assert_eq!(store_layer_budget(None).unwrap(), 99);
    assert_eq!(store_layer_budget(Some(2)).unwrap(), 1);
    assert!(store_layer_budget(Some(1)).is_err());
    let e = store_layer_budget(Some(101)).unwrap_err();
    assert!(e.to_string().contains("between 2 and 100"), "{e}");
}

#[test]
fn spec_names_one_source_and_a_toplevel_inside() {
    let a = sp('a', "nixos-system");
    let mut spec = NixClosureSpec {
        closure_info: None,
        store_paths: vec![],
        toplevel: None,
        max_layers: None,
        store_root: None,
    };
    assert!(matches!(closure(&spec), Err(NixError::NoPaths)));
    spec.store_paths = vec![PathBuf::from(&a)];
    spec.closure_info = Some(PathBuf::from("/x"));
    assert!(matches!(closure(&spec), Err(NixError::BothSources)));
    spec.closure_info = None;
    let c = closure(&spec).unwrap();
    assert!(c.registration.is_none());
    spec.toplevel = Some(PathBuf::from(format!("{a}/")));
    assert_eq!(toplevel(&spec, &c).unwrap(), Some(a.as_str()));
    spec.toplevel = Some(PathBuf::from(sp('b', "other")));
    assert!(matches!(
        toplevel(&spec, &c),
        Err(NixError::ToplevelNotInClosure { .. })
    ));
}

#[test]
fn spec_toml_keeps_old_fields_and_defaults_new_ones() {
    let spec: NixClosureSpec = toml::from_str("closure_info = \"/ci\"\nmax_layers = 50\n").unwrap();
    assert_eq!(spec.closure_info, Some(PathBuf::from("/ci")));
    assert_eq!(spec.max_layers, Some(50));
    assert_eq!(spec.store_root, None);
    assert!(toml::from_str::<NixClosureSpec>("closure = \"/ci\"\n").is_err());
}

#[test]
fn an_oversized_closure_info_file_is_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    // Sparse: the size is what matters, not the bytes.
    let f = std::fs::File::create(d.path().join("store-paths")).unwrap();
    f.set_len(MAX_CLOSURE_INFO_BYTES + 1).unwrap();
    std::fs::write(d.path().join("registration"), "").unwrap();
    let e = read_closure_info(d.path()).unwrap_err();
    assert!(
        matches!(e, NixError::TooLarge { ref path, cap } if path.ends_with("store-paths") && cap == MAX_CLOSURE_INFO_BYTES),
        "{e}"
    );
    assert!(e.to_string().contains("larger than"), "{e}");
}
