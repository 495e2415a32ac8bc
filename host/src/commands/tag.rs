//! `helm oci tag REF TAG…`: the reference's registry, and nothing else; the component puts
//! the manifest under each new tag.

use crate::cli::RemoteArgs;
use crate::component::exports::helm_oci::plugin::promotion::TagOptions;
use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::Result;
use clap::Args;

#[derive(Args)]
#[command(after_help = "Each TAG is put on the manifest REF names, in REF's repository: nothing is uploaded again.\n\
                  A chart version's '+' is written '_' in the tag, as helm push does.")]
pub struct TagArgs {
    /// The manifest to tag: oci://host[:port]/path/name:tag or …@sha256:…
    source: String,
    /// The tags to add (e.g. stable 1.2)
    #[arg(required = true)]
    tags: Vec<String>,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(args: TagArgs, debug: bool) -> Result<()> {
    let mut session = Session::start(Grants::default()).await?;
    let source = session.parse_reference(&args.source).await?;
    // The manifest is read once, then put under up to eight tags at once.
    let connection = super::connect(&mut session, &source, &args.remote_args, debug, args.tags.len().clamp(1, 8))?;
    let options = TagOptions { source, tags: args.tags, connection };
    output::tagged(&session.tag(&options).await?);
    Ok(())
}
