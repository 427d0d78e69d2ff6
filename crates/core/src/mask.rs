//! Masking of secret-looking values in an event's own data (`requestParameters`,
//! `responseElements`, `additionalEventData`) before they are shown in an alert or stored:
//! values under keys that name a secret (password, secret, token, credential, private key, ...)
//! become `"***"`, whatever their type; everything else is kept as it is.

use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// Key fragments (compared without case, `_` and `-`) that mark a value as secret.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "privatekey",
    "secretaccesskey",
    "sessiontoken",
    "authorization",
    "apikey",
];

/// True when `key` names a secret: `Password`, `SecretString`, `SecretBinary`, `sessionToken`,
/// `secretAccessKey`, `PrivateKey`, `masterUserPassword`, `x-api-key`, ...
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

/// Replaces, in place, every value under a secret-looking key with [`MASK`], at any depth, and
/// every string that holds a PEM private key. Returns how many values were masked.
pub fn mask(v: &mut Value) -> usize {
    match v {
        Value::Object(map) => map
            .iter_mut()
            .map(|(k, v)| {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(MASK.to_string());
                    1
                } else {
                    mask(v)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(mask).sum(),
        Value::String(s) if s.contains("PRIVATE KEY-----") => {
            *s = MASK.to_string();
            1
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_recognised_and_others_are_not() {
        for k in [
            "password",
            "Password",
            "masterUserPassword",
            "SecretString",
            "SecretBinary",
            "sessionToken",
            "secretAccessKey",
            "PrivateKey",
            "private_key",
            "clientSecret",
            "x-api-key",
            "Credentials",
            "Authorization",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "userName",
            "policyDocument",
            "groupId",
            "accessKeyId",
            "bucketName",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
        // `secretId` names a secret rather than holding one, but is masked too: better an id
        // hidden than a secret shown.
        assert!(is_secret_key("secretId"));
    }

    #[test]
    fn masks_at_any_depth_and_keeps_the_rest() {
        let mut v = json!({
            "userName": "alice",
            "password": "hunter2",
            "credentials": {"accessKeyId": "AKIA", "secretAccessKey": "s", "sessionToken": "t"},
            "items": [{"SecretString": "{\"db\":\"pw\"}"}, {"name": "ok"}],
            "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "token": null,
            "SecretBinary": [1, 2, 3]
        });
        assert_eq!(mask(&mut v), 5);
        assert_eq!(
            v,
            json!({
                "userName": "alice",
                "password": MASK,
                "credentials": MASK,
                "items": [{"SecretString": MASK}, {"name": "ok"}],
                "key": MASK,
                "token": null,
                "SecretBinary": MASK
            })
        );
        let text = v.to_string();
        for secret in ["hunter2", "AKIA", "pw", "MIIE"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}
