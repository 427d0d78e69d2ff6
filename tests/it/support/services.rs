//! The local servers the tests talk to (moto for S3/SQS/SNS, the test SMTP server), which
//! `scripts/test.sh` starts: one gate that decides whether a test runs, skips with a message or
//! fails, and one probe per protocol that checks the server answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Once;
use std::time::Duration;

/// A server a group of tests needs, and how the environment names it.
pub struct Service {
    /// The tests' name in messages: `moto`, `SMTP`.
    pub tests: &'static str,
    /// The variable holding the server's address (`TRAILWATCH_TEST_ENDPOINT`).
    pub var: &'static str,
    /// The variable that, set to `1`, skips the tests (`TRAILWATCH_SKIP_MOTO`).
    pub skip_var: &'static str,
    /// What the server is, in messages: `the moto server`.
    pub server: &'static str,
    /// Its start script and log name: `moto` for `scripts/moto.sh` and `target/moto.log`.
    pub script: &'static str,
    /// Checks that the address answers as this server.
    pub probe: fn(&str) -> Result<(), String>,
    /// The skip message is printed once per run.
    pub skipped: Once,
}

/// The moto server (`scripts/moto.sh`).
pub static MOTO: Service = Service {
    tests: "moto",
    var: "TRAILWATCH_TEST_ENDPOINT",
    skip_var: "TRAILWATCH_SKIP_MOTO",
    server: "the moto server",
    script: "moto",
    probe: probe_moto,
    skipped: Once::new(),
};

/// The test SMTP server (`scripts/smtp.sh`, `scripts/smtp_server.py`).
pub static SMTP: Service = Service {
    tests: "SMTP",
    var: "TRAILWATCH_TEST_SMTP",
    skip_var: "TRAILWATCH_SKIP_SMTP",
    server: "the test SMTP server",
    script: "smtp",
    probe: probe_smtp,
    skipped: Once::new(),
};

/// A Python with the checkers of what trailwatch writes for other tools: Prometheus' own client
/// library (its text-format parser reads `/metrics`), and the published OCSF schemas with a JSON
/// Schema validator (`ocsf-json-schema`, `jsonschema`); installed pinned into moto's venv by
/// `scripts/test.sh`.
pub static TEST_PYTHON: Service = Service {
    tests: "format checker",
    var: "TRAILWATCH_TEST_PYTHON",
    skip_var: "TRAILWATCH_SKIP_MOTO",
    server: "a Python with prometheus_client, ocsf_json_schema and jsonschema",
    script: "test",
    probe: probe_test_python,
    skipped: Once::new(),
};

/// The address of `service` (its variable's value), or `None` (with a message) when its skip
/// variable is `1` and no address is set. Without either it panics, as it does when the server
/// does not answer: a plain `cargo test` must not pass while silently skipping these tests.
pub fn gate(service: &Service) -> Option<String> {
    let Service {
        tests,
        var,
        skip_var,
        server,
        script,
        ..
    } = service;
    let addr = match std::env::var(var) {
        Ok(a) if !a.is_empty() => a,
        _ => {
            if std::env::var(skip_var).is_ok_and(|v| v == "1") {
                skip_once(&service.skipped, &format!("{tests} tests ({skip_var}=1)"));
                return None;
            }
            panic!(
                "{var} is not set: run the tests with scripts/test.sh, which starts {server}, or \
                 set {skip_var}=1 to skip them"
            );
        }
    };
    if let Err(e) = (service.probe)(&addr) {
        panic!(
            "{var}={addr} does not answer as {server} ({e}): start it with scripts/{script}.sh \
             start (log in target/{script}.log), or run scripts/test.sh"
        );
    }
    Some(addr)
}

/// Prints `skipped: WHAT` once per run, past the test harness's output capture (which swallows
/// `eprintln!` of passing tests), so a skipped run says so.
pub fn skip_once(once: &Once, what: &str) {
    once.call_once(|| {
        let _ = writeln!(std::io::stderr(), "skipped: {what}");
    });
}

/// A TCP connection to `addr` (`host:port`) with 3-second connect, read and write timeouts.
fn connect(addr: &str) -> Result<TcpStream, String> {
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("bad address {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to nothing"))?;
    let timeout = Duration::from_secs(3);
    let conn = TcpStream::connect_timeout(&sock, timeout).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// `GET /moto-api/` over a plain TCP connection; Ok when the answer is HTTP 200.
fn probe_moto(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or("not an http:// URL")?;
    let host = rest.split('/').next().unwrap_or(rest);
    let mut conn = connect(host)?;
    write!(
        conn,
        "GET /moto-api/ HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match conn.read(&mut head[n..]).map_err(|e| e.to_string())? {
            0 => break,
            k => n += k,
        }
    }
    let status = String::from_utf8_lossy(&head[..n]);
    let status = status.lines().next().unwrap_or_default();
    if status.starts_with("HTTP/1.") && status.split(' ').nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("answered {status:?}"))
    }
}

/// Imports the checkers with the Python at `python`.
fn probe_test_python(python: &str) -> Result<(), String> {
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import prometheus_client.parser, ocsf_json_schema, jsonschema",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Connects and reads the SMTP greeting: Ok when it is `220 ...`.
fn probe_smtp(addr: &str) -> Result<(), String> {
    let mut conn = connect(addr)?;
    let mut greeting = String::new();
    BufReader::new(&conn)
        .read_line(&mut greeting)
        .map_err(|e| e.to_string())?;
    let _ = conn.write_all(b"QUIT\r\n");
    if greeting.starts_with("220 ") {
        Ok(())
    } else {
        Err(format!("greeted with {:?}", greeting.trim_end()))
    }
}
