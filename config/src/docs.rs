//! The key reference in `docs/configuration.md`, generated from the table
//! (a test keeps the file current; `SOFTAP_BLESS=1` rewrites it).

use crate::keys::{ValueKind, KEYS};

/// The whole reference page, in Markdown.
pub fn reference() -> String {
    let mut s = String::from(
        "# Configuration keys\n\n\
         <!-- Generated from config/src/keys.rs by `SOFTAP_BLESS=1 cargo test -p softap-config`; \
         do not edit. -->\n\n\
         `softap-agent` reads these keys from, later layers winning: built-in defaults < \
         `/etc/softap/softap.toml` (the image's `[appliance]` table) < `softap.toml` on the \
         EFI system partition (`/efi`, `/boot/efi` or `/boot`) < systemd credentials \
         `softap.<key>` < command-line flags. Unknown keys are errors.\n\n\
         A `softap.toml` on the EFI system partition that cannot be read, does not parse or \
         breaks a rule does not stop the appliance: the agent names its file, line, column and \
         problem on the console, in its log and in `softap-agent status`, and runs on the \
         version of that file that last worked (kept in `/var/lib/softap`) or, if none did, \
         without it. Fix the file and run `softap-agent apply` or reboot.\n",
    );
    for k in KEYS {
        let kind = match k.kind {
            ValueKind::Text => "string",
            ValueKind::Integer => "integer",
            ValueKind::IntegerOrWord => "integer or string",
            ValueKind::List => "list of strings",
            ValueKind::Boolean => "boolean",
            ValueKind::Tables => "array of tables",
        };
        s.push_str(&format!("\n## `{}`\n\n{}\n\n", k.name, k.help));
        s.push_str(&format!("- Type: {kind} (`{}`)\n", k.value_name));
        s.push_str(&format!("- Default: {}\n", k.default));
        let mut from = vec!["`softap.toml`".to_owned()];
        if k.credential {
            from.push(format!("credential `softap.{}`", k.name));
        }
        if let Some(flag) = k.flag {
            from.push(format!("flag `--{flag}`"));
        }
        if let Some(option) = k.nix_option {
            from.push(format!("NixOS option `services.softap.{option}`"));
        }
        s.push_str(&format!("- Set by: {}\n", from.join(", ")));
        if !k.in_image {
            s.push_str(
                "- Not allowed in an image spec's `[appliance]`: it would be readable in the \
                 image.\n",
            );
        }
    }
    s
}

/// Fails unless the file at `relative` (from the workspace root) holds
/// `want`; with `SOFTAP_BLESS` set, writes it first.
#[cfg(test)]
pub(crate) fn assert_generated_file_current(relative: &str, want: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    if std::env::var_os("SOFTAP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, want).unwrap();
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "{} is out of date: run SOFTAP_BLESS=1 cargo test -p softap-config",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_configuration_md_is_current() {
        super::assert_generated_file_current("docs/configuration.md", &super::reference());
    }

    /// `nix/keys.json`: the NixOS module's typed options, each with its key,
    /// the agent's default and the help, which the module uses as the
    /// option's description.
    fn nix_keys_json() -> String {
        let options: serde_json::Map<String, serde_json::Value> = crate::keys::KEYS
            .iter()
            .filter_map(|k| {
                let entry = serde_json::json!({
                    "key": k.name,
                    "default": k.default,
                    "help": k.help,
                });
                Some((k.nix_option?.to_owned(), entry))
            })
            .collect();
        serde_json::to_string_pretty(&options).unwrap() + "\n"
    }

    #[test]
    fn nix_keys_json_is_current() {
        super::assert_generated_file_current("nix/keys.json", &nix_keys_json());
    }
}
