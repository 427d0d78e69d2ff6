//! CloudTrail's public keys and the signature check. Pure: the keys come in as text (the JSON
//! that `aws cloudtrail list-public-keys` prints) or as values (from the ListPublicKeys API).
//!
//! A key's `Value` is the DER encoding of the RSA public key (PKCS#1 `RSAPublicKey`, which AWS
//! documents; an X.509 `SubjectPublicKeyInfo` is accepted too), base64-encoded in the CLI's
//! output. Digests name the key that signed them by its `Fingerprint`.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;

/// Public keys by fingerprint (lowercase hex).
#[derive(Debug, Default, Clone)]
pub struct PublicKeys {
    keys: HashMap<String, Vec<u8>>,
}

/// Why a public-key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{file}: not the JSON `aws cloudtrail list-public-keys` prints: {reason}")]
    Json { file: String, reason: String },
    #[error("{file}: key {fingerprint}: Value is not base64")]
    Base64 { file: String, fingerprint: String },
}

/// Why a signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no public key with fingerprint {0} (see --public-keys)")]
    UnknownKey(String),
    #[error("the signature is not hex")]
    NotHex,
    #[error("signature verification failed (RSA SHA-256 over the signing string)")]
    Invalid,
}

#[derive(Deserialize)]
struct ListOutput {
    #[serde(rename = "publicKeyList", alias = "PublicKeyList")]
    list: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Fingerprint")]
    fingerprint: String,
}

impl PublicKeys {
    /// Adds the keys of one `list-public-keys` output; `file` names it in errors.
    pub fn add_json(&mut self, file: &str, text: &str) -> Result<usize, KeysError> {
        let out: ListOutput = serde_json::from_str(text).map_err(|e| KeysError::Json {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        for k in &out.list {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .map_err(|_| KeysError::Base64 {
                    file: file.to_string(),
                    fingerprint: k.fingerprint.clone(),
                })?;
            self.add(&k.fingerprint, der);
        }
        Ok(out.list.len())
    }

    /// Adds one key (DER bytes).
    pub fn add(&mut self, fingerprint: &str, der: Vec<u8>) {
        self.keys.insert(fingerprint.to_ascii_lowercase(), der);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a hex signature over `message` with the key of `fingerprint`.
    pub fn verify(
        &self,
        fingerprint: &str,
        message: &[u8],
        hex_signature: &str,
    ) -> Result<(), SignatureError> {
        let der = self
            .keys
            .get(&fingerprint.to_ascii_lowercase())
            .ok_or_else(|| SignatureError::UnknownKey(fingerprint.to_string()))?;
        let sig = hex::decode(hex_signature.trim()).map_err(|_| SignatureError::NotHex)?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .verify(message, &sig)
            .map_err(|_| SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};

    #[test]
    fn signs_and_verifies_with_a_listed_key() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = pair.public_key().as_ref().to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let json = format!(
            r#"{{"publicKeyList":[{{"ValidityStartTime":"1436317441.0",
               "ValidityEndTime":"1438909441.0","Value":"{b64}","Fingerprint":"AB01"}}]}}"#
        );
        let mut keys = PublicKeys::default();
        assert_eq!(keys.add_json("keys.json", &json).unwrap(), 1);
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), b"msg", &mut sig)
            .unwrap();
        let sig = hex::encode(sig);
        assert_eq!(keys.verify("ab01", b"msg", &sig), Ok(()));
        assert_eq!(
            keys.verify("ab01", b"msh", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            keys.verify("ff", b"msg", &sig),
            Err(SignatureError::UnknownKey("ff".into()))
        );
        assert_eq!(
            keys.verify("ab01", b"msg", "zz"),
            Err(SignatureError::NotHex)
        );
        assert!(keys.add_json("x", "{}").is_err());
    }
}
