//! Links the Linux executable at a fixed address rather than as a position-independent one.
//! A PIE this size carries about 40,000 relative relocations, which the dynamic loader
//! applies at every start by writing some 140 pages: about 0.5 ms of every command, a sixth
//! of `helm oci version`. What is given up is address randomisation of the host's own code;
//! Helm gives up the same (Go links fixed-address executables on linux/amd64), and charts
//! and manifests are parsed inside the Wasm sandbox, not by the host.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
