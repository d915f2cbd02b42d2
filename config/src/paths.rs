//! Paths both programs agree on, relative to the root of the appliance's file
//! system (the agent joins them to `--root`, the builder writes them into the
//! image).

use std::path::{Path, PathBuf};

/// The image's defaults, written by the builder from `[appliance]`.
pub const ETC_CONFIG: &str = "etc/softap/softap.toml";
/// The user-editable file's name on the EFI system partition.
pub const ESP_FILE: &str = "softap.toml";
/// Where the EFI system partition may be mounted, searched in this order; the
/// first [`ESP_FILE`] found wins.
pub const ESP_MOUNTS: [&str; 3] = ["efi", "boot/efi", "boot"];
/// The agent's own state: what it decided last time, the generated passphrase.
pub const STATE_DIR: &str = "var/lib/softap";
/// The last applied plan (inside [`STATE_DIR`]).
pub const STATE_FILE: &str = "var/lib/softap/state.json";
/// The passphrase generated at first apply (inside [`STATE_DIR`]).
pub const PASSPHRASE_FILE: &str = "var/lib/softap/passphrase";
/// The text of the EFI system partition's file that last worked (inside
/// [`STATE_DIR`]): used in its place while that file is broken.
pub const LAST_GOOD_ESP_FILE: &str = "var/lib/softap/softap.toml.last-good";
/// The disk's Wi-Fi coverage report (written by the builder, read by the
/// agent's `detect`; its text is [`crate::coverage`]'s).
pub const WIFI_COVERAGE_FILE: &str = "usr/share/softap/wifi-coverage.txt";
/// Where the image carries the agent binary.
pub const AGENT_PATH: &str = "usr/bin/softap-agent";
/// systemd credentials are named `softap.<key>`.
pub const CREDENTIAL_PREFIX: &str = "softap.";
/// System credentials (`systemd.set_credential=` on the kernel command line,
/// SMBIOS/fw_cfg in VMs), read below the service's own.
pub const SYSTEM_CREDENTIALS_DIR: &str = "run/credentials/@system";

/// The candidate ESP files under `root`, in search order.
pub fn esp_configs(root: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    ESP_MOUNTS
        .iter()
        .map(move |mount| root.join(mount).join(ESP_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_in_the_state_dir() {
        for f in [STATE_FILE, PASSPHRASE_FILE, LAST_GOOD_ESP_FILE] {
            assert_eq!(Path::new(f).parent(), Some(Path::new(STATE_DIR)), "{f}");
        }
    }

    #[test]
    fn esp_files_in_search_order() {
        let found: Vec<PathBuf> = esp_configs(Path::new("/r")).collect();
        assert_eq!(
            found,
            [
                "/r/efi/softap.toml",
                "/r/boot/efi/softap.toml",
                "/r/boot/softap.toml"
            ]
            .map(PathBuf::from)
        );
        assert!(ETC_CONFIG.ends_with(ESP_FILE));
    }
}
