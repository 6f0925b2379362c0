//! The server side of NTLM (MS-NLMP): CHALLENGE messages and verification of NTLMv2
//! AUTHENTICATE messages against one configured account.
//!
//! Verification recomputes the NTProofStr from the configured password. When the client
//! includes a MIC and did not negotiate key exchange, the MIC is checked too; a channel binding
//! hash, when present and not all zero, must match the listener certificate.

use hmac::{Hmac, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use sha2::Sha256;

type HmacMd5 = Hmac<Md5>;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
const UNICODE: u32 = 0x0000_0001;
const REQUEST_TARGET: u32 = 0x0000_0004;
const SIGN: u32 = 0x0000_0010;
const SEAL: u32 = 0x0000_0020;
const NTLM: u32 = 0x0000_0200;
const ALWAYS_SIGN: u32 = 0x0000_8000;
const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
const TARGET_INFO: u32 = 0x0080_0000;
const VERSION: u32 = 0x0200_0000;
const BITS_128: u32 = 0x2000_0000;
const KEY_EXCH: u32 = 0x4000_0000;
const BITS_56: u32 = 0x8000_0000;

const AV_EOL: u16 = 0;
const AV_NB_COMPUTER: u16 = 1;
const AV_NB_DOMAIN: u16 = 2;
const AV_DNS_COMPUTER: u16 = 3;
const AV_DNS_DOMAIN: u16 = 4;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
const AV_CHANNEL_BINDINGS: u16 = 10;

/// Message type of a token.
pub(crate) fn message_type(token: &[u8]) -> Option<u32> {
    if token.len() < 12 || &token[..8] != SIGNATURE {
        return None;
    }
    Some(u32::from_le_bytes([
        token[8], token[9], token[10], token[11],
    ]))
}

/// A challenge sent on a connection, waiting for the AUTHENTICATE message.
#[derive(Debug, Clone)]
pub(crate) struct PendingChallenge {
    negotiate: Vec<u8>,
    challenge: Vec<u8>,
    server_challenge: [u8; 8],
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn push_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

fn filetime_now() -> [u8; 8] {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = (since_unix.as_secs() + 11_644_473_600) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100);
    ticks.to_le_bytes()
}

/// Builds the CHALLENGE_MESSAGE answering `negotiate`.
pub(crate) fn challenge(negotiate: &[u8], computer_name: &str) -> PendingChallenge {
    let client_flags = if negotiate.len() >= 16 {
        u32::from_le_bytes([negotiate[12], negotiate[13], negotiate[14], negotiate[15]])
    } else {
        0
    };
    let offered = UNICODE
        | NTLM
        | ALWAYS_SIGN
        | EXTENDED_SESSION_SECURITY
        | BITS_128
        | BITS_56
        | KEY_EXCH
        | SIGN
        | SEAL;
    let flags = (client_flags & offered)
        | UNICODE
        | NTLM
        | TARGET_INFO
        | TARGET_TYPE_SERVER
        | VERSION
        | (client_flags & REQUEST_TARGET);
    let mut server_challenge = [0u8; 8];
    rand::Rng::fill(&mut rand::thread_rng(), &mut server_challenge);

    let target_name = utf16le(&computer_name.to_uppercase());
    let mut target_info = Vec::new();
    push_pair(
        &mut target_info,
        AV_NB_DOMAIN,
        &utf16le(&computer_name.to_uppercase()),
    );
    push_pair(
        &mut target_info,
        AV_NB_COMPUTER,
        &utf16le(&computer_name.to_uppercase()),
    );
    push_pair(
        &mut target_info,
        AV_DNS_DOMAIN,
        &utf16le(&computer_name.to_lowercase()),
    );
    push_pair(
        &mut target_info,
        AV_DNS_COMPUTER,
        &utf16le(&computer_name.to_lowercase()),
    );
    push_pair(&mut target_info, AV_TIMESTAMP, &filetime_now());
    push_pair(&mut target_info, AV_EOL, &[]);

    let header_len = 56u32;
    let mut message = Vec::with_capacity(56 + target_name.len() + target_info.len());
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&2u32.to_le_bytes());
    message.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    message.extend_from_slice(&(target_name.len() as u16).to_le_bytes());
    message.extend_from_slice(&header_len.to_le_bytes());
    message.extend_from_slice(&flags.to_le_bytes());
    message.extend_from_slice(&server_challenge);
    message.extend_from_slice(&[0; 8]);
    message.extend_from_slice(&(target_info.len() as u16).to_le_bytes());
    message.extend_from_slice(&(target_info.len() as u16).to_le_bytes());
    message.extend_from_slice(&(header_len + target_name.len() as u32).to_le_bytes());
    // Windows Server 2022, NTLM revision 15.
    message.extend_from_slice(&[10, 0, 0x7C, 0x4F, 0, 0, 0, 15]);
    message.extend_from_slice(&target_name);
    message.extend_from_slice(&target_info);
    PendingChallenge {
        negotiate: negotiate.to_vec(),
        challenge: message,
        server_challenge,
    }
}

impl PendingChallenge {
    /// The CHALLENGE_MESSAGE bytes.
    pub fn message(&self) -> &[u8] {
        &self.challenge
    }
}

/// Why an AUTHENTICATE message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    Malformed(&'static str),
    UnknownUser(String),
    WrongPassword(String),
    NotNtlmV2,
    BadMic,
    ChannelBindingMismatch,
    ChannelBindingMissing,
}

impl std::fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthFailure::Malformed(what) => write!(f, "malformed authenticate message ({what})"),
            AuthFailure::UnknownUser(user) => write!(f, "unknown user {user:?}"),
            AuthFailure::WrongPassword(user) => write!(f, "wrong password for {user:?}"),
            AuthFailure::NotNtlmV2 => f.write_str("only ntlmv2 responses are accepted"),
            AuthFailure::BadMic => f.write_str("the message integrity code does not match"),
            AuthFailure::ChannelBindingMismatch => {
                f.write_str("the channel binding token does not match the certificate")
            }
            AuthFailure::ChannelBindingMissing => {
                f.write_str("a channel binding token is required")
            }
        }
    }
}

/// The account the simulator accepts.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub user: String,
    pub password: String,
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

fn field(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = read_u16(bytes, at)? as usize;
    let offset = read_u32(bytes, at + 4)? as usize;
    bytes.get(offset..offset.checked_add(len)?)
}

fn text(bytes: &[u8], unicode: bool) -> Option<String> {
    if unicode {
        if bytes.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16(&units).ok()
    } else {
        Some(bytes.iter().map(|b| *b as char).collect())
    }
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = HmacMd5::new_from_slice(key).expect("hmac accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The expected `MsvAvChannelBindings` value for a TLS certificate (SHA-256 certificates).
pub(crate) fn channel_bindings_hash(certificate_der: &[u8]) -> [u8; 16] {
    let mut application_data = b"tls-server-end-point:".to_vec();
    application_data.extend_from_slice(&Sha256::digest(certificate_der));
    let mut bindings = vec![0u8; 16];
    bindings.extend_from_slice(&(application_data.len() as u32).to_le_bytes());
    bindings.extend_from_slice(&application_data);
    Md5::digest(&bindings).into()
}

/// Checks an AUTHENTICATE_MESSAGE; returns the authenticated user (`DOMAIN\user` as sent).
pub(crate) fn verify(
    pending: &PendingChallenge,
    authenticate: &[u8],
    account: &Account,
    expected_bindings: Option<[u8; 16]>,
    require_bindings: bool,
) -> Result<String, AuthFailure> {
    if message_type(authenticate) != Some(3) {
        return Err(AuthFailure::Malformed("message type"));
    }
    let flags = read_u32(authenticate, 60).ok_or(AuthFailure::Malformed("flags"))?;
    let unicode = flags & UNICODE != 0;
    let nt_response = field(authenticate, 20).ok_or(AuthFailure::Malformed("nt response"))?;
    let domain = field(authenticate, 28)
        .and_then(|b| text(b, unicode))
        .ok_or(AuthFailure::Malformed("domain"))?;
    let user = field(authenticate, 36)
        .and_then(|b| text(b, unicode))
        .ok_or(AuthFailure::Malformed("user"))?;
    let shown = if domain.is_empty() {
        user.clone()
    } else {
        format!("{domain}\\{user}")
    };
    // A UPN (user@domain) names the same local account as the bare user.
    let bare_user = user.split('@').next().unwrap_or(&user);
    if user.is_empty() || !bare_user.eq_ignore_ascii_case(&account.user) {
        return Err(AuthFailure::UnknownUser(shown));
    }
    if nt_response.len() <= 24 {
        return Err(AuthFailure::NotNtlmV2);
    }
    let (proof, blob) = nt_response.split_at(16);
    if blob.len() < 28 || blob[0] != 1 || blob[1] != 1 {
        return Err(AuthFailure::Malformed("ntlmv2 client challenge"));
    }
    let password_hash = Md4::digest(utf16le(&account.password));
    let response_key = hmac_md5(
        &password_hash,
        &[&utf16le(&format!("{}{domain}", user.to_uppercase()))],
    );
    let expected = hmac_md5(&response_key, &[&pending.server_challenge, blob]);
    if expected != proof {
        return Err(AuthFailure::WrongPassword(shown));
    }
    let pairs = parse_pairs(&blob[28..]).ok_or(AuthFailure::Malformed("client av pairs"))?;
    let bindings = pairs
        .iter()
        .find(|(id, _)| *id == AV_CHANNEL_BINDINGS)
        .map(|(_, v)| v.clone())
        .filter(|v| v.iter().any(|b| *b != 0));
    match (bindings, expected_bindings) {
        (Some(sent), Some(expected)) if sent != expected => {
            return Err(AuthFailure::ChannelBindingMismatch)
        }
        (None, _) if require_bindings => return Err(AuthFailure::ChannelBindingMissing),
        _ => {}
    }
    let mic_present = pairs
        .iter()
        .find(|(id, value)| *id == AV_FLAGS && value.len() == 4)
        .is_some_and(|(_, v)| u32::from_le_bytes([v[0], v[1], v[2], v[3]]) & 2 != 0);
    if mic_present && flags & KEY_EXCH == 0 {
        let session_base_key = hmac_md5(&response_key, &[proof]);
        let mut zeroed = authenticate.to_vec();
        let mic = zeroed
            .get_mut(72..88)
            .ok_or(AuthFailure::Malformed("mic"))?;
        let sent: Vec<u8> = mic.to_vec();
        mic.fill(0);
        let computed = hmac_md5(
            &session_base_key,
            &[&pending.negotiate, &pending.challenge, &zeroed],
        );
        if computed[..] != sent[..] {
            return Err(AuthFailure::BadMic);
        }
    }
    Ok(shown)
}

fn parse_pairs(mut bytes: &[u8]) -> Option<Vec<(u16, Vec<u8>)>> {
    let mut pairs = Vec::new();
    while bytes.len() >= 4 {
        let id = read_u16(bytes, 0)?;
        let len = read_u16(bytes, 2)? as usize;
        if id == AV_EOL {
            return Some(pairs);
        }
        pairs.push((id, bytes.get(4..4 + len)?.to_vec()));
        bytes = &bytes[4 + len..];
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an AUTHENTICATE message the way a client would, independently of the client crate.
    fn authenticate(
        pending: &PendingChallenge,
        user: &str,
        password: &str,
        bindings: Option<[u8; 16]>,
    ) -> Vec<u8> {
        let info = field(&pending.challenge, 40).unwrap().to_vec();
        let mut pairs = parse_pairs(&info).unwrap();
        pairs.push((AV_FLAGS, 2u32.to_le_bytes().to_vec()));
        if let Some(b) = bindings {
            pairs.push((AV_CHANNEL_BINDINGS, b.to_vec()));
        }
        let mut encoded = Vec::new();
        for (id, value) in &pairs {
            push_pair(&mut encoded, *id, value);
        }
        push_pair(&mut encoded, AV_EOL, &[]);
        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(&[0; 8]);
        blob.extend_from_slice(&[7; 8]);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&encoded);
        blob.extend_from_slice(&[0; 4]);
        let key = hmac_md5(
            &Md4::digest(utf16le(password)),
            &[&utf16le(&user.to_uppercase())],
        );
        let proof = hmac_md5(&key, &[&pending.server_challenge, &blob]);
        let mut nt = proof.to_vec();
        nt.extend_from_slice(&blob);
        let user_bytes = utf16le(user);
        let mut message = SIGNATURE.to_vec();
        message.extend_from_slice(&3u32.to_le_bytes());
        let payloads: [&[u8]; 6] = [&[0; 24], &nt, &[], &user_bytes, &[], &[]];
        let mut offset = 88u32;
        for payload in payloads {
            message.extend_from_slice(&(payload.len() as u16).to_le_bytes());
            message.extend_from_slice(&(payload.len() as u16).to_le_bytes());
            message.extend_from_slice(&offset.to_le_bytes());
            offset += payload.len() as u32;
        }
        message.extend_from_slice(&(UNICODE | NTLM | EXTENDED_SESSION_SECURITY).to_le_bytes());
        message.extend_from_slice(&[0; 8]);
        message.extend_from_slice(&[0; 16]);
        for payload in payloads {
            message.extend_from_slice(payload);
        }
        let base = hmac_md5(&key, &[&proof]);
        let mic = hmac_md5(&base, &[&pending.negotiate, &pending.challenge, &message]);
        message[72..88].copy_from_slice(&mic);
        message
    }

    fn account() -> Account {
        Account {
            user: "Administrator".into(),
            password: "pw".into(),
        }
    }

    #[test]
    fn accepts_the_right_password_and_rejects_others() {
        let pending = challenge(b"NTLMSSP\0\x01\0\0\0\x37\x82\x08\xe2", "SIM");
        assert_eq!(message_type(pending.message()), Some(2));
        let good = authenticate(&pending, "administrator", "pw", None);
        assert_eq!(
            verify(&pending, &good, &account(), None, false),
            Ok("administrator".into())
        );
        let bad = authenticate(&pending, "administrator", "nope", None);
        assert!(matches!(
            verify(&pending, &bad, &account(), None, false),
            Err(AuthFailure::WrongPassword(_))
        ));
        let stranger = authenticate(&pending, "guest", "pw", None);
        assert!(matches!(
            verify(&pending, &stranger, &account(), None, false),
            Err(AuthFailure::UnknownUser(_))
        ));
        let mut tampered = good.clone();
        tampered[60] ^= 0x04;
        assert_eq!(
            verify(&pending, &tampered, &account(), None, false),
            Err(AuthFailure::BadMic)
        );
    }

    #[test]
    fn checks_channel_bindings() {
        let pending = challenge(b"NTLMSSP\0\x01\0\0\0\x37\x82\x08\xe2", "SIM");
        let expected = channel_bindings_hash(b"certificate");
        let bound = authenticate(&pending, "Administrator", "pw", Some(expected));
        assert!(verify(&pending, &bound, &account(), Some(expected), true).is_ok());
        let other = authenticate(&pending, "Administrator", "pw", Some([9; 16]));
        assert_eq!(
            verify(&pending, &other, &account(), Some(expected), false),
            Err(AuthFailure::ChannelBindingMismatch)
        );
        let unbound = authenticate(&pending, "Administrator", "pw", None);
        assert_eq!(
            verify(&pending, &unbound, &account(), Some(expected), true),
            Err(AuthFailure::ChannelBindingMissing)
        );
    }
}
