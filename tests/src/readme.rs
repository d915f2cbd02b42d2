//! The container commands README.md gives, read from README.md itself, so
//! that what a user copies, the image's `io.softap.run` label and what the
//! end-to-end test runs cannot drift apart.

/// The commands of README.md's container section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCommands {
    pub podman_run: String,
    pub docker_load: String,
    pub docker_run: String,
}

/// The lines of README.md's `sh` blocks that start with `prefix`.
fn sh_lines<'a>(readme: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            inside = !inside && t == "```sh";
            continue;
        }
        if inside && t.starts_with(prefix) {
            out.push(t);
        }
    }
    out
}

/// Exactly one command of each kind, or what is wrong.
pub fn container_commands(readme: &str) -> Result<ContainerCommands, String> {
    let one = |prefix: &str| match sh_lines(readme, prefix).as_slice() {
        [one] => Ok(one.to_string()),
        other => Err(format!(
            "README.md: {} `{prefix}` lines in its sh blocks, wanted one",
            other.len()
        )),
    };
    Ok(ContainerCommands {
        podman_run: one("podman run ")?,
        docker_load: one("docker load ")?,
        docker_run: one("docker run ")?,
    })
}

/// The `-v` mounts of a run command, in order.
pub fn mounts(cmd: &str) -> Vec<&str> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-v")
        .map(|w| w[1])
        .collect()
}

/// README.md of this checkout.
pub fn read() -> Result<ContainerCommands, String> {
    let path = crate::images::workspace_root().join("README.md");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    container_commands(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_commands_are_found_and_the_label_is_the_podman_one() {
        let c = read().unwrap();
        let spec = crate::images::workspace_root().join("images/softap.toml");
        let spec: toml::Table = std::fs::read_to_string(spec).unwrap().parse().unwrap();
        let label = spec["container"]["labels"]["io.softap.run"]
            .as_str()
            .unwrap();
        assert_eq!(label, c.podman_run);
        assert_eq!(c.docker_load, "docker load -i out/softap.oci.tar");
    }

    #[test]
    fn both_runtimes_get_the_same_flags_and_mounts() {
        let c = read().unwrap();
        for cmd in [&c.podman_run, &c.docker_run] {
            for flag in ["--privileged", "--network=host", "--name softap", "-d "] {
                assert!(cmd.contains(flag), "`{flag}` missing from {cmd}");
            }
        }
        let want = [
            "softap-state:/var/lib/softap",
            "/lib/modules:/lib/modules:ro",
            "/run/udev:/run/udev:ro",
            "/run/dbus/system_bus_socket:/run/host/dbus/system_bus_socket",
        ];
        assert_eq!(mounts(&c.podman_run), want);
        assert_eq!(mounts(&c.docker_run), want);
        assert!(c.podman_run.ends_with(" oci-archive:out/softap.oci.tar"));
        assert!(c.docker_run.ends_with(" softap:latest"));
    }

    #[test]
    fn one_command_of_each_kind_is_wanted() {
        let text = "```sh\npodman run a\n```\n```sh\ndocker load -i x\ndocker run b\n```\n";
        let c = container_commands(text).unwrap();
        assert_eq!(c.podman_run, "podman run a");
        // Outside sh blocks, and twice, do not count / are refused.
        assert!(container_commands("podman run a\n").is_err());
        let twice = format!("{text}```sh\npodman run c\n```\n");
        assert!(container_commands(&twice)
            .unwrap_err()
            .contains("2 `podman run `"));
        assert_eq!(mounts("run -v a:b --x -v c:d img"), ["a:b", "c:d"]);
    }
}
