//! The nix-closure base end to end: a fake store made here (directories,
//! a single-file and a symlink store path, hard links, a NixOS-like toplevel)
//! with a closure-info directory in Nix's own format, built into an OCI image
//! that skopeo inspects and umoci unpacks into the expected tree, with one
//! layer per store path up to the cap and the least popular ones grouped.

mod common;

use std::fs;
use std::io::BufWriter;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{message, require, run, snapshot, EPOCH};
use softap_build::base::nix;
use softap_build::build::write_layer;
use softap_build::oci::{self, ImageLayer};
use softap_build::spec::{self, Base};
use softap_build::store::Store;

/// A store path name with a valid Nix base-32 hash made of one character.
fn store_path(c: char, name: &str) -> String {
    format!("/nix/store/{}-{name}", c.to_string().repeat(32))
}

struct FakeStore {
    root: PathBuf,
    /// (path, references), in the order written to `store-paths`.
    paths: Vec<(String, Vec<String>)>,
    libc: String,
    bash: String,
    hello: String,
    script: String,
    link: String,
    toplevel: String,
    leaves: Vec<String>,
}

fn file(p: &Path, content: &[u8], mode: u32) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Store paths are read-only in a real store; keep that.
fn seal(dir: &Path) {
    for e in walkdir::WalkDir::new(dir).contents_first(true) {
        let e = e.unwrap();
        if e.file_type().is_dir() {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o555)).unwrap();
        }
    }
}

impl FakeStore {
    fn at(&self, store_path: &str) -> PathBuf {
        self.root.join(store_path.trim_start_matches('/'))
    }

    fn new(root: &Path) -> FakeStore {
        let libc = store_path('0', "glibc-2.40-66");
        let bash = store_path('1', "bash-5.2p37");
        let hello = store_path('2', "hello-2.12.1");
        let script = store_path('3', "builder.sh");
        let link = store_path('4', "hello-link");
        let toplevel = store_path('5', "nixos-system-softap-25.05");
        let leaves: Vec<String> = "6789abcd"
            .chars()
            .enumerate()
            .map(|(i, c)| store_path(c, &format!("leaf-{i}")))
            .collect();
        let mut s = FakeStore {
            root: root.to_owned(),
            paths: Vec::new(),
            libc: libc.clone(),
            bash: bash.clone(),
            hello: hello.clone(),
            script: script.clone(),
            link: link.clone(),
            toplevel: toplevel.clone(),
            leaves: leaves.clone(),
        };

        let d = s.at(&libc);
        file(&d.join("lib/libc.so.6"), b"\x7fELF libc", 0o555);
        fs::hard_link(d.join("lib/libc.so.6"), d.join("lib/libc-2.40.so")).unwrap();
        file(&d.join("lib/ld-linux-x86-64.so.2"), b"\x7fELF ld.so", 0o555);
        seal(&d);

        let d = s.at(&bash);
        file(
            &d.join("bin/bash"),
            format!("\x7fELF bash {libc}").as_bytes(),
            0o555,
        );
        symlink("bash", d.join("bin/sh")).unwrap();
        seal(&d);

        let d = s.at(&hello);
        file(
            &d.join("bin/hello"),
            format!("#!{bash}/bin/sh\necho hello\n").as_bytes(),
            0o555,
        );
        file(&d.join("share/doc/hello/README"), b"Hello, world.\n", 0o444);
        seal(&d);

        file(
            &s.at(&script),
            format!("#!{bash}/bin/sh\n").as_bytes(),
            0o444,
        );
        symlink(format!("{hello}/bin/hello"), s.at(&link)).unwrap();

        for (i, leaf) in leaves.iter().enumerate() {
            let d = s.at(leaf);
            file(
                &d.join(format!("share/leaf-{i}")),
                format!("leaf {i}\n").as_bytes(),
                0o444,
            );
            seal(&d);
        }

        let d = s.at(&toplevel);
        file(
            &d.join("init"),
            format!("#!{bash}/bin/sh\nexec systemd\n").as_bytes(),
            0o555,
        );
        file(&d.join("etc/os-release"), b"ID=nixos\n", 0o444);
        seal(&d);

        let mut top_refs = vec![
            libc.clone(),
            bash.clone(),
            hello.clone(),
            script.clone(),
            link.clone(),
        ];
        top_refs.extend(leaves.iter().cloned());
        s.paths = vec![
            (libc.clone(), vec![libc.clone()]),
            (bash.clone(), vec![libc.clone(), bash.clone()]),
            (hello.clone(), vec![bash.clone(), libc.clone()]),
            (script.clone(), vec![bash.clone()]),
            (link.clone(), vec![hello.clone()]),
            (toplevel.clone(), top_refs),
        ];
        for leaf in &leaves {
            s.paths.push((leaf.clone(), vec![libc.clone()]));
        }
        s
    }

    /// `closureInfo`'s output: `store-paths` and `registration`.
    fn closure_info(&self, dir: &Path) -> String {
        fs::create_dir_all(dir).unwrap();
        let mut store_paths = String::new();
        let mut registration = String::new();
        for (p, refs) in &self.paths {
            store_paths.push_str(&format!("{p}\n"));
            registration.push_str(&format!(
                "{p}\nsha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s\n{}\n\n{}\n",
                1000 + p.len(),
                refs.len()
            ));
            for r in refs {
                registration.push_str(&format!("{r}\n"));
            }
        }
        fs::write(dir.join("store-paths"), store_paths).unwrap();
        fs::write(dir.join("registration"), &registration).unwrap();
        registration
    }
}

fn spec(dir: &Path, store: &FakeStore, max_layers: u32) -> PathBuf {
    let text = format!(
        r#"[image]
name = "softap-nix"
tag = "test"
source_date_epoch = {EPOCH}

[base]
kind = "nix-closure"
closure_info = "closure-info"
toplevel = "{top}"
store_root = "{root}"
max_layers = {max_layers}

[container]
entrypoint = ["/sbin/init"]
stop_signal = "SIGRTMIN+3"

[output]
oci_archive = true
oci_dir = true
disk = false
"#,
        top = store.toplevel,
        root = store.root.display(),
    );
    let p = dir.join("nix.toml");
    fs::write(&p, text).unwrap();
    p
}

/// What one build produced.
#[derive(Debug)]
struct Built {
    names: Vec<String>,
    manifest_digest: String,
    oci_dir: PathBuf,
    archive: PathBuf,
}

/// The spec's Nix base through the builder's own layer writer and OCI
/// assembly, into `dir/<tag>` with its own blob cache.
fn build_nix(spec_path: &Path, dir: &Path, tag: &str) -> Result<Built, String> {
    let spec = spec::load(spec_path, None).map_err(|e| message(&e))?;
    let Base::NixClosure(n) = &spec.base else {
        panic!("the spec's base is not nix-closure: {:?}", spec.base);
    };
    let out = dir.join(tag);
    let store = Store::open(&out.join("cache")).map_err(|e| message(&e))?;
    let layers = nix::layers(n, spec.image.source_date_epoch).map_err(|e| message(&e))?;
    let mut image_layers = Vec::new();
    for l in &layers {
        let (blob, _) = write_layer(l, &spec, &store, false).map_err(|e| message(&e))?;
        image_layers.push(ImageLayer {
            name: l.name.clone(),
            blob,
        });
    }
    let image = oci::assemble(&spec, image_layers, None, &store).map_err(|e| message(&e))?;
    let oci_dir = out.join("oci");
    oci::write_dir(&image, &store, &oci_dir).map_err(|e| message(&e))?;
    let archive = out.join("softap-nix.oci.tar");
    let f = fs::File::create(&archive).map_err(|e| message(&e))?;
    let w = oci::write_archive(
        &image,
        &store,
        BufWriter::new(f),
        spec.image.source_date_epoch,
    )
    .map_err(|e| message(&e))?;
    w.into_inner().map_err(|e| message(&e))?;
    Ok(Built {
        names: layers.iter().map(|l| l.name.clone()).collect(),
        manifest_digest: image.manifest_digest.to_string(),
        oci_dir,
        archive,
    })
}

#[test]
fn closure_becomes_capped_layers_that_skopeo_and_umoci_read() {
    require("skopeo", "skopeo");
    require("umoci", "umoci");
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store-root"));
    let registration = store.closure_info(&tmp.path().join("closure-info"));
    let n = store.paths.len();
    assert_eq!(n, 14);

    // Cap 6: the skeleton, 4 store paths alone, the other 10 together.
    let report = build_nix(&spec(tmp.path(), &store, 6), tmp.path(), "a").unwrap();
    let got = report.names.clone();
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(got[0], "nix-root");
    // glibc is depended upon by every other path, bash by 4, hello by 2
    // (hello-link and the toplevel).
    assert_eq!(got[1], "nix: glibc-2.40-66");
    assert_eq!(got[2], "nix: bash-5.2p37");
    assert_eq!(got[3], "nix: hello-2.12.1");
    // Then builder.sh and hello-link (the toplevel needs each): equal sizes,
    // so the path decides.
    assert_eq!(got[4], "nix: builder.sh");
    assert_eq!(got[5], format!("nix: {} less popular store paths", n - 4));

    let oci_dir = report.oci_dir.clone();
    let archive = report.archive.clone();
    let inspect = run(Command::new("skopeo")
        .args(["inspect"])
        .arg(format!("oci:{}:test", oci_dir.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 6, "{inspect}");
    let config = run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}:test", archive.display())));
    let c: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        c["config"]["Entrypoint"],
        serde_json::json!(["/sbin/init"]),
        "{config}"
    );
    assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 6);

    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:test", oci_dir.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let tree = snapshot(&rootfs);
    let node = |p: &str| {
        tree.get(p.trim_start_matches('/'))
            .unwrap_or_else(|| panic!("{p} missing from the unpacked image"))
    };

    // Every store path of the closure, and nothing of the store beyond it.
    let mut in_store: Vec<String> = tree
        .keys()
        .filter(|k| k.starts_with("nix/store/") && k.matches('/').count() == 2)
        .map(|k| format!("/{k}"))
        .collect();
    in_store.sort();
    let mut want: Vec<String> = store.paths.iter().map(|(p, _)| p.clone()).collect();
    want.sort();
    assert_eq!(in_store, want);

    assert_eq!(node("/sbin/init").kind, "symlink");
    assert_eq!(
        node("/sbin/init").content,
        format!("{}/init", store.toplevel)
    );
    assert_eq!(
        node("/etc/os-release").content,
        format!("{}/etc/os-release", store.toplevel)
    );
    let reg = fs::read(rootfs.join("nix-path-registration")).unwrap();
    assert_eq!(reg, registration.as_bytes());
    assert_eq!(node("/tmp").mode, 0o1777);
    for dir in ["dev", "proc", "sys", "run"] {
        assert_eq!(node(dir).kind, "dir");
    }

    // Contents, modes and owners as in the store.
    let hello = format!("{}/bin/hello", store.hello);
    assert_eq!(
        fs::read(rootfs.join(hello.trim_start_matches('/'))).unwrap(),
        fs::read(store.at(&hello)).unwrap()
    );
    assert_eq!(node(&hello).mode, 0o555);
    assert_eq!(
        node(&format!("{}/share/doc/hello/README", store.hello)).mode,
        0o444
    );
    assert_eq!(node(&store.hello).mode, 0o555);
    assert_eq!(node(&format!("{}/bin/sh", store.bash)).content, "bash");
    assert_eq!(node(&store.script).kind, "file");
    assert_eq!(node(&store.script).mode, 0o444);
    assert_eq!(node(&store.link).kind, "symlink");
    assert_eq!(
        node(&store.link).content,
        format!("{}/bin/hello", store.hello)
    );
    let libc = format!("{}/lib/libc.so.6", store.libc);
    assert_eq!(
        node(&libc).links,
        vec![
            format!("{}/lib/libc-2.40.so", &store.libc[1..]),
            libc[1..].to_owned()
        ],
        "hard links inside a store path stay hard links"
    );
    for (p, n) in &tree {
        if p.starts_with("nix/") {
            assert_eq!((n.uid, n.gid), (0, 0), "{p} is not root's");
            assert!(
                n.mtime <= EPOCH as i64,
                "{p} has mtime {} after SOURCE_DATE_EPOCH",
                n.mtime
            );
        }
    }
    // Leaves share the grouped layer: no two of them in one layer would
    // mean they were split; check their files arrived.
    for (i, leaf) in store.leaves.iter().enumerate() {
        assert_eq!(node(&format!("{leaf}/share/leaf-{i}")).kind, "file");
    }

    // The same closure with another cache gives the same image, byte for byte.
    let again = build_nix(&spec(tmp.path(), &store, 6), tmp.path(), "b").unwrap();
    assert_eq!(again.manifest_digest, report.manifest_digest);
}

#[test]
fn default_cap_gives_every_store_path_a_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store-root"));
    store.closure_info(&tmp.path().join("closure-info"));
    let report = build_nix(&spec(tmp.path(), &store, 100), tmp.path(), "a").unwrap();
    assert_eq!(
        report.names.len(),
        1 + store.paths.len(),
        "{:?}",
        report.names
    );
    assert!(report.names[1..]
        .iter()
        .all(|n| n.starts_with("nix: ") && !n.contains("less popular")));
}

#[test]
fn bad_closures_fail_naming_the_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store-root"));
    store.closure_info(&tmp.path().join("closure-info"));

    // Past the layer cap containers cannot mount.
    let e = build_nix(&spec(tmp.path(), &store, 101), tmp.path(), "a").unwrap_err();
    assert!(e.contains("max_layers = 101"), "{e}");

    // A toplevel outside the closure.
    let text = fs::read_to_string(spec(tmp.path(), &store, 6)).unwrap();
    let other = store_path('y', "nixos-system-other");
    let p = tmp.path().join("other.toml");
    fs::write(&p, text.replace(&store.toplevel, &other)).unwrap();
    let e = build_nix(&p, tmp.path(), "a").unwrap_err();
    assert!(
        e.contains(&other) && e.contains("not one of the closure"),
        "{e}"
    );

    // A path the closure names but the store lacks.
    fs::set_permissions(store.at(&store.hello), fs::Permissions::from_mode(0o755)).unwrap();
    fs::rename(store.at(&store.hello), tmp.path().join("moved")).unwrap();
    let e = build_nix(&spec(tmp.path(), &store, 6), tmp.path(), "a").unwrap_err();
    assert!(e.contains(&store.hello), "{e}");

    // A registration that refers outside the closure.
    let ci = tmp.path().join("closure-info");
    let reg = fs::read_to_string(ci.join("registration")).unwrap();
    let outside = store_path('z', "not-in-closure");
    let broken = reg.replacen(
        &format!("\n1\n{}\n", store.libc),
        &format!("\n1\n{outside}\n"),
        1,
    );
    assert_ne!(broken, reg);
    fs::write(ci.join("registration"), broken).unwrap();
    let e = build_nix(&spec(tmp.path(), &store, 6), tmp.path(), "a").unwrap_err();
    assert!(e.contains("not in the closure"), "{e}");
}

/// What `nix build .#softap-image` runs inside its derivation:
/// `softap-build build SPEC --out out --cache cache --json`.
#[test]
fn the_cli_builds_it_as_the_flake_does_and_keeps_the_last_good_output() {
    require("skopeo", "skopeo");
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store-root"));
    store.closure_info(&tmp.path().join("closure-info"));
    let cli = |spec_path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_softap-build"))
            .arg("build")
            .arg(spec_path)
            .arg("--out")
            .arg(tmp.path().join("out"))
            .arg("--cache")
            .arg(tmp.path().join("cache"))
            .arg("--json")
            .output()
            .unwrap()
    };

    let ok = cli(&spec(tmp.path(), &store, 6));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    let layers: Vec<&str> = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 6, "{layers:?}");
    assert_eq!(layers[0], "nix-root");
    assert_eq!(layers[1], "nix: glibc-2.40-66");
    let archive = tmp.path().join("out/softap-nix.oci.tar");
    assert_eq!(report["oci_archive"].as_str(), archive.to_str());
    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}:test", archive.display())));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v["Layers"].as_array().unwrap().len(), 6, "{inspect}");

    let before = fs::read(&archive).unwrap();
    let bad = cli(&spec(tmp.path(), &store, 101));
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("max_layers = 101"), "{stderr}");
    assert_eq!(
        fs::read(&archive).unwrap(),
        before,
        "a failed build changed the last good output"
    );
}

/// The spec `nix build .#softap-image` hands to the builder, evaluated from
/// nix/image-spec.nix by Debian's Nix (no nixpkgs needed), is accepted as it
/// is and builds the closure; only `store_root` is added to read the fake store.
#[test]
fn the_flakes_image_spec_is_accepted_and_builds() {
    let nix_instantiate = require("nix-instantiate", "nix-bin");
    require("skopeo", "skopeo");
    let tmp = tempfile::tempdir().unwrap();
    let store = FakeStore::new(&tmp.path().join("store-root"));
    let ci = tmp.path().join("closure-info");
    store.closure_info(&ci);

    let expr = Path::new(env!("CARGO_MANIFEST_DIR")).join("../nix/image-spec.nix");
    let json = run(Command::new(nix_instantiate)
        // A dummy store: evaluating must neither build nor copy anything.
        .env("NIX_CONFIG", "build-users-group =\nstore = dummy://")
        .args(["--eval", "--strict", "--json"])
        .arg(&expr)
        .args(["--argstr", "closureInfo"])
        .arg(&ci)
        .args(["--argstr", "toplevel", &store.toplevel])
        .args(["--arg", "sourceDateEpoch", &EPOCH.to_string()]));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut spec_value = toml::Value::try_from(json).unwrap();
    spec_value["base"]
        .as_table_mut()
        .unwrap()
        .insert("store_root".into(), store.root.to_str().unwrap().into());
    let spec_path = tmp.path().join("flake-spec.toml");
    fs::write(&spec_path, toml::to_string(&spec_value).unwrap()).unwrap();

    let built = build_nix(&spec_path, tmp.path(), "flake").unwrap();
    assert_eq!(
        built.names.len(),
        1 + store.paths.len(),
        "{:?}",
        built.names
    );
    let config = run(Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("oci:{}:nix", built.oci_dir.display())));
    let c: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(
        c["config"]["Entrypoint"],
        serde_json::json!(["/sbin/init"]),
        "{config}"
    );
    assert_eq!(c["config"]["StopSignal"], "SIGRTMIN+3", "{config}");
    assert_eq!(
        c["config"]["Labels"]["org.opencontainers.image.title"], "softap",
        "{config}"
    );
}
