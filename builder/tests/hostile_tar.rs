//! A `rootfs` tar is anybody's archive, and the builder runs as root: nothing
//! it holds may create, change or chmod anything outside the tree the disk is
//! made from. Each test keeps a sentinel directory beside the tree and checks
//! afterwards that its contents, modes, owners and times are untouched.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use softap_build::layer::{Data, Entry, Kind, Layer};
use softap_build::unpack::materialise;
use softap_build::{build, check, BuildOptions};

use common::{options, EPOCH};

/// A tree to materialise into and a sentinel directory beside it.
struct Scene {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    sentinel: PathBuf,
    before: BTreeMap<String, (u32, u32, u32, i64, Vec<u8>)>,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let sentinel = tmp.path().join("sentinel");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(sentinel.join("sub")).unwrap();
        fs::write(sentinel.join("file"), b"host data\n").unwrap();
        fs::write(sentinel.join("sub/deep"), b"deeper\n").unwrap();
        fs::set_permissions(&sentinel, fs::Permissions::from_mode(0o751)).unwrap();
        fs::set_permissions(sentinel.join("file"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(sentinel.join("file"), Some(4242), Some(4343)).unwrap();
        let before = snapshot(tmp.path(), &root);
        Scene {
            _tmp: tmp,
            root,
            sentinel,
            before,
        }
    }

    /// Everything beside the tree (the sentinel, and nothing new) is as it was.
    fn assert_host_untouched(&self) {
        let parent = self.root.parent().unwrap();
        let after = snapshot(parent, &self.root);
        assert_eq!(self.before, after, "something outside the tree changed");
    }

    fn abs(&self, rel: &str) -> String {
        self.sentinel.join(rel).display().to_string()
    }
}

/// Path → (mode, uid, gid, mtime, content) of everything under `dir` except
/// the tree `skip`.
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<String, (u32, u32, u32, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.unwrap();
        if e.path().starts_with(skip) {
            continue;
        }
        let m = e.path().symlink_metadata().unwrap();
        let content = if m.is_file() {
            fs::read(e.path()).unwrap()
        } else if m.file_type().is_symlink() {
            fs::read_link(e.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        out.insert(
            e.path().display().to_string(),
            (m.mode(), m.uid(), m.gid(), m.mtime(), content),
        );
    }
    out
}

fn file(path: &str, body: &[u8]) -> Entry {
    let mut e = Entry::bytes(path, body.to_vec(), 0o4777, EPOCH);
    e.uid = 0;
    e
}

fn link(path: &str, target: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: Kind::Symlink(target.into()),
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: EPOCH,
        xattrs: Vec::new(),
    }
}

fn dir(path: &str) -> Entry {
    Entry::dir(path, 0o700, EPOCH)
}

fn hard(path: &str, body: &[u8], group: u64) -> Entry {
    Entry {
        path: path.into(),
        kind: Kind::File {
            size: body.len() as u64,
            data: Data::Bytes(Arc::from(body)),
            link_group: Some(group),
        },
        mode: 0o666,
        uid: 0,
        gid: 0,
        mtime: EPOCH,
        xattrs: Vec::new(),
    }
}

/// A layer exactly as given (no sorting or parent directories added), as a
/// hostile source could make one if the layer model had a gap.
fn raw(name: &str, entries: Vec<Entry>) -> Layer {
    Layer {
        name: name.into(),
        entries,
        identity: None,
        disk_only: false,
    }
}

fn materialise_err(scene: &Scene, layers: &[Layer]) -> String {
    let refs: Vec<&Layer> = layers.iter().collect();
    let e = materialise(&refs, &scene.root).expect_err("must be refused");
    scene.assert_host_untouched();
    e.to_string()
}

#[test]
fn a_file_through_a_symlink_to_the_host_is_refused() {
    let s = Scene::new();
    let e = materialise_err(
        &s,
        &[raw(
            "base",
            vec![link("etc", &s.abs("")), file("etc/pwned", b"x")],
        )],
    );
    assert!(e.contains("etc/pwned"), "{e}");
    assert!(e.contains("symlink"), "{e}");
}

#[test]
fn a_directory_and_its_mode_through_a_symlink_are_refused() {
    let s = Scene::new();
    materialise_err(
        &s,
        &[raw("base", vec![link("etc", &s.abs("")), dir("etc/sub")])],
    );
}

#[test]
fn a_symlink_chain_to_the_host_is_refused() {
    let s = Scene::new();
    materialise_err(
        &s,
        &[raw(
            "base",
            vec![
                link("a", "b"),
                link("b", "c/d"),
                dir("c"),
                link("c/d", &s.abs("sub")),
                file("a/deep", b"overwritten"),
            ],
        )],
    );
}

#[test]
fn a_relative_symlink_climbing_out_is_refused() {
    let s = Scene::new();
    materialise_err(
        &s,
        &[raw(
            "base",
            vec![link("up", "../sentinel"), file("up/file", b"x")],
        )],
    );
}

#[test]
fn a_symlink_from_a_lower_layer_is_not_written_through() {
    let s = Scene::new();
    materialise_err(
        &s,
        &[
            raw("base", vec![link("etc", &s.abs(""))]),
            raw("upper", vec![file("etc/file", b"replaced")]),
        ],
    );
}

#[test]
fn a_hard_link_leader_through_a_symlink_is_refused() {
    let s = Scene::new();
    materialise_err(
        &s,
        &[raw(
            "base",
            vec![
                link("l", &s.abs("")),
                hard("l/file", b"x", 1),
                hard("inside", b"x", 1),
            ],
        )],
    );
}

#[test]
fn entries_replacing_symlinks_to_the_host_stay_inside() {
    let s = Scene::new();
    let layers = [
        raw(
            "base",
            vec![link("d", &s.abs("sub")), link("f", &s.abs("file"))],
        ),
        raw(
            "upper",
            vec![dir("d"), file("d/deep", b"in"), file("f", b"in")],
        ),
    ];
    let refs: Vec<&Layer> = layers.iter().collect();
    materialise(&refs, &s.root).unwrap();
    s.assert_host_untouched();
    assert_eq!(fs::read(s.root.join("d/deep")).unwrap(), b"in");
    assert_eq!(fs::read(s.root.join("f")).unwrap(), b"in");
    let m = fs::symlink_metadata(s.root.join("f")).unwrap();
    assert!(m.is_file());
    assert_eq!(m.mode() & 0o7777, 0o4777);
}

#[test]
fn a_directory_replaced_by_a_file_is_removed_without_following_its_links() {
    let s = Scene::new();
    let layers = [
        raw(
            "base",
            vec![dir("d"), link("d/out", &s.abs("")), file("d/x", b"1")],
        ),
        raw("upper", vec![file("d", b"now a file")]),
    ];
    let refs: Vec<&Layer> = layers.iter().collect();
    materialise(&refs, &s.root).unwrap();
    s.assert_host_untouched();
    assert_eq!(fs::read(s.root.join("d")).unwrap(), b"now a file");
}

// --- the same through the builder's front door: a tar base -------------------

/// Writes a tar whose members are given as (name, type, link target, data),
/// with names written into the header bytes as they are (the tar crate's own
/// path setters would refuse the hostile ones).
fn hostile_tar(path: &Path, members: &[(&str, tar::EntryType, &str, &[u8])]) {
    let mut b = tar::Builder::new(fs::File::create(path).unwrap());
    for (name, kind, target, data) in members {
        let mut h = tar::Header::new_gnu();
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(EPOCH);
        h.set_uid(0);
        h.set_gid(0);
        if !target.is_empty() {
            let t = target.as_bytes();
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.finish().unwrap();
}

fn tar_spec(dir: &Path, tar: &Path) -> PathBuf {
    common::write_spec(
        dir,
        "spec.toml",
        &format!(
            "[image]\nname = \"hostile\"\nsource_date_epoch = {EPOCH}\n\
             [base]\nkind = \"rootfs\"\npath = \"{}\"\n\
             [output]\noci_archive = false\ndisk = true\n",
            tar.display()
        ),
    )
}

fn opts(dir: &Path) -> BuildOptions {
    options(&dir.join("out"), &dir.join("cache"))
}

#[test]
fn check_and_build_refuse_a_tar_that_writes_through_its_own_symlink() {
    use tar::EntryType::*;
    let s = Scene::new();
    let work = s.root.parent().unwrap().join("work");
    fs::create_dir(&work).unwrap();
    let tar = work.join("base.tar");
    let target = s.abs("");
    hostile_tar(
        &tar,
        &[
            ("etc", Symlink, &target, b""),
            ("etc/pwned", Regular, "", b"x"),
        ],
    );
    let before = snapshot(&s.sentinel, Path::new("/nonexistent"));
    let spec = tar_spec(&work, &tar);
    let e = check(&spec, &opts(&work)).expect_err("check must refuse it");
    let e = e.to_string();
    assert!(
        e.contains("etc/pwned") && e.contains("symlink"),
        "unclear error: {e}"
    );
    let e = build(&spec, &opts(&work))
        .expect_err("build must refuse it")
        .to_string();
    assert!(e.contains("etc/pwned"), "{e}");
    assert_eq!(before, snapshot(&s.sentinel, Path::new("/nonexistent")));
    assert!(!work.join("out/hostile.raw").exists());
}

#[test]
fn dot_dot_names_are_refused_and_absolute_names_stay_inside() {
    use tar::EntryType::*;
    let tmp = tempfile::tempdir().unwrap();
    let tar = tmp.path().join("dots.tar");
    hostile_tar(&tar, &[("../escape", Regular, "", b"x")]);
    let spec = tar_spec(tmp.path(), &tar);
    let e = check(&spec, &opts(tmp.path()))
        .expect_err("`..` must be refused")
        .to_string();
    assert!(e.contains(".."), "{e}");
    assert!(!tmp.path().join("escape").exists());

    // An absolute name is a name inside the image, like a relative one.
    let entries = softap_build::layer::source::index_tar(
        &{
            let t = tmp.path().join("abs.tar");
            let abs = tmp.path().join("abs-target");
            let name = abs.display().to_string();
            hostile_tar(&t, &[(&name, Regular, "", b"x")]);
            t
        },
        &softap_build::layer::source::Normalise {
            source_date_epoch: EPOCH,
            owner: None,
            fixed_mtime: false,
            xattrs: false,
        },
    )
    .unwrap();
    assert!(entries.iter().all(|e| !e.path.starts_with('/')));
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let layer = Layer::finish("base", entries, None, EPOCH);
    materialise(&[&layer], &root).unwrap();
    assert!(!tmp.path().join("abs-target").exists());
    let inside = root.join(tmp.path().join("abs-target").strip_prefix("/").unwrap());
    assert_eq!(fs::read(inside).unwrap(), b"x");
}

#[test]
fn a_hard_link_to_a_host_file_is_refused() {
    use tar::EntryType::*;
    let s = Scene::new();
    let work = tempfile::tempdir().unwrap();
    let tar = work.path().join("hard.tar");
    // Only members of the archive can be link targets: a host path (made
    // relative, as the index makes every name) is simply missing.
    let host = s.abs("file");
    hostile_tar(&tar, &[("stolen", Link, &host, b"")]);
    let e = softap_build::layer::source::index_tar(
        &tar,
        &softap_build::layer::source::Normalise {
            source_date_epoch: EPOCH,
            owner: None,
            fixed_mtime: false,
            xattrs: false,
        },
    )
    .expect_err("a link to a missing member must be refused");
    assert!(e.to_string().contains("stolen"), "{e}");
    s.assert_host_untouched();
}

// --- random trees -------------------------------------------------------------

fn names() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "etc", "x"]).prop_map(str::to_owned)
}

fn paths() -> impl Strategy<Value = String> {
    prop::collection::vec(names(), 1..4).prop_map(|v| v.join("/"))
}

#[derive(Debug, Clone)]
enum Gen {
    Dir(String),
    File(String),
    Hard(String, u64),
    /// A symlink to the sentinel (`None`), or to a relative path.
    Link(String, Option<String>),
}

fn gens() -> impl Strategy<Value = Gen> {
    prop_oneof![
        paths().prop_map(Gen::Dir),
        paths().prop_map(Gen::File),
        (paths(), 0u64..3).prop_map(|(p, g)| Gen::Hard(p, g)),
        (
            paths(),
            prop::option::of(prop::sample::select(vec![
                "..",
                "../..",
                "../../sentinel",
                "a",
                "b/c",
                "/",
                "/etc"
            ]))
        )
            .prop_map(|(p, t)| Gen::Link(p, t.map(str::to_owned))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the layers hold, in whatever order, materialising them either
    /// works or fails, and never changes anything beside the tree.
    #[test]
    fn random_layers_never_touch_anything_outside_the_tree(
        layers in prop::collection::vec(prop::collection::vec(gens(), 1..12), 1..4),
        finish in any::<bool>(),
    ) {
        let s = Scene::new();
        let built: Vec<Layer> = layers
            .into_iter()
            .enumerate()
            .map(|(i, gs)| {
                let entries: Vec<Entry> = gs
                    .into_iter()
                    .map(|g| match g {
                        Gen::Dir(p) => dir(&p),
                        Gen::File(p) => file(&p, b"data"),
                        Gen::Hard(p, g) => hard(&p, b"linked", g),
                        Gen::Link(p, None) => link(&p, &s.abs("")),
                        Gen::Link(p, Some(t)) => link(&p, &t),
                    })
                    .collect();
                if finish {
                    Layer::finish(format!("l{i}"), entries, None, EPOCH)
                } else {
                    raw(&format!("l{i}"), entries)
                }
            })
            .collect();
        let refs: Vec<&Layer> = built.iter().collect();
        let _ = materialise(&refs, &s.root);
        s.assert_host_untouched();
        // The root itself is still a directory, not replaced by a link.
        prop_assert!(fs::symlink_metadata(&s.root).unwrap().is_dir());
    }
}

// --- what the disk copies out of the tree by path ----------------------------

#[test]
fn a_kernel_that_links_to_a_host_file_never_reaches_the_esp() {
    use softap_build::disk::{assemble, DiskError};
    let s = Scene::new();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::create_dir_all(root.join("usr/lib/systemd/boot/efi")).unwrap();
    fs::write(
        root.join("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        b"MZ fake systemd-boot",
    )
    .unwrap();
    fs::write(root.join("boot/initrd.img-6.1.0-9-amd64"), b"initrd").unwrap();
    // The build host's file, as a hostile base could point at it.
    symlink(
        s.sentinel.join("file"),
        root.join("boot/vmlinuz-6.1.0-9-amd64"),
    )
    .unwrap();
    let out = work.path().join("disk.raw");
    let e = assemble(&common::plain_disk(&root, &out))
        .expect_err("a kernel that is a link out of the tree must be refused");
    assert!(matches!(e, DiskError::OutsideTree(_)), "{e}");
    // The path is in the cause, printed after the message.
    let text = common::message(&e);
    assert!(text.contains("boot/vmlinuz-6.1.0-9-amd64"), "{text}");
    assert!(!out.exists());
    s.assert_host_untouched();
}
