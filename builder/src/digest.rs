//! Content digests as `oci-spec`'s [`Digest`], from the sha256 hashes the
//! builder computes: blobs, diff ids, config and manifest all carry this type
//! from the hash to the document, the cache record and the report.

use std::str::FromStr;

use oci_spec::image::{Digest, Sha256Digest};
use oci_spec::OciSpecError;
use sha2::Sha256;

/// The digest (`sha256:<hex>`) of a sha256 hash.
pub fn from_sha256(hash: [u8; 32]) -> Result<Digest, OciSpecError> {
    Ok(Sha256Digest::from_str(&hex::encode(hash))?.into())
}

/// The sha256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Result<Digest, OciSpecError> {
    use sha2::Digest as _;
    from_sha256(Sha256::digest(bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_and_lowercase_hex() {
        let d = sha256(b"").unwrap();
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.algorithm().as_ref(), "sha256");
        assert_eq!(from_sha256([0xab; 32]).unwrap().digest(), "ab".repeat(32));
    }
}
