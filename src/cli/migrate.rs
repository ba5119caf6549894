//! `trailq migrate --lake LAKE`.

use clap::Args;

use super::flags::{LakeArgs, S3Access};
use super::{EXIT_OK, query_runtime};
use trailq::error::Result;
use trailq::lake::delta::{AsOf, Tables, snapshot};
use trailq::lake::{Manifest, recover};

/// Make a lake written by an earlier trailq (its tables without Delta logs) one of Delta
/// tables, in place: every data file is kept as it is, each table's Delta log is written to
/// reference the files the manifest has live, and the manifest (with its source ledger) stays.
///
/// Safe to run again, and to interrupt: each table is converted by one commit, and a run
/// finishes what an interrupted one left. Any later ingest, compact or detect also converts
/// what is left; queries refuse a lake not yet converted.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    lake: LakeArgs,
}

/// Converts the lake and reports each table's version.
pub fn run(args: MigrateArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&args.lake.location()?)?;
    let _lock = lake.lock()?;
    let manifest = Manifest::load(&lake)?;
    let tables = Tables::of(&lake);
    let before = runtime.block_on(snapshot(&tables, AsOf::Latest))?;
    recover(&lake, &manifest)?;
    let after = runtime.block_on(snapshot(&tables, AsOf::Latest))?;
    for (table, version) in &after.versions {
        let files = after
            .files
            .keys()
            .filter(|path| path.starts_with(&format!("{}/", table.name())))
            .count();
        let state = if before.versions.contains_key(table) {
            "a Delta table already"
        } else {
            "converted"
        };
        log::info!("{table}: {state}, version {version}, {files} files");
    }
    log::info!(
        "{} is a lake of Delta tables ({} transactions in its manifest)",
        lake.display(),
        manifest.last_seq()
    );
    Ok(EXIT_OK)
}
