//! Output staging: the OCI archive and layout directory are written under
//! temporary names in the output directory and renamed into place only when
//! every output succeeded, so a failed build leaves the last good ones.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::{out_err, BuildError};
use crate::oci;
use crate::scratch::{self, ScratchDir, ScratchFile};
use crate::spec::Spec;
use crate::store::Store;

/// The OCI outputs the spec asks for, written but not yet in place.
pub(super) struct Staged {
    archive: Option<ScratchFile>,
    /// The temporary directory and the layout inside it.
    dir: Option<(ScratchDir, PathBuf)>,
}

/// Where the outputs ended up.
pub(super) struct Published {
    pub oci_archive: Option<PathBuf>,
    pub oci_dir: Option<PathBuf>,
}

/// Writes the OCI archive and layout directory the spec asks for under
/// temporary names in `out` (created if needed).
pub(super) fn stage(
    spec: &Spec,
    image: &oci::Image,
    store: &Store,
    out: &Path,
) -> Result<Staged, BuildError> {
    fs::create_dir_all(out).map_err(out_err(out))?;
    let name = &spec.image.name;
    let mut archive = None;
    let t = Instant::now();
    if spec.output.oci_archive {
        let tmp = scratch::file_in(out, &format!(".{name}.oci.tar."), "").map_err(out_err(out))?;
        let f = tmp.reopen().map_err(out_err(tmp.path()))?;
        let w = oci::write_archive(
            image,
            store,
            BufWriter::with_capacity(1 << 20, f),
            spec.image.source_date_epoch,
        )?;
        let f = w.into_inner().map_err(|e| BuildError::Output {
            path: tmp.path().to_owned(),
            source: e.into_error(),
        })?;
        // tempfile creates 0600; the archive is for other users and tools too.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(out_err(tmp.path()))?;
        f.sync_all().map_err(out_err(tmp.path()))?;
        archive = Some(tmp);
        tracing::info!("wrote the archive in {:.2}s", t.elapsed().as_secs_f64());
    }
    let mut dir = None;
    if spec.output.oci_dir {
        let tmp = scratch::dir_in(out, &format!(".{name}.oci.")).map_err(out_err(out))?;
        let layout = tmp.path().join("layout");
        oci::write_dir(image, store, &layout)?;
        dir = Some((tmp, layout));
    }
    Ok(Staged { archive, dir })
}

impl Staged {
    /// Renames the staged outputs to `out/<name>.oci.tar` and `out/<name>.oci`
    /// (an older layout directory is moved aside and removed).
    pub(super) fn publish(self, out: &Path, name: &str) -> Result<Published, BuildError> {
        let mut oci_archive = None;
        if let Some(tmp) = self.archive {
            let dst = out.join(format!("{name}.oci.tar"));
            tmp.persist(&dst).map_err(out_err(&dst))?;
            oci_archive = Some(dst);
        }
        let mut oci_dir = None;
        if let Some((tmp, layout)) = self.dir {
            let dst = out.join(format!("{name}.oci"));
            if dst.exists() {
                let old = tmp.path().join("old");
                fs::rename(&dst, &old).map_err(out_err(&dst))?;
            }
            fs::rename(&layout, &dst).map_err(out_err(&dst))?;
            oci_dir = Some(dst);
        }
        Ok(Published {
            oci_archive,
            oci_dir,
        })
    }
}
