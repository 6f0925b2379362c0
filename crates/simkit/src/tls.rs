//! Throw-away TLS material for the simulators: a self-signed certificate, or a certificate signed
//! by a throw-away CA (for clients that verify against a CA they are given).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// A server certificate signed by a throw-away CA, and an acceptor presenting it.
pub struct CaSigned {
    /// PEM of the CA, for clients that verify.
    pub ca_pem: String,
    /// DER of the server certificate (for channel binding, say).
    pub leaf_der: Vec<u8>,
    /// Presents the server certificate and the CA, offering `http/1.1`.
    pub acceptor: TlsAcceptor,
}

/// An acceptor with a self-signed certificate for `names` (DNS names or IPs), offering
/// `http/1.1`, and the certificate's PEM.
pub fn self_signed(names: &[String]) -> io::Result<(TlsAcceptor, String)> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec()).map_err(io::Error::other)?;
    let certificate_der = certified.cert.der().clone();
    let key_der =
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let acceptor = acceptor(vec![certificate_der], key_der)?;
    Ok((acceptor, certified.cert.pem()))
}

/// A throw-away CA named `ca_name` and a server certificate it signed for `names` (DNS names or
/// IPs) with the common name `server_name`.
pub fn ca_signed(names: &[String], ca_name: &str, server_name: &str) -> io::Result<CaSigned> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let ca = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;

    let mut leaf_params = CertificateParams::new(names.to_vec()).map_err(io::Error::other)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, server_name);
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .map_err(io::Error::other)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain = vec![
        CertificateDer::from(leaf.der().to_vec()),
        CertificateDer::from(ca.der().to_vec()),
    ];
    Ok(CaSigned {
        ca_pem: ca.pem(),
        leaf_der: leaf.der().to_vec(),
        acceptor: acceptor(chain, key)?,
    })
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
