//! Host-side bait the corpus probes for: a TCP listener on the host's
//! 127.0.0.1, an abstract Unix socket in the host's network namespace, and a
//! secret kept in the runner's environment and in a host file. A box must
//! reach none of them; the listeners count every connection.

use std::io::Read;
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::template::TemplateVars;

/// The environment variable holding the secret in the runner's process.
pub const SECRET_ENV: &str = "BYTESBOX_CONFORMANCE_SECRET";

/// Why the host context could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Random bytes could not be read.
    #[error("cannot read /dev/urandom: {0}")]
    Random(#[source] std::io::Error),
    /// The TCP or Unix listener could not be bound.
    #[error("cannot bind the host {what} listener: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The secret file could not be written.
    #[error("cannot write the host secret file: {0}")]
    SecretFile(#[source] std::io::Error),
}

fn random_hex(bytes: usize) -> Result<String, HostError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).map_err(HostError::Random)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The process-wide secret. It is generated once and put into this
/// process's environment once, so every context of one process agrees with
/// the environment a backend could leak.
fn process_secret() -> Result<String, HostError> {
    static SECRET: Mutex<Option<String>> = Mutex::new(None);
    let mut guard = SECRET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(secret) = guard.as_ref() {
        return Ok(secret.clone());
    }
    let secret = format!("bbx-conformance-secret-{}", random_hex(16)?);
    // Set once, before the secret is handed out; a backend started from
    // this process inherits it unless it builds the box environment itself.
    std::env::set_var(SECRET_ENV, &secret);
    *guard = Some(secret.clone());
    Ok(secret)
}

/// The host bait for one corpus run. Dropping it stops the listeners and
/// deletes the secret file.
#[derive(Debug)]
pub struct HostContext {
    port: u16,
    abstract_name: String,
    secret: String,
    secret_file: tempfile::TempPath,
    connections: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl HostContext {
    /// Binds the listeners, writes the secret file and sets the secret in
    /// this process's environment. Needs a tokio runtime. Create it before
    /// starting the backend so the backend's processes would inherit the
    /// secret if they inherited the runner's environment.
    pub async fn start() -> Result<HostContext, HostError> {
        let secret = process_secret()?;
        let connections = Arc::new(AtomicU64::new(0));

        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| HostError::Bind { what: "TCP", source })?;
        let port = tcp.local_addr().map_err(|source| HostError::Bind { what: "TCP", source })?.port();
        let counter = Arc::clone(&connections);
        let tcp_task = tokio::spawn(async move {
            while let Ok((stream, _peer)) = tcp.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });

        let abstract_name = format!("bytesbox-conformance-{}", random_hex(8)?);
        let unix = bind_abstract(&abstract_name)?;
        let counter = Arc::clone(&connections);
        let unix_task = tokio::spawn(async move {
            while let Ok((stream, _peer)) = unix.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });

        let mut file = tempfile::Builder::new()
            .prefix("bytesbox-conformance-secret-")
            .tempfile()
            .map_err(HostError::SecretFile)?;
        std::io::Write::write_all(&mut file, secret.as_bytes()).map_err(HostError::SecretFile)?;
        let secret_file = file.into_temp_path();

        Ok(HostContext { port, abstract_name, secret, secret_file, connections, tasks: vec![tcp_task, unix_task] })
    }

    /// The host TCP port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The abstract Unix socket name (without the leading NUL).
    pub fn abstract_socket(&self) -> &str {
        &self.abstract_name
    }

    /// The secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The absolute path of the host file holding the secret.
    pub fn secret_path(&self) -> &Path {
        &self.secret_file
    }

    /// Connections accepted so far by either listener.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// The values for the corpus placeholders.
    pub fn vars(&self) -> TemplateVars {
        let path: PathBuf = self.secret_file.to_path_buf();
        TemplateVars::new(
            self.port,
            self.secret.clone(),
            path.to_string_lossy().into_owned(),
            self.abstract_name.clone(),
        )
    }
}

impl Drop for HostContext {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn bind_abstract(name: &str) -> Result<tokio::net::UnixListener, HostError> {
    let bind = || -> std::io::Result<tokio::net::UnixListener> {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
        listener.set_nonblocking(true)?;
        tokio::net::UnixListener::from_std(listener)
    };
    bind().map_err(|source| HostError::Bind { what: "abstract Unix socket", source })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bait_is_set_up_and_connections_are_counted() {
        let ctx = HostContext::start().await.unwrap();
        assert!(ctx.secret().starts_with("bbx-conformance-secret-"));
        assert_eq!(std::env::var(SECRET_ENV).unwrap(), ctx.secret());
        assert!(ctx.secret_path().is_absolute());
        assert_eq!(std::fs::read_to_string(ctx.secret_path()).unwrap(), ctx.secret());
        assert_eq!(ctx.connections(), 0);

        tokio::net::TcpStream::connect(("127.0.0.1", ctx.port())).await.unwrap();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(ctx.abstract_socket().as_bytes()).unwrap();
        std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
        for _ in 0..100 {
            if ctx.connections() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(ctx.connections(), 2);

        let vars = ctx.vars();
        assert_eq!(vars.get("host_port"), Some(ctx.port().to_string().as_str()));
        assert_eq!(vars.get("host_secret"), Some(ctx.secret()));

        // A second context in the same process shares the secret.
        let other = HostContext::start().await.unwrap();
        assert_eq!(other.secret(), ctx.secret());
        assert_ne!(other.port(), ctx.port());
        let path = ctx.secret_path().to_path_buf();
        drop(ctx);
        assert!(!path.exists(), "the secret file is removed on drop");
    }
}
