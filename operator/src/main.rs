//! `quiver-operator`: `run` starts the controllers (in-cluster config or `KUBECONFIG`); `crd`
//! prints the custom resource definitions (or writes them into a folder with `--out`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

const USAGE: &str = "usage: quiver-operator run [--namespace NS] [--metrics-addr ADDR] | crd [--out DIR]";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("crd") => crd(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let mut namespace = std::env::var("WATCH_NAMESPACE").ok().filter(|n| !n.is_empty());
    let mut metrics: SocketAddr = "0.0.0.0:8080".parse()?;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--namespace" => namespace = it.next().cloned(),
            "--metrics-addr" => {
                let v = it.next().context("--metrics-addr needs an address")?;
                metrics = v
                    .parse()
                    .with_context(|| format!("--metrics-addr: `{v}` is not host:port"))?;
            }
            other => anyhow::bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUIVER_OPERATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let client = kube::Client::try_default().await.context("connecting to the Kubernetes API")?;
        let ctx = Arc::new(quiver_operator::reconcile::Context::new(client.clone()));
        let served = tokio::spawn(quiver_operator::controller::serve_metrics(metrics, Arc::clone(&ctx)));
        tracing::info!(namespace = namespace.as_deref().unwrap_or("<all>"), %metrics, "quiver-operator running");
        tokio::select! {
            _ = quiver_operator::controller::run(client, namespace, ctx) => {}
            r = served => r.context("metrics server")?.context("metrics server")?,
            _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
        }
        Ok(())
    })
}

fn crd(args: &[String]) -> anyhow::Result<()> {
    let out = match args {
        [] => None,
        [flag, dir] if flag == "--out" => Some(PathBuf::from(dir)),
        _ => anyhow::bail!("{USAGE}"),
    };
    for crd in quiver_operator::crd::all() {
        let yaml = quiver_operator::crd::to_yaml(&crd)?;
        match &out {
            Some(dir) => {
                let path = dir.join(quiver_operator::crd::file_name(&crd));
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
            }
            None => print!("---\n{yaml}"),
        }
    }
    Ok(())
}
