//! AFL++ entry point of [`ddn_fuzz::run`] (see README.md).

fn main() {
    ddn_fuzz::init();
    // Compile the stdlib before AFL++ forks its children, not in each child.
    ddn_fuzz::targets();
    afl::fuzz!(|data: &[u8]| ddn_fuzz::run(data));
}
