//! A recording backend and request log for unit tests of the adapter:
//! what the server side would have sent, held, cut and logged.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::Once;

use pyo3::Python;
use python_embed::threads::with_main_interpreter;
use wsgi_core::level::Level;
use wsgi_core::protocol::ResponseHead;

use super::backend::{Backend, ClientGone, Filling, ReadError, RequestLog};

/// Runs `f` attached to the main interpreter, starting Python once.
pub fn with_python<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    static START: Once = Once::new();
    START.call_once(|| {
        python_embed::lifecycle::initialize(&python_embed::PythonSettings::default())
            .expect("Python starts");
    });
    with_main_interpreter(f)
}

/// What the server side saw.
#[derive(Default)]
pub struct Recording {
    pub body: Vec<u8>,
    /// How much of `body` each read may give at most.
    pub read_piece: usize,
    pub read_from: usize,
    pub read_fails: bool,
    pub head: Option<ResponseHead>,
    pub heads_set: usize,
    pub sent: Vec<u8>,
    pub held: Vec<u8>,
    pub can_hold: bool,
    /// Sends fail once this many bytes went out.
    pub gone_after: Option<usize>,
    pub files: Vec<(RawFd, u64, u64)>,
    pub cut: bool,
}

impl Backend for Recording {
    fn read_body(&mut self, buf: &mut Filling<'_>) -> Result<usize, ReadError> {
        if self.read_fails {
            return Err(ReadError("client went away".into()));
        }
        let end = self.body.len().min(self.read_from + self.read_piece.max(1));
        let n = buf.push(&self.body[self.read_from..end]);
        self.read_from += n;
        Ok(n)
    }

    fn set_head(&mut self, head: &ResponseHead) {
        self.head = Some(head.clone());
        self.heads_set += 1;
    }

    fn send_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        if self
            .gone_after
            .is_some_and(|limit| self.sent.len() >= limit)
        {
            return Err(ClientGone("broken pipe".into()));
        }
        self.sent.extend_from_slice(data);
        Ok(())
    }

    fn can_hold_last_body(&self, _len: usize) -> bool {
        self.can_hold
    }

    fn hold_last_body(&mut self, data: &[u8]) -> Result<(), ClientGone> {
        self.held.extend_from_slice(data);
        Ok(())
    }

    fn send_file(&mut self, fd: RawFd, offset: u64, len: u64) -> Result<(), ClientGone> {
        self.files.push((fd, offset, len));
        Ok(())
    }

    fn cut_response(&mut self) {
        self.cut = true;
    }
}

#[derive(Default)]
pub struct Lines(pub RefCell<Vec<String>>);

impl RequestLog for Lines {
    fn log(&self, _level: Level, message: &str) {
        self.0.borrow_mut().push(message.to_string());
    }
}

pub fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
    ResponseHead {
        status,
        status_line: format!("{status} X").into_bytes(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
    }
}
