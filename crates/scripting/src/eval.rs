//! [`EvalScripts`]: the EVAL Lua state and its script cache (SCRIPT LOAD, EXISTS,
//! FLUSH; EVAL and EVALSHA find or compile here, then run).
//!
//! Scripts are keyed by the SHA1 of their body, lower-case hex. Bound: Redis 7.0 keeps
//! every script until SCRIPT FLUSH; a client generating a new script per call (values
//! pasted into the body instead of ARGV) would grow that without limit, so scripts
//! that arrived by EVAL are capped at [`EVAL_SCRIPTS_MAX`], the oldest forgotten first
//! (an EVALSHA of one gets NOSCRIPT, which clients answer with EVAL). Scripts loaded
//! with SCRIPT LOAD are kept, as the client asked for them explicitly.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use mlua::Function;
use redoubt_resp::ReplyBuf;

use crate::flags;
use crate::gate::Gate;
use crate::vm::{Ended, Host, Kind, Shared, Vm};
use crate::Config;

/// The most scripts kept that only EVAL brought in.
pub const EVAL_SCRIPTS_MAX: usize = 10_000;

/// A cached script.
pub struct Script {
    pub body: Vec<u8>,
    pub flags: u32,
    func: Function,
    /// Loaded by SCRIPT LOAD (never evicted).
    pinned: bool,
}

/// The EVAL state and its scripts.
pub struct EvalScripts {
    vm: Vm,
    scripts: HashMap<String, Script>,
    /// EVAL-only scripts, oldest first, for eviction.
    unpinned: VecDeque<String>,
    body_bytes: usize,
}

/// The lower-case hex SHA1 of `body`.
pub fn sha_of(body: &[u8]) -> String {
    crate::sha1_hex(body)
}

impl EvalScripts {
    pub fn new(cfg: &Config, gate: &Arc<Gate>) -> mlua::Result<EvalScripts> {
        Ok(EvalScripts {
            vm: Vm::new(Kind::Eval, cfg, gate)?,
            scripts: HashMap::new(),
            unpinned: VecDeque::new(),
            body_bytes: 0,
        })
    }

    /// Finds or compiles `body`; returns its SHA1. `pin` (SCRIPT LOAD) keeps it for
    /// good. `Err` is Redis's error text (a bad shebang, a compile error).
    pub fn load(&mut self, body: &[u8], pin: bool) -> Result<String, String> {
        self.load_as(body, sha_of(body), pin)
    }

    /// [`EvalScripts::load`] when the caller already has `sha`, the SHA1 of `body`.
    pub fn load_as(&mut self, body: &[u8], sha: String, pin: bool) -> Result<String, String> {
        if let Some(s) = self.scripts.get_mut(&sha) {
            if pin && !s.pinned {
                s.pinned = true;
                self.unpinned.retain(|x| x != &sha);
            }
            return Ok(sha);
        }
        let flags = flags::eval_shebang(body)?;
        let code = flags::code_without_shebang(body);
        let func = self
            .vm
            .compile(&code, "@user_script")
            .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
        if !pin {
            if self.unpinned.len() >= EVAL_SCRIPTS_MAX {
                if let Some(old) = self.unpinned.pop_front() {
                    if let Some(s) = self.scripts.remove(&old) {
                        self.body_bytes -= s.body.len();
                    }
                }
            }
            self.unpinned.push_back(sha.clone());
        }
        self.body_bytes += body.len();
        self.scripts.insert(sha.clone(), Script { body: body.to_vec(), flags, func, pinned: pin });
        Ok(sha)
    }

    /// The script with this SHA1 (any case), if cached.
    pub fn get(&self, sha: &[u8]) -> Option<(&str, &Script)> {
        if sha.len() != 40 {
            return None;
        }
        let key = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.scripts.get_key_value(&key).map(|(k, s)| (k.as_str(), s))
    }

    /// Runs the cached script `sha` (lower case) and writes its reply.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        sha: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut ReplyBuf,
        gate: &Gate,
    ) -> Ended {
        match self.scripts.get(sha) {
            Some(s) => self.vm.call(&s.func, keys, args, false, sha, host, out, gate),
            None => Ended::error(out, b"NOSCRIPT No matching script. Please use EVAL.".to_vec()),
        }
    }

    /// What the running script shares with the server (`redis.set_repl`).
    pub fn shared(&self) -> Rc<Shared> {
        self.vm.shared.clone()
    }

    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    /// Bytes of the cached scripts, bodies and bookkeeping (INFO's
    /// `used_memory_scripts_eval`).
    pub fn scripts_bytes(&self) -> usize {
        self.body_bytes + self.scripts.len() * (40 + std::mem::size_of::<Script>() + 32)
    }

    /// Memory of the Lua state (INFO's `used_memory_lua`).
    pub fn vm_bytes(&self) -> usize {
        self.vm.used_memory()
    }
}
