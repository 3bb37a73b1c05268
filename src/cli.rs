//! The command line: `validate`, `render`, `schema`, `crd`, `admission-policy`, `serve`,
//! `agent`, `replay`, `runs`, `github-app`.

/// `eprintln!` for the commands that print and exit: a reader of stderr that has gone
/// (`agentpods validate services.yaml 2>&1 | head -1`) loses the rest, and the command
/// ends with its own exit code, not a panic's 101 (new-user review 13h, F14). Not a
/// SIGPIPE reset: `agent` must see a child's closed pipe as an error, not die of it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod admission;
pub(crate) mod github_app;
pub mod replay;
pub(crate) mod runs;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, LoadedConfig, Permission};
use crate::github::event;
use crate::github::webhook::WebhookSecrets;
use crate::plan::{Decision, Facts, Planner, RefusalReason, RunKey};
use crate::render::Engine;
use crate::serve::{LogFormat, ServeOptions};
use crate::text::with_causes;

/// The config read when no `--config` is given: services.yaml in the working folder.
const DEFAULT_CONFIG: &str = crate::serve::DEFAULT_CONFIG;

#[derive(Debug, Parser)]
#[command(
    name = "agentpods",
    version,
    about = "GitHub events in, Kubernetes pods running a coding agent out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Check services.yaml and its templates; print every problem as FILE:LINE:COL: message.
    ///
    /// Every template of every agent is rendered for every trigger it has, with sample
    /// events, so what would fail at delivery fails here.
    Validate {
        /// The services.yaml to read; its `templates_dir` is found from the file's folder.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// services.yaml, as a plain argument (the same as --config).
        #[arg(conflicts_with = "config", value_name = "CONFIG")]
        file: Option<PathBuf>,
        /// Read the templates from this folder instead of the config's `templates_dir`
        /// (e.g. `--templates-dir templates` to check deploy/base/config/services.yaml,
        /// whose templates are in the service image, from a checkout).
        #[arg(long)]
        templates_dir: Option<PathBuf>,
        /// Also check a repository's own file (`.agentpods.yaml`), as the service would read
        /// it for `--repository`: its problems at FILE:LINE:COL, and which agents would run
        /// there. For a maintainer, before merging a change of it.
        #[arg(long, requires = "repository", value_name = "FILE")]
        repository_config: Option<PathBuf>,
        /// The repository (`owner/name`) `--repository-config` is checked for.
        #[arg(long, requires = "repository_config", value_name = "OWNER/NAME")]
        repository: Option<String>,
    },
    /// Print, as multi-document YAML, every object a GitHub event would launch (no cluster needed).
    #[command(
        override_usage = "agentpods render [--config FILE | FILE] --event EVENT --payload PAYLOAD... [OPTIONS]"
    )]
    Render {
        /// The services.yaml to read; its `templates_dir` is found from the file's folder.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// services.yaml, as a plain argument (the same as --config).
        #[arg(conflicts_with = "config", value_name = "CONFIG")]
        file: Option<PathBuf>,
        /// Read the templates from this folder instead of the config's `templates_dir`
        /// (to preview an installed config, whose folder is the image's, with a checkout's).
        #[arg(long)]
        templates_dir: Option<PathBuf>,
        /// The X-GitHub-Event name, e.g. pull_request.
        #[arg(long)]
        event: String,
        /// A webhook payload (JSON); repeat it, or name a folder of .json files.
        #[arg(long, required = true)]
        payload: Vec<PathBuf>,
        /// The X-GitHub-Delivery id (derived from the payload when absent).
        #[arg(long)]
        delivery: Option<String>,
        /// The requester's repository permission, as the GitHub API would report it: none,
        /// read, triage, write, maintain or admin.
        #[arg(long, value_parser = parse_permission)]
        permission: Option<Permission>,
        /// A file listing the pull request's changed files, one per line (for `paths` filters).
        #[arg(long)]
        changed_files: Option<PathBuf>,
    },
    /// Print the JSON Schema of services.yaml.
    Schema,
    /// Print the AgentRun CustomResourceDefinition (with --approvals, the AgentApproval
    /// one: the fork approvals the service records in its own namespace).
    Crd {
        /// Print the AgentApproval definition (the fork approvals) instead of AgentRun's.
        #[arg(long)]
        approvals: bool,
    },
    /// Print the ValidatingAdmissionPolicies (and bindings) that hold the pods and Jobs the
    /// service creates to the images, Secrets and security context services.yaml's agents
    /// use (Kubernetes 1.30 or later).
    ///
    /// Three per namespace runs live in (`agentpods.<ns>`: the pods and Jobs;
    /// `agentpods-secrets.<ns>`: the Secrets the service creates there, no ServiceAccount
    /// token; `agentpods-agentruns.<ns>`: AgentRuns, the service's alone, others may only
    /// cancel one), one that keeps the service's pods, Jobs and Secrets in those namespaces
    /// (`agentpods-namespaces`), and one for the fork approvals in the service's own
    /// namespace (`agentpods-agentapprovals`); each with its binding, matched for the
    /// service's ServiceAccount only (--service-user).
    #[command(override_usage = "agentpods admission-policy [--config FILE | FILE] [OPTIONS]")]
    AdmissionPolicy {
        /// The services.yaml to read; its `templates_dir` is found from the file's folder.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// services.yaml, as a plain argument (the same as --config).
        #[arg(conflicts_with = "config", value_name = "CONFIG")]
        file: Option<PathBuf>,
        /// Read the templates from this folder instead of the config's `templates_dir`.
        #[arg(long)]
        templates_dir: Option<PathBuf>,
        /// The user the service acts as: its ServiceAccount, as the API server names it.
        #[arg(long, default_value = admission::DEFAULT_SERVICE_USER,
              value_parser = admission::parse_service_user)]
        service_user: String,
        /// The cluster's `globalDefault` PriorityClass, if it has one: the API server names
        /// it in every pod that names none, so a pod whose template names none may have it.
        #[arg(long, value_parser = admission::parse_priority_class)]
        default_priority_class: Option<String>,
        /// Write the policies to this file instead of stdout: replaced only once they are
        /// made, so a failed run leaves the old file as it was (a shell's `>` empties it
        /// first, and kustomize takes an empty file without a word).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run the webhook service and (leader-elected) the controller, against the cluster of
    /// KUBECONFIG or the one it runs in; --dry-run needs none. Webhook secrets come from
    /// GITHUB_WEBHOOK_SECRET (comma-separated, for rotation) or --webhook-secret-file.
    #[command(override_usage = "agentpods serve [--config FILE | FILE] [OPTIONS]")]
    Serve {
        /// The services.yaml to read; its `templates_dir` is found from the file's folder.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// services.yaml, as a plain argument (the same as --config).
        #[arg(conflicts_with = "config", value_name = "CONFIG")]
        file: Option<PathBuf>,
        /// Read the templates from this folder instead of the config's `templates_dir`, at
        /// startup and at every reload (to run an installed config, whose folder is the
        /// image's, with a checkout's: `serve --dry-run --templates-dir templates`).
        #[arg(long)]
        templates_dir: Option<PathBuf>,
        /// The address to listen on. The default listens on EVERY interface (as a pod
        /// must); on your own machine pass --listen 127.0.0.1:8080 to keep it to yourself.
        #[arg(long, default_value = "0.0.0.0:8080")]
        listen: String,
        /// Launch nothing: log decisions and write each run's manifests to --manifests-dir.
        #[arg(long)]
        dry_run: bool,
        /// Where --dry-run writes `<run-name>.yaml` for each run (only logged without it);
        /// needs --dry-run.
        #[arg(long, requires = "dry_run")]
        manifests_dir: Option<PathBuf>,
        /// A file listing changed files, one per line, that --dry-run takes every pull
        /// request delivery to have, so that agents with a `paths` filter can start (the
        /// changed files are not known otherwise); needs --dry-run. Read once, at start:
        /// a reload of services.yaml does not read it again.
        #[arg(long, requires = "dry_run")]
        changed_files: Option<PathBuf>,
        /// How log lines are written to stderr: text for a terminal, json for a log collector.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// A file holding the webhook secrets, one per line or comma-separated.
        #[arg(long)]
        webhook_secret_file: Option<PathBuf>,
        /// Take webhooks only; leave running the AgentRuns to other replicas.
        #[arg(long)]
        no_controller: bool,
        /// Serve `/metrics` on this address (e.g. 0.0.0.0:9090) instead of beside
        /// `/webhook`, so that the port facing GitHub shows nothing else.
        #[arg(long, env = "AGENTPODS_METRICS_LISTEN")]
        metrics_listen: Option<String>,
        /// The namespace of the leader-election Lease and of the fork approvals: the
        /// service's own (default: the pod's namespace in a cluster, else the kubeconfig
        /// context's).
        #[arg(long, env = "POD_NAMESPACE")]
        lease_namespace: Option<String>,
        /// This replica's name in the Lease and in Events (default: the host's name).
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        #[command(flatten)]
        limits: Box<crate::serve::preauth::PreauthLimits>,
        /// Not an option: caught to say "give --listen" rather than clap's tip to pass
        /// `--port` as a value (new-user review 13h, F9).
        #[arg(long, hide = true, value_name = "PORT")]
        port: Option<String>,
        /// Not an option either: as `port`.
        #[arg(long, hide = true, value_name = "HOST")]
        host: Option<String>,
    },
    /// Inside an agent pod: check out the repository at the exact commit, run the agent
    /// command on the task, push its changes when allowed, and write the result to the
    /// termination message. Exits 0 whenever the result was written.
    Agent(Box<crate::agent::AgentArgs>),
    /// Sign a payload with the first webhook secret and POST it to a running service, as
    /// GitHub would; print the answer's status and body.
    Replay {
        /// The service's webhook URL, e.g. http://127.0.0.1:8080/webhook.
        #[arg(long)]
        url: String,
        /// The X-GitHub-Event name, e.g. pull_request.
        #[arg(long)]
        event: String,
        /// The webhook payload (JSON): one file.
        #[arg(long)]
        payload: PathBuf,
        /// The X-GitHub-Delivery id (a fresh one when absent).
        #[arg(long)]
        delivery: Option<String>,
        /// A file holding the webhook secrets (else GITHUB_WEBHOOK_SECRET); the first signs.
        #[arg(long)]
        webhook_secret_file: Option<PathBuf>,
    },
    /// The runs in the cluster: list them, print an agent's log, stop one.
    Runs {
        #[command(subcommand)]
        command: runs::RunsCmd,
    },
    /// The GitHub App: `create` makes it from agentpods' manifest in your browser and
    /// prints the Kubernetes Secret with its credentials.
    GithubApp {
        #[command(subcommand)]
        command: github_app::GithubAppCmd,
    },
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| "expected one of: none, read, triage, write, maintain, admin".to_string())
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Cmd::Validate {
            config,
            file,
            templates_dir,
            repository_config,
            repository,
        } => {
            let path = file.as_deref().unwrap_or(&config);
            match (repository_config, repository) {
                (Some(own), Some(repository)) => {
                    validate_repository_file(path, templates_dir.as_deref(), &own, &repository)
                }
                _ => validate(path, templates_dir.as_deref()),
            }
        }
        Cmd::Render {
            config,
            file,
            templates_dir,
            event,
            payload,
            delivery,
            permission,
            changed_files,
        } => render(&RenderArgs {
            config: file.as_deref().unwrap_or(&config),
            templates_dir: templates_dir.as_deref(),
            event: &event,
            payloads: &payload,
            delivery: delivery.as_deref(),
            permission,
            changed_files: changed_files.as_deref(),
        }),
        Cmd::Schema => emit(&format!("{}\n", schema_json())),
        Cmd::Crd { approvals } => emit(&if approvals {
            crate::cluster::approvals::crd_yaml()
        } else {
            crate::agentrun::crd_yaml()
        }),
        Cmd::AdmissionPolicy {
            config,
            file,
            templates_dir,
            service_user,
            default_priority_class,
            output,
        } => admission_policy(
            file.as_deref().unwrap_or(&config),
            templates_dir.as_deref(),
            &service_user,
            default_priority_class.as_deref(),
            output.as_deref(),
        ),
        Cmd::Serve {
            config,
            file,
            templates_dir,
            listen,
            dry_run,
            manifests_dir,
            log_format,
            webhook_secret_file,
            no_controller,
            metrics_listen,
            lease_namespace,
            identity,
            limits,
            changed_files,
            port,
            host,
        } => {
            if port.is_some() || host.is_some() {
                say!("{}", no_port_or_host(port.as_deref(), host.as_deref()));
                return ExitCode::from(2);
            }
            let changed_files = match read_changed_files(changed_files.as_deref()) {
                Ok(files) => files,
                Err(e) => {
                    say!("{}", with_causes(&e));
                    return ExitCode::FAILURE;
                }
            };
            crate::serve::run(ServeOptions {
                config: file.unwrap_or(config),
                templates_dir,
                listen,
                dry_run,
                manifests_dir,
                log_format,
                webhook_secret_file,
                controller: !no_controller,
                metrics_listen,
                lease_namespace,
                identity: identity.unwrap_or_else(default_identity),
                limits: *limits,
                changed_files,
            })
        }
        Cmd::Agent(args) => {
            let github = crate::agent::GithubPullRequests::for_args(&args);
            crate::agent::main(&args, &github, &github)
        }
        Cmd::Replay {
            url,
            event,
            payload,
            delivery,
            webhook_secret_file,
        } => replay(
            &url,
            &event,
            &payload,
            delivery,
            webhook_secret_file.as_deref(),
        ),
        Cmd::Runs { command } => runs::main(command),
        Cmd::GithubApp { command } => github_app::main(command),
    }
}

fn admission_policy(
    path: &Path,
    templates_dir: Option<&Path>,
    service_user: &str,
    default_priority_class: Option<&str>,
    output: Option<&Path>,
) -> ExitCode {
    // Said before the policies are made, and not in the OS's words, which name a file
    // (review 13i, F6).
    if let Some(folder) = output.filter(|o| o.is_dir()) {
        say!(
            "{}: is a folder: give --output a file, as in {}",
            folder.display(),
            folder.join("admission-policy.yaml").display()
        );
        return ExitCode::FAILURE;
    }
    let loaded = match load_with(path, templates_dir, config::Command::AdmissionPolicy) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let engine = match Engine::new(&loaded) {
        Ok(e) => e.with_github(crate::serve::github_urls_from_env()),
        Err(e) => {
            say!("{}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    if let Some(warning) = admission::service_user_warning(service_user) {
        say!("{warning}");
    }
    match admission::policy_yaml(
        &engine,
        &path.display().to_string(),
        service_user,
        default_priority_class,
    ) {
        Ok(yaml) => match output {
            None => emit(&yaml),
            Some(output) => match replace_file(output, &yaml) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    say!(
                        "{}: cannot write: {}; the file is left as it was: give --output a \
                         file in a folder you may write to",
                        output.display(),
                        with_causes(&e)
                    );
                    ExitCode::FAILURE
                }
            },
        },
        Err(e) => {
            say!("{}: {}", path.display(), with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// Replaces `path` with `text`: written beside it under another name, then renamed over
/// it, so that whoever reads `path` sees the old text or the new, never a part or nothing.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file's name")
    })?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

fn replay(
    url: &str,
    event: &str,
    payload: &Path,
    delivery: Option<String>,
    secret_file: Option<&Path>,
) -> ExitCode {
    if let Err(e) = known_event(event) {
        say!("{}", with_causes(&e));
        return ExitCode::FAILURE;
    }
    let secrets = match WebhookSecrets::from_file_or_env(
        secret_file,
        std::env::var(crate::serve::SECRET_ENV).ok().as_deref(),
        |path| std::fs::read_to_string(path),
    ) {
        Ok(s) => s,
        Err(e) => {
            say!("{}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    if payload.is_dir() {
        say!(
            "{}: a folder; replay sends one payload: name a file in it (render --payload \
             takes a folder)",
            payload.display()
        );
        return ExitCode::FAILURE;
    }
    let body = match std::fs::read(payload) {
        Ok(b) => b,
        Err(e) => {
            say!(
                "{}: cannot read: {}",
                payload.display(),
                crate::text::io_words(&e)
            );
            if e.kind() == std::io::ErrorKind::NotFound {
                say!("{}", missing_payload_what_to_do(payload));
            }
            return ExitCode::FAILURE;
        }
    };
    // A payload of another event than --event would only be refused (400): said before
    // sending, with the event it looks like, as `render` says it (new-user review 13h, F10).
    if let Err(e) = crate::github::event::parse(event, &body)
        && crate::github::event_names::likely_event(&body).is_some_and(|likely| likely != event)
    {
        say!("{}: {}", payload.display(), with_causes(&e));
        say!("{}", wrong_event_what_to_do(event, &body));
        return ExitCode::FAILURE;
    }
    let delivery = delivery.unwrap_or_else(replay::fresh_delivery_id);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            say!(
                "cannot start the async runtime: {}",
                crate::text::io_words(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let sent = runtime.block_on(replay::replay(url, secrets.first(), event, &delivery, body));
    match sent {
        Ok(reply) => {
            // A reader that has gone (`replay … | head -1`) loses the rest (F14).
            let _ = writeln!(
                std::io::stdout().lock(),
                "HTTP {} (delivery {delivery})\n{}",
                reply.status,
                reply.text()
            );
            if reply.status == 404 && !url.trim_end_matches('/').ends_with("/webhook") {
                say!("the service takes deliveries at /webhook: --url http://HOST:PORT/webhook");
            }
            // Too old to act on: GitHub's examples are, to a service with credentials
            // (new-user review 13f, N14: the answer gave no next step).
            if reply.status == 200 && reply.stale() {
                say!(
                    "what to do: replay a payload whose signed time is recent: set the field \
                     the answer names to now, or save a fresh delivery from the App's Recent \
                     Deliveries (serve --dry-run without GitHub credentials takes old ones as \
                     they are; docs/operations.md, The replay window)"
                );
            }
            // The service's secrets are not this one (new-user review 13e, N8).
            if reply.status == 401 {
                say!(
                    "what to do: sign with the service's own secret: the GITHUB_WEBHOOK_SECRET \
                     or --webhook-secret-file it was started with (the first of several signs)"
                );
            }
            if (200..300).contains(&reply.status) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            say!("{}", with_causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// What `serve --port P` or `--host H` gets: `--listen` takes both, as HOST:PORT.
fn no_port_or_host(port: Option<&str>, host: Option<&str>) -> String {
    let flags = match (port, host) {
        (Some(_), Some(_)) => "--host or --port",
        (Some(_), None) => "--port",
        _ => "--host",
    };
    format!(
        "error: there is no {flags}: give --listen {}:{} (the address and the port together)",
        host.unwrap_or("127.0.0.1"),
        port.unwrap_or("8080")
    )
}

/// The schema as committed in `schema/services.schema.json`.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(config::json_schema()).unwrap_or_default()
}

/// The line saying what to do when the config cannot be read, after it.
fn missing_config_hint(path: &Path, e: &config::ConfigError) -> String {
    crate::serve::config_what_to_do(path, e)
        .map(|line| format!("\n{line}"))
        .unwrap_or_default()
}

fn load_with(
    path: &Path,
    templates_dir: Option<&Path>,
    command: config::Command,
) -> Result<LoadedConfig, ExitCode> {
    config::load_with(path, templates_dir, command).map_err(|e| {
        say!("{}{}", with_causes(&e), missing_config_hint(path, &e));
        if !e.diagnostics().is_empty() {
            let n = e.diagnostics().len();
            say!("{n} problem{} found", if n == 1 { "" } else { "s" });
        }
        ExitCode::FAILURE
    })
}

fn validate(path: &Path, templates_dir: Option<&Path>) -> ExitCode {
    let checked = match config::check_file(path, templates_dir, config::Command::Validate) {
        Ok(checked) => checked,
        Err(e) => {
            say!("{}{}", with_causes(&e), missing_config_hint(path, &e));
            let n = e.diagnostics().len();
            if n > 0 {
                say!("{n} problem{} found", if n == 1 { "" } else { "s" });
            }
            return ExitCode::FAILURE;
        }
    };
    // Every problem of one run, not a stage at a time: the config's, and what deliveries
    // would meet (every template of every agent rendered for every trigger it has, with
    // sample events), for the agents the config's problems leave renderable.
    let clean = checked.diagnostics.is_empty();
    let mut problems = checked.diagnostics;
    let mut other: Vec<String> = Vec::new();
    if let Some(loaded) = &checked.config {
        if clean {
            for warning in &loaded.warnings {
                say!("{warning}");
            }
        }
        match Engine::new(loaded).map(|e| e.with_github(crate::serve::github_urls_from_env())) {
            Ok(engine) => {
                // services.yaml's text, to point into it (read once for all the checks).
                let text = std::fs::read_to_string(path).ok();
                if clean {
                    // What the templates drop of what the agent is given: warnings.
                    for warning in engine.template_warnings() {
                        say!("{warning}");
                    }
                    // A template that gives a token that may write to the agent's own
                    // container: warnings.
                    for warning in engine.token_warnings() {
                        say!("{warning}");
                    }
                    // A token that asks for what no step uses, or lacks what the checkout
                    // needs: warnings.
                    for warning in engine.token_scope_warnings(text.as_deref()) {
                        say!("{warning}");
                    }
                    // What a template writes that agentpods or services.yaml decides.
                    for warning in engine.override_warnings() {
                        say!("{warning}");
                    }
                    // An image a template writes that pulls whatever its tag is then.
                    for warning in engine.image_warnings() {
                        say!("{warning}");
                    }
                    // A template file nothing uses: a warning when it looks misnamed, a
                    // note naming the others once.
                    let unused = config::unused_templates(loaded);
                    for warning in &unused.misnamed {
                        say!("{warning}");
                    }
                    if let Some(note) = unused.note() {
                        say!("{note}");
                    }
                }
                problems.extend(
                    engine
                        .sample_problems(text.as_deref())
                        .into_iter()
                        // A template that includes one that does not compile: that one's
                        // syntax error is the problem.
                        .filter(|p| clean || !p.message.contains("template not found")),
                );
            }
            Err(e) if clean => other.push(with_causes(&e)),
            Err(_) => {}
        }
    }
    if !problems.is_empty() || !other.is_empty() {
        problems.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
        problems.dedup();
        for problem in &problems {
            say!("{problem}");
        }
        for problem in &other {
            say!("{problem}");
        }
        let n = problems.len() + other.len();
        say!("{n} problem{} found", if n == 1 { "" } else { "s" });
        return ExitCode::FAILURE;
    }
    let Some(loaded) = checked.config else {
        return ExitCode::FAILURE;
    };
    let agents = loaded.config.agents.len();
    // The templates the config uses, not every file of the folder (new-user review 13e,
    // N12).
    let used = config::used_templates(&loaded.config, &loaded.templates).len();
    say!(
        "{}: ok ({agents} agent{}, {used} template{})",
        path.display(),
        if agents == 1 { "" } else { "s" },
        if used == 1 { "" } else { "s" }
    );
    ExitCode::SUCCESS
}

/// `validate --repository-config FILE --repository OWNER/NAME`: services.yaml checked as
/// `validate` checks it, then the repository's file as the service would read it for that
/// repository: every problem at FILE:LINE:COL (a name services.yaml does not give the
/// repository included), and which of its agents would run there.
fn validate_repository_file(
    path: &Path,
    templates_dir: Option<&Path>,
    own: &Path,
    repository: &str,
) -> ExitCode {
    let shown = own.display().to_string();
    let single = config::formats::check_glob(repository)
        .ok()
        .filter(|()| !repository.contains('*') && !repository.starts_with('!'));
    if single.is_none() {
        say!("--repository `{repository}`: expected one repository, as owner/name");
        return ExitCode::FAILURE;
    }
    if validate(path, templates_dir) != ExitCode::SUCCESS {
        return ExitCode::FAILURE;
    }
    let Ok(loaded) = config::load_with(path, templates_dir, config::Command::Validate) else {
        return ExitCode::FAILURE;
    };
    if loaded.config.repository_config.is_none() {
        say!(
            "{}: warning: `repository_config` is not set, so the service reads no \
             repository's file; checking {shown} as it would be read with it on",
            path.display()
        );
    }
    let bytes = match std::fs::read(own) {
        Ok(bytes) => bytes,
        Err(e) => {
            say!("{shown}: cannot read: {}", crate::text::io_words(&e));
            return ExitCode::FAILURE;
        }
    };
    let said = match config::parse_repository_file(&bytes, &shown) {
        Ok(said) => said,
        Err(mut problems) => {
            // The names services.yaml does not give, with the rest (new-user review 13f,
            // N11).
            problems.extend(config::names_beyond(
                &bytes,
                &loaded.config,
                repository,
                &shown,
            ));
            problems.sort_by_key(|d| d.pos);
            for problem in &problems {
                say!("{problem}");
            }
            let n = problems.len();
            say!(
                "{n} problem{} found: the service would start no agent in {repository} \
                 (a file that does not read fails closed)",
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::FAILURE;
        }
    };
    let (summary, problems) = config::check_for(&said, &loaded.config, repository, &shown);
    for line in &summary {
        say!("{repository}: {line}");
    }
    if !problems.is_empty() {
        for problem in &problems {
            say!("{problem}");
        }
        let n = problems.len();
        say!("{n} problem{} found", if n == 1 { "" } else { "s" });
        return ExitCode::FAILURE;
    }
    say!("{shown}: ok for {repository}");
    ExitCode::SUCCESS
}

struct RenderArgs<'a> {
    config: &'a Path,
    templates_dir: Option<&'a Path>,
    event: &'a str,
    payloads: &'a [PathBuf],
    delivery: Option<&'a str>,
    permission: Option<Permission>,
    changed_files: Option<&'a Path>,
}

fn render(args: &RenderArgs<'_>) -> ExitCode {
    if let Err(e) = known_event(args.event) {
        say!("{}", with_causes(&e));
        return ExitCode::FAILURE;
    }
    let loaded = match load_with(args.config, args.templates_dir, config::Command::Render) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let engine = match Engine::new(&loaded) {
        Ok(e) => e.with_github(crate::serve::github_urls_from_env()),
        Err(e) => {
            say!("{}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    let changed = match read_changed_files(args.changed_files) {
        Ok(files) => files,
        Err(e) => {
            say!("{}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    let files = match payload_files(args.payloads, args.event) {
        Ok(f) => f,
        Err(e) => {
            say!("{}", with_causes(&e));
            return ExitCode::FAILURE;
        }
    };
    let planner = Planner::new(&loaded.config);
    let facts = Facts {
        authority: args.permission.map_or(
            crate::plan::Authority::Preview,
            crate::plan::Authority::Known,
        ),
        changed_files: crate::plan::ChangedFiles::all_or_unknown(changed.as_deref()),
        ..Facts::default()
    };
    let mut failed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &files {
        let shown = file.display().to_string();
        let body = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                say!("{shown}: cannot read: {}", crate::text::io_words(&e));
                if e.kind() == std::io::ErrorKind::NotFound {
                    say!("{}", missing_payload_what_to_do(file));
                }
                failed = true;
                continue;
            }
        };
        let delivery = args.delivery.map(String::from).unwrap_or_else(|| {
            format!(
                "local-{}",
                crate::names::short_hash(&[&String::from_utf8_lossy(&body)])
            )
        });
        match render_one(&planner, &engine, args.event, &body, &delivery, &facts) {
            Ok(RenderOutput { yaml, notes }) => {
                for note in notes {
                    say!("{shown}: {note}");
                }
                if out.write_all(yaml.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                say!("{shown}: {}", with_causes(&e));
                if matches!(e, RenderOneError::Event(_)) {
                    say!("{}", wrong_event_what_to_do(args.event, &body));
                }
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The paths a `--changed-files` file lists, one a line (blank lines skipped), when one
/// is given.
fn read_changed_files(path: Option<&Path>) -> Result<Option<Vec<String>>, InputError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|source| InputError::ChangedFiles {
        path: path.to_owned(),
        source,
    })?;
    Ok(Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
    ))
}

/// The line saying what to do about a payload that is not the `--event` given: the event
/// its keys say, when they say another (new-user review 13e, N8).
fn wrong_event_what_to_do(given: &str, body: &[u8]) -> String {
    match crate::github::event_names::likely_event(body) {
        Some(likely) if likely != given => format!(
            "what to do: this payload looks like {} `{likely}` delivery: pass --event {likely} \
             (--event is the X-GitHub-Event header GitHub sent with it)",
            if likely.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            }
        ),
        _ => format!(
            "what to do: give --payload a `{given}` delivery as GitHub sent it (GitHub's \
             Recent Deliveries page shows each one's payload; examples/webhooks/ has some)"
        ),
    }
}

/// `--event` must be a name GitHub sends: a misspelt one would quietly start nothing.
fn known_event(name: &str) -> Result<(), InputError> {
    use crate::github::event_names::{GITHUB_EVENTS, is_github_event};
    if is_github_event(name) {
        return Ok(());
    }
    Err(InputError::UnknownEvent {
        name: name.to_owned(),
        like: crate::suggest::did_you_mean(name, GITHUB_EVENTS.iter().copied()).map(str::to_owned),
    })
}

/// The line saying what to do when a payload file is not there: the file beside it whose
/// name is a letter or two off (`opened.json` for `open.json`: review 13i, F8), or where a
/// relative path is read from.
fn missing_payload_what_to_do(path: &Path) -> String {
    if let Some(near) = crate::suggest::near_entry(path, Path::is_file) {
        return format!("what to do: did you mean {}?", near.display());
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "the working folder".into());
    if path.is_relative() {
        format!(
            "what to do: give --payload a webhook payload's JSON file (a relative path is read \
             from the folder this runs in, {here})"
        )
    } else {
        "what to do: give --payload a webhook payload's JSON file".to_string()
    }
}

fn payload_files(paths: &[PathBuf], event: &str) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| InputError::PayloadFolder {
                    path: p.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            inner.sort();
            if inner.is_empty() {
                // A folder of one folder per event, as examples/webhooks (new-user review
                // 13h, F18): the one of --event.
                let of_event = p.join(event);
                return Err(InputError::NoPayloads {
                    path: p.clone(),
                    of_event: of_event.is_dir().then_some(of_event),
                });
            }
            files.extend(inner);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// What `render` and `serve --dry-run` were given that they cannot use.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "{}: cannot read\nwhat to do: give --changed-files a file that lists the changed \
         paths, one a line (`git diff --name-only main...HEAD > changed.txt` writes one)",
        .path.display()
    )]
    ChangedFiles {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--event `{name}`: GitHub sends no event of this name{} (agentpods starts runs on \
         pull_request, issues, issue_comment, push and release; the name is the \
         X-GitHub-Event header of the delivery)",
        .like.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
    )]
    UnknownEvent {
        name: String,
        /// The event of GitHub's its name is closest to, when one is close.
        like: Option<String>,
    },
    #[error("{}: cannot read", .path.display())]
    PayloadFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: no .json payloads in this folder{}",
        .path.display(),
        .of_event.as_ref().map(|f| format!(
            "\nwhat to do: its folder of this event's payloads is {}: give --payload {}",
            f.display(),
            f.display()
        )).unwrap_or_default()
    )]
    NoPayloads {
        path: PathBuf,
        /// Its subfolder named after `--event`, when it has one.
        of_event: Option<PathBuf>,
    },
}

/// Why one payload given to `render` renders nothing.
#[derive(Debug, thiserror::Error)]
pub enum RenderOneError {
    /// The payload is not the event named.
    #[error(transparent)]
    Event(#[from] event::EventError),
    #[error("agent {agent}")]
    Render {
        agent: crate::config::AgentName,
        #[source]
        source: crate::render::RenderError,
    },
    #[error("cannot print {kind}")]
    Print {
        kind: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
}

/// What `render` prints for one payload: YAML for stdout, notes for stderr.
pub struct RenderOutput {
    pub yaml: String,
    pub notes: Vec<String>,
}

/// Parses, plans and renders one payload. Pure but for what it is given.
pub fn render_one(
    planner: &Planner,
    engine: &Engine,
    event_name: &str,
    body: &[u8],
    delivery: &str,
    facts: &Facts<'_>,
) -> Result<RenderOutput, RenderOneError> {
    let event = event::parse(event_name, body)?;
    let prefix = &planner.config().github.command_prefix;
    let mut yaml = String::new();
    let mut notes = Vec::new();
    // The payload's repository: whose `allowed_in` entries count.
    let facts = &Facts {
        repository_name: event.repository.as_ref().map(|r| &r.full_name),
        ..facts.clone()
    };
    let judged = planner.decide(&event, Some(RunKey::new(delivery)), facts);
    for given in &judged.approvals {
        notes.push(format!(
            "service command: record @{}'s approval of #{} at {}",
            given.approval.approved_by, given.number, given.approval.sha
        ));
    }
    for decision in judged.decisions {
        match decision {
            Decision::Launch(launch) => {
                let run = engine
                    .render_run(&event, delivery, &launch, facts.pull_request)
                    .map_err(|source| RenderOneError::Render {
                        agent: launch.agent.clone(),
                        source,
                    })?;
                notes.push(format!(
                    "agent {}: launch {} in namespace {} ({} object{}, trigger {})",
                    launch.agent,
                    run.name,
                    run.namespace,
                    run.objects.len(),
                    if run.objects.len() == 1 { "" } else { "s" },
                    launch.trigger.describe()
                ));
                notes.extend(launch.unpinned(&event));
                for object in &run.objects {
                    let text =
                        serde_yaml::to_string(object).map_err(|source| RenderOneError::Print {
                            kind: object.kind(),
                            source,
                        })?;
                    yaml.push_str("---\n");
                    yaml.push_str(&text);
                }
            }
            Decision::Skip { agent, reason } => {
                notes.push(format!("agent {agent}: not started: {reason}"))
            }
            Decision::Refuse(refusal) => {
                // A preview's next step: the same event from someone who may (new-user
                // review 13f, N14).
                let preview = match &refusal.reason {
                    RefusalReason::NotAuthorized { needs, .. } => format!(
                        " (to preview it as someone who may: --permission {})",
                        needs.as_str()
                    ),
                    _ => String::new(),
                };
                notes.push(format!("refused: {}{preview}", refusal.message(prefix)))
            }
            Decision::Control(control) => notes.push(format!("service command: {control}")),
            Decision::Reply(text) => notes.push(format!("reply: {}", text.replace('\n', "\n  "))),
            Decision::Hint { to, text } => notes.push(format!("hint to @{to}: {text}")),
            Decision::Ignore(reason) => notes.push(format!("nothing to do: {reason}")),
            Decision::Defer(why) => notes.push(format!("waiting: {why}")),
        }
    }
    Ok(RenderOutput { yaml, notes })
}

/// The host's name and this process's id: unique enough among replicas outside a pod.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "agentpods".into());
    format!("{host}-{}", std::process::id())
}

/// Writes `text` to stdout: success, or a failure without a word when the reader has gone
/// (`agentpods schema | head`, a `kubectl apply -f -` that fails early), never a panic
/// (new-user review 13b, N6).
fn emit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(e) => {
            say!("cannot write to stdout: {}", crate::text::io_words(&e));
            ExitCode::FAILURE
        }
    }
}
