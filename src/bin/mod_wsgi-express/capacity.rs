//! How many connections Apache takes and how its MPM is sized, by
//! mod_wsgi-express's rules: in daemon mode Apache only relays, so it gets
//! room for more clients than the daemons have threads; in embedded mode
//! Apache's children are the application's processes and threads.

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prefork {
    pub server_limit: u32,
    pub max_clients: u32,
    pub start_servers: u32,
    pub min_spare_servers: u32,
    pub max_spare_servers: u32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Threaded {
    pub threads_per_child: u32,
    pub server_limit: u32,
    pub max_clients: u32,
    pub start_servers: u32,
    pub min_spare_threads: u32,
    pub max_spare_threads: u32,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Capacity {
    pub prefork: Prefork,
    /// event and worker.
    pub threaded: Threaded,
}

pub struct Workers {
    pub processes: u32,
    pub threads: u32,
    pub max_clients: Option<u32>,
    pub initial: Option<f64>,
    pub minimum_spare: Option<f64>,
    pub maximum_spare: Option<f64>,
    pub embedded: bool,
}

/// `(fraction × n)` rounded down, at least 1.
fn share(fraction: f64, n: u32) -> u32 {
    ((fraction * f64::from(n)) as u32).max(1)
}

pub fn capacity(w: &Workers) -> Capacity {
    let total = w.processes.saturating_mul(w.threads);
    if w.embedded {
        return Capacity {
            prefork: Prefork {
                server_limit: total,
                max_clients: total,
                start_servers: total,
                min_spare_servers: total,
                max_spare_servers: total,
            },
            threaded: Threaded {
                threads_per_child: w.threads,
                server_limit: w.processes,
                max_clients: total,
                start_servers: w.processes,
                min_spare_threads: total,
                max_spare_threads: total,
            },
        };
    }
    let clients = match w.max_clients {
        Some(n) => n.max(total),
        None => 10 + 10u32.max((1.5 * f64::from(total)) as u32),
    };

    let initial = w.initial.unwrap_or(0.05);
    let prefork = Prefork {
        server_limit: clients,
        max_clients: clients,
        start_servers: share(initial, clients),
        min_spare_servers: share(w.minimum_spare.unwrap_or(initial), clients),
        max_spare_servers: share(w.maximum_spare.unwrap_or(0.1), clients),
    };

    let threads_per_child = if clients > 20 {
        clients / (clients / 20 + 1)
    } else {
        10
    };
    let server_limit = clients.div_ceil(threads_per_child);
    let initial = w.initial.unwrap_or(0.2);
    let threaded = Threaded {
        threads_per_child,
        server_limit,
        max_clients: server_limit * threads_per_child,
        start_servers: share(initial, server_limit),
        min_spare_threads: threads_per_child.max(
            ((w.minimum_spare.unwrap_or(initial) * f64::from(server_limit)) as u32)
                * threads_per_child,
        ),
        max_spare_threads: threads_per_child.max(
            ((w.maximum_spare.unwrap_or(0.6) * f64::from(server_limit)) as u32) * threads_per_child,
        ),
    };
    Capacity { prefork, threaded }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(processes: u32, threads: u32) -> Workers {
        Workers {
            processes,
            threads,
            max_clients: None,
            initial: None,
            minimum_spare: None,
            maximum_spare: None,
            embedded: false,
        }
    }

    #[test]
    fn the_defaults_give_mod_wsgi_express_figures() {
        let c = capacity(&daemon(1, 5));
        assert_eq!(
            c.prefork,
            Prefork {
                server_limit: 20,
                max_clients: 20,
                start_servers: 1,
                min_spare_servers: 1,
                max_spare_servers: 2
            }
        );
        assert_eq!(
            c.threaded,
            Threaded {
                threads_per_child: 10,
                server_limit: 2,
                max_clients: 20,
                start_servers: 1,
                min_spare_threads: 10,
                max_spare_threads: 10
            }
        );
    }

    #[test]
    fn larger_groups_get_more_children() {
        let c = capacity(&daemon(3, 10));
        assert_eq!(c.prefork.max_clients, 55);
        assert_eq!(c.threaded.threads_per_child, 18);
        assert_eq!(c.threaded.server_limit, 4);
        assert_eq!(c.threaded.max_clients, 72);
    }

    #[test]
    fn max_clients_is_never_below_the_daemon_threads() {
        let mut w = daemon(4, 25);
        w.max_clients = Some(10);
        assert_eq!(capacity(&w).prefork.max_clients, 100);
    }

    #[test]
    fn embedded_mode_is_exact() {
        let mut w = daemon(2, 8);
        w.embedded = true;
        let c = capacity(&w);
        assert_eq!(c.threaded.server_limit, 2);
        assert_eq!(c.threaded.threads_per_child, 8);
        assert_eq!(c.threaded.max_clients, 16);
        assert_eq!(c.prefork.max_clients, 16);
    }
}
