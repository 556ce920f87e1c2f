//! The Docker objects of one box: its internal network, its workspace
//! volume and its hardened container.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Ipam, IpamConfig, Mount, MountType, NetworkCreateRequest,
    NetworkingConfig, ResourcesUlimits, VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions, RemoveVolumeOptions};
use bollard::Docker;
use bytesbox_sandbox::{BoxSpec, SandboxError};

use crate::daemon::{api_error, labels, status_code};

/// PID 1 of every box container: reaps the orphans that runs leave (each
/// run's leftovers are killed through its cgroup, and their zombies must
/// not pile up) and otherwise sleeps. perl-base is part of every Debian
/// minbase, so the images need nothing extra. SIGTERM ends it.
const INIT_PERL: &str =
    "$0 = 'bytesbox-init'; $SIG{TERM} = sub { exit 0 }; $SIG{CHLD} = sub { 1 while waitpid(-1, 1) > 0 }; \
while (1) { sleep 3600; 1 while waitpid(-1, 1) > 0 }";

/// Paths hidden in every box container (`HostConfig.MaskedPaths`, which
/// replaces Docker's default list): the native jail's masked procfs files
/// (Docker's defaults and the host kernel information both backends hide),
/// plus Docker's `/sys` defaults. A missing path is skipped by the runtime.
pub fn masked_paths() -> Vec<String> {
    let proc = bytesbox_jail::mounts::PROC_MASKED.iter().map(|name| format!("/proc/{name}"));
    proc.chain(["/sys/firmware".to_string(), "/sys/devices/virtual/powercap".to_string()]).collect()
}

/// Names and settings shared by a box's objects.
#[derive(Clone, Debug)]
pub struct BoxObjects {
    /// Name of the container, the network and the volume.
    pub name: String,
    /// Labels on all three.
    pub labels: HashMap<String, String>,
}

/// Creates the box's internal bridge network on `subnet`. `internal`
/// networks have no route out of the bridge; the gateway address is
/// disabled so the host is not reachable through it either.
pub async fn create_network(docker: &Docker, objects: &BoxObjects, subnet: &str) -> Result<String, SandboxError> {
    let request = NetworkCreateRequest {
        name: objects.name.clone(),
        driver: Some("bridge".into()),
        internal: Some(true),
        attachable: Some(false),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig { subnet: Some(subnet.into()), ..IpamConfig::default() }]),
            options: None,
        }),
        options: Some(HashMap::from([
            // Containers of one session may talk to each other; nothing else.
            ("com.docker.network.bridge.enable_icc".to_string(), "true".to_string()),
            ("com.docker.network.bridge.enable_ip_masquerade".to_string(), "false".to_string()),
            // No address on the host's side of the bridge: the host (and
            // every service listening on any of its addresses) is not
            // reachable from the session network at all.
            ("com.docker.network.bridge.inhibit_ipv4".to_string(), "true".to_string()),
        ])),
        labels: Some(objects.labels.clone()),
        ..NetworkCreateRequest::default()
    };
    let created = docker.create_network(request).await.map_err(|e| api_error("creating the box network", e))?;
    Ok(created.id)
}

/// Creates the workspace: a named volume backed by a size-capped tmpfs
/// owned by the sandbox user. A volume (not a `--tmpfs` mount) because the
/// archive API writes into volumes but not into tmpfs mounts.
pub async fn create_volume(
    docker: &Docker,
    objects: &BoxObjects,
    size_bytes: u64,
    uid: u32,
    gid: u32,
) -> Result<(), SandboxError> {
    let options = format!("size={size_bytes},uid={uid},gid={gid},mode=0700,nosuid,nodev");
    let request = VolumeCreateRequest {
        name: Some(objects.name.clone()),
        driver: Some("local".into()),
        driver_opts: Some(HashMap::from([
            ("type".to_string(), "tmpfs".to_string()),
            ("device".to_string(), "tmpfs".to_string()),
            ("o".to_string(), options),
        ])),
        labels: Some(objects.labels.clone()),
        ..VolumeCreateRequest::default()
    };
    docker.create_volume(request).await.map_err(|e| api_error("creating the workspace volume", e))?;
    Ok(())
}

/// Everything `create_container` needs besides the objects.
#[derive(Debug)]
pub struct ContainerPlan<'a> {
    /// The box spec.
    pub spec: &'a BoxSpec,
    /// Image reference.
    pub image: &'a str,
    /// cgroup parent, `/bytesbox/<instance>` (runs get cgroups below the
    /// container's own).
    pub cgroup_parent: String,
    /// The uid and gid of the box's pid 1, which no program has, so
    /// programs can neither signal it nor read its /proc entries.
    pub init_uid: u32,
    /// The seccomp profile (Docker's JSON), made from the native policy.
    pub seccomp_profile: &'a str,
}

/// Creates and starts the hardened container; returns its full id.
pub async fn create_container(
    docker: &Docker,
    objects: &BoxObjects,
    plan: &ContainerPlan<'_>,
) -> Result<String, SandboxError> {
    let limits = &plan.spec.limits;
    let memory = i64::try_from(limits.memory_bytes).unwrap_or(i64::MAX);
    let ulimit =
        |name: &str, value: i64| ResourcesUlimits { name: Some(name.into()), soft: Some(value), hard: Some(value) };
    let host_config = HostConfig {
        network_mode: Some(objects.name.clone()),
        mounts: Some(vec![Mount {
            target: Some(plan.spec.workspace_dir.clone()),
            source: Some(objects.name.clone()),
            typ: Some(MountType::VOLUME),
            read_only: Some(false),
            ..Mount::default()
        }]),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            // `exec`: Docker's tmpfs default is noexec, and compilers put
            // their binaries here.
            format!("rw,exec,nosuid,nodev,size={},mode=1777", limits.tmp_bytes),
        )])),
        shm_size: Some(i64::try_from(limits.shm_bytes).unwrap_or(i64::MAX)),
        readonly_rootfs: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        // The native sandbox's seccomp policy, not Docker's default profile
        // (which allows io_uring and ptrace of one's own children).
        security_opt: Some(vec!["no-new-privileges:true".into(), format!("seccomp={}", plan.seccomp_profile)]),
        memory: Some(memory),
        memory_swap: Some(memory),
        memory_swappiness: Some(0),
        nano_cpus: Some(i64::from(limits.cpu_millicores) * 1_000_000),
        pids_limit: Some(i64::from(limits.pids)),
        // No `nproc` ulimit: the pids cgroup bounds the box, and a per-user
        // count is the wrong tool (it would count another box's processes
        // if a uid were ever shared).
        ulimits: Some(vec![ulimit("core", 0), ulimit("nofile", 4096)]),
        cgroup_parent: Some(plan.cgroup_parent.clone()),
        privileged: Some(false),
        init: Some(false),
        auto_remove: Some(false),
        ipc_mode: Some("private".into()),
        masked_paths: Some(masked_paths()),
        ..HostConfig::default()
    };
    let body = ContainerCreateBody {
        image: Some(plan.image.into()),
        hostname: Some(plan.spec.hostname.clone()),
        user: Some(format!("{0}:{0}", plan.init_uid)),
        cmd: Some(vec!["perl".into(), "-e".into(), INIT_PERL.into()]),
        entrypoint: Some(Vec::new()),
        working_dir: Some("/".into()),
        env: Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]),
        labels: Some(objects.labels.clone()),
        network_disabled: Some(false),
        stop_signal: Some("SIGKILL".into()),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(objects.name.clone(), EndpointSettings::default())])),
        }),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptions { name: Some(objects.name.clone()), ..CreateContainerOptions::default() };
    let created = docker.create_container(Some(options), body).await.map_err(|e| match status_code(&e) {
        Some(404) => SandboxError::Unavailable(format!(
            "the runtime image {} is missing: build the images with `sudo scripts/images build`",
            plan.image
        )),
        _ => api_error("creating the box container", e),
    })?;
    if let Err(e) = docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await
    {
        remove_container(docker, &created.id).await;
        return Err(api_error("starting the box container", e));
    }
    Ok(created.id)
}

/// Whether the engine says the container runs (false when it is gone or
/// the engine does not answer).
pub async fn container_running(docker: &Docker, id: &str) -> bool {
    docker
        .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false)
}

/// The pid of the container's first process on this host, while it runs.
async fn init_pid(docker: &Docker, id: &str) -> Option<i64> {
    let state =
        docker.inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>).await.ok()?.state?;
    state.running.unwrap_or(false).then_some(state.pid?).filter(|pid| *pid > 0)
}

/// A descriptor of the container's network namespace, through its first
/// process's `/proc/PID/ns/net` (the server runs on the Docker host, as
/// root). The pid is asked again after the open: the same pid of a
/// container still running is the same process, not a reused pid.
pub async fn network_namespace(docker: &Docker, id: &str) -> Result<std::os::fd::OwnedFd, SandboxError> {
    let gone = || SandboxError::Internal("the box container is not running".into());
    let pid = init_pid(docker, id).await.ok_or_else(gone)?;
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| SandboxError::Internal(format!("opening the box container's network namespace: {e}")))?;
    if init_pid(docker, id).await != Some(pid) {
        return Err(gone());
    }
    Ok(std::os::fd::OwnedFd::from(namespace))
}

/// Removes a container (killing what runs in it); a missing one is fine.
pub async fn remove_container(docker: &Docker, id: &str) -> bool {
    let options = RemoveContainerOptions { force: true, v: true, ..RemoveContainerOptions::default() };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => true,
        Err(e) => status_code(&e) == Some(404),
    }
}

/// Removes a network; a missing one is fine.
pub async fn remove_network(docker: &Docker, name: &str) -> bool {
    match docker.remove_network(name).await {
        Ok(()) => true,
        Err(e) => status_code(&e) == Some(404),
    }
}

/// Removes a volume; a missing one is fine.
pub async fn remove_volume(docker: &Docker, name: &str) -> bool {
    match docker.remove_volume(name, Some(RemoveVolumeOptions { force: true })).await {
        Ok(()) => true,
        Err(e) => status_code(&e) == Some(404),
    }
}

/// The labels of a box's objects.
pub fn box_labels(instance: &str, box_id: &str, user: &[(String, String)]) -> HashMap<String, String> {
    let mut map = HashMap::from([
        (labels::BACKEND.to_string(), labels::BACKEND_VALUE.to_string()),
        (labels::INSTANCE.to_string(), instance.to_string()),
        (labels::BOX.to_string(), box_id.to_string()),
    ]);
    for (key, value) in user {
        map.insert(format!("{}{key}", labels::USER_PREFIX), value.clone());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_paths_keep_dockers_defaults_and_hide_host_kernel_information() {
        let masked = masked_paths();
        for docker_default in [
            "/proc/asound",
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ] {
            assert!(masked.iter().any(|path| path == docker_default), "{docker_default} is not masked");
        }
        for host_information in ["/proc/kallsyms", "/proc/config.gz", "/proc/modules", "/proc/cmdline"] {
            assert!(masked.iter().any(|path| path == host_information), "{host_information} is not masked");
        }
    }
}
