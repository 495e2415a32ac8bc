//! The OCI distribution API as charts need it: references, a client session with one
//! registry (auth, retries), mirrors to read from first, blobs, uploads, manifests, the
//! paged tag and catalog lists, where a dependency's repository points, error codes, Helm's
//! format for charts in a registry, a chart repository index published beside the charts,
//! and reading a chart's description.

pub mod auth;
pub mod blobs;
pub mod charts;
pub mod client;
pub mod errcode;
pub mod helm;
pub mod lists;
pub mod location;
pub mod manifests;
pub mod mirrors;
pub mod published;
pub mod reference;
pub mod upload;
pub mod wrapped;
