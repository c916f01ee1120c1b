//! Generates the tonic services of `cluster.proto` with protox (a protobuf compiler in Rust).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=cluster.proto");
    let descriptors = protox::compile(["cluster.proto"], ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
