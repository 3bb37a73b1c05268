//! Which secrets a pod gives its agent, so that the entrypoint can keep them out of what it
//! writes. The controller cannot read Secrets, so the values are learnt inside the pod:
//! render names the variables and files (from the Pod it rendered) in
//! `AGENTPODS_SECRET_ENV` and `AGENTPODS_SECRET_FILES` (see [`crate::agent_pod`]), and the
//! entrypoint reads them here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::redact::MIN_SECRET_LEN;
use crate::agent_pod::SECRET_ENV;

/// Where Kubernetes and identity webhooks put tokens a template does not name (the
/// ServiceAccount token, cloud workload identity tokens); always read when present.
pub const SYSTEM_SECRETS: &str = "/var/run/secrets";
/// Files there that are not secret.
const NOT_SECRET: &[&str] = &["ca.crt", "namespace", "service-ca.crt"];
/// Variables an `envFrom` Secret cannot be meant to set.
const NOT_SECRET_ENV: &[&str] = &["HOME", "PATH", "HOSTNAME", "PWD"];

/// How deep into a folder, how many files and how large a file is read.
const MAX_DEPTH: usize = 4;
const MAX_FILES: usize = 256;
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The secret values found, and what the log should say about those that were not.
#[derive(Debug, Default)]
pub struct Found {
    pub values: Vec<Vec<u8>>,
    /// What each of `values` is, in the same order ("the variable OPENAI_API_KEY", "the
    /// secret file PATH"): a name, never a value.
    pub names: Vec<String>,
    /// One line each, naming a variable or file, never a value.
    pub notes: Vec<String>,
}

impl Found {
    fn add(&mut self, what: &str, value: &[u8]) {
        let trimmed = value.trim_ascii();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.len() < MIN_SECRET_LEN {
            self.notes.push(format!(
                "{what} is shorter than {MIN_SECRET_LEN} bytes: it is not redacted from the log or the result"
            ));
            return;
        }
        if !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_vec());
            self.names.push(what.to_string());
        }
    }
}

/// The values of the secret variables `env` names (from `vars`, the environment) and of the
/// files `files` names, with what is under [`SYSTEM_SECRETS`] (`system`).
pub fn gather(
    env: &[String],
    files: &[PathBuf],
    vars: &[(OsString, OsString)],
    system: Option<&Path>,
) -> Found {
    let mut found = Found::default();
    for entry in env.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let matching: Vec<&(OsString, OsString)> = match entry.strip_suffix('*') {
            Some(prefix) => vars
                .iter()
                .filter(|(name, _)| {
                    name.to_str().is_some_and(|n| {
                        n.starts_with(prefix)
                            && !n.starts_with("AGENTPODS_")
                            && !NOT_SECRET_ENV.contains(&n)
                    })
                })
                .collect(),
            None => vars.iter().filter(|(name, _)| name == entry).collect(),
        };
        if matching.is_empty() && !entry.ends_with('*') {
            found
                .notes
                .push(format!("{SECRET_ENV} names {entry}, which is not set"));
        }
        for (name, value) in matching {
            let what = format!("the variable {}", name.to_string_lossy());
            found.add(&what, value.as_encoded_bytes());
        }
    }
    let mut budget = MAX_FILES;
    for path in files {
        read_secrets(path, 0, &mut budget, &mut found, true);
    }
    if let Some(system) = system.filter(|s| s.is_dir()) {
        read_secrets(system, 0, &mut budget, &mut found, false);
    }
    found
}

fn read_secrets(path: &Path, depth: usize, budget: &mut usize, found: &mut Found, named: bool) {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            if named {
                found
                    .notes
                    .push(format!("cannot read the secret file {shown}: {e}"));
            }
            return;
        }
    };
    if meta.is_dir() {
        if depth >= MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            found
                .notes
                .push(format!("cannot list the secret folder {shown}"));
            return;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // A Secret volume's `..data` folders hold what its keys link to.
            if name.starts_with("..") || (!named && NOT_SECRET.contains(&name)) {
                continue;
            }
            read_secrets(&entry, depth + 1, budget, found, named);
        }
        return;
    }
    if *budget == 0 {
        found.notes.push(format!(
            "more than {MAX_FILES} secret files: {shown} and those after it are not redacted"
        ));
        return;
    }
    *budget -= 1;
    if meta.len() > MAX_FILE_BYTES {
        found.notes.push(format!(
            "the secret file {shown} is larger than {MAX_FILE_BYTES} bytes: it is not redacted"
        ));
        return;
    }
    match std::fs::read(path) {
        Ok(bytes) => found.add(&format!("the secret file {shown}"), &bytes),
        Err(e) => found
            .notes
            .push(format!("cannot read the secret file {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entrypoint_reads_the_values_and_says_which_it_cannot_redact() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("registry");
        std::fs::create_dir_all(volume.join("..data")).unwrap();
        std::fs::write(
            volume.join("..data/config.json"),
            "{\"auth\":\"cm9ib3Q6c2VjcmV0\"}",
        )
        .unwrap();
        std::fs::write(
            volume.join("config.json"),
            "{\"auth\":\"cm9ib3Q6c2VjcmV0\"}",
        )
        .unwrap();
        std::fs::write(volume.join("pin"), "1234\n").unwrap();
        let system = dir.path().join("system/kubernetes.io/serviceaccount");
        std::fs::create_dir_all(&system).unwrap();
        std::fs::write(system.join("token"), "eyJhbGciOiJSUzI1NiJ9.payload.sig").unwrap();
        std::fs::write(system.join("namespace"), "agentpods-runs").unwrap();
        let vars: Vec<(OsString, OsString)> = [
            ("OPENAI_API_KEY", "sk-openai-0123456789"),
            ("MORE_A", "another-secret-value"),
            ("MORE_B", "abc"),
            ("AGENTPODS_RUN", "run-name-1"),
            ("HOME", "/home/agent"),
        ]
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect();
        let found = gather(
            &["OPENAI_API_KEY".into(), "MORE_*".into(), "MISSING".into()],
            &[volume.clone(), dir.path().join("absent")],
            &vars,
            Some(&dir.path().join("system")),
        );
        let values: Vec<String> = found
            .values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        assert_eq!(
            values,
            [
                "sk-openai-0123456789",
                "another-secret-value",
                "{\"auth\":\"cm9ib3Q6c2VjcmV0\"}",
                "eyJhbGciOiJSUzI1NiJ9.payload.sig",
            ]
        );
        let notes = found.notes.join("\n");
        assert!(
            notes.contains("the variable MORE_B is shorter than 8 bytes"),
            "{notes}"
        );
        assert!(notes.contains("pin is shorter than 8 bytes"), "{notes}");
        assert!(
            notes.contains("AGENTPODS_SECRET_ENV names MISSING, which is not set"),
            "{notes}"
        );
        assert!(notes.contains("absent"), "{notes}");
        assert!(!notes.contains("1234\n"), "{notes}");
    }
}
