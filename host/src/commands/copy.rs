//! `helm oci copy SRC DST`: both references' registries, each with its own credential
//! (`--username`/`--password` are the destination's); the component does the copying.

use crate::cli::RemoteArgs;
use crate::component::exports::helm_oci::plugin::promotion::{Access, CopyOptions};
use crate::sandbox::{Grants, Session};
use crate::{learnt, output};
use anyhow::Result;
use clap::Args;

#[derive(Args)]
#[command(
    after_help = "DST is oci://host[:port]/path/name, the repository itself (not a namespace, as for push), with or\n\
                  without a tag: without one the copy gets SRC's tag, or goes by digest if SRC has only a digest.\n\
                  --username and --password are for DST's registry; SRC's credentials come from the stored logins\n\
                  (the same ones when both are on one registry)."
)]
pub struct CopyArgs {
    /// What to copy: oci://host[:port]/path/name:tag or …@sha256:…
    source: String,
    /// Where to: oci://host[:port]/path/name[:tag]
    destination: String,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(args: CopyArgs, debug: bool) -> Result<()> {
    let mut session = Session::start(Grants::default()).await?;
    let source = session.parse_reference(&args.source).await?;
    let destination = session.parse_reference(&args.destination).await?;
    // The config and the layers are copied at once.
    let connection = super::connect(&mut session, &destination, &args.remote_args, debug, 3)?;
    let source_access = if source.endpoint.eq_ignore_ascii_case(&destination.endpoint) {
        // One registry, one session in the component: the destination's credential serves both.
        Access {
            plain_http: connection.plain_http,
            credential: connection.credential.clone(),
            challenge: connection.challenge.clone(),
        }
    } else {
        let reach = args.remote_args.connection.reach(debug, 2);
        session.allow_registry(&source.endpoint, &reach)?;
        let credential = Some(super::stored(&source.registry, &reach, super::LOG_IN)?);
        Access {
            plain_http: reach.plain_http,
            credential,
            challenge: learnt::challenge(&source.endpoint, reach.plain_http),
        }
    };
    let options = CopyOptions { source, destination, connection, source_access };
    output::copied(&session.copy(&options).await?);
    Ok(())
}
