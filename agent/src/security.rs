//! The security mode the plan decides and hostapd is configured with. Its
//! own module because the plan produces it and the state records it: the
//! state (which the plan reads) must not depend on the plan.

use serde::{Deserialize, Serialize};

/// The security mode hostapd is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityMode {
    Wpa2,
    Wpa3Transition,
    /// WPA3-SAE only, management frames protected: what 6 GHz requires.
    Wpa3,
    Open,
}
