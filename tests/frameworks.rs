//! Real frameworks on top of the module: Flask (found through
//! WSGIPythonHome or WSGIPythonPath) with JSON routes, its router's 404,
//! `url_for` under a mount point and a multipart upload; a Django project
//! served by `get_wsgi_application()`; and an application wrapped in
//! `wsgiref.validate.validator`, which asserts PEP 3333 compliance of
//! everything the server hands it.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers

fn json_body(response: &Response, context: &str) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("{context}: the answer is not JSON ({err}): {response:?}"))
}

/// Asserts a 200 answer and returns its JSON.
fn ok_json(apache: &Apache, response: &Response, context: &str) -> Value {
    assert_eq!(
        response.status,
        200,
        "{context}: {response:?}\n--- error_log ---\n{}",
        apache.error_log()
    );
    assert!(response.complete, "{context}: truncated body: {response:?}");
    json_body(response, context)
}

/// Deterministic pseudo-random bytes (xorshift), seeded so that the data
/// contains CR, LF and '-' runs like any binary file.
fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 (FIPS 180-4), so that the test can check the digest the app
/// computes without another dependency.
fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(value);
        }
    }
    h.iter().map(|word| format!("{word:08x}")).collect()
}

#[test]
fn sha256_helper_matches_known_digests() {
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(&[b'a'; 1_000_000]),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

/// A multipart/form-data body with text fields and one file; returns the
/// Content-Type header value and the body.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----modwsgiTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    let (name, filename, content_type, data) = file;
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
         filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(data);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Asserts that nothing in the error_log says the server misbehaved.
fn assert_clean_log(apache: &Apache, context: &str) {
    let log = apache.error_log();
    for bad in [
        "AssertionError",
        "WSGIWarning",
        "Traceback",
        "Segmentation fault",
        "panicked",
        "exit signal",
    ] {
        assert!(
            !log.contains(bad),
            "{context}: the error_log contains {bad:?}:\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------
// Flask

/// A ~5 MiB multipart upload, with a Content-Length or chunked.
fn flask_upload(apache: &Apache, prefix: &str, chunked_body: bool) {
    let data = pseudo_random_bytes(5 * 1024 * 1024 + 123, 0x5eed);
    let (content_type, body) = multipart(
        &[
            ("field", "a text value with spaces & ünïcödé"),
            ("other", "2"),
        ],
        ("file", "payload.bin", "application/octet-stream", &data),
    );
    let response = if chunked_body {
        apache.request(
            "POST",
            &format!("{prefix}/upload"),
            &[
                ("Content-Type", &content_type),
                ("Transfer-Encoding", "chunked"),
            ],
            &chunked(&body, 50_000),
        )
    } else {
        apache.request(
            "POST",
            &format!("{prefix}/upload"),
            &[("Content-Type", &content_type)],
            &body,
        )
    };
    let answer = ok_json(apache, &response, "flask upload");
    assert_eq!(answer["field"], "a text value with spaces & ünïcödé");
    assert_eq!(answer["other"], "2");
    assert_eq!(answer["filename"], "payload.bin");
    assert_eq!(answer["file_content_type"], "application/octet-stream");
    assert_eq!(answer["size"], data.len());
    assert_eq!(answer["sha256"], sha256_hex(&data));
    if chunked_body {
        assert_eq!(answer["content_length"], Value::Null);
    } else {
        assert_eq!(answer["content_length"], body.len());
    }
}

fn flask_routes(apache: &Apache, prefix: &str) {
    let response = apache.get(&format!("{prefix}/hello?a=1&b=x%20y&a=2"));
    let hello = ok_json(apache, &response, "flask /hello");
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json"),
        "{response:?}"
    );
    let host = format!("127.0.0.1:{}", apache.port());
    assert_eq!(hello["message"], "hello from flask");
    assert_eq!(hello["script_root"], prefix);
    assert_eq!(hello["path"], "/hello");
    assert_eq!(hello["full_path"], "/hello?a=1&b=x%20y&a=2");
    assert_eq!(
        hello["url"],
        format!("http://{host}{prefix}/hello?a=1&b=x%20y&a=2")
    );
    assert_eq!(hello["url_for_hello"], format!("{prefix}/hello"));
    assert_eq!(hello["url_for_item"], format!("{prefix}/items/7"));
    assert_eq!(
        hello["url_for_external"],
        format!("http://{host}{prefix}/hello")
    );
    assert_eq!(hello["args"], json!({"a": ["1", "2"], "b": ["x y"]}));

    let response = apache.get(&format!("{prefix}/items/12"));
    let item = ok_json(apache, &response, "flask /items/12");
    assert_eq!(
        item,
        json!({"item_id": 12, "self_url": format!("{prefix}/items/12")})
    );

    // Flask's router: unknown URL, converter mismatch, wrong method.
    for (method, path, status) in [
        ("GET", "/no/such/route", 404),
        ("GET", "/items/not-a-number", 404),
        ("GET", "/upload", 405),
    ] {
        let response = apache.request(method, &format!("{prefix}{path}"), &[], b"");
        assert_eq!(
            response.status,
            status,
            "{method} {prefix}{path}: {response:?}\n{}",
            apache.error_log()
        );
        assert!(response.complete, "{response:?}");
        let text = response.text();
        let expected = if status == 404 {
            "Not Found"
        } else {
            "Method Not Allowed"
        };
        assert!(text.contains(expected), "{path}: {text}");
    }
    let response = apache.request("GET", &format!("{prefix}/upload"), &[], b"");
    let allow = response.header("Allow").unwrap_or_default();
    assert!(
        allow.contains("POST"),
        "405 without Allow: POST: {response:?}"
    );

    // HEAD, which Flask answers like GET: headers only.
    let mut stream = apache.connect();
    write!(
        stream,
        "HEAD {prefix}/items/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let response = read_response(&mut stream, true);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "HEAD answered with a body: {rest:?}");

    // send_file, i.e. wsgi.file_wrapper from a framework.
    let data = data_file();
    let response = apache.get(&format!("{prefix}/download"));
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert!(response.complete, "{response:?}");
    assert_eq!(
        response.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert!(
        response.body == data,
        "send_file body differs from the file"
    );
}

/// A binary fixture for file responses, served from the server root. No
/// "{root}" inside: the builder would substitute it.
fn data_file() -> Vec<u8> {
    pseudo_random_bytes(300_001, 0xf11e)
        .into_iter()
        .map(|b| if b == b'{' { b'(' } else { b })
        .collect()
}

/// Flask from the venv through `WSGIPythonHome <venv>`, mounted at `/`.
fn flask_with_python_home(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let apache = SiteBuilder::new(mpm, mode)
        .conf(&format!("WSGIPythonHome \"{}\"", venv.display()))
        .mount_app("/", "frameworks_flask.wsgi", "")
        .with(|b| b.file("apps/frameworks_data.bin", data_file()))
        .start();
    let response = apache.get("/hello");
    let hello = ok_json(&apache, &response, "flask /hello");
    let flask_file = hello["flask_file"].as_str().unwrap();
    assert!(
        flask_file.starts_with(&venv.display().to_string()),
        "flask was not imported from the venv: {flask_file}"
    );
    flask_routes(&apache, "");
    flask_upload(&apache, "", false);
    assert_clean_log(&apache, "flask (WSGIPythonHome)");
}

/// Flask from the venv's site-packages through `WSGIPythonPath`, mounted
/// below the root so that SCRIPT_NAME matters for routing and `url_for`.
fn flask_with_python_path_under_mount(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let site = site_packages(&venv);
    let apache = SiteBuilder::new(mpm, mode)
        .python_path(&site.display().to_string())
        .conf("WSGIChunkedRequest On")
        .mount_app("/mounted/flask", "frameworks_flask.wsgi", "")
        .with(|b| b.file("apps/frameworks_data.bin", data_file()))
        .start();
    let response = apache.get("/mounted/flask/hello");
    let hello = ok_json(&apache, &response, "flask /mounted/flask/hello");
    let flask_file = hello["flask_file"].as_str().unwrap();
    assert!(
        flask_file.starts_with(&site.display().to_string()),
        "flask was not imported from {}: {flask_file}",
        site.display()
    );
    flask_routes(&apache, "/mounted/flask");
    flask_upload(&apache, "/mounted/flask", false);
    // Werkzeug reads a body without Content-Length to its end when the
    // server sets wsgi.input_terminated.
    flask_upload(&apache, "/mounted/flask", true);
    // Outside the mount the module is not involved at all.
    let response = apache.get("/mounted/hello");
    assert_eq!(response.status, 404, "{response:?}");
    assert!(!response.text().contains("flask"), "{response:?}");
    assert_clean_log(&apache, "flask (WSGIPythonPath)");
}

// ---------------------------------------------------------------------------
// Django

fn django_site(mpm: Mpm, mode: Mode) -> Apache {
    let venv = test_venv();
    SiteBuilder::new(mpm, mode)
        .conf(&format!("WSGIPythonHome \"{}\"", venv.display()))
        .mount_app("/django", "frameworks_django.wsgi", "")
        .with(|b| b.copy_dir(&apps_dir().join("django_site"), "apps/django_site"))
        .start()
}

fn django_views_and_reverse(mpm: Mpm, mode: Mode) {
    let apache = django_site(mpm, mode);
    let host = format!("127.0.0.1:{}", apache.port());

    let response = apache.get("/django/info/?a=1&b=two&a=3");
    let info = ok_json(&apache, &response, "django info");
    assert_eq!(
        response.header("Content-Type"),
        Some("application/json"),
        "{response:?}"
    );
    assert_eq!(info["method"], "GET");
    assert_eq!(info["script_name"], "/django");
    assert_eq!(info["path_info"], "/info/");
    assert_eq!(info["path"], "/django/info/");
    assert_eq!(info["full_path"], "/django/info/?a=1&b=two&a=3");
    assert_eq!(
        info["absolute_uri"],
        format!("http://{host}/django/info/?a=1&b=two&a=3")
    );
    assert_eq!(info["reverse_info"], "/django/info/");
    assert_eq!(info["reverse_item"], "/django/items/42/");
    assert_eq!(info["query"], json!({"a": ["1", "3"], "b": ["two"]}));
    // Django's security middleware headers made it through start_response.
    assert_eq!(
        response.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{response:?}"
    );

    let response = apache.get("/django/items/5/");
    let item = ok_json(&apache, &response, "django item");
    assert_eq!(item, json!({"item_id": 5, "self": "/django/items/5/"}));

    // CommonMiddleware's APPEND_SLASH redirect keeps the mount point.
    let response = apache.get("/django/info?x=1");
    assert_eq!(response.status, 301, "{response:?}\n{}", apache.error_log());
    assert_eq!(
        response.header("Location"),
        Some("/django/info/?x=1"),
        "{response:?}"
    );

    // Django's own 404 page (DEBUG = False).
    for path in ["/django/nowhere/", "/django/items/abc/", "/django/"] {
        let response = apache.get(path);
        assert_eq!(
            response.status,
            404,
            "{path}: {response:?}\n{}",
            apache.error_log()
        );
        assert!(response.complete, "{response:?}");
        assert!(
            response.text().contains("Not Found"),
            "{path}: {response:?}"
        );
    }
    assert_clean_log(&apache, "django views");
}

fn django_post_form(mpm: Mpm, mode: Mode) {
    let apache = django_site(mpm, mode);

    let body = b"name=J%C3%BCrgen+M%C3%BCller&tag=a&tag=b+c&comment=line1%0D%0Aline2%26more";
    let response = apache.request(
        "POST",
        "/django/form/?q=query%20value",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    );
    let form = ok_json(&apache, &response, "django form");
    assert_eq!(form["content_type"], "application/x-www-form-urlencoded");
    assert_eq!(form["name"], "Jürgen Müller");
    assert_eq!(form["tags"], json!(["a", "b c"]));
    assert_eq!(form["comment"], "line1\r\nline2&more");
    assert_eq!(form["keys"], json!(["comment", "name", "tag"]));
    assert_eq!(form["query"], "query value");

    // A form larger than any of the module's or Django's buffers.
    let big_value = "v".repeat(200_000);
    let body = format!("name={big_value}&tag=last");
    let response = apache.request(
        "POST",
        "/django/form/",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body.as_bytes(),
    );
    let form = ok_json(&apache, &response, "django big form");
    assert_eq!(form["name"].as_str().map(str::len), Some(200_000));
    assert_eq!(form["tags"], json!(["last"]));

    // The view rejects GET with its own 405.
    let response = apache.get("/django/form/");
    assert_eq!(response.status, 405, "{response:?}");
    assert_eq!(
        json_body(&response, "django form GET"),
        json!({"error": "POST only"})
    );
    assert_clean_log(&apache, "django form");
}

// ---------------------------------------------------------------------------
// wsgiref.validate

/// The validated app at /v, and again at /vc with chunked request bodies
/// allowed.
fn validator_site(mpm: Mpm, mode: Mode, data: &[u8]) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount_app("/v", "frameworks_validator.wsgi", "")
        .conf(
            "WSGIScriptAlias /vc {root}/apps/frameworks_validator.wsgi\n\
             <Location /vc>\n    WSGIChunkedRequest On\n</Location>",
        )
        .with(|b| b.file("apps/frameworks_data.bin", data))
        .start()
}

fn post(apache: &Apache, path: &str, body: &[u8]) -> Value {
    let response = apache.request(
        "POST",
        path,
        &[("Content-Type", "application/octet-stream")],
        body,
    );
    ok_json(apache, &response, path)
}

/// POSTs `body` with chunked transfer coding (to the /vc mount).
fn post_chunked(apache: &Apache, path: &str, body: &[u8], chunk_size: usize) -> Value {
    let response = apache.request(
        "POST",
        path,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(body, chunk_size),
    );
    ok_json(apache, &response, path)
}

fn validator_requests(mpm: Mpm, mode: Mode) {
    let data = data_file();
    let apache = validator_site(mpm, mode, &data);

    // GET, with wsgi.errors writes.
    let response = apache.get("/v/get?x=1");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "hello from the validated app\n");

    // read(n) in pieces of several sizes, with a body larger than any
    // internal buffer.
    let body = pseudo_random_bytes(1_000_003, 0xb0d1);
    for size in ["1", "7", "8192", "65536", "2000000"] {
        let small = size == "1";
        let sent: &[u8] = if small { &body[..5000] } else { &body };
        let answer = post(&apache, &format!("/v/read?{size}"), sent);
        assert_eq!(answer["size"], sent.len(), "read({size})");
        assert_eq!(answer["sha256"], sha256_hex(sent), "read({size})");
        let size: usize = size.parse().unwrap();
        assert!(
            answer["largest"].as_u64().unwrap() as usize <= size,
            "read({size}) returned more than asked: {answer}"
        );
    }
    let answer = post(&apache, "/v/read-all", &body);
    assert_eq!(answer["size"], body.len());
    assert_eq!(answer["sha256"], sha256_hex(&body));
    // No body at all.
    let answer = post(&apache, "/v/read?100", b"");
    assert_eq!(answer["size"], 0);

    // Line-oriented reading.
    let text = b"first line\nsecond line\r\n\nlast, without newline";
    let expected = json!([
        "first line\n",
        "second line\r\n",
        "\n",
        "last, without newline"
    ]);
    assert_eq!(post(&apache, "/v/readline", text)["lines"], expected);
    assert_eq!(post(&apache, "/v/readlines", text)["lines"], expected);
    assert_eq!(post(&apache, "/v/iter", text)["lines"], expected);
    let parts = post(&apache, "/v/readline-hint", b"abcdefgh\nij\nklmnopqrstu")["parts"].clone();
    assert_eq!(
        parts,
        json!(["abcde", "fgh\n", "ij\n", "klmno", "pqrst", "u"])
    );
    // A long line, longer than any buffer.
    let mut long = vec![b'L'; 200_000];
    long.push(b'\n');
    long.extend_from_slice(b"tail");
    let lines = post(&apache, "/v/readline", &long)["lines"].clone();
    assert_eq!(
        lines.as_array().map(Vec::len),
        Some(2),
        "{}",
        apache.error_log()
    );
    assert_eq!(lines[0].as_str().map(str::len), Some(200_001));
    assert_eq!(lines[1], "tail");

    // The same with chunked request bodies (no CONTENT_LENGTH; the input
    // ends where the body does).
    for (size, chunk_size) in [(7, 1000), (65536, 4096), (2_000_000, 100_000)] {
        let answer = post_chunked(&apache, &format!("/vc/read?{size}"), &body, chunk_size);
        assert_eq!(answer["size"], body.len(), "chunked read({size})");
        assert_eq!(answer["sha256"], sha256_hex(&body), "chunked read({size})");
    }
    let answer = post_chunked(&apache, "/vc/read-all", &body, 3000);
    assert_eq!(answer["sha256"], sha256_hex(&body));
    assert_eq!(
        post_chunked(&apache, "/vc/readline", text, 5)["lines"],
        expected
    );
    assert_eq!(
        post_chunked(&apache, "/vc/iter", text, 3)["lines"],
        expected
    );
    assert_eq!(post_chunked(&apache, "/vc/read?10", b"", 1)["size"], 0);

    // start_response again with exc_info before anything was sent.
    let response = apache.get("/v/exc-info");
    assert_eq!(response.status, 500, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.header("X-Replaced"), Some("yes"), "{response:?}");
    assert_eq!(response.text(), "error page\n");

    // file_wrapper (iterated through the validator's wrapper).
    let response = apache.get("/v/file");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert!(response.complete);
    assert_eq!(response.body.len(), data.len());
    assert!(
        response.body == data,
        "file_wrapper body differs from the file"
    );

    // write() before returning an iterable.
    let response = apache.get("/v/write");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "written;also written;returned;end");

    // A generator.
    let response = apache.get("/v/generator");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
    assert_eq!(response.text(), expected);

    // Empty bodies.
    for path in ["/v/empty", "/v/empty-length"] {
        let response = apache.get(path);
        assert_eq!(
            response.status,
            200,
            "{path}: {response:?}\n{}",
            apache.error_log()
        );
        assert!(response.complete, "{path}: {response:?}");
        assert!(response.body.is_empty(), "{path}: {response:?}");
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
    }
    let response = apache.get("/v/no-content");
    assert_eq!(response.status, 204, "{response:?}\n{}", apache.error_log());

    // HEAD: the app sees HEAD, produces a body, and the server drops it.
    let mut stream = apache.connect();
    write!(
        stream,
        "HEAD /v/head HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let response = read_response(&mut stream, true);
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.header("X-Method"), Some("HEAD"));
    assert_eq!(response.header("Content-Length"), Some("1000"));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "HEAD response carried {} body bytes",
        rest.len()
    );

    // Every response iterable was closed: the validator's __del__ asserts
    // that, and garbage collection of it may happen a little later.
    let response = apache.get("/v/get");
    assert_eq!(response.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_clean_log(&apache, "validator");
    assert!(
        apache.error_log().contains("validator app: writelines"),
        "wsgi.errors output missing from the error_log:\n{}",
        apache.error_log()
    );
}

wsgi_tests!(
    flask_with_python_home,
    flask_with_python_path_under_mount,
    django_views_and_reverse,
    django_post_form,
    validator_requests,
);
