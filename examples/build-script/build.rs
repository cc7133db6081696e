//! Compiles `nodes.ddn` to `$OUT_DIR/nodes.rs` (one module per node), and
//! reruns when the file changes. `least_squares` is prepared at build time at
//! the sizes of `prepare/least_squares.json` (A 4 × 2): its standard form is
//! recorded then, and its refill emitted as straight-line Rust.

fn main() {
    let inputs = "prepare/least_squares.json";
    println!("cargo:rerun-if-changed={inputs}");
    let prepare = std::fs::read_to_string(inputs)
        .map_err(|e| format!("cannot read `{inputs}`: {e}"))
        .and_then(|json| ddn::codegen::Prepare::from_json("least_squares", &json));
    if let Err(e) = prepare.and_then(|p| ddn::codegen::compile_files_with(&["nodes.ddn"], &[p])) {
        panic!("{e}");
    }
}
