//! Which band, channel and width the AP runs on: the widest link the card
//! and the regulatory flags allow, measured as the PHY rate a two-stream
//! client reaches. Never a disabled, no-IR or (without `dfs`) radar
//! channel; the upstream station's channel when the combination allows one
//! channel; otherwise the configured channel, else the best block.

use serde::Serialize;

use crate::config::WifiBand;
use crate::facts::{Band, BandId, Channel, Phy};

use super::acs::{self, Acs};
use super::blocks::{block_5, block_6, pair_2g, secondary_of, ORDER_2G, ORDER_5};
use super::caps::{self, Mode, Secondary};
use super::modes::{mode_at, mode_for, width_cap};
use super::phy::PhyFit;
use super::quiet::{self, Heard};
pub use super::usable::{band_name, unusable};
use super::Topic;

/// The beacon interval rendered into hostapd.conf, in TUs. 100 is what nearly
/// every access point uses, so it matches an upstream AP where the
/// combination demands equal intervals.
pub const BEACON_INT: u32 = 100;

/// What the configuration asks of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkWish {
    /// `auto`: 2.4 or 5 GHz, whichever gives the faster link (6 GHz only
    /// when named).
    pub band: WifiBand,
    /// The widest channel wanted in MHz; `None`: 20 on 2.4 GHz, 80 on 5 GHz,
    /// 160 on 6 GHz where the card has it.
    pub width: Option<u32>,
    /// Radar (DFS) channels allowed: the AP first listens for radar.
    pub dfs: bool,
    /// A fixed primary channel (2.4 or 5 GHz numbering).
    pub channel: Option<u16>,
    /// `channel = "auto"`: hostapd's ACS picks the primary.
    pub acs: bool,
}

/// The one band a configured `band` names; `None` for `auto`.
fn only(band: WifiBand) -> Option<BandId> {
    match band {
        WifiBand::Auto => None,
        WifiBand::Ghz2_4 => Some(BandId::Band2G4),
        WifiBand::Ghz5 => Some(BandId::Band5G),
        WifiBand::Ghz6 => Some(BandId::Band6G),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelChoice {
    /// The primary channel.
    pub number: u16,
    pub freq_mhz: u32,
    pub band: BandId,
    /// hostapd's `hw_mode`: `g` for 2.4 GHz, `a` for 5 and 6 GHz.
    pub hw_mode: String,
    pub beacon_int: u32,
    /// 802.11n (HT) on.
    pub ht: bool,
    /// 802.11ac (VHT) on (5 GHz).
    pub vht: bool,
    /// 802.11ax (HE) on.
    pub he: bool,
    /// 802.11be (EHT) on as well (see `eht::decide`); `mode` stays HE.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub eht: bool,
    /// The operating width in MHz.
    pub width_mhz: u32,
    /// The whole channel's centre (for 40 MHz and wider) as a channel
    /// number, hostapd's `*_oper_centr_freq_seg0_idx`, and in MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub center_channel: Option<u16>,
    pub center_freq_mhz: u32,
    /// Where a 40 MHz (or wider) channel's secondary 20 MHz lies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary: Option<Secondary>,
    /// hostapd's `ht_capab` and `vht_capab`, from the driver's words.
    pub ht_capab: String,
    pub vht_capab: String,
    /// The global operating class (6 GHz, where hostapd needs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_class: Option<u8>,
    /// A radar channel: the AP listens for radar before it beacons.
    pub dfs: bool,
    /// The widest mode on: HE, VHT, HT or legacy.
    pub mode: Mode,
    /// The PHY rate a two-stream client reaches, in Mbit/s.
    pub rate_mbps: f64,
    /// `channel = "auto"`: hostapd's ACS picks the primary among these;
    /// `number` is then only the first it may pick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acs: Option<Acs>,
}

impl ChannelChoice {
    /// `EHT80`, `HE80`, `VHT80`, `HT40`, `HT20`, `legacy`.
    pub fn mode_text(&self) -> String {
        match self.mode {
            Mode::Legacy => "legacy (802.11a/g)".into(),
            Mode::He if self.eht => format!("EHT{}", self.width_mhz),
            m => format!("{}{}", m.name(), self.width_mhz),
        }
    }

    /// Whether an AP running on `primary` runs this choice: the planned
    /// primary, or under ACS any primary hostapd may pick.
    pub fn runs_on(&self, primary: u16) -> bool {
        match &self.acs {
            Some(a) => a.chanlist.contains(&primary),
            None => primary == self.number,
        }
    }

    /// hostapd's `vht_oper_chwidth`/`he_oper_chwidth`: 0 for 20 and 40
    /// MHz, 1 for 80, 2 for 160.
    pub fn oper_chwidth(&self) -> u8 {
        match self.width_mhz {
            160 => 2,
            80 => 1,
            _ => 0,
        }
    }
}

/// A decision about the link, for the plan's notes: (topic, text).
pub type LinkNote = (Topic, String);

/// One way to run the AP: a primary at a width, in a mode, at a rate.
#[derive(Debug, Clone)]
struct Candidate {
    band: BandId,
    primary: u16,
    freq_mhz: u32,
    width: u32,
    center: u16,
    secondary: Option<Secondary>,
    mode: Mode,
    rate: f64,
    dfs: bool,
}

struct Ctx<'a> {
    country: Option<&'a str>,
    dfs: bool,
}

fn find(band: &Band, number: u16) -> Option<&Channel> {
    band.channels.iter().find(|c| c.number == number)
}

/// Whether `width` MHz with this primary is possible: Ok((centre,
/// secondary)), or why not.
fn width_possible(
    band: &Band,
    primary: &Channel,
    width: u32,
    ctx: &Ctx<'_>,
) -> Result<(u16, Option<Secondary>), String> {
    let he = band.he_ap.as_ref();
    let capable = match (band.band, width) {
        (_, 20) => true,
        (BandId::Band2G4, 40) => caps::ht40(band),
        (BandId::Band5G, 40) => caps::ht40(band) || band.vht,
        (BandId::Band5G, 80) => band.vht || he.is_some_and(|h| h.he80()),
        (BandId::Band5G, 160) => caps::vht160(band) || he.is_some_and(|h| h.he160()),
        (BandId::Band6G, 40 | 80) => he.is_some_and(|h| h.he80()),
        (BandId::Band6G, 160) => he.is_some_and(|h| h.he160()),
        _ => false,
    };
    if !capable {
        return Err(format!(
            "the card does not list {width} MHz on {}",
            band_name(band.band)
        ));
    }
    let (channels, center, secondary) = match band.band {
        BandId::Band2G4 if width == 40 => {
            let (ch, c, s) = pair_2g(primary.number);
            (ch, c, Some(s))
        }
        BandId::Band2G4 => (vec![primary.number], primary.number, None),
        BandId::Band5G => {
            let (ch, c) = block_5(primary.number, width)
                .ok_or_else(|| format!("channel {} starts no {width} MHz block", primary.number))?;
            (ch, c, secondary_of(band.band, primary.number, width))
        }
        BandId::Band6G => {
            let (ch, c) = block_6(primary.number, width)
                .ok_or_else(|| format!("channel {} starts no {width} MHz block", primary.number))?;
            (ch, c, secondary_of(band.band, primary.number, width))
        }
        BandId::Band60G => return Err("60 GHz".into()),
    };
    for n in &channels {
        let Some(ch) = find(band, *n) else {
            return Err(format!(
                "channel {n} of the block is not one the card lists"
            ));
        };
        if let Some(why) = unusable(band.band, ch, ctx.country, ctx.dfs) {
            return Err(format!("channel {n} is {why}"));
        }
        let flag = match width {
            80 if ch.no_80mhz => Some("80 MHz"),
            160 if ch.no_160mhz => Some("160 MHz"),
            _ => None,
        };
        if let Some(f) = flag {
            return Err(format!(
                "the regulatory domain allows no {f} on channel {n}"
            ));
        }
    }
    if width == 40 {
        let refused = match secondary {
            Some(Secondary::Above) => primary.no_ht40_plus,
            Some(Secondary::Below) => primary.no_ht40_minus,
            None => false,
        };
        if refused {
            return Err(format!(
                "the regulatory domain allows no 40 MHz channel with {} as its primary there",
                primary.number
            ));
        }
    }
    Ok((center, secondary))
}

/// The best candidate with this primary (widest possible width), and why
/// nothing wider, when something wider was wanted.
fn best_at(
    band: &Band,
    primary: &Channel,
    cap: u32,
    ctx: &Ctx<'_>,
) -> Option<(Candidate, Option<String>)> {
    if unusable(band.band, primary, ctx.country, ctx.dfs).is_some() {
        return None;
    }
    let widest_mode = mode_for(band, primary);
    let mut wider_refused = None;
    for width in [160u32, 80, 40, 20] {
        if width > cap {
            continue;
        }
        if widest_mode == Mode::Legacy && width > 20 {
            continue;
        }
        match width_possible(band, primary, width, ctx) {
            Ok((center, secondary)) => {
                let mode = mode_at(band, widest_mode, width);
                let rate = caps::client_rate(band, mode, width);
                let candidate = Candidate {
                    band: band.band,
                    primary: primary.number,
                    freq_mhz: primary.freq_mhz,
                    width,
                    center,
                    secondary,
                    mode,
                    rate,
                    dfs: primary.radar,
                };
                return Some((candidate, wider_refused));
            }
            Err(why) if wider_refused.is_none() => {
                wider_refused = Some(format!("{width} MHz not used: {why}"))
            }
            Err(_) => {}
        }
    }
    None
}

/// Every primary of a band in order of preference.
fn primaries(band: &Band) -> Vec<&Channel> {
    let preferred: &[u16] = match band.band {
        BandId::Band2G4 => &ORDER_2G,
        BandId::Band5G => &ORDER_5,
        _ => &[],
    };
    let mut out: Vec<&Channel> = preferred.iter().filter_map(|n| find(band, *n)).collect();
    if band.band == BandId::Band6G {
        // Preferred scanning channels (5, 21, 37, …) first: clients look
        // there before anywhere else.
        out.extend(band.channels.iter().filter(|c| c.number % 16 == 5));
    }
    for c in &band.channels {
        if !out.iter().any(|o| o.number == c.number) {
            out.push(c);
        }
    }
    out
}

fn wanted_bands<'a>(phy: &'a Phy, wish: &LinkWish) -> Vec<&'a Band> {
    phy.bands
        .iter()
        .filter(|b| match only(wish.band) {
            None => matches!(b.band, BandId::Band2G4 | BandId::Band5G),
            Some(id) => b.band == id,
        })
        .collect()
}

fn to_choice(phy: &Phy, c: &Candidate) -> ChannelChoice {
    let band = phy.bands.iter().find(|b| b.band == c.band);
    let freq_of = |n: u16| match c.band {
        BandId::Band2G4 => 2407 + 5 * u32::from(n),
        BandId::Band6G => 5950 + 5 * u32::from(n),
        _ => 5000 + 5 * u32::from(n),
    };
    let (ht_capab, vht_capab) = match band {
        Some(b) if c.band != BandId::Band6G && c.mode >= Mode::Ht => (
            caps::ht_capab(b, c.width, c.secondary),
            if c.band == BandId::Band5G && c.mode >= Mode::Vht && b.vht {
                caps::vht_capab(b, c.width)
            } else {
                String::new()
            },
        ),
        _ => (String::new(), String::new()),
    };
    let op_class = (c.band == BandId::Band6G).then_some(match c.width {
        40 => 132,
        80 => 133,
        160 => 134,
        _ => 131,
    });
    ChannelChoice {
        number: c.primary,
        freq_mhz: c.freq_mhz,
        band: c.band,
        hw_mode: if c.band == BandId::Band2G4 { "g" } else { "a" }.into(),
        beacon_int: BEACON_INT,
        ht: c.mode >= Mode::Ht && c.band != BandId::Band6G,
        vht: c.band == BandId::Band5G && c.mode >= Mode::Vht && band.is_some_and(|b| b.vht),
        he: c.mode == Mode::He,
        eht: false,
        width_mhz: c.width,
        center_channel: (c.width >= 40).then_some(c.center),
        center_freq_mhz: if c.width >= 40 {
            freq_of(c.center)
        } else {
            c.freq_mhz
        },
        secondary: c.secondary,
        ht_capab,
        vht_capab,
        op_class,
        dfs: c.dfs,
        mode: c.mode,
        rate_mbps: c.rate,
        acs: None,
    }
}

/// The primary of the chosen block (on 2.4 GHz at 20 MHz, of 1, 6 and 11)
/// with the fewest networks heard, at the same width and mode, and why.
fn quieter(
    phy: &Phy,
    best: &Candidate,
    ctx: &Ctx<'_>,
    heard: &Heard<'_>,
) -> Option<(Candidate, String)> {
    let band = phy.bands.iter().find(|b| b.band == best.band)?;
    let same: Vec<Candidate> = primaries(band)
        .into_iter()
        .filter_map(|c| best_at(band, c, best.width, ctx).map(|(k, _)| k))
        .filter(|k| k.width == best.width && k.mode == best.mode)
        .filter(|k| match (k.band, k.width) {
            (BandId::Band2G4, 20) => ORDER_2G.contains(&k.primary),
            _ => k.center == best.center,
        })
        .collect();
    let pairs: Vec<(u16, u32)> = same.iter().map(|k| (k.primary, k.freq_mhz)).collect();
    let (pick, why) = quiet::quietest(&pairs, heard)?;
    Some((same.into_iter().find(|k| k.primary == pick)?, why))
}

/// `channel = "auto"`: the primaries ACS may pick at the planned band,
/// width and mode, and the choice rendered for it (the planned primary if
/// ACS may pick it, else the first it may in order of preference, with no
/// centre: hostapd sets it). `None` when ACS may pick none of them.
fn acs_choice(phy: &Phy, planned: &ChannelChoice, ctx: &Ctx<'_>) -> Option<ChannelChoice> {
    let band = phy.bands.iter().find(|b| b.band == planned.band)?;
    let carries = |c: &Channel| {
        best_at(band, c, planned.width_mhz, ctx)
            .map(|(k, _)| k)
            .filter(|k| k.width == planned.width_mhz && k.mode == planned.mode)
    };
    let list = acs::primaries(band, planned.width_mhz, |c| carries(c).is_some());
    let first = primaries(band)
        .into_iter()
        .filter(|c| list.contains(&c.number))
        .find(|c| c.number == planned.number)
        .or_else(|| {
            primaries(band)
                .into_iter()
                .find(|c| list.contains(&c.number))
        })?;
    let mut choice = to_choice(phy, &carries(first)?);
    choice.center_channel = None;
    // A block's radar channels count, not only its primary.
    let radar = list.iter().any(|p| {
        let block = match band.band {
            BandId::Band5G => block_5(*p, planned.width_mhz),
            BandId::Band6G => block_6(*p, planned.width_mhz),
            _ => None,
        };
        block.is_some_and(|(chs, _)| chs.iter().any(|n| find(band, *n).is_some_and(|c| c.radar)))
    });
    choice.acs = Some(Acs::new(list, ctx.dfs, radar));
    Some(choice)
}

/// The notes that explain a choice: mode and rate, and why nothing wider.
fn explain(choice: &ChannelChoice, wider: Option<String>, notes: &mut Vec<LinkNote>) {
    notes.push((
        Topic::Width,
        format!(
            "{} MHz{}: {} at up to {} Mbit/s for a two-stream client{}",
            choice.width_mhz,
            choice
                .center_channel
                .map(|c| format!(" centred on channel {c} ({} MHz)", choice.center_freq_mhz))
                .unwrap_or_default(),
            choice.mode_text(),
            choice.rate_mbps,
            wider.map(|w| format!("; {w}")).unwrap_or_default()
        ),
    ));
    if choice.dfs {
        notes.push((Topic::Dfs,
            format!(
                "channel {} needs radar detection: the AP listens for radar (the channel availability check, 60 s or more) before it beacons",
                choice.number
            ),
        ));
    }
}

/// Picks band, channel and width on `phy`. Ok carries the choice and the
/// notes that explain it; Err the reason the phy cannot host the AP (it
/// becomes the phy's rejection). `upstream_width` is the operating width
/// of the station the AP must follow, when it must; `heard` the networks
/// around, which pick the primary within the chosen block.
pub fn choose(
    phy: &Phy,
    fit: &PhyFit,
    wish: &LinkWish,
    country: Option<&str>,
    upstream_width: Option<u32>,
    heard: &Heard<'_>,
) -> Result<(ChannelChoice, Vec<LinkNote>), String> {
    let ctx = Ctx {
        country,
        dfs: wish.dfs,
    };
    let mut notes: Vec<LinkNote> = Vec::new();
    if let Some((iface, number, freq)) = &fit.follow {
        let hit = phy.bands.iter().find_map(|b| {
            b.channels
                .iter()
                .find(|c| match freq {
                    Some(f) => c.freq_mhz == *f,
                    None => c.number == *number && b.band != BandId::Band6G,
                })
                .map(|c| (b, c))
        });
        let Some((band, ch)) = hit else {
            return Err(format!(
                "the upstream interface {iface} is on channel {number}, which {} does not list",
                phy.name
            ));
        };
        if let Some(why) = unusable(band.band, ch, country, wish.dfs) {
            return Err(format!(
                "allows only one channel beside {iface}, which is on channel {} ({} MHz), marked {why} here: \
                 the AP cannot follow it there. Remedy: add a second radio, or move the upstream network to \
                 a channel without that flag",
                ch.number, ch.freq_mhz
            ));
        }
        let up = upstream_width.unwrap_or(20);
        let cap = width_cap(band, wish.width, Some(up)).max(20);
        let (best, wider) = best_at(band, ch, cap, &ctx)
            .ok_or_else(|| format!("channel {} cannot carry an AP here", ch.number))?;
        let choice = to_choice(phy, &best);
        let mut why = format!(
            "channel {} ({} MHz): the combination allows one channel, so the AP follows {iface} (at {up} MHz)",
            ch.number, ch.freq_mhz
        );
        if wish.channel.is_some_and(|c| c != ch.number) {
            why.push_str(&format!(
                " (the configured channel {} is ignored)",
                wish.channel.unwrap_or_default()
            ));
        }
        if wish.acs {
            why.push_str(" (channel = \"auto\" is ignored: hostapd may not choose)");
        }
        notes.push((Topic::Channel, why));
        explain(&choice, wider.filter(|_| choice.width_mhz < up), &mut notes);
        return Ok((choice, notes));
    }
    if let Some(number) = wish.channel {
        let hit = wanted_bands(phy, wish)
            .into_iter()
            .filter(|b| b.band != BandId::Band6G)
            .find_map(|b| find(b, number).map(|c| (b, c)));
        let Some((band, ch)) = hit else {
            return Err(format!(
                "the configured channel {number} is not one {} supports{}",
                phy.name,
                only(wish.band)
                    .map(|b| format!(" on {}", band_name(b)))
                    .unwrap_or_default()
            ));
        };
        if let Some(why) = unusable(band.band, ch, country, wish.dfs) {
            return Err(format!(
                "the configured channel {number} ({} MHz) is {why} here; choose another `channel`",
                ch.freq_mhz
            ));
        }
        let cap = width_cap(band, wish.width, None);
        let (best, wider) = best_at(band, ch, cap, &ctx)
            .ok_or_else(|| format!("the configured channel {number} cannot carry an AP here"))?;
        let choice = to_choice(phy, &best);
        notes.push((
            Topic::Channel,
            format!("channel {number} ({} MHz), as configured", ch.freq_mhz),
        ));
        explain(&choice, wider, &mut notes);
        return Ok((choice, notes));
    }

    // The best candidate of each wanted band, then the fastest band.
    let mut per_band: Vec<(Candidate, Option<String>)> = Vec::new();
    let mut band_refusals: Vec<String> = Vec::new();
    for band in wanted_bands(phy, wish) {
        let cap = width_cap(band, wish.width, None);
        let mut best: Option<(Candidate, Option<String>)> = None;
        let mut first_refusal = None;
        for ch in primaries(band) {
            match best_at(band, ch, cap, &ctx) {
                // The first primary wins among equal rates: the order of
                // preference decides.
                Some((c, wider)) if best.as_ref().is_none_or(|(b, _)| c.rate > b.rate) => {
                    best = Some((c, wider));
                }
                Some(_) => {}
                None if first_refusal.is_none() => {
                    first_refusal = unusable(band.band, ch, country, wish.dfs)
                        .map(|w| format!("channel {} is {w}", ch.number));
                }
                None => {}
            }
        }
        match best {
            Some(b) => per_band.push(b),
            None => band_refusals.push(format!(
                "{}: no channel allows an AP ({})",
                band_name(band.band),
                first_refusal.unwrap_or_else(|| "none listed".into())
            )),
        }
    }
    let Some(pos) = per_band
        .iter()
        .enumerate()
        .max_by(|(ia, (a, _)), (ib, (b, _))| {
            a.rate
                .total_cmp(&b.rate)
                // Equal rates: the earlier band (lower frequency) wins.
                .then(ib.cmp(ia))
        })
        .map(|(i, _)| i)
    else {
        let why = match only(wish.band) {
            Some(b) if !phy.bands.iter().any(|x| x.band == b) => {
                format!(
                    "band = \"{}\" is configured, but the card has no {} band",
                    wish.band,
                    band_name(b)
                )
            }
            Some(_) => format!(
                "band = \"{}\" is configured: {}",
                wish.band,
                band_refusals.join("; ")
            ),
            None => format!(
                "no channel allows an AP (every channel is disabled, no-IR or radar{})",
                if country.is_none() {
                    ", or needs a country code"
                } else {
                    ""
                }
            ),
        };
        return Err(why);
    };
    let (mut best, wider) = per_band.swap_remove(pos);
    let quiet_note = quieter(phy, &best, &ctx, heard).map(|(q, why)| {
        best = q;
        why
    });
    let mut choice = to_choice(phy, &best);
    if let Some(c) = wish.acs.then(|| acs_choice(phy, &choice, &ctx)).flatten() {
        choice = c;
    }
    // The preferred primaries passed over on the way, and why.
    let passed: Vec<String> = phy
        .bands
        .iter()
        .filter(|b| b.band == choice.band)
        .flat_map(primaries)
        .take_while(|c| c.number != choice.number)
        .filter_map(|c| {
            unusable(choice.band, c, country, wish.dfs)
                .map(|w| format!("channel {} is {w}", c.number))
        })
        .take(4)
        .collect();
    let acs_note = choice
        .acs
        .as_ref()
        .map(|a| acs::note(choice.band, choice.width_mhz, a))
        .or_else(|| {
            quiet_note.map(|why| {
                let among = match (choice.band, choice.width_mhz) {
                    (BandId::Band2G4, 20) => "of 6, 1 and 11 (the channels that do not overlap)",
                    _ => "of the first usable block in order of preference",
                };
                format!(
                    "channel {} ({} MHz), {among}: {why}",
                    choice.number, choice.freq_mhz
                )
            })
        });
    notes.push((
        Topic::Channel,
        acs_note.unwrap_or_else(|| {
            format!(
                "channel {} ({} MHz), the first usable in {}'s order of preference{}{}",
                choice.number,
                choice.freq_mhz,
                band_name(choice.band),
                if choice.band == BandId::Band2G4 && choice.number == 6 {
                    " (6, 1, 11: the channels that do not overlap)"
                } else {
                    ""
                },
                if passed.is_empty() {
                    String::new()
                } else {
                    format!(": {}", passed.join("; "))
                }
            )
        }),
    ));
    let mut band_why = format!(
        "{}: {} Mbit/s for a two-stream client",
        band_name(choice.band),
        choice.rate_mbps
    );
    for (other, _) in &per_band {
        band_why.push_str(&format!(
            ", against {} Mbit/s on {} ({} {} MHz)",
            other.rate,
            band_name(other.band),
            other.mode.name(),
            other.width
        ));
    }
    for r in &band_refusals {
        band_why.push_str(&format!("; {r}"));
    }
    if wish.band == WifiBand::Auto
        && !phy.bands.iter().any(|b| b.band == BandId::Band5G)
        && choice.band == BandId::Band2G4
    {
        band_why.push_str("; the card has no 5 GHz band");
    }
    if wish.band != WifiBand::Auto {
        band_why.push_str(&format!(" (band = \"{}\", as configured)", wish.band));
    }
    notes.push((Topic::Band, band_why));
    explain(&choice, wider, &mut notes);
    Ok((choice, notes))
}
