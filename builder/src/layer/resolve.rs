//! Paths of upper layers resolved through the symlinks of the layers below,
//! inside the image root (as a chroot would), so an overlay's `lib/x` lands
//! in `usr/lib/x` on a merged-/usr base instead of turning the `lib` symlink
//! into a directory. A symlink whose target climbs above the root is refused.

use std::collections::{HashMap, VecDeque};

const MAX_LINKS: usize = 40;

/// Resolves every directory component of `path` through `links` (path →
/// symlink target). The last component is kept as is: an entry at a symlink's
/// own path replaces the symlink.
pub fn resolve(path: &str, links: &HashMap<String, String>) -> Result<String, String> {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let Some(last) = parts.pop() else {
        return Err("empty path".into());
    };
    let mut pending: VecDeque<String> = parts.iter().map(|s| (*s).to_owned()).collect();
    let mut done: Vec<String> = Vec::new();
    let mut followed = 0;
    while let Some(c) = pending.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if done.pop().is_none() {
                    return Err(format!("`{path}` climbs above the image root"));
                }
                continue;
            }
            _ => {}
        }
        done.push(c);
        let here = done.join("/");
        if let Some(target) = links.get(&here) {
            followed += 1;
            if followed > MAX_LINKS {
                return Err(format!("too many symlinks resolving `{path}`"));
            }
            done.pop();
            if target.starts_with('/') {
                // An absolute target is absolute within the image.
                done.clear();
            } else {
                check_relative(&here, target).map_err(|m| {
                    format!("`{path}` would be written through symlink `{here}`: {m}")
                })?;
            }
            for p in target.split('/').rev() {
                pending.push_front(p.to_owned());
            }
        }
    }
    done.push(last.to_owned());
    Ok(done.join("/"))
}

/// Refuses a relative symlink target that climbs above the image root from
/// the link's directory.
pub fn check_relative(link_path: &str, target: &str) -> Result<(), String> {
    if target.starts_with('/') {
        return Ok(());
    }
    let mut depth = link_path.split('/').filter(|p| !p.is_empty()).count() as i64 - 1;
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "symlink `{link_path}` -> `{target}` points outside the image root"
                    ));
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(v: &[(&str, &str)]) -> HashMap<String, String> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn merged_usr() {
        let l = links(&[("lib", "usr/lib"), ("bin", "/usr/bin")]);
        assert_eq!(
            resolve("lib/systemd/system/x.service", &l).unwrap(),
            "usr/lib/systemd/system/x.service"
        );
        assert_eq!(resolve("bin/sh", &l).unwrap(), "usr/bin/sh");
        assert_eq!(resolve("lib", &l).unwrap(), "lib");
        assert_eq!(resolve("etc/x", &l).unwrap(), "etc/x");
    }

    #[test]
    fn chains_and_dotdot() {
        let l = links(&[("a", "b/c"), ("b/c", "../d"), ("d", "/e/./f")]);
        assert_eq!(resolve("a/x", &l).unwrap(), "e/f/x");
    }

    #[test]
    fn escaping_symlink_is_refused() {
        let l = links(&[("etc/evil", "../../tmp")]);
        let e = resolve("etc/evil/passwd", &l).unwrap_err();
        assert!(e.contains("outside the image root"), "{e}");
        assert!(check_relative("etc/x", "../usr/x").is_ok());
        assert!(check_relative("etc/x", "../../x").is_err());
        assert!(check_relative("x", "/abs").is_ok());
    }

    #[test]
    fn loops_stop() {
        let l = links(&[("a", "b"), ("b", "a")]);
        assert!(resolve("a/x", &l).unwrap_err().contains("too many"));
    }
}
