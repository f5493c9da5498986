//! Compiles `proto/ps_server.proto` with protox (a protobuf compiler in
//! Rust: no `protoc` needed) into the messages and service traits, and keeps
//! the file descriptor set for server reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ps_server.proto");
    let descriptors = protox::compile(["ps_server.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("ps_server_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;
    Ok(())
}
