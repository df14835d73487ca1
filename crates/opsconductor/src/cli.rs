//! Command-line interface.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use opsconductor_api::Application;
use opsconductor_core::audit::{self, Event};
use opsconductor_core::config::{Config, Overrides};
use opsconductor_core::secrets::random_token;
use opsconductor_core::users::{self, CreateUser};
use opsconductor_core::{Core, Error};

use crate::logging;

#[derive(Parser)]
#[command(
    name = "opsconductor",
    version,
    about = "Operations automation in one binary"
)]
struct Cli {
    /// TOML configuration file (environment variables OPSCONDUCTOR_* override it).
    #[arg(long, global = true, env = "OPSCONDUCTOR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, certificates, keys).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://...
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (API and, later, workers, scheduler, notifier).
    Serve {
        /// HTTPS address:port (port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// Roles to run on this node: api,worker,scheduler,notifier.
        #[arg(long)]
        roles: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Operator tools.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Exit 0 when the local server answers /health (for container health checks).
    Healthcheck {
        /// Base URL; defaults to the address in <data dir>/listen-addr.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user. The password is read from stdin with --password-stdin, else generated.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Set a new password and sign the user out everywhere.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Re-wrap every credential's data key under a new vault master key (servers keep running).
    RotateMasterKey {
        /// File holding the new key (32 bytes as base64 or hex); generated when absent.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Args)]
struct PasswordSource {
    /// Read the password from the first line of stdin instead of generating one.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordSource {
    /// The password and whether it was generated (and so must be shown).
    fn resolve(&self) -> anyhow::Result<(String, bool)> {
        if !self.password_stdin {
            return Ok((random_token(18), true));
        }
        if std::io::stdin().is_terminal() {
            eprintln!("password: ");
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            bail!("no password on stdin");
        }
        Ok((password, false))
    }
}

pub async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mut overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Default::default()
    };
    if let Command::Serve { listen, roles } = &cli.command {
        overrides.listen = listen.clone();
        overrides.roles = roles.clone();
    }
    let (config, unknown) = Config::load(cli.config.as_deref(), &overrides)?;
    logging::init(&config.log);
    for key in unknown {
        tracing::warn!(key = %key, "unknown configuration key ignored");
    }
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate => {
            let core = Core::open(config).await?;
            tracing::info!(backend = ?core.db.backend(), "migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(cmd) => admin(config, cmd).await,
        Command::Healthcheck { url } => healthcheck(&config, url).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let roles = config.node_roles()?;
    tracing::info!(roles = %roles.join(","), version = env!("CARGO_PKG_VERSION"), "starting OpsConductor");
    let app = Application::build(config).await?;
    app.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

fn describe(err: Error) -> anyhow::Error {
    match err {
        Error::Validation(fields) => anyhow::anyhow!(
            "{}",
            fields
                .iter()
                .map(|f| format!(
                    "{}: {}",
                    f.loc.last().map(String::as_str).unwrap_or("input"),
                    f.msg
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn rotate_master_key(
    config: Config,
    new_key_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let new_key = match &new_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read new key file {}", path.display()))?,
        ),
        None => None,
    };
    let core = Core::open(config.clone()).await?;
    let rotation = opsconductor_core::vault::rotate(&config, &core.db, new_key).await?;
    println!(
        "re-wrapped {} credential key(s): master key {} -> {}",
        rotation.rewrapped, rotation.old_key_id, rotation.new_key_id
    );
    match &rotation.key_file {
        Some(path) => println!("the new key is in {}; back it up", path.display()),
        None => println!(
            "the master key was given inline (OPSCONDUCTOR_MASTER_KEY): set it to the new key and restart the servers"
        ),
    }
    audit::record(
        &core,
        Event {
            actor_name: Some("cli".into()),
            action: "vault.rotate_master_key".into(),
            resource_type: Some("vault".into()),
            outcome: "success".into(),
            status_code: 200,
            details: serde_json::json!({
                "old_key_id": rotation.old_key_id,
                "new_key_id": rotation.new_key_id,
                "rewrapped": rotation.rewrapped,
            }),
            ..Default::default()
        },
    )
    .await
    .map_err(describe)?;
    core.db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    let core = Core::open(config.clone()).await?;
    let (action, username, outcome) = match cmd {
        AdminCommand::CreateUser {
            username,
            email,
            role,
            password,
        } => {
            let (password, generated) = password.resolve()?;
            let input = CreateUser {
                email,
                username: username.clone(),
                password: password.clone(),
                role: Some(role),
            };
            let user = users::create(&core, &input).await.map_err(describe)?;
            println!(
                "created user '{}' (id {}, role {})",
                user.username, user.id, user.role
            );
            if generated {
                println!("password: {password}");
            }
            ("user.create", username, user.id)
        }
        AdminCommand::ResetPassword { username, password } => {
            let (password, generated) = password.resolve()?;
            let user = users::reset_password(&core, &username, &password)
                .await
                .map_err(describe)?;
            println!(
                "password of '{}' reset; every session of the user was signed out",
                user.username
            );
            if generated {
                println!("password: {password}");
            }
            ("user.reset_password", username, user.id)
        }
        AdminCommand::RotateMasterKey { new_key_file } => {
            core.db.close().await;
            return rotate_master_key(config, new_key_file).await;
        }
    };
    audit::record(
        &core,
        Event {
            actor_name: Some("cli".into()),
            action: action.into(),
            resource_type: Some("user".into()),
            resource_id: Some(outcome.to_string()),
            outcome: "success".into(),
            status_code: 200,
            details: serde_json::json!({ "username": username }),
            ..Default::default()
        },
    )
    .await
    .map_err(describe)?;
    core.db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(config: &Config, url: Option<String>) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = config.tls.mode == opsconductor_core::config::TlsMode::On;
    let base = match url {
        Some(url) => url,
        None => {
            let path = config.data_dir.join("listen-addr");
            let addr = std::fs::read_to_string(&path).with_context(|| {
                format!("cannot read {} (is the server running?)", path.display())
            })?;
            format!("{}://{}", if tls { "https" } else { "http" }, addr.trim())
        }
    };
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(5));
    let ca = opsconductor_api::tls::GeneratedPaths::in_data_dir(&config.data_dir).ca;
    if config.tls.cert.is_none()
        && let Ok(pem) = std::fs::read(&ca)
    {
        builder = builder.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
    }
    let client = builder.build()?;
    let url = format!("{}/health", base.trim_end_matches('/'));
    match client.get(&url).send().await {
        Ok(resp) if resp.status().is_success() => {
            println!("healthy ({url})");
            Ok(ExitCode::SUCCESS)
        }
        Ok(resp) => {
            println!("unhealthy: {url} answered {}", resp.status());
            Ok(ExitCode::FAILURE)
        }
        Err(err) => {
            println!("unhealthy: {url}: {err}");
            Ok(ExitCode::FAILURE)
        }
    }
}
