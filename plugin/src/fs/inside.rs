//! Paths inside a root, with symlinks followed only while they stay inside. The component
//! checks this itself, component by component, so the rule holds under any host: a host's
//! sandbox may not look at each path segment.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

/// Symlink chains longer than this are taken for loops.
const MAX_HOPS: usize = 40;

/// Why a path was not followed.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// A link names an absolute path (wasi hosts do not even show where).
    Absolute,
    /// A link climbs out of the root; its target, as written.
    Outside(String),
    /// The links go round in circles.
    Loop,
    /// Something on the way does not exist.
    Missing,
    /// The file system failed otherwise.
    Io(String),
}

/// Resolves `rel` (`/`-separated, inside `root`) through every symlink on the way and
/// returns the real path, relative to `root`.
pub fn resolve(root: &Path, rel: &str) -> Result<String, Refusal> {
    let mut queue: VecDeque<String> = rel.split('/').map(str::to_string).collect();
    let mut real: Vec<String> = Vec::new();
    let mut hops = 0;
    // What led here, for the refusal: the path asked for, or the last link's target.
    let mut via = rel.to_string();
    while let Some(part) = queue.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                real.pop().ok_or_else(|| Refusal::Outside(via.clone()))?;
                continue;
            }
            _ => {}
        }
        let path = real.iter().chain([&part]).fold(root.to_path_buf(), |p, c| p.join(c));
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_refusal(&e))?;
        if !meta.file_type().is_symlink() {
            real.push(part);
            continue;
        }
        hops += 1;
        if hops > MAX_HOPS {
            return Err(Refusal::Loop);
        }
        let target = std::fs::read_link(&path).map_err(|_| Refusal::Absolute)?;
        if target.is_absolute() {
            return Err(Refusal::Absolute);
        }
        via = target.to_string_lossy().into_owned();
        // The target is relative to the link's directory, where resolution stands now.
        for step in via.split('/').rev() {
            queue.push_front(step.to_string());
        }
    }
    Ok(real.join("/"))
}

fn io_refusal(e: &io::Error) -> Refusal {
    match e.kind() {
        io::ErrorKind::NotFound => Refusal::Missing,
        // `ErrorKind::FilesystemLoop` is not stable yet; its name is.
        kind if format!("{kind:?}") == "FilesystemLoop" => Refusal::Loop,
        _ => Refusal::Io(e.to_string()),
    }
}
