//! Key specs (Redis 7.0): where a command's keys are, described as data —
//! where to start looking (`begin_search`: an index, or after a keyword) and how to
//! find them from there (`find_keys`: a range, or a count read from an argument).

use super::node::Node;
use redoubt_resp::number::parse_i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginSearch {
    Index(i32),
    Keyword { keyword: &'static str, start_from: i32 },
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindKeys {
    Range { last_key: i32, key_step: i32, limit: i32 },
    Keynum { keynum_idx: i32, first_key: i32, key_step: i32 },
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: Vec<&'static str>,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpec {
    pub(super) fn from_node(n: &'static Node) -> Option<KeySpec> {
        let flags = n.get("flags").map(|f| f.items().iter().filter_map(Node::as_str).collect()).unwrap_or_default();
        let int =
            |m: Option<&'static Node>, k: &str| m.and_then(|m| m.get(k)).and_then(Node::as_int).unwrap_or(0) as i32;
        let bs = n.get("begin_search")?;
        let bs_spec = bs.get("spec");
        let begin = match bs.get("type").and_then(Node::as_str) {
            Some("index") => BeginSearch::Index(int(bs_spec, "index")),
            Some("keyword") => BeginSearch::Keyword {
                keyword: bs_spec.and_then(|s| s.get("keyword")).and_then(Node::as_str).unwrap_or(""),
                start_from: int(bs_spec, "startfrom"),
            },
            _ => BeginSearch::Unknown,
        };
        let fk = n.get("find_keys")?;
        let fk_spec = fk.get("spec");
        let find = match fk.get("type").and_then(Node::as_str) {
            Some("range") => FindKeys::Range {
                last_key: int(fk_spec, "lastkey"),
                key_step: int(fk_spec, "keystep"),
                limit: int(fk_spec, "limit"),
            },
            Some("keynum") => FindKeys::Keynum {
                keynum_idx: int(fk_spec, "keynumidx"),
                first_key: int(fk_spec, "firstkey"),
                key_step: int(fk_spec, "keystep"),
            },
            _ => FindKeys::Unknown,
        };
        Some(KeySpec { flags, begin, find })
    }

    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x.eq_ignore_ascii_case(f))
    }
}

/// Key argument positions for `argc` arguments, following every spec in order (as
/// Redis's `getKeysUsingKeySpecs`); a spec that does not fit the arguments adds nothing.
pub fn positions<'a>(specs: &[KeySpec], arg: impl Fn(usize) -> &'a [u8], argc: usize) -> Vec<usize> {
    let argc = argc as i64;
    let mut out = Vec::new();
    for spec in specs {
        let first = match &spec.begin {
            BeginSearch::Index(i) => *i as i64,
            BeginSearch::Keyword { keyword, start_from } => {
                let (start, end, dir): (i64, i64, i64) = if *start_from >= 0 {
                    (*start_from as i64, argc - 1, 1)
                } else {
                    (argc + *start_from as i64, 1, -1)
                };
                let mut found = None;
                let mut i = start;
                while (dir > 0 && i <= end) || (dir < 0 && i >= end) {
                    if i >= 0 && i < argc && arg(i as usize).eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = Some(i + 1);
                        break;
                    }
                    i += dir;
                }
                match found {
                    Some(f) => f,
                    None => continue,
                }
            }
            BeginSearch::Unknown => continue,
        };
        let (first, last, step) = match &spec.find {
            FindKeys::Range { last_key, key_step, limit } => {
                let last = if *last_key >= 0 {
                    first + *last_key as i64
                } else if *limit <= 1 {
                    argc + *last_key as i64
                } else {
                    first + ((argc - first) / *limit as i64 + *last_key as i64)
                };
                (first, last, (*key_step).max(1) as i64)
            }
            FindKeys::Keynum { keynum_idx, first_key, key_step } => {
                let idx = first + *keynum_idx as i64;
                if idx < 0 || idx >= argc {
                    continue;
                }
                let Some(n) = parse_i64(arg(idx as usize)).filter(|n| *n >= 0) else {
                    continue;
                };
                let step = (*key_step).max(1) as i64;
                let first = first + *first_key as i64;
                // A client-chosen count can be huge: saturate, and the range check below
                // then finds the keys do not fit in the arguments.
                let last = (n - 1).checked_mul(step).and_then(|span| first.checked_add(span)).unwrap_or(i64::MAX);
                (first, last, step)
            }
            FindKeys::Unknown => continue,
        };
        if first < 1 || last >= argc {
            continue;
        }
        let mut i = first;
        while i <= last {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// Flags of a key read to be used (Redis's `CMD_KEY_RO | CMD_KEY_ACCESS`).
const READ: &[&str] = &["RO", "access"];
/// Flags of a key overwritten (Redis's `CMD_KEY_OW | CMD_KEY_UPDATE`).
const OVERWRITE: &[&str] = &["OW", "update"];

/// Keys and their flags from Redis's key procedure, for the commands whose key specs
/// are incomplete (an "unknown" spec); None for every other command.
pub fn procedure<'a>(
    name: &str,
    arg: &dyn Fn(usize) -> &'a [u8],
    argc: usize,
) -> Option<Vec<(usize, &'static [&'static str])>> {
    match name {
        "sort" => Some(sort_keys(arg, argc)),
        // Redis's `sortROGetKeys`: the sorted key only (BY and GET name no key).
        "sort_ro" => Some(vec![(1, READ)]),
        _ => None,
    }
}

/// Redis's `sortGetKeys`: the sorted key, then the last STORE key. Options are walked
/// as SORT parses them only roughly: LIMIT skips two arguments, BY and GET one, and
/// anything else none, so `STORE` is found wherever it can be an option.
fn sort_keys<'a>(arg: &dyn Fn(usize) -> &'a [u8], argc: usize) -> Vec<(usize, &'static [&'static str])> {
    let mut keys = vec![(1, READ)];
    let mut store = None;
    let mut i = 2;
    while i < argc {
        let a = arg(i);
        if a.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
            i += 1;
        } else if a.eq_ignore_ascii_case(b"store") && i + 1 < argc {
            store = Some((i + 1, OVERWRITE));
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

#[cfg(test)]
mod tests {
    use super::super::lookup_meta;

    fn keys_of(cmd: &str, args: &[&str]) -> Vec<usize> {
        let meta = lookup_meta(cmd).unwrap();
        meta.key_positions(|i| args[i].as_bytes(), args.len())
    }

    #[test]
    fn specs_find_redis_keys() {
        assert_eq!(keys_of("get", &["get", "k"]), vec![1]);
        assert_eq!(keys_of("mset", &["mset", "a", "1", "b", "2"]), vec![1, 3]);
        assert_eq!(keys_of("del", &["del", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys_of("zunionstore", &["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]), vec![1, 3, 4]);
        assert_eq!(keys_of("eval", &["eval", "s", "2", "a", "b", "x"]), vec![3, 4]);
        // SORT names its STORE key in an "unknown" spec: its key procedure finds it.
        assert_eq!(keys_of("sort", &["sort", "l", "STORE", "d"]), vec![1, 3]);
        assert_eq!(
            keys_of("sort", &["sort", "l", "LIMIT", "0", "1", "BY", "store", "STORE", "a", "STORE", "b"]),
            vec![1, 10]
        );
        assert_eq!(keys_of("sort", &["sort", "l", "GET", "#", "STORE"]), vec![1]);
        assert_eq!(keys_of("sort_ro", &["sort_ro", "l", "BY", "w_*"]), vec![1]);
        assert_eq!(keys_of("bitop", &["bitop", "and", "d", "a", "b"]), vec![2, 3, 4]);
        assert!(keys_of("eval", &["eval", "s", "x"]).is_empty());
        // A huge key count must not overflow: no keys fit, none are returned.
        assert!(keys_of("eval", &["eval", "s", "9223372036854775807", "a"]).is_empty());
    }
}
