//! WIT <-> domain: the records a host passes in become typed options for a command, and
//! what the command returns becomes the records the host reads. Each call runs to the end
//! on the network layer's executor.

mod error;

use crate::bindings::exports::helm_oci::plugin::registry::{PullOptions, PullResult, PushOptions, PushResult};
use crate::bindings::exports::helm_oci::plugin::types::{
    ChartSummary, Credential as WitCredential, Error as WitError, Reference, RemoteOptions,
};
use crate::chart::metadata::Metadata;
use crate::commands::{login, pull, push};
use crate::net::executor::block_on;
use crate::oci::auth::Credential;
use crate::oci::client::Connection;
use crate::oci::reference::{self, Ref};
use crate::trace::Trace;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, WitError>;

pub fn parse_reference(input: &str) -> Result<Reference> {
    Ok(reference_record(reference::parse(input)?))
}

pub fn registry_endpoint(registry: &str) -> Result<String> {
    Ok(reference::endpoint(registry)?)
}

pub fn login(registry: &str, connection: RemoteOptions) -> Result<()> {
    Ok(block_on(login::run(registry, &connection_of(connection)))?)
}

pub fn push(options: PushOptions) -> Result<PushResult> {
    let push = push::Push {
        chart: PathBuf::from(options.chart),
        remote: reference_of(&options.remote)?,
        connection: connection_of(options.connection),
    };
    let pushed = block_on(push::run(push))?;
    Ok(PushResult {
        reference: pushed.reference.to_string(),
        digest: pushed.digest,
        chart: summary(&pushed.meta),
        warnings: pushed.warnings,
    })
}

pub fn pull(options: PullOptions) -> Result<PullResult> {
    let pull = pull::Pull {
        reference: reference_of(&options.reference)?,
        version: options.version,
        destination: PathBuf::from(options.destination),
        untar: options.untar,
        connection: connection_of(options.connection),
    };
    let pulled = block_on(pull::run(pull))?;
    Ok(PullResult {
        reference: pulled.reference.to_string(),
        digest: pulled.digest,
        chart: summary(&pulled.meta),
        path: pulled.path.display().to_string(),
        warnings: pulled.warnings,
    })
}

fn reference_record(r: Ref) -> Reference {
    Reference { registry: r.registry, endpoint: r.endpoint, repository: r.repository, tag: r.tag, digest: r.digest }
}

/// A reference record from the host, held to the rules a parsed one meets.
fn reference_of(r: &Reference) -> crate::error::Result<Ref> {
    Ref::from_parts(&r.registry, &r.repository, r.tag.as_deref(), r.digest.as_deref())
}

fn connection_of(options: RemoteOptions) -> Connection {
    let credential = options.credential.map(|c| match c {
        WitCredential::Basic(b) => Credential::Basic { username: b.username, password: b.password },
        WitCredential::IdentityToken(t) => Credential::IdentityToken(t),
    });
    Connection { plain_http: options.plain_http, credential, trace: Trace::new(options.debug) }
}

fn summary(meta: &Metadata) -> ChartSummary {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    ChartSummary {
        name: meta.name.clone(),
        version: meta.version.clone(),
        app_version: opt(&meta.app_version),
        description: opt(&meta.description),
    }
}
