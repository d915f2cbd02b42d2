//! The bring-up: the resolved context every command works in (configuration
//! sources, facts source, root, timeouts), the errors a command can fail
//! with, and facts -> plan -> render -> apply -> state for one pass.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{self, Layer};
use crate::facts::Facts;
use crate::plan::{self, Plan, PlanError};
use crate::render::{self, RenderedFile, Templates};
use crate::state::{self, ConfigFallback, ConfigProblem, State};

mod regulatory;

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
    Passphrase(#[from] crate::passphrase::PassphraseError),
    #[error(transparent)]
    NotApplied(#[from] crate::status::NotApplied),
    #[error(transparent)]
    Read(#[from] crate::input::ReadError),
    #[error("{path}:{line}:{column}: not valid facts JSON: {source}")]
    FactsParse {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    FactsInvalid {
        path: PathBuf,
        source: crate::facts::validate::InvalidFact,
    },
    #[error(transparent)]
    Facts(#[from] crate::facts::FactsError),
    #[error("{path}: {source}")]
    IwText {
        path: PathBuf,
        source: crate::facts::iw::IwParseError,
    },
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

/// What the command line decided, resolved once into a [`Context`].
pub struct Options {
    /// `--root DIR`: a dry run under DIR.
    pub root: Option<PathBuf>,
    /// `--config FILE` instead of the system's configuration files.
    pub config_file: Option<PathBuf>,
    /// `--facts FILE` instead of the live system.
    pub facts_file: Option<PathBuf>,
    /// The command-line configuration layer (the highest).
    pub flags: Layer,
    /// How long to wait for hostapd to report the AP enabled.
    pub ap_timeout: std::time::Duration,
}

/// The resolved context every command works in.
pub struct Context {
    pub root: PathBuf,
    pub dry_run: bool,
    pub cli_facts: Option<PathBuf>,
    pub config_sources: config::Sources,
    pub timeouts: crate::apply::Timeouts,
    /// The phys this process scanned for the country around (once each:
    /// `watch` asks for facts again and again).
    scanned: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Context {
    pub fn new(o: Options) -> Context {
        let root = o.root.clone().unwrap_or_else(|| PathBuf::from("/"));
        Context {
            dry_run: o.root.is_some(),
            cli_facts: o.facts_file,
            config_sources: config::Sources::system(&root, o.config_file, o.flags),
            root,
            timeouts: crate::apply::Timeouts {
                ap: o.ap_timeout,
                ..crate::apply::Timeouts::default()
            },
            scanned: std::sync::Mutex::default(),
        }
    }

    /// The machine this context works on: the one place a command picks
    /// the real machine or the dry run under `--root`.
    pub fn host(&self) -> Box<dyn crate::host::Host> {
        if self.dry_run {
            Box::new(crate::host::DryRun::new(&self.root))
        } else {
            Box::new(crate::host::Linux::with_root(&self.root))
        }
    }

    /// Runs `f` on [`Context::host`].
    pub fn with_host<T>(&self, f: impl FnOnce(&dyn crate::host::Host) -> T) -> T {
        f(self.host().as_ref())
    }

    pub fn config(&self) -> Result<config::Config, AgentError> {
        let t = StepTimer::start("config");
        let mut c = config::load(&self.config_sources)?;
        if let Some(problem) = esp_problem(&c) {
            tracing::warn!("{}", problem.text);
        }
        // The facts name phys, not their addresses: on the live system a
        // `phy = "aa:bb:..."` is resolved through sysfs to the phy that
        // carries that address now.
        if self.cli_facts.is_none() {
            if let Some(wanted) = c.phy.clone() {
                if let Some(name) = phy_by_mac(Path::new("/sys"), &wanted) {
                    tracing::info!("phy {wanted} is {name} now");
                    c.phy = Some(name);
                }
            }
        }
        t.done();
        Ok(c)
    }

    /// Facts from `--facts FILE`, else from the live system (after the
    /// configured country is in force: see [`Context::regulatory_first`]).
    pub fn facts(&self) -> Result<Facts, AgentError> {
        let t = StepTimer::start("facts");
        let mut facts = match &self.cli_facts {
            Some(path) => read_facts(path)?,
            None => self.regulatory_first(gather_live()?)?,
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
        let (addresses, routes) = crate::facts::rtnl::gather()?;
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

/// The phy (under `<sys>/class/ieee80211`) whose permanent or any assigned
/// address is `mac`; none when `mac` is not an address.
pub fn phy_by_mac(sys: &Path, mac: &str) -> Option<String> {
    if !plan::phy::looks_like_mac(mac) {
        return None;
    }
    crate::facts::sysfs::phy_with_address(sys, mac)
}

/// Reads a facts JSON file, reporting errors with line and column, and
/// checks it as the kernel checks live facts (names, channels).
pub fn read_facts(path: &Path) -> Result<Facts, AgentError> {
    let text = crate::input::read_capped(path, crate::input::FACTS_CAP, "facts")?;
    parse_facts(&text, path)
}

/// [`read_facts`] on text already read; `path` names it in errors.
pub fn parse_facts(text: &str, path: &Path) -> Result<Facts, AgentError> {
    let facts = serde_json::from_str(text).map_err(|source| AgentError::FactsParse {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    })?;
    checked(facts, path)
}

fn checked(facts: Facts, path: &Path) -> Result<Facts, AgentError> {
    crate::facts::validate::validate(&facts).map_err(|source| AgentError::FactsInvalid {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(facts)
}

/// Facts from the running system: nl80211 (cross-checked with sysfs),
/// rtnetlink, libvirt and the machine id.
pub fn gather_live() -> Result<Facts, AgentError> {
    Ok(crate::facts::live::gather()?)
}

fn read_machine_id(root: &Path) -> Option<String> {
    crate::facts::live::machine_id(&root.join(crate::facts::live::MACHINE_ID))
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

pub fn facts_from_iw(list: &Path, dev: Option<&Path>) -> Result<Facts, AgentError> {
    use crate::input::{read_capped, IW_DEV_CAP, IW_LIST_CAP};
    let list_text = read_capped(list, IW_LIST_CAP, "`iw list` text")?;
    let dev_text = dev
        .map(|p| read_capped(p, IW_DEV_CAP, "`iw dev` text"))
        .transpose()?;
    let facts = crate::facts::iw::from_iw_text(&list_text, dev_text.as_deref()).map_err(|e| {
        let file = match e.input {
            crate::facts::iw::IwInput::List => list,
            crate::facts::iw::IwInput::Dev => dev.unwrap_or(list),
        };
        AgentError::IwText {
            path: file.to_path_buf(),
            source: e,
        }
    })?;
    use crate::facts::validate::{validate_interfaces, validate_phys};
    let invalid = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AgentError::FactsInvalid { path, source }
    };
    validate_phys(&facts.phys).map_err(invalid(list))?;
    if let Some(dev) = dev {
        validate_interfaces(&facts.interfaces).map_err(invalid(dev))?;
    }
    Ok(facts)
}

/// The largest kept configuration hashed for `status`: the configuration
/// files' own limit is far below.
const KEPT_CAP: u64 = 4 << 20;

/// Why the ESP file was not used and what runs instead, when it was not:
/// shown on the console (its `text`), logged and kept for `status`. The
/// file is edited by hand, so its text is shown escaped.
pub fn esp_problem(cfg: &config::Config) -> Option<ConfigProblem> {
    let config::EspLayer::Replaced {
        path,
        problem,
        place,
        fallback,
    } = &cfg.esp
    else {
        return None;
    };
    let (instead, kind) = match fallback {
        Some(kept) => (
            format!(
                "the last configuration that worked, kept in {}",
                kept.display()
            ),
            ConfigFallback::LastGood {
                path: kept.display().to_string(),
                sha256: crate::input::read_capped(kept, KEPT_CAP, "the kept configuration")
                    .map_err(|e| tracing::warn!("{e}"))
                    .ok()
                    .map(state::content_hash),
            },
        ),
        None => (
            format!(
                "the image's defaults (/{}): no earlier version of the file worked",
                config::ETC_CONFIG
            ),
            ConfigFallback::Defaults {
                path: format!("/{}", config::ETC_CONFIG),
            },
        ),
    };
    // The parser's message may span lines; the console shows one.
    let problem: Vec<&str> = problem.lines().map(str::trim).collect();
    let problem = problem.join("; ");
    let text = crate::console::printable(&format!(
        "{problem}. Until {} is fixed (then `softap-agent apply` or a reboot reads it again), \
         the access point runs on {instead}.",
        path.display()
    ));
    Some(ConfigProblem::new(place, kind, text))
}

/// A configuration that cannot be loaded at all (a broken
/// `/etc/softap/softap.toml`, credential or flag; a broken ESP file falls
/// back instead): nothing new is applied, so what runs is what `state`
/// says was applied last.
pub fn unusable_config(e: &config::ConfigError, state: &State) -> ConfigProblem {
    let text = crate::console::printable(&format!(
        "{e}. Nothing new is applied until it is fixed; the access point keeps what was applied last."
    ));
    ConfigProblem::new(
        &e.place(),
        ConfigFallback::LastApplied {
            config_hash: state.config_hash.clone(),
        },
        text,
    )
}

/// Keeps the ESP file's text once a configuration made from it has been
/// applied, so that a later broken edit falls back to it; with no ESP file,
/// nothing is kept. A replaced (broken) file leaves the kept text alone.
fn keep_last_good_esp(ctx: &Context, cfg: &config::Config) -> Result<(), AgentError> {
    if ctx.config_sources.explicit.is_some() {
        return Ok(());
    }
    let path = ctx.root.join(config::LAST_GOOD_ESP_FILE);
    match &cfg.esp {
        // It may hold the passphrase.
        config::EspLayer::Read { text, .. } => {
            crate::fsutil::write_if_changed(&path, text.as_bytes(), 0o600)
                .map_err(state::StateError::from)?;
        }
        config::EspLayer::Absent => match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(state::StateError::Remove { path, source }.into()),
        },
        config::EspLayer::Replaced { .. } => {}
    }
    Ok(())
}

/// The result of one whole bring-up.
pub struct Applied {
    pub plan: Plan,
    pub outcome: crate::apply::Outcome,
    pub passphrase: Option<String>,
    /// Why the ESP file was not used, when it was not.
    pub config_problem: Option<ConfigProblem>,
}

/// Decides the plan (timed, for the bring-up's step timings).
pub fn plan(facts: &Facts, cfg: &config::Config, prev: &State) -> Result<Plan, PlanError> {
    let t = StepTimer::start("plan");
    let p = plan::plan(facts, cfg, prev)?;
    t.done();
    Ok(p)
}

/// Loads the configuration and state, plans and applies once with the
/// given facts; saves the state.
pub fn apply_with(ctx: &Context, facts: &Facts) -> Result<Applied, AgentError> {
    let cfg = ctx.config()?;
    let prev = ctx.state()?;
    let p = plan(facts, &cfg, &prev)?;
    apply_plan(ctx, &cfg, &prev, p)
}

/// Renders and applies a plan made from `cfg` and `prev`; saves the state
/// and, when hostapd was (re)started, shows the credentials on the consoles.
pub fn apply_plan(
    ctx: &Context,
    cfg: &config::Config,
    prev: &State,
    p: Plan,
) -> Result<Applied, AgentError> {
    ctx.with_host(|host| apply_plan_on(host, ctx, cfg, prev, p))
}

/// [`apply_plan`] on a given host. The order is what a power cut at any
/// moment needs: the passphrase is on disk (fsynced, 0600) before anything
/// uses it, the state is replaced atomically after the services took the
/// files, and only then are the credentials shown.
pub fn apply_plan_on(
    host: &dyn crate::host::Host,
    ctx: &Context,
    cfg: &config::Config,
    prev: &State,
    p: Plan,
) -> Result<Applied, AgentError> {
    let (pass, generated) = crate::passphrase::ensure(host, cfg.passphrase.as_deref(), p.security)?;
    if generated {
        tracing::info!(
            "generated a passphrase and stored it in {}",
            host.root().join(state::PASSPHRASE_FILE).display()
        );
    }
    let t = StepTimer::start("render");
    let templates = Templates::load(&ctx.root)?;
    let files = render::render(&p, pass.as_deref(), &templates)?;
    t.done();
    let t = StepTimer::start("apply");
    let outcome = crate::apply::apply(host, &p, &files, prev, &ctx.timeouts)?;
    t.done();
    let mut hashed = cfg.clone();
    hashed.passphrase = pass.clone();
    let mut new =
        crate::apply::new_state(&p, outcome.running.as_ref(), prev, &hashed.hash(), &files);
    let problem = esp_problem(cfg);
    new.config_problem = problem.clone();
    new.save(host.root())?;
    keep_last_good_esp(ctx, cfg)?;
    if let Some(problem) = &problem {
        host.show(&format!("\nsoftap: {}\n", problem.text));
    }
    if outcome.hostapd_started {
        let mut text = crate::console::banner(
            &p.ssid,
            pass.as_deref(),
            p.security,
            &p.subnet.net.to_string(),
        );
        if let Some(crash) = crate::crash::last_on(host.root()) {
            text.push_str(&format!("  Restarted:  {}", crash.text()));
        }
        let written = host.show(&text);
        tracing::info!("credentials banner written to {written} console(s)");
    }
    Ok(Applied {
        plan: p,
        outcome,
        passphrase: pass,
        config_problem: problem,
    })
}

#[cfg(test)]
mod tests {
    //! The order a power cut needs, through the fake host.

    use super::*;
    use crate::host::fake::{Fake, Fault};
    use crate::host::Host;

    fn setup() -> (tempfile::TempDir, Context, Facts) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::new(Options {
            root: Some(dir.path().to_path_buf()),
            config_file: None,
            facts_file: None,
            flags: Layer::default(),
            ap_timeout: std::time::Duration::from_secs(1),
        });
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/guest.json"
        ))
        .unwrap();
        (dir, ctx, serde_json::from_str(&text).unwrap())
    }

    #[test]
    fn the_passphrase_is_on_disk_0600_and_the_state_saved_before_the_banner() {
        let (_dir, ctx, facts) = setup();
        let cfg = config::Config::default();
        let prev = State::default();
        let p = plan(&facts, &cfg, &prev).unwrap();
        let host = Fake::new(&ctx.root);
        let a = apply_plan_on(&host, &ctx, &cfg, &prev, p).unwrap();
        let pass = a.passphrase.unwrap();
        let shown = host.shown();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].text.contains(&format!("Passphrase: {pass}\n")));
        assert_eq!(shown[0].passphrase, Some((format!("{pass}\n"), 0o600)));
        assert!(shown[0].state_saved);

        // The next boot: the same passphrase, and nothing shown when
        // nothing was restarted.
        let prev = ctx.state().unwrap();
        let p = plan(&facts, &cfg, &prev).unwrap();
        let host = Fake::new(&ctx.root);
        let again = apply_plan_on(&host, &ctx, &cfg, &prev, p).unwrap();
        assert_eq!(again.passphrase.as_deref(), Some(pass.as_str()));
    }

    /// A broken ESP file: the state keeps the problem as fields (file,
    /// line, column, message) with what runs instead, and the console
    /// shows its sentence.
    #[test]
    fn a_replaced_esp_file_is_recorded_with_its_place_and_fallback() {
        let (_dir, ctx, facts) = setup();
        let kept = ctx.root.join(config::LAST_GOOD_ESP_FILE);
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(&kept, "ssid = \"kept\"\n").unwrap();
        let esp = ctx.root.join("boot/efi/softap.toml");
        let place = config::ErrorPlace {
            file: Some(esp.clone()),
            line: Some(4),
            column: Some(10),
            key: Some("channel".into()),
            message: "`channel`: invalid number".into(),
        };
        let replaced = |fallback| config::Config {
            esp: config::EspLayer::Replaced {
                path: esp.clone(),
                problem: "softap.toml:4:10: `channel`: invalid number".into(),
                place: place.clone(),
                fallback,
            },
            ..config::Config::default()
        };
        let cfg = replaced(Some(kept.clone()));
        let p = plan(&facts, &cfg, &State::default()).unwrap();
        let host = Fake::new(&ctx.root);
        apply_plan_on(&host, &ctx, &cfg, &State::default(), p).unwrap();
        let got = ctx.state().unwrap().config_problem.unwrap();
        let fallback = ConfigFallback::LastGood {
            path: kept.display().to_string(),
            sha256: Some(state::content_hash("ssid = \"kept\"\n")),
        };
        assert_eq!(got, ConfigProblem::new(&place, fallback, got.text.clone()));
        assert!(got.text.contains("the last configuration that worked"));
        assert!(host.shown().iter().any(|s| s.text.contains(&got.text)));
        // No earlier version worked: the image's defaults.
        let path = format!("/{}", config::ETC_CONFIG);
        let got = esp_problem(&replaced(None)).unwrap().fallback;
        assert_eq!(got, ConfigFallback::Defaults { path });
    }

    #[test]
    fn a_passphrase_that_cannot_be_stored_is_never_used_or_shown() {
        let (_dir, ctx, facts) = setup();
        let cfg = config::Config::default();
        let prev = State::default();
        let p = plan(&facts, &cfg, &prev).unwrap();
        let host = Fake::new(&ctx.root).fail(Fault::Write("passphrase".into()));
        let e = apply_plan_on(&host, &ctx, &cfg, &prev, p).err().unwrap();
        assert!(e.to_string().contains("passphrase"), "{e}");
        assert!(host.shown().is_empty());
        assert!(host.commands().is_empty(), "{:?}", host.commands());
        assert!(!ctx.root.join(state::STATE_FILE).exists());
    }
}
