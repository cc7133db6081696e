//! The fuzz targets' smoke test, run by `cargo test --workspace` (CI): every
//! kept input (the corpus AFL++ minimised, and the crashes it found, now
//! fixed) and a seeded burst of mutations of the seeds go through each target.
//! A target panics on any failure (see the crate docs), which fails the test
//! with the input's description. The mutations are deterministic, so a failure
//! here reproduces; the long runs are AFL++'s (README.md).

use serde_json::{json, Value};

/// xorshift64*: seeded, so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte-level mutations, stacked one to four deep: bit flips, interesting
/// bytes, deleted and duplicated ranges, inserted tokens, splices with another
/// seed (the classic havoc stage, small).
fn havoc(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>], tokens: &[&str]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                let interesting = b"\0\xff()[]{},-+e9.0\"\n @^/";
                v[i] = interesting[rng.below(interesting.len())];
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                let piece = v[at.min(end)..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, piece);
            }
            4 => {
                let token = tokens[rng.below(tokens.len())].as_bytes();
                v.splice(at..at, token.iter().copied());
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
        }
    }
    v
}

/// One structural mutation of a JSON value: a number made extreme, an array
/// shortened, lengthened, wrapped or unwrapped (shapes a user gets wrong), a
/// key dropped or renamed.
fn mutate_json(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned().unwrap_or_default();
            match rng.below(8) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    if let Some(x) = map.remove(&key) {
                        map.insert(format!("{key}_"), x);
                    }
                }
                _ => {
                    if let Some(x) = map.get_mut(&key) {
                        mutate_json(rng, x);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => match rng.below(8) {
            0 => {
                items.pop();
            }
            1 => {
                let x = items[rng.below(items.len())].clone();
                items.push(x);
            }
            2 => *v = json!([v.clone()]),
            3 => *v = items[0].clone(),
            4 => items.clear(),
            _ => {
                let i = rng.below(items.len());
                mutate_json(rng, &mut items[i]);
            }
        },
        _ => {
            let extremes = [0.0, -0.0, 1e308, -1e308, 1e-308, 1e16, -3.0, 0.5, 1e200];
            *v = json!(extremes[rng.below(extremes.len())]);
        }
    }
}

/// Runs `target` on every seed and on `count` mutations of them.
fn burst(target: fn(&[u8]), seeds: &[Vec<u8>], count: usize, mutate: impl Fn(&mut Rng, &[u8]) -> Vec<u8>) {
    assert!(!seeds.is_empty(), "no seeds");
    for seed in seeds {
        target(seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..count {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(&mut rng, seed);
        let shown = String::from_utf8_lossy(&input[..input.len().min(400)]).into_owned();
        let outcome = std::panic::catch_unwind(|| target(&input));
        assert!(outcome.is_ok(), "mutation {i} failed; its first bytes:\n{shown}");
    }
}

#[test]
fn check_target() {
    ddn_fuzz::init();
    let seeds = ddn_fuzz::seeds::check().unwrap_or_else(|e| panic!("{e}"));
    let tokens =
        ["1e308", "-0", "^", "@", "sum(", "[n, n]", ")", "let a = a + a\n", "def f(x) = f(x)\n", "psd[", "<=", "1e400"];
    burst(ddn_fuzz::check, &seeds, 150, |rng, seed| havoc(rng, seed, &seeds, &tokens));
}

/// The per-node seeds are what the fuzzer starts from in place of whole stdlib
/// files: each must be a file that compiles, with exactly one node.
#[test]
fn stdlib_nodes_compile_alone() {
    let nodes = ddn_fuzz::seeds::stdlib_nodes().unwrap_or_else(|e| panic!("{e}"));
    assert!(nodes.len() >= 20, "only {} stdlib nodes", nodes.len());
    for text in &nodes {
        let compiled = ddn::compile("node.ddn", text);
        let errors = compiled.diagnostics_text(ddn::diag::Color::Never);
        assert!(!compiled.has_errors(), "{text}\n{errors}");
        assert_eq!(compiled.program.nodes.len(), 1, "{text}");
    }
}

#[test]
fn run_target() {
    ddn_fuzz::init();
    let seeds = ddn_fuzz::seeds::run().unwrap_or_else(|e| panic!("{e}"));
    assert!(seeds.len() >= 20, "only {} run seeds", seeds.len());
    let tokens = ["1e400", "-1e308", "[]", "[[]]", "null", "\"x\"", "{}", "0", "-0.0"];
    burst(ddn_fuzz::run, &seeds, 600, |rng, seed| {
        let (header, body) = seed.split_at(seed.len().min(2));
        match serde_json::from_slice::<Value>(body) {
            Ok(mut value) if rng.below(4) != 0 => {
                for _ in 0..1 + rng.below(3) {
                    mutate_json(rng, &mut value);
                }
                [header.to_vec(), serde_json::to_vec(&value).unwrap_or_default()].concat()
            }
            _ => havoc(rng, seed, &seeds, &tokens),
        }
    });
}

#[test]
fn readers_target() {
    ddn_fuzz::init();
    let seeds = ddn_fuzz::seeds::readers().unwrap_or_else(|e| panic!("{e}"));
    assert!(seeds.len() >= 10, "only {} reader seeds", seeds.len());
    let tokens = ["1e400", "-1e30", "99999999999", " MARKER ", "\nENDATA\n", "L= 3\n", "Q 2 0\n", "RANGES", "-0"];
    burst(ddn_fuzz::readers, &seeds, 600, |rng, seed| havoc(rng, seed, &seeds, &tokens));
}
