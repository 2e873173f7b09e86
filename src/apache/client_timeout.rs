//! The client connection's socket timeout, changed for the length of one
//! response (response-socket-timeout) and put back after, as the same
//! connection may serve other handlers next.

use std::time::Duration;

use apache_sys as ap;

/// Restores the previous timeout when dropped.
pub struct ClientTimeout {
    socket: *mut ap::apr_socket_t,
    previous: ap::apr_interval_time_t,
}

impl ClientTimeout {
    /// Sets the timeout of `r`'s client socket, if it has one.
    ///
    /// # Safety
    /// `r` must be live for as long as the result is.
    pub unsafe fn set(r: *mut ap::request_rec, timeout: Duration) -> Option<ClientTimeout> {
        // SAFETY: per the contract; the connection and its socket live as
        // long as the request.
        unsafe {
            let socket = ap::ap_get_conn_socket((*r).connection);
            if socket.is_null() {
                return None;
            }
            let mut previous: ap::apr_interval_time_t = 0;
            if ap::apr_socket_timeout_get(socket, &mut previous) != 0 {
                return None;
            }
            let micros = timeout.as_micros().min(i64::MAX as u128) as ap::apr_interval_time_t;
            ap::apr_socket_timeout_set(socket, micros);
            Some(ClientTimeout { socket, previous })
        }
    }
}

impl Drop for ClientTimeout {
    fn drop(&mut self) {
        // SAFETY: the socket outlives this guard (contract of `set`).
        unsafe { ap::apr_socket_timeout_set(self.socket, self.previous) };
    }
}
