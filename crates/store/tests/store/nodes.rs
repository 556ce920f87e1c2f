//! The fleet's nodes.

use std::time::Duration;

use bytesbox_store::{NodeLoad, NodeRegistration, NodeState, Store, StoreError};
use bytesbox_testkit::stores::unique_suffix;

fn registration(capacity: u64) -> NodeRegistration {
    NodeRegistration { id: format!("n{}", unique_suffix()), address: "http://10.0.0.1:8080".into(), capacity }
}

/// Other tests may share the database: look only at this test's nodes.
async fn mine(store: &Store, ids: &[&str], timeout: Duration) -> Vec<bytesbox_store::NodeRecord> {
    let nodes = store.live_nodes(timeout).await.unwrap();
    nodes.into_iter().filter(|node| ids.contains(&node.id.as_str())).collect()
}

pub async fn nodes_register_heartbeat_drain_and_leave_the_fleet(store: &Store) {
    let first = registration(100);
    let second = NodeRegistration { address: "http://10.0.0.2:8080".into(), ..registration(7) };
    let ids = [first.id.as_str(), second.id.as_str()];
    store.register_node(&first).await.unwrap();
    store.register_node(&second).await.unwrap();
    let fleet = mine(store, &ids, Duration::from_secs(60)).await;
    assert_eq!(fleet.len(), 2, "{fleet:?}");
    let one = fleet.iter().find(|node| node.id == first.id).unwrap();
    assert_eq!((one.address.as_str(), one.capacity, one.boxes, one.sessions), ("http://10.0.0.1:8080", 100, 0, 0));
    assert_eq!(one.state, NodeState::Serving);
    assert_eq!(one.started_at_ms, one.heartbeat_at_ms);

    let state = store.node_heartbeat(&first.id, NodeLoad { boxes: 3, sessions: 2 }).await.unwrap();
    assert_eq!(state, NodeState::Serving);
    store.drain_node(&second.id).await.unwrap();
    let state = store.node_heartbeat(&second.id, NodeLoad { boxes: 1, sessions: 1 }).await.unwrap();
    assert_eq!(state, NodeState::Draining, "the node learns of its drain at its heartbeat");
    let fleet = mine(store, &ids, Duration::from_secs(60)).await;
    let one = fleet.iter().find(|node| node.id == first.id).unwrap();
    assert_eq!((one.boxes, one.sessions), (3, 2));
    assert!(one.heartbeat_at_ms >= one.started_at_ms);
    let two = fleet.iter().find(|node| node.id == second.id).unwrap();
    assert_eq!((two.state, two.capacity), (NodeState::Draining, 7));

    // A silent node is out of the fleet once its heartbeat is older than
    // the timeout; the other, heartbeating, stays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.node_heartbeat(&first.id, NodeLoad { boxes: 0, sessions: 0 }).await.unwrap();
    let fleet = mine(store, &ids, Duration::from_millis(200)).await;
    assert_eq!(fleet.iter().map(|node| node.id.as_str()).collect::<Vec<_>>(), vec![first.id.as_str()]);

    // Registering again (a restart with the same id) serves afresh.
    store.register_node(&second).await.unwrap();
    let fleet = mine(store, &ids, Duration::from_millis(200)).await;
    let two = fleet.iter().find(|node| node.id == second.id).unwrap();
    assert_eq!((two.state, two.boxes, two.sessions), (NodeState::Serving, 0, 0));

    store.remove_node(&first.id).await.unwrap();
    assert!(mine(store, &ids, Duration::from_secs(60)).await.iter().all(|node| node.id != first.id));
    let error = store.node_heartbeat(&first.id, NodeLoad { boxes: 0, sessions: 0 }).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound), "a removed node must register again: {error}");
    let error = store.drain_node("no such node").await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound), "{error}");
}
