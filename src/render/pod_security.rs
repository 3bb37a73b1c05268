//! The Pod Security Standards, checked on a rendered pod before anything reaches the API
//! server: a template (or text from GitHub that reached it) cannot make a pod that the
//! namespace would refuse, or, where admission is off or looser, one that escapes its
//! agent's level. Pure: a pod spec and a level in, what is wrong with it out.
//!
//! The checks are those of the `baseline` and `restricted` profiles
//! (kubernetes.io/docs/concepts/security/pod-security-standards), on the pod as rendered.
//! "Runs as root" is what can be told without the image: `runAsUser: 0` anywhere is root;
//! a container whose `runAsNonRoot` is not true (its own, else the pod's) runs as whatever
//! user its image names, which may be root, so `restricted` refuses it too (as admission
//! does; the kubelet would then refuse a root image at start).

use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, PodSpec, SeccompProfile, SecurityContext,
};

use crate::config::PodSecurity;

/// One thing a pod does that its level forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, from the pod spec (`spec.containers[0].securityContext.runAsUser`).
    pub field: String,
    /// What, in words (`runs as root (runAsUser 0)`).
    pub what: String,
    /// The loosest level that allows it.
    pub allowed_from: PodSecurity,
}

/// Capabilities `baseline` lets a container add (the container runtime's defaults).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls `baseline` allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// SELinux types `baseline` allows.
const SELINUX_TYPES: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Every way `spec` (at `at`, e.g. `spec` or `spec.template.spec`) breaks `level`.
pub fn check(spec: &PodSpec, at: &str, level: PodSecurity) -> Vec<Violation> {
    if level == PodSecurity::Privileged {
        return Vec::new();
    }
    let mut found = Checker {
        level,
        found: Vec::new(),
    };
    found.pod(spec, at);
    found.found
}

/// Every way a pod's annotations (at `at`, e.g. `metadata.annotations`) break `level`:
/// the AppArmor annotation, which the kubelet still honours, set to anything but the
/// runtime's default or a profile loaded on the node (`unconfined` turns AppArmor off).
pub fn check_annotations(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    at: &str,
    level: PodSecurity,
) -> Vec<Violation> {
    if level == PodSecurity::Privileged {
        return Vec::new();
    }
    let mut found = Checker {
        level,
        found: Vec::new(),
    };
    for (key, value) in annotations.into_iter().flatten() {
        if let Some(container) = key.strip_prefix(APPARMOR_ANNOTATION)
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            found.baseline(
                format!("{at}[{key}]"),
                format!("runs container `{container}` with the AppArmor profile `{value}` (only `runtime/default` or `localhost/…` are allowed)"),
            );
        }
    }
    found.found
}

/// The prefix of the per-container AppArmor annotation.
const APPARMOR_ANNOTATION: &str = "container.apparmor.security.beta.kubernetes.io/";

struct Checker {
    level: PodSecurity,
    found: Vec<Violation>,
}

/// A container of any of the three lists, as the checks see it.
struct Of<'a> {
    at: String,
    security: Option<&'a SecurityContext>,
    ports: Vec<i32>,
}

impl Checker {
    /// Records a violation of `baseline` (and so of `restricted`).
    fn baseline(&mut self, field: String, what: impl Into<String>) {
        self.found.push(Violation {
            field,
            what: what.into(),
            allowed_from: PodSecurity::Privileged,
        });
    }

    /// Records a violation of `restricted` alone.
    fn restricted(&mut self, field: String, what: impl Into<String>) {
        if self.level == PodSecurity::Restricted {
            self.found.push(Violation {
                field,
                what: what.into(),
                allowed_from: PodSecurity::Baseline,
            });
        }
    }

    fn pod(&mut self, spec: &PodSpec, at: &str) {
        for (flag, key, what) in [
            (spec.host_network, "hostNetwork", "the host's network"),
            (spec.host_pid, "hostPID", "the host's process namespace"),
            (spec.host_ipc, "hostIPC", "the host's IPC namespace"),
        ] {
            if flag == Some(true) {
                self.baseline(format!("{at}.{key}"), format!("shares {what} ({key})"));
            }
        }
        let pod_security = spec.security_context.as_ref();
        self.pod_context(pod_security, &format!("{at}.securityContext"));
        for (i, volume) in spec.volumes.iter().flatten().enumerate() {
            let field = format!("{at}.volumes[{i}]");
            if volume.host_path.is_some() {
                self.baseline(
                    format!("{field}.hostPath"),
                    format!(
                        "mounts a directory of the node (hostPath volume `{}`)",
                        volume.name
                    ),
                );
            } else if !restricted_volume(volume) {
                self.restricted(
                    field,
                    format!(
                        "volume `{}` is of a type restricted pods may not use (only configMap, \
                         csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, \
                         projected and secret)",
                        volume.name
                    ),
                );
            }
        }
        let containers = containers(spec, at);
        if containers.is_empty() {
            return;
        }
        // runAsNonRoot and seccomp may be set once for the pod, or on every container.
        let pod_non_root = pod_security.and_then(|s| s.run_as_non_root);
        let pod_seccomp = pod_security.and_then(|s| s.seccomp_profile.as_ref());
        for c in &containers {
            self.container(c, at, pod_non_root, pod_seccomp);
        }
    }

    fn pod_context(&mut self, context: Option<&PodSecurityContext>, at: &str) {
        let Some(context) = context else {
            return;
        };
        if context.run_as_user == Some(0) {
            self.restricted(format!("{at}.runAsUser"), "runs as root (runAsUser 0)");
        }
        if let Some(profile) = &context.seccomp_profile {
            self.seccomp(profile, &format!("{at}.seccompProfile.type"));
        }
        if let Some(options) = &context.se_linux_options {
            self.selinux(options, &format!("{at}.seLinuxOptions"));
        }
        for (i, sysctl) in context.sysctls.iter().flatten().enumerate() {
            if !SAFE_SYSCTLS.contains(&sysctl.name.as_str()) {
                self.baseline(
                    format!("{at}.sysctls[{i}].name"),
                    format!("sets the unsafe sysctl `{}`", sysctl.name),
                );
            }
        }
        if context
            .windows_options
            .as_ref()
            .and_then(|w| w.host_process)
            == Some(true)
        {
            self.baseline(
                format!("{at}.windowsOptions.hostProcess"),
                "runs as a Windows host process",
            );
        }
        if let Some(profile) = &context.app_armor_profile
            && profile.type_ == "Unconfined"
        {
            self.baseline(
                format!("{at}.appArmorProfile.type"),
                "runs without an AppArmor profile (Unconfined)",
            );
        }
    }

    fn seccomp(&mut self, profile: &SeccompProfile, field: &str) {
        if profile.type_ == "Unconfined" {
            self.baseline(
                field.to_string(),
                "runs without a seccomp profile (Unconfined)",
            );
        }
    }

    fn selinux(&mut self, options: &k8s_openapi::api::core::v1::SELinuxOptions, at: &str) {
        if !SELINUX_TYPES.contains(&options.type_.as_deref().unwrap_or_default()) {
            self.baseline(
                format!("{at}.type"),
                format!(
                    "sets the SELinux type `{}`",
                    options.type_.as_deref().unwrap_or_default()
                ),
            );
        }
        for (value, key) in [(&options.user, "user"), (&options.role, "role")] {
            if value.as_deref().is_some_and(|v| !v.is_empty()) {
                self.baseline(format!("{at}.{key}"), format!("sets the SELinux {key}"));
            }
        }
    }

    fn container(
        &mut self,
        c: &Of<'_>,
        pod_at: &str,
        pod_non_root: Option<bool>,
        pod_seccomp: Option<&SeccompProfile>,
    ) {
        let at = format!("{}.securityContext", c.at);
        for (j, port) in c.ports.iter().enumerate() {
            if *port != 0 {
                self.baseline(
                    format!("{}.ports[{j}].hostPort", c.at),
                    format!("opens port {port} on the node (hostPort)"),
                );
            }
        }
        let s = c.security;
        if s.and_then(|s| s.privileged) == Some(true) {
            self.baseline(
                format!("{at}.privileged"),
                "is privileged (every device and capability of the node)",
            );
        }
        let caps: Option<&Capabilities> = s.and_then(|s| s.capabilities.as_ref());
        for (j, cap) in caps
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = cap.trim_start_matches("CAP_");
            let field = format!("{at}.capabilities.add[{j}]");
            if !BASELINE_CAPABILITIES.contains(&name) {
                self.baseline(field, format!("adds the capability {cap}"));
            } else if name != "NET_BIND_SERVICE" {
                self.restricted(field, format!("adds the capability {cap}"));
            }
        }
        let drops_all = caps
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|d| d.iter().any(|d| d == "ALL"));
        if !drops_all {
            self.restricted(
                format!("{at}.capabilities.drop"),
                "keeps the runtime's default capabilities (drop: [\"ALL\"] is missing)",
            );
        }
        if s.and_then(|s| s.allow_privilege_escalation) != Some(false) {
            self.restricted(
                format!("{at}.allowPrivilegeEscalation"),
                "may gain privileges (allowPrivilegeEscalation is not false)",
            );
        }
        if s.and_then(|s| s.run_as_user) == Some(0) {
            self.restricted(format!("{at}.runAsUser"), "runs as root (runAsUser 0)");
        }
        match (s.and_then(|s| s.run_as_non_root), pod_non_root) {
            (Some(true), _) | (None, Some(true)) => {}
            (Some(false), _) => self.restricted(
                format!("{at}.runAsNonRoot"),
                "may run as root (runAsNonRoot: false)",
            ),
            // Written once for the pod: said there, not at a field the file does not hold
            // (new-user review 13b, N10).
            (None, Some(false)) => self.restricted(
                format!("{pod_at}.securityContext.runAsNonRoot"),
                "may run as root (runAsNonRoot: false)",
            ),
            (None, None) => self.restricted(
                format!("{at}.runAsNonRoot"),
                "may run as root: runAsNonRoot is not set here or on the pod, so the image's \
                 user decides, and it is not known here",
            ),
        }
        match s.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(profile) => {
                self.seccomp(profile, &format!("{at}.seccompProfile.type"));
            }
            None if pod_seccomp.is_some() => {}
            None => self.restricted(
                format!("{at}.seccompProfile"),
                "has no seccomp profile (RuntimeDefault or Localhost, here or on the pod)",
            ),
        }
        if let Some(options) = s.and_then(|s| s.se_linux_options.as_ref()) {
            self.selinux(options, &format!("{at}.seLinuxOptions"));
        }
        if s.and_then(|s| s.proc_mount.as_deref())
            .is_some_and(|m| m != "Default")
        {
            self.baseline(format!("{at}.procMount"), "unmasks /proc (procMount)");
        }
        if let Some(profile) = s.and_then(|s| s.app_armor_profile.as_ref())
            && profile.type_ == "Unconfined"
        {
            self.baseline(
                format!("{at}.appArmorProfile.type"),
                "runs without an AppArmor profile (Unconfined)",
            );
        }
        if s.and_then(|s| s.windows_options.as_ref())
            .and_then(|w| w.host_process)
            == Some(true)
        {
            self.baseline(
                format!("{at}.windowsOptions.hostProcess"),
                "runs as a Windows host process",
            );
        }
    }
}

/// The containers, init containers and ephemeral containers of a pod, each at its path.
fn containers<'a>(spec: &'a PodSpec, at: &str) -> Vec<Of<'a>> {
    let of = |list: &str, i: usize, c: &'a Container| Of {
        at: format!("{at}.{list}[{i}]"),
        security: c.security_context.as_ref(),
        ports: host_ports(c.ports.as_deref()),
    };
    let mut out: Vec<Of<'a>> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| of("containers", i, c))
        .collect();
    out.extend(
        spec.init_containers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| of("initContainers", i, c)),
    );
    out.extend(
        spec.ephemeral_containers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| Of {
                at: format!("{at}.ephemeralContainers[{i}]"),
                security: c.security_context.as_ref(),
                ports: host_ports(c.ports.as_deref()),
            }),
    );
    out
}

/// The host ports a container's ports ask for.
fn host_ports(ports: Option<&[k8s_openapi::api::core::v1::ContainerPort]>) -> Vec<i32> {
    ports
        .into_iter()
        .flatten()
        .filter_map(|p| p.host_port)
        .collect()
}

/// Whether a volume is of a type `restricted` allows.
fn restricted_volume(v: &k8s_openapi::api::core::v1::Volume) -> bool {
    v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).expect("a pod spec")
    }

    const HARDENED: &str = "
securityContext:
  runAsNonRoot: true
  seccompProfile: {type: RuntimeDefault}
containers:
  - name: agent
    image: agent
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
";

    #[test]
    fn a_hardened_pod_meets_restricted() {
        assert_eq!(check(&pod(HARDENED), "spec", PodSecurity::Restricted), []);
    }

    #[test]
    fn a_pod_of_the_defaults_may_run_as_root_and_meets_baseline_only() {
        let spec = pod("containers: [{name: kaniko, image: kaniko}]");
        assert_eq!(check(&spec, "spec", PodSecurity::Baseline), []);
        let fields: Vec<String> = check(&spec, "spec", PodSecurity::Restricted)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].securityContext.capabilities.drop",
                "spec.containers[0].securityContext.allowPrivilegeEscalation",
                "spec.containers[0].securityContext.runAsNonRoot",
                "spec.containers[0].securityContext.seccompProfile",
            ]
        );
        assert_eq!(check(&spec, "spec", PodSecurity::Privileged), []);
    }

    #[test]
    fn a_container_may_not_undo_what_the_pod_sets() {
        let spec = pod(&HARDENED.replace(
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: false\n      runAsNonRoot: false\n      runAsUser: 0",
        ));
        let found = check(&spec, "spec", PodSecurity::Restricted);
        let whats: Vec<&str> = found.iter().map(|v| v.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "runs as root (runAsUser 0)",
                "may run as root (runAsNonRoot: false)"
            ]
        );
        assert!(
            found
                .iter()
                .all(|v| v.allowed_from == PodSecurity::Baseline)
        );
    }

    #[test]
    fn baseline_allows_root_but_not_the_host() {
        let spec = pod("
hostNetwork: true
volumes: [{name: docker, hostPath: {path: /var/run/docker.sock}}]
containers:
  - name: build
    image: kaniko
    ports: [{containerPort: 80, hostPort: 8080}]
    securityContext:
      runAsUser: 0
      privileged: true
      capabilities: {add: [CHOWN, SYS_ADMIN]}
");
        let fields: Vec<String> = check(&spec, "spec", PodSecurity::Baseline)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.hostNetwork",
                "spec.volumes[0].hostPath",
                "spec.containers[0].ports[0].hostPort",
                "spec.containers[0].securityContext.privileged",
                "spec.containers[0].securityContext.capabilities.add[1]",
            ]
        );
    }
}
