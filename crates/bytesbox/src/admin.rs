//! `bytesbox admin`: account administration from the host, for the first
//! administrator and for recovery when nobody can sign in.

use std::io::BufRead as _;

use anyhow::Context;
use bytesbox_store::{Role, Store};

use crate::cli::{AdminCommand, CreateUserArgs, DrainArgs, StoreArgs};

/// Runs an admin command.
pub async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser(args) => create_user(args).await,
        AdminCommand::Drain(args) => drain(args).await,
    }
}

/// Opens the store the server would use with the same flags.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    match &args.database_url {
        Some(url) => Store::connect(url).await.context("connecting to DATABASE_URL"),
        None => {
            std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
            Store::open_in_data_dir(&args.data_dir)
                .await
                .with_context(|| format!("opening the database in {}", args.data_dir.display()))
        }
    }
}

async fn create_user(args: CreateUserArgs) -> anyhow::Result<()> {
    let password = match std::env::var("BYTESBOX_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let store = open_store(&args.store).await?;
    let role = if args.admin { Role::Admin } else { Role::User };
    let user = store.create_user(&args.username, &password, role).await.context("creating the account")?;
    if let Some(plan) = &args.plan {
        store.set_user_plan(&user.id, plan).await.context("setting the plan")?;
    }
    println!("created {} {} ({})", role.as_str(), user.username, user.id);
    store.close().await;
    Ok(())
}

async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store).await?;
    store.drain_node(&args.node).await.with_context(|| format!("draining node {}", args.node))?;
    println!(
        "node {} is draining: no new sessions from its next heartbeat, and it exits when its sessions end",
        args.node
    );
    store.close().await;
    Ok(())
}
