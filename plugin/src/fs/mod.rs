//! File access through the directories the host granted: paths that stay inside them,
//! and crash-safe writes by way of temp files and renames.

pub mod inside;
pub mod temp;
