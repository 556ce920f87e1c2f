//! A test host for the browser tests (`web/e2e/egress.test.mjs`), which
//! cannot link the test kit: starts a [`TestHost`] (a network namespace
//! of its own serving a git repository over smart HTTP), prints where it
//! is, one `key value` line each, then `ready`, and keeps it until its
//! standard input closes (the test ends it that way, and a test process
//! that dies closes it too), when the namespace and its servers are
//! removed. Needs root.

use std::io::Write;

use bytesbox_testkit::test_hosts::TestHost;

fn main() {
    let host = match TestHost::start() {
        Ok(host) => host,
        Err(e) => {
            eprintln!("bytesbox-test-host: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let announced = writeln!(
        out,
        "address {}\nrepository_url {}\nrepository {}\nready",
        host.address,
        host.repository_url(),
        host.repository().display()
    )
    .and_then(|()| out.flush());
    if announced.is_ok() {
        // Whatever comes in is ignored; only the end matters.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    }
    drop(host);
}
