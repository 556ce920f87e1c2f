//! The Docker engine as the tests see it: whether it and the runtime
//! images are there, and what a server process left in it. Each test
//! binary uses a part.
#![allow(dead_code)]

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use bytesbox_docker::{labels, DEFAULT_IMAGE};
use bytesbox_testkit::require_root;

/// Root, the engine and the runtime images: a failure in CI without them,
/// a loud skip elsewhere.
pub async fn require_docker(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let problem = bytesbox_docker::check_ready(DEFAULT_IMAGE).await.err().map(|e| e.to_string());
    bytesbox_testkit::require_prerequisite(test, "the Docker engine and the runtime images", problem)
}

/// Containers, networks and volumes of the server process `pid`.
pub async fn engine_objects_of(pid: i32) -> Vec<String> {
    let docker = bytesbox_docker::connect(None).await.unwrap();
    let prefix = format!("i{pid}-");
    let filters =
        Some(HashMap::from([("label".to_string(), vec![format!("{}={}", labels::BACKEND, labels::BACKEND_VALUE)])]));
    let ours = |l: Option<&HashMap<String, String>>| {
        l.and_then(|l| l.get(labels::INSTANCE)).is_some_and(|i| i.starts_with(&prefix))
    };
    let mut found = Vec::new();
    let options = ListContainersOptions { all: true, filters: filters.clone(), ..ListContainersOptions::default() };
    for c in docker.list_containers(Some(options)).await.unwrap() {
        if ours(c.labels.as_ref()) {
            found.push(format!("container {:?}", c.names));
        }
    }
    for n in docker.list_networks(Some(ListNetworksOptions { filters: filters.clone() })).await.unwrap() {
        if ours(n.labels.as_ref()) {
            found.push(format!("network {:?}", n.name));
        }
    }
    for v in docker.list_volumes(Some(ListVolumesOptions { filters })).await.unwrap().volumes.unwrap_or_default() {
        if ours(Some(&v.labels)) {
            found.push(format!("volume {}", v.name));
        }
    }
    found
}

/// Ids of every container the engine has, running or not.
pub async fn all_container_ids() -> Vec<String> {
    let docker = bytesbox_docker::connect(None).await.unwrap();
    let options = ListContainersOptions { all: true, ..ListContainersOptions::default() };
    docker.list_containers(Some(options)).await.unwrap().into_iter().filter_map(|c| c.id).collect()
}
