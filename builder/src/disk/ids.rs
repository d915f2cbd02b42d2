//! Identifiers derived from the image seed: the same image gives the same
//! partition, filesystem and volume ids, so the same inputs give the same bytes.

use sha2::{Digest, Sha256};

/// A UUID (RFC 9562 layout, version 4 and variant bits set, so tools that
/// validate them accept it) derived from `seed` and a purpose label.
pub fn uuid(seed: &[u8; 32], purpose: &str) -> String {
    let d = digest(seed, purpose);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A FAT volume serial number derived from `seed`.
pub fn fat_volume_id(seed: &[u8; 32]) -> u32 {
    let d = digest(seed, "esp-volume-id");
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn digest(seed: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"softap-disk\0");
    h.update(seed);
    h.update(purpose.as_bytes());
    h.finalize().into()
}

/// Every id of one disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskIds {
    pub disk: String,
    pub esp_part: String,
    pub root_part: String,
    pub root_fs: String,
    pub root_hash_seed: String,
    pub esp_volume: u32,
}

impl DiskIds {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            disk: uuid(seed, "gpt-label"),
            esp_part: uuid(seed, "esp-partition"),
            root_part: uuid(seed, "root-partition"),
            root_fs: uuid(seed, "root-filesystem"),
            root_hash_seed: uuid(seed, "root-hash-seed"),
            esp_volume: fat_volume_id(seed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_well_formed() {
        let a = DiskIds::from_seed(&[7; 32]);
        assert_eq!(a, DiskIds::from_seed(&[7; 32]));
        let b = DiskIds::from_seed(&[8; 32]);
        assert_ne!(a.root_part, b.root_part);
        assert_ne!(a.esp_volume, b.esp_volume);
        let all = [
            &a.disk,
            &a.esp_part,
            &a.root_part,
            &a.root_fs,
            &a.root_hash_seed,
        ];
        for (i, u) in all.iter().enumerate() {
            assert_eq!(u.len(), 36);
            assert_eq!(&u[14..15], "4", "version nibble of {u}");
            assert!("89ab".contains(&u[19..20]), "variant of {u}");
            for v in &all[i + 1..] {
                assert_ne!(u, v);
            }
        }
    }
}
