//! DNS rebinding: a page on `attacker.example` re-points its name at the
//! server, so the browser sends `Host` and `Origin` naming the attacker's
//! domain and treats the answers as same-origin. Every such WebSocket
//! upgrade and API request must be refused, while a victim on loopback
//! (and a browser on the configured public URL) is served as usual.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::report::record;
use crate::served::{next, send, Served, Socket};

const ATTACK: &str = "dns_rebinding";
/// Forged upgrades and API requests each, bounded.
const ATTEMPTS: usize = 20;

/// Opens a WebSocket with `Host` and `Origin` set; `Err(status)` when the
/// upgrade is refused.
async fn upgrade(address: &str, path: &str, host: &str, origin: &str) -> Result<Socket, u16> {
    let mut request = format!("ws://{address}{path}").into_client_request().unwrap();
    request.headers_mut().insert("host", HeaderValue::from_str(host).unwrap());
    request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("upgrade failed without an HTTP answer: {other}"),
    }
}

/// Runs `echo hi` on `socket`; its stdout.
async fn echo(socket: &mut Socket, id: &str) -> String {
    let run =
        json!({"type": "run", "id": id, "language": "bash", "files": [{"path": "main.sh", "content": "echo hi"}]});
    send(socket, run).await;
    let mut stdout = String::new();
    loop {
        let frame = next(socket).await;
        if frame["id"] != id {
            continue;
        }
        match frame["type"].as_str() {
            Some("output") if frame["stream"] == "stdout" => stdout.push_str(frame["data"].as_str().unwrap()),
            Some("done" | "error") => return stdout,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebound_hosts_are_refused_while_loopback_is_served() {
    if !bytesbox_testkit::require_root("rebound_hosts_are_refused_while_loopback_is_served") {
        return;
    }
    let served = Served::start("[accounts]\npublic_url = \"https://ide.example.com\"\n");
    let address = served.address.clone();
    let port = address.rsplit(':').next().unwrap().to_string();
    let forged_host = format!("attacker.example:{port}");
    let forged_origin = format!("http://attacker.example:{port}");

    // The victim, at the same time: a normal client on loopback.
    let victim_address = address.clone();
    let victim = tokio::spawn(async move {
        let started = Instant::now();
        let own_origin = format!("http://{victim_address}");
        let mut socket = upgrade(&victim_address, "/api/v1/ws", &victim_address, &own_origin).await.unwrap();
        assert_eq!(next(&mut socket).await["type"], "hello");
        let stdout = echo(&mut socket, "victim").await;
        (stdout, started.elapsed())
    });

    let mut upgrades_accepted = 0;
    let mut api_answered = 0;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for attempt in 0..ATTEMPTS {
        let path = if attempt % 2 == 0 { "/api/v1/ws" } else { "/api/v2/connect" };
        match upgrade(&address, path, &forged_host, &forged_origin).await {
            Ok(_) => upgrades_accepted += 1,
            Err(status) => assert_eq!(status, 421, "a rebound upgrade of {path}"),
        }
        let response = http
            .post(format!("http://{address}/api/v1/execute"))
            .header("host", &forged_host)
            .header("origin", &forged_origin)
            .json(&json!({"language": "bash", "files": [{"path": "main.sh", "content": "echo pwned"}]}))
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            api_answered += 1;
        }
    }
    record(ATTACK, &format!("rebound upgrades accepted (of {ATTEMPTS})"), upgrades_accepted);
    record(ATTACK, &format!("rebound execute requests run (of {ATTEMPTS})"), api_answered);

    let (stdout, latency) = victim.await.unwrap();
    record(ATTACK, "victim connect + echo over loopback (ms)", latency.as_millis());
    assert_eq!(stdout, "hi\n", "the victim on loopback is served");
    assert_eq!(upgrades_accepted, 0, "a DNS-rebinding page opened a WebSocket");
    assert_eq!(api_answered, 0, "a DNS-rebinding page ran code");

    // The configured public URL is served, like loopback.
    let mut public = upgrade(&address, "/api/v1/ws", "ide.example.com", "https://ide.example.com").await.unwrap();
    assert_eq!(next(&mut public).await["type"], "hello");
    assert_eq!(echo(&mut public, "public").await, "hi\n");
}
