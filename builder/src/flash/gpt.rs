//! Where the image's partitions start, read from its primary GPT: pure
//! parsing of the header and entry bytes, no I/O.
//!
//! The offsets only widen what is copied from the image (each partition's
//! first MiB, where filesystem signatures live), so a table that cannot be
//! read yields fewer offsets, never an error or a write outside the image.

/// The image's logical sector: sfdisk writes the GPT of a plain file with
/// 512-byte sectors (see disk/gpt.rs).
pub(super) const SECTOR: u64 = 512;

/// At most this many bytes of partition entries are read (the usual table
/// is 128 entries of 128 bytes, 16 KiB).
pub(super) const MAX_ENTRIES_BYTES: u64 = 1 << 20;

/// The partition entry array as the GPT header (LBA 1) describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EntryArray {
    /// Byte offset of the array in the image.
    pub offset: u64,
    pub count: u32,
    pub entry_size: u32,
}

impl EntryArray {
    /// Bytes to read for the whole array, within [`MAX_ENTRIES_BYTES`].
    pub(super) fn byte_len(&self) -> u64 {
        (u64::from(self.count) * u64::from(self.entry_size)).min(MAX_ENTRIES_BYTES)
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the header at LBA 1 (its first 92 bytes suffice).
pub(super) fn entry_array(header: &[u8]) -> Option<EntryArray> {
    if header.get(..8)? != b"EFI PART" {
        return None;
    }
    let lba = u64_at(header, 72)?;
    let count = u32_at(header, 80)?;
    let entry_size = u32_at(header, 84)?;
    // An entry is at least 128 bytes (UEFI: 128 * 2^n).
    if entry_size < 128 {
        return None;
    }
    Some(EntryArray {
        offset: lba.checked_mul(SECTOR)?,
        count,
        entry_size,
    })
}

/// The byte offset where each used entry's partition starts, in table order.
pub(super) fn partition_starts(array: &EntryArray, entries: &[u8]) -> Vec<u64> {
    entries
        .chunks_exact(array.entry_size as usize)
        .take(array.count as usize)
        // An all-zero type GUID marks an unused entry.
        .filter(|e| e[..16].iter().any(|&b| b != 0))
        .filter_map(|e| u64_at(e, 32)?.checked_mul(SECTOR))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(lba: u64, count: u32, size: u32) -> Vec<u8> {
        let mut h = vec![0u8; 92];
        h[..8].copy_from_slice(b"EFI PART");
        h[72..80].copy_from_slice(&lba.to_le_bytes());
        h[80..84].copy_from_slice(&count.to_le_bytes());
        h[84..88].copy_from_slice(&size.to_le_bytes());
        h
    }

    #[test]
    fn used_entries_give_their_first_byte() {
        let a = entry_array(&header(2, 4, 128)).unwrap();
        assert_eq!(
            a,
            EntryArray {
                offset: 1024,
                count: 4,
                entry_size: 128
            }
        );
        assert_eq!(a.byte_len(), 512);
        let mut entries = vec![0u8; 512];
        for (i, first_lba) in [(0usize, 2048u64), (2, 1_050_624)] {
            entries[i * 128] = 0xaf;
            entries[i * 128 + 32..i * 128 + 40].copy_from_slice(&first_lba.to_le_bytes());
        }
        assert_eq!(
            partition_starts(&a, &entries),
            vec![1 << 20, 1_050_624 * 512]
        );
        // A short read gives the entries it holds.
        assert_eq!(partition_starts(&a, &entries[..200]), vec![1 << 20]);
    }

    #[test]
    fn nonsense_headers_give_nothing() {
        assert_eq!(entry_array(b"EFI PART"), None);
        assert_eq!(entry_array(&[0u8; 92]), None);
        assert_eq!(entry_array(&header(2, 128, 16)), None);
        assert_eq!(entry_array(&header(u64::MAX, 128, 128)), None);
        let huge = entry_array(&header(2, u32::MAX, 1 << 20)).unwrap();
        assert_eq!(huge.byte_len(), MAX_ENTRIES_BYTES);
    }
}
