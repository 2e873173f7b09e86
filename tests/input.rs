//! `wsgi.input`: every way of reading the request body, bodies with
//! Content-Length and chunked bodies (WSGIChunkedRequest), bounded memory
//! for huge uploads, and the object expiring with its request.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// Bytes as the apps report them: `{"bytes": <latin-1 text>}`.
fn b(bytes: impl AsRef<[u8]>) -> Value {
    let text: String = bytes.as_ref().iter().map(|&c| char::from(c)).collect();
    json!({ "bytes": text })
}

/// A list of byte strings as the apps report it.
fn list(items: &[&[u8]]) -> Value {
    Value::Array(items.iter().map(b).collect())
}

/// `len` bytes of a pattern holding every byte value, CR and LF included.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

/// The full answer of `input_read.wsgi` to one request.
fn ask(
    apache: &Apache,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Value {
    let response = apache.request(method, target, headers, body);
    assert_eq!(
        response.status,
        200,
        "{method} {target}: {response:?}\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("{target}: not JSON ({err}): {response:?}"))
}

/// Runs the comma-separated `ops` on a POST of `body`; returns what each returned.
fn run_ops(apache: &Apache, ops: &str, body: &[u8]) -> Value {
    ask(apache, "POST", &format!("/read?{ops}"), &[], body)["results"].clone()
}

fn read_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount_app("/read", "input_read.wsgi", "")
        .start()
}

fn read_returns_whole_body(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let mut body = pattern(3000);
    body.extend_from_slice(b"\r\nlast line\n");

    let answer = ask(&apache, "POST", "/read?read,read,read", &[], &body);
    assert_eq!(answer["results"], json!([b(&body), b(""), b("")]));
    assert_eq!(answer["input_terminated"], json!(true));

    assert_eq!(
        run_ops(&apache, "read:-1,read:-1", &body),
        json!([b(&body), b("")]),
        "read(-1) is read()"
    );
    assert_eq!(
        run_ops(&apache, "read:None,read:None", &body),
        json!([b(&body), b("")]),
        "read(None) is read()"
    );
    // A body larger than any single read from the server.
    let large = pattern(3 * MIB + 17);
    assert_eq!(
        run_ops(&apache, "read,read", &large),
        json!([b(&large), b("")])
    );

    // No body at all, and an explicitly empty one.
    let get = ask(&apache, "GET", "/read?read,read:10,readline", &[], b"");
    assert_eq!(get["results"], json!([b(""), b(""), b("")]));
    let empty = ask(
        &apache,
        "POST",
        "/read?read,read:10",
        &[("Content-Length", "0")],
        b"",
    );
    assert_eq!(empty["results"], json!([b(""), b("")]));
}

fn read_size_returns_exactly_n(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    assert_eq!(
        run_ops(
            &apache,
            "read:5,read:0,read:3,read:100,read:100,read:5",
            b"hello world"
        ),
        json!([b("hello"), b(""), b(" wo"), b("rld"), b(""), b("")])
    );

    // Sizes that straddle the server's and the module's internal blocks.
    let body = pattern(200_000);
    assert_eq!(
        run_ops(
            &apache,
            "read:1,read:70000,read:65536,read:100000,read:10,read",
            &body
        ),
        json!([
            b(&body[..1]),
            b(&body[1..70_001]),
            b(&body[70_001..135_537]),
            b(&body[135_537..]),
            b(""),
            b(""),
        ])
    );
}

/// The body trickles in: read(n) must still return n bytes, waiting for
/// the rest rather than returning what happened to have arrived.
fn read_size_waits_for_slow_client(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let body = pattern(30_000);
    let mut stream = apache.connect();
    write!(
        stream,
        "POST /read?read:25000,read:25000,read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    for piece in body.chunks(7_000) {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let response = read_response(&mut stream, false);
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        answer["results"],
        json!([b(&body[..25_000]), b(&body[25_000..]), b("")])
    );
}

fn readline_variants(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let body = b"first line\nsecond\r\n\nno newline at end";
    assert_eq!(
        run_ops(
            &apache,
            "readline,readline,readline,readline,readline,readline",
            body
        ),
        json!([
            b("first line\n"),
            b("second\r\n"),
            b("\n"),
            b("no newline at end"),
            b(""),
            b(""),
        ])
    );
    assert_eq!(
        run_ops(&apache, "readline:None,readline:None", b"one\ntwo\n"),
        json!([b("one\n"), b("two\n")]),
        "readline(None) is readline()"
    );

    // readline(n): at most n bytes, stopping after a newline.
    assert_eq!(
        run_ops(
            &apache,
            "readline:4,readline:4,readline:4,readline:10,readline:2,readline:0,readline,readline:5",
            b"abcdefgh\nij\nklm"
        ),
        json!([
            b("abcd"),
            b("efgh"),
            b("\n"),
            b("ij\n"),
            b("kl"),
            b(""),
            b("m"),
            b(""),
        ])
    );

    // Lines longer than the module's 64 KiB read blocks.
    let mut long = vec![b'x'; 150_000];
    long.push(b'\n');
    let mut body = long.clone();
    body.extend_from_slice(b"tail\n");
    assert_eq!(
        run_ops(&apache, "readline,readline,readline", &body),
        json!([b(&long), b("tail\n"), b("")])
    );
    assert_eq!(
        run_ops(&apache, "readline:100000,readline,readline", &body),
        json!([b(&long[..100_000]), b(&long[100_000..]), b("tail\n")])
    );
}

fn readlines_and_hint(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let body = b"aa\nbb\ncc\ndd\nee";
    assert_eq!(
        run_ops(&apache, "readlines,readlines", body),
        json!([list(&[b"aa\n", b"bb\n", b"cc\n", b"dd\n", b"ee"]), []])
    );
    // readlines(hint) stops once the lines read add up to at least hint.
    assert_eq!(
        run_ops(
            &apache,
            "readlines:4,readlines:3,readlines,readlines,read",
            body
        ),
        json!([
            list(&[b"aa\n", b"bb\n"]),
            list(&[b"cc\n"]),
            list(&[b"dd\n", b"ee"]),
            [],
            b(""),
        ])
    );
    assert_eq!(
        run_ops(&apache, "readlines:0", body),
        json!([list(&[b"aa\n", b"bb\n", b"cc\n", b"dd\n", b"ee"])]),
        "a hint of 0 means no limit"
    );
}

fn iteration_and_mixed_calls(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    assert_eq!(
        run_ops(&apache, "iter,iter,read", b"one\ntwo\r\n\nthree"),
        json!([list(&[b"one\n", b"two\r\n", b"\n", b"three"]), [], b("")])
    );
    // All methods consume the same stream, in order.
    assert_eq!(
        run_ops(
            &apache,
            "readline:3,read:4,readline,iter,read",
            b"line1\nline2\nline3\nrest of body"
        ),
        json!([
            b("lin"),
            b("e1\nl"),
            b("ine2\n"),
            list(&[b"line3\n", b"rest of body"]),
            b(""),
        ])
    );
    assert_eq!(
        run_ops(&apache, "readline,readlines:1,read:3,read", b"a\nb\nc\ndef"),
        json!([b("a\n"), list(&[b"b\n"]), b("c\nd"), b("ef")])
    );
}

fn close_is_a_noop(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    assert_eq!(
        run_ops(&apache, "read:2,close,read,close,read", b"body text"),
        json!([b("bo"), null, b("dy text"), null, b("")])
    );
}

/// Chunked request bodies need WSGIChunkedRequest On (server-wide or for
/// the location or directory); without it the client gets 411 and the
/// application does not run.
fn chunked_request_bodies(mpm: Mpm, mode: Mode) {
    let source = std::fs::read_to_string(apps_dir().join("input_read.wsgi")).unwrap();
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/off", "input_read.wsgi", "")
        .mount_app("/loc", "input_read.wsgi", "")
        .with(|b| b.file("apps/chunkdir/input_read.wsgi", &source))
        .conf(
            "<Location /loc>\n  WSGIChunkedRequest On\n</Location>\n\
             WSGIScriptAlias /dir {root}/apps/chunkdir/input_read.wsgi\n\
             <Directory {root}/apps/chunkdir>\n  WSGIChunkedRequest On\n</Directory>\n",
        )
        .start();
    let server_wide = SiteBuilder::new(mpm, mode)
        .mount_app("/on", "input_read.wsgi", "")
        .conf("WSGIChunkedRequest On\n")
        .start();

    let body = pattern(300_000);
    let te = ("Transfer-Encoding", "chunked");
    for (server, path) in [(&apache, "/loc"), (&apache, "/dir"), (&server_wide, "/on")] {
        for chunk_size in [1, 4096, 100_000] {
            // One-byte chunks cost the module a full read each: keep it short.
            let body = if chunk_size == 1 {
                &body[..200]
            } else {
                &body[..]
            };
            let answer = ask(
                server,
                "POST",
                &format!("{path}?read,read"),
                &[te],
                &chunked(body, chunk_size),
            );
            assert_eq!(
                answer["results"],
                json!([b(body), b("")]),
                "{path}, chunks of {chunk_size}"
            );
            assert_eq!(answer["input_terminated"], json!(true));
        }
        // Line-oriented reads over a chunked body.
        let answer = ask(
            server,
            "POST",
            &format!("{path}?readline,readline:3,iter"),
            &[te],
            &chunked(b"first\nsecond\nthird\nfourth", 4),
        );
        assert_eq!(
            answer["results"],
            json!([
                b("first\n"),
                b("sec"),
                list(&[b"ond\n", b"third\n", b"fourth"])
            ])
        );
    }

    let refused = apache.request(
        "POST",
        "/off?read",
        &[te, ("X-Marker", "chunked-off")],
        &chunked(b"some data", 4),
    );
    assert_eq!(refused.status, 411, "{refused:?}");
    assert!(
        apache.wait_for_log("WSGIChunkedRequest", Duration::from_secs(10)),
        "{}",
        apache.error_log()
    );
    // Control: the same app with the marker does log it when it runs.
    let ran = ask(
        &apache,
        "POST",
        "/off?read",
        &[("X-Marker", "length-on")],
        b"data",
    );
    assert_eq!(ran["results"], json!([b("data")]));
    assert!(apache.wait_for_log("input_read ran for length-on", Duration::from_secs(10)));
    assert!(
        !apache
            .error_log()
            .contains("input_read ran for chunked-off"),
        "the application must not run for a refused chunked request:\n{}",
        apache.error_log()
    );
}

/// A body the application leaves (partly) unread is discarded by the
/// server; the connection goes on with the next request.
fn unread_body_is_discarded(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let mut stream = apache.connect();
    let body = pattern(100_000);
    for target in ["/read", "/read?read:10", "/read?readline"] {
        let response = keepalive_request(&mut stream, "POST", target, &body);
        assert_eq!(response.status, 200, "{target}: {response:?}");
        let next = keepalive_request(&mut stream, "POST", "/read?read", b"next body");
        assert_eq!(next.status, 200, "after {target}: {next:?}");
        let answer: Value = serde_json::from_slice(&next.body).unwrap();
        assert_eq!(answer["results"], json!([b("next body")]), "after {target}");
    }
}

/// `Expect: 100-continue`: the interim response comes when the application
/// first reads the body, and not at all when it never does.
fn expect_100_continue(mpm: Mpm, mode: Mode) {
    let apache = read_site(mpm, mode);
    let head = "Host: x\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n";

    let mut stream = apache.connect();
    write!(stream, "POST /read?read HTTP/1.1\r\n{head}").unwrap();
    let interim = read_raw_head(&mut stream);
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "{interim}"
    );
    stream.write_all(b"body text").unwrap();
    let response = read_response(&mut stream, false);
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(answer["results"], json!([b("body text")]));

    // The app ignores the body: the final response comes without waiting
    // for it, and without a 100 Continue before it.
    let mut stream = apache.connect();
    write!(stream, "POST /read HTTP/1.1\r\n{head}").unwrap();
    let head = read_raw_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
}

/// Using a kept `wsgi.input` in a later request raises RuntimeError.
fn input_expires_after_request(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        // Requests of one connection must reach one process.
        .daemon_option("processes=1")
        .mount_app("/expired", "input_expired.wsgi", "")
        .start();
    // One keep-alive connection: both requests reach the same process.
    let mut stream = apache.connect();
    let first = keepalive_request(&mut stream, "POST", "/expired", b"first body");
    assert_eq!(first.status, 200, "{first:?}\n{}", apache.error_log());
    let first: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(first["kept"], json!(true));
    let second = keepalive_request(&mut stream, "POST", "/expired", b"second body");
    assert_eq!(second.status, 200, "{second:?}\n{}", apache.error_log());
    let second: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(second["kept"], json!(false), "{second}");
    assert_eq!(second["pid"], first["pid"]);
    for call in ["read", "read_n", "readline", "readlines", "iter"] {
        assert_eq!(
            second[call]["raised"],
            json!("RuntimeError"),
            "{call}: {second}"
        );
        let message = second[call]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("request object has expired"),
            "{call}: {message}"
        );
    }
    assert_eq!(second["current"], json!("second body"));
}

/// Where the upload streams its bytes: the socket and `sha256sum`.
struct Upload {
    hasher: std::process::Child,
}

impl Upload {
    fn start() -> Upload {
        let hasher = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot run sha256sum");
        Upload { hasher }
    }

    /// Sends `total` bytes of varying content in blocks of odd sizes,
    /// as a plain body or in the chunked transfer coding.
    fn send(&mut self, stream: &mut TcpStream, total: usize, chunked: bool) {
        let base: Vec<u8> = pattern(MIB + 4096);
        let hasher = self.hasher.stdin.as_mut().unwrap();
        let mut sent = 0usize;
        let mut block_no = 0usize;
        while sent < total {
            let len = (100_003 + block_no % 5 * 1000).min(total - sent);
            let start = block_no * 7919 % (base.len() - 110_000);
            let block = &base[start..start + len];
            if chunked {
                write!(stream, "{len:x}\r\n").unwrap();
                stream.write_all(block).unwrap();
                stream.write_all(b"\r\n").unwrap();
            } else {
                stream.write_all(block).unwrap();
            }
            hasher.write_all(block).unwrap();
            sent += len;
            block_no += 1;
        }
        if chunked {
            stream.write_all(b"0\r\n\r\n").unwrap();
        }
    }

    fn sha256(mut self) -> String {
        drop(self.hasher.stdin.take());
        let output = self.hasher.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// A 256 MiB upload read in 64 KiB blocks leaves the child's peak RSS
/// (almost) where it was, with Content-Length and chunked.
fn upload_memory_is_bounded(mpm: Mpm, mode: Mode) {
    const TOTAL: usize = 256 * MIB;
    const ALLOWED_GROWTH_KIB: u64 = 64 * 1024;
    let apache = SiteBuilder::new(mpm, mode)
        // Requests of one connection must reach one process.
        .daemon_option("processes=1")
        .mount_app("/digest", "input_digest.wsgi", "")
        .conf("WSGIChunkedRequest On\n")
        .start();
    for chunked in [false, true] {
        // A first request on the connection names the child that will
        // serve the upload, and loads the app before the baseline.
        let mut stream = apache.connect();
        let warmup = keepalive_request(&mut stream, "GET", "/digest", b"");
        assert_eq!(warmup.status, 200, "{warmup:?}\n{}", apache.error_log());
        let warmup: Value = serde_json::from_slice(&warmup.body).unwrap();
        let pid = warmup["pid"].as_i64().unwrap();
        let before = peak_rss_kib(pid);

        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {TOTAL}")
        };
        write!(
            stream,
            "POST /digest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{framing}\r\n\r\n"
        )
        .unwrap();
        let mut upload = Upload::start();
        upload.send(&mut stream, TOTAL, chunked);
        let expected_sha = upload.sha256();
        let response = read_response(&mut stream, false);
        assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
        let answer: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            answer["pid"].as_i64(),
            Some(pid),
            "served by another process"
        );
        assert_eq!(answer["size"], json!(TOTAL), "chunked={chunked}");
        assert_eq!(answer["sha256"], json!(expected_sha), "chunked={chunked}");
        assert_eq!(
            answer["largest_block"],
            json!(65536),
            "read(65536) returns 64 KiB blocks"
        );

        let after = peak_rss_kib(pid);
        assert!(
            after.saturating_sub(before) <= ALLOWED_GROWTH_KIB,
            "chunked={chunked}: peak RSS of child {pid} grew from {before} KiB to {after} KiB \
             for a {TOTAL}-byte upload"
        );
    }
}

wsgi_tests!(
    read_returns_whole_body,
    read_size_returns_exactly_n,
    read_size_waits_for_slow_client,
    readline_variants,
    readlines_and_hint,
    iteration_and_mixed_calls,
    close_is_a_noop,
    chunked_request_bodies,
    unread_body_is_discarded,
    expect_100_continue,
    input_expires_after_request,
    upload_memory_is_bounded,
);
