//! Command line: parses flags, gathers facts, and runs one subcommand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bringup::{
    apply_with, facts_from_iw, plan_and_render, AgentError, Applied, Context, Options,
    PASSPHRASE_PLACEHOLDER,
};
use crate::config;
pub use crate::overrides::Overrides;
use crate::state;

const ABOUT: &str = "First-boot agent of the softap appliance: finds a radio that can host an \
access point, picks a channel and a free subnet, writes the libvirt, systemd-networkd and \
hostapd configuration, and brings the access point up.";

/// The text after the flags in `--help`. The keys and credentials come from
/// the configuration crate's table, so they cannot go stale.
fn after_help() -> String {
    let keys: Vec<&str> = config::KEYS.iter().map(|k| k.name).collect();
    let credentials: Vec<String> = config::KEYS
        .iter()
        .filter(|k| k.credential)
        .map(|k| format!("softap.{}", k.name))
        .collect();
    format!(
        "Configuration, later layers win: built-in defaults < /{} < softap.toml on the boot \
partition (/efi, /boot/efi or /boot) < systemd credentials < command-line flags.
Keys: {}.
Credentials: {}.

{AFTER_HELP_REST}",
        config::ETC_CONFIG,
        keys.join(", "),
        credentials.join(", ")
    )
}

const AFTER_HELP_REST: &str = "\
Exit status: 0 success, 1 failure, 2 bad configuration or usage, 3 no phy can host the access \
point, 4 subnet pool exhausted, 5 a bring-up step failed (rolled back).

Examples:
  softap-agent plan                      what would be done, and why
  softap-agent detect --json > facts.json
  softap-agent plan --facts facts.json   plan for another machine's facts
  softap-agent detect --from-iw-list iw.txt --json   facts from pasted `iw list` output
  softap-agent apply --root /tmp/dry     write every file under /tmp/dry, run nothing
  softap-agent status                    SSID, passphrase and a QR code to join";

#[derive(Debug, Parser)]
#[command(name = "softap-agent", version, about = ABOUT, after_help = after_help())]
pub struct Cli {
    /// Read the configuration from FILE instead of /etc/softap/softap.toml and the boot partition.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Use facts from FILE (the JSON `detect --json` prints) instead of the live system.
    #[arg(long, global = true, value_name = "FILE")]
    pub facts: Option<PathBuf>,
    /// Read and write every file under DIR and run no service commands (a dry run).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// How long `apply` and `watch` wait for hostapd to report the AP enabled
    /// (a slow machine or a rebooting radio needs a few seconds).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ap_timeout: u64,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the facts: phys, modes, combinations, channels and their flags, interfaces, addresses, routes, libvirt networks.
    Detect {
        /// Print the facts as JSON (the format --facts reads).
        #[arg(long)]
        json: bool,
        /// Build the facts from the text of `iw list` instead of the live system.
        #[arg(long, value_name = "FILE")]
        from_iw_list: Option<PathBuf>,
        /// With --from-iw-list: the text of `iw dev` (interfaces and their channels).
        #[arg(long, value_name = "FILE", requires = "from_iw_list")]
        iw_dev: Option<PathBuf>,
    },
    /// Decide phy, channel, subnet, bridge and security and show every file that would be written; writes nothing.
    Plan {
        /// Print the plan and the files as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bring the access point up (idempotent; rolls back this run's changes on failure).
    Apply,
    /// Show hostapd's state, clients, subnet, SSID, passphrase and a QR code to join.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stay running: re-plan and re-apply when the upstream network moves into our subnet or a phy appears.
    Watch,
    /// In a container: check it was started with --privileged and --network=host (the image's entrypoint runs this before systemd).
    ContainerCheck,
    /// In a container, before libvirtd first starts: note the host's firewall and IP forwarding, for `down`.
    HostRecord,
    /// Leave the host as it was: stop hostapd, delete the AP interface, destroy the libvirt network, remove what libvirt left in the firewall, give the interface back to NetworkManager.
    Down,
}

fn cmd_plan(ctx: &Context, json: bool) -> Result<(), AgentError> {
    let cfg = ctx.config()?;
    let facts = ctx.facts()?;
    let prev = ctx.state()?;
    let pass = crate::passphrase::known(cfg.passphrase.as_deref(), &ctx.root);
    let shown = pass.as_deref().unwrap_or(PASSPHRASE_PLACEHOLDER);
    let (p, files, templates) = plan_and_render(ctx, &facts, &cfg, &prev, Some(shown))?;
    if json {
        let out = serde_json::json!({
            "plan": p,
            "files": files,
            "templates": templates.origin,
            "config_sources": cfg.sources,
            "config_origins": cfg
                .origins
                .iter()
                .map(|(k, o)| (k, o.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        });
        emit(&json_text(&out));
    } else {
        let mut s = p.explain();
        s.push_str(&format!(
            "\nConfiguration from: {}\n",
            cfg.sources.join(" < ")
        ));
        // Where each set key came from, so a surprising value can be traced
        // to its file and line (or credential, or flag).
        for (key, origin) in cfg.origins.iter() {
            s.push_str(&format!("  {key:<13} {origin}\n"));
        }
        s.push_str(&format!("Templates: {}\n", templates.origin));
        for f in &files {
            s.push_str(&format!("\n--- {} (mode {:04o}) ---\n", f.path, f.mode));
            s.push_str(&f.content);
        }
        emit(&s);
    }
    Ok(())
}

fn cmd_detect(
    ctx: &Context,
    json: bool,
    from_iw_list: Option<&Path>,
    iw_dev: Option<&Path>,
) -> Result<(), AgentError> {
    let facts = match from_iw_list {
        Some(list) => facts_from_iw(list, iw_dev)?,
        None => ctx.facts()?,
    };
    if json {
        emit(&json_text(&facts));
    } else {
        emit(&crate::detect::describe(&facts));
    }
    Ok(())
}

fn cmd_apply(ctx: &Context) -> Result<(), AgentError> {
    let facts = ctx.facts()?;
    let a = apply_with(ctx, &facts)?;
    emit(&apply_summary(ctx, &a));
    Ok(())
}

/// What `apply` prints: the outcome, and in a dry run what would have run.
pub fn apply_summary(ctx: &Context, a: &Applied) -> String {
    let p = &a.plan;
    let mut s = format!(
        "softap: AP {:?} on {} {}, subnet {} (gateway {}) on {}: {}\n",
        p.ssid,
        p.phy.name,
        crate::watch::running_channel(p, a.outcome.running.as_ref()),
        p.subnet.net,
        p.subnet.gateway,
        p.bridge,
        if a.outcome.changed {
            "applied"
        } else {
            "already up to date, nothing changed"
        }
    );
    if let Some(problem) = &a.config_problem {
        s.push_str(&format!("  warning:  {}\n", problem.text));
    }
    for st in &a.outcome.steps {
        s.push_str(&format!(
            "  {:<9} {} ({:.0} ms)\n",
            format!("{}:", st.step),
            st.detail,
            st.ms
        ));
    }
    if ctx.dry_run {
        s.push_str(&format!(
            "Dry run: files written under {}; ",
            ctx.root.display()
        ));
        if a.outcome.commands.is_empty() {
            s.push_str("no command would run.\n");
        } else {
            s.push_str("would run:\n");
            for c in &a.outcome.commands {
                s.push_str(&format!("  {c}\n"));
            }
        }
    }
    s
}

fn cmd_status(ctx: &Context, json: bool) -> Result<(), AgentError> {
    let st = ctx.state()?;
    // A broken configuration does not hide what runs; it is said (in the
    // status too), and the passphrase shown is the stored one.
    let (cfg, problem) = match config::load(&ctx.config_sources) {
        Ok(c) => {
            let problem = crate::bringup::esp_problem(&c);
            (Some(c), problem)
        }
        Err(e) => {
            tracing::warn!("{e}");
            (None, Some(crate::bringup::unusable_config(&e, &st)))
        }
    };
    let pass = match &cfg {
        Some(c) => crate::passphrase::known(c.passphrase.as_deref(), &ctx.root),
        None => crate::passphrase::known(None, &ctx.root),
    };
    let path = ctx.root.join(state::STATE_FILE);
    let status = ctx.with_host(|h| crate::status::gather(h, &st, pass, path, problem))?;
    if json {
        emit(&json_text(&status));
    } else {
        emit(&status.human());
    }
    Ok(())
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// The flags resolved once into the context every command works in.
fn context(cli: &Cli) -> Context {
    let flags = cli.overrides.layer();
    Context::new(Options {
        root: cli.root.clone(),
        config_file: cli.config.clone(),
        facts_file: cli.facts.clone(),
        flags,
        ap_timeout: std::time::Duration::from_secs(cli.ap_timeout),
    })
}

/// Runs the parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.verbose, &cli.command);
    if let Command::ContainerCheck = cli.command {
        return container_check();
    }
    let ctx = context(&cli);
    let result = match &cli.command {
        Command::Detect {
            json,
            from_iw_list,
            iw_dev,
        } => cmd_detect(&ctx, *json, from_iw_list.as_deref(), iw_dev.as_deref()),
        Command::Plan { json } => cmd_plan(&ctx, *json),
        Command::Apply => cmd_apply(&ctx),
        Command::Status { json } => cmd_status(&ctx, *json),
        Command::Watch => crate::watch::run(&ctx, &|| ctx.facts_for_watch()),
        Command::ContainerCheck => Ok(()),
        Command::HostRecord => return host_record(&ctx),
        Command::Down => return cmd_down(&ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softap-agent: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// One line naming the missing flag, and exit status 2 (bad usage).
fn container_check() -> ExitCode {
    let facts = crate::container::gather(Path::new("/"));
    match crate::container::message(&crate::container::missing(&facts)) {
        None => ExitCode::SUCCESS,
        Some(m) => {
            eprintln!("softap: {m}");
            ExitCode::from(2)
        }
    }
}

fn host_record(ctx: &Context) -> ExitCode {
    match ctx.with_host(crate::teardown::record) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softap-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The interface from the last bring-up's state, the network from the
/// configuration; the defaults when either cannot be read, so that a
/// broken configuration still leaves the host clean.
fn cmd_down(ctx: &Context) -> ExitCode {
    let defaults = config::Config::default();
    let network = ctx
        .config()
        .map(|c| c.network_name.clone())
        .unwrap_or(defaults.network_name.clone());
    let interface = ctx
        .state()
        .ok()
        .and_then(|s| s.interface)
        .unwrap_or(defaults.interface.clone());
    let target = crate::teardown::Target { interface, network };
    match ctx.with_host(|h| crate::teardown::down(h, &target)) {
        Ok(done) => {
            for d in done {
                tracing::info!("{d}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("softap-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8, cmd: &Command) {
    // apply and watch run as services: their step timings belong in the journal.
    let base = match (verbose, cmd) {
        (0, Command::Apply | Command::Watch | Command::Down) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOFTAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(base));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
