//! Geo commands, differential: replies compared byte for byte with redis-server —
//! positions (GEOPOS prints decoded cell centres with 17 decimals), 11-character
//! geohashes, distances with `%.4f` in every unit, and searches by radius and by box
//! from members and coordinates with every option: the same members, in the same
//! order (also for points at equal distances, with and without COUNT), the same
//! stored sets. A random section compares hundreds of searches over random points,
//! near the poles and the antimeridian too.

use crate::support::rand::Lcg;
use crate::support::Diff;

/// European cities (longitude, latitude, name), a few sharing coordinates.
const CITIES: &[(f64, f64, &str)] = &[
    (13.361389, 38.115556, "Palermo"),
    (15.087269, 37.502669, "Catania"),
    (12.496365, 41.902782, "Rome"),
    (9.189982, 45.464204, "Milan"),
    (11.255814, 43.769562, "Florence"),
    (14.268124, 40.851775, "Naples"),
    (2.352222, 48.856613, "Paris"),
    (-0.127758, 51.507351, "London"),
    (13.404954, 52.520008, "Berlin"),
    (-3.703790, 40.416775, "Madrid"),
    (16.373819, 48.208174, "Vienna"),
    (4.904139, 52.367573, "Amsterdam"),
    (12.496365, 41.902782, "RomeTwin"),
    (12.496365, 41.902782, "RomeThird"),
    (-73.935242, 40.730610, "NewYork"),
    (139.691706, 35.689487, "Tokyo"),
    (-179.99, -85.05, "FarCorner"),
    (179.99, 85.05, "OtherCorner"),
    (0.0, 0.0, "NullIsland"),
];

fn geoadd_cities(d: &mut Diff, key: &str) {
    let mut args = vec!["GEOADD".to_string(), key.to_string()];
    for (lon, lat, name) in CITIES {
        args.push(lon.to_string());
        args.push(lat.to_string());
        args.push(name.to_string());
    }
    d.check(&args);
}

const COMMANDS: &str = r#"
SET str x
GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD Sicily 13.361389 38.115556 Palermo
GEOADD Sicily CH 13.361389 38.115556 Palermo 13.3614 38.1156 Catania
GEOADD Sicily NX 1 1 Palermo 2 2 Trapani
GEOADD Sicily XX 1 1 Nope
GEOADD Sicily XX CH 15.087269 37.502669 Catania
GEOADD Sicily NX XX 1 1 a
GEOADD Sicily GT 1 1 a
GEOADD Sicily 1 1
GEOADD Sicily 1 1 a 2
GEOADD Sicily ch ch ch
GEOADD Sicily 200 1 a
GEOADD Sicily 1 86 a
GEOADD Sicily -180.0000001 0 a
GEOADD Sicily 180 85.05112878 edge1 -180 -85.05112878 edge2
GEOADD Sicily abc 1 a
GEOADD Sicily 1 nan a
GEOADD Sicily inf 1 a
GEOADD Sicily 1e400 1 a
GEOADD str 1 1 a
ZRANGE Sicily 0 -1 WITHSCORES
OBJECT ENCODING Sicily
GEOPOS Sicily Palermo Catania edge1 edge2 Nope
GEOPOS Sicily
GEOPOS nokey a b
GEOPOS str a
GEOHASH Sicily Palermo Catania edge1 edge2 Nope
GEOHASH nokey a
GEOHASH str a
GEODIST Sicily Palermo Catania
GEODIST Sicily Palermo Catania m
GEODIST Sicily Palermo Catania KM
GEODIST Sicily Palermo Catania ft
GEODIST Sicily Palermo Catania mi
GEODIST Sicily Palermo Catania furlong
GEODIST Sicily Palermo Catania km extra
GEODIST Sicily Palermo Nope
GEODIST Sicily Palermo Palermo
GEODIST Sicily edge1 edge2 km
GEODIST nokey a b
GEODIST str a b
GEODIST nokey a b furlong
ZADD notgeo -5 neg 1e300 huge inf pinf 0.5 half 4503599627370496 big
GEOPOS notgeo neg huge pinf half big
GEOHASH notgeo neg huge pinf half big
GEODIST notgeo neg half
GEOSEARCH notgeo FROMLONLAT 0 0 BYRADIUS 20000 km ASC
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 200 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 200 km ASC WITHDIST WITHCOORD WITHHASH
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km DESC WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 1
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km COUNT 1 ANY
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 0 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 0 m WITHDIST
GEOSEARCH Sicily FROMMEMBER Nope BYRADIUS 10 km
GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 10 km
GEOSEARCH Sicily FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 10 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km BYBOX 1 1 km
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 km BYRADIUS 10 km
GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 1 km
GEOSEARCH Sicily BYRADIUS 10 km WITHDIST
GEOSEARCH Sicily FROMMEMBER Palermo WITHDIST
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km ANY
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km COUNT 0
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km COUNT -1
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km COUNT x
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km COUNT
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS -1 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS x km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1 parsec
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX -1 1 km
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 x km
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX x 1 km
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1
GEOSEARCH Sicily FROMLONLAT 200 1 BYRADIUS 1 km
GEOSEARCH Sicily FROMLONLAT x 1 BYRADIUS 1 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km STORE x
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km STOREDIST
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 10 km FOO
geosearch Sicily BYRADIUS 10 km ASC
GeoSearch Sicily FROMLONLAT 1 1 ASC
GEOSEARCH nokey FROMMEMBER x BYRADIUS 10 km
GEOSEARCH nokey FROMLONLAT 1 1 BYBOX 1 1 km
GEOSEARCH nokey BYRADIUS 1 km ASC
GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 km
GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 200 km
ZRANGE dst 0 -1 WITHSCORES
GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 200 km STOREDIST
ZRANGE dst 0 -1 WITHSCORES
GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km DESC COUNT 1 STOREDIST
ZRANGE dst 0 -1 WITHSCORES
GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 mi COUNT 1 ANY
ZRANGE dst 0 -1 WITHSCORES
GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
EXISTS dst
GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 1 km
GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 200 km WITHDIST
GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 200 km STORE x
GEOSEARCHSTORE str Sicily FROMMEMBER Palermo BYRADIUS 200 km
TYPE str
GEORADIUS Sicily 15 37 200 km
GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
GEORADIUS Sicily 15 37 200 km DESC COUNT 1
GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
GEORADIUS Sicily 15 37 200 km ANY
GEORADIUS Sicily 15 37 200 km STORE gr
ZRANGE gr 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STOREDIST gr
ZRANGE gr 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STORE gr WITHDIST
GEORADIUS Sicily 15 37 200 km STORE
GEORADIUS Sicily 15 37 1 km STORE gr
EXISTS gr
GEORADIUS Sicily 15 37 200 km FROMLONLAT 1 1
GEORADIUS Sicily 15 37 200 km BYBOX 1 1 km
GEORADIUS Sicily 200 37 200 km
GEORADIUS Sicily 15 37 -1 km
GEORADIUS Sicily 15 37 x km
GEORADIUS Sicily 15 37 1 lightyear
GEORADIUS nokey 15 37 200 km
GEORADIUS nokey 15 37 200 km STORE gr
GEORADIUS str 15 37 200 km
GEORADIUS_RO Sicily 15 37 200 km WITHDIST ASC
GEORADIUS_RO Sicily 15 37 200 km STORE gr
GEORADIUS_RO Sicily 15 37 200 km STOREDIST gr
GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST ASC
GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST gr
ZRANGE gr 0 -1 WITHSCORES
GEORADIUSBYMEMBER Sicily Nope 200 km
GEORADIUSBYMEMBER Sicily Palermo x km
GEORADIUSBYMEMBER nokey Palermo x km
GEORADIUSBYMEMBER nokey Palermo 200 km STORE gr
GEORADIUSBYMEMBER nokey Palermo 200 km FOO
GEORADIUSBYMEMBER str Palermo 200 km
GEORADIUSBYMEMBER_RO Sicily Palermo 200 km WITHCOORD DESC
GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STORE gr
DEBUG DIGEST
"#;

/// Searches over the cities with every option combination worth having.
fn city_searches(d: &mut Diff) {
    geoadd_cities(d, "eu");
    d.script(
        r#"
GEOPOS eu Palermo Rome RomeTwin NewYork Tokyo FarCorner OtherCorner NullIsland
GEOHASH eu Palermo Rome NewYork Tokyo FarCorner OtherCorner NullIsland
GEODIST eu Paris London km
GEODIST eu NewYork Tokyo mi
GEODIST eu Rome RomeTwin
GEODIST eu FarCorner OtherCorner km
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km ASC
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km DESC
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km ASC COUNT 2
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km ASC COUNT 3
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km DESC COUNT 3
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km COUNT 4 ANY
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 1000 km COUNT 4 ANY ASC
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 0 km WITHDIST
GEOSEARCH eu FROMMEMBER Rome BYRADIUS 0 km COUNT 2 WITHDIST
GEOSEARCH eu FROMMEMBER Rome BYBOX 2000 1000 km ASC WITHDIST WITHHASH WITHCOORD
GEOSEARCH eu FROMMEMBER Rome BYBOX 1000 2000 mi DESC WITHDIST
GEOSEARCH eu FROMLONLAT 10 50 BYRADIUS 3000 km ASC WITHDIST
GEOSEARCH eu FROMLONLAT 10 50 BYRADIUS 3000000 m COUNT 5 WITHDIST
GEOSEARCH eu FROMLONLAT 10 50 BYRADIUS 9842519.7 ft COUNT 5 WITHDIST
GEOSEARCH eu FROMLONLAT 10 50 BYBOX 5000 5000 km ASC
GEOSEARCH eu FROMLONLAT 0 0 BYRADIUS 20000 km ASC WITHDIST
GEOSEARCH eu FROMLONLAT 0 0 BYRADIUS 20000 km DESC COUNT 7
GEOSEARCH eu FROMLONLAT 0 0 BYBOX 40000 20000 km ASC
GEOSEARCH eu FROMLONLAT 180 85 BYRADIUS 500 km WITHDIST
GEOSEARCH eu FROMLONLAT -180 -85 BYRADIUS 500 km WITHDIST
GEOSEARCH eu FROMLONLAT 179.9 0 BYRADIUS 100 km
GEOSEARCH eu FROMLONLAT -80 40 BYRADIUS 1000 mi WITHCOORD
GEOSEARCH eu FROMLONLAT 139 35 BYBOX 300 300 km WITHDIST
GEOSEARCH eu FROMMEMBER NullIsland BYRADIUS 1 m WITHDIST WITHCOORD WITHHASH
GEORADIUS eu 12 42 500 km ASC WITHDIST
GEORADIUS eu 12 42 500 km COUNT 2 DESC
GEORADIUSBYMEMBER eu Rome 600 km WITHDIST
GEORADIUSBYMEMBER eu Rome 600 km WITHDIST COUNT 2
GEORADIUSBYMEMBER eu RomeTwin 600 km COUNT 3 DESC
GEOSEARCHSTORE near eu FROMMEMBER Rome BYRADIUS 2000 km ASC COUNT 5 STOREDIST
ZRANGE near 0 -1 WITHSCORES
OBJECT ENCODING near
GEOSEARCHSTORE near eu FROMLONLAT 0 0 BYRADIUS 20000 km
OBJECT ENCODING near
ZCARD near
DEBUG DIGEST
"#,
    );
}

#[test]
fn geo_commands_match_redis() {
    Diff::new(&[]).script(COMMANDS);
}

#[test]
fn geo_commands_match_redis_in_resp3() {
    Diff::new(&[]).resp3().script(COMMANDS);
}

#[test]
fn geo_commands_match_redis_as_skiplists() {
    Diff::new(&["--zset-max-listpack-entries", "0"]).script(COMMANDS);
}

#[test]
fn city_searches_match_redis() {
    let mut d = Diff::new(&[]);
    city_searches(&mut d);
    let mut d = Diff::new(&[]).resp3();
    city_searches(&mut d);
    let mut d = Diff::new(&["--zset-max-listpack-entries", "0"]);
    city_searches(&mut d);
}

/// Many points on a grid with duplicates (so distances tie), searched at random:
/// members, order, distances, hashes and coordinates must all be Redis's.
#[test]
fn random_searches_match_redis() {
    let mut d = Diff::new(&[]);
    let mut rng = Lcg(2024);
    let mut coords = Vec::new();
    for chunk in 0..12 {
        let mut args = vec!["GEOADD".to_string(), "pts".to_string()];
        for i in 0..50 {
            // A coarse grid around (10, 45) with repeats, plus scattered points
            // everywhere, poles and antimeridian included.
            let (lon, lat) = if rng.below(3) > 0 {
                (10.0 + (rng.below(20) as f64) * 0.05, 45.0 + (rng.below(20) as f64) * 0.05)
            } else {
                (rng.below(360_000) as f64 / 1000.0 - 180.0, rng.below(170_000) as f64 / 1000.0 - 85.0)
            };
            coords.push((lon, lat));
            args.push(format!("{lon}"));
            args.push(format!("{lat}"));
            args.push(format!("p{}", chunk * 50 + i));
        }
        d.check(&args);
    }
    let units = ["m", "km", "mi", "ft"];
    for q in 0..400 {
        let (lon, lat) = if q % 4 == 0 {
            (rng.below(360_000) as f64 / 1000.0 - 180.0, rng.below(170_000) as f64 / 1000.0 - 85.0)
        } else {
            coords[rng.below(coords.len() as u64) as usize]
        };
        let unit = units[rng.below(4) as usize];
        let size = match unit {
            "m" => rng.below(300_000) as f64,
            "ft" => rng.below(1_000_000) as f64,
            _ => rng.below(3000) as f64 + 0.5,
        };
        let mut args = vec!["GEOSEARCH".to_string(), "pts".to_string()];
        if q % 3 == 0 {
            args.extend(["FROMMEMBER".to_string(), format!("p{}", rng.below(600))]);
        } else {
            args.extend(["FROMLONLAT".to_string(), format!("{lon}"), format!("{lat}")]);
        }
        if q % 2 == 0 {
            args.extend(["BYRADIUS".to_string(), format!("{size}"), unit.to_string()]);
        } else {
            let h = rng.below(1000) as f64 / 500.0 * size;
            args.extend(["BYBOX".to_string(), format!("{size}"), format!("{h}"), unit.to_string()]);
        }
        match rng.below(4) {
            0 => args.push("ASC".to_string()),
            1 => args.push("DESC".to_string()),
            _ => {}
        }
        if rng.below(2) == 0 {
            args.extend(["COUNT".to_string(), (rng.below(30) + 1).to_string()]);
            if rng.below(4) == 0 {
                args.push("ANY".to_string());
            }
        }
        args.extend(["WITHDIST".to_string(), "WITHHASH".to_string(), "WITHCOORD".to_string()]);
        d.check(&args);
    }
    for _ in 0..100 {
        let a = format!("p{}", rng.below(600));
        let b = format!("p{}", rng.below(600));
        d.check(&["GEODIST", "pts", &a, &b, units[rng.below(4) as usize]]);
        d.check(&["GEOPOS", "pts", &a, &b]);
        d.check(&["GEOHASH", "pts", &a, &b]);
    }
}
