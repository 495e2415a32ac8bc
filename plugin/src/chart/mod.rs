//! Helm charts on disk and in archives, by Helm's rules: Chart.yaml, the loader's rules for
//! which files count, `.helmignore`, directory walks, archives, packaging, and the
//! dependencies a chart declares with the lock file that pins them.

mod aliasing;
pub mod archive;
pub mod dependencies;
pub mod directory;
mod escapes;
pub mod ignore;
pub mod legacy;
mod libyaml;
pub mod load;
pub mod lock;
pub mod metadata;
mod nesting;
pub mod package;
pub mod yaml;
