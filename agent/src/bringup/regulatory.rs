//! The regulatory domain before the facts the plan reads: the configured
//! country, else the one the access points around agree on (after one scan
//! where nothing is cached), asked of the kernel before the channel flags
//! are read.

use super::{gather_live, AgentError, Context};
use crate::config;
use crate::facts::Facts;

impl Context {
    /// The channel flags the plan reads (no-IR, radar, disabled) are those
    /// of the regulatory domain the kernel applies. When the configuration
    /// names a country the kernel does not apply yet (or, with none
    /// configured, the access points around agree on one), ask for it (what
    /// hostapd's `country_code` would do, only later than the plan needs)
    /// and read the facts again once the kernel applies it. A broken
    /// configuration is reported where it is loaded for the plan; here it
    /// only means no country to ask for.
    pub(super) fn regulatory_first(&self, facts: Facts) -> Result<Facts, AgentError> {
        if self.dry_run {
            return Ok(facts);
        }
        let configured = config::load(&self.config_sources)
            .ok()
            .and_then(|c| c.country);
        let facts = match configured {
            Some(_) => facts,
            None => self.scan_if_nothing_cached(facts)?,
        };
        let Some(country) = configured.or_else(|| country_around(&facts)) else {
            return Ok(facts);
        };
        let pending = |f: &Facts| {
            f.phys
                .iter()
                .any(|p| !p.self_managed_reg && p.country.as_deref() != Some(country.as_str()))
        };
        if !pending(&facts) {
            return Ok(facts);
        }
        let asked = self.with_host(|host| host.change(&["iw", "reg", "set", &country]));
        if let Err(e) = asked {
            tracing::warn!("asking the kernel for regulatory country {country}: {e}");
            return Ok(facts);
        }
        // The kernel reads the regulatory database asynchronously: a few
        // hundred milliseconds.
        // Only the radios are read while waiting (nl80211 alone is cheap);
        // everything once the country is in force.
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let (phys, _) = crate::facts::nl80211::gather()?;
            let radios = Facts {
                phys,
                ..Facts::default()
            };
            if !pending(&radios) {
                tracing::info!("regulatory country {country} in force");
                return gather_live();
            }
        }
        tracing::warn!("the kernel does not apply regulatory country {country} yet");
        gather_live()
    }

    /// With no country to go by and no scan results cached, one scan on
    /// each radio (see [`crate::survey`]), and the facts read again while
    /// the scanning interfaces are still up.
    fn scan_if_nothing_cached(&self, facts: Facts) -> Result<Facts, AgentError> {
        let interfaces = {
            let mut done = self
                .scanned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let interfaces = crate::survey::interfaces_to_scan(&facts, &done);
            done.extend(crate::survey::phys_of(&facts, &interfaces));
            interfaces
        };
        if interfaces.is_empty() {
            return Ok(facts);
        }
        let host = self.host();
        let scanned = crate::survey::scan(host.as_ref(), &interfaces);
        let again = gather_live();
        scanned.restore(host.as_ref());
        again
    }
}

/// With no country configured: the one the access points around agree on
/// (their Country elements in the kernel's cached scan results), while the
/// kernel applies none to the radios whose domain it sets.
pub(super) fn country_around(facts: &Facts) -> Option<String> {
    let mut shared = facts.phys.iter().filter(|p| !p.self_managed_reg).peekable();
    if shared.peek().is_none() || shared.any(|p| p.country.is_some()) {
        return None;
    }
    let (country, n) = crate::facts::scan::agreed_country(&facts.scan)?;
    tracing::info!("no country configured: {country}, from {n} access point(s) around");
    Some(country)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_around_counts_only_while_the_kernel_applies_none() {
        let ap = |c: &str| crate::facts::ScannedBss {
            bssid: format!("02:00:00:00:00:{c}"),
            freq_mhz: 2412,
            country: Some("DE".into()),
        };
        let mut facts = Facts {
            phys: vec![crate::facts::Phy::default()],
            scan: vec![ap("01"), ap("02")],
            ..Facts::default()
        };
        assert_eq!(country_around(&facts).as_deref(), Some("DE"));
        facts.phys[0].country = Some("US".into());
        assert_eq!(country_around(&facts), None);
        facts.phys[0].self_managed_reg = true;
        assert_eq!(
            country_around(&facts),
            None,
            "no radio takes the kernel's country"
        );
        facts.phys.clear();
        assert_eq!(country_around(&facts), None);
    }
}
