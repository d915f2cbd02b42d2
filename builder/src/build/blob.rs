//! Blob writing: one layer as a compressed tar in the store, or the blob a
//! layer with the same content made before.

use std::io::BufWriter;
use std::time::Instant;

use super::error::BuildError;
use super::plan::id;
use crate::compress::{self, Encoder, HashWriter};
use crate::digest;
use crate::layer::{tarwrite, Layer};
use crate::progress;
use crate::spec::Spec;
use crate::store::{self, BlobInfo, Store};

/// Bump when the layer format changes, so cached layers are not reused.
const LAYER_FORMAT: &str = "softap-layer-v1";

/// Writes (or finds in the cache) the blob of one layer.
pub fn write_layer(
    layer: &Layer,
    spec: &Spec,
    store: &Store,
    show_progress: bool,
) -> Result<(BlobInfo, bool), BuildError> {
    let c = spec.output.compression;
    let level = spec
        .output
        .compression_level
        .unwrap_or_else(|| compress::default_level(c));
    let compressor = compress::describe(c, level);
    let content = layer
        .content_key()
        .map_err(|source| BuildError::ReadLayer {
            layer: layer.name.clone(),
            source,
        })?;
    let key = hex::encode(id(&[
        LAYER_FORMAT.as_bytes(),
        &content,
        compressor.as_bytes(),
    ]));
    if let Some(info) = store.cached_layer(&key)? {
        tracing::info!("layer {}: reused {}", layer.name, info.digest);
        return Ok((info, true));
    }
    let started = Instant::now();
    let tmp = store.temp()?;
    let file = tmp.reopen().map_err(store::err(tmp.path()))?;
    let werr = |source| BuildError::WriteBlob {
        layer: layer.name.clone(),
        source,
    };
    let blob = HashWriter::new(BufWriter::with_capacity(1 << 20, file));
    let enc = Encoder::new(c, level, blob).map_err(werr)?;
    let pb = progress::bar(show_progress, layer.data_size(), layer.name.clone());
    let diff = HashWriter::new(enc);
    let diff = tarwrite::write_tar(&layer.entries, diff, &mut |n| pb.inc(n)).map_err(werr)?;
    pb.finish_and_clear();
    let (enc, diff_id, _) = diff.finish();
    let blob = enc.finish().map_err(werr)?;
    let (mut buf, digest, size) = blob.finish();
    std::io::Write::flush(&mut buf).map_err(werr)?;
    drop(buf);
    let info = BlobInfo {
        digest: digest::from_sha256(digest).map_err(store::StoreError::from)?,
        diff_id: digest::from_sha256(diff_id).map_err(store::StoreError::from)?,
        size,
        media_type: compress::media_type(c).to_owned(),
        compressor,
    };
    store.commit(tmp, &info.digest)?;
    store.record_layer(&key, &info)?;
    tracing::info!(
        "layer {}: {} bytes in {:.1}s -> {}",
        layer.name,
        size,
        started.elapsed().as_secs_f64(),
        info.digest
    );
    Ok((info, false))
}
