//! Compiles `nodes.ddn` to `$OUT_DIR/nodes.rs` (one module per node), and
//! reruns when the file changes.

fn main() {
    if let Err(e) = ddn::codegen::compile_files(&["nodes.ddn"]) {
        panic!("{e}");
    }
}
