//! File access through the directories the host granted: paths that stay inside them,
//! writes through wasi:filesystem with only the rights they need, and crash-safe writes by
//! way of temp files and renames.

pub mod granted;
pub mod inside;
#[cfg(test)]
pub mod scratch;
pub mod temp;
