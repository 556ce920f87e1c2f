//! Removes what a crashed server left in the engine: containers, networks
//! and volumes whose instance label names a server process that is gone,
//! and that instance's cgroup directory.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use bollard::Docker;
use bytesbox_cgroups::{instance_is_alive, Cgroup, CgroupLayout, ROOT_NAME};

use crate::container;
use crate::daemon::labels;

/// The kind of an engine object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container.
    Container,
    /// A network.
    Network,
    /// A volume.
    Volume,
}

fn filter(label: String) -> Option<HashMap<String, Vec<String>>> {
    Some(HashMap::from([("label".to_string(), vec![label])]))
}

/// Every object of the Docker backend: kind, name and instance label.
async fn all_objects(docker: &Docker, label: String) -> Vec<(Kind, String, String)> {
    let mut found = Vec::new();
    let instance_of = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(labels::INSTANCE)).cloned().unwrap_or_default()
    };
    let options =
        ListContainersOptions { all: true, filters: filter(label.clone()), ..ListContainersOptions::default() };
    if let Ok(containers) = docker.list_containers(Some(options)).await {
        for c in containers {
            let name = c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string());
            if let Some(name) = name.or(c.id.clone()) {
                found.push((Kind::Container, name, instance_of(c.labels.as_ref())));
            }
        }
    }
    if let Ok(networks) = docker.list_networks(Some(ListNetworksOptions { filters: filter(label.clone()) })).await {
        for n in networks {
            if let Some(name) = n.name.clone() {
                found.push((Kind::Network, name, instance_of(n.labels.as_ref())));
            }
        }
    }
    if let Ok(volumes) = docker.list_volumes(Some(ListVolumesOptions { filters: filter(label) })).await {
        for v in volumes.volumes.unwrap_or_default() {
            found.push((Kind::Volume, v.name.clone(), instance_of(Some(&v.labels))));
        }
    }
    found
}

/// Objects labelled with this instance.
pub async fn objects_of_instance(docker: &Docker, instance: &str) -> Vec<(Kind, String)> {
    all_objects(docker, format!("{}={instance}", labels::INSTANCE))
        .await
        .into_iter()
        .map(|(kind, name, _)| (kind, name))
        .collect()
}

/// Subnets of the backend's networks that exist now (any instance).
pub async fn subnets_in_use(docker: &Docker) -> Vec<String> {
    let label = format!("{}={}", labels::BACKEND, labels::BACKEND_VALUE);
    let Ok(networks) = docker.list_networks(Some(ListNetworksOptions { filters: filter(label) })).await else {
        return Vec::new();
    };
    networks
        .into_iter()
        .filter_map(|n| n.ipam)
        .flat_map(|ipam| ipam.config.unwrap_or_default())
        .filter_map(|config| config.subnet)
        .collect()
}

/// Removes every object (and cgroup tree) of dead instances; returns how
/// many objects went.
pub async fn reap_orphans(docker: &Docker, layout: &CgroupLayout) -> usize {
    let label = format!("{}={}", labels::BACKEND, labels::BACKEND_VALUE);
    let mut dead = HashSet::new();
    let mut removed = 0;
    let objects = all_objects(docker, label).await;
    // Containers first: networks and volumes in use cannot be removed.
    for kind in [Kind::Container, Kind::Network, Kind::Volume] {
        for (_, name, instance) in objects.iter().filter(|(k, _, _)| *k == kind) {
            if instance_is_alive(instance) {
                continue;
            }
            dead.insert(instance.clone());
            let gone = match kind {
                Kind::Container => container::remove_container(docker, name).await,
                Kind::Network => container::remove_network(docker, name).await,
                Kind::Volume => container::remove_volume(docker, name).await,
            };
            if gone {
                removed += 1;
            }
        }
    }
    for instance in dead {
        if instance.is_empty() || instance.contains('/') || instance.starts_with('.') {
            continue;
        }
        if let Ok(cgroup) = Cgroup::open_existing(layout, &PathBuf::from(ROOT_NAME).join(&instance)) {
            let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
        }
        // The engine's directories in the hierarchies the layout does not use.
        let relative = PathBuf::from(ROOT_NAME).join(&instance);
        let _ = tokio::task::spawn_blocking(move || {
            crate::cgroup_dirs::remove_empty(&crate::cgroup_dirs::cgroup_mounts(), &relative)
        })
        .await;
    }
    removed
}
