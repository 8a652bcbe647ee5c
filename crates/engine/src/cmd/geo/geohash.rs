//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`): positions as 52-bit
//! interleaved scores, cell decoding, the 3×3 block of cells that covers a search
//! area, and the haversine distances used to filter it.
//!
//! Everything here reproduces Redis 7.0's floating-point steps in the same order with
//! the same constants, because replies show the results (GEOPOS prints the decoded
//! cell centre with 17 decimals, GEODIST four) and searches include or exclude points
//! by comparing them. The trigonometry goes to the C library's `sin`, `cos`, `asin`
//! and `sqrt`, as Redis's does.

/// Bits per coordinate in a stored score (26 + 26 = 52, exact in a double).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

/// Degrees to radians, as Redis's `D_R` (`M_PI / 180.0`).
const D_R: f64 = std::f64::consts::PI / 180.0;
/// Earth's quadratic mean radius for WGS-84, Redis's constant.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// An interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub min: f64,
    pub max: f64,
}

/// A geohash: `step` bits per coordinate, interleaved (longitude in the odd bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    /// Redis's `HASHISZERO`: the marker of a neighbour cell that need not be searched.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A decoded cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub longitude: Interval,
    pub latitude: Interval,
}

/// The coordinate ranges of Redis's geo scores (Web Mercator cannot reach the poles).
pub const WGS84_LONG: Interval = Interval { min: LONG_MIN, max: LONG_MAX };
pub const WGS84_LAT: Interval = Interval { min: LAT_MIN, max: LAT_MAX };

/// Interleaves the low 32 bits of `x` (even bit positions) and `y` (odd ones).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] =
        [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (xlo as u64, ylo as u64);
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: even bits in the low half, odd bits in the high.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Encodes a position with `step` bits per coordinate within the given ranges; None
/// outside them (Redis's `geohashEncode`).
pub fn encode(long_range: Interval, lat_range: Interval, longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min || latitude > lat_range.max || longitude < long_range.min || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the doubles to uint32_t by truncation.
    Some(Bits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// Encodes a position in Redis's geo ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, step)
}

/// The cell of `hash` (Redis's `geohashDecode`).
pub fn decode(long_range: Interval, lat_range: Interval, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let step = hash.step;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let cells = (1u64 << step) as f64;
    Some(Area {
        latitude: Interval {
            min: lat_range.min + (ilato as f64 * 1.0 / cells) * lat_scale,
            max: lat_range.min + ((ilato.wrapping_add(1)) as f64 * 1.0 / cells) * lat_scale,
        },
        longitude: Interval {
            min: long_range.min + (ilono as f64 * 1.0 / cells) * long_scale,
            max: long_range.min + ((ilono.wrapping_add(1)) as f64 * 1.0 / cells) * long_scale,
        },
    })
}

/// The centre of a cell, clamped to the geo ranges.
fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// C's conversion of a double to `uint64_t` as x86-64 code does it (Redis casts a
/// score with `(uint64_t)score`; a score that is not a geo position still decodes to
/// something, and the same something as in Redis).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if d >= TWO63 {
        let e = d - TWO63;
        let low = if e < TWO63 { e as i64 as u64 } else { 1 << 63 };
        low ^ (1 << 63)
    } else {
        // Below -2^63 the instruction yields 0x8000...0, which is what `as` saturates to.
        d as i64 as u64
    }
}

/// The position a stored score stands for: the centre of its 26-bit cell (Redis's
/// `decodeGeohash`).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = Bits { bits: c_double_to_u64(score), step: STEP_MAX };
    decode(WGS84_LONG, WGS84_LAT, hash).map(|a| area_center(&a))
}

/// The score of a position (the 52-bit hash as an integer-valued double).
pub fn score_of(longitude: f64, latitude: f64) -> Option<f64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(|h| align52(h) as f64)
}

/// A hash of `step` bits per coordinate moved to the top of 52 bits.
pub fn align52(hash: Bits) -> u64 {
    // Steps are at most 26 here; saturating keeps a bug from becoming a panic.
    hash.bits << 52u32.saturating_sub(hash.step as u32 * 2)
}

/// The interleaved bits of the longitude (x) in a hash; the latitude's (y) are the
/// others.
const X_BITS: u64 = 0xaaaaaaaaaaaaaaaa;
const Y_BITS: u64 = 0x5555555555555555;

/// Moves a cell `d` steps (-1, 0 or 1) along the axis whose bits `axis` masks, the
/// other axis unchanged (Redis's `geohash_move_x` with `X_BITS`, `geohash_move_y`
/// with `Y_BITS`).
fn move_along(hash: &mut Bits, d: i8, axis: u64) {
    // A zero-step hash (the "no cell" marker) has no neighbours to move to.
    if d == 0 || hash.step == 0 || hash.step > 32 {
        return;
    }
    let mut mine = hash.bits & axis;
    let other = hash.bits & !axis;
    let zz = !axis >> (64 - hash.step as u32 * 2);
    if d > 0 {
        mine = mine.wrapping_add(zz + 1);
    } else {
        mine |= zz;
        mine = mine.wrapping_sub(zz + 1);
    }
    mine &= axis >> (64 - hash.step as u32 * 2);
    hash.bits = mine | other;
}

/// The eight neighbours of a cell.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: Bits,
    pub east: Bits,
    pub west: Bits,
    pub south: Bits,
    pub north_east: Bits,
    pub south_east: Bits,
    pub north_west: Bits,
    pub south_west: Bits,
}

fn moved(hash: &Bits, dx: i8, dy: i8) -> Bits {
    let mut h = *hash;
    move_along(&mut h, dx, X_BITS);
    move_along(&mut h, dy, Y_BITS);
    h
}

fn neighbors(hash: &Bits) -> Neighbors {
    Neighbors {
        east: moved(hash, 1, 0),
        west: moved(hash, -1, 0),
        south: moved(hash, 0, -1),
        north: moved(hash, 0, 1),
        north_west: moved(hash, -1, 1),
        north_east: moved(hash, 1, 1),
        south_east: moved(hash, 1, -1),
        south_west: moved(hash, -1, -1),
    }
}

/// Bits per coordinate of the cells a search of `range_meters` around latitude `lat`
/// uses, so that the 3×3 block around the centre covers it (Redis's
/// `geohashEstimateStepsByRadius`).
fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    // Doubling reaches MERCATOR_MAX in at most ~1100 rounds even from the smallest
    // positive double; the bound only guards against a NaN radius.
    let mut rounds = 0;
    while range_meters < MERCATOR_MAX && rounds < 2200 {
        range_meters *= 2.0;
        step += 1;
        rounds += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The area a search covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    /// BYRADIUS, in the unit's amount.
    Circle { radius: f64 },
    /// BYBOX, in the unit's amounts.
    Rect { width: f64, height: f64 },
}

/// A search area: its centre, size, and the unit's size in meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub longitude: f64,
    pub latitude: f64,
    /// Meters per unit (1, 1000, 0.3048, 1609.34).
    pub conversion: f64,
    pub kind: ShapeKind,
}

impl Shape {
    /// The bounding box: [min lon, min lat, max lon, max lat] (Redis's
    /// `geohashBoundingBox`, which widens towards the pole side of the centre).
    fn bounding_box(&self) -> [f64; 4] {
        let (half_h, half_w) = match self.kind {
            ShapeKind::Circle { radius } => (radius, radius),
            ShapeKind::Rect { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * half_h;
        let width = self.conversion * half_w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.latitude + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(self.latitude - lat_delta).cos());
        let southern = self.latitude < 0.0;
        let long_delta = if southern { long_delta_bottom } else { long_delta_top };
        [self.longitude - long_delta, self.latitude - lat_delta, self.longitude + long_delta, self.latitude + lat_delta]
    }

    /// Whether a point is inside the area, and its distance from the centre in meters
    /// (Redis's `geoWithinShape`).
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(self.longitude, self.latitude, lon, lat);
                // Redis excludes only what is farther (`d > radius`), so a NaN
                // distance counts as inside.
                let farther = d > radius * self.conversion;
                (!farther).then_some(d)
            }
            ShapeKind::Rect { width, height } => {
                let (w, h) = (width * self.conversion, height * self.conversion);
                let lon_distance = distance(lon, lat, self.longitude, lat);
                let lat_distance = distance(lon, lat, lon, self.latitude);
                if lon_distance > w / 2.0 || lat_distance > h / 2.0 {
                    return None;
                }
                Some(distance(self.longitude, self.latitude, lon, lat))
            }
        }
    }

    /// The cells to search, in Redis's order: the centre cell, then north, south,
    /// east, west, north-east, north-west, south-east, south-west; cells that cannot
    /// hold a match are zero (Redis's `geohashCalculateAreasByShapeWGS84`).
    pub fn cells(&self) -> [Bits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let radius_meters = match self.kind {
            ShapeKind::Circle { radius } => radius,
            ShapeKind::Rect { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps_by_radius(radius_meters, self.latitude);
        let center = |steps| {
            let hash = encode(WGS84_LONG, WGS84_LAT, self.longitude, self.latitude, steps).unwrap_or_default();
            let area = decode(WGS84_LONG, WGS84_LAT, hash);
            (hash, neighbors(&hash), area)
        };
        let (mut hash, mut n, mut area) = center(steps);
        // A search area near the edge of the centre cell may reach past the
        // neighbours: then use cells twice as large.
        let reaches_past = {
            let d = |h: Bits| decode(WGS84_LONG, WGS84_LAT, h);
            d(n.north).is_some_and(|a| a.latitude.max < max_lat)
                || d(n.south).is_some_and(|a| a.latitude.min > min_lat)
                || d(n.east).is_some_and(|a| a.longitude.max < max_lon)
                || d(n.west).is_some_and(|a| a.longitude.min > min_lon)
        };
        if steps > 1 && reaches_past {
            steps -= 1;
            (hash, n, area) = center(steps);
        }
        if steps >= 2 {
            if let Some(area) = area {
                let zero = Bits::default();
                if area.latitude.min < min_lat {
                    (n.south, n.south_west, n.south_east) = (zero, zero, zero);
                }
                if area.latitude.max > max_lat {
                    (n.north, n.north_east, n.north_west) = (zero, zero, zero);
                }
                if area.longitude.min < min_lon {
                    (n.west, n.south_west, n.north_west) = (zero, zero, zero);
                }
                if area.longitude.max > max_lon {
                    (n.east, n.south_east, n.north_east) = (zero, zero, zero);
                }
            }
        }
        [hash, n.north, n.south, n.east, n.west, n.north_east, n.north_west, n.south_east, n.south_west]
    }
}

/// The haversine distance in meters between two positions (Redis 7.0's
/// `geohashGetDistance`).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The 11-character standard geohash GEOHASH replies with: the position re-encoded
/// with latitudes over -90..90 (Redis's internal range stops at ±85.05), 52 bits in
/// ten base-32 digits, and a final '0' for the bits Redis does not have.
pub fn standard_geohash(longitude: f64, latitude: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let lon_range = Interval { min: -180.0, max: 180.0 };
    let lat_range = Interval { min: -90.0, max: 90.0 };
    let bits = encode(lon_range, lat_range, longitude, latitude, 26).unwrap_or_default().bits;
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 7)] {
            let sep = deinterleave64(interleave64(x, y));
            assert_eq!((sep as u32, (sep >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn palermo_as_redis_stores_and_prints_it() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo": Redis stores 3479099956230698.
        let score = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(score, 3479099956230698.0);
        let (lon, lat) = decode_score(score).unwrap();
        let mut text = Vec::new();
        crate::float::push_human(&mut text, lon);
        assert_eq!(text, b"13.36138933897018433");
        text.clear();
        crate::float::push_human(&mut text, lat);
        assert_eq!(text, b"38.11555639549629859");
        assert_eq!(&standard_geohash(lon, lat), b"sqc8b49rny0");
        // GEODIST Sicily Palermo Catania: 166274.1516 m.
        let catania = decode_score(score_of(15.087269, 37.502669).unwrap()).unwrap();
        let mut d = Vec::new();
        crate::float::push_fixed(&mut d, distance(lon, lat, catania.0, catania.1), 4);
        assert_eq!(d, b"166274.1516");
    }

    #[test]
    fn out_of_range_positions_are_refused() {
        assert!(score_of(180.1, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn steps_shrink_with_the_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert!(estimate_steps_by_radius(100.0, 0.0) > estimate_steps_by_radius(100_000.0, 0.0));
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::INFINITY, 0.0), 1);
    }
}
