//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest common
//! subsequence of two strings, by the textbook dynamic-programming table, exactly as
//! Redis 7.0 computes it — the walk back through the table breaks ties the same way, so
//! that IDX reports the same matches, in the same (last to first) order.
//!
//! The table has (len1 + 1) * (len2 + 1) cells of 4 bytes; like Redis, a table larger
//! than proto-max-bulk-len is refused before anything is allocated.

use redoubt_resp::request::Args;

use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx};

pub static COMMANDS: &[DataCommand] = &[DataCommand { name: "lcs", lock: Keys, handler: lcs }];

const NOT_STRINGS: CmdError = CmdError::Static("ERR The specified keys must contain string values");
const LEN_AND_IDX: CmdError = CmdError::Static("ERR If you want both the length and indexes, please just use IDX.");
const TOO_LONG: CmdError = CmdError::Static("ERR String too long for LCS");
const TABLE_TOO_BIG: CmdError =
    CmdError::Static("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
const ALLOC_FAILED: CmdError = CmdError::Static("ERR Insufficient memory, failed allocating transient memory for LCS");

/// The options after the two keys.
#[derive(Default, Debug, PartialEq, Eq)]
struct LcsOptions {
    len: bool,
    idx: bool,
    with_match_len: bool,
    /// Matches shorter than this are left out of IDX (0: keep all).
    min_match_len: u64,
}

fn parse_options(args: Args) -> Result<LcsOptions, CmdError> {
    let mut o = LcsOptions::default();
    let mut i = 3;
    while i < args.len() {
        let a = args.get(i);
        if is(a, "idx") {
            o.idx = true;
        } else if is(a, "len") {
            o.len = true;
        } else if is(a, "withmatchlen") {
            o.with_match_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            // Negative values mean "no minimum", as in Redis.
            o.min_match_len = int_arg(args.get(i + 1))?.max(0) as u64;
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if o.idx && o.len {
        return Err(LEN_AND_IDX);
    }
    Ok(o)
}

/// Both strings (a missing key is empty). Redis looks both keys up before checking
/// their types, and answers a wrong type with an error of its own, not WRONGTYPE.
fn read_inputs(ctx: &mut Ctx, args: Args) -> Result<(Vec<u8>, Vec<u8>), CmdError> {
    let a = ctx.db.get_string(args.get(1), Access::Read);
    let b = ctx.db.get_string(args.get(2), Access::Read);
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a.unwrap_or_default(), b.unwrap_or_default())),
        (Err(e), _) | (_, Err(e)) if e == err::WRONGTYPE => Err(NOT_STRINGS),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// The table of LCS lengths: `cell(i, j)` is the LCS length of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

impl Table {
    /// Fills the table for `a` and `b`, refusing one bigger than `max_bytes` or one the
    /// allocator cannot provide (Redis's `ztrymalloc`), instead of aborting.
    fn build(a: &[u8], b: &[u8], max_bytes: u64) -> Result<Table, CmdError> {
        if a.len() as u64 >= u64::from(u32::MAX - 1) || b.len() as u64 >= u64::from(u32::MAX - 1) {
            return Err(TOO_LONG);
        }
        let width = b.len() + 1;
        let cells_n = (a.len() as u128 + 1) * width as u128;
        if cells_n * 4 > u128::from(max_bytes) {
            return Err(TABLE_TOO_BIG);
        }
        let cells_n = cells_n as usize;
        let mut cells = Vec::new();
        cells.try_reserve_exact(cells_n).map_err(|_| ALLOC_FAILED)?;
        cells.resize(cells_n, 0u32);
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Ok(Table { cells, width })
    }

    fn cell(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }
}

/// One run of consecutive matching bytes: inclusive ranges in `a` and in `b`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Match {
    a: (usize, usize),
    b: (usize, usize),
}

impl Match {
    fn len(&self) -> usize {
        self.a.1 - self.a.0 + 1
    }
}

/// Walks the table back from its last cell, rebuilding the subsequence and the runs
/// of consecutive matches (last run first). Ties go to `j` (the second string), and a
/// run is closed at the first mismatch step or when it reaches either string's start,
/// exactly as Redis does.
fn walk_back(t: &Table, a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Match>) {
    let total = t.cell(a.len(), b.len()) as usize;
    let mut lcs = vec![0u8; total];
    let mut matches = Vec::new();
    let mut run: Option<Match> = None;
    let (mut i, mut j, mut k) = (a.len(), b.len(), total);
    while i > 0 && j > 0 {
        let mut close = false;
        if a[i - 1] == b[j - 1] {
            lcs[k - 1] = a[i - 1];
            match &mut run {
                None => run = Some(Match { a: (i - 1, i - 1), b: (j - 1, j - 1) }),
                // The previous match was at (i, j): the run grows backwards.
                Some(m) if m.a.0 == i && m.b.0 == j => {
                    m.a.0 -= 1;
                    m.b.0 -= 1;
                }
                Some(_) => close = true,
            }
            close |= run.is_some_and(|m| m.a.0 == 0 || m.b.0 == 0);
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t.cell(i - 1, j) > t.cell(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            close = run.is_some();
        }
        if close {
            matches.extend(run.take());
        }
    }
    (lcs, matches)
}

/// The IDX reply: a map of `matches` (the runs long enough, each `[[a_start, a_end],
/// [b_start, b_end]]` plus the length with WITHMATCHLEN) and `len`.
fn reply_idx(ctx: &mut Ctx, matches: &[Match], total: u32, o: &LcsOptions) {
    let kept: Vec<&Match> = matches.iter().filter(|m| m.len() as u64 >= o.min_match_len).collect();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(kept.len());
    for m in kept {
        out.array(if o.with_match_len { 3 } else { 2 });
        for (start, end) in [m.a, m.b] {
            out.array(2);
            out.int(start as i64);
            out.int(end as i64);
        }
        if o.with_match_len {
            out.int(m.len() as i64);
        }
    }
    out.bulk(b"len");
    out.int(i64::from(total));
}

fn lcs(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (a, b) = read_inputs(ctx, args)?;
    let o = parse_options(args)?;
    let table = Table::build(&a, &b, ctx.db.engine.knobs.max_string())?;
    let total = table.cell(a.len(), b.len());
    if o.len {
        ctx.out.int(i64::from(total));
        return Ok(());
    }
    let (lcs, matches) = walk_back(&table, &a, &b);
    if o.idx {
        reply_idx(ctx, &matches, total, &o);
    } else {
        ctx.out.bulk(&lcs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cmd::bits::tests::{check, check_with};
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;
    use redoubt_resp::Protocol;

    /// `ohmytext` / `mynewtext`, IDX: two runs, "text" then "my".
    const IDX_REPLY: &str = "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n\
                             *2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n";

    #[test]
    fn replies_and_options() {
        check(&[
            ("MSET key1 ohmytext key2 mynewtext", "+OK\r\n"),
            ("LCS key1 key2", "$6\r\nmytext\r\n"),
            ("LCS key1 key2 LEN", ":6\r\n"),
            ("LCS key1 key2 IDX", IDX_REPLY),
            ("LCS key1 key2 idx idx", IDX_REPLY),
            ("LCS key1 key2 MINMATCHLEN -5 IDX", IDX_REPLY),
            (
                "LCS key1 key2 IDX MINMATCHLEN 4",
                "*4\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n$3\r\nlen\r\n:6\r\n",
            ),
            (
                "LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
                "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
            ),
            (
                "LCS key1 key2 IDX WITHMATCHLEN",
                "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
                 *3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n",
            ),
            // WITHMATCHLEN and MINMATCHLEN only shape IDX replies.
            ("LCS key1 key2 WITHMATCHLEN", "$6\r\nmytext\r\n"),
            ("LCS key1 key2 MINMATCHLEN 4", "$6\r\nmytext\r\n"),
            ("LCS key1 key2 LEN WITHMATCHLEN", ":6\r\n"),
            ("LCS key1 key2 LEN IDX", "-ERR If you want both the length and indexes, please just use IDX.\r\n"),
            ("LCS key1 key2 idx len", "-ERR If you want both the length and indexes, please just use IDX.\r\n"),
            ("LCS key1 key2 LEN MINMATCHLEN x", "-ERR value is not an integer or out of range\r\n"),
            ("LCS key1 key2 MINMATCHLEN", "-ERR syntax error\r\n"),
            ("LCS key1 key2 FOO", "-ERR syntax error\r\n"),
            ("LCS key1", "-ERR wrong number of arguments for 'lcs' command\r\n"),
            ("LCS nokey key2", "$0\r\n\r\n"),
            ("LCS nokey nokey2", "$0\r\n\r\n"),
            ("LCS nokey nokey2 IDX", "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"),
            ("LCS nokey nokey2 LEN", ":0\r\n"),
            // Int-encoded strings are compared by their digits.
            ("SET n1 12345", "+OK\r\n"),
            ("SET n2 2345", "+OK\r\n"),
            ("LCS n1 n2", "$4\r\n2345\r\n"),
            (
                "LCS n1 n2 IDX WITHMATCHLEN",
                "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:1\r\n:4\r\n*2\r\n:0\r\n:3\r\n:4\r\n$3\r\nlen\r\n:4\r\n",
            ),
            ("MSET a abcdefgh b abxdefxgh", "+OK\r\n"),
            ("LCS a b", "$7\r\nabdefgh\r\n"),
            (
                "LCS a b IDX WITHMATCHLEN MINMATCHLEN 2",
                "*4\r\n$7\r\nmatches\r\n*3\r\n*3\r\n*2\r\n:6\r\n:7\r\n*2\r\n:7\r\n:8\r\n:2\r\n\
                 *3\r\n*2\r\n:3\r\n:5\r\n*2\r\n:3\r\n:5\r\n:3\r\n*3\r\n*2\r\n:0\r\n:1\r\n*2\r\n:0\r\n:1\r\n:2\r\n\
                 $3\r\nlen\r\n:7\r\n",
            ),
            ("LCS a b IDX MINMATCHLEN 9223372036854775807", "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:7\r\n"),
        ]);
    }

    #[test]
    fn idx_is_a_map_in_resp3() {
        check_with(
            Protocol::Resp3,
            &[
                ("MSET a abcdefgh b abxdefxgh", "+OK\r\n"),
                (
                    "LCS a b IDX WITHMATCHLEN",
                    "%2\r\n$7\r\nmatches\r\n*3\r\n*3\r\n*2\r\n:6\r\n:7\r\n*2\r\n:7\r\n:8\r\n:2\r\n\
                     *3\r\n*2\r\n:3\r\n:5\r\n*2\r\n:3\r\n:5\r\n:3\r\n*3\r\n*2\r\n:0\r\n:1\r\n*2\r\n:0\r\n:1\r\n:2\r\n\
                     $3\r\nlen\r\n:7\r\n",
                ),
                ("LCS nokey nokey2 IDX", "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"),
                ("LCS a b", "$7\r\nabdefgh\r\n"),
            ],
        );
    }

    #[test]
    fn table_bigger_than_proto_max_bulk_len_is_refused() {
        let (e, r) = (Engine::new(16), Registry::new());
        e.knobs.proto_max_bulk_len.store(1024 * 1024, std::sync::atomic::Ordering::Relaxed);
        let too_big = "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n";
        run(&e, &r, &["SET", "x", &"a".repeat(600)]);
        run(&e, &r, &["SET", "y", &"b".repeat(600)]);
        assert_eq!(run(&e, &r, &["LCS", "x", "y"]), too_big);
        assert_eq!(run(&e, &r, &["LCS", "x", "y", "LEN"]), too_big);
        // Options are checked first.
        assert_eq!(run(&e, &r, &["LCS", "x", "y", "FOO"]), "-ERR syntax error\r\n");
        // (511 + 1)^2 cells of 4 bytes are exactly 1 MiB, which is still allowed.
        run(&e, &r, &["SET", "x", &"a".repeat(511)]);
        run(&e, &r, &["SET", "y", &"b".repeat(511)]);
        assert_eq!(run(&e, &r, &["LCS", "x", "y", "LEN"]), ":0\r\n");
        run(&e, &r, &["SET", "x", &"a".repeat(512)]);
        assert_eq!(run(&e, &r, &["LCS", "x", "y", "LEN"]), too_big);
    }
}
