//! The network layer, and the only user of wasi:http and wasi:io: an executor that waits on
//! many pollables at once, a cap on requests in flight, the wire (requests in flight,
//! streamed bodies), timers and the retry policy. Everything above it is plain async Rust.

pub mod clock;
pub mod executor;
pub mod limit;
pub mod retry;
pub mod wire;

pub use helm_oci_headers::Url;
