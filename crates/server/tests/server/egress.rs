//! Egress (`docs/egress.md`) on the native backend through the real
//! server: a user whose plan has egress clones from, commits to and pushes
//! to a git server on a test host in a network namespace of the test's own,
//! and installs a package from its index with pip; everything else is
//! refused by the proxy (loopback, the host's loopback services, private
//! and link-local addresses, a name that resolves to loopback, a port not
//! allowed), and a guest, whose plan has no egress, has no proxy at all.

use bytesbox_egress::{EgressConfig, EgressPolicy};
use bytesbox_server::accounts::AccountsConfig;
use bytesbox_testkit::test_hosts::{TestHost, PACKAGE, PACKAGE_VALUE};
use serde_json::{json, Value};

use crate::accounts::{sign_in_raw, ws_with};
use crate::test_server::{Server, Stores, TestServer};
use crate::{connect, send, stdout, until_done, Socket};

/// The proxy's port in each box.
const PORT: u16 = 3128;

/// The rules of these tests: the test host by address and by a name; and,
/// to show that a listed name still cannot reach them, names that resolve
/// to loopback, to this host's side of the veth and to the metadata address.
fn policy(host: &TestHost, server_port: u16) -> EgressPolicy {
    let text = format!(
        r#"
        port = {PORT}
        rules = [
            {{ hosts = ["{address}/32", "git.test"], ports = [80, 8000] }},
            {{ hosts = ["sneaky.test", "localhost"], ports = [80, {server_port}] }},
            {{ hosts = ["private.test", "metadata.test"], ports = [80] }},
        ]
        [hosts]
        "git.test" = ["{address}"]
        "sneaky.test" = ["127.0.0.1"]
        "private.test" = ["{host_side}"]
        "metadata.test" = ["169.254.169.254"]
        "#,
        address = host.address,
        host_side = host.host_side,
    );
    let config: EgressConfig = toml::from_str(&text).unwrap();
    EgressPolicy::new(&config, bytesbox_egress::host_addresses()).unwrap().unwrap()
}

/// As root: a test host, and a native server with accounts where the
/// `default` plan (new users') has egress and the guest plan has not;
/// `service_port` is a port of the host's loopback that the rules list for
/// names resolving to loopback. `None` when `require_root` skipped the test.
async fn start(test: &str, service_port: u16) -> Option<(TestHost, Server)> {
    if !bytesbox_testkit::require_root(test) {
        return None;
    }
    let host = TestHost::start().unwrap();
    let policy = policy(&host, service_port);
    let server = TestServer::new()
        .accounts(AccountsConfig::default(), "[default]\negress = true\n", Stores::SqliteAndFiles)
        .sessions(|sessions| sessions.egress = Some(policy))
        .native()
        .start()
        .await;
    Some((host, server))
}

async fn signed_in_socket(server: &Server, username: &str) -> Socket {
    let (cookie, _csrf) = sign_in_raw(&server.base, username, true).await;
    let (socket, hello) = ws_with(&server.url, &[("cookie", &cookie)]).await.unwrap();
    assert_eq!(hello["type"], "hello");
    socket
}

/// Runs `script` (with `files` beside it) in the session's box; its
/// stdout, or a panic with everything it said.
async fn run_ok(socket: &mut Socket, id: &str, script: &str, files: &[(&str, &str)]) -> String {
    // Within the guest plan's maxima (60 s), and time enough for pip.
    let mut all = vec![json!({"path": "main.sh", "content": script})];
    all.extend(files.iter().map(|(path, content)| json!({"path": path, "content": content})));
    let frame = json!({"type": "run", "id": id, "language": "sh", "files": all,
        "limits": {"wall_time_ms": 60_000, "cpu_time_ms": 60_000, "memory_bytes": 256 * 1024 * 1024}});
    send(socket, frame).await;
    let frames = until_done(socket, id).await;
    let exit = frames.iter().find(|f| f["type"] == "exit");
    let said: Vec<&Value> = frames.iter().filter(|f| f["type"] == "output").collect();
    assert_eq!(exit.map(|e| &e["status"]), Some(&json!("ok")), "{id}: {said:?} {exit:?} {:?}", frames.last());
    stdout(&frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_egress_clones_commits_and_pushes_to_an_allowed_host() {
    let test = "a_plan_with_egress_clones_commits_and_pushes_to_an_allowed_host";
    let Some((host, server)) = start(test, 9).await else { return };
    let mut socket = signed_in_socket(&server, "ada").await;
    let script = format!(
        "set -e\n\
         env | grep -i _proxy= | sort\n\
         git clone --quiet {url} /tmp/clone\n\
         cd /tmp/clone\n\
         cat README\n\
         echo 'from the box' > pushed.txt\n\
         git add pushed.txt\n\
         git -c user.name=Ada -c user.email=ada@test.invalid commit --quiet -m 'pushed from a box'\n\
         git push --quiet origin main\n\
         git clone --quiet http://git.test/repo.git /tmp/by-name\n\
         cat /tmp/by-name/pushed.txt\n",
        url = host.repository_url()
    );
    let out = run_ok(&mut socket, "git", &script, &[]).await;
    let proxy = format!("http://127.0.0.1:{PORT}");
    for variable in ["HTTPS_PROXY", "HTTP_PROXY", "http_proxy", "https_proxy"] {
        assert!(out.contains(&format!("{variable}={proxy}\n")), "{variable} in {out}");
    }
    assert!(out.contains("no_proxy=localhost,127.0.0.1\n"), "{out}");
    assert!(out.contains("seeded by the test host\n"), "the clone has the host's commit: {out}");
    assert!(out.ends_with("from the box\n"), "a clone by name has the pushed commit: {out}");
    assert_eq!(host.last_commit_subject().unwrap(), "pushed from a box", "the push arrived on the test host");
    let egress = server.sessions.egress().unwrap();
    assert_eq!(egress.proxied_boxes(), 1);
    let (status, _, page) = crate::http_from(None, &server.url, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let relayed = page
        .lines()
        .find(|line| line.starts_with("bytesbox_egress_connections_total{") && line.contains("outcome=\"relayed\""));
    let relayed: u64 = relayed.and_then(|line| line.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(relayed >= 4, "a clone and a push are several requests: {relayed}");
    drop(socket);
    server.sessions.close_all().await;
    assert_eq!(server.sessions.egress().unwrap().proxied_boxes(), 0, "the proxy ended with the box");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_egress_installs_a_package_from_an_allowed_index() {
    let test = "a_plan_with_egress_installs_a_package_from_an_allowed_index";
    let Some((host, server)) = start(test, 9).await else { return };
    let mut socket = signed_in_socket(&server, "ada").await;
    // pip refuses a plain-http index unless it is trusted; the host's pip
    // is the Debian one, which refuses installs beside the system's
    // packages: `--target` puts them in the box's /tmp.
    let script = format!(
        "set -e\n\
         PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check \
         --target /tmp/packages --index-url {index} --trusted-host {address}:8000 {PACKAGE}\n\
         PYTHONPATH=/tmp/packages python3 -c 'import {PACKAGE}; print({PACKAGE}.VALUE)'\n",
        index = host.index_url(),
        address = host.address,
    );
    let out = run_ok(&mut socket, "pip", &script, &[]).await;
    assert_eq!(out, format!("{PACKAGE_VALUE}\n"));
    drop(socket);
    server.stop().await;
}

/// Sends raw requests to the proxy from the box and prints each answer's
/// status line and text; then tries the test host without the proxy.
const PROBE: &str = r#"
import os, socket, sys
port = int(os.environ["http_proxy"].rsplit(":", 1)[1])
def ask(label, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(request.encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    print(label, "=>", head.split(b"\r\n")[0].decode(), "|", body.decode(errors="replace").strip().splitlines()[0])
for target in sys.argv[2:]:
    ask(target, f"GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\n\r\n")
ask("connect-loopback", "CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n")
try:
    socket.create_connection((sys.argv[1], 80), timeout=5)
    print("direct => reached")
except OSError as error:
    print("direct => refused", error.errno)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_but_the_allowed_hosts_and_ports_is_refused() {
    let test = "everything_but_the_allowed_hosts_and_ports_is_refused";
    // A service of the host's loopback, which the rules list for names.
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let service_port = service.local_addr().unwrap().port();
    let Some((host, server)) = start(test, service_port).await else { return };
    let server_port = server.address.rsplit(':').next().unwrap().to_string();
    let mut socket = signed_in_socket(&server, "ada").await;
    let (address, host_side) = (host.address.to_string(), host.host_side.to_string());
    let cases = [
        (format!("{address}:8000/simple/{PACKAGE}"), "200 OK", ""),
        (format!("127.0.0.1:{server_port}"), "403 Forbidden", "not on this server's egress allow list"),
        (format!("localhost:{service_port}"), "403 Forbidden", "a loopback address"),
        (format!("sneaky.test:{service_port}"), "403 Forbidden", "is 127.0.0.1, a loopback address"),
        ("sneaky.test".to_string(), "403 Forbidden", "is 127.0.0.1, a loopback address"),
        (host_side.clone(), "403 Forbidden", "not on this server's egress allow list"),
        ("private.test".to_string(), "403 Forbidden", &format!("is {host_side}, a private address")),
        ("169.254.169.254".to_string(), "403 Forbidden", "not on this server's egress allow list"),
        ("metadata.test".to_string(), "403 Forbidden", "a link-local address"),
        (format!("{address}:9"), "403 Forbidden", "port 9 is not allowed"),
        (format!("git.test:{server_port}"), "403 Forbidden", &format!("port {server_port} is not allowed")),
    ];
    let targets: Vec<&str> = cases.iter().map(|(target, _, _)| target.as_str()).collect();
    let script = format!("python3 probe.py {address} {}\n", targets.join(" "));
    let out = run_ok(&mut socket, "probe", &script, &[("probe.py", PROBE)]).await;
    let answers: Vec<&str> = out.lines().collect();
    for (target, status, reason) in &cases {
        let line = answers.iter().find(|line| line.starts_with(&format!("{target} => "))).unwrap_or_else(|| {
            panic!("no answer for {target}: {out}");
        });
        assert!(line.contains(&format!(" {status} | ")) && line.contains(reason), "{target}: {line}");
    }
    let connect = answers.iter().find(|line| line.starts_with("connect-loopback => ")).unwrap();
    assert!(connect.contains("403 Forbidden"), "{connect}");
    let direct = answers.iter().find(|line| line.starts_with("direct => ")).unwrap();
    assert!(direct.starts_with("direct => refused"), "the box itself has no route out: {direct}");
    drop((socket, service));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_whose_plan_has_no_egress_gets_no_proxy() {
    let test = "a_guest_whose_plan_has_no_egress_gets_no_proxy";
    let Some((_host, server)) = start(test, 9).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    let script = format!(
        "env | grep -ci proxy || true\n\
         python3 -c 'import socket\ntry:\n socket.create_connection((\"127.0.0.1\", {PORT}), timeout=5)\n \
         print(\"proxy reached\")\nexcept OSError as e:\n print(\"refused\", e.errno)'\n"
    );
    let out = run_ok(&mut socket, "guest", &script, &[]).await;
    assert_eq!(out.lines().next(), Some("0"), "no proxy variables: {out}");
    assert!(out.contains("refused 111"), "nothing listens on the proxy's port: {out}");
    let egress = server.sessions.egress().unwrap();
    assert_eq!(egress.proxied_boxes(), 0, "the guest's box has no proxy");
    drop(socket);
    server.stop().await;
}
