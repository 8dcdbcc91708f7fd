//! Compiles proto/rolegate/v1/*.proto with tonic/prost at build time, using the protoc
//! shipped in the protoc-bin-vendored crate so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let descriptor = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("rolegate_v1_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(descriptor)
        .compile_with_config(
            config,
            &["proto/rolegate/v1/sessions.proto", "proto/rolegate/v1/admin.proto"],
            &["proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
