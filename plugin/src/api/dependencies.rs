//! WIT <-> domain for dependencies: the chart's declared and locked dependencies out, the
//! host's grants in, what `update` and `build` did out.

use super::{Result, connection_of, limits_of, links_of, mirrors_of, reference_of, reference_record, run};
use crate::bindings::exports::helm_oci::plugin::dependencies::{
    ChartRepository, Declared, DependenciesResult, Dependency, DependencyOptions, PulledChart, Saved,
};
use crate::bindings::exports::helm_oci::plugin::types::RemoteOptions;
use crate::chart::dependencies::Repository;
use crate::commands::dependency::{self, Access, Needed, Options, Outcome};
use crate::oci::client::Connection;
use crate::oci::location::Location;
use crate::trace::Trace;
use std::path::PathBuf;

pub fn read(chart_dir: &str, repositories: Vec<ChartRepository>) -> Result<Declared> {
    let repositories = repositories_of(repositories);
    let (lock_file, dependencies, locked) = dependency::read(&PathBuf::from(chart_dir), &repositories)?;
    let record = |n: Needed| {
        let (chart, plain_http, local) = match n.location {
            Location::Vendored => (None, false, None),
            Location::Registry { chart, plain_http, .. } => (Some(reference_record(chart)), plain_http, None),
            Location::Local(dir) => (None, false, Some(dir.display().to_string())),
        };
        Dependency { name: n.name, version: n.version, repository: n.repository, chart, plain_http, local }
    };
    Ok(Declared {
        lock_file: lock_file.to_string(),
        dependencies: dependencies.into_iter().map(record).collect(),
        locked: locked.into_iter().map(record).collect(),
    })
}

pub fn update(options: DependencyOptions) -> Result<DependenciesResult> {
    let timeout = options.timeout_ms;
    Ok(result(run(timeout, dependency::update(options_of(options)?))?))
}

pub fn build(options: DependencyOptions) -> Result<DependenciesResult> {
    let timeout = options.timeout_ms;
    Ok(result(run(timeout, dependency::build(options_of(options)?))?))
}

fn repositories_of(repositories: Vec<ChartRepository>) -> Vec<Repository> {
    repositories.into_iter().map(|r| Repository { name: r.name, url: r.url }).collect()
}

fn options_of(options: DependencyOptions) -> crate::error::Result<Options> {
    let (debug, timeout_ms) = (options.debug, options.timeout_ms);
    let accesses = options
        .sources
        .into_iter()
        .map(|s| {
            let (plain_http, credential, challenge) = (s.plain_http, s.credential, s.challenge);
            let registry = RemoteOptions { plain_http, credential, challenge, debug, timeout_ms };
            Ok(Access {
                chart: reference_of(&s.chart)?,
                mirrors: mirrors_of(s.mirrors, &registry)?,
                connection: connection_of(registry),
            })
        })
        .collect::<crate::error::Result<_>>()?;
    Ok(Options {
        chart_dir: PathBuf::from(options.chart_dir),
        cache: PathBuf::from(options.cache),
        repositories: repositories_of(options.repositories),
        accesses,
        offline: options.offline,
        limits: limits_of(options.limits),
        source_date_epoch: options.source_date_epoch,
        links: options.links.into_iter().map(|d| (PathBuf::from(d.dir), links_of(d.links))).collect(),
        connection: Connection { trace: Trace::new(debug), ..Connection::default() },
    })
}

fn result(outcome: Outcome) -> DependenciesResult {
    let text = |p: &PathBuf| p.display().to_string();
    DependenciesResult {
        declared: outcome.declared,
        saved: outcome
            .saved
            .into_iter()
            .map(|s| Saved {
                pulled: s.pulled.as_ref().map(|reference| PulledChart {
                    reference: reference.to_string(),
                    digest: s.locked.manifest_digest.clone().unwrap_or_default(),
                    path: s.archive.as_ref().map(|a| text(&a.path)).unwrap_or_default(),
                }),
                packaged: s.archive.as_ref().filter(|_| s.pulled.is_none()).map(|a| text(&a.path)),
                name: s.locked.name,
                repository: s.locked.repository,
                version: s.locked.version,
            })
            .collect(),
        removed: outcome.removed.iter().map(text).collect(),
        lock_file: outcome.lock_file.as_ref().map(text),
        warnings: outcome.warnings,
    }
}
