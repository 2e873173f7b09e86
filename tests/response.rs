//! The response side of PEP 3333: start_response validation and repeated
//! calls, write(), response iterables and their close(), wsgi.file_wrapper,
//! Content-Length enforcement, HEAD, logging to the error_log, and bounded
//! memory for huge responses.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::Value;

const MIB: usize = 1024 * 1024;
const LOG_WAIT: Duration = Duration::from_secs(10);

fn ok(apache: &Apache, path: &str) -> Response {
    let response = apache.get(path);
    assert_eq!(
        response.status,
        200,
        "{path}: {response:?}\n{}",
        apache.error_log()
    );
    assert!(response.complete, "{path}: {response:?}");
    response
}

/// The error_log line containing `needle`, waiting for it to appear.
fn log_line(apache: &Apache, needle: &str) -> String {
    assert!(
        apache.wait_for_log(needle, LOG_WAIT),
        "no {needle:?} in the error_log:\n{}",
        apache.error_log()
    );
    apache
        .error_log()
        .lines()
        .find(|line| line.contains(needle))
        .unwrap()
        .to_owned()
}

fn assert_logged(apache: &Apache, needle: &str) {
    log_line(apache, needle);
}

/// The file served by `response_file.wsgi`: every byte value, no `{root}`.
fn file_data() -> Vec<u8> {
    (0..100_000usize)
        .map(|i| ((i * 7 + i / 251) % 256) as u8)
        .collect()
}

/// Sends a GET on `stream`, keeping the connection open unless `close`;
/// the caller reads the response.
fn send_get(stream: &mut TcpStream, target: &str, close: bool) {
    let connection = if close { "Connection: close\r\n" } else { "" };
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\n{connection}\r\n"
    )
    .unwrap();
}

/// What `start_response` raises for each case of `response_start.wsgi`.
const REFUSED: &[(&str, &str)] = &[
    ("status_int", "TypeError"),
    ("status_bytes", "TypeError"),
    ("status_none", "TypeError"),
    ("status_no_space", "ValueError"),
    ("status_no_space_reason", "ValueError"),
    ("status_two_digits", "ValueError"),
    ("status_four_digits", "ValueError"),
    ("status_letters", "ValueError"),
    ("status_empty", "ValueError"),
    ("status_crlf", "ValueError"),
    ("status_control", "ValueError"),
    ("status_non_latin1", "UnicodeEncodeError"),
    ("headers_tuple", "TypeError"),
    ("headers_dict", "TypeError"),
    ("headers_none", "TypeError"),
    ("header_list_item", "TypeError"),
    ("header_str_item", "TypeError"),
    ("header_one_item", "ValueError"),
    ("header_three_items", "ValueError"),
    ("name_bytes", "TypeError"),
    ("name_int", "TypeError"),
    ("name_empty", "ValueError"),
    ("name_space", "ValueError"),
    ("name_colon", "ValueError"),
    ("name_crlf", "ValueError"),
    ("name_non_latin1", "UnicodeEncodeError"),
    ("name_latin1_not_token", "ValueError"),
    ("value_bytes", "TypeError"),
    ("value_int", "TypeError"),
    ("value_none", "TypeError"),
    ("value_crlf", "ValueError"),
    ("value_lf", "ValueError"),
    ("value_cr", "ValueError"),
    ("value_nul", "ValueError"),
    ("value_control", "ValueError"),
    ("value_del", "ValueError"),
    ("value_non_latin1", "UnicodeEncodeError"),
    ("hop_connection", "ValueError"),
    ("hop_keep_alive", "ValueError"),
    ("hop_proxy_authenticate", "ValueError"),
    ("hop_proxy_authorization", "ValueError"),
    ("hop_te", "ValueError"),
    ("hop_trailers", "ValueError"),
    ("hop_transfer_encoding", "ValueError"),
    ("hop_upgrade", "ValueError"),
    ("hop_lowercase", "ValueError"),
    ("length_letters", "ValueError"),
    ("length_negative", "ValueError"),
    ("length_fraction", "ValueError"),
    ("length_empty", "ValueError"),
    ("length_trailing", "ValueError"),
    ("length_huge", "ValueError"),
];

/// Each bad status or header raises inside start_response; the app catches
/// it, calls start_response correctly and gets a normal response without
/// any trace of the refused values.
fn start_response_refuses_bad_values(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/start", "response_start.wsgi", "")
        .start();
    let cases: BTreeSet<String> =
        serde_json::from_slice(&ok(&apache, "/start/cases").body).unwrap();
    let expected: BTreeSet<String> = REFUSED.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(
        cases, expected,
        "the app's cases and the test's expectations differ"
    );

    let mut wrong = Vec::new();
    for (case, raised) in REFUSED {
        let response = ok(&apache, &format!("/start/{case}"));
        let answer: Value = serde_json::from_slice(&response.body)
            .unwrap_or_else(|err| panic!("{case}: not JSON ({err}): {response:?}"));
        if answer["raised"] != *raised {
            wrong.push(format!("{case}: expected {raised}, got {answer}"));
        }
        assert_eq!(response.header("X-Second-Call"), Some("yes"), "{case}");
        for refused in ["X-A", "X-Injected"] {
            assert!(response.header(refused).is_none(), "{case}: {response:?}");
        }
    }
    assert!(wrong.is_empty(), "wrong exceptions:\n{}", wrong.join("\n"));
}

/// Raw bytes of a whole response (`Connection: close`).
fn raw_response(apache: &Apache, target: &str) -> Vec<u8> {
    let mut stream = apache.connect();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Unusual but valid statuses and headers reach the client unchanged.
fn valid_unusual_heads_pass_through(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/accepted", "response_accepted.wsgi", "")
        .start();
    let response = ok(&apache, "/accepted");
    assert_eq!(response.body, b"ok");
    assert_eq!(response.header("X-Tab"), Some("a\tb"));
    assert_eq!(response.header("X-Empty"), Some(""));
    // A repeated header: as mod_wsgi, separate lines in embedded mode,
    // folded into one in daemon mode (read like a CGI script's headers),
    // Set-Cookie excepted.
    match mode {
        Mode::Embedded => assert_eq!(response.headers_named("X-Twice"), ["one", "two"]),
        Mode::Daemon => assert_eq!(response.headers_named("X-Twice"), ["one, two"]),
    }
    assert_eq!(response.headers_named("Set-Cookie"), ["a=1", "b=2"]);
    assert_eq!(
        response.header("X-Token!#$%&'*+.^_`|~"),
        Some("punctuation")
    );
    assert_eq!(response.header("Trailer"), Some("X-Later"));
    assert_eq!(response.header("Content-Length"), Some("2"));
    let raw = raw_response(&apache, "/accepted");
    assert!(
        contains(&raw, b"\r\nX-Latin: caf\xe9\r\n"),
        "latin-1 header values are sent as latin-1 bytes: {}",
        String::from_utf8_lossy(&raw)
    );

    let custom = apache.get("/accepted/custom");
    assert_eq!(
        (custom.status, custom.reason.as_str()),
        (299, "Custom Reason")
    );
    assert_eq!(apache.get("/accepted/empty_reason").status, 299);
    let raw = raw_response(&apache, "/accepted/latin1_reason");
    assert!(
        raw.starts_with(b"HTTP/1.1 200 Caf\xe9\r\n"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// Before any body byte is sent, a new start_response replaces the old
/// status and headers, with or without exc_info.
fn start_response_again_before_body(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/restart", "response_restart.wsgi", "")
        .start();
    let response = apache.get("/restart/replace");
    assert_eq!(
        (response.status, response.reason.as_str()),
        (201, "Second"),
        "{response:?}\n{}",
        apache.error_log()
    );
    assert_eq!(response.text(), "second wins");
    assert_eq!(response.header("X-Second"), Some("2"));
    assert_eq!(response.header("X-First"), None);
    assert_eq!(response.header("Content-Type"), Some("text/plain"));

    let response = apache.get("/restart/replace_with_exc_info");
    assert_eq!(response.status, 503, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "error page");
    assert_eq!(response.header("X-Error"), Some("handled"));
    assert_eq!(response.header("X-First"), None);

    let response = apache.get("/restart/replace_after_empty_write");
    assert_eq!(response.status, 202, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "accepted");
    assert_eq!(response.header("X-First"), None);
    assert_eq!(response.header("X-Second"), Some("2"));
}

/// After body bytes went out: start_response without exc_info raises
/// RuntimeError, with exc_info it re-raises that exception.
fn start_response_again_after_body(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/restart", "response_restart.wsgi", "")
        .start();
    for case in ["after_write", "after_yield"] {
        let response = ok(&apache, &format!("/restart/{case}"));
        assert_eq!(
            response.text(),
            "first;RuntimeError:start_response() called more than once without exc_info;end",
            "{case}"
        );
    }
    let response = ok(&apache, "/restart/exc_info_after_write");
    assert_eq!(response.text(), "first;reraised:KeyError:same=True;end");

    // Not caught: the exception from exc_info ends the application and the
    // response already under way is cut.
    let response = apache.get("/restart/exc_info_uncaught_after_write");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(!response.complete, "{response:?}");
    assert!(!response.text().contains("never sent"), "{response:?}");
    assert_logged(&apache, "LookupError: propagated from exc_info");
}

/// write(): bytes only, output in order before the iterable's, and a
/// RuntimeError before start_response.
fn write_callable(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/write", "response_write.wsgi", "")
        .start();
    assert_eq!(
        ok(&apache, "/write/types").text(),
        "TypeError:str;TypeError:bytearray;TypeError:memoryview;TypeError:int;\
         TypeError:NoneType;bytes;end"
    );
    assert_eq!(ok(&apache, "/write/mixed").text(), "one,two,three,four");
    assert_eq!(
        ok(&apache, "/write/before_start_caught").text(),
        "RuntimeError:response has not been started"
    );

    let response = apache.get("/write/before_start");
    assert_eq!(response.status, 500, "{response:?}");
    let script = apache.root().join("apps/response_write.wsgi");
    assert_logged(
        &apache,
        &format!(
            "RuntimeError exception raised processing WSGI script '{}'",
            script.display()
        ),
    );
    assert_logged(&apache, "RuntimeError");
    assert!(!response.text().contains("too early"));
}

/// Lists, tuples, generators, iterators and custom iterables all work;
/// empty items are skipped.
fn any_iterable_works(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/iter", "response_iterables.wsgi", "")
        .start();
    for (case, body) in [
        ("list", "list"),
        ("tuple", "tuple"),
        ("empty_list", ""),
        ("bytes_subclass", "subclass"),
        ("generator", "generator"),
        ("iterator", "iterator"),
        ("custom", "custom"),
        ("custom_empty", ""),
    ] {
        let response = ok(&apache, &format!("/iter/{case}?{case}"));
        assert_eq!(response.text(), body, "{case}");
    }
    let response = apache.get("/iter/lazy_start");
    assert_eq!(response.status, 201, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.header("X-Lazy"), Some("yes"));
    assert_eq!(response.text(), "lazy start");
}

/// close() of the iterable is called after normal completion and after an
/// exception in the middle of the iteration.
fn iterable_close_is_always_called(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/iter", "response_iterables.wsgi", "")
        .start();
    ok(&apache, "/iter/custom?normal");
    assert_logged(&apache, "close() called for normal after 2 items");
    ok(&apache, "/iter/custom_empty?empty");
    assert_logged(&apache, "close() called for empty after 0 items");
    ok(&apache, "/iter/generator?gen");
    assert_logged(&apache, "generator finished for gen");

    let response = apache.get("/iter/fails?midway");
    assert_eq!(response.status, 200, "{response:?}");
    assert!(!response.complete, "{response:?}");
    assert_logged(&apache, "close() called for midway after 2 items");
    assert_logged(&apache, "RuntimeError: iteration failed on purpose");

    let response = apache.get("/iter/fails_first?first");
    assert_eq!(response.status, 500, "{response:?}");
    assert_logged(&apache, "close() called for first after 0 items");
}

/// A client that goes away in the middle of a long streamed response:
/// the server stops iterating and calls close().
fn close_called_when_client_disconnects(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/iter", "response_iterables.wsgi", "")
        .start();
    let mut stream = apache.connect();
    write!(stream, "GET /iter/endless?gone HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while received < 2 * MIB {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the endless response ended after {received} bytes");
        received += n;
    }
    drop(stream);
    assert!(
        apache.wait_for_log("close() called for gone", Duration::from_secs(60)),
        "close() not called within 60 s of the client leaving:\n{}",
        apache.error_log()
    );
    assert!(!apache.error_log().contains("endless response timed out"));
    ok(&apache, "/iter/list");
}

/// A regular file is sent from its descriptor (read() is never called),
/// with Content-Length from the file's position to its end, or fewer bytes
/// when a smaller Content-Length was declared; the file is closed.
fn file_wrapper_sends_regular_files(mpm: Mpm, mode: Mode) {
    let data = file_data();
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/file", "response_file.wsgi", "")
        .with(|b| b.file("data/file.bin", &data))
        .start();
    let size = data.len().to_string();
    for case in ["fileio?whole", "buffered", "open"] {
        let response = ok(&apache, &format!("/file/{case}"));
        assert_eq!(
            response.header("Content-Length"),
            Some(size.as_str()),
            "{case}"
        );
        assert!(response.body == data, "{case}: wrong body {response:?}");
    }
    assert_logged(&apache, "file closed for whole");

    let response = ok(&apache, "/file/seeked/1000?seeked");
    let rest = (data.len() - 1000).to_string();
    assert_eq!(response.header("Content-Length"), Some(rest.as_str()));
    assert!(response.body == data[1000..], "{response:?}");
    assert_logged(&apache, "file closed for seeked");

    let response = ok(&apache, &format!("/file/seeked/{}?at_end", data.len()));
    assert_eq!(response.header("Content-Length"), Some("0"));
    assert!(response.body.is_empty());

    let response = ok(&apache, "/file/read_some");
    let rest = (data.len() - 10).to_string();
    assert_eq!(response.header("Content-Length"), Some(rest.as_str()));
    assert!(response.body == data[10..], "{response:?}");

    // A declared Content-Length larger than the file: the response is cut.
    let response = apache.get("/file/declared/200000?too_long");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("Content-Length"), Some("200000"));
    assert!(!response.complete, "{response:?}");
    assert!(response.body == data, "{response:?}");
    assert_logged(&apache, "ended after");

    let response = ok(&apache, "/file/after_write");
    assert!(response.body.starts_with(b"prefix;"), "{response:?}");
    assert!(response.body[7..] == data, "{response:?}");

    let response = ok(&apache, "/file/declared/5000?declared");
    assert_eq!(response.header("Content-Length"), Some("5000"));
    assert!(response.body == data[..5000], "{response:?}");
    assert_logged(&apache, "file closed for declared");

    assert!(
        !apache.error_log().contains("AssertionError"),
        "read() was called on a regular file:\n{}",
        apache.error_log()
    );
}

/// A non-file object is iterated in blksize blocks.
fn file_wrapper_iterates_other_objects(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/file", "response_file.wsgi", "")
        .start();
    let mut expected: Vec<u8> = (0..=255u8).cycle().take(2560).collect();
    expected.extend_from_slice(b"tail");
    let response = ok(&apache, "/file/bytesio?blk");
    assert!(response.body == expected, "{response:?}");
    let line = log_line(&apache, "BytesIO blk read sizes");
    assert!(line.ends_with("[1000, 1000, 1000, 1000]"), "{line}");

    let response = ok(&apache, "/file/bytesio_default?dflt");
    assert_eq!(response.body, vec![b'd'; 20_000]);
    let line = log_line(&apache, "BytesIO dflt read sizes");
    assert!(line.ends_with("[8192, 8192, 8192, 8192]"), "{line}");
}

/// Bytes beyond a declared Content-Length are dropped and logged.
fn content_length_excess_is_dropped(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/length", "response_length.wsgi", "")
        .start();
    for target in [
        "/length/10/0123456789ABCDEF",
        "/length/10/01234,56789AB,-,CDEF",
    ] {
        let response = ok(&apache, target);
        assert_eq!(response.header("Content-Length"), Some("10"), "{target}");
        assert_eq!(response.text(), "0123456789", "{target}");
    }
    assert_logged(&apache, "larger than its Content-Length");
    // Exactly the declared length is not an error.
    let before = apache
        .error_log()
        .matches("larger than its Content-Length")
        .count();
    assert_eq!(ok(&apache, "/length/5/ab,cde").text(), "abcde");
    assert_eq!(ok(&apache, "/length/0/").text(), "");
    assert_eq!(
        apache
            .error_log()
            .matches("larger than its Content-Length")
            .count(),
        before
    );
}

/// Fewer bytes than declared: a 500 if nothing was sent yet, otherwise the
/// connection is cut.
fn content_length_shortfall(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/length", "response_length.wsgi", "")
        .start();
    for target in ["/length/100/", "/length/100/-,-"] {
        let response = apache.get(target);
        assert_eq!(response.status, 500, "{target}: {response:?}");
    }
    assert_logged(&apache, "declared a Content-Length");

    let response = apache.get("/length/100/abc,def");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("Content-Length"), Some("100"));
    assert!(!response.complete, "{response:?}");
    assert_eq!(response.text(), "abcdef");
    assert_logged(&apache, "ended after");
}

/// HEAD gets the headers (Content-Length included) but no body.
fn head_requests_get_no_body(mpm: Mpm, mode: Mode) {
    let data = file_data();
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/length", "response_length.wsgi", "")
        .mount_app("/iter", "response_iterables.wsgi", "")
        .mount_app("/file", "response_file.wsgi", "")
        .with(|b| b.file("data/file.bin", &data))
        .start();
    let size = data.len().to_string();
    for (target, length) in [
        ("/length/5/hello", Some("5")),
        ("/iter/custom?head", None),
        ("/file/fileio?head_file", Some(size.as_str())),
    ] {
        let mut stream = apache.connect();
        write!(
            stream,
            "HEAD {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let response = read_response(&mut stream, true);
        assert_eq!(response.status, 200, "{target}: {response:?}");
        if length.is_some() {
            assert_eq!(response.header("Content-Length"), length, "{target}");
        }
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(
            rest.is_empty(),
            "{target}: bytes after the head: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert_logged(&apache, "close() called for head");
}

/// wsgi.errors, print() and sys.stderr (text, or bytes-like through their
/// `.buffer`) end up as [wsgi:error] lines; partial lines are written at
/// flush() or at the end of the request.
fn logging_goes_to_error_log(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/log", "response_log.wsgi", "")
        .start();
    let token = format!("tok{}", mpm.name());
    assert_eq!(ok(&apache, &format!("/log?{token}")).text(), "logged");
    for text in [
        "errors-line",
        "errors-two",
        "errors-three",
        "writelines-one",
        "writelines-two",
        "after-flush",
        "print-line",
        "print-to-stderr",
        "stdout-write",
        "stderr-write",
        "buffer-bytes",
        "buffer-bytearray",
        "buffer-memoryview",
        "buffer-lines",
        "stderr-buffer",
        "flushed-part",
        "partial-at-end",
    ] {
        let expected_end = format!("{text} {token}");
        let line = log_line(&apache, &expected_end);
        assert!(line.contains("[wsgi:error]"), "{line}");
        // Written during the request, so logged in its context.
        let context = match mode {
            Mode::Embedded => "[client 127.0.0.1:",
            Mode::Daemon => "[remote 127.0.0.1:",
        };
        assert!(line.contains(context), "{line}");
        assert!(
            line.ends_with(&expected_end),
            "not a line of its own: {line}"
        );
    }
    let line = log_line(&apache, "errors-split");
    assert!(
        line.ends_with(&format!("errors-split {token} joined")),
        "{line}"
    );
}

/// A 256 MiB response from a generator in 1 MiB chunks, read by the
/// client, leaves the child's peak RSS (almost) where it was.
fn large_response_memory_is_bounded(mpm: Mpm, mode: Mode) {
    const TOTAL_MIB: usize = 256;
    const ALLOWED_GROWTH_KIB: u64 = 64 * 1024;
    let apache = SiteBuilder::new(mpm, mode)
        // Requests of one connection must reach one process.
        .daemon_option("processes=1")
        .mount_app("/big", "response_big.wsgi", "")
        .start();
    // The first request on the connection names the child (and loads the
    // app before the baseline); the second one is the big response.
    let mut stream = apache.connect();
    send_get(&mut stream, "/big/0", false);
    let small = read_response(&mut stream, false);
    assert_eq!(small.status, 200, "{small:?}\n{}", apache.error_log());
    let pid: i64 = small.header("X-Pid").unwrap().parse().unwrap();
    let before = peak_rss_kib(pid);

    send_get(&mut stream, &format!("/big/{TOTAL_MIB}"), true);
    let head = read_raw_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains(&format!("X-Pid: {pid}\r\n")), "{head}");
    let total = TOTAL_MIB * MIB;
    assert!(
        head.contains(&format!("Content-Length: {total}\r\n")),
        "{head}"
    );
    assert_eq!(read_byte_pattern(&mut stream), total);
    let after = peak_rss_kib(pid);
    assert!(
        after.saturating_sub(before) <= ALLOWED_GROWTH_KIB,
        "peak RSS of child {pid} grew from {before} KiB to {after} KiB for a {total}-byte response"
    );
}

/// The body reaches the client once the application has produced all of
/// it (PEP 3333: a server must not delay a block), even while the
/// application goes on working after its last yield, in close(), or after
/// write().
fn complete_body_is_not_held_back(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/late", "response_late_work.wsgi", "")
        .start();
    for case in ["generator", "slow_close", "write"] {
        let response = ok(&apache, &format!("/late/{case}"));
        assert_eq!(response.text(), "complete", "{case}");
        let finished = format!("{case} finished");
        assert!(
            !apache.error_log().contains(&finished),
            "{case}: the response waited for the application to finish"
        );
        assert_logged(&apache, &finished);
    }
}

/// Responses with every kind of ending (chunked, empty with and without
/// a status that forbids a body, HEAD, a custom iterable with nothing in
/// it, a list) follow one another on one kept-alive connection, each
/// complete and correctly delimited. The module ends these responses
/// itself, writing their last chunk or their head at once, rather than
/// leaving the end to httpd.
fn response_ends_on_a_kept_connection(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/iter", "response_iterables.wsgi", "")
        .start();
    let mut stream = apache.connect();
    for (method, case, status, body) in [
        ("GET", "generator", 200, "generator"),
        ("GET", "empty_list", 200, ""),
        ("GET", "no_content", 204, ""),
        ("HEAD", "generator", 200, ""),
        ("GET", "custom_empty", 200, ""),
        ("GET", "generator", 200, "generator"),
        ("GET", "list", 200, "list"),
    ] {
        let target = format!("/iter/{case}?kept");
        let response = keepalive_request(&mut stream, method, &target, b"");
        let what = format!("{method} {target}: {response:?}\n{}", apache.error_log());
        assert_eq!(response.status, status, "{what}");
        assert!(response.complete, "{what}");
        assert_eq!(response.text(), body, "{what}");
        assert_ne!(response.header("Connection"), Some("close"), "{what}");
        if case == "empty_list" {
            assert_eq!(response.header("Content-Length"), Some("0"), "{what}");
        }
    }
}

wsgi_tests!(
    start_response_refuses_bad_values,
    valid_unusual_heads_pass_through,
    start_response_again_before_body,
    start_response_again_after_body,
    write_callable,
    any_iterable_works,
    iterable_close_is_always_called,
    close_called_when_client_disconnects,
    file_wrapper_sends_regular_files,
    file_wrapper_iterates_other_objects,
    content_length_excess_is_dropped,
    content_length_shortfall,
    head_requests_get_no_body,
    logging_goes_to_error_log,
    large_response_memory_is_bounded,
    complete_body_is_not_held_back,
    response_ends_on_a_kept_connection,
);
