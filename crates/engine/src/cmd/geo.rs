//! The geo family: positions stored in sorted sets, scored by their 52-bit geohash
//! (Redis's `geo.c`): GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH, GEOSEARCHSTORE,
//! GEORADIUS, GEORADIUSBYMEMBER and the `_RO` forms.
//!
//! - [`geohash`]: encoding, decoding, the cells covering a search, distances;
//! - [`crate::pqsort`]: Redis's partial quicksort, which decides the order of equally
//!   distant results when COUNT is given.
//!
//! A search visits the centre cell and its eight neighbours in Redis's order, reads
//! each cell's score range from the sorted set in score order, keeps the points inside
//! the shape, then sorts by distance (a stable sort, as glibc's `qsort` is, or
//! `pqsort` when COUNT cuts the result short) — the same steps as Redis, so the same
//! members come back in the same order. Distances print as Redis 7.0.15 prints them
//! (`fixedpoint_d2string`, not `%.4f`: they differ on rounding ties).

pub mod geohash;

use std::cmp::Ordering;

use redoubt_resp::request::Args;
use redoubt_resp::ReplyBuf;

use super::zset::{
    parse_zadd_options, read_zset, reply_no_source, store, store_nothing, zadd_apply, zadd_propagation, ZaddSyntax,
};
use super::{int_arg, is, DataCommand, LockMode::Keys};
use crate::exec::{err, Access, CmdError, CmdResult, Ctx};
use crate::float::{push_fixed, push_fixedpoint, push_human, string2d};
use crate::notify;
use crate::pqsort::pqsort;
use crate::types::zset::range::{Range, ScoreRange};
use crate::types::zset::{Limits, ZSet};
use geohash::{decode_score, Bits, Shape, ShapeKind};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "geoadd", lock: Keys, handler: geoadd },
    DataCommand { name: "geodist", lock: Keys, handler: geodist },
    DataCommand { name: "geohash", lock: Keys, handler: geohash_cmd },
    DataCommand { name: "geopos", lock: Keys, handler: geopos },
    DataCommand { name: "georadius", lock: Keys, handler: georadius },
    DataCommand { name: "georadius_ro", lock: Keys, handler: georadius_ro },
    DataCommand { name: "georadiusbymember", lock: Keys, handler: georadiusbymember },
    DataCommand { name: "georadiusbymember_ro", lock: Keys, handler: georadiusbymember_ro },
    DataCommand { name: "geosearch", lock: Keys, handler: geosearch },
    DataCommand { name: "geosearchstore", lock: Keys, handler: geosearchstore },
];

/* ---------------------------------------------------------------- arguments */

/// A longitude/latitude pair (Redis's `extractLongLatOrReply`).
fn lon_lat_args(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let lon = string2d(lon).ok_or(err::NOT_FLOAT)?;
    let lat = string2d(lat).ok_or(err::NOT_FLOAT)?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon) || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        let mut text = b"ERR invalid longitude,latitude pair ".to_vec();
        push_fixed(&mut text, lon, 6);
        text.push(b',');
        push_fixed(&mut text, lat, 6);
        return Err(CmdError::Bytes(text));
    }
    Ok((lon, lat))
}

/// Meters per unit (Redis's `extractUnitOrReply`).
fn unit_arg(a: &[u8]) -> Result<f64, CmdError> {
    if is(a, "m") {
        Ok(1.0)
    } else if is(a, "km") {
        Ok(1000.0)
    } else if is(a, "ft") {
        Ok(0.3048)
    } else if is(a, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::Static("ERR unsupported unit provided. please use M, KM, FT, MI"))
    }
}

/// `radius unit`: the radius in the unit and the unit's meters.
fn radius_args(radius: &[u8], unit: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = string2d(radius).ok_or(CmdError::Static("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::Static("ERR radius cannot be negative"));
    }
    Ok((r, unit_arg(unit)?))
}

/// `width height unit`.
fn box_args(width: &[u8], height: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), CmdError> {
    let w = string2d(width).ok_or(CmdError::Static("ERR need numeric width"))?;
    let h = string2d(height).ok_or(CmdError::Static("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(CmdError::Static("ERR height or width cannot be negative"));
    }
    Ok((w, h, unit_arg(unit)?))
}

/// The position of `member` in `z`.
fn member_position(z: &ZSet, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member).and_then(decode_score).ok_or(CmdError::Static("ERR could not decode requested zset member"))
}

/// A distance as GEO replies print it: four decimals, Redis's `fixedpoint_d2string`.
fn reply_distance(out: &mut ReplyBuf, d: f64) {
    let mut text = Vec::with_capacity(24);
    push_fixedpoint(&mut text, d, 4);
    out.bulk(&text);
}

/// A coordinate as GEOPOS and WITHCOORD print it (Redis's `addReplyHumanLongDouble`).
fn reply_coordinate(out: &mut ReplyBuf, v: f64) {
    let mut text = Vec::with_capacity(32);
    push_human(&mut text, v);
    if out.resp3() {
        out.raw(b",");
        out.raw(&text);
        out.raw(b"\r\n");
    } else {
        out.bulk(&text);
    }
}

/* ---------------------------------------------------------------- GEOADD and lookups */

fn geoadd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (o, first) = parse_zadd_options(args, 2, ZaddSyntax::Geoadd);
    let rest = args.len() - first;
    if !rest.is_multiple_of(3) || (o.flags.xx && o.flags.nx) || rest == 0 {
        return Err(err::SYNTAX);
    }
    let mut pairs = Vec::with_capacity(rest / 3);
    for i in (first..args.len()).step_by(3) {
        let (lon, lat) = lon_lat_args(args.get(i), args.get(i + 1))?;
        let score = geohash::score_of(lon, lat).ok_or(err::NOT_FLOAT)?;
        pairs.push((score, args.get(i + 2)));
    }
    let key = args.get(1);
    let changed = zadd_apply(ctx, key, &o, &pairs)?;
    if changed > 0 {
        ctx.db.dirty += changed;
        // Redis runs GEOADD as the ZADD it rewrites it into, and propagates that.
        let options: Vec<&[u8]> = (2..first).map(|i| args.get(i)).collect();
        ctx.db.propagate(ctx.db.index, zadd_propagation(key, &options, &pairs));
    }
    Ok(())
}

fn geodist(ctx: &mut Ctx, args: Args) -> CmdResult {
    let to_meters = match args.len() {
        5 => unit_arg(args.get(4))?,
        n if n > 5 => return Err(err::SYNTAX),
        _ => 1.0,
    };
    let out = &mut *ctx.out;
    let Some(z) = read_zset(ctx.db, args.get(1), Access::Read)? else {
        out.null();
        return Ok(());
    };
    let a = z.score(args.get(2)).and_then(decode_score);
    let b = z.score(args.get(3)).and_then(decode_score);
    match (a, b) {
        (Some(a), Some(b)) => reply_distance(out, geohash::distance(a.0, a.1, b.0, b.1) / to_meters),
        _ => out.null(),
    }
    Ok(())
}

fn geohash_cmd(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    let z = read_zset(ctx.db, args.get(1), Access::Read)?;
    out.array(args.len() - 2);
    for member in args.iter().skip(2) {
        match z.and_then(|z| z.score(member)).and_then(decode_score) {
            Some((lon, lat)) => out.bulk(&geohash::standard_geohash(lon, lat)),
            None => out.null(),
        }
    }
    Ok(())
}

fn geopos(ctx: &mut Ctx, args: Args) -> CmdResult {
    let out = &mut *ctx.out;
    let z = read_zset(ctx.db, args.get(1), Access::Read)?;
    out.array(args.len() - 2);
    for member in args.iter().skip(2) {
        match z.and_then(|z| z.score(member)).and_then(decode_score) {
            Some((lon, lat)) => {
                out.array(2);
                reply_coordinate(out, lon);
                reply_coordinate(out, lat);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

/* ---------------------------------------------------------------- searches */

/// Which command a search is (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// GEORADIUS / GEORADIUS_RO.
    Coords { store_ok: bool },
    /// GEORADIUSBYMEMBER / GEORADIUSBYMEMBER_RO.
    Member { store_ok: bool },
    /// GEOSEARCH / GEOSEARCHSTORE.
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A point found by a search.
struct Found {
    member: Vec<u8>,
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
}

/// Appends the points of one cell that are inside `shape` (Redis's
/// `geoGetPointsInRange` over the cell's score interval, max excluded); stops once
/// `limit` points are found (COUNT ... ANY).
fn search_cell(z: &ZSet, cell: Bits, shape: &Shape, found: &mut Vec<Found>, limit: usize) {
    let min = geohash::align52(cell) as f64;
    let max = geohash::align52(Bits { bits: cell.bits.wrapping_add(1), step: cell.step }) as f64;
    let range = Range::Score(ScoreRange { min, max, min_ex: false, max_ex: true });
    let Some(first) = z.first_in_range(&range) else { return };
    z.walk(first, false, |member, score| {
        if score >= max {
            return false;
        }
        if let Some((lon, lat)) = decode_score(score) {
            if let Some(dist) = shape.contains(lon, lat) {
                found.push(Found { member: member.to_vec(), lon, lat, dist, score });
            }
        }
        !(limit > 0 && found.len() >= limit)
    });
}

/// Every point of `z` inside `shape`, in Redis's visiting order.
fn search(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Found> {
    let cells = shape.cells();
    let mut found = Vec::new();
    let mut last: Option<Bits> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // With huge radii adjacent cells can be the same one; Redis skips a cell equal
        // to the one searched just before it (never comparing with the centre).
        if i > 0 && last == Some(*cell) {
            continue;
        }
        if limit > 0 && found.len() >= limit {
            break;
        }
        search_cell(z, *cell, shape, &mut found, limit);
        if i > 0 {
            last = Some(*cell);
        }
    }
    found
}

/// Runs a search command (Redis's `georadiusGeneric`); `src` is the source key's index.
fn georadius_generic(ctx: &mut Ctx, args: Args, src: usize, kind: Kind) -> CmdResult {
    let src_key = args.get(src);
    let exists = read_zset(ctx.db, src_key, Access::Read)?.is_some();
    let mut store_key: Option<&[u8]> = None;
    let mut storedist = false;
    let mut center: Option<(f64, f64)> = None;
    let mut kind_of_shape: Option<(ShapeKind, f64)> = None;
    let base = match kind {
        Kind::Coords { .. } => {
            center = Some(lon_lat_args(args.get(2), args.get(3))?);
            let (r, conv) = radius_args(args.get(4), args.get(5))?;
            kind_of_shape = Some((ShapeKind::Circle { radius: r }, conv));
            6
        }
        Kind::Member { .. } if !exists => 5,
        Kind::Member { .. } => {
            let z = read_zset(ctx.db, src_key, Access::Peek)?.ok_or(err::NO_SUCH_KEY)?;
            center = Some(member_position(z, args.get(2))?);
            let (r, conv) = radius_args(args.get(3), args.get(4))?;
            kind_of_shape = Some((ShapeKind::Circle { radius: r }, conv));
            5
        }
        Kind::Search { store } => {
            if store {
                store_key = Some(args.get(1));
                3
            } else {
                2
            }
        }
    };
    let (search_cmd, search_store) = match kind {
        Kind::Search { store } => (true, store),
        _ => (false, false),
    };
    let store_ok = matches!(kind, Kind::Coords { store_ok: true } | Kind::Member { store_ok: true });
    let (mut withdist, mut withhash, mut withcoords, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = args.get(base + i);
        let arg = |k: usize| args.get(base + i + k);
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoords = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && i + 1 < remaining {
            count = int_arg(arg(1))?;
            if count <= 0 {
                return Err(CmdError::Static("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && i + 1 < remaining && store_ok {
            store_key = Some(arg(1));
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && search_store {
            storedist = true;
        } else if is(a, "frommember") && i + 1 < remaining && search_cmd && !fromloc {
            frommember = true;
            if exists {
                let z = read_zset(ctx.db, src_key, Access::Peek)?.ok_or(err::NO_SUCH_KEY)?;
                center = Some(member_position(z, arg(1))?);
            }
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && search_cmd && !frommember {
            center = Some(lon_lat_args(arg(1), arg(2))?);
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && search_cmd && !bybox {
            let (r, conv) = radius_args(arg(1), arg(2))?;
            kind_of_shape = Some((ShapeKind::Circle { radius: r }, conv));
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && search_cmd && !byradius {
            let (w, h, conv) = box_args(arg(1), arg(2), arg(3))?;
            kind_of_shape = Some((ShapeKind::Rect { width: w, height: h }, conv));
            bybox = true;
            i += 3;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if store_key.is_some() && (withdist || withhash || withcoords) {
        let who = if search_store { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::Owned(format!(
            "ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let typed_name = || String::from_utf8_lossy(args.get(0)).into_owned();
    if search_cmd && !(frommember || fromloc) {
        return Err(CmdError::Owned(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            typed_name()
        )));
    }
    if search_cmd && !(byradius || bybox) {
        return Err(CmdError::Owned(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            typed_name()
        )));
    }
    if any && count == 0 {
        return Err(CmdError::Static("ERR the ANY argument requires COUNT argument"));
    }
    let out = &mut *ctx.out;
    let Some(z) = read_zset(ctx.db, src_key, Access::Peek)? else {
        return reply_no_source(ctx.db, out, store_key);
    };
    let (Some((lon, lat)), Some((shape_kind, conversion))) = (center, kind_of_shape) else {
        return Err(err::SYNTAX);
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape { longitude: lon, latitude: lat, conversion, kind: shape_kind };
    let limit = if any { count as usize } else { 0 };
    let mut found = search(z, &shape, limit);
    if found.is_empty() && store_key.is_none() {
        out.array(0);
        return Ok(());
    }
    let total = found.len();
    let returned = if count == 0 || (total as i64) < count { total } else { count as usize };
    sort_found(&mut found, sort, returned);
    found.truncate(returned);
    for f in &mut found {
        f.dist /= conversion;
    }
    let Some(dst) = store_key else {
        reply_found(out, &found, withdist, withhash, withcoords);
        return Ok(());
    };
    out.int(returned as i64);
    store_found(ctx, dst, found, storedist, search_cmd)
}

/// Sorts by distance as Redis does: glibc's stable `qsort` for a full sort, `pqsort`
/// when only the first `returned` matter.
fn sort_found(found: &mut [Found], sort: Sort, returned: usize) {
    let asc = |a: &Found, b: &Found| a.dist.partial_cmp(&b.dist).unwrap_or(Ordering::Equal);
    let cmp = |a: &Found, b: &Found| match sort {
        Sort::Desc => asc(b, a),
        _ => asc(a, b),
    };
    if sort == Sort::None || found.is_empty() {
        return;
    }
    if returned == found.len() {
        found.sort_by(cmp);
    } else {
        // Without the BSD insertion-sort shortcut, as Redis 7.0.15 sorts (see `pqsort`).
        pqsort(found, 0, returned.saturating_sub(1) as i64, &cmp);
    }
}

fn reply_found(out: &mut ReplyBuf, found: &[Found], withdist: bool, withhash: bool, withcoords: bool) {
    let options = withdist as usize + withhash as usize + withcoords as usize;
    out.array(found.len());
    for f in found {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&f.member);
        if withdist {
            reply_distance(out, f.dist);
        }
        if withhash {
            out.int(f.score as i64);
        }
        if withcoords {
            out.array(2);
            reply_coordinate(out, f.lon);
            reply_coordinate(out, f.lat);
        }
    }
}

/// STORE / STOREDIST / GEOSEARCHSTORE: the results as a sorted set at `dst`, scored by
/// their geohash or (STOREDIST) their distance in the unit.
fn store_found(ctx: &mut Ctx, dst: &[u8], found: Vec<Found>, storedist: bool, search_cmd: bool) -> CmdResult {
    if found.is_empty() {
        return store_nothing(ctx.db, dst);
    }
    let n = found.len() as u64;
    let mut entries: Vec<(Vec<u8>, f64)> =
        found.into_iter().map(|f| (f.member, if storedist { f.dist } else { f.score })).collect();
    entries.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    entries.dedup_by(|a, b| a.0 == b.0);
    let z = ZSet::from_sorted(entries.iter().map(|(m, s)| (m.as_slice(), *s)), Limits::of(&ctx.db.engine.knobs));
    store(ctx.db, dst, z)?;
    ctx.db.notify(notify::ZSET, if search_cmd { "geosearchstore" } else { "georadiusstore" }, dst);
    ctx.db.dirty += n;
    Ok(())
}

fn georadius(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 1, Kind::Coords { store_ok: true })
}

fn georadius_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 1, Kind::Coords { store_ok: false })
}

fn georadiusbymember(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 1, Kind::Member { store_ok: true })
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 1, Kind::Member { store_ok: false })
}

fn geosearch(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 1, Kind::Search { store: false })
}

fn geosearchstore(ctx: &mut Ctx, args: Args) -> CmdResult {
    georadius_generic(ctx, args, 2, Kind::Search { store: true })
}

#[cfg(test)]
mod tests {
    use crate::cmd::registry::tests::run;
    use crate::cmd::registry::Registry;
    use crate::Engine;

    #[test]
    fn events_and_propagation() {
        use crate::cmd::set::tests::{events, journal};
        let (e, r) = (Engine::new(16), Registry::new());
        e.journal.set_enabled(true);
        assert_eq!(events(&e, &r, &["GEOADD", "g", "CH", "13.361389", "38.115556", "Palermo"]).1, ["zadd:g"]);
        assert!(journal(&e)
            .ends_with("*5\r\n$4\r\nzadd\r\n$1\r\ng\r\n$2\r\nCH\r\n$16\r\n3479099956230698\r\n$7\r\nPalermo\r\n"));
        let store = ["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "13", "38", "BYRADIUS", "100", "km"];
        assert_eq!(events(&e, &r, &store).1, ["geosearchstore:d"]);
        assert_eq!(
            events(&e, &r, &["GEORADIUS", "g", "13", "38", "100", "km", "STORE", "d2"]).1,
            ["georadiusstore:d2"]
        );
        assert_eq!(events(&e, &r, &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d2"]).1, ["del:d2"]);
        assert!(journal(&e).ends_with("$2\r\nd2\r\n"));
    }

    #[test]
    fn sicily() {
        let (e, r) = (Engine::new(16), Registry::new());
        assert_eq!(
            run(
                &e,
                &r,
                &["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]
            ),
            ":2\r\n"
        );
        assert_eq!(run(&e, &r, &["GEODIST", "Sicily", "Palermo", "Catania"]), "$11\r\n166274.1516\r\n");
        assert_eq!(run(&e, &r, &["GEODIST", "Sicily", "Palermo", "Catania", "km"]), "$8\r\n166.2742\r\n");
        assert_eq!(run(&e, &r, &["GEOHASH", "Sicily", "Palermo", "nope"]), "*2\r\n$11\r\nsqc8b49rny0\r\n$-1\r\n");
        assert_eq!(
            run(&e, &r, &["GEOPOS", "Sicily", "Palermo", "nope"]),
            "*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
        );
        assert_eq!(
            run(&e, &r, &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "ASC"]),
            "*2\r\n*2\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n"
        );
        assert_eq!(
            run(
                &e,
                &r,
                &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "COUNT", "1"]
            ),
            "*1\r\n$7\r\nCatania\r\n"
        );
        assert_eq!(
            run(&e, &r, &["GEOADD", "Sicily", "200", "100", "x"]),
            "-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n"
        );
        assert_eq!(
            run(
                &e,
                &r,
                &["GEOSEARCHSTORE", "dst", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1000", "km", "STOREDIST"]
            ),
            ":2\r\n"
        );
        assert!(
            run(&e, &r, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]).starts_with("*4\r\n$7\r\nPalermo\r\n$1\r\n0\r\n")
        );
    }
}
