//! Which byte ranges of the device to write, and from where: pure planning,
//! no I/O.

/// A byte range `[start, end)` of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Turns the data extents of an image of `size` bytes into the ranges to
/// write: widened to `align` boundaries (whole device blocks), clamped to the
/// image, sorted and merged where they touch.
pub fn plan_ranges(extents: &[Range], size: u64, align: u64) -> Vec<Range> {
    let mut r: Vec<Range> = extents
        .iter()
        .filter(|e| e.start < e.end && e.start < size)
        .map(|e| Range {
            start: e.start / align * align,
            end: e.end.div_ceil(align).saturating_mul(align).min(size),
        })
        .collect();
    r.sort_by_key(|e| e.start);
    let mut out: Vec<Range> = Vec::with_capacity(r.len());
    for e in r {
        match out.last_mut() {
            Some(last) if e.start <= last.end => last.end = last.end.max(e.end),
            _ => out.push(e),
        }
    }
    out
}

/// How much is cleared where partition tables and filesystem signatures
/// live: the device's first and last MiB (the GPT and its backup, MBR, ISO
/// 9660's volume descriptors at 32 KiB, the ends of an md or an old disk) and
/// each partition's first MiB (superblocks, FAT and ext4 signatures).
pub(super) const SIGNATURE_AREA: u64 = 1 << 20;

/// Where a planned range's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// The image's bytes at the same offset (its holes read as zeros).
    Image,
    /// Zeros: past the end of the image.
    Zeros,
}

/// One range to write to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub range: Range,
    pub fill: Fill,
}

/// The areas of a device of `device_size` bytes where old signatures must
/// not survive, given where the image's partitions start.
pub fn signature_areas(device_size: u64, partition_starts: &[u64]) -> Vec<Range> {
    let area = |start: u64| Range {
        start: start.min(device_size),
        end: start.saturating_add(SIGNATURE_AREA).min(device_size),
    };
    let mut out = vec![area(0), area(device_size.saturating_sub(SIGNATURE_AREA))];
    out.extend(partition_starts.iter().map(|&s| area(s)));
    out.retain(|r| !r.is_empty());
    out
}

/// Everything to write to a device of `device_size` bytes: the image's data
/// `extents` and the [`signature_areas`] inside the image, copied from the
/// image (so its holes there are written as zeros); the areas past the image,
/// zeros. Elsewhere the device is left as it is (the flash stays sparse).
/// Sorted, disjoint, image ranges aligned as [`plan_ranges`] does.
pub fn plan_write(
    extents: &[Range],
    image_size: u64,
    device_size: u64,
    partition_starts: &[u64],
    align: u64,
) -> Vec<Piece> {
    let areas = signature_areas(device_size, partition_starts);
    let mut from_image = extents.to_vec();
    from_image.extend(
        areas
            .iter()
            .filter(|a| a.start < image_size)
            .map(|a| Range {
                start: a.start,
                end: a.end.min(image_size),
            }),
    );
    let mut out: Vec<Piece> = plan_ranges(&from_image, image_size, align)
        .into_iter()
        .map(|range| Piece {
            range,
            fill: Fill::Image,
        })
        .collect();
    let past: Vec<Range> = areas
        .iter()
        .filter(|a| a.end > image_size)
        .map(|a| Range {
            start: a.start.max(image_size),
            end: a.end,
        })
        .collect();
    // Merged without alignment: the image's end need not be block aligned,
    // and the first zero range starts exactly where the image stops.
    out.extend(
        plan_ranges(&past, device_size, 1)
            .into_iter()
            .map(|range| Piece {
                range,
                fill: Fill::Zeros,
            }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn ranges_are_aligned_merged_and_clamped() {
        let got = plan_ranges(&[r(10, 20), r(4000, 4100), r(9000, 9001)], 10_000, 4096);
        // 10..20 and 4000..4100 widen to 0..8192; 9000..9001 to 8192..12288,
        // clamped to the image's end and merged with the first.
        assert_eq!(got, vec![r(0, 10_000)]);
        assert_eq!(plan_ranges(&[], 100, 4096), vec![]);
        assert_eq!(
            plan_ranges(&[r(8192, 9000), r(0, 1)], 1 << 20, 4096),
            vec![r(0, 4096), r(8192, 12288)]
        );
    }

    proptest! {
        #[test]
        fn planned_ranges_cover_every_extent(
            raw in proptest::collection::vec((0u64..1_000_000, 1u64..50_000), 0..20),
            size in 1u64..1_100_000,
        ) {
            let extents: Vec<Range> = raw.iter().map(|&(s, l)| r(s, s + l)).collect();
            let plan = plan_ranges(&extents, size, 4096);
            for w in plan.windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            for p in &plan {
                prop_assert!(p.start % 4096 == 0 && p.end <= size && p.start < p.end);
            }
            for e in &extents {
                let (s, t) = (e.start, e.end.min(size));
                if s < t {
                    prop_assert!(plan.iter().any(|p| p.start <= s && t <= p.end));
                }
            }
        }
    }

    #[test]
    fn signature_areas_are_written_and_the_rest_stays_sparse() {
        const MIB: u64 = 1 << 20;
        // A 100 MiB image with data at 0..20 KiB (the GPT) and 50..51 MiB,
        // partitions at 1 MiB and 40 MiB, on a 1000 MiB device.
        let plan = plan_write(
            &[r(0, 20 << 10), r(50 * MIB, 51 * MIB)],
            100 * MIB,
            1000 * MIB,
            &[MIB, 40 * MIB],
            4096,
        );
        let img = |s, e| Piece {
            range: r(s, e),
            fill: Fill::Image,
        };
        assert_eq!(
            plan,
            vec![
                img(0, 2 * MIB),
                img(40 * MIB, 41 * MIB),
                img(50 * MIB, 51 * MIB),
                Piece {
                    range: r(999 * MIB, 1000 * MIB),
                    fill: Fill::Zeros
                },
            ]
        );
        // The device's last MiB straddles the image's end: the image's part
        // is copied, the rest zeroed, contiguous.
        let plan = plan_write(&[], 10 * MIB + 512, 11 * MIB, &[], 4096);
        assert_eq!(
            plan,
            vec![
                img(0, MIB),
                img(10 * MIB, 10 * MIB + 512),
                Piece {
                    range: r(10 * MIB + 512, 11 * MIB),
                    fill: Fill::Zeros
                },
            ]
        );
        // Partition starts past the device are ignored.
        assert_eq!(signature_areas(2 * MIB, &[5 * MIB]).len(), 2);
    }

    proptest! {
        #[test]
        fn plan_covers_data_and_areas_and_stays_on_the_device(
            raw in proptest::collection::vec((0u64..4_000_000, 1u64..50_000), 0..10),
            starts in proptest::collection::vec(0u64..6_000_000, 0..4),
            size in 1u64..4_000_000,
            extra in 0u64..3_000_000,
        ) {
            let device = size + extra;
            let extents: Vec<Range> = raw.iter().map(|&(s, l)| r(s, s + l)).collect();
            let plan = plan_write(&extents, size, device, &starts, 4096);
            for w in plan.windows(2) {
                prop_assert!(w[0].range.end <= w[1].range.start);
            }
            for p in &plan {
                prop_assert!(p.range.start < p.range.end && p.range.end <= device);
                prop_assert_eq!(p.fill == Fill::Image, p.range.end <= size);
            }
            let covered = |s: u64, t: u64| {
                s >= t || (s..t).step_by(997).chain(t.checked_sub(1)).all(|b| {
                    plan.iter().any(|p| p.range.start <= b && b < p.range.end)
                })
            };
            for e in &extents {
                prop_assert!(covered(e.start.min(size), e.end.min(size)));
            }
            for a in signature_areas(device, &starts) {
                prop_assert!(covered(a.start, a.end));
            }
        }
    }
}
