//! Links the Linux (glibc) executable at a fixed address rather than as a position-
//! independent one. A PIE this size carries about 40,000 relative relocations, which the
//! dynamic loader applies at every start by writing some 140 pages: about 0.5 ms of every
//! command, a sixth of `helm oci version`. The price is that the host's own code and data
//! sit at the same addresses in every run (the heap, the stacks and the shared libraries
//! are still randomised), which matters to an attack that has already escaped the Wasm
//! sandbox or found a memory bug in the host's HTTP and TLS stacks. Helm pays the same
//! price: Go links fixed-address executables on linux/amd64. Static-PIE targets (musl) are
//! left as they are.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
