//! The appliance configuration. The schema (layers, merge, rules, the table
//! of keys and the paths the agent and the image builder share) lives in the
//! `softap-config` crate, which the builder uses without the agent; this
//! module keeps it at the agent's `crate::config` paths.

pub use softap_config::{
    credentials_layer, default_domain, default_subnet_pool, from_layer, keys, load, network,
    parse_layer, parse_located, paths, ChannelSetting, Combine, Config, ConfigError, ErrorPlace,
    EspLayer, FixedRange, HostEntry, KeySpec, Layer, Located, Origin, Origins, Security, Sources,
    ValueError, Violation, WifiBand, ESP_FILE, ETC_CONFIG, KEYS, LAST_GOOD_ESP_FILE,
};
