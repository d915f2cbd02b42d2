//! Which byte ranges of the image to write: pure planning, no I/O.

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
}
