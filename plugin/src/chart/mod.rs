//! Helm charts on disk and in archives, by Helm's rules: Chart.yaml, the loader's rules for
//! which files count, `.helmignore`, directory walks, archives, and packaging.

pub mod archive;
pub mod directory;
pub mod ignore;
pub mod legacy;
pub mod load;
pub mod metadata;
pub mod package;
pub mod yaml;
