//! The engine objects of a new box: its network (on a free subnet of the
//! pool), its workspace volume, and its started container with the
//! container's cgroup found.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use bollard::Docker;
use bytesbox_cgroups::{instance_path, Cgroup, CgroupLayout, CgroupVersion};
use bytesbox_sandbox::{BoxSpec, SandboxError};

use crate::container::{self, BoxObjects, ContainerPlan};
use crate::daemon::api_error;
use crate::sandbox_box::LiveContainer;
use crate::state::{BackendState, MadeBox};

/// Creates and starts a box container and finds its cgroup.
pub(crate) async fn new_container(
    state: &BackendState,
    spec: &BoxSpec,
    image: &str,
    objects: &BoxObjects,
) -> Result<LiveContainer, SandboxError> {
    let plan = ContainerPlan {
        spec,
        image,
        cgroup_parent: state.cgroup_parent(),
        init_uid: state.config.uid_base.saturating_sub(1),
        seccomp_profile: &state.seccomp_profile,
    };
    let id = container::create_container(&state.docker, objects, &plan).await?;
    let relative = instance_path(&state.instance).join(&id);
    let found = container_cgroup(&state.docker, &state.layout, &id, relative).await;
    match found {
        Ok(cgroup) => Ok(LiveContainer { id, cgroup }),
        Err(e) => {
            container::remove_container(&state.docker, &id).await;
            Err(e)
        }
    }
}

/// Makes a box's network, volume and container, with a uid of its own.
/// The box id is the objects' name; the caller's labels are on all three.
pub(crate) async fn make_box(state: &BackendState, spec: &BoxSpec, image: &str) -> Result<MadeBox, SandboxError> {
    let uid = state.uids.take()?;
    let made = make_objects(state, spec, image, uid).await;
    if made.is_err() {
        state.uids.give_back(uid);
    }
    made
}

async fn make_objects(state: &BackendState, spec: &BoxSpec, image: &str, uid: u32) -> Result<MadeBox, SandboxError> {
    let serial = state.next_box.fetch_add(1, Ordering::Relaxed);
    let name = format!("bytesbox-{}-b{serial}", state.instance);
    let objects =
        BoxObjects { name: name.clone(), labels: container::box_labels(&state.instance, &name, &spec.labels) };
    // Another server (or backend) on this engine may hold a subnet our
    // pool thinks is free: the engine says it overlaps, and we move on.
    let mut network = None;
    for _ in 0..64 {
        let (index, subnet) = state
            .subnets
            .lock()
            .map_err(|_| SandboxError::Internal("subnet pool poisoned".into()))?
            .take()
            .ok_or_else(|| SandboxError::Unavailable("every session subnet of the pool is in use".into()))?;
        match container::create_network(&state.docker, &objects, &subnet).await {
            Ok(_) => {
                network = Some(index);
                break;
            }
            Err(e) if e.to_string().contains("overlaps") => {
                if let Ok(mut pool) = state.subnets.lock() {
                    pool.mark_foreign(index);
                }
            }
            Err(e) => {
                if let Ok(mut pool) = state.subnets.lock() {
                    pool.give_back(index);
                }
                return Err(e);
            }
        }
    }
    let subnet_index =
        network.ok_or_else(|| SandboxError::Unavailable("no free session subnet on this engine".into()))?;
    let made = async {
        container::create_volume(&state.docker, &objects, spec.limits.workspace_bytes, uid, uid).await?;
        new_container(state, spec, image, &objects).await
    }
    .await;
    match made {
        Ok(live) => Ok(MadeBox { objects, subnet_index, uid, live, image: image.to_string() }),
        Err(e) => {
            container::remove_network(&state.docker, &name).await;
            container::remove_volume(&state.docker, &name).await;
            if let Ok(mut pool) = state.subnets.lock() {
                pool.give_back(subnet_index);
            }
            Err(e)
        }
    }
}

/// The cgroup of a just-started container. On cgroup v2 the container's
/// init moves into an `init` leaf first, so the container's cgroup may
/// have run cgroups as children.
async fn container_cgroup(
    docker: &Docker,
    layout: &CgroupLayout,
    id: &str,
    relative: PathBuf,
) -> Result<Cgroup, SandboxError> {
    let cgroup = Cgroup::open_existing(layout, &relative)
        .map_err(|e| SandboxError::Internal(format!("container cgroup: {e}")))?;
    if !layout.hierarchies().iter().all(|root| root.join(&relative).is_dir()) {
        return Err(SandboxError::Unavailable(format!(
            "the container's cgroup {} is missing: the docker backend needs the engine on this host with the \
             cgroupfs driver",
            relative.display()
        )));
    }
    if layout.version() == CgroupVersion::V2 {
        let inspect = docker
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| api_error("inspecting the box container", e))?;
        let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0);
        let init = Cgroup::open_existing(layout, &relative.join("init"))
            .and_then(|leaf| {
                for root in layout.hierarchies() {
                    std::fs::create_dir_all(root.join(leaf.relative())).map_err(|source| {
                        bytesbox_cgroups::CgroupError::Create { path: root.join(leaf.relative()), source }
                    })?;
                }
                leaf.add_pid(i32::try_from(pid).unwrap_or(0))
            })
            .map_err(|e| SandboxError::Internal(format!("moving the container init to its leaf: {e}")));
        init?;
    }
    Ok(cgroup)
}
