//! One explained decision or rejection of the plan, and what it is about.

use serde::Serialize;

/// What a decision or rejection is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    Phy,
    Channel,
    Band,
    Width,
    Dfs,
    Beacon,
    Rates,
    /// 802.11be.
    Eht,
    Country,
    Security,
    Bridge,
    Subnet,
    Dhcp,
    Host,
    Domain,
    Ipv6,
    Isolate,
    Ssid,
}

impl Topic {
    /// The name `plan` prints and `--json` carries.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Phy => "phy",
            Topic::Channel => "channel",
            Topic::Band => "band",
            Topic::Width => "width",
            Topic::Dfs => "dfs",
            Topic::Beacon => "beacon",
            Topic::Rates => "rates",
            Topic::Eht => "eht",
            Topic::Country => "country",
            Topic::Security => "security",
            Topic::Bridge => "bridge",
            Topic::Subnet => "subnet",
            Topic::Dhcp => "dhcp",
            Topic::Host => "host",
            Topic::Domain => "domain",
            Topic::Ipv6 => "ipv6",
            Topic::Isolate => "isolate",
            Topic::Ssid => "ssid",
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One explained decision or rejection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub topic: Topic,
    pub text: String,
}

pub(crate) fn note(topic: Topic, text: impl Into<String>) -> Note {
    Note {
        topic,
        text: text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::Topic;

    #[test]
    fn a_topic_is_its_name_in_json_and_text() {
        for t in [Topic::Phy, Topic::Ipv6, Topic::Dfs, Topic::Ssid] {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::String(t.to_string())
            );
        }
        assert_eq!(Topic::Ipv6.name(), "ipv6");
    }
}
