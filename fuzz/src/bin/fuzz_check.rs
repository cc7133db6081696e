//! AFL++ entry point of [`ddn_fuzz::check`] (see README.md).

fn main() {
    ddn_fuzz::init();
    afl::fuzz!(|data: &[u8]| ddn_fuzz::check(data));
}
