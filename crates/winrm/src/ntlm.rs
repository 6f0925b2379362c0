//! The client side of NTLMv2 authentication (MS-NLMP), as used over HTTP.
//!
//! Only authentication is implemented: no signing or sealing, so no key exchange is negotiated
//! and the exported session key is the NTLMv2 session base key (which keys the MIC). The
//! hashes come from the `md4`, `md-5` and `hmac` crates.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use sha2::{Sha256, Sha384, Sha512};

type HmacMd5 = Hmac<Md5>;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Negotiate flags (MS-NLMP 2.2.2.5) this client uses.
pub(crate) mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const BITS_128: u32 = 0x2000_0000;
    pub const BITS_56: u32 = 0x8000_0000;
}

const CLIENT_FLAGS: u32 = flags::UNICODE
    | flags::REQUEST_TARGET
    | flags::NTLM
    | flags::ALWAYS_SIGN
    | flags::EXTENDED_SESSION_SECURITY
    | flags::TARGET_INFO
    | flags::VERSION
    | flags::BITS_128
    | flags::BITS_56;

/// AV_PAIR ids (MS-NLMP 2.2.2.1).
mod av {
    pub const EOL: u16 = 0x0000;
    pub const FLAGS: u16 = 0x0006;
    pub const TIMESTAMP: u16 = 0x0007;
    pub const TARGET_NAME: u16 = 0x0009;
    pub const CHANNEL_BINDINGS: u16 = 0x000A;
}

/// `MsvAvFlags` bit: the AUTHENTICATE_MESSAGE carries a MIC.
const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// The VERSION structure we announce (Windows 10.0, NTLM revision 15); informational only.
const VERSION: [u8; 8] = [10, 0, 0x61, 0x4A, 0, 0, 0, 15];

/// Offset of the MIC inside an AUTHENTICATE_MESSAGE and the size of its fixed part.
const MIC_OFFSET: usize = 72;
const AUTHENTICATE_HEADER_LEN: usize = 88;

/// Why a CHALLENGE_MESSAGE could not be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NtlmError {
    #[error("the ntlm challenge message is malformed ({what})")]
    MalformedChallenge { what: &'static str },
    #[error("the server did not agree to unicode ntlm messages")]
    NoUnicode,
}

/// Credentials split the way NTLM wants them.
#[derive(Clone)]
pub struct NtlmCredentials {
    user: String,
    domain: String,
    password: String,
}

impl std::fmt::Debug for NtlmCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtlmCredentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl NtlmCredentials {
    /// `DOMAIN\user` is split into domain and user; `user@domain` (a UPN) and a bare `user` are
    /// sent as the user name with an empty domain.
    pub fn new(username: &str, password: &str) -> NtlmCredentials {
        let (domain, user) = match username.split_once('\\') {
            Some((domain, user)) => (domain.to_string(), user.to_string()),
            None => (String::new(), username.to_string()),
        };
        NtlmCredentials {
            user,
            domain,
            password: password.to_string(),
        }
    }

    /// The user name as sent.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The domain as sent (possibly empty).
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// One NTLM exchange: NEGOTIATE, then AUTHENTICATE in answer to the server's CHALLENGE.
#[derive(Debug)]
pub struct NtlmClient {
    credentials: NtlmCredentials,
    negotiate: Vec<u8>,
}

impl NtlmClient {
    /// Starts an exchange.
    pub fn new(credentials: NtlmCredentials) -> NtlmClient {
        NtlmClient {
            credentials,
            negotiate: negotiate_message(),
        }
    }

    /// The NEGOTIATE_MESSAGE to send first.
    pub fn negotiate_message(&self) -> &[u8] {
        &self.negotiate
    }

    /// The AUTHENTICATE_MESSAGE answering `challenge`. `target_spn` (e.g. `HTTP/host`) and the
    /// TLS server certificate (for the channel binding token) are optional.
    pub fn authenticate_message(
        &self,
        challenge: &[u8],
        target_spn: Option<&str>,
        server_certificate_der: Option<&[u8]>,
    ) -> Result<Vec<u8>, NtlmError> {
        let parsed = Challenge::parse(challenge)?;
        let mut client_challenge = [0u8; 8];
        rand::Rng::fill(&mut rand::thread_rng(), &mut client_challenge);
        let inputs = AuthenticateInputs {
            challenge: &parsed,
            challenge_bytes: challenge,
            client_challenge,
            now_filetime: filetime_now(),
            target_spn,
            channel_bindings_hash: server_certificate_der.map(channel_bindings_hash),
        };
        Ok(build_authenticate(
            &self.credentials,
            &self.negotiate,
            &inputs,
        ))
    }
}

fn negotiate_message() -> Vec<u8> {
    let mut message = Vec::with_capacity(40);
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&1u32.to_le_bytes());
    message.extend_from_slice(&CLIENT_FLAGS.to_le_bytes());
    // Domain and workstation are not supplied: zero lengths, offsets at the end of the message.
    for _ in 0..2 {
        message.extend_from_slice(&0u16.to_le_bytes());
        message.extend_from_slice(&0u16.to_le_bytes());
        message.extend_from_slice(&40u32.to_le_bytes());
    }
    message.extend_from_slice(&VERSION);
    message
}

/// The parts of a CHALLENGE_MESSAGE the client needs.
#[derive(Debug)]
struct Challenge {
    flags: u32,
    server_challenge: [u8; 8],
    target_info: Vec<(u16, Vec<u8>)>,
}

impl Challenge {
    fn parse(bytes: &[u8]) -> Result<Challenge, NtlmError> {
        if bytes.len() < 32 || &bytes[..8] != SIGNATURE {
            return Err(NtlmError::MalformedChallenge { what: "signature" });
        }
        if read_u32(bytes, 8) != Some(2) {
            return Err(NtlmError::MalformedChallenge {
                what: "message type",
            });
        }
        let flags = read_u32(bytes, 20).ok_or(NtlmError::MalformedChallenge { what: "flags" })?;
        if flags & flags::UNICODE == 0 {
            return Err(NtlmError::NoUnicode);
        }
        let mut server_challenge = [0u8; 8];
        server_challenge.copy_from_slice(&bytes[24..32]);
        let target_info = if bytes.len() >= 48 {
            let info = read_field(bytes, 40).ok_or(NtlmError::MalformedChallenge {
                what: "target info",
            })?;
            parse_av_pairs(info).ok_or(NtlmError::MalformedChallenge {
                what: "target info pairs",
            })?
        } else {
            Vec::new()
        };
        Ok(Challenge {
            flags,
            server_challenge,
            target_info,
        })
    }

    fn timestamp(&self) -> Option<[u8; 8]> {
        self.target_info
            .iter()
            .find(|(id, value)| *id == av::TIMESTAMP && value.len() == 8)
            .map(|(_, value)| {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(value);
                stamp
            })
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A (length, max length, offset) field pointing into the message payload.
fn read_field(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = read_u16(bytes, at)? as usize;
    let offset = read_u32(bytes, at + 4)? as usize;
    bytes.get(offset..offset.checked_add(len)?)
}

fn parse_av_pairs(mut bytes: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let mut pairs = Vec::new();
    loop {
        if bytes.is_empty() {
            // Tolerate a missing terminator.
            return Some(pairs);
        }
        let id = read_u16(bytes, 0)?;
        let len = read_u16(bytes, 2)? as usize;
        if id == av::EOL {
            return Some(pairs);
        }
        let value = bytes.get(4..4 + len)?;
        pairs.push((id, value.to_vec()));
        bytes = &bytes[4 + len..];
    }
}

fn encode_av_pairs(pairs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, value) in pairs {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&av::EOL.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

pub(crate) fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = HmacMd5::new_from_slice(key).expect("hmac accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2 (= LMOWFv2): HMAC_MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) + domain)).
pub(crate) fn ntowf_v2(credentials: &NtlmCredentials) -> [u8; 16] {
    let password_hash = Md4::digest(utf16le(&credentials.password));
    let identity = utf16le(&format!(
        "{}{}",
        credentials.user.to_uppercase(),
        credentials.domain
    ));
    hmac_md5(&password_hash, &[&identity])
}

/// Everything besides the credentials that goes into an AUTHENTICATE_MESSAGE.
struct AuthenticateInputs<'a> {
    challenge: &'a Challenge,
    challenge_bytes: &'a [u8],
    client_challenge: [u8; 8],
    now_filetime: [u8; 8],
    target_spn: Option<&'a str>,
    channel_bindings_hash: Option<[u8; 16]>,
}

/// The results of ComputeResponse for NTLMv2 (MS-NLMP 3.3.2).
struct Responses {
    nt_response: Vec<u8>,
    lm_response: Vec<u8>,
    session_base_key: [u8; 16],
}

fn compute_responses(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    timestamp: &[u8; 8],
    av_pairs: &[u8],
    lm_zeroed: bool,
) -> Responses {
    let mut temp = Vec::with_capacity(28 + av_pairs.len() + 4);
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(timestamp);
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(av_pairs);
    temp.extend_from_slice(&[0; 4]);
    let nt_proof = hmac_md5(response_key, &[server_challenge, &temp]);
    let mut nt_response = nt_proof.to_vec();
    nt_response.extend_from_slice(&temp);
    let lm_response = if lm_zeroed {
        vec![0; 24]
    } else {
        let mut lm = hmac_md5(response_key, &[server_challenge, client_challenge]).to_vec();
        lm.extend_from_slice(client_challenge);
        lm
    };
    let session_base_key = hmac_md5(response_key, &[&nt_proof]);
    Responses {
        nt_response,
        lm_response,
        session_base_key,
    }
}

fn build_authenticate(
    credentials: &NtlmCredentials,
    negotiate: &[u8],
    inputs: &AuthenticateInputs<'_>,
) -> Vec<u8> {
    let challenge = inputs.challenge;
    let server_timestamp = challenge.timestamp();
    // With a server timestamp the client sends a MIC and a zeroed LMv2 response (3.1.5.1.2).
    let send_mic = server_timestamp.is_some();
    let mut pairs: Vec<(u16, Vec<u8>)> = challenge.target_info.clone();
    if send_mic {
        match pairs.iter_mut().find(|(id, _)| *id == av::FLAGS) {
            Some((_, value)) if value.len() == 4 => {
                let current = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
                *value = (current | AV_FLAG_MIC_PRESENT).to_le_bytes().to_vec();
            }
            _ => pairs.push((av::FLAGS, AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec())),
        }
    }
    if let Some(hash) = inputs.channel_bindings_hash {
        pairs.push((av::CHANNEL_BINDINGS, hash.to_vec()));
    }
    if let Some(spn) = inputs.target_spn {
        pairs.push((av::TARGET_NAME, utf16le(spn)));
    }
    let timestamp = server_timestamp.unwrap_or(inputs.now_filetime);
    let response_key = ntowf_v2(credentials);
    let responses = compute_responses(
        &response_key,
        &challenge.server_challenge,
        &inputs.client_challenge,
        &timestamp,
        &encode_av_pairs(&pairs),
        send_mic,
    );

    let negotiated = (challenge.flags & CLIENT_FLAGS) | flags::UNICODE;
    let domain = utf16le(&credentials.domain);
    let user = utf16le(&credentials.user);
    let workstation: Vec<u8> = Vec::new();
    let payloads: [&[u8]; 6] = [
        &responses.lm_response,
        &responses.nt_response,
        &domain,
        &user,
        &workstation,
        &[],
    ];

    let mut message = Vec::with_capacity(AUTHENTICATE_HEADER_LEN + 512);
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = AUTHENTICATE_HEADER_LEN;
    // Field order in the header: LM, NT, domain, user, workstation, encrypted session key.
    for payload in payloads {
        message.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        message.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        message.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += payload.len();
    }
    message.extend_from_slice(&negotiated.to_le_bytes());
    message.extend_from_slice(&VERSION);
    message.extend_from_slice(&[0; 16]);
    debug_assert_eq!(message.len(), AUTHENTICATE_HEADER_LEN);
    for payload in payloads {
        message.extend_from_slice(payload);
    }
    if send_mic {
        // No key exchange: the exported session key is the session base key.
        let mic = hmac_md5(
            &responses.session_base_key,
            &[negotiate, inputs.challenge_bytes, &message],
        );
        message[MIC_OFFSET..MIC_OFFSET + 16].copy_from_slice(&mic);
    }
    message
}

/// The current time as a little-endian Windows FILETIME (100 ns ticks since 1601).
fn filetime_now() -> [u8; 8] {
    const EPOCH_DIFFERENCE_SECONDS: u64 = 11_644_473_600;
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = (since_unix.as_secs() + EPOCH_DIFFERENCE_SECONDS) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100);
    ticks.to_le_bytes()
}

/// MD5 of the `gss_channel_bindings_struct` carrying RFC 5929 `tls-server-end-point` data.
pub fn channel_bindings_hash(server_certificate_der: &[u8]) -> [u8; 16] {
    let mut application_data = b"tls-server-end-point:".to_vec();
    application_data.extend_from_slice(&certificate_hash(server_certificate_der));
    let mut bindings = Vec::with_capacity(20 + application_data.len());
    // Initiator and acceptor address types and (empty) addresses.
    bindings.extend_from_slice(&[0; 16]);
    bindings.extend_from_slice(&(application_data.len() as u32).to_le_bytes());
    bindings.extend_from_slice(&application_data);
    Md5::digest(&bindings).into()
}

/// The certificate hash of RFC 5929 section 4.1: the certificate's signature hash, with MD5 and
/// SHA-1 upgraded to SHA-256.
fn certificate_hash(der: &[u8]) -> Vec<u8> {
    const SHA384_OIDS: [&[u8]; 2] = [
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C],
        &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03],
    ];
    const SHA512_OIDS: [&[u8]; 2] = [
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D],
        &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04],
    ];
    match signature_algorithm_oid(der) {
        Some(oid) if SHA384_OIDS.contains(&oid) => Sha384::digest(der).to_vec(),
        Some(oid) if SHA512_OIDS.contains(&oid) => Sha512::digest(der).to_vec(),
        _ => Sha256::digest(der).to_vec(),
    }
}

/// Reads `Certificate.signatureAlgorithm.algorithm` from a DER certificate.
fn signature_algorithm_oid(der: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, after_tbs) = der_element(certificate)?;
    let (tag, algorithm, _) = der_element(after_tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// Splits one DER element off `bytes`: (tag, content, rest).
fn der_element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first_len = *bytes.get(1)?;
    let (len, header) = if first_len < 0x80 {
        (first_len as usize, 2)
    } else {
        let count = (first_len & 0x7F) as usize;
        if count == 0 || count > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + count)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    Some((tag, bytes.get(header..end)?, bytes.get(end..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// MS-NLMP 4.2.4: user "User", domain "Domain", password "Password".
    fn vector_credentials() -> NtlmCredentials {
        NtlmCredentials::new("Domain\\User", "Password")
    }

    fn vector_target_info() -> Vec<u8> {
        let mut pairs = hex("02000c00");
        pairs.extend(utf16le("Domain"));
        pairs.extend(hex("01000c00"));
        pairs.extend(utf16le("Server"));
        pairs.extend(hex("00000000"));
        pairs
    }

    #[test]
    fn ntowfv2_matches_the_specification() {
        assert_eq!(
            ntowf_v2(&vector_credentials()).to_vec(),
            hex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
    }

    #[test]
    fn ntlmv2_responses_match_the_specification() {
        let key = ntowf_v2(&vector_credentials());
        let server_challenge: [u8; 8] = hex("0123456789abcdef").try_into().unwrap();
        let responses = compute_responses(
            &key,
            &server_challenge,
            &[0xaa; 8],
            &[0; 8],
            &vector_target_info(),
            false,
        );
        assert_eq!(
            responses.nt_response[..16].to_vec(),
            hex("68cd0ab851e51c96aabc927bebef6a1c")
        );
        assert_eq!(
            responses.session_base_key.to_vec(),
            hex("8de40ccadbc14a82f15cb0ad0de95ca3")
        );
        assert_eq!(
            responses.lm_response,
            hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        // temp follows the proof: header, zero timestamp, client challenge, zeros, pairs, zeros.
        assert_eq!(&responses.nt_response[16..24], &[1, 1, 0, 0, 0, 0, 0, 0]);
        assert!(responses.nt_response.ends_with(&[0, 0, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn parses_the_specification_challenge() {
        let challenge = hex(
            "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef\
             00000000000000002400240044000000060070170000000f5300650072007600\
             6500720002000c0044006f006d00610069006e0001000c005300650072007600\
             6500720000000000",
        );
        let parsed = Challenge::parse(&challenge).unwrap();
        assert_eq!(parsed.server_challenge.to_vec(), hex("0123456789abcdef"));
        assert_eq!(parsed.target_info.len(), 2);
        assert_eq!(parsed.timestamp(), None);
        assert_eq!(encode_av_pairs(&parsed.target_info), vector_target_info());
    }

    #[test]
    fn authenticate_message_layout() {
        let mut target_info = vec![
            (0x0001u16, utf16le("SIM")),
            (av::TIMESTAMP, vec![1, 2, 3, 4, 5, 6, 7, 8]),
        ];
        let challenge = Challenge {
            flags: CLIENT_FLAGS,
            server_challenge: [7; 8],
            target_info: target_info.clone(),
        };
        let inputs = AuthenticateInputs {
            challenge: &challenge,
            challenge_bytes: b"challenge",
            client_challenge: [9; 8],
            now_filetime: [0; 8],
            target_spn: Some("HTTP/host"),
            channel_bindings_hash: Some([5; 16]),
        };
        let credentials = NtlmCredentials::new("CORP\\alice", "secret");
        let message = build_authenticate(&credentials, b"negotiate", &inputs);
        assert_eq!(&message[..8], SIGNATURE);
        assert_eq!(read_u32(&message, 8), Some(3));
        assert_eq!(read_field(&message, 12).unwrap(), &[0u8; 24]);
        assert_eq!(
            read_field(&message, 28).unwrap(),
            utf16le("CORP").as_slice()
        );
        assert_eq!(
            read_field(&message, 36).unwrap(),
            utf16le("alice").as_slice()
        );
        let nt = read_field(&message, 20).unwrap();
        let pairs = parse_av_pairs(&nt[16 + 28..]).unwrap();
        target_info.push((av::FLAGS, AV_FLAG_MIC_PRESENT.to_le_bytes().to_vec()));
        target_info.push((av::CHANNEL_BINDINGS, vec![5; 16]));
        target_info.push((av::TARGET_NAME, utf16le("HTTP/host")));
        assert_eq!(pairs, target_info);
        // The MIC covers all three messages with the MIC field zeroed.
        let mut zeroed = message.clone();
        zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
        let key = ntowf_v2(&credentials);
        let base_key = hmac_md5(&key, &[&nt[..16]]);
        let mic = hmac_md5(&base_key, &[b"negotiate", b"challenge", &zeroed]);
        assert_eq!(&message[MIC_OFFSET..MIC_OFFSET + 16], &mic);
    }

    #[test]
    fn usernames_are_split_like_windows() {
        let credentials = NtlmCredentials::new("CORP\\bob", "x");
        assert_eq!((credentials.domain(), credentials.user()), ("CORP", "bob"));
        let credentials = NtlmCredentials::new("bob@corp.example", "hunter2");
        assert_eq!(
            (credentials.domain(), credentials.user()),
            ("", "bob@corp.example")
        );
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn der_walker_finds_the_signature_algorithm() {
        // SEQUENCE { SEQUENCE {} , SEQUENCE { OID 1.2.840.10045.4.3.3 }, BIT STRING {} }
        let der = hex("3010 3000 300a 0608 2a8648ce3d040303 0300");
        assert_eq!(
            signature_algorithm_oid(&der),
            Some(&hex("2a8648ce3d040303")[..])
        );
        assert_eq!(certificate_hash(&der).len(), 48);
        assert_eq!(certificate_hash(b"not der").len(), 32);
    }
}
