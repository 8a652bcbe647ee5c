//! The ACL `default` user — the only user Redoubt has until ACLs are built. It is what
//! `requirepass` configures in Redis 7.0: either `nopass` (anyone may authenticate,
//! with any password) or a set of passwords, kept as SHA-256 digests as Redis keeps
//! them. `user default ...` lines in redis.conf are accepted when they describe this
//! user with full access; any other rule is refused rather than silently ignored.

/// The default user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultUser {
    pub nopass: bool,
    /// SHA-256 of each accepted password.
    pub passwords: Vec<[u8; 32]>,
}

impl Default for DefaultUser {
    fn default() -> Self {
        DefaultUser { nopass: true, passwords: Vec::new() }
    }
}

/// The permission rules of full access, accepted (and implied) on the default user.
const FULL_ACCESS_RULES: &[&str] =
    &["on", "~*", "allkeys", "%rw~*", "&*", "allchannels", "+@all", "allcommands", "resetchannels", "resetkeys"];

impl DefaultUser {
    /// What `requirepass` sets: no password means `nopass`.
    pub fn from_requirepass(pass: &[u8]) -> DefaultUser {
        if pass.is_empty() {
            DefaultUser::default()
        } else {
            DefaultUser { nopass: false, passwords: vec![sha256(pass)] }
        }
    }

    pub fn requires_password(&self) -> bool {
        !self.nopass
    }

    /// True when `pass` authenticates this user.
    pub fn check(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let digest = sha256(pass);
        // Compare every stored digest without an early exit, so timing says nothing.
        self.passwords.iter().fold(false, |ok, p| ok | constant_time_eq(p, &digest))
    }

    /// The default user a `user default <rules...>` config line describes. As in Redis,
    /// the line starts from a reset user, so it must grant everything itself.
    pub fn from_config_rules(rules: &[String]) -> Result<DefaultUser, String> {
        let has = |names: &[&str]| rules.iter().any(|r| names.iter().any(|n| r.eq_ignore_ascii_case(n)));
        if !has(&["on"]) {
            return Err("Redoubt cannot disable the default user ('on' is required)".into());
        }
        if !has(&["+@all", "allcommands"]) || !has(&["~*", "allkeys", "%rw~*"]) {
            return Err("Redoubt supports only full access for the default user ('~* +@all' are required)".into());
        }
        let mut user = DefaultUser { nopass: false, passwords: Vec::new() };
        user.apply_rules(rules)?;
        Ok(user)
    }

    /// Applies password rules (and the full-access rules, which change nothing).
    pub fn apply_rules(&mut self, rules: &[String]) -> Result<(), String> {
        for rule in rules {
            let r = rule.as_str();
            let lower = r.to_ascii_lowercase();
            if FULL_ACCESS_RULES.contains(&lower.as_str()) {
                continue;
            }
            match lower.as_str() {
                "nopass" => {
                    self.nopass = true;
                    self.passwords.clear();
                }
                "resetpass" => {
                    self.nopass = false;
                    self.passwords.clear();
                }
                _ if r.starts_with('>') => {
                    self.nopass = false;
                    self.passwords.push(sha256(&r.as_bytes()[1..]));
                }
                _ if r.starts_with('#') => {
                    let d = parse_digest(&r[1..]).ok_or("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")?;
                    self.nopass = false;
                    self.passwords.push(d);
                }
                _ if r.starts_with('<') => {
                    let d = sha256(&r.as_bytes()[1..]);
                    self.passwords.retain(|p| *p != d);
                }
                _ => return Err(format!("Redoubt supports only full access for the default user (rule '{r}')")),
            }
        }
        Ok(())
    }

    /// The `user default ...` line CONFIG REWRITE writes.
    pub fn config_line(&self) -> String {
        let mut line = String::from("user default on");
        if self.nopass {
            line.push_str(" nopass");
        }
        for p in &self.passwords {
            line.push_str(" #");
            line.push_str(&hex(p));
        }
        line.push_str(" ~* &* +@all");
        line
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_digest(h: &str) -> Option<[u8; 32]> {
    if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (FIPS 180-4), for password digests.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (a, b) in h.iter_mut().zip(v) {
            *a = a.wrapping_add(b);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_vectors() {
        assert_eq!(hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // The digest Redis writes for requirepass "secret".
        assert_eq!(hex(&sha256(b"secret")), "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
        assert_eq!(hex(&sha256(&[b'a'; 1000])), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }

    #[test]
    fn rules_and_lines() {
        let mut u = DefaultUser::default();
        assert_eq!(u.config_line(), "user default on nopass ~* &* +@all");
        u.apply_rules(&["on".into(), ">secret".into(), "~*".into(), "+@all".into()]).unwrap();
        assert!(u.check(b"secret") && !u.check(b"nope"));
        assert_eq!(
            u.config_line(),
            "user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all"
        );
        assert!(u.apply_rules(&["-@dangerous".into()]).is_err());
        assert_eq!(DefaultUser::from_requirepass(b""), DefaultUser::default());
    }
}
