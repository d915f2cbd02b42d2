//! Scenario a's network for VMs: the stick's `softap.toml` on the ESP
//! reserves an address for the libvirt domain the guest starts on the
//! agent's network (`overlays/e2e/usr/lib/softap-e2e/network.sh`), and the
//! guest learns the same values from its fw_cfg entries, so the two cannot
//! drift.

use crate::esp;

/// The domain's name, MAC address and reserved host part.
pub const VM_NAME: &str = "vm1";
pub const VM_MAC: &str = "52:54:00:5f:e2:10";
pub const VM_OFFSET: u32 = 10;
/// The host part a station configures by hand, in the fixed range (the
/// lower half of the subnet by default).
pub const FIXED_OFFSET: u32 = 20;

/// The ESP's `softap.toml` for scenario a: the country and one
/// reservation, nothing else (every other choice stays the agent's; with a
/// country the hwsim radios get 5 GHz at 80 MHz, checked as `link`).
pub fn esp_config() -> String {
    format!(
        "# softap.toml on the stick: the country (so the AP may use 5 GHz) and\n\
         # an address for the test's libvirt domain\n\
         country = \"DE\"\n\
         [[host]]\n\
         mac = \"{VM_MAC}\"\n\
         name = \"{VM_NAME}\"\n\
         offset = {VM_OFFSET}\n"
    )
}

/// The guest's fw_cfg entries for the checks.
pub fn guest_entries() -> Vec<(&'static str, String)> {
    vec![
        ("vm_name", VM_NAME.to_owned()),
        ("vm_mac", VM_MAC.to_owned()),
        ("vm_offset", VM_OFFSET.to_string()),
        ("fixed_offset", FIXED_OFFSET.to_string()),
    ]
}

/// Writes [`esp_config`] as `softap.toml` onto `stick`'s ESP.
pub fn write_esp_config(stick: &std::path::Path) -> Result<(), String> {
    esp::write_softap_toml(stick, &esp_config())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reservation_is_one_the_agent_accepts() {
        let path = std::path::Path::new("softap.toml");
        let layer =
            softap_config::parse_layer(&esp_config(), path).unwrap_or_else(|e| panic!("{e}"));
        let cfg = softap_config::from_layer(layer, Vec::new());
        cfg.check().unwrap_or_else(|v| panic!("{v:?}"));
        assert_eq!(cfg.hosts.len(), 1);
        assert_eq!(cfg.hosts[0].name, VM_NAME);
        assert_eq!(cfg.hosts[0].offset, VM_OFFSET);
        assert!(cfg.hosts[0].mac.eq_ignore_ascii_case(VM_MAC));
    }
}
