//! `quiver-operator`: `crd` prints the custom resource definitions (or writes them into a folder
//! with `--out`); the controller itself comes with the reconciler.

use std::path::PathBuf;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("crd") => crd(&args[1..]),
        _ => {
            eprintln!("usage: quiver-operator crd [--out DIR]");
            std::process::exit(2);
        }
    }
}

fn crd(args: &[String]) -> anyhow::Result<()> {
    let out = match args {
        [] => None,
        [flag, dir] if flag == "--out" => Some(PathBuf::from(dir)),
        _ => anyhow::bail!("usage: quiver-operator crd [--out DIR]"),
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
