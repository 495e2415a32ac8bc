//! `helm oci tags oci://HOST/PATH/NAME`: the chart's versions, from its repository's tags.

use crate::cli::{BulkArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::discovery::TagsOptions;
use crate::component::exports::helm_oci::plugin::types::VersionQuery;
use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct TagsArgs {
    /// The chart's repository: oci://host[:port]/path/name
    chart_ref: String,
    /// Only versions this constraint admits (e.g. "^1.2", ">=1.0 <2.0", "1.2.x")
    #[arg(long)]
    version: Option<String>,
    /// Use development versions (prereleases), too; with --version, those it admits (Helm ignores --devel there)
    #[arg(long)]
    devel: bool,
    /// Also list the tags that are not versions (latest, signatures), with the version each points to
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    bulk: BulkArgs,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(args: TagsArgs, debug: bool) -> Result<()> {
    let mut session = Session::start(Grants::default()).await?;
    let repository = session.parse_reference(&args.chart_ref).await?;
    // Without --all a listing is one request after another.
    let ahead = if args.all { args.bulk.reading.concurrency as usize } else { 1 };
    let (connection, mirrors) = super::connect_reading(
        &mut session,
        &repository,
        &args.remote_args,
        args.remote_args.connection.reach(debug, ahead),
    )
    .await?;
    let options = TagsOptions {
        repository,
        versions: VersionQuery { constraint: args.version, version_from: None, version_to: None, devel: args.devel },
        all: args.all,
        page_size: args.bulk.reading.page_size,
        concurrency: args.bulk.reading.concurrency,
        connection,
        mirrors,
    };
    let listed = session.tags(&options).await?;
    output::warnings(&listed.warnings);
    output::tags(&listed.entries, args.all, args.bulk.output)
}
