//! WIT <-> domain for promotion: `tag` and `copy` options in, their results out.

use super::{Result, connection_of, reference_of, run};
use crate::bindings::exports::helm_oci::plugin::promotion::{Access, Copied, CopyOptions, TagOptions, Tagged};
use crate::bindings::exports::helm_oci::plugin::types::RemoteOptions;
use crate::commands::{copy, tag};

pub fn tag(options: TagOptions) -> Result<Tagged> {
    let timeout = options.connection.timeout_ms;
    let tag = tag::Tag {
        source: reference_of(&options.source)?,
        tags: options.tags,
        connection: connection_of(options.connection),
    };
    let tagged = run(timeout, tag::run(tag))?;
    Ok(Tagged { references: tagged.references.iter().map(ToString::to_string).collect(), digest: tagged.digest })
}

pub fn copy(options: CopyOptions) -> Result<Copied> {
    let timeout = options.connection.timeout_ms;
    let Access { plain_http, credential, challenge } = options.source_access;
    // The source's session traces (or not) as the call does.
    let debug = options.connection.debug;
    let source = RemoteOptions { plain_http, credential, challenge, debug, timeout_ms: timeout };
    let copy = copy::Copy {
        source: reference_of(&options.source)?,
        destination: reference_of(&options.destination)?,
        connection: connection_of(options.connection),
        source_connection: connection_of(source),
    };
    let copied = run(timeout, copy::run(copy))?;
    Ok(Copied { source: copied.source.to_string(), destination: copied.destination.to_string(), digest: copied.digest })
}
