//! Command line: parses flags, gathers facts, and runs one subcommand.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::config;
use crate::facts::Facts;
pub use crate::overrides::Overrides;
use crate::plan::{self, Plan, PlanError};
use crate::render::{self, RenderedFile, Templates};
use crate::state::{self, State};

const ABOUT: &str = "First-boot agent of the softap appliance: finds a radio that can host an \
access point, picks a channel and a free subnet, writes the libvirt, systemd-networkd and \
hostapd configuration, and brings the access point up.";

const AFTER_HELP: &str = "\
Configuration, later layers win: built-in defaults < /etc/softap/softap.toml < softap.toml on \
the boot partition (/efi, /boot/efi or /boot) < systemd credentials (softap.ssid, \
softap.passphrase, softap.country, ...) < command-line flags.

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
#[command(name = "softap-agent", version, about = ABOUT, after_help = AFTER_HELP)]
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
}

/// Everything a command can fail with, each with its exit status.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    #[error(transparent)]
    NotApplied(#[from] crate::status::NotApplied),
    #[error("{path}: cannot read facts: {source}")]
    FactsRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not valid facts JSON: {source}")]
    FactsParse {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Facts(String),
}

impl AgentError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Config(_) => 2,
            AgentError::Plan(e) => e.exit_code(),
            AgentError::Apply(crate::apply::ApplyError::Step { .. }) => 5,
            _ => 1,
        }
    }
}

/// Logs how long a step took, so the end-to-end test can report the agent's
/// own share of the bring-up time.
pub struct StepTimer {
    step: &'static str,
    start: Instant,
}

impl StepTimer {
    pub fn start(step: &'static str) -> Self {
        tracing::debug!(step, "started");
        StepTimer {
            step,
            start: Instant::now(),
        }
    }
    pub fn done(self) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(step = self.step, ms = format!("{ms:.1}"), "step done");
    }
}

/// The resolved context every command works in.
pub struct Context {
    pub root: PathBuf,
    pub dry_run: bool,
    pub cli_facts: Option<PathBuf>,
    pub config_sources: config::Sources,
    pub timeouts: crate::apply::Timeouts,
}

impl Context {
    pub fn new(cli: &Cli) -> Context {
        let root = cli.root.clone().unwrap_or_else(|| PathBuf::from("/"));
        let flags = cli.overrides.layer();
        Context {
            dry_run: cli.root.is_some(),
            cli_facts: cli.facts.clone(),
            config_sources: config::Sources::system(&root, cli.config.clone(), flags),
            root,
            timeouts: crate::apply::Timeouts {
                ap: std::time::Duration::from_secs(cli.ap_timeout),
                ..crate::apply::Timeouts::default()
            },
        }
    }

    pub fn config(&self) -> Result<config::Config, AgentError> {
        let t = StepTimer::start("config");
        let mut c = config::load(&self.config_sources)?;
        // The facts name phys, not their addresses: on the live system a
        // `phy = "aa:bb:..."` is resolved through sysfs to the phy that
        // carries that address now.
        if self.cli_facts.is_none() {
            if let Some(wanted) = c.phy.clone() {
                if let Some(name) = phy_by_mac(Path::new("/sys/class/ieee80211"), &wanted) {
                    tracing::info!("phy {wanted} is {name} now");
                    c.phy = Some(name);
                }
            }
        }
        t.done();
        Ok(c)
    }

    /// Facts from `--facts FILE`, else from the live system.
    pub fn facts(&self) -> Result<Facts, AgentError> {
        let t = StepTimer::start("facts");
        let mut facts = match &self.cli_facts {
            Some(path) => read_facts(path)?,
            None => gather_live()?,
        };
        if facts.machine_id.is_none() {
            facts.machine_id = read_machine_id(&self.root);
        }
        t.done();
        Ok(facts)
    }

    /// For `watch`: with `--facts FILE`, the radios and libvirt networks
    /// come from the file and the addresses and routes from the live network
    /// namespace, so the reaction to real network changes is testable on a
    /// machine without radios. Without `--facts`, everything is live.
    pub fn facts_for_watch(&self) -> Result<Facts, AgentError> {
        let Some(path) = &self.cli_facts else {
            return self.facts();
        };
        let t = StepTimer::start("facts");
        let mut facts = read_facts(path)?;
        let (addresses, routes) =
            crate::facts::rtnl::gather().map_err(|e| AgentError::Facts(e.to_string()))?;
        facts.addresses = addresses;
        facts.routes = routes;
        if facts.machine_id.is_none() {
            facts.machine_id = read_machine_id(&self.root);
        }
        t.done();
        Ok(facts)
    }

    pub fn state(&self) -> Result<State, AgentError> {
        Ok(State::load(&self.root)?)
    }
}

/// The phy (under `/sys/class/ieee80211`) whose permanent or any assigned
/// address is `mac`.
pub fn phy_by_mac(class_dir: &Path, mac: &str) -> Option<String> {
    if !plan::phy::looks_like_mac(mac) {
        return None;
    }
    let mac = mac.trim().to_ascii_lowercase();
    let mut entries: Vec<_> = std::fs::read_dir(class_dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    entries.into_iter().find_map(|e| {
        let dir = e.path();
        let mut text = std::fs::read_to_string(dir.join("macaddress")).unwrap_or_default();
        text.push('\n');
        text.push_str(&std::fs::read_to_string(dir.join("addresses")).unwrap_or_default());
        text.lines()
            .any(|l| l.trim().eq_ignore_ascii_case(&mac))
            .then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// Reads a facts JSON file, reporting errors with line and column.
pub fn read_facts(path: &Path) -> Result<Facts, AgentError> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentError::FactsRead {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| AgentError::FactsParse {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    })
}

/// Facts from the running system: nl80211 (cross-checked with sysfs),
/// rtnetlink, libvirt and the machine id.
pub fn gather_live() -> Result<Facts, AgentError> {
    crate::facts::live::gather().map_err(|e| AgentError::Facts(e.to_string()))
}

fn read_machine_id(root: &Path) -> Option<String> {
    std::fs::read_to_string(root.join("etc/machine-id"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The passphrase shown by `plan`: configured, else stored, else a note.
pub fn known_passphrase(cfg: &config::Config, root: &Path) -> Option<String> {
    cfg.passphrase.clone().or_else(|| {
        std::fs::read_to_string(root.join(state::PASSPHRASE_FILE))
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
            .filter(|s| !s.is_empty())
    })
}

/// Placeholder rendered by `plan` before the first apply generated one.
pub const PASSPHRASE_PLACEHOLDER: &str = "(generated-at-first-apply)";

/// Facts, config and state to a plan and its files; writes nothing.
pub fn plan_and_render(
    ctx: &Context,
    facts: &Facts,
    cfg: &config::Config,
    prev: &State,
    passphrase: Option<&str>,
) -> Result<(Plan, Vec<RenderedFile>, Templates), AgentError> {
    let t = StepTimer::start("plan");
    let p = plan::plan(facts, cfg, prev)?;
    t.done();
    let t = StepTimer::start("render");
    let templates = Templates::load(&ctx.root)?;
    let files = render::render(&p, passphrase, &templates)?;
    t.done();
    Ok((p, files, templates))
}

fn cmd_plan(ctx: &Context, json: bool) -> Result<(), AgentError> {
    let cfg = ctx.config()?;
    let facts = ctx.facts()?;
    let prev = ctx.state()?;
    let pass = known_passphrase(&cfg, &ctx.root);
    let shown = pass.as_deref().unwrap_or(PASSPHRASE_PLACEHOLDER);
    let (p, files, templates) = plan_and_render(ctx, &facts, &cfg, &prev, Some(shown))?;
    if json {
        let out = serde_json::json!({
            "plan": p,
            "files": files,
            "templates": templates.origin,
            "config_sources": cfg.sources,
        });
        emit(&json_text(&out));
    } else {
        let mut s = p.explain();
        s.push_str(&format!(
            "\nConfiguration from: {}\n",
            cfg.sources.join(" < ")
        ));
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

fn facts_from_iw(list: &Path, dev: Option<&Path>) -> Result<Facts, AgentError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| AgentError::FactsRead {
            path: p.to_path_buf(),
            source,
        })
    };
    let list_text = read(list)?;
    let dev_text = dev.map(read).transpose()?;
    crate::facts::iw::from_iw_text(&list_text, dev_text.as_deref()).map_err(|e| {
        let file = match e.input {
            crate::facts::iw::IwInput::List => list,
            crate::facts::iw::IwInput::Dev => dev.unwrap_or(list),
        };
        AgentError::Facts(format!("{}: {e}", file.display()))
    })
}

/// The result of one whole bring-up.
pub struct Applied {
    pub plan: Plan,
    pub outcome: crate::apply::Outcome,
    pub passphrase: Option<String>,
}

/// Plans and applies once with the given facts; saves the state.
pub fn apply_with(ctx: &Context, facts: &Facts) -> Result<Applied, AgentError> {
    let cfg = ctx.config()?;
    let prev = ctx.state()?;
    let t = StepTimer::start("plan");
    let p = plan::plan(facts, &cfg, &prev)?;
    t.done();
    let (pass, generated) =
        crate::apply::ensure_passphrase(&ctx.root, cfg.passphrase.as_deref(), p.security)?;
    if generated {
        tracing::info!(
            "generated a passphrase and stored it in {}",
            ctx.root.join(state::PASSPHRASE_FILE).display()
        );
    }
    let t = StepTimer::start("render");
    let templates = Templates::load(&ctx.root)?;
    let files = render::render(&p, pass.as_deref(), &templates)?;
    t.done();
    let sys = crate::sys::Sys::new(&ctx.root, ctx.dry_run);
    let t = StepTimer::start("apply");
    let outcome = crate::apply::apply(&sys, &p, &files, &prev, &ctx.timeouts)?;
    t.done();
    let mut hashed = cfg.clone();
    hashed.passphrase = pass.clone();
    let new = crate::apply::new_state(&p, &prev, &hashed.hash(), &files);
    new.save(&ctx.root)?;
    if outcome.hostapd_started && !ctx.dry_run {
        let text = crate::console::banner(
            &p.ssid,
            pass.as_deref(),
            p.security,
            &p.subnet.net.to_string(),
        );
        let written = crate::console::to_consoles(&text);
        tracing::info!("credentials banner written to {} console(s)", written.len());
    }
    Ok(Applied {
        plan: p,
        outcome,
        passphrase: pass,
    })
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
        "softap: AP {:?} on {} channel {}, subnet {} (gateway {}) on {}: {}\n",
        p.ssid,
        p.phy.name,
        p.channel.number,
        p.subnet.net,
        p.subnet.gateway,
        p.bridge,
        if a.outcome.changed {
            "applied"
        } else {
            "already up to date, nothing changed"
        }
    );
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
    let cfg = config::load(&ctx.config_sources).ok();
    let pass = match &cfg {
        Some(c) => known_passphrase(c, &ctx.root),
        None => known_passphrase(&config::Config::default(), &ctx.root),
    };
    let status = crate::status::gather(&st, pass, ctx.dry_run, ctx.root.join(state::STATE_FILE))?;
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

/// Runs the parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    init_logging(cli.verbose, &cli.command);
    let ctx = Context::new(&cli);
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("softap-agent: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(verbose: u8, cmd: &Command) {
    // apply and watch run as services: their step timings belong in the journal.
    let base = match (verbose, cmd) {
        (0, Command::Apply | Command::Watch) => "info",
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
