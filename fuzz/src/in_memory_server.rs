//! A studio-gate server that serves one connection's raw bytes from memory.
//!
//! The bytes go through trillium-http's own HTTP/1.1 parser (`HttpContext::run`) and then the
//! real handler chain of `studio_gate::app`, driven the way trillium-server-common 0.7.11
//! drives a TCP connection, but over trillium-testing's in-memory `TestTransport`.

use std::cell::RefCell;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Shutdown};
use std::sync::{Arc, PoisonError};

use studio_gate::{app, generate_api_key, Config, Credential, Gate, LoginLimiter};
use trillium::{BoxedHandler, Handler, Method, Status};
use trillium_http::HttpContext;
use trillium_testing::TestTransport;

/// The peer address of every connection. The server trusts it as a proxy, so that
/// `X-Forwarded-For` headers are parsed too.
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A studio-gate on a temporary `STUDIO_DIR`, with a random API key that no input can
/// contain.
///
/// NOTE: a server kept in a `static` is never dropped, so its folder stays in the temporary
/// directory after the process exits. `run-campaign.sh` points `TMPDIR` at a scratch folder
/// that it removes.
pub struct InMemoryServer {
    gate: Arc<Gate>,
    handler: BoxedHandler,
    context: Arc<HttpContext>,
    _studio_dir: tempfile::TempDir,
}

/// One request that reached the handler chain, and the status the chain set.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request method.
    pub method: Method,
    /// The request path as trillium-http parsed it, without the query.
    pub path: String,
    /// The status the chain set. `None` sends trillium-http's default: 404, or 501 for CONNECT.
    pub status: Option<Status>,
    /// The credential that the auth handler accepted, if any.
    pub credential: Option<Credential>,
}

impl Exchange {
    fn of(conn: &trillium::Conn) -> Self {
        Self {
            method: conn.method(),
            path: conn.path().to_owned(),
            status: conn.status(),
            credential: conn.state::<Credential>().copied(),
        }
    }
}

/// The outcome of one connection.
#[derive(Debug, Clone)]
pub struct ServedConnection {
    /// The requests that reached the handler chain, in order.
    pub exchanges: Vec<Exchange>,
    /// Every byte the server wrote, including responses that trillium-http's parser sent
    /// without running the handler chain.
    pub response_bytes: Vec<u8>,
}

impl InMemoryServer {
    /// Opens a gate on a new temporary `STUDIO_DIR` with a random API key and initialises
    /// the handler chain.
    ///
    /// # Panics
    ///
    /// Panics if the folder, the key or the gate cannot be created, since a fuzz target has
    /// nothing to test without them.
    pub fn start() -> Self {
        let studio_dir = tempfile::tempdir().expect("cannot create a temporary STUDIO_DIR");
        let api_key = generate_api_key().expect("cannot draw a random API key");
        let vars: [(&str, OsString); 3] = [
            ("API_KEY", api_key.into()),
            ("STUDIO_DIR", studio_dir.path().into()),
            ("TRUSTED_PROXIES", PEER_IP.to_string().into()),
        ];
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| value.clone())
        })
        .expect("invalid fuzz configuration");
        let gate = Arc::new(Gate::open(&config).expect("cannot open the gate"));

        let mut handler = BoxedHandler::new(app(gate.clone()));
        let context = futures_lite::future::block_on(trillium_testing::init(&mut handler));
        Self {
            gate,
            handler,
            context,
            _studio_dir: studio_dir,
        }
    }

    /// Sends `request_bytes` on a new connection, closes the client's sending side, and
    /// serves the connection until the server closes it.
    ///
    /// The login limiter is cleared first, so that every connection starts from the same
    /// state and an input that fails also fails when it is run alone.
    pub fn serve(&self, request_bytes: &[u8]) -> ServedConnection {
        self.clear_login_limiter();
        let (client, mut server) = TestTransport::new();
        server.set_peer_ip(PEER_IP);
        client.write_all(request_bytes);
        client.shutdown(Shutdown::Write);

        let exchanges = RefCell::new(Vec::new());
        let exchanges = &exchanges;
        let handler = &self.handler;
        let connection = self.context.clone().run(server, |mut conn| async move {
            conn.set_peer_ip(Some(PEER_IP));
            let conn = handler.run(trillium::Conn::from(conn)).await;
            let conn = handler.before_send(conn).await;
            exchanges.borrow_mut().push(Exchange::of(&conn));
            conn.into_inner::<TestTransport>()
        });
        // A malformed request ends the connection with an error once trillium-http has
        // responded to it. That is an outcome to check, not a failure of the harness.
        let _ = futures_lite::future::block_on(connection);

        ServedConnection {
            exchanges: exchanges.take(),
            response_bytes: client.snapshot(),
        }
    }

    fn clear_login_limiter(&self) {
        let mut limiter = self
            .gate
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *limiter = LoginLimiter::new();
    }
}
