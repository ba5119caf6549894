//! A small CloudTrail on loopback, for the APIs moto does not serve (`ListPublicKeys`): it speaks
//! CloudTrail's JSON protocol (`awsJson1_1`: a POST whose `X-Amz-Target` names the operation) to
//! the real SDK client, one request per connection, and records each call with the region the
//! client signed it for.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

use crate::fault_proxy::read_request;

/// One call the server answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation (`ListPublicKeys`).
    pub operation: String,
    /// The region of the request's signature (its credential scope).
    pub region: String,
    /// The request's JSON body.
    pub body: Value,
}

/// A running server (it runs until the test process ends).
pub struct CloudTrailServer {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_CLOUDTRAIL`.
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CloudTrailServer {
    /// Serves `public_keys` (`PublicKeyList` entries: base64 `Value`, `Fingerprint`, validity
    /// times in epoch seconds) to every `ListPublicKeys`.
    pub fn start(public_keys: Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, keys) = (log.clone(), public_keys.clone());
                thread::spawn(move || {
                    let _ = answer(client, &keys, &log);
                });
            }
        });
        Self { endpoint, calls }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

fn answer(client: TcpStream, keys: &Value, log: &Mutex<Vec<Call>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let request = read_request(&mut reader)?;
    let operation = request
        .header("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_string();
    // `Credential=AKID/20241204/us-east-1/cloudtrail/aws4_request, ...`
    let region = request
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    log.lock().unwrap().push(Call {
        operation: operation.clone(),
        region,
        body,
    });
    let (status, body) = match operation.as_str() {
        "ListPublicKeys" => ("200 OK", json!({ "PublicKeyList": keys })),
        other => (
            "400 Bad Request",
            json!({"__type": "UnknownOperationException", "message": format!("{other} is not served here")}),
        ),
    };
    let body = body.to_string();
    let mut out = client;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: \
         loopback\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
