//! `quiver`: parse configuration, run the node, stop on Ctrl-C or SIGTERM.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = std::env::var_os("QUIVER_CONFIG").map(PathBuf::from);
    let (mut uri, mut bootstrap) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            // Qdrant's cluster flags: this node's p2p address, and a member to join.
            "--uri" => uri = args.next(),
            "--bootstrap" => bootstrap = args.next(),
            "--version" => {
                println!(
                    "quiver {} (Qdrant API {})",
                    quiver_server::version::QUIVER_VERSION,
                    quiver_server::version::QDRANT_API_VERSION
                );
                return Ok(());
            }
            other => anyhow::bail!(
                "unknown argument `{other}` (usage: quiver [--config FILE] [--uri P2P_URI] [--bootstrap PEER_URI] [--version])"
            ),
        }
    }
    let mut settings = quiver_server::settings::Settings::load(config.as_deref(), std::env::vars())?;
    if uri.is_some() || bootstrap.is_some() {
        settings.cluster.enabled = true;
        settings.cluster.uri = uri.or(settings.cluster.uri);
        settings.cluster.bootstrap = bootstrap.or(settings.cluster.bootstrap);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("QUIVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("quiver-io")
        .build()?;
    runtime.block_on(quiver_server::node::run(settings, shutdown_signal()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
