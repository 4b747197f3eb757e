//! kassandra, an in-memory single-node CQL v4 server, served on a loopback port from a thread
//! of its own (kassandra-tester's request loop, kept here so the server outlives one future
//! and the tests can use any runtime).
//!
//! Fault injection: [`Kassandra::outage`] takes the server off the network (every open
//! connection dropped, new ones refused) and [`Kassandra::resume`] brings it back on the same
//! port with the same data, as a restarted node would come back; [`Kassandra::set_delay`]
//! makes it answer slowly.

use futures_util::{SinkExt, StreamExt};
use kassandra::error::DbError;
use kassandra::frame::request::Request;
use kassandra::frame::response::error::Error;
use kassandra::frame::response::result::QueryResult;
use kassandra::frame::response::Response;
use kassandra::frame::{request_stream, response_sink};
use kassandra::KassandraSession;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// A running kassandra; stops when dropped.
pub struct Kassandra {
    /// Where it listens (the same address across outages).
    pub addr: SocketAddr,
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// State the server thread shares with the test.
#[derive(Default)]
struct Shared {
    /// Delay before each response, in milliseconds.
    delay_ms: AtomicU64,
    /// Prepared statements executed successfully (the sink's inserts).
    executed: AtomicU64,
}

enum Control {
    Outage(mpsc::Sender<()>),
    Resume(mpsc::Sender<std::io::Result<()>>),
    Stop,
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
        let (control, commands) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || serve(listener, commands, shared))
        };
        Kassandra {
            addr,
            control,
            shared,
            thread: Some(thread),
        }
    }

    /// `host:port`.
    pub fn node(&self) -> String {
        self.addr.to_string()
    }

    /// Takes the server off the network, keeping its data: every open connection is closed
    /// and new connections are refused until [`Kassandra::resume`]. Returns once that holds.
    ///
    /// The port stays bound (to a socket that does not listen, so connecting is refused) and
    /// nothing else can take it in between.
    pub fn outage(&self) {
        let (done, wait) = mpsc::channel();
        self.control.send(Control::Outage(done)).unwrap();
        wait.recv_timeout(Duration::from_secs(10))
            .expect("kassandra went down");
    }

    /// Serves again on the same address, with the data it had.
    pub fn resume(&self) {
        let (done, wait) = mpsc::channel();
        self.control.send(Control::Resume(done)).unwrap();
        wait.recv_timeout(Duration::from_secs(10))
            .expect("kassandra came back")
            .expect("kassandra listens again on its address");
    }

    /// Delays every response by `delay` (zero: answer at once).
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// How many prepared writes (the sink's inserts; not the driver's prepared reads of
    /// system tables) were executed successfully so far.
    pub fn executed(&self) -> u64 {
        self.shared.executed.load(Ordering::Relaxed)
    }
}

impl Drop for Kassandra {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The server thread: accepts clients and obeys [`Control`] commands.
fn serve(
    listener: std::net::TcpListener,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Control>,
    shared: Arc<Shared>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let addr = listener.local_addr().unwrap();
        let mut listener = Some(TcpListener::from_std(listener).unwrap());
        // During an outage: the port, bound but not listening.
        let mut reserved: Option<TcpSocket> = None;
        let db = Arc::new(Mutex::new(KassandraSession::new()));
        let mut clients = JoinSet::new();
        loop {
            let accept = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                accepted = accept => {
                    if let Ok((stream, _)) = accepted {
                        clients.spawn_local(client(db.clone(), shared.clone(), stream));
                    }
                }
                Some(_) = clients.join_next(), if !clients.is_empty() => {}
                command = commands.recv() => match command {
                    None | Some(Control::Stop) => break,
                    Some(Control::Outage(done)) => {
                        // Closing the listener refuses new connections; aborting the client
                        // tasks drops (closes) every open connection.
                        listener = None;
                        clients.shutdown().await;
                        if reserved.is_none() {
                            reserved = Some(reserve(addr));
                        }
                        let _ = done.send(());
                    }
                    Some(Control::Resume(done)) => {
                        let result = match reserved.take() {
                            Some(socket) => socket.listen(1024).map(|l| listener = Some(l)),
                            None => Ok(()),
                        };
                        let _ = done.send(result);
                    }
                }
            }
        }
    });
}

/// Binds `addr` without listening: connecting to it is refused, and no other socket can take
/// the port. `SO_REUSEADDR` lets it bind while the closed connections' sockets linger in
/// TIME_WAIT (std's and tokio's listeners set it too on Unix).
fn reserve(addr: SocketAddr) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket
}

async fn client(db: Arc<Mutex<KassandraSession>>, shared: Arc<Shared>, mut stream: TcpStream) {
    let (mut read, mut write) = stream.split();
    let mut requests = request_stream(&mut read);
    let mut responses = response_sink(&mut write);
    while let Some(frame) = requests.next().await {
        let Ok((frame, opcode, data)) = frame else {
            break;
        };
        let response = match Request::deserialize(opcode, &data, frame.flags) {
            Ok(request) => handle(&db, &shared, request),
            Err(_) => Response::Error(Error::new(DbError::ProtocolError, "Error parsing request")),
        };
        let delay = shared.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if responses.send((response, frame.stream)).await.is_err() {
            break;
        }
    }
}

fn handle(db: &Mutex<KassandraSession>, shared: &Shared, request: Request) -> Response {
    let mut db = db.lock().unwrap();
    let result = match request {
        Request::StartUp(_) | Request::Register { .. } => return Response::Ready,
        Request::Options => return Response::options(),
        Request::Query(query) => db.process(query),
        Request::Prepare(prepare) => db.prepare(prepare),
        Request::Execute(execute) => {
            let result = db.execute(execute);
            // Writes answer `Void`; the driver's own reads (system tables) answer rows.
            if matches!(result, Ok(QueryResult::Void)) {
                shared.executed.fetch_add(1, Ordering::Relaxed);
            }
            result
        }
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
