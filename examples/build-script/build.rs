//! Compiles `nodes.ddn` to `$OUT_DIR/nodes.rs` (one module per node), and
//! reruns when the file changes. `least_squares` is prepared at build time at
//! the sizes of `prepare/least_squares.json` (A 4 × 2): its standard form is
//! recorded then, and its refill emitted as straight-line Rust.

fn main() {
    // Display, not Debug: a file's diagnostics are rendered with carets.
    if let Err(e) = build() {
        panic!("{e}");
    }
}

fn build() -> Result<(), Box<dyn std::error::Error>> {
    let inputs = "prepare/least_squares.json";
    println!("cargo:rerun-if-changed={inputs}");
    let json = std::fs::read_to_string(inputs).map_err(|e| format!("cannot read `{inputs}`: {e}"))?;
    let prepare = ddn::codegen::Prepare::from_json("least_squares", &json)?;
    ddn::codegen::compile_files_with(&["nodes.ddn"], &[prepare])?;
    Ok(())
}
