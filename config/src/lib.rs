//! The softap appliance's configuration, shared by `softap-agent` (which
//! reads it at every boot) and `softap-build` (which checks an image spec's
//! `[appliance]` table and writes it into the image).
//!
//! Layers, later ones win: built-in defaults < `/etc/softap/softap.toml` <
//! `softap.toml` on the EFI system partition < systemd credentials <
//! command-line flags. Every layer is parsed into a [`Layer`] (all keys
//! optional, unknown keys rejected), layers are combined key by key
//! ([`Combine`]), and [`Config::validate`] checks the result so that a bad
//! SSID, passphrase or country never reaches a renderer.
//!
//! Every key is described once, in [`keys::KEYS`]: its help text, whether it
//! may come from a credential, a command-line flag or the NixOS module, and
//! whether it may be baked into an image. Unit tests hold that table, the
//! [`Layer`] struct, `nix/module.nix` and `docs/configuration.md` together.

pub mod capped;
pub mod config;
pub mod country;
pub mod coverage;
pub mod docs;
pub mod error;
pub mod keys;
pub mod layer;
mod link;
pub mod load;
pub mod network;
pub mod origin;
pub mod paths;
pub mod rules;
pub mod security;
pub mod time;

pub use config::{default_domain, default_subnet_pool, from_layer, Config, EspLayer};
pub use error::{ConfigError, ErrorPlace, ValueError};
pub use keys::{KeySpec, ValueKind, KEYS};
pub use layer::{parse_layer, parse_located, Combine, Layer, Located};
pub use link::{ChannelSetting, WifiBand, WIDTHS};
pub use load::{credentials_layer, load, Sources};
pub use network::{FixedRange, HostEntry, Split};
pub use origin::{Origin, Origins};
pub use paths::{ESP_FILE, ETC_CONFIG, LAST_GOOD_ESP_FILE};
pub use rules::Violation;
pub use security::Security;
