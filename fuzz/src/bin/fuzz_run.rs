//! AFL++ entry point of [`ddn_fuzz::run`] (see README.md).

fn main() {
    ddn_fuzz::init();
    afl::fuzz!(|data: &[u8]| ddn_fuzz::run(data));
}
