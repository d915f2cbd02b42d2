//! What libvirt leaves in the host's firewall after its network is
//! destroyed, and the commands that take it out. libvirt's iptables
//! backend removes its rules with the network but keeps the chains it
//! made (`LIBVIRT_INP`, `LIBVIRT_FWX`, ...), the jumps to them from the
//! base chains, and the tables and base chains iptables-nft created for
//! them. In a container on the host's network they are in the host's
//! firewall: the ruleset is read (`nft -j list ruleset`) before libvirtd
//! starts and after the network is gone, and what is new and empty is
//! removed. Anything that was there before, or that holds a rule (a host's
//! own libvirt sharing the chains), stays.

use std::collections::BTreeSet;

use serde_json::Value;

/// A chain: family, table, name.
pub type ChainId = (String, String, String);

/// The parts of a ruleset that cleaning up needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Family and name.
    pub tables: BTreeSet<(String, String)>,
    pub chains: BTreeSet<ChainId>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub chain: ChainId,
    pub handle: u64,
    /// The chains it jumps or goes to.
    pub targets: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("`nft -j list ruleset` printed no JSON ruleset: {0}")]
pub struct ParseError(String);

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Every `jump`/`goto` target anywhere in a rule's expressions.
fn targets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if k == "jump" || k == "goto" {
                    if let Some(t) = inner.get("target").and_then(Value::as_str) {
                        out.push(t.to_string());
                    }
                }
                targets(inner, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| targets(x, out)),
        _ => {}
    }
}

/// Reads the JSON `nft -j list ruleset` prints.
pub fn parse(json: &str) -> Result<Ruleset, ParseError> {
    let v: Value = serde_json::from_str(json).map_err(|e| ParseError(e.to_string()))?;
    let items = v
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError("no `nftables` array".into()))?;
    let mut r = Ruleset::default();
    for item in items {
        if let Some(t) = item.get("table") {
            r.tables.insert((text(t, "family"), text(t, "name")));
        } else if let Some(c) = item.get("chain") {
            r.chains
                .insert((text(c, "family"), text(c, "table"), text(c, "name")));
        } else if let Some(rule) = item.get("rule") {
            let mut t = Vec::new();
            targets(rule.get("expr").unwrap_or(&Value::Null), &mut t);
            r.rules.push(Rule {
                chain: (
                    text(rule, "family"),
                    text(rule, "table"),
                    text(rule, "chain"),
                ),
                handle: rule.get("handle").and_then(Value::as_u64).unwrap_or(0),
                targets: t,
            });
        }
    }
    Ok(r)
}

/// The `nft` commands that take out of `now` what is new since `before`
/// and left empty: jumps to such chains, the chains, and tables that hold
/// nothing else.
pub fn cleanup(before: &Ruleset, now: &Ruleset) -> Vec<Vec<String>> {
    let new_chain = |c: &ChainId| !before.chains.contains(c);
    let mut gone: BTreeSet<ChainId> = BTreeSet::new();
    let mut dropped: BTreeSet<(ChainId, u64)> = BTreeSet::new();
    // A new chain goes when every rule left in it is a jump to a chain that
    // goes; repeat until nothing more goes (base chains holding jumps to
    // libvirt's chains go after them).
    loop {
        let mut more = false;
        let candidates: Vec<&ChainId> = now
            .chains
            .iter()
            .filter(|c| new_chain(c) && !gone.contains(*c))
            .collect();
        for c in candidates {
            let empty = now.rules.iter().filter(|r| &r.chain == c).all(|r| {
                !r.targets.is_empty()
                    && r.targets
                        .iter()
                        .all(|t| gone.contains(&(c.0.clone(), c.1.clone(), t.clone())))
            });
            if empty {
                gone.insert(c.clone());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    for r in &now.rules {
        let (family, table, _) = &r.chain;
        if !r.targets.is_empty()
            && r.targets
                .iter()
                .all(|t| gone.contains(&(family.clone(), table.clone(), t.clone())))
        {
            dropped.insert((r.chain.clone(), r.handle));
        }
    }
    // A new table whose chains all go, goes whole.
    let tables_gone: BTreeSet<&(String, String)> = now
        .tables
        .iter()
        .filter(|t| !before.tables.contains(*t))
        .filter(|(f, n)| {
            now.chains
                .iter()
                .filter(|c| &c.0 == f && &c.1 == n)
                .all(|c| gone.contains(c))
        })
        .collect();
    let in_gone_table = |f: &str, t: &str| tables_gone.contains(&(f.to_string(), t.to_string()));
    let mut cmds = Vec::new();
    for ((family, table, chain), handle) in &dropped {
        if !in_gone_table(family, table)
            && !gone.contains(&(family.clone(), table.clone(), chain.clone()))
        {
            cmds.push(nft(&[
                "delete",
                "rule",
                family,
                table,
                chain,
                "handle",
                &handle.to_string(),
            ]));
        }
    }
    // Jumps inside chains that go are flushed first: a chain cannot be
    // deleted while a rule jumps to it or while it holds rules.
    let chains: Vec<&ChainId> = gone.iter().filter(|c| !in_gone_table(&c.0, &c.1)).collect();
    for (family, table, chain) in chains.iter().copied() {
        let c = (family.clone(), table.clone(), chain.clone());
        if now.rules.iter().any(|r| r.chain == c) {
            cmds.push(nft(&["flush", "chain", family, table, chain]));
        }
    }
    for (family, table, chain) in chains {
        cmds.push(nft(&["delete", "chain", family, table, chain]));
    }
    for (family, table) in tables_gone {
        cmds.push(nft(&["delete", "table", family, table]));
    }
    cmds
}

fn nft(args: &[&str]) -> Vec<String> {
    std::iter::once("nft")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Docker host's firewall before: table ip filter with FORWARD DROP
    /// and Docker's chain.
    const BEFORE: &str = r#"{"nftables": [
      {"metainfo": {"version": "1.1.3", "json_schema_version": 1}},
      {"table": {"family": "ip", "name": "filter", "handle": 1}},
      {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
      {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 3}},
      {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 4, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"jump": {"target": "DOCKER-USER"}}]}}
    ]}"#;

    /// After libvirt's network was destroyed: its empty chains, the jumps
    /// to them, and a nat table iptables-nft made for it.
    const AFTER: &str = r#"{"nftables": [
      {"table": {"family": "ip", "name": "filter", "handle": 1}},
      {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
      {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 3}},
      {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 20, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "filter", "name": "LIBVIRT_INP", "handle": 21}},
      {"chain": {"family": "ip", "table": "filter", "name": "LIBVIRT_FWX", "handle": 22}},
      {"chain": {"family": "ip", "table": "filter", "name": "LIBVIRT_FWO", "handle": 23}},
      {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 30, "expr": [{"counter": {"packets": 5, "bytes": 300}}, {"jump": {"target": "LIBVIRT_INP"}}]}},
      {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 31, "expr": [{"counter": {"packets": 9, "bytes": 900}}, {"jump": {"target": "LIBVIRT_FWX"}}]}},
      {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 32, "expr": [{"jump": {"target": "LIBVIRT_FWO"}}]}},
      {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 4, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"jump": {"target": "DOCKER-USER"}}]}},
      {"table": {"family": "ip", "name": "nat", "handle": 40}},
      {"chain": {"family": "ip", "table": "nat", "name": "POSTROUTING", "handle": 41, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
      {"chain": {"family": "ip", "table": "nat", "name": "LIBVIRT_PRT", "handle": 42}},
      {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "handle": 43, "expr": [{"jump": {"target": "LIBVIRT_PRT"}}]}}
    ]}"#;

    fn cmds(before: &str, after: &str) -> Vec<String> {
        cleanup(&parse(before).unwrap(), &parse(after).unwrap())
            .iter()
            .map(|c| c.join(" "))
            .collect()
    }

    #[test]
    fn what_libvirt_left_goes_and_what_was_there_stays() {
        assert_eq!(
            cmds(BEFORE, AFTER),
            [
                "nft delete rule ip filter FORWARD handle 31",
                "nft delete rule ip filter FORWARD handle 32",
                "nft flush chain ip filter INPUT",
                "nft delete chain ip filter INPUT",
                "nft delete chain ip filter LIBVIRT_FWO",
                "nft delete chain ip filter LIBVIRT_FWX",
                "nft delete chain ip filter LIBVIRT_INP",
                "nft delete table ip nat",
            ]
        );
    }

    #[test]
    fn nothing_new_nothing_to_do() {
        assert!(cmds(BEFORE, BEFORE).is_empty());
        assert!(cmds(AFTER, AFTER).is_empty());
    }

    #[test]
    fn a_chain_that_still_holds_a_rule_stays_with_its_jump() {
        // The host's own libvirt started a network meanwhile: its rule is in
        // LIBVIRT_FWO, which therefore stays, and so does FORWARD's jump.
        let busy = AFTER.replace(
            r#"{"table": {"family": "ip", "name": "nat", "handle": 40}},"#,
            r#"{"rule": {"family": "ip", "table": "filter", "chain": "LIBVIRT_FWO", "handle": 50, "expr": [{"accept": null}]}},
      {"table": {"family": "ip", "name": "nat", "handle": 40}},"#,
        );
        let c = cmds(BEFORE, &busy);
        assert!(!c.iter().any(|c| c.contains("LIBVIRT_FWO")), "{c:?}");
        assert!(!c.iter().any(|c| c.contains("handle 32")), "{c:?}");
        assert!(
            c.contains(&"nft delete chain ip filter LIBVIRT_FWX".to_string()),
            "{c:?}"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("not json").is_err());
        assert!(parse("{}").is_err());
    }
}
