//! File access through the directories the host granted: crash-safe writes by way of
//! temp files and renames.

pub mod temp;
