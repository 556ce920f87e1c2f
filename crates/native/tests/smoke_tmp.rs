use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_sandbox::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let config = NativeConfig {
        jail_binary: Some(env!("CARGO_BIN_EXE_bytesbox-jail").into()),
        ..NativeConfig::default()
    };
    let backend = NativeBackend::start(config).await.unwrap();
    let t = std::time::Instant::now();
    let id = backend.create(BoxSpec::default()).await.unwrap();
    eprintln!("create {:?}", t.elapsed());
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let out = backend
            .run(
                &id,
                RunSpec::command([
                    "sh",
                    "-c",
                    "echo hi; id; hostname; ls /; cat /proc/1/environ; echo err >&2; exit 3",
                ]),
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        eprintln!(
            "run {:?} {:?}\nstdout={}\nstderr={}",
            t.elapsed(),
            out.report,
            out.stdout_text(),
            out.stderr_text()
        );
    }
    backend.shutdown().await;
}
