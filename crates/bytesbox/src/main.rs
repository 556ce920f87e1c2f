//! `bytesbox`: serve the IDE and APIs, run a project once, list runtimes.

mod admin;
mod cli;
mod config;
mod run;
mod serve;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bytesbox: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::serve(args).await.map(|()| 0),
            cli::Command::Run(args) => run::run(args).await,
            cli::Command::Runtimes(args) => run::runtimes(args).await.map(|()| 0),
            cli::Command::Admin(command) => admin::admin(command).await.map(|()| 0),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("bytesbox: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
