//! The OCI distribution API as charts need it: references, a client session with one
//! registry (auth, retries), blobs, uploads, manifests, tag listing, error codes, and
//! Helm's format for charts in a registry.

pub mod auth;
pub mod blobs;
pub mod client;
pub mod errcode;
pub mod helm;
pub mod manifests;
pub mod reference;
pub mod tags;
pub mod timestamp;
pub mod upload;
