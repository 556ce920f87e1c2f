//! `bytesbox serve`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytesbox_docker::{detect_runtimes, DockerBackend};
use bytesbox_engine::Engine;
use bytesbox_native::NativeBackend;
use bytesbox_runtimes::Catalog;
use bytesbox_sandbox::Backend;
use bytesbox_server::accounts::Accounts;
use bytesbox_server::app::AppState;
use bytesbox_server::catalog_planner::CatalogPlanner;
use bytesbox_server::listener::ListenerSettings;
use bytesbox_server::metrics::Metrics;
use bytesbox_server::routes::router;
use bytesbox_server::session::Sessions;
use bytesbox_server::web::{with_web_ui, WebAssets};
use bytesbox_store::Objects;

use crate::cli::{BackendKind, ServeArgs};
use crate::config::FileConfig;

/// How long a shutdown past its drain deadline waits for the runs it
/// killed to tell their clients so.
const KILLED_RUNS_REPORT_WITHIN: Duration = Duration::from_secs(3);

/// Serves until SIGTERM or Ctrl+C, or until a drain of this node
/// (`bytesbox_server::fleet`) is over, then drains and exits cleanly.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let config = FileConfig::load(args.config.as_deref())?.resolve(&args, raise_open_file_limit())?;
    let data_dir = &args.store.data_dir;
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // The store first: a wrong DATABASE_URL should fail before the
    // sandbox backend starts.
    let store = crate::admin::open_store(&args.store).await?;
    // Native runtimes are this host's programs; Docker's are whatever the
    // runtime images hold, probed in a box of each image.
    let (backend, planner): (Arc<dyn Backend>, CatalogPlanner) = match args.backend {
        BackendKind::Native => (
            Arc::new(NativeBackend::start(config.native.clone()).await.context("starting the native backend")?),
            CatalogPlanner::new(Catalog::builtin()),
        ),
        BackendKind::Docker => {
            let docker = DockerBackend::start(config.docker.clone()).await.context("starting the Docker backend")?;
            let catalog = Catalog::builtin();
            let statuses = detect_runtimes(&docker, &catalog).await.into_iter().map(|r| r.status).collect();
            (Arc::new(docker), CatalogPlanner::with_statuses(catalog, statuses))
        }
    };
    let metrics = Arc::new(Metrics::new(&config.server.node.id));
    let engine = Engine::new(backend.clone(), config.admission).with_observer(metrics.clone());
    let sessions = Sessions::new(engine.clone(), config.sessions.clone());
    let planner = Arc::new(planner);
    for runtime in planner.statuses() {
        tracing::info!(runtime = %runtime.id, available = runtime.available, version = ?runtime.version, "runtime");
    }
    tracing::info!(
        database = ?store.database(),
        guests = config.accounts.guests,
        signup = config.accounts.signup,
        "accounts"
    );
    let objects = Objects::open(&config.objects).context("opening the object store for project files")?;
    tracing::info!(objects = ?config.objects, "project files");
    let accounts = Accounts::new(store.clone(), config.plans.clone(), config.accounts.clone()).with_objects(objects);
    if let Some(files) = accounts.files.clone() {
        // What a crash (or a failed best-effort delete) left behind:
        // objects no index row points at. At start-up, then daily; an
        // hour's grace spares writes in flight here and on other replicas.
        tokio::spawn(async move {
            loop {
                match files.sweep_orphans(Duration::from_secs(3600)).await {
                    Ok(report) => tracing::info!(?report, "swept orphaned project file objects"),
                    Err(error) => tracing::warn!(%error, "could not sweep orphaned project file objects"),
                }
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            }
        });
    }
    let state = AppState::new(config.server.clone(), sessions.clone(), planner, metrics, Some(Arc::new(accounts)));
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    println!("Bytesbox is serving on http://{address} (WebSocket API at ws://{address}/api/v1/ws)");
    let web = WebAssets::find(&args.web_dir);
    match &web {
        WebAssets::Directory(dir) => tracing::info!(dir = %dir.display(), "serving the web IDE"),
        WebAssets::NotBuilt(dir) => tracing::warn!(dir = %dir.display(), "the web IDE is not built; `/` says how"),
    }
    let settings = ListenerSettings {
        config: config.server.connections.clone(),
        trusted_proxy: config.server.rate_limit.trust_forwarded_for,
        budget: state.memory_budget().clone(),
    };
    tracing::info!(connections = ?settings.config, "connection limits");
    let state = Arc::new(state);
    let node = state.node().config().clone();
    tracing::info!(node = %node.id, address = %node.address, capacity = node.capacity, "this node");
    let heartbeats = tokio::spawn(bytesbox_server::fleet::keep_registered(Arc::downgrade(&state)));
    let app = with_web_ui(router(state.clone()), &web);
    let server = tokio::spawn(bytesbox_server::listener::serve(listener, app, settings));

    tokio::select! {
        () = shutdown_signal() => {}
        () = bytesbox_server::fleet::drained(&state) => {}
    }
    // Out of the load balancer's rotation before anything closes.
    state.node().drain();
    tracing::info!("draining: no new runs; running ones get {} s", config.drain.as_secs());
    engine.close();
    let deadline = Instant::now() + config.drain;
    while engine.admission().stats().running > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sessions.kill_runs_and_settle(KILLED_RUNS_REPORT_WITHIN).await;
    sessions.close_all().await;
    backend.shutdown().await;
    server.abort();
    heartbeats.abort();
    // The last minutes' monitoring, before the store closes.
    bytesbox_server::monitoring::flush(&state).await;
    if let Err(error) = store.remove_node(&node.id).await {
        tracing::warn!(%error, "could not leave the fleet; the node drops out when its heartbeat is stale");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The open-file limit the server asks for: each live box holds a few
/// descriptors in the server (its control socket, workspace, pidfd) and
/// each connected session a socket, so 10,000 boxes need tens of
/// thousands.
const OPEN_FILES_WANTED: u64 = 1 << 20;

/// Every connected session holds a socket and every box a few
/// descriptors: take the whole hard limit on open files rather than the
/// usual soft 1024, and where allowed (root) raise the hard limit itself
/// to `OPEN_FILES_WANTED` or the kernel's ceiling (`fs.nr_open`), since
/// hosts often set it to a few thousand. Returns the limit now in force.
fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let kernel_ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|n| n.trim().parse().ok());
    let raised = getrlimit(Resource::RLIMIT_NOFILE).and_then(|(_, hard)| {
        let wanted = kernel_ceiling.unwrap_or(hard).min(OPEN_FILES_WANTED).max(hard);
        setrlimit(Resource::RLIMIT_NOFILE, wanted, wanted).map(|()| wanted).or_else(|e| {
            if wanted > hard {
                tracing::info!(error = %e, hard, "could not raise the hard open-file limit; it caps the live boxes");
            }
            setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map(|()| hard)
        })
    });
    match raised {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}
