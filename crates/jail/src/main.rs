//! The `bytesbox-jail` helper: the privileged, single-threaded process
//! that makes boxes. The Bytesbox server starts it; see
//! `bytesbox_jail::jailer`.

fn main() {
    std::process::exit(bytesbox_jail::jailer_main());
}
