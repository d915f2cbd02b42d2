//! Property tests: any text in `softap.toml` ends in a configuration or in
//! an error naming the file, the place and, for a bad value, the key; never
//! in a panic.

use std::path::Path;

use proptest::prelude::*;
use softap_config::{from_layer, parse_located, ConfigError, KEYS};

const FILE: &str = "/efi/softap.toml";

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS.iter().map(|k| k.name).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        1 => "[a-z_]{1,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    let cidr = (any::<[u8; 4]>(), 0u8..=33)
        .prop_map(|(a, l)| format!("\"{}.{}.{}.{}/{l}\"", a[0], a[1], a[2], a[3]));
    prop_oneof![
        any::<String>().prop_map(|s| format!("{s:?}")),
        "[A-Za-z0-9 ._-]{0,40}".prop_map(|s| format!("\"{s}\"")),
        "[A-Z]{2}".prop_map(|s| format!("\"{s}\"")),
        proptest::sample::select(vec![
            "\"wpa2\"",
            "\"open\"",
            "\"auto\"",
            "\"wpa3-transition\"",
            "\"wep\""
        ])
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..300).prop_map(|n| n.to_string()),
        proptest::collection::vec(cidr, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        Just("true".to_owned()),
        "[^\n]{0,20}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec((key(), value()), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_is_a_configuration_or_an_error_naming_file_and_key(text in text()) {
        let checked = parse_located(&text, Path::new(FILE)).and_then(|l| {
            let mut c = from_layer(l.layer, vec![FILE.into()]);
            c.origins = l.origins;
            c.validate(&|k| c.origins.get(k))?;
            Ok(c)
        });
        if let Err(e) = checked {
            let msg = e.to_string();
            prop_assert!(msg.starts_with(&format!("{FILE}:")), "{msg}");
            match &e {
                ConfigError::Invalid { key, .. } => {
                    prop_assert!(msg.contains(&format!("`{key}`")), "{msg}");
                }
                ConfigError::Parse { line, column, .. } => {
                    prop_assert!(msg.starts_with(&format!("{FILE}:{line}:{column}: ")), "{msg}");
                }
                other => prop_assert!(false, "unexpected {other:?}"),
            }
            prop_assert!(!msg.contains('\n') || matches!(e, ConfigError::Parse { .. }), "{msg}");
        }
    }

    /// Arbitrary bytes, not only key = value lines.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse_located(&text, Path::new(FILE)) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with(&format!("{FILE}:")), "{msg}");
        }
    }
}
