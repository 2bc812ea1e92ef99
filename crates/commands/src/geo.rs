//! GEOADD, GEOPOS, GEODIST, GEOHASH: points kept in a sorted set, each
//! member's score the 52-bit geohash of its longitude and latitude, as Redis
//! stores them (so a Redis DUMP of a geo key restores here and back).
//!
//! A point is encoded at 26 bits a coordinate: latitude bits in the even
//! positions, longitude bits in the odd ones, over Redis's ranges
//! (longitude -180..180, latitude -85.05112878..85.05112878, the Web
//! Mercator limits). Decoding gives the centre of the cell, which is why a
//! position read back differs from the one added in the seventh decimal or
//! so, exactly as in Redis. The radius searches (GEORADIUS, GEOSEARCH) are
//! not here yet.

use resp::encode;
use storage::ZSet;

use crate::access;
use crate::args::parse_f64;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

const LONG_MIN: f64 = -180.0;
const LONG_MAX: f64 = 180.0;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
/// Bits a coordinate.
const STEP: u32 = 26;
/// Redis's earth radius for distances, in meters.
const EARTH_RADIUS: f64 = 6372797.560856;
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

pub fn register(t: &mut CommandTable) {
    t.shard("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), geoadd);
    t.shard("geopos", -2, READONLY, (1, 1, 1), geopos);
    t.shard("geodist", -4, READONLY, (1, 1, 1), geodist);
    t.shard("geohash", -2, READONLY, (1, 1, 1), geohash);
}

/// `x` in the even bits and `y` in the odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    (0..32).fold(0u64, |acc, i| {
        acc | (u64::from((x >> i) & 1) << (2 * i)) | (u64::from((y >> i) & 1) << (2 * i + 1))
    })
}

/// The even bits and the odd bits of `v`.
fn deinterleave(v: u64) -> (u32, u32) {
    (0..32).fold((0u32, 0u32), |(x, y), i| {
        (
            x | (((v >> (2 * i)) & 1) as u32) << i,
            y | (((v >> (2 * i + 1)) & 1) as u32) << i,
        )
    })
}

/// The cell of (`lon`, `lat`) over the given latitude range.
fn encode_in(lon: f64, lat: f64, lat_min: f64, lat_max: f64) -> u64 {
    let lat_off = (lat - lat_min) / (lat_max - lat_min) * f64::from(1u32 << STEP);
    let lon_off = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * f64::from(1u32 << STEP);
    interleave(lat_off as u32, lon_off as u32)
}

/// The score a point is stored with.
fn encode(lon: f64, lat: f64) -> u64 {
    encode_in(lon, lat, LAT_MIN, LAT_MAX)
}

/// The centre of the cell a score stands for, as (longitude, latitude).
fn decode(score: f64) -> (f64, f64) {
    let (ilat, ilon) = deinterleave(score as u64);
    let cells = f64::from(1u32 << STEP);
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    let lat_lo = LAT_MIN + (f64::from(ilat) / cells) * lat_scale;
    let lat_hi = LAT_MIN + ((f64::from(ilat) + 1.0) / cells) * lat_scale;
    let lon_lo = LONG_MIN + (f64::from(ilon) / cells) * lon_scale;
    let lon_hi = LONG_MIN + ((f64::from(ilon) + 1.0) / cells) * lon_scale;
    let lon = ((lon_lo + lon_hi) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((lat_lo + lat_hi) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Great-circle distance in meters, as Redis computes it (haversine).
fn distance((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let rad = |d: f64| d * (std::f64::consts::PI / 180.0);
    let v = ((rad(lon2) - rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS * (rad(lat2) - rad(lat1)).abs();
    }
    let u = ((rad(lat2) - rad(lat1)) / 2.0).sin();
    let a = u * u + rad(lat1).cos() * rad(lat2).cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// A coordinate as Redis prints one: 17 decimals, trailing zeros cut.
fn human(v: f64) -> String {
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...], stored through
/// ZADD with the same options, as Redis does.
fn geoadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut i = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(a) = argv.get(i) {
        if a.eq_ignore_ascii_case(b"nx") {
            nx = true;
        } else if a.eq_ignore_ascii_case(b"xx") {
            xx = true;
        } else if !a.eq_ignore_ascii_case(b"ch") {
            break;
        }
        i += 1;
    }
    let points = &argv[i..];
    if points.is_empty() || points.len() % 3 != 0 || (nx && xx) {
        return Err(Error::Syntax);
    }
    let mut scores = Vec::with_capacity(points.len() / 3);
    for p in points.chunks_exact(3) {
        let lon = parse_f64(p[0]).ok_or(Error::NotFloat)?;
        let lat = parse_f64(p[1]).ok_or(Error::NotFloat)?;
        if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
            return Err(Error::Other(format!(
                "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
            )));
        }
        scores.push(encode(lon, lat).to_string());
    }
    let mut zargv: Vec<&[u8]> = Vec::with_capacity(i + points.len() / 3 * 2);
    zargv.push(b"zadd");
    zargv.extend_from_slice(&argv[1..i]);
    for (p, s) in points.chunks_exact(3).zip(&scores) {
        zargv.push(s.as_bytes());
        zargv.push(p[2]);
    }
    crate::zsets::zadd(ctx, &zargv)
}

/// The decoded positions of `members` of the sorted set at `key` (None for
/// a member, or every member, that is not there).
fn positions(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    members: &[&[u8]],
) -> Result<Vec<Option<(f64, f64)>>, Error> {
    let now = ctx.now;
    let z = access::read::<ZSet>(ctx.db(), key, now)?;
    Ok(members
        .iter()
        .map(|m| z.and_then(|z| z.score(m)).map(decode))
        .collect())
}

/// One reply per member of `argv[2..]`: `write` gives a present member's,
/// a missing one gets Redis's null (a null array when `null_array`, as
/// GEOPOS answers, else a null bulk, as GEOHASH does).
fn each_member(
    ctx: &mut Ctx<'_>,
    argv: &[&[u8]],
    null_array: bool,
    write: impl Fn(&mut Vec<u8>, (f64, f64)),
) -> CmdResult {
    let found = positions(ctx, argv[1], &argv[2..])?;
    let resp3 = ctx.resp3;
    encode::array_len(ctx.out, found.len());
    for p in found {
        match p {
            Some(at) => write(ctx.out, at),
            None if null_array => encode::null_aggregate(ctx.out, resp3),
            None => encode::null(ctx.out, resp3),
        }
    }
    Ok(())
}

/// GEOPOS key [member ...]
fn geopos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    each_member(ctx, argv, true, |out, (lon, lat)| {
        encode::array_len(out, 2);
        encode::bulk(out, human(lon).as_bytes());
        encode::bulk(out, human(lat).as_bytes());
    })
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let per_unit = match argv.get(4) {
        None => 1.0,
        Some(u) if argv.len() == 5 => match u.to_ascii_lowercase().as_slice() {
            b"m" => 1.0,
            b"km" => 1000.0,
            b"ft" => 0.3048,
            b"mi" => 1609.34,
            _ => {
                return Err(Error::Static(
                    "ERR unsupported unit provided. please use M, KM, FT, MI",
                ))
            }
        },
        Some(_) => return Err(Error::Syntax),
    };
    let found = positions(ctx, argv[1], &argv[2..4])?;
    match (found[0], found[1]) {
        (Some(a), Some(b)) => {
            let d = distance(a, b) / per_unit;
            encode::bulk(ctx.out, format!("{d:.4}").as_bytes());
        }
        _ => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// GEOHASH key [member ...]: the standard 11-character geohash of each
/// position (re-encoded over latitude -90..90, as geohash.org expects; the
/// 11th character stands for bits a 52-bit score does not have, so it is
/// always `0`, as in Redis).
fn geohash(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    each_member(ctx, argv, false, |out, (lon, lat)| {
        let bits = encode_in(lon, lat, -90.0, 90.0);
        let hash: Vec<u8> = (0..11)
            .map(|i| {
                let idx = if i == 10 {
                    0
                } else {
                    (bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                BASE32[idx as usize]
            })
            .collect();
        encode::bulk(out, &hash);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn palermo_and_catania_as_redis_documents_them() {
        let palermo = decode(encode(13.361389, 38.115556) as f64);
        let catania = decode(encode(15.087269, 37.502669) as f64);
        assert_eq!(encode(13.361389, 38.115556), 3479099956230698);
        assert_eq!(human(palermo.0), "13.36138933897018433");
        assert_eq!(human(palermo.1), "38.11555639549629859");
        assert_eq!(format!("{:.4}", distance(palermo, catania)), "166274.1516");
    }
}
