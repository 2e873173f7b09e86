//! Steady load for fault tests: a few clients, each on its own keep-alive
//! connection, sending one request after another (as wrk does) while a
//! test restarts Apache or kills a daemon, and recording what every
//! request got.

use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::http::try_read_response;

/// How long a client waits for a response before counting a timeout.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status.
    Status(u16),
    /// No response within [`RESPONSE_TIMEOUT`].
    Timeout,
    /// The connection failed after the request was sent on a new
    /// connection, or in the middle of a response.
    Broken(String),
    /// The server could not be connected to.
    Unreachable(String),
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// When the request was first sent, from the start of the load.
    pub at: Duration,
    /// Until its outcome, including a resend after an idle keep-alive
    /// connection was closed by the server.
    pub took: Duration,
    pub outcome: Outcome,
    /// The response body (for tests whose application reports facts).
    pub body: Vec<u8>,
}

/// Clients running in the background until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<ClientReport>>,
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct ClientReport {
    pub samples: Vec<Sample>,
    /// Kept-alive connections the server closed before answering a request
    /// sent on them (httpd closes idle connections at a graceful restart);
    /// the request was sent again on a new connection, as browsers do.
    pub idle_closes: usize,
}

/// The combined reports of every client.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub samples: Vec<Sample>,
    pub idle_closes: usize,
}

impl LoadReport {
    pub fn count(&self, wanted: impl Fn(&Outcome) -> bool) -> usize {
        self.samples.iter().filter(|s| wanted(&s.outcome)).count()
    }

    /// Samples that are not a complete 2xx response.
    pub fn failures(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| !matches!(s.outcome, Outcome::Status(200..=299)))
            .collect()
    }

    pub fn slowest(&self) -> Option<&Sample> {
        self.samples.iter().max_by_key(|s| s.took)
    }

    /// One line per failure and the slowest request, for assertion
    /// messages.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} requests, {} idle keep-alive closes",
            self.samples.len(),
            self.idle_closes
        );
        let mut by_time: Vec<&Sample> = self.samples.iter().collect();
        by_time.sort_by_key(|s| std::cmp::Reverse(s.took));
        for (i, slow) in by_time.iter().take(5).enumerate() {
            text.push_str(&format!(
                "{} {:?} at {:?} ({:?})",
                if i == 0 { "; slowest" } else { "," },
                slow.took,
                slow.at,
                slow.outcome
            ));
        }
        for failure in self.failures().iter().take(40) {
            text.push_str(&format!(
                "\n  at {:?} after {:?}: {:?} {}",
                failure.at,
                failure.took,
                failure.outcome,
                String::from_utf8_lossy(&failure.body[..failure.body.len().min(200)])
            ));
        }
        text
    }
}

impl Load {
    /// Starts `clients` clients sending `GET path` to 127.0.0.1:`port`.
    pub fn start(port: u16, clients: usize, path: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let clients = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                let path = path.to_owned();
                thread::spawn(move || run_client(port, &path, &stop, started))
            })
            .collect();
        Load { stop, clients }
    }

    /// Stops the clients (each finishes its request in progress) and
    /// returns what they saw.
    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        let mut report = LoadReport::default();
        for client in self.clients {
            let client = client.join().expect("a load client panicked");
            report.samples.extend(client.samples);
            report.idle_closes += client.idle_closes;
        }
        report.samples.sort_by_key(|s| s.at);
        report
    }
}

fn connect(port: u16) -> io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(BufReader::new(stream))
}

/// Whether an error means "closed before anything came back".
fn closed_unanswered(error: &io::Error) -> bool {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => error
            .to_string()
            .contains("connection closed before a status line"),
        kind => matches!(
            kind,
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionAborted
        ),
    }
}

fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn run_client(port: u16, path: &str, stop: &AtomicBool, started: Instant) -> ClientReport {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes();
    let mut report = ClientReport::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let reused = connection.is_some();
            let stream = match connection.take() {
                Some(stream) => stream,
                None => match connect(port) {
                    Ok(stream) => stream,
                    Err(e) => break (Outcome::Unreachable(e.to_string()), Vec::new()),
                },
            };
            let mut stream = stream;
            if let Err(e) = stream.get_mut().write_all(&request) {
                if reused && closed_unanswered(&e) && attempt == 1 {
                    report.idle_closes += 1;
                    continue;
                }
                break (Outcome::Broken(format!("write: {e}")), Vec::new());
            }
            match try_read_response(&mut stream, false) {
                Ok(response) if response.complete => {
                    let close = response
                        .header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                    if !close {
                        connection = Some(stream);
                    }
                    break (Outcome::Status(response.status), response.body);
                }
                Ok(response) => {
                    break (
                        Outcome::Broken(format!("incomplete {} response", response.status)),
                        response.body,
                    );
                }
                Err(e) if reused && attempt == 1 && closed_unanswered(&e) => {
                    // A kept-alive connection closed by the server before it
                    // read the request: send it again on a new one.
                    report.idle_closes += 1;
                }
                Err(e) if timed_out(&e) => break (Outcome::Timeout, Vec::new()),
                Err(e) => break (Outcome::Broken(e.to_string()), Vec::new()),
            }
        };
        report.samples.push(Sample {
            at: sent - started,
            took: sent.elapsed(),
            outcome: outcome.0,
            body: outcome.1,
        });
    }
    report
}
