//! What went wrong with the kubeconfig, in words a user can act on: kube's own errors say
//! "failed to infer config: in-cluster: (…), kubeconfig: (…)", or print a credential
//! plugin's output as a Rust debug dump, and the advice "set KUBECONFIG" does not help a
//! user whose KUBECONFIG is set (new-user review 13f, N2).

use std::error::Error;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube::client::AuthError;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::text;

/// A kubeconfig problem: what is wrong, and the one thing to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigProblem {
    pub problem: String,
    pub what_to_do: String,
}

/// There is nothing to connect with, when no kubeconfig file exists where kubectl would
/// look (`KUBECONFIG`, else `~/.kube/config`) and this is not inside a cluster: said
/// plainly, before kube's own "cannot be read" (whose advice, to unset KUBECONFIG, does
/// not fit a user who never set it: new-user review 13g, G2). Read from this process's
/// environment; `None` when there is something to try.
pub fn missing_here() -> Option<KubeconfigProblem> {
    missing(
        std::env::var_os("KUBECONFIG").as_deref(),
        std::env::var_os("HOME").as_deref(),
        std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
    )
}

/// [`missing_here`], of the environment given: `kubeconfig` (`KUBECONFIG`'s value), `home`,
/// and whether this runs in a cluster.
fn missing(
    kubeconfig: Option<&OsStr>,
    home: Option<&OsStr>,
    in_cluster: bool,
) -> Option<KubeconfigProblem> {
    if in_cluster {
        return None;
    }
    let (paths, from) = files(kubeconfig, home);
    if paths.iter().any(|p| p.exists()) {
        return None;
    }
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let problem = if shown.is_empty() {
        "no kubeconfig (neither KUBECONFIG nor HOME is set), and this is not inside a cluster"
            .to_string()
    } else {
        format!(
            "no kubeconfig at {} ({from}), and this is not inside a cluster",
            shown.join(" or ")
        )
    };
    Some(KubeconfigProblem {
        problem,
        what_to_do: "what to do: point KUBECONFIG at your cluster's kubeconfig (as for \
                     kubectl), or run this inside the cluster"
            .into(),
    })
}

/// The kubeconfig files kubectl would read, and where their names came from: `KUBECONFIG`
/// (`kubeconfig`, a list), else `~/.kube/config` of `home`.
fn files(kubeconfig: Option<&OsStr>, home: Option<&OsStr>) -> (Vec<PathBuf>, &'static str) {
    match kubeconfig {
        Some(v) if !v.is_empty() => (std::env::split_paths(v).collect(), "KUBECONFIG"),
        _ => (
            home.map(|h| Path::new(h).join(".kube").join("config"))
                .into_iter()
                .collect(),
            "kubectl's default",
        ),
    }
}

/// The kubeconfig kubectl would use here, read as kubectl reads it: the files `KUBECONFIG`
/// lists, merged in order, skipping those that do not exist (a stale entry, a kind or
/// minikube leftover, stops neither kubectl nor this: new-user review 13i, F5; kube's own
/// reader fails on it), else `~/.kube/config`; `None` when none of them exists.
pub fn read_here() -> Result<Option<Kubeconfig>, KubeconfigError> {
    let (paths, _) = files(
        std::env::var_os("KUBECONFIG").as_deref(),
        std::env::var_os("HOME").as_deref(),
    );
    read_existing(&paths)
}

/// [`read_here`] of the files given.
fn read_existing(paths: &[PathBuf]) -> Result<Option<Kubeconfig>, KubeconfigError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.iter().filter(|p| p.exists()) {
        let next = Kubeconfig::read_from(path)?;
        merged = Some(match merged {
            None => next,
            Some(before) => before.merge(next)?,
        });
    }
    Ok(merged)
}

/// The client config the usual places give (kube's `Config::infer`, with kubectl's rule
/// for a `KUBECONFIG` list): `kubeconfig` (what [`read_here`] read) with `options` when
/// there is one, else the pod's in-cluster service account.
pub async fn config_from(
    kubeconfig: Option<Kubeconfig>,
    options: &KubeConfigOptions,
) -> Result<kube::Config, InferError> {
    match kubeconfig {
        Some(kubeconfig) => Ok(kube::Config::from_custom_kubeconfig(kubeconfig, options).await?),
        None => Ok(kube::Config::incluster()?),
    }
}

/// Why [`config_from`] made no config: the kubeconfig's problem, or the in-cluster one's.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("the kubeconfig cannot be used")]
    Kubeconfig(#[from] KubeconfigError),
    #[error("no kubeconfig, and the in-cluster config cannot be used")]
    InCluster(#[from] kube::config::InClusterError),
}

/// The kubeconfig files of this process's environment that exist, named for a message:
/// `/tmp/kc.yaml (KUBECONFIG)` (new-user review 13h, F11: a file that does not parse was
/// not named, the one read from KUBECONFIG least of all).
fn files_here() -> String {
    let (paths, from) = files(
        std::env::var_os("KUBECONFIG").as_deref(),
        std::env::var_os("HOME").as_deref(),
    );
    let shown: Vec<String> = paths
        .iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" {} ({from})", shown.join(" or "))
    }
}

/// The most a credential plugin's own message is shown of.
const MAX_PLUGIN_OUTPUT: usize = 600;

/// The kubeconfig problem `e` (or an error it wraps) is, when it is one this can name.
pub fn explain(e: &(dyn Error + 'static)) -> Option<KubeconfigProblem> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e
            .downcast_ref::<KubeconfigError>()
            .and_then(|e| of_kubeconfig(e, &files_here))
        {
            return Some(found);
        }
        if let Some(found) = e.downcast_ref::<AuthError>().and_then(of_auth) {
            return Some(found);
        }
        if let Some(kube::Error::Auth(auth)) = e.downcast_ref::<kube::Error>()
            && let Some(found) = of_auth(auth)
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The problem `e` is; `files` names the kubeconfig read, for an error that does not
/// (` /path (KUBECONFIG)`, with its leading space, or nothing).
fn of_kubeconfig(e: &KubeconfigError, files: &dyn Fn() -> String) -> Option<KubeconfigProblem> {
    let contexts = "`kubectl config get-contexts` lists the kubeconfig's contexts and \
                    `kubectl config use-context NAME` picks one";
    Some(match e {
        KubeconfigError::ReadConfig(io, path) => KubeconfigProblem {
            problem: format!(
                "the kubeconfig {} cannot be read: {}",
                path.display(),
                text::io_words(io)
            ),
            what_to_do: "what to do: point KUBECONFIG at a kubeconfig that exists (the one \
                         kubectl uses: `kubectl config view --minify`), or unset it to use \
                         ~/.kube/config"
                .into(),
        },
        KubeconfigError::LoadContext(name) => KubeconfigProblem {
            problem: format!(
                "the kubeconfig's current context {name:?} is not one of its contexts"
            ),
            what_to_do: format!("what to do: {contexts}"),
        },
        KubeconfigError::CurrentContextNotSet => KubeconfigProblem {
            problem: "the kubeconfig names no current context".into(),
            what_to_do: format!("what to do: {contexts}"),
        },
        KubeconfigError::LoadClusterOfContext(name) => KubeconfigProblem {
            problem: format!(
                "the kubeconfig's context names cluster {name:?}, which it does not have"
            ),
            what_to_do: "what to do: fix the context's `cluster:` (`kubectl config view` \
                         shows the clusters), or pick another context"
                .into(),
        },
        // The parser's message is its first line; a caret drawing of the line follows,
        // which spread over as many log lines.
        KubeconfigError::Parse(e) => KubeconfigProblem {
            problem: format!(
                "the kubeconfig{} is not valid YAML: {}",
                files(),
                e.to_string()
                    .lines()
                    .next()
                    .map(|l| l.strip_prefix("error: ").unwrap_or(l))
                    .unwrap_or_default()
            ),
            what_to_do: "what to do: `kubectl config view` reads the same file and shows \
                         where it is broken"
                .into(),
        },
        _ => return None,
    })
}

fn of_auth(e: &AuthError) -> Option<KubeconfigProblem> {
    let log_in = "what to do: log in again with the tool the plugin belongs to (its message \
                  above says how, as `kubectl get namespaces` would), then try again";
    Some(match e {
        AuthError::AuthExecRun { cmd, out } => {
            let said = String::from_utf8_lossy(&out.stderr);
            let said = text::clip(said.trim(), MAX_PLUGIN_OUTPUT);
            KubeconfigProblem {
                problem: format!(
                    "the kubeconfig's credential plugin {} failed ({}){}",
                    plugin(cmd),
                    out.status,
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(":\n{said}")
                    }
                ),
                what_to_do: log_in.into(),
            }
        }
        AuthError::AuthExecStart(io) => KubeconfigProblem {
            problem: format!("the kubeconfig's credential plugin could not be started: {io}"),
            what_to_do: "what to do: install the plugin the kubeconfig's user names \
                         (`kubectl config view --minify` shows its `exec.command`), or pick \
                         a context that does not need it"
                .into(),
        },
        _ => return None,
    })
}

/// The plugin's command as kube shows it, without the `KUBERNETES_EXEC_INFO="{…}"` it
/// prefixes (JSON that says nothing to the user).
fn plugin(cmd: &str) -> String {
    let command = match cmd.rfind("}\" ") {
        Some(end) if cmd.starts_with("KUBERNETES_EXEC_INFO=") => &cmd[end + 3..],
        _ => cmd,
    };
    text::clip(command.trim(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_plugin_that_failed_is_shown_by_its_command_and_its_message_as_text() {
        let e = AuthError::AuthExecRun {
            cmd: r#"KUBERNETES_EXEC_INFO="{\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}" "gke-gcloud-auth-plugin""#.into(),
            out: Box::new(std::process::Output {
                status: std::process::ExitStatus::from_raw(256),
                stdout: vec![],
                stderr: b"F1204 error\nPlease run:\n\n  $ gcloud auth login\n".to_vec(),
            }),
        };
        let found = explain(&e).expect("a plugin's failure");
        assert_eq!(
            found.problem,
            "the kubeconfig's credential plugin \"gke-gcloud-auth-plugin\" failed (exit status: 1):\n\
             F1204 error\nPlease run:\n\n  $ gcloud auth login"
        );
        assert!(found.what_to_do.starts_with("what to do: log in again"));
        let wrapped = kube::Error::Auth(e);
        assert_eq!(explain(&wrapped), Some(found));
    }

    #[test]
    fn a_missing_file_and_a_missing_context_say_what_is_missing() {
        let e = KubeconfigError::ReadConfig(
            std::io::Error::from(std::io::ErrorKind::NotFound),
            "/tmp/nope.yaml".into(),
        );
        let found = explain(&e).expect("a missing file");
        assert!(
            found
                .problem
                .starts_with("the kubeconfig /tmp/nope.yaml cannot be read: "),
            "{found:?}"
        );
        let e = KubeconfigError::LoadContext("gone".into());
        assert_eq!(
            explain(&e).map(|p| p.problem),
            Some("the kubeconfig's current context \"gone\" is not one of its contexts".into())
        );
        assert_eq!(explain(&std::io::Error::other("else")), None);
    }

    #[test]
    fn a_missing_kubeconfig_is_named_plainly() {
        let said = missing(Some(OsStr::new("/nonexistent/kc")), None, false).unwrap();
        assert!(
            said.what_to_do
                .starts_with("what to do: point KUBECONFIG at")
        );
        let said = said.problem;
        assert_eq!(
            said,
            "no kubeconfig at /nonexistent/kc (KUBECONFIG), and this is not inside a cluster"
        );
        let said = missing(None, Some(OsStr::new("/nonexistent-home")), false)
            .unwrap()
            .problem;
        assert!(
            said.contains("/nonexistent-home/.kube/config (kubectl's default)"),
            "{said}"
        );
        // Inside a cluster, or with a file to read, kube's own answer is the one to give.
        assert_eq!(missing(None, None, true), None);
        let dir = std::env::temp_dir();
        let here = dir.join(format!("agentpods-kc-{}", std::process::id()));
        std::fs::write(&here, "").unwrap();
        assert_eq!(missing(Some(here.as_os_str()), None, false), None);
        std::fs::remove_file(&here).unwrap();
    }
}
