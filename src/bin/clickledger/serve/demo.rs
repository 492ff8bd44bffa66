//! The demo program a first start registers, and the lines printed to try it with curl.

use std::net::SocketAddr;

use clickledger::{ConversionKind, Ledger, LedgerError, NewProgram, ProgramSettings};

/// The demo program's name.
pub(crate) const DEMO_PROGRAM: &str = "demo";
/// Its landing domain: `.example` is reserved for examples (RFC 2606).
pub(crate) const DEMO_DOMAIN: &str = "shop.example";
/// Its default landing URL.
pub(crate) const DEMO_LANDING_URL: &str = "https://shop.example/welcome";

/// Registers the demo program: sales, 30 days, landing on `shop.example`.
pub(crate) fn register(ledger: &Ledger) -> Result<NewProgram, LedgerError> {
    let settings = ProgramSettings {
        kind: ConversionKind::Sales,
        landing_domains: vec![DEMO_DOMAIN.to_owned()],
        default_landing_url: Some(DEMO_LANDING_URL.to_owned()),
        ..ProgramSettings::new(DEMO_PROGRAM)
    };
    ledger.register_program(settings)
}

/// The base URL clients on this machine reach the server at.
pub(crate) fn base_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// What a start prints to standard output: where it serves and, when the demo program
/// exists, a tracking link and a postback to try. The key is known only on the start
/// that registered the program.
pub(crate) fn banner(addr: SocketAddr, ledger: &Ledger, demo: Option<&NewProgram>) -> String {
    let base = base_url(addr);
    let mut text = format!(
        "clickledger serving on {base} (data: {})\n",
        ledger.dir().display()
    );
    if ledger.program_id(DEMO_PROGRAM).is_none() {
        return text;
    }
    let key = match demo {
        Some(program) => {
            text.push_str(&format!(
                "demo program {DEMO_PROGRAM:?} registered; its key, shown this once: {}\n",
                program.key
            ));
            program.key.clone()
        }
        None => "<the demo key printed at the first start>".to_owned(),
    };
    text.push_str(&format!(
        "\ntracking link (open it, or let curl show the redirect):\n  \
         curl -si '{base}/c/{DEMO_PROGRAM}/partner-1?url=https://{DEMO_DOMAIN}/shoes?size=42%23top'\n\
         \nclick, then post the order back with the click ID:\n  \
         ID=$(curl -s -o /dev/null -w '%{{redirect_url}}' '{base}/c/{DEMO_PROGRAM}/partner-1' | sed 's/.*aecid=//')\n  \
         curl -s \"{base}/postback?key={key}&id=order-1&amount=49.90&currency=EUR&cids=$ID\"\n"
    ));
    text
}
