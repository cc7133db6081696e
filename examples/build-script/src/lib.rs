//! Differentiable layers compiled from `nodes.ddn` by `build.rs`: one module
//! per node (`least_squares`, `pool_pseudo_huber`), each with typed `Params`,
//! `forward` and `backward`.

include!(concat!(env!("OUT_DIR"), "/nodes.rs"));
