//! A TCP load balancer for tests, standing in front of several API replicas
//! the way one does in production: each connection goes to the next replica
//! that accepts it — or, with failover off, to the next replica whatever its
//! state, as a balancer does until its health check notices a dead one (the
//! client's connection is then closed at once).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

/// A running balancer; stops when dropped.
pub struct Balancer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
    failover: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

impl Balancer {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let backends: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let failover = Arc::new(AtomicBool::new(true));
        let shared = backends.clone();
        let fails_over = failover.clone();
        runtime.spawn(async move {
            let mut next = 0usize;
            while let Ok((mut client, _)) = listener.accept().await {
                let candidates = shared.lock().expect("backends").clone();
                next = next.wrapping_add(1);
                let tries = if fails_over.load(Ordering::Relaxed) {
                    candidates.len()
                } else {
                    candidates.len().min(1)
                };
                tokio::spawn(async move {
                    for i in 0..tries {
                        let backend = candidates[(next + i) % candidates.len()];
                        if let Ok(mut upstream) = TcpStream::connect(backend).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                            return;
                        }
                    }
                });
            }
        });
        Self {
            url,
            backends,
            failover,
            _runtime: runtime,
        }
    }

    /// Whether a connection a replica refuses goes to the next one (the
    /// default), or is closed: strict round robin, as a balancer that has
    /// not noticed a replica died yet.
    pub fn set_failover(&self, failover: bool) {
        self.failover.store(failover, Ordering::Relaxed);
    }

    /// The replicas behind it (`http://HOST:PORT` URLs).
    pub fn set_backends(&self, urls: &[&str]) {
        *self.backends.lock().expect("backends") = urls
            .iter()
            .map(|u| u.trim_start_matches("http://").parse().expect("HOST:PORT"))
            .collect();
    }
}
