//! `run_application` driven through the recording backend: real Python
//! applications calling start_response, write, exc_info and close in the
//! orders PEP 3333 allows and forbids, checked against what would have
//! reached the client and the error log.

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wsgi_core::environ::CgiEnviron;

use super::environ::ServerFacts;
use super::run::{Completion, RunRequest, run_application};
use super::testing::{Lines, Recording, with_python};
use super::types::WsgiTypes;

/// What one request did.
struct Outcome {
    completion: Completion,
    backend: Recording,
    log: Vec<String>,
    /// The script's `closed` list after the request.
    closed: usize,
}

impl Outcome {
    fn logged(&self, text: &str) -> bool {
        self.log.iter().any(|line| line.contains(text))
    }

    fn status(&self) -> Option<u16> {
        self.backend.head.as_ref().map(|head| head.status)
    }
}

/// Runs the `application` defined by `script` once, for a request with
/// `body` (as HEAD when `head_request`).
fn run(script: &str, body: &[u8], head_request: bool) -> Outcome {
    let mut backend = Recording {
        body: body.to_vec(),
        read_piece: 7,
        ..Recording::default()
    };
    let lines = Lines::default();
    let method = if head_request { "HEAD" } else { "POST" };
    let cgi = CgiEnviron::from_pairs([
        ("REQUEST_METHOD", method),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("CONTENT_LENGTH", &body.len().to_string()),
    ]);
    let (completion, closed) = with_python(|py| {
        let types = WsgiTypes::create(py).expect("adapter types");
        let globals = PyDict::new(py);
        let code = CString::new(format!("import sys\nclosed = []\n{script}")).expect("no NUL");
        py.run(&code, Some(&globals), None).expect("script runs");
        let app = globals
            .get_item("application")
            .expect("lookup")
            .expect("application defined");
        let request = RunRequest {
            script: "/test/app.wsgi",
            cgi: &cgi,
            facts: ServerFacts {
                multithread: true,
                multiprocess: false,
                run_once: false,
                apache_version: (2, 4, 0),
            },
            head_request,
            script_mtime: None,
            apache_request: std::ptr::null_mut(),
        };
        let completion = run_application(py, &types, &app, &request, &mut backend, &lines);
        let closed = globals
            .get_item("closed")
            .expect("lookup")
            .map_or(0, |list| list.len().unwrap_or(0));
        (completion, closed)
    });
    Outcome {
        completion,
        backend,
        log: lines.0.into_inner(),
        closed,
    }
}

#[test]
fn write_and_the_iterable_reach_the_client_in_order() {
    let out = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'one ')
    return [b'two ', b'three']
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded, "{:?}", out.log);
    assert_eq!(out.status(), Some(200));
    assert_eq!(out.backend.heads_set, 1);
    assert_eq!(out.backend.sent, b"one two three");
    assert!(!out.backend.cut);
}

#[test]
fn start_response_may_wait_for_the_first_iteration() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('201 Created', [])
    yield b''
    yield environ['wsgi.input'].read()
"#,
        b"posted body",
        false,
    );
    assert_eq!(out.completion, Completion::Responded, "{:?}", out.log);
    assert_eq!(out.status(), Some(201));
    assert_eq!(out.backend.sent, b"posted body");
}

#[test]
fn close_runs_once_even_when_iteration_raises() {
    let out = run(
        r#"
class Body:
    def __iter__(self):
        yield b'partial'
        raise ValueError('iteration broke')
    def close(self):
        closed.append(1)

def application(environ, start_response):
    start_response('200 OK', [])
    return Body()
"#,
        b"",
        false,
    );
    assert_eq!(out.closed, 1);
    // The head went out with the first block: the response is cut, not
    // turned into a 500.
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.backend.sent, b"partial");
    assert!(out.backend.cut);
    assert!(out.logged("ValueError exception raised processing WSGI script '/test/app.wsgi'"));
    assert!(out.logged("ValueError: iteration broke"), "{:?}", out.log);
}

#[test]
fn an_error_before_any_output_is_a_500_with_its_traceback() {
    let out = run(
        r#"
class Body:
    def __iter__(self):
        raise KeyError('missing')
        yield b''
    def close(self):
        closed.append(1)

def application(environ, start_response):
    start_response('200 OK', [])
    return Body()
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Failed);
    assert_eq!(out.closed, 1);
    assert!(out.backend.head.is_none() && out.backend.sent.is_empty());
    assert!(
        out.logged("Traceback (most recent call last):"),
        "{:?}",
        out.log
    );
    assert!(out.logged("KeyError: 'missing'"), "{:?}", out.log);
}

#[test]
fn a_response_never_started_fails() {
    let out = run(
        "def application(environ, start_response):\n    return [b'no head']\n",
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Failed);
    assert!(out.backend.head.is_none());
    assert!(out.logged("response has not been started"), "{:?}", out.log);
}

#[test]
fn exc_info_before_the_head_went_out_replaces_it() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('X-First', '1')])
    try:
        raise RuntimeError('late failure')
    except RuntimeError:
        start_response('503 Busy', [('Retry-After', '5')], sys.exc_info())
    return [b'try later']
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded, "{:?}", out.log);
    assert_eq!(out.status(), Some(503));
    let head = out.backend.head.as_ref().expect("head");
    assert_eq!(head.headers, [(b"Retry-After".to_vec(), b"5".to_vec())]);
    assert_eq!(out.backend.sent, b"try later");
}

#[test]
fn exc_info_after_the_head_went_out_reraises_and_cuts() {
    let out = run(
        r#"
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'half')
    try:
        raise LookupError('original problem')
    except LookupError:
        start_response('500 Error', [], sys.exc_info())
    return [b'never sent']
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.status(), Some(200));
    assert_eq!(out.backend.sent, b"half");
    assert!(out.backend.cut);
    // The application's own exception, re-raised by start_response.
    assert!(out.logged("LookupError: original problem"), "{:?}", out.log);
}

#[test]
fn write_refuses_text() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])('sent')
"#,
        b"",
        false,
    );
    // Nothing was sent, so this is a 500.
    assert_eq!(out.completion, Completion::Failed);
    assert!(
        out.logged("write() argument must be bytes, not str"),
        "{:?}",
        out.log
    );
}

#[test]
fn start_response_again_after_output_without_exc_info_is_an_error() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])(b'sent')
    start_response('404 Not Found', [])
    return []
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.status(), Some(200));
    assert!(out.backend.cut);
    assert!(
        out.logged("start_response() called more than once without exc_info"),
        "{:?}",
        out.log
    );
}

#[test]
fn a_body_longer_than_its_content_length_is_trimmed() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '3')])
    return [b'abcdef']
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.backend.sent, b"abc");
    assert!(
        out.logged("larger than its Content-Length of 3"),
        "{:?}",
        out.log
    );
}

#[test]
fn a_body_shorter_than_its_content_length_fails_or_is_cut() {
    // Nothing produced: still a 500.
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '10')])
    return []
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Failed);
    assert!(
        out.logged("had 0 bytes but declared a Content-Length of 10"),
        "{:?}",
        out.log
    );

    // Part of it went out: the connection is cut.
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '10')])
    yield b'abc'
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.backend.sent, b"abc");
    assert!(out.backend.cut);
    assert!(
        out.logged("ended after 3 of its declared 10 bytes"),
        "{:?}",
        out.log
    );
}

#[test]
fn a_head_request_may_skip_the_body_its_length_declares() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '100')])
    return [] if environ['REQUEST_METHOD'] == 'HEAD' else [b'x' * 100]
"#,
        b"",
        true,
    );
    assert_eq!(out.completion, Completion::Responded, "{:?}", out.log);
    assert!(!out.backend.cut);
    let head = out.backend.head.as_ref().expect("head");
    assert!(
        head.headers
            .contains(&(b"Content-Length".to_vec(), b"100".to_vec()))
    );
}

#[test]
fn values_that_are_not_bytes_are_refused() {
    let out = run(
        r#"
def application(environ, start_response):
    start_response('200 OK', [])
    return ['text, not bytes']
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Failed);
    assert!(
        out.logged("sequence of byte string values expected, value of type str found"),
        "{:?}",
        out.log
    );
}

#[test]
fn an_exception_in_close_is_logged_and_the_response_stands() {
    let out = run(
        r#"
class Body(list):
    def close(self):
        closed.append(1)
        raise OSError('close failed')

def application(environ, start_response):
    start_response('200 OK', [])
    return Body([b'complete'])
"#,
        b"",
        false,
    );
    assert_eq!(out.completion, Completion::Responded);
    assert_eq!(out.closed, 1);
    assert_eq!(
        [&out.backend.sent[..], &out.backend.held[..]].concat(),
        b"complete"
    );
    assert!(!out.backend.cut);
    assert!(out.logged("OSError: close failed"), "{:?}", out.log);
}
