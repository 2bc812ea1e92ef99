//! The geo commands: points kept in a sorted set, each member's score the
//! 52-bit geohash of its longitude and latitude, as Redis stores them (so a
//! Redis DUMP of a geo key restores here and back). GEOADD, GEOPOS,
//! GEODIST, GEOHASH, and the searches: GEORADIUS, GEORADIUSBYMEMBER (and
//! their `_RO` forms), GEOSEARCH and GEOSEARCHSTORE.
//!
//! A point is encoded at 26 bits a coordinate: latitude bits in the even
//! positions, longitude bits in the odd ones, over Redis's ranges
//! (longitude -180..180, latitude -85.05112878..85.05112878, the Web
//! Mercator limits). Decoding gives the centre of the cell, which is why a
//! position read back differs from the one added in the seventh decimal or
//! so, exactly as in Redis.
//!
//! A search looks where Redis looks, so that it finds what Redis finds,
//! in the same order: the cell holding the centre at a coarser step chosen
//! from the search's reach, and its eight neighbours (less those wholly
//! outside the search's bounding box); every point stored in those cells
//! is then checked against the circle (haversine distance, Redis's earth
//! radius) or the box (latitude distance, then longitude distance along
//! the point's parallel).

use resp::encode;
use storage::zset::ScoreRange;
use storage::ZSet;

use crate::access;
use crate::args::{parse_f64, parse_i64};
use crate::error::{
    GEO_ANY_WITHOUT_COUNT, GEO_BOX_NEGATIVE, GEO_COUNT, GEO_HEIGHT_NAN, GEO_NO_MEMBER,
    GEO_RADIUS_NAN, GEO_RADIUS_NEGATIVE, GEO_UNIT, GEO_WIDTH_NAN,
};
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
/// Half the earth's circumference on the Web Mercator projection, in
/// meters: what a search's reach is doubled towards to pick its step.
const MERCATOR_MAX: f64 = 20037726.37;
const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

pub fn register(t: &mut CommandTable) {
    t.shard("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), geoadd);
    t.shard("geopos", -2, READONLY, (1, 1, 1), geopos);
    t.shard("geodist", -4, READONLY, (1, 1, 1), geodist);
    t.shard("geohash", -2, READONLY, (1, 1, 1), geohash);
    // GEORADIUS and GEORADIUSBYMEMBER are writes (their STORE may name a
    // key of any shard) even when they only read, as in Redis.
    let store = WRITE | DENYOOM | MULTI_KEY;
    t.shard_keys_fn("georadius", -6, store, (1, 1, 1), georadius_keys, georadius);
    t.shard_keys_fn(
        "georadiusbymember",
        -5,
        store,
        (1, 1, 1),
        georadiusbymember_keys,
        georadiusbymember,
    );
    t.shard("georadius_ro", -6, READONLY, (1, 1, 1), georadius_ro);
    t.shard(
        "georadiusbymember_ro",
        -5,
        READONLY,
        (1, 1, 1),
        georadiusbymember_ro,
    );
    t.shard("geosearch", -7, READONLY, (1, 1, 1), geosearch);
    t.shard("geosearchstore", -8, store, (1, 2, 1), geosearchstore);
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

/// The cell of (`lon`, `lat`) at `step` bits a coordinate, over the given
/// latitude range.
fn encode_at(lon: f64, lat: f64, lat_min: f64, lat_max: f64, step: u32) -> u64 {
    let cells = f64::from(1u32 << step);
    let lat_off = (lat - lat_min) / (lat_max - lat_min) * cells;
    let lon_off = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * cells;
    interleave(lat_off as u32, lon_off as u32)
}

/// The cell of (`lon`, `lat`) over the given latitude range, at full
/// precision.
fn encode_in(lon: f64, lat: f64, lat_min: f64, lat_max: f64) -> u64 {
    encode_at(lon, lat, lat_min, lat_max, STEP)
}

/// The score a point is stored with.
fn encode(lon: f64, lat: f64) -> u64 {
    encode_in(lon, lat, LAT_MIN, LAT_MAX)
}

/// The edges of a cell on the map.
#[derive(Debug, Clone, Copy)]
struct Edges {
    lon_min: f64,
    lon_max: f64,
    lat_min: f64,
    lat_max: f64,
}

/// The edges of cell `bits` at `step` bits a coordinate.
fn edges(bits: u64, step: u32) -> Edges {
    let (ilat, ilon) = deinterleave(bits);
    let cells = f64::from(1u32 << step);
    let (lat_scale, lon_scale) = (LAT_MAX - LAT_MIN, LONG_MAX - LONG_MIN);
    let at = |i: u32| f64::from(i);
    let next = |i: u32| at(i) + 1.0;
    Edges {
        lat_min: LAT_MIN + (at(ilat) / cells) * lat_scale,
        lat_max: LAT_MIN + (next(ilat) / cells) * lat_scale,
        lon_min: LONG_MIN + (at(ilon) / cells) * lon_scale,
        lon_max: LONG_MIN + (next(ilon) / cells) * lon_scale,
    }
}

/// The centre of the cell a score stands for, as (longitude, latitude).
fn decode(score: f64) -> (f64, f64) {
    let e = edges(score as u64, STEP);
    let lon = ((e.lon_min + e.lon_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((e.lat_min + e.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
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

/// A position as GEOPOS and WITHCOORD give it: longitude and latitude as
/// [`human`] prints them, bulk strings in RESP2 and doubles in RESP3.
fn coordinates(out: &mut Vec<u8>, (lon, lat): (f64, f64), resp3: bool) {
    encode::array_len(out, 2);
    for v in [lon, lat] {
        let text = human(v);
        if resp3 {
            out.push(b',');
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        } else {
            encode::bulk(out, text.as_bytes());
        }
    }
}

/// A longitude and a latitude read from the arguments, both numbers and
/// within the map.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Error> {
    let lon = parse_f64(lon).ok_or(Error::NotFloat)?;
    let lat = parse_f64(lat).ok_or(Error::NotFloat)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(Error::Other(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
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
        let (lon, lat) = lon_lat(p[0], p[1])?;
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
    let resp3 = ctx.resp3;
    each_member(ctx, argv, true, |out, at| coordinates(out, at, resp3))
}

/// GEODIST key member1 member2 [M|KM|FT|MI]
fn geodist(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let per_unit = match argv.get(4) {
        None => 1.0,
        Some(u) if argv.len() == 5 => unit(u)?,
        Some(_) => return Err(Error::Syntax),
    };
    let found = positions(ctx, argv[1], &argv[2..4])?;
    match (found[0], found[1]) {
        (Some(a), Some(b)) => {
            let d = distance(a, b) / per_unit;
            encode::bulk(ctx.out, four_decimals(d).as_bytes());
        }
        _ => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// A distance as Redis 7.0 prints one: four decimals, from the distance
/// times 10000 rounded to the nearest integer, ties to even (so a
/// distance whose scaled value lands on .5 may end one higher than
/// printf's `%.4f` would print it).
fn four_decimals(d: f64) -> String {
    let scaled = (d * 10000.0).round_ties_even();
    let sign = if scaled < 0.0 { "-" } else { "" };
    let n = scaled.abs() as u64;
    format!("{sign}{}.{:04}", n / 10000, n % 10000)
}

/// Meters in one `unit` (M, KM, FT, MI, in any case).
fn unit(arg: &[u8]) -> Result<f64, Error> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Error::Static(GEO_UNIT)),
    }
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

// ---------------------------------------------------------------------------
// The searches: GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH, GEOSEARCHSTORE.

/// How a search command lays out its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key longitude latitude radius unit [option ...]
    Radius,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit [option ...]
    Member,
    /// GEOSEARCH key FROMMEMBER .. | FROMLONLAT .. BYRADIUS .. | BYBOX ..
    /// [option ...]
    Search,
    /// GEOSEARCHSTORE destination source (then as GEOSEARCH) [STOREDIST]
    SearchStore,
}

impl Form {
    /// The argument its options start at.
    fn first_option(self) -> usize {
        match self {
            Form::Radius => 6,
            Form::Member => 5,
            Form::Search => 2,
            Form::SearchStore => 3,
        }
    }

    /// The argument naming the sorted set searched.
    fn source(self) -> usize {
        match self {
            Form::SearchStore => 2,
            _ => 1,
        }
    }
}

/// The area searched around the centre, in the request's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Area {
    /// Points at most this far from the centre.
    Radius(f64),
    /// Points within a box this wide (east to west) and high, centred on
    /// the centre, its sides measured along the earth's surface.
    Box { width: f64, height: f64 },
}

/// Where a search looks: around `centre` (longitude, latitude), `area`
/// measured in a unit of `unit` meters.
#[derive(Debug, Clone, Copy)]
struct Shape {
    centre: (f64, f64),
    area: Area,
    unit: f64,
}

/// A point a search found.
struct Found<'z> {
    member: &'z [u8],
    score: f64,
    /// From the centre, in meters.
    dist: f64,
    /// Longitude, latitude.
    at: (f64, f64),
}

/// Degrees to radians and back, as Redis converts them.
fn to_rad(deg: f64) -> f64 {
    deg * (std::f64::consts::PI / 180.0)
}
fn to_deg(rad: f64) -> f64 {
    rad / (std::f64::consts::PI / 180.0)
}

impl Shape {
    /// How far from the centre the area reaches, in meters (a box's half
    /// diagonal); what the search's step is chosen from.
    fn reach(&self) -> f64 {
        let r = match self.area {
            Area::Radius(r) => r,
            Area::Box { width, height } => {
                let (w, h) = (width / 2.0, height / 2.0);
                (w * w + h * h).sqrt()
            }
        };
        r * self.unit
    }

    /// The longitudes and latitudes the area spans: its extent north and
    /// south of the centre, and east and west along whichever of its
    /// northern and southern edges is nearer the pole (the wider one in
    /// degrees).
    fn bounds(&self) -> Edges {
        let (lon, lat) = self.centre;
        let (half_width, half_height) = match self.area {
            Area::Radius(r) => (self.unit * r, self.unit * r),
            Area::Box { width, height } => (self.unit * (width / 2.0), self.unit * (height / 2.0)),
        };
        let lat_delta = to_deg(half_height / EARTH_RADIUS);
        let lon_delta_at = |edge: f64| to_deg(half_width / EARTH_RADIUS / to_rad(edge).cos());
        let lon_delta = if lat < 0.0 {
            lon_delta_at(lat - lat_delta)
        } else {
            lon_delta_at(lat + lat_delta)
        };
        Edges {
            lon_min: lon - lon_delta,
            lon_max: lon + lon_delta,
            lat_min: lat - lat_delta,
            lat_max: lat + lat_delta,
        }
    }

    /// The distance in meters from the centre to a point at `at`, when the
    /// point is inside the area.
    fn contains(&self, at: (f64, f64)) -> Option<f64> {
        match self.area {
            Area::Radius(r) => {
                let d = distance(self.centre, at);
                (d <= r * self.unit).then_some(d)
            }
            Area::Box { width, height } => {
                let (width, height) = (width * self.unit, height * self.unit);
                // North-south first: the cheaper of the two.
                let north_south = EARTH_RADIUS * (to_rad(self.centre.1) - to_rad(at.1)).abs();
                if north_south > height / 2.0 {
                    return None;
                }
                let east_west = distance(at, (self.centre.0, at.1));
                if east_west > width / 2.0 {
                    return None;
                }
                Some(distance(self.centre, at))
            }
        }
    }
}

/// The step (bits a coordinate) of the cells a search reaching `reach`
/// meters around latitude `lat` looks in: the finest at which a cell is
/// still about as wide as the reach, coarser near the poles, where cells
/// narrow; full precision for a reach of 0.
fn step_for(reach: f64, lat: f64) -> u32 {
    if reach == 0.0 {
        return STEP;
    }
    let mut step: i32 = 1;
    let mut r = reach;
    while r < MERCATOR_MAX {
        r *= 2.0;
        step += 1;
    }
    // Two steps coarser, so that the reach fits in the cells around.
    step -= 2;
    if lat.abs() > 66.0 {
        step -= 1;
        if lat.abs() > 80.0 {
            step -= 1;
        }
    }
    step.clamp(1, STEP as i32) as u32
}

/// A cell of the map at some step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    bits: u64,
    step: u32,
}

impl Cell {
    fn of((lon, lat): (f64, f64), step: u32) -> Cell {
        Cell {
            bits: encode_at(lon, lat, LAT_MIN, LAT_MAX, step),
            step,
        }
    }

    /// The cell `east` columns east and `north` rows north of this one,
    /// wrapping around the map's edges on both axes. A coordinate that
    /// does not move is left as it is (even one just past the map's edge,
    /// as a centre on longitude 180 or the top latitude encodes).
    fn moved(self, east: i64, north: i64) -> Cell {
        let (lat, lon) = deinterleave(self.bits);
        let mask = (1u64 << self.step) - 1;
        let shift = |v: u32, by: i64| {
            if by == 0 {
                v
            } else {
                (u64::from(v).wrapping_add(by as u64) & mask) as u32
            }
        };
        Cell {
            bits: interleave(shift(lat, north), shift(lon, east)),
            step: self.step,
        }
    }

    fn edges(self) -> Edges {
        edges(self.bits, self.step)
    }

    /// The scores of the points stored inside this cell: `lo..hi`.
    fn scores(self) -> (f64, f64) {
        let shift = 2 * (STEP - self.step);
        (
            (self.bits << shift) as f64,
            ((self.bits + 1) << shift) as f64,
        )
    }
}

/// The cells a search looks in, in the order it looks: the centre's cell,
/// then north, south, east, west, north-east, north-west, south-east and
/// south-west of it (`None` for a neighbour it can skip).
fn cells_for(shape: &Shape) -> [Option<Cell>; 9] {
    let bounds = shape.bounds();
    let mut step = step_for(shape.reach(), shape.centre.1);
    let mut centre = Cell::of(shape.centre, step);
    // Near a cell's edge, the neighbours at this step may not reach as far
    // as the area does: go one step coarser.
    let short = centre.moved(0, 1).edges().lat_max < bounds.lat_max
        || centre.moved(0, -1).edges().lat_min > bounds.lat_min
        || centre.moved(1, 0).edges().lon_max < bounds.lon_max
        || centre.moved(-1, 0).edges().lon_min > bounds.lon_min;
    if step > 1 && short {
        step -= 1;
        centre = Cell::of(shape.centre, step);
    }
    let mut cells = [
        (0, 0),
        (0, 1),
        (0, -1),
        (1, 0),
        (-1, 0),
        (1, 1),
        (-1, 1),
        (1, -1),
        (-1, -1),
    ]
    .map(|(east, north)| Some(centre.moved(east, north)));
    if step >= 2 {
        // A row or column of neighbours lies outside the area when the
        // centre's cell already reaches past the area on that side.
        let e = centre.edges();
        let skip = |cells: &mut [Option<Cell>; 9], which: [usize; 3]| {
            for i in which {
                cells[i] = None;
            }
        };
        if e.lat_min < bounds.lat_min {
            skip(&mut cells, [2, 7, 8]);
        }
        if e.lat_max > bounds.lat_max {
            skip(&mut cells, [1, 5, 6]);
        }
        if e.lon_min < bounds.lon_min {
            skip(&mut cells, [4, 8, 6]);
        }
        if e.lon_max > bounds.lon_max {
            skip(&mut cells, [3, 7, 5]);
        }
    }
    cells
}

/// The points of `z` inside `shape`, cell by cell in [`cells_for`]'s
/// order and by score within a cell; stops once it has `limit` points
/// (`0`: no limit).
fn find<'z>(z: &'z ZSet, shape: &Shape, limit: usize) -> Vec<Found<'z>> {
    let cells = cells_for(shape);
    let full = |found: &Vec<Found<'_>>| limit > 0 && found.len() >= limit;
    let mut found = Vec::new();
    // With a huge area, neighbouring cells can be one and the same cell
    // (the map wraps): one that repeats the cell searched just before is
    // skipped. As in Redis, a neighbour is not compared with the centre's
    // cell.
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        let Some(cell) = *cell else { continue };
        if last != 0 && cells[last] == Some(cell) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (lo, hi) = cell.scores();
        let (from, to) = z.score_range(&ScoreRange {
            min: lo,
            min_excl: false,
            max: hi,
            max_excl: true,
        });
        for (member, score) in z.range(from, to) {
            let at = decode(score);
            if let Some(dist) = shape.contains(at) {
                found.push(Found {
                    member,
                    score,
                    dist,
                    at,
                });
                if full(&found) {
                    break;
                }
            }
        }
        last = i;
    }
    found
}

/// How a search's results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// As found.
    Unsorted,
    /// Nearest first.
    Asc,
    /// Farthest first.
    Desc,
}

/// A search command's arguments.
#[derive(Debug)]
struct Query {
    /// None when the source key does not exist and the centre is a member
    /// of it (there is nothing to search then, and nothing to check).
    shape: Option<Shape>,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    order: Order,
    /// At most this many results (0: all).
    count: usize,
    /// Stop searching at `count` results, whichever they are.
    any: bool,
    /// The argument naming the key the results are stored in.
    store: Option<usize>,
    /// Store distances (in the request's unit) rather than geohashes.
    store_dist: bool,
}

/// A radius and its unit (BYRADIUS, GEORADIUS's own).
fn radius_arg(radius: &[u8], unit_arg: &[u8]) -> Result<(Area, f64), Error> {
    let r = parse_f64(radius).ok_or(Error::Static(GEO_RADIUS_NAN))?;
    if r < 0.0 {
        return Err(Error::Static(GEO_RADIUS_NEGATIVE));
    }
    Ok((Area::Radius(r), unit(unit_arg)?))
}

/// A box's width, height and unit (BYBOX).
fn box_arg(width: &[u8], height: &[u8], unit_arg: &[u8]) -> Result<(Area, f64), Error> {
    let width = parse_f64(width).ok_or(Error::Static(GEO_WIDTH_NAN))?;
    let height = parse_f64(height).ok_or(Error::Static(GEO_HEIGHT_NAN))?;
    if width < 0.0 || height < 0.0 {
        return Err(Error::Static(GEO_BOX_NEGATIVE));
    }
    Ok((Area::Box { width, height }, unit(unit_arg)?))
}

/// The position of `member` of `z`, as a search's centre.
fn member_at(z: &ZSet, member: &[u8]) -> Result<(f64, f64), Error> {
    z.score(member)
        .map(decode)
        .ok_or(Error::Static(GEO_NO_MEMBER))
}

impl Query {
    /// Reads the arguments of a command of `form` (`store_ok`: one that
    /// takes STORE/STOREDIST key), checking them in Redis's order; `z` is
    /// the source set, for FROMMEMBER and GEORADIUSBYMEMBER's member.
    fn parse(argv: &[&[u8]], form: Form, store_ok: bool, z: Option<&ZSet>) -> Result<Query, Error> {
        let mut centre = None;
        let mut area = None;
        match form {
            Form::Radius => {
                centre = Some(lon_lat(argv[2], argv[3])?);
                area = Some(radius_arg(argv[4], argv[5])?);
            }
            Form::Member => {
                if let Some(z) = z {
                    centre = Some(member_at(z, argv[2])?);
                    area = Some(radius_arg(argv[3], argv[4])?);
                }
            }
            Form::Search | Form::SearchStore => {}
        }
        let searching = matches!(form, Form::Search | Form::SearchStore);
        let mut q = Query {
            shape: None,
            with_dist: false,
            with_hash: false,
            with_coord: false,
            order: Order::Unsorted,
            count: 0,
            any: false,
            store: (form == Form::SearchStore).then_some(1),
            store_dist: false,
        };
        let (mut from_member, mut from_lonlat) = (false, false);
        let (mut by_radius, mut by_box) = (false, false);
        let mut i = form.first_option();
        while i < argv.len() {
            // How many arguments follow this one.
            let after = argv.len() - i - 1;
            let word = argv[i].to_ascii_lowercase();
            match word.as_slice() {
                b"withdist" => q.with_dist = true,
                b"withhash" => q.with_hash = true,
                b"withcoord" => q.with_coord = true,
                b"any" => q.any = true,
                b"asc" => q.order = Order::Asc,
                b"desc" => q.order = Order::Desc,
                b"count" if after >= 1 => {
                    let n = parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
                    if n <= 0 {
                        return Err(Error::Static(GEO_COUNT));
                    }
                    q.count = usize::try_from(n).unwrap_or(usize::MAX);
                    i += 1;
                }
                b"store" | b"storedist" if after >= 1 && store_ok && !searching => {
                    q.store = Some(i + 1);
                    q.store_dist = word == b"storedist";
                    i += 1;
                }
                b"storedist" if form == Form::SearchStore => q.store_dist = true,
                b"frommember" if after >= 1 && searching && !from_lonlat => {
                    if let Some(z) = z {
                        centre = Some(member_at(z, argv[i + 1])?);
                    }
                    from_member = true;
                    i += 1;
                }
                b"fromlonlat" if after >= 2 && searching && !from_member => {
                    centre = Some(lon_lat(argv[i + 1], argv[i + 2])?);
                    from_lonlat = true;
                    i += 2;
                }
                b"byradius" if after >= 2 && searching && !by_box => {
                    area = Some(radius_arg(argv[i + 1], argv[i + 2])?);
                    by_radius = true;
                    i += 2;
                }
                b"bybox" if after >= 3 && searching && !by_radius => {
                    area = Some(box_arg(argv[i + 1], argv[i + 2], argv[i + 3])?);
                    by_box = true;
                    i += 3;
                }
                _ => return Err(Error::Syntax),
            }
            i += 1;
        }
        if (q.store.is_some() || q.store_dist) && (q.with_dist || q.with_hash || q.with_coord) {
            let who = if form == Form::SearchStore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            };
            return Err(Error::Other(format!(
                "ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            )));
        }
        let name = || String::from_utf8_lossy(argv[0]);
        if searching && !(from_member || from_lonlat) {
            return Err(Error::Other(format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
                name()
            )));
        }
        if searching && !(by_radius || by_box) {
            return Err(Error::Other(format!(
                "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
                name()
            )));
        }
        if q.any && q.count == 0 {
            return Err(Error::Static(GEO_ANY_WITHOUT_COUNT));
        }
        // The nearest `count`, unless any `count` will do.
        if q.count > 0 && q.order == Order::Unsorted && !q.any {
            q.order = Order::Asc;
        }
        if let (Some(centre), Some((area, unit))) = (centre, area) {
            q.shape = Some(Shape { centre, area, unit });
        }
        Ok(q)
    }
}

/// GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD]
/// [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] [STORE key]
/// [STOREDIST key]
fn georadius(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Radius, true)
}

/// GEORADIUS_RO: GEORADIUS without STORE and STOREDIST.
fn georadius_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Radius, false)
}

/// GEORADIUSBYMEMBER key member radius M|KM|FT|MI [options as GEORADIUS]
fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Member, true)
}

/// GEORADIUSBYMEMBER_RO: GEORADIUSBYMEMBER without STORE and STOREDIST.
fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Member, false)
}

/// GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude
/// BYRADIUS radius unit|BYBOX width height unit [ASC|DESC]
/// [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
fn geosearch(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::Search, false)
}

/// GEOSEARCHSTORE destination source (as GEOSEARCH, without the WITH
/// options) [STOREDIST]
fn geosearchstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    search(ctx, argv, Form::SearchStore, false)
}

/// Every search command: the source's type is checked first, then the
/// arguments; a missing source finds nothing.
fn search(ctx: &mut Ctx<'_>, argv: &[&[u8]], form: Form, store_ok: bool) -> CmdResult {
    let now = ctx.now;
    let resp3 = ctx.resp3;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let z = access::read::<ZSet>(db, argv[form.source()], now)?;
    let q = Query::parse(argv, form, store_ok, z)?;
    // The key written must be one the command was routed by.
    if matches!(form, Form::Radius | Form::Member)
        && q.store != written_key(argv, form.first_option())
    {
        return Err(Error::Syntax);
    }
    let mut found = match (z, &q.shape) {
        (Some(z), Some(shape)) => find(z, shape, if q.any { q.count } else { 0 }),
        _ => Vec::new(),
    };
    match q.order {
        Order::Unsorted => {}
        Order::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Order::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
    }
    if q.count > 0 {
        found.truncate(q.count);
    }
    let unit = q.shape.map_or(1.0, |s| s.unit);
    let Some(dest) = q.store else {
        reply(ctx.out, &q, &found, unit, resp3);
        return Ok(());
    };
    let mut result = ZSet::with_capacity(
        found.len(),
        found.iter().map(|f| f.member.len()).max().unwrap_or(0),
    );
    for f in &found {
        let score = if q.store_dist { f.dist / unit } else { f.score };
        result.insert(f.member, score);
    }
    drop(found);
    let event = if form == Form::SearchStore {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let n = crate::zsets::store_result(db, argv[dest], result, now, event);
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// A search's results as the client gets them: the members, or for each
/// an array of the member and what the WITH options asked for (distance in
/// the request's unit, geohash, position), in that order.
fn reply(out: &mut Vec<u8>, q: &Query, found: &[Found<'_>], unit: f64, resp3: bool) {
    let extra = usize::from(q.with_dist) + usize::from(q.with_hash) + usize::from(q.with_coord);
    encode::array_len(out, found.len());
    for f in found {
        if extra > 0 {
            encode::array_len(out, extra + 1);
        }
        encode::bulk(out, f.member);
        if q.with_dist {
            encode::bulk(out, four_decimals(f.dist / unit).as_bytes());
        }
        if q.with_hash {
            encode::integer(out, f.score as i64);
        }
        if q.with_coord {
            coordinates(out, f.at, resp3);
        }
    }
}

/// The argument GEORADIUS or GEORADIUSBYMEMBER (options from
/// `first_option` on) stores its results in: the one after the last STORE
/// or STOREDIST, walking the options as the command reads them (COUNT
/// takes the argument after it).
fn written_key(argv: &[&[u8]], first_option: usize) -> Option<usize> {
    let mut dest = None;
    let mut i = first_option;
    while i < argv.len() {
        let a = argv[i];
        let valued = i + 1 < argv.len();
        if valued && a.eq_ignore_ascii_case(b"count") {
            i += 1;
        } else if valued
            && (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
        {
            dest = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    dest
}

/// The keys of GEORADIUS or GEORADIUSBYMEMBER (options from
/// `first_option` on): the source, then as Redis's key specs give them
/// (COMMAND GETKEYS) the argument after the first STORE and the one after
/// the first STOREDIST, and last the key actually written
/// ([`written_key`]) where that is neither (`STORE a STORE b` writes b).
fn radius_keys(argv: &[&[u8]], first_option: usize) -> Vec<usize> {
    let mut keys = vec![1];
    for word in [&b"store"[..], b"storedist"] {
        let named = (first_option..argv.len().saturating_sub(1))
            .find(|&i| argv[i].eq_ignore_ascii_case(word));
        if let Some(i) = named {
            keys.push(i + 1);
        }
    }
    if let Some(k) = written_key(argv, first_option) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// GEORADIUS's keys (see [`radius_keys`]).
fn georadius_keys(argv: &[&[u8]]) -> Vec<usize> {
    radius_keys(argv, Form::Radius.first_option())
}

/// GEORADIUSBYMEMBER's keys (see [`radius_keys`]).
fn georadiusbymember_keys(argv: &[&[u8]]) -> Vec<usize> {
    radius_keys(argv, Form::Member.first_option())
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
    #[test]
    fn distances_print_as_redis_prints_them() {
        assert_eq!(four_decimals(0.0), "0.0000");
        assert_eq!(four_decimals(166274.15156960033), "166274.1516");
        assert_eq!(four_decimals(0.00005), "0.0000");
        assert_eq!(four_decimals(0.00015), "0.0001");
        assert_eq!(four_decimals(12.5), "12.5000");
        // 0.125 * 10000 is 1250 exactly; 0.00125 * 10000 is 12.5: to even.
        assert_eq!(four_decimals(0.00125), "0.0012");
    }

    #[test]
    fn steps_follow_the_reach() {
        assert_eq!(step_for(0.0, 0.0), STEP);
        // 1 km doubles 15 times to pass the Mercator half-width.
        assert_eq!(step_for(1000.0, 0.0), 14);
        assert_eq!(step_for(1000.0, 70.0), 13);
        assert_eq!(step_for(1000.0, -81.0), 12);
        assert_eq!(step_for(5e7, 0.0), 1);
        assert_eq!(step_for(f64::INFINITY, 0.0), 1);
        assert_eq!(step_for(1e-300, 0.0), STEP);
    }

    #[test]
    fn neighbours_wrap_around_the_map() {
        let corner = Cell { bits: 0, step: 2 };
        let west = corner.moved(-1, 0);
        assert_eq!(deinterleave(west.bits), (0, 3));
        let south = corner.moved(0, -1);
        assert_eq!(deinterleave(south.bits), (3, 0));
        assert_eq!(corner.moved(1, 1).moved(-1, -1), corner);
        // A cell's scores are those of the 26-bit cells inside it.
        let c = Cell { bits: 1, step: 25 };
        assert_eq!(c.scores(), (4.0, 8.0));
    }

    #[test]
    fn a_box_checks_its_sides_along_the_surface() {
        let shape = Shape {
            centre: (15.0, 37.0),
            area: Area::Box {
                width: 400.0,
                height: 400.0,
            },
            unit: 1000.0,
        };
        let palermo = decode(encode(13.361389, 38.115556) as f64);
        let far = decode(encode(12.692799634687903, 38.798135872540925) as f64);
        assert!(shape.contains(palermo).is_some());
        assert!(shape.contains(far).is_none());
    }

    #[test]
    fn store_keys_as_redis_finds_them() {
        let argv = |s: &'static str| s.split(' ').map(str::as_bytes).collect::<Vec<_>>();
        assert_eq!(georadius_keys(&argv("georadius k 0 0 1 km")), vec![1]);
        assert_eq!(
            georadius_keys(&argv("georadius k 0 0 1 km store a storedist b")),
            vec![1, 7, 9]
        );
        // Redis's key specs name the first STORE; the command writes the last.
        assert_eq!(
            georadius_keys(&argv("georadius k 0 0 1 km store a store b")),
            vec![1, 7, 9]
        );
        assert_eq!(
            georadiusbymember_keys(&argv("georadiusbymember k store 1 km count 5 store a")),
            vec![1, 8]
        );
        assert_eq!(
            written_key(&argv("georadius k 0 0 1 km store a storedist b"), 6),
            Some(9)
        );
        assert_eq!(written_key(&argv("georadius k 0 0 1 km store"), 6), None);
    }
}
