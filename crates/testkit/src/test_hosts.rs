//! "Other machines" for egress tests (`docs/egress.md`), made on this host
//! and never anywhere else: a network namespace of the test's own joined
//! to the root namespace by a veth pair on a private /30, serving a git
//! repository over smart HTTP (`git http-backend`) on port 80 and a simple
//! package index with one tiny wheel on port 8000. Everything is removed
//! on drop, a panicking test's too. Needs root (`ip netns`).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The port of the git server.
pub const GIT_PORT: u16 = 80;
/// The port of the package index.
pub const INDEX_PORT: u16 = 8000;
/// The bare repository the git server serves (`/repo.git`).
pub const REPOSITORY: &str = "repo.git";
/// The package the index has, and what its module holds.
pub const PACKAGE: &str = "bbxdemo";
/// `bbxdemo.VALUE`.
pub const PACKAGE_VALUE: &str = "served by the test host";

/// Serves `git http-backend` as CGI: `python3 SCRIPT ROOT ADDRESS PORT`.
const GIT_SERVER: &str = r#"
import http.server, os, subprocess, sys
root, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.cgi()

    def do_POST(self):
        self.cgi()

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def cgi(self):
        path, _, query = self.path.partition("?")
        body = self.body()
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", REQUEST_METHOD=self.command,
                   PATH_INFO=path, QUERY_STRING=query, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_ADDR=self.client_address[0])
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, separator, rest = out.partition(b"\r\n\r\n")
        if not separator:
            head, separator, rest = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()
"#;

/// Writes `simple/NAME/index.html` and the wheel it points at:
/// `python3 SCRIPT DIR NAME VALUE`.
const PACKAGE_INDEX: &str = r#"
import base64, hashlib, os, sys, zipfile
root, name, value = sys.argv[1], sys.argv[2], sys.argv[3]
version = "1.0"
wheel = f"{name}-{version}-py3-none-any.whl"
files = {
    f"{name}/__init__.py": f"VALUE = {value!r}\n",
    f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: bytesbox-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def digest(text):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
record = "".join(f"{path},{digest(text)},{len(text.encode())}\n" for path, text in files.items())
record += f"{name}-{version}.dist-info/RECORD,,\n"
files[f"{name}-{version}.dist-info/RECORD"] = record
package_dir = os.path.join(root, "simple", name)
os.makedirs(package_dir)
with zipfile.ZipFile(os.path.join(package_dir, wheel), "w") as archive:
    for path, text in files.items():
        archive.writestr(path, text)
with open(os.path.join(package_dir, "index.html"), "w") as index:
    index.write(f'<!DOCTYPE html><html><body><a href="{wheel}">{wheel}</a></body></html>\n')
"#;

/// A test host in a network namespace of its own.
#[derive(Debug)]
pub struct TestHost {
    namespace: String,
    host_link: String,
    /// The test host's address (the namespace's end of the veth).
    pub address: Ipv4Addr,
    /// The root namespace's end of the veth: a private address of this
    /// host that boxes must not reach.
    pub host_side: Ipv4Addr,
    servers: Vec<Child>,
    dir: tempfile::TempDir,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git").args(args).current_dir(dir).output().map_err(|e| format!("git {args:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl TestHost {
    /// Makes the namespace, the veth pair on a free /30 of `10.231.0.0/16`
    /// and the two servers, and waits until both answer.
    pub fn start() -> Result<TestHost, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // The index is chosen and the links made under a lock, so test
        // binaries running at once never pick the same /30.
        let lock = std::fs::File::create(std::env::temp_dir().join("bytesbox-test-hosts.lock"))
            .map_err(|e| format!("the test hosts' lock: {e}"))?;
        // SAFETY: `flock` on a descriptor we own; released when the file
        // is closed at the end of this function.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
            return Err(format!("locking the test hosts' lock: {}", std::io::Error::last_os_error()));
        }
        let index = (0..=255u8)
            .find(|i| !Path::new(&format!("/sys/class/net/bbxeh{i}")).exists())
            .ok_or("every test host index is taken")?;
        let mut host = TestHost {
            namespace: format!("bbx-egress-{index}"),
            host_link: format!("bbxeh{index}"),
            address: Ipv4Addr::new(10, 231, index, 2),
            host_side: Ipv4Addr::new(10, 231, index, 1),
            servers: Vec::new(),
            dir,
        };
        // Whatever a killed test left under this name goes first.
        let _ = ip(&["netns", "del", &host.namespace]);
        ip(&["netns", "add", &host.namespace])?;
        let peer = format!("bbxep{index}");
        let (ns, link) = (host.namespace.clone(), host.host_link.clone());
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer])?;
        ip(&["link", "set", &peer, "netns", &ns])?;
        ip(&["addr", "add", &format!("{}/30", host.host_side), "dev", &link])?;
        ip(&["link", "set", &link, "up"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{}/30", host.address), "dev", &peer])?;
        ip(&["-n", &ns, "link", "set", &peer, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        drop(lock);
        host.serve()?;
        Ok(host)
    }

    fn serve(&mut self) -> Result<(), String> {
        let root = self.dir.path().join("git");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        git(&root, &["init", "--bare", "--quiet", "-b", "main", REPOSITORY])?;
        let bare = root.join(REPOSITORY);
        git(&bare, &["config", "http.receivepack", "true"])?;
        // A first commit, so a clone has something and a push is a fast-forward.
        let seed = self.dir.path().join("seed");
        git(self.dir.path(), &["clone", "--quiet", &bare.to_string_lossy(), "seed"])?;
        std::fs::write(seed.join("README"), "seeded by the test host\n").map_err(|e| e.to_string())?;
        let identity = ["-c", "user.name=Test Host", "-c", "user.email=host@test.invalid"];
        git(&seed, &["add", "README"])?;
        git(&seed, &[&identity[..], &["commit", "--quiet", "-m", "seed"]].concat())?;
        git(&seed, &["push", "--quiet", "origin", "main"])?;
        // Served as root inside the namespace; the box's user pushes.
        let chown = Command::new("chmod").args(["-R", "a+rwX"]).arg(&root).status().map_err(|e| e.to_string())?;
        if !chown.success() {
            return Err("chmod of the repository failed".into());
        }

        let scripts = self.dir.path();
        std::fs::write(scripts.join("git_server.py"), GIT_SERVER).map_err(|e| e.to_string())?;
        std::fs::write(scripts.join("package_index.py"), PACKAGE_INDEX).map_err(|e| e.to_string())?;
        let index = self.dir.path().join("index");
        let made = Command::new("python3")
            .arg(scripts.join("package_index.py"))
            .arg(&index)
            .args([PACKAGE, PACKAGE_VALUE])
            .status()
            .map_err(|e| e.to_string())?;
        if !made.success() {
            return Err("building the package index failed".into());
        }
        let address = self.address.to_string();
        let git_server = self
            .in_namespace("python3")
            .arg(scripts.join("git_server.py"))
            .arg(&root)
            .args([&address, &GIT_PORT.to_string()])
            .spawn()
            .map_err(|e| format!("the git server: {e}"))?;
        self.servers.push(git_server);
        let index_server = self
            .in_namespace("python3")
            .args(["-m", "http.server", &INDEX_PORT.to_string(), "--bind", &address, "--directory"])
            .arg(&index)
            .spawn()
            .map_err(|e| format!("the package index: {e}"))?;
        self.servers.push(index_server);
        for port in [GIT_PORT, INDEX_PORT] {
            self.wait_for(port)?;
        }
        Ok(())
    }

    fn in_namespace(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespace, program]).stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    fn wait_for(&self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let target = SocketAddr::from((self.address, port));
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("the test host's server on {target} did not answer"))
    }

    /// The bare repository on the test host, to check what a push brought.
    pub fn repository(&self) -> PathBuf {
        self.dir.path().join("git").join(REPOSITORY)
    }

    /// The subject of the repository's last commit on `main`.
    pub fn last_commit_subject(&self) -> Result<String, String> {
        git(&self.repository(), &["log", "-1", "--format=%s", "main"]).map(|s| s.trim().to_string())
    }

    /// `http://ADDRESS/repo.git`.
    pub fn repository_url(&self) -> String {
        format!("http://{}/{REPOSITORY}", self.address)
    }

    /// `http://ADDRESS:8000/simple`.
    pub fn index_url(&self) -> String {
        format!("http://{}:{INDEX_PORT}/simple", self.address)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespace deletes its end of the veth, and with it
        // the pair; the host's end is deleted too in case it was not.
        let _ = ip(&["netns", "del", &self.namespace]);
        let _ = ip(&["link", "del", &self.host_link]);
    }
}
