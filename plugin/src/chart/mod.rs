//! Helm charts on disk: Chart.yaml, `.helmignore`, packaging a directory and reading archives.

pub mod archive;
pub mod ignore;
pub mod metadata;
pub mod package;
