//! A throwaway PKI (a CA, a server and a client certificate, made with OpenSSL) and a TLS
//! proxy in front of a plaintext server, so the ScyllaDB sink's TLS can be tested against
//! kassandra, which only speaks plaintext.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509NameBuilder, X509};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// PEM files of a CA and the certificates it signed, in a directory of their own.
pub struct TestPki {
    dir: PathBuf,
}

impl TestPki {
    /// Makes a CA named `name` with a server certificate for 127.0.0.1 and a client
    /// certificate, under `dir`.
    pub fn new(dir: &Path, name: &str) -> TestPki {
        std::fs::create_dir_all(dir).unwrap();
        let (ca, ca_key) = certificate(name, None, Role::Ca);
        let (server, server_key) = certificate("scylla-node", Some((&ca, &ca_key)), Role::Server);
        let (client, client_key) = certificate("spanflow", Some((&ca, &ca_key)), Role::Client);
        let write = |file: &str, pem: Vec<u8>| std::fs::write(dir.join(file), pem).unwrap();
        write("ca.pem", ca.to_pem().unwrap());
        write("server.pem", server.to_pem().unwrap());
        write("server.key", server_key.private_key_to_pem_pkcs8().unwrap());
        write("client.pem", client.to_pem().unwrap());
        write("client.key", client_key.private_key_to_pem_pkcs8().unwrap());
        TestPki { dir: dir.into() }
    }

    /// A file of this PKI: `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Ca,
    Server,
    Client,
}

fn certificate(
    cn: &str,
    issuer: Option<(&X509, &PKey<Private>)>,
    role: Role,
) -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    match role {
        Role::Ca => {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        }
        Role::Server | Role::Client => {
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            b.append_extension(
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_encipherment()
                    .build()
                    .unwrap(),
            )
            .unwrap();
            let mut usage = ExtendedKeyUsage::new();
            if role == Role::Server {
                usage.server_auth();
            } else {
                usage.client_auth();
            }
            b.append_extension(usage.build().unwrap()).unwrap();
        }
    }
    if role == Role::Server {
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&b.x509v3_context(issuer.map(|(ca, _)| &**ca), None))
            .unwrap();
        b.append_extension(san).unwrap();
    }
    match issuer {
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
        None => {
            b.set_issuer_name(&name).unwrap();
            b.sign(&key, MessageDigest::sha256()).unwrap();
        }
    }
    (b.build(), key)
}

/// Terminates TLS on a loopback port and forwards the bytes to `upstream`; stops when dropped.
pub struct TlsProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsProxy {
    /// Serves `pki`'s server certificate; with `require_client_certificate`, clients must
    /// present a certificate signed by `pki`'s CA.
    pub fn start(
        upstream: SocketAddr,
        pki: &TestPki,
        require_client_certificate: bool,
    ) -> TlsProxy {
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor
            .set_certificate_chain_file(pki.file("server.pem"))
            .unwrap();
        acceptor
            .set_private_key_file(pki.file("server.key"), SslFiletype::PEM)
            .unwrap();
        if require_client_certificate {
            acceptor.set_ca_file(pki.file("ca.pem")).unwrap();
            acceptor.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
            // OpenSSL refuses to resume sessions of verified clients without one.
            acceptor.set_session_id_context(b"spanflow-test").unwrap();
        }
        let acceptor = acceptor.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let ssl = Ssl::new(acceptor.context()).unwrap();
                        tokio::spawn(forward(ssl, tcp, upstream));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        TlsProxy {
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

async fn forward(ssl: Ssl, tcp: TcpStream, upstream: SocketAddr) {
    let Ok(mut tls) = tokio_openssl::SslStream::new(ssl, tcp) else {
        return;
    };
    // A failed handshake (wrong CA, no client certificate) just closes the connection.
    if Pin::new(&mut tls).accept().await.is_err() {
        return;
    }
    let Ok(mut plain) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
