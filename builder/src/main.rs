//! The `softap-build` command line; the library does the work.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use softap_build::progress::human;
use softap_build::{build, check, BuildOptions, BuildReport};

#[derive(Parser)]
#[command(
    name = "softap-build",
    version,
    about = "Builds the softap appliance image"
)]
struct Cli {
    /// More logging (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the image a spec describes.
    Build {
        /// The image spec, e.g. images/softap.toml.
        spec: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Cache directory (default $XDG_CACHE_HOME/softap or ~/.cache/softap).
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a spec (paths, templates, symlinks) without building.
    Check { spec: PathBuf },
    /// Write a disk image to a removable device (checks it first).
    Flash {
        /// The raw disk image, e.g. out/softap.raw.
        image: PathBuf,
        /// The whole device, e.g. /dev/sdb.
        device: PathBuf,
        /// Do not ask before writing.
        #[arg(long)]
        yes: bool,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e: &(dyn std::error::Error + 'static) = e.as_ref();
            eprintln!("error: {}", softap_build::cause::chain(e));
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Build {
            spec,
            out,
            cache,
            json,
        } => {
            // An interrupted build removes its temporaries on its way out.
            softap_build::scratch::remove_on_signals()?;
            let opts = BuildOptions {
                out_dir: out,
                cache_dir: cache,
                progress: !json,
                source_date_epoch: None,
            };
            let report = build(&spec, &opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                summary(&report);
            }
        }
        Command::Flash {
            image,
            device,
            yes,
            json,
        } => {
            let mut opts = softap_build::flash::FlashOptions::new(image, device);
            opts.yes = yes;
            opts.progress = !json;
            let r = softap_build::flash::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                eprintln!(
                    "wrote {} to {} ({}), verified",
                    human(r.written),
                    r.device.display(),
                    r.model
                );
            }
        }
        Command::Check { spec } => {
            let s = check(&spec, &BuildOptions::default())?;
            eprintln!(
                "{}: ok ({}:{}, {} overlay(s))",
                spec.display(),
                s.image.name,
                s.image.tag,
                s.overlays.len()
            );
        }
    }
    Ok(())
}

fn summary(r: &BuildReport) {
    eprintln!("{}:{}  {}", r.name, r.tag, r.manifest_digest);
    for l in &r.layers {
        eprintln!(
            "  {:<10} {:>10} (data {:>10}, {} entries){}  {}",
            l.name,
            human(l.size),
            human(l.data_size),
            l.entries,
            if l.reused { " reused" } else { "" },
            l.digest
        );
    }
    for d in &r.disk_only_layers {
        eprintln!("  {d:<10} disk only");
    }
    for p in [&r.oci_archive, &r.oci_dir].into_iter().flatten() {
        eprintln!("  wrote {}", p.display());
    }
    if let Some(d) = &r.disk {
        eprintln!(
            "  wrote {} ({}, {} allocated; {})",
            d.path.display(),
            human(d.size),
            human(d.allocated),
            if d.secure_boot {
                "boots with Secure Boot: signed shim and systemd-boot"
            } else {
                "unsigned systemd-boot: Secure Boot must be off"
            }
        );
        for line in softap_build::build::coverage_lines(&d.wifi_coverage) {
            eprintln!("  {line}");
        }
    }
    eprintln!("  in {:.1}s", r.seconds);
}
