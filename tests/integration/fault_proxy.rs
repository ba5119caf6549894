//! A fault-injecting HTTP proxy for the S3 tests: it sits between trailq and the S3 server on
//! loopback, answers some requests with 503 SlowDown or 500, drops connections before or after
//! forwarding, cuts response bodies short, and denies chosen key prefixes with 403. It handles
//! one request per connection (answers carry `Connection: close`) and logs every request line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// The faults the proxy injects, in the order it cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 SlowDown (throttling).
    SlowDown,
    /// 500 InternalError.
    InternalError,
    /// Connection closed before the request reaches the server.
    Drop,
    /// The server gets and answers the request; the answer is lost.
    LostAnswer,
    /// The answer's body is cut in half.
    CutBody,
}

const FAULTS: [Fault; 5] = [
    Fault::SlowDown,
    Fault::InternalError,
    Fault::Drop,
    Fault::LostAnswer,
    Fault::CutBody,
];

/// What a proxy does.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Inject a fault into every n-th request (0: never).
    pub fault_every: usize,
    /// Answer 403 AccessDenied to requests whose target mentions this key prefix.
    pub deny_prefix: Option<String>,
}

/// A running proxy (it runs until the test process ends).
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    state: Arc<State>,
}

struct State {
    upstream: SocketAddr,
    rules: Rules,
    requests: AtomicUsize,
    injected: [AtomicU64; 5],
    denied: AtomicU64,
    log: Mutex<Vec<String>>,
}

impl FaultProxy {
    /// Starts a proxy to the server at `upstream` (`http://host:port`).
    pub fn start(upstream: &str, rules: Rules) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            upstream,
            rules,
            requests: AtomicUsize::new(0),
            injected: Default::default(),
            denied: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = shared.clone();
                thread::spawn(move || {
                    let _ = handle(&state, client);
                });
            }
        });
        Self { endpoint, state }
    }

    /// How many times each fault was injected.
    pub fn injected(&self, fault: Fault) -> u64 {
        let i = FAULTS.iter().position(|f| *f == fault).unwrap();
        self.state.injected[i].load(Ordering::Relaxed)
    }

    /// Requests answered with 403.
    pub fn denied(&self) -> u64 {
        self.state.denied.load(Ordering::Relaxed)
    }

    /// Every request line seen (`GET /bucket?list-type=2&prefix=... HTTP/1.1`).
    pub fn request_lines(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

/// A request read off a connection: its head (without the Connection header) and body.
pub struct Request {
    /// `POST / HTTP/1.1`.
    pub line: String,
    /// `Name: value` lines.
    pub headers: Vec<String>,
    /// The body (Content-Length bodies only).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| {
            let (key, value) = h.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

fn read_head(reader: &mut impl BufRead) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line);
    }
}

fn content_length(headers: &[String]) -> usize {
    headers
        .iter()
        .find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Reads one request (head and Content-Length body).
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Request> {
    let mut head = read_head(reader)?;
    let line = head.remove(0);
    assert!(
        !head
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("transfer-encoding")),
        "the proxy handles Content-Length bodies only: {line}"
    );
    let mut body = vec![0; content_length(&head)];
    reader.read_exact(&mut body)?;
    let headers = head
        .into_iter()
        .filter(|h| !h.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    Ok(Request {
        line,
        headers,
        body,
    })
}

fn error_answer(status: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy</RequestId></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends the request upstream and returns the answer's head lines and body.
fn forward(state: &State, request: &Request) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut upstream = TcpStream::connect(state.upstream)?;
    let mut head = format!("{}\r\n", request.line);
    for header in &request.headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&request.body)?;
    let mut reader = BufReader::new(upstream);
    let head = read_head(&mut reader)?;
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?;
    let head = head
        .into_iter()
        .filter(|h| !h.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    Ok((head, body))
}

fn handle(state: &State, client: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let request = read_request(&mut reader)?;
    let n = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    state.log.lock().unwrap().push(request.line.clone());
    if let Some(prefix) = &state.rules.deny_prefix {
        let encoded = prefix.replace('/', "%2F");
        if request.line.contains(prefix.as_str()) || request.line.contains(&encoded) {
            state.denied.fetch_add(1, Ordering::Relaxed);
            return client.write_all(&error_answer(
                "403 Forbidden",
                "AccessDenied",
                "Access Denied",
            ));
        }
    }
    let fault = (state.rules.fault_every > 0 && n.is_multiple_of(state.rules.fault_every))
        .then(|| FAULTS[(n / state.rules.fault_every) % FAULTS.len()]);
    if let Some(fault) = fault {
        let i = FAULTS.iter().position(|f| *f == fault).unwrap();
        state.injected[i].fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::SlowDown) => {
            return client.write_all(&error_answer(
                "503 Slow Down",
                "SlowDown",
                "Please reduce your request rate.",
            ));
        }
        Some(Fault::InternalError) => {
            return client.write_all(&error_answer(
                "500 Internal Server Error",
                "InternalError",
                "We encountered an internal error. Please try again.",
            ));
        }
        Some(Fault::Drop) => return client.shutdown(Shutdown::Both),
        _ => {}
    }
    let (head, body) = forward(state, &request)?;
    if fault == Some(Fault::LostAnswer) {
        return client.shutdown(Shutdown::Both);
    }
    let mut answer = head.join("\r\n");
    answer.push_str("\r\nConnection: close\r\n\r\n");
    client.write_all(answer.as_bytes())?;
    if fault == Some(Fault::CutBody) && !body.is_empty() {
        client.write_all(&body[..body.len() / 2])?;
        return client.shutdown(Shutdown::Both);
    }
    client.write_all(&body)
}
