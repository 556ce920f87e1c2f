//! The fleet's nodes.

use std::time::Duration;

use bytesbox_store::{NodeLoad, NodeRegistration, NodeState, RunPlace, Store, StoreError};
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

pub async fn run_places_count_a_users_runs_on_live_nodes_only(store: &Store) {
    let first = registration(10);
    let second = registration(10);
    store.register_node(&first).await.unwrap();
    store.register_node(&second).await.unwrap();
    let user = crate::fresh_user(store).await;
    let other = crate::fresh_user(store).await;
    let place = |node: &NodeRegistration, user: &bytesbox_store::User| RunPlace {
        id: format!("p{}", unique_suffix()),
        user: user.id.clone(),
        node: node.id.clone(),
    };
    let timeout = Duration::from_secs(60);

    // Two places, one on each node, fill a limit of two; the other user's
    // places are their own.
    let on_first = place(&first, &user);
    assert!(store.take_run_place(&on_first, 2, timeout).await.unwrap());
    assert!(store.take_run_place(&place(&second, &user), 2, timeout).await.unwrap());
    assert!(!store.take_run_place(&place(&first, &user), 2, timeout).await.unwrap(), "a third place over two nodes");
    assert!(store.take_run_place(&place(&first, &other), 2, timeout).await.unwrap());
    assert_eq!(store.run_places_of(&user.id, timeout).await.unwrap(), 2);

    // A released place is free again; releasing twice is harmless.
    store.release_run_places(&[on_first.id.clone(), on_first.id.clone()]).await.unwrap();
    assert_eq!(store.run_places_of(&user.id, timeout).await.unwrap(), 1);
    assert!(store.take_run_place(&place(&first, &user), 2, timeout).await.unwrap());

    // Nodes that take places at once never overshoot the limit together.
    let racer = crate::fresh_user(store).await;
    let takes = (0..12).map(|index| {
        let node = if index % 2 == 0 { &first } else { &second };
        let candidate = place(node, &racer);
        async move { store.take_run_place(&candidate, 3, timeout).await.unwrap() }
    });
    let taken = futures_util::future::join_all(takes).await.into_iter().filter(|taken| *taken).count();
    assert_eq!(taken, 3, "twelve concurrent takes of a limit of three");

    // The second node falls silent: its runs died with it, so its places
    // no longer count, and the next take removes them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.node_heartbeat(&first.id, NodeLoad { boxes: 0, sessions: 0 }).await.unwrap();
    let short = Duration::from_millis(200);
    assert_eq!(store.run_places_of(&user.id, short).await.unwrap(), 1, "only the live node's place counts");
    assert!(store.take_run_place(&place(&first, &user), 2, short).await.unwrap());
    store.register_node(&second).await.unwrap();
    assert_eq!(store.run_places_of(&user.id, timeout).await.unwrap(), 2, "the silent node's place was removed");

    // A node starting again under its id frees whatever it held.
    store.release_node_run_places(&first.id).await.unwrap();
    assert_eq!(store.run_places_of(&user.id, timeout).await.unwrap(), 0);
    store.remove_node(&first.id).await.unwrap();
    store.remove_node(&second.id).await.unwrap();
}
