//! kassandra, an in-memory single-node CQL v4 server, served on a loopback port from a thread
//! of its own (kassandra-tester's request loop, kept here so the server outlives one future
//! and the tests can use any runtime).

use futures_util::{SinkExt, StreamExt};
use kassandra::error::DbError;
use kassandra::frame::request::Request;
use kassandra::frame::response::error::Error;
use kassandra::frame::response::Response;
use kassandra::frame::{request_stream, response_sink};
use kassandra::KassandraSession;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A running kassandra; stops when dropped.
pub struct Kassandra {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kassandra {
    /// Starts a fresh, empty server on `127.0.0.1:<free port>`.
    pub fn start() -> Kassandra {
        Self::start_on(0)
    }

    /// Starts a fresh, empty server on `127.0.0.1:port` (0: a free port).
    pub fn start_on(port: u16) -> Kassandra {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let db = Arc::new(Mutex::new(KassandraSession::new()));
                let accept = async {
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            tokio::task::spawn_local(client(db.clone(), stream));
                        }
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Kassandra {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `host:port`.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Kassandra {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn client(db: Arc<Mutex<KassandraSession>>, mut stream: TcpStream) {
    let (mut read, mut write) = stream.split();
    let mut requests = request_stream(&mut read);
    let mut responses = response_sink(&mut write);
    while let Some(frame) = requests.next().await {
        let Ok((frame, opcode, data)) = frame else {
            break;
        };
        let response = match Request::deserialize(opcode, &data, frame.flags) {
            Ok(request) => handle(&db, request),
            Err(_) => Response::Error(Error::new(DbError::ProtocolError, "Error parsing request")),
        };
        if responses.send((response, frame.stream)).await.is_err() {
            break;
        }
    }
}

fn handle(db: &Mutex<KassandraSession>, request: Request) -> Response {
    let mut db = db.lock().unwrap();
    let result = match request {
        Request::StartUp(_) | Request::Register { .. } => return Response::Ready,
        Request::Options => return Response::options(),
        Request::Query(query) => db.process(query),
        Request::Prepare(prepare) => db.prepare(prepare),
        Request::Execute(execute) => db.execute(execute),
        Request::Batch(batch) => db.process_batch(batch),
        Request::AuthResponse => {
            return Response::Error(Error::new(
                DbError::ProtocolError,
                "authentication is not supported",
            ))
        }
    };
    match result {
        Ok(r) => Response::Result(r),
        Err(e) => Response::Error(e),
    }
}
