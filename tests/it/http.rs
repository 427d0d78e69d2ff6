//! A scripted HTTP/1.1 server on `127.0.0.1` that stands in for Slack and generic webhooks.
//!
//! [`Server::start`] takes a script of [`Reply`]s used in order, then one reply for every request
//! after that. Each request is recorded before it is answered; read them back with
//! [`Server::requests`] or [`Server::wait_for`]. A thread per connection; keep-alive,
//! `Content-Length` and chunked request bodies, and `Expect: 100-continue` are supported.
//! Dropping the server stops the accept loop, ends pending `Delay`s and closes every connection.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A scripted response.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Status and body; `Content-Type: application/json` if the body starts with `{`, else
    /// `text/plain`.
    Status(u16, String),
    /// The given status (usually 429) with `Retry-After: N` (seconds) and a short text body.
    RetryAfter(u16, u64),
    /// Wait, then reply (for client timeouts). Dropping the server cuts the wait short.
    Delay(Duration, Box<Reply>),
    /// Read the request, then close the connection without answering.
    Close,
}

/// One request received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query string included.
    pub path: String,
    /// In arrival order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    /// The first header of this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics, showing the body, if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        let body = String::from_utf8_lossy(&self.body);
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {body}"))
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    then: Option<Reply>,
    requests: Vec<Request>,
    /// Clones of the open connections by id, so `Drop` can shut them down.
    conns: HashMap<u64, TcpStream>,
    next_id: u64,
    stop: bool,
}

/// The state, and a condvar notified on every request and on stop.
type Shared = (Mutex<State>, Condvar);

fn lock(sh: &Shared) -> MutexGuard<'_, State> {
    sh.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running server; see the module docs.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts on 127.0.0.1:0 with a script: replies are used in order; after the script runs
    /// out, `then` is used for every request.
    pub fn start(script: Vec<Reply>, then: Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new((Mutex::default(), Condvar::new()));
        let mut server = Server {
            addr,
            shared: Arc::clone(&shared),
            accept: None,
        };
        server.set_script(script, then);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                let mut state = lock(&shared);
                if state.stop {
                    break;
                }
                let (Ok(stream), id) = (stream, state.next_id) else {
                    continue;
                };
                state.next_id += 1;
                if let Ok(clone) = stream.try_clone() {
                    state.conns.insert(id, clone);
                }
                drop(state);
                let sh = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = serve(&sh, stream);
                    lock(&sh).conns.remove(&id);
                });
            }
        });
        server.accept = Some(accept);
        server
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order (including ones answered with errors).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared).requests.clone()
    }

    /// Waits until at least `n` requests have arrived or the timeout passes; returns the
    /// requests (possibly fewer than `n`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let (sh, more) = (&*self.shared, |s: &mut State| s.requests.len() < n);
        let waited = sh.1.wait_timeout_while(lock(sh), timeout, more);
        waited.unwrap_or_else(|e| e.into_inner()).0.requests.clone()
    }

    /// Replaces the script (e.g. to recover after failures).
    pub fn set_script(&self, script: Vec<Reply>, then: Reply) {
        let mut state = lock(&self.shared);
        (state.script, state.then) = (script.into(), Some(then));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all(); // ends the waits of `Delay`s
        // Wake the blocking `accept` with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for conn in lock(&self.shared).conns.values() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// Answers requests on one connection until the client closes it (or a `Close` reply).
fn serve(sh: &Shared, stream: TcpStream) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    while let Some(req) = read_request(&mut input, &mut out)? {
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = {
            let mut state = lock(sh);
            state.requests.push(req);
            sh.1.notify_all();
            let then = state.then.clone();
            state.script.pop_front().or(then).unwrap_or(Reply::Close)
        };
        if !answer(sh, &mut out, reply)? || close {
            break;
        }
    }
    out.shutdown(Shutdown::Both)
}

/// The next request, or `None` at the end of the connection.
fn read_request(input: &mut impl BufRead, out: &mut impl Write) -> io::Result<Option<Request>> {
    let mut line = String::new();
    while line.trim().is_empty() {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
    }
    let mut words = line.split_whitespace().map(str::to_string);
    let method = words.next().unwrap_or_default();
    let path = words.next().unwrap_or_default();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if input.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        // Without a colon: the empty line that ends the headers.
        let Some((name, value)) = h.split_once(':') else {
            break;
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        at: Instant::now(),
    };
    let lower = |name| req.header(name).unwrap_or_default().to_ascii_lowercase();
    let (coding, length) = (lower("transfer-encoding"), lower("content-length"));
    if lower("expect") == "100-continue" {
        out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        out.flush()?;
    }
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.trim().to_string());
    if coding.contains("chunked") {
        loop {
            let mut size = String::new();
            input.read_line(&mut size)?;
            let hex = size.split(';').next().unwrap_or_default().trim();
            let n = usize::from_str_radix(hex, 16).map_err(|_| bad(&size))?;
            if n == 0 {
                break;
            }
            let start = req.body.len();
            req.body.resize(start + n, 0);
            input.read_exact(&mut req.body[start..])?;
            input.read_line(&mut String::new())?; // the CRLF after the chunk
        }
        let mut trailer = String::new(); // trailers, up to the empty line
        while input.read_line(&mut trailer)? > 0 && !trailer.trim().is_empty() {
            trailer.clear();
        }
    } else if !length.is_empty() {
        let n = length.parse().map_err(|_| bad(&length))?;
        req.body.resize(n, 0);
        input.read_exact(&mut req.body)?;
    }
    Ok(Some(req))
}

/// Sends one reply; `false` when the connection is to be closed instead.
fn answer(sh: &Shared, out: &mut TcpStream, reply: Reply) -> io::Result<bool> {
    let (code, body, extra) = match reply {
        Reply::Status(code, body) => (code, body, String::new()),
        Reply::RetryAfter(code, secs) => (
            code,
            "rate limited".into(),
            format!("Retry-After: {secs}\r\n"),
        ),
        Reply::Delay(wait, then) => {
            // Wait on the condvar, not in `sleep`, so that `Drop` ends the wait.
            let running = |s: &mut State| !s.stop;
            let _ = sh.1.wait_timeout_while(lock(sh), wait, running);
            let stopped = lock(sh).stop;
            return if stopped {
                Ok(false)
            } else {
                answer(sh, out, *then)
            };
        }
        Reply::Close => return Ok(false),
    };
    let reason = match code {
        200 => "OK",
        429 => "Too Many Requests",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Status",
    };
    let kind = if body.starts_with('{') {
        "application/json"
    } else {
        "text/plain"
    };
    let len = body.len();
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\n\
         Connection: keep-alive\r\n{extra}\r\n"
    );
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    out.flush()?;
    Ok(true)
}

/// Two requests on one connection: chunked with `Expect`, then `Content-Length` and `close`.
#[test]
fn keepalive_chunked_expect_and_script() {
    use std::io::Read;
    let script = vec![Reply::RetryAfter(429, 2)];
    let server = Server::start(script, Reply::Status(200, "{}".into()));
    let mut conn = TcpStream::connect(server.addr).unwrap();
    let first = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
                 3\r\n{\"k\r\n5\r\n\":1}\r\n0\r\n\r\n";
    let second = "GET /b HTTP/1.1\r\nCONTENT-length: 2\r\nConnection: close\r\n\r\n{}";
    let both = first.to_string() + second;
    conn.write_all(both.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    for want in "100 Continue|429 Too Many|Retry-After: 2|200 OK|json\r\n".split('|') {
        assert!(answer.contains(want), "{want} in {answer}");
    }
    let requests = server.wait_for(2, Duration::from_secs(5));
    assert_eq!(requests[0].json()["k"], 1);
    assert_eq!(requests[1].header("Content-Length"), Some("2"));
    assert_eq!(requests[1].method.clone() + &requests[1].path, "GET/b");
}

/// `Close` closes without an answer; `Drop` ends a pending `Delay` at once.
#[test]
fn close_delay_and_drop() {
    use std::io::Read;
    let delay = Reply::Delay(Duration::from_secs(60), Box::new(Reply::Close));
    let script = vec![Reply::Close, delay];
    let server = Server::start(script, Reply::Status(200, "ok".into()));
    let ask = || {
        let mut conn = TcpStream::connect(server.addr).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        conn
    };
    let mut rest = Vec::new();
    assert_eq!(ask().read_to_end(&mut rest).unwrap(), 0);
    let mut delayed = ask();
    assert_eq!(server.wait_for(2, Duration::from_secs(5)).len(), 2);
    let started = Instant::now();
    drop(server);
    assert_eq!(delayed.read_to_end(&mut rest).unwrap_or(0), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}
