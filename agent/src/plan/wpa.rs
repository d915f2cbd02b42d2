//! The security mode: as configured, or with `auto` the best the phy can
//! do; on 6 GHz WPA3-SAE only.

use crate::config::Security;
use crate::facts::{BandId, Phy};
use crate::security::SecurityMode;

use super::{note, Note, PlanError, Topic};

/// The security mode: as configured, or with `auto` the best the phy can do.
pub fn choose(
    security: Security,
    phy: &Phy,
    band: BandId,
    decisions: &mut Vec<Note>,
) -> Result<SecurityMode, PlanError> {
    if band == BandId::Band6G {
        // The configuration's rules refuse any other security with band 6.
        if !phy.sae {
            return Err(PlanError::SaeUnsupported {
                phy: phy.name.clone(),
            });
        }
        decisions.push(note(Topic::Security,
            "WPA3-SAE only, management frame protection required, SAE hash-to-element: what 6 GHz requires",
        ));
        return Ok(SecurityMode::Wpa3);
    }
    let mode = match security {
        Security::Open => {
            decisions.push(note(
                Topic::Security,
                "open: no encryption, because the configuration says security = \"open\"",
            ));
            SecurityMode::Open
        }
        Security::Wpa2 => {
            decisions.push(note(Topic::Security, "WPA2-PSK, as configured"));
            SecurityMode::Wpa2
        }
        Security::Wpa3Transition if !phy.sae => {
            return Err(PlanError::SaeUnsupported {
                phy: phy.name.clone(),
            })
        }
        Security::Wpa3Transition => {
            decisions.push(note(
                Topic::Security,
                "WPA3-SAE transition (WPA2-PSK and SAE), as configured",
            ));
            SecurityMode::Wpa3Transition
        }
        Security::Auto if phy.sae => {
            decisions.push(note(
                Topic::Security,
                format!(
                    "WPA3-SAE transition mode: {} supports SAE, and WPA2-only clients still join",
                    phy.name
                ),
            ));
            SecurityMode::Wpa3Transition
        }
        Security::Auto => {
            decisions.push(note(
                Topic::Security,
                format!(
                    "WPA2-PSK only: {} does not report SAE support (no WPA3)",
                    phy.name
                ),
            ));
            SecurityMode::Wpa2
        }
    };
    Ok(mode)
}
