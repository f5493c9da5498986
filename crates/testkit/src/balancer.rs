//! A TCP load balancer for tests, standing in front of several API replicas
//! the way one does in production: each connection goes to the next replica
//! that accepts it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

/// A running balancer; stops when dropped.
pub struct Balancer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
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
        let shared = backends.clone();
        runtime.spawn(async move {
            let mut next = 0usize;
            while let Ok((mut client, _)) = listener.accept().await {
                let candidates = shared.lock().expect("backends").clone();
                next = next.wrapping_add(1);
                tokio::spawn(async move {
                    for i in 0..candidates.len() {
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
            _runtime: runtime,
        }
    }

    /// The replicas behind it (`http://HOST:PORT` URLs).
    pub fn set_backends(&self, urls: &[&str]) {
        *self.backends.lock().expect("backends") = urls
            .iter()
            .map(|u| u.trim_start_matches("http://").parse().expect("HOST:PORT"))
            .collect();
    }
}
