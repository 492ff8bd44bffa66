//! Helpers of the load run (`benches/load.sh`), hidden from `--help`:
//!
//! - `bench-static` serves a bare axum handler with no ledger behind it: the ceiling
//!   the tracking server is measured against in the same run;
//! - `bench-fixture` fills a new ledger with a program and clicks, and writes one valid
//!   postback path per click, so the load tool sends postbacks that are each accepted.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use axum::routing::get;
use clickledger::{ClickKind, Durability, Ledger, Options, ProgramSettings, Timestamp};

use super::ServeError;
use crate::error::CliError;

/// Serves `GET /` answering `ok` until Ctrl-C or SIGTERM; prints the address first.
pub(crate) fn serve_static(listen: SocketAddr) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let bind_error = |source| ServeError::Bind {
            addr: listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        crate::print(&format!(
            "clickledger serving on {} (static)\n",
            super::demo::base_url(addr)
        ))?;
        let router = axum::Router::new().route("/", get(|| async { "ok" }));
        axum::serve(listener, router)
            .with_graceful_shutdown(super::shutdown_signal())
            .await
            .map_err(bind_error)?;
        Ok(())
    })
}

/// Registers program `load` (landing domain `shop.example`) in a new ledger at `data`,
/// records `clicks` clicks, and writes a postback path for each to `out`.
pub(crate) fn fixture(data: &Path, clicks: u32, out: &Path) -> Result<(), CliError> {
    // Buffered, synced once at the end: the fixture is set-up, not what is measured.
    let buffered = Options {
        durability: Durability::None,
        ..Options::default()
    };
    let ledger = Ledger::open(data, buffered)?;
    let settings = ProgramSettings {
        landing_domains: vec![super::demo::DEMO_DOMAIN.to_owned()],
        default_landing_url: Some(super::demo::DEMO_LANDING_URL.to_owned()),
        ..ProgramSettings::new("load")
    };
    let program = ledger.register_program(settings)?;
    let write_error = |source| CliError::OpenInput {
        path: out.to_owned(),
        source,
    };
    let file = std::fs::File::create(out).map_err(write_error)?;
    let mut file = std::io::BufWriter::new(file);
    let now = Timestamp::now();
    for order in 0..clicks {
        let id = ledger.record_click(program.id, "partner-1", ClickKind::Click, now)?;
        let line = format!(
            "/postback?key={}&id=L{order}&amount=1.00&currency=EUR&cids={id}\n",
            program.key
        );
        file.write_all(line.as_bytes()).map_err(write_error)?;
    }
    file.flush().map_err(write_error)?;
    ledger.sync()?;
    Ok(())
}
