//! Partition layout arithmetic and the sfdisk script: pure, no I/O.

/// Logical sector size of the image (every USB stick presents 512).
pub const SECTOR: u64 = 512;
/// Partitions start on MiB boundaries (flash erase blocks, 4 KiB sectors).
pub const ALIGN: u64 = 1 << 20;
/// 256 MiB is FAT32 with 512-byte clusters (`-s 1`); smaller would be FAT16
/// to mtools, and firmware expects FAT32 on an ESP.
pub const ESP_SIZE: u64 = 256 << 20;

/// GPT type of an EFI system partition.
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT type of an x86-64 root partition (Discoverable Partitions
/// Specification): systemd-repart finds it by this type to grow it.
pub const ROOT_TYPE_X86_64: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";

/// A byte range of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub start: u64,
    pub size: u64,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub esp: Extent,
    pub root: Extent,
    /// Size of the whole image (the backup GPT fits in the last MiB).
    pub total: u64,
}

pub fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// The layout for a root filesystem of at least `root_size` bytes.
pub fn layout(root_size: u64) -> Layout {
    let esp = Extent {
        start: ALIGN,
        size: ESP_SIZE,
    };
    let root = Extent {
        start: esp.end(),
        size: round_up(root_size.max(ALIGN), ALIGN),
    };
    Layout {
        esp,
        root,
        total: root.end() + ALIGN,
    }
}

/// The layout filling a disk of exactly `total` bytes, or `None` when the
/// root would be smaller than `min_root`.
pub fn layout_for_total(total: u64, min_root: u64) -> Option<Layout> {
    let total = total / ALIGN * ALIGN;
    let root_size = total.checked_sub(ALIGN + ESP_SIZE + ALIGN)?;
    if root_size < min_root.max(ALIGN) {
        return None;
    }
    Some(layout(root_size))
}

/// What a tree needs on ext4: file data in whole blocks, directories, inodes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TreeUsage {
    pub data_blocks: u64,
    pub inodes: u64,
}

pub const EXT4_BLOCK: u64 = 4096;
/// Bytes of filesystem per inode (`mkfs.ext4 -i`).
pub const EXT4_INODE_RATIO: u64 = 16384;
/// The root's journal (`mkfs.ext4 -J size=`): small, as it is written in full
/// as zeros (see `ext4::build`), and an appliance's root sees little write
/// traffic.
pub const JOURNAL_MIB: u64 = 16;

/// A root filesystem size that holds `usage` with room to spare: metadata
/// (inode tables, bitmaps, journal) plus free space for a first boot. The
/// root grows to fill the stick at first boot anyway.
pub fn root_size_for(usage: TreeUsage) -> u64 {
    let data = usage.data_blocks * EXT4_BLOCK;
    // Extent trees and directory indexes of large trees, ~3%.
    let with_meta = data + data / 32;
    let journal = JOURNAL_MIB << 20;
    let headroom = (with_meta / 5).max(128 << 20);
    let mut size = round_up(with_meta + journal + headroom, ALIGN);
    // Enough inodes at the fixed ratio, with a quarter spare.
    let inodes_needed = usage.inodes + usage.inodes / 4 + 64;
    while size / EXT4_INODE_RATIO < inodes_needed {
        size += 64 << 20;
    }
    size
}

/// The sfdisk script of `layout` with the given ids.
pub fn sfdisk_script(l: &Layout, disk: &str, esp_part: &str, root_part: &str) -> String {
    let s = |b: u64| b / SECTOR;
    format!(
        "label: gpt\n\
         label-id: {disk}\n\
         unit: sectors\n\
         first-lba: {first}\n\
         last-lba: {last}\n\
         sector-size: {SECTOR}\n\
         \n\
         start={esp_start}, size={esp_size}, type={ESP_TYPE}, uuid={esp_part}, name=\"esp\"\n\
         start={root_start}, size={root_size}, type={ROOT_TYPE_X86_64}, uuid={root_part}, name=\"softap-root\"\n",
        first = s(l.esp.start),
        last = s(l.total) - 34,
        esp_start = s(l.esp.start),
        esp_size = s(l.esp.size),
        root_start = s(l.root.start),
        root_size = s(l.root.size),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn esp_first_root_after_backup_gpt_room_at_end() {
        let l = layout(1000 << 20);
        assert_eq!(
            l.esp,
            Extent {
                start: 1 << 20,
                size: 256 << 20
            }
        );
        assert_eq!(l.root.start, 257 << 20);
        assert_eq!(l.root.size, 1000 << 20);
        assert_eq!(l.total, (257 + 1000 + 1) << 20);
    }

    #[test]
    fn script_names_types_ids_and_sectors() {
        let l = layout(100 << 20);
        let s = sfdisk_script(&l, "D", "E", "R");
        assert!(s.contains("label-id: D\n"));
        assert!(s.contains(&format!(
            "start=2048, size=524288, type={ESP_TYPE}, uuid=E, name=\"esp\""
        )));
        assert!(s.contains(&format!(
            "start=526336, size=204800, type={ROOT_TYPE_X86_64}, uuid=R"
        )));
        assert!(s.contains(&format!("last-lba: {}\n", l.total / 512 - 34)));
    }

    #[test]
    fn root_size_has_room_for_data_and_inodes() {
        let u = TreeUsage {
            data_blocks: 200_000,
            inodes: 30_000,
        };
        let s = root_size_for(u);
        assert!(s >= 200_000 * 4096 + (64 << 20) + (128 << 20));
        assert!(s / EXT4_INODE_RATIO >= 30_000 * 5 / 4);
        assert_eq!(s % ALIGN, 0);
        // Many tiny files need inodes rather than blocks.
        let tiny = TreeUsage {
            data_blocks: 10,
            inodes: 100_000,
        };
        assert!(root_size_for(tiny) / EXT4_INODE_RATIO >= 125_000);
    }

    #[test]
    fn fixed_total_is_respected_or_refused() {
        let l = layout_for_total(2 << 30, 1 << 30).unwrap();
        assert_eq!(l.total, 2 << 30);
        assert!(layout_for_total(200 << 20, 1 << 20).is_none());
        assert_eq!(
            layout_for_total(300 << 20, 1 << 20).unwrap().root.size,
            42 << 20
        );
        assert!(layout_for_total(1 << 30, 900 << 20).is_none());
    }

    proptest! {
        #[test]
        fn partitions_are_aligned_disjoint_and_inside(root in 0u64..(64u64 << 30)) {
            let l = layout(root);
            prop_assert_eq!(l.esp.start % ALIGN, 0);
            prop_assert_eq!(l.root.start % ALIGN, 0);
            prop_assert!(l.esp.end() <= l.root.start);
            prop_assert!(l.root.size >= root);
            // 33 sectors of backup GPT after the root.
            prop_assert!(l.root.end() + 33 * SECTOR <= l.total);
        }
    }
}
