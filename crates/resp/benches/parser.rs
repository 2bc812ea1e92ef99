//! The parser and encoder on what `redis-benchmark -P 16` sends and receives:
//! pipelines of 16 `SET key:NNN value` or `GET key:NNN`, and bulk replies.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use resp::{encode, parse_command, resume_command, Args, Limits, Status};

const PIPELINE: usize = 16;

fn pipeline(command: impl Fn(usize) -> Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..PIPELINE {
        let args = command(i);
        encode::array_len(&mut out, args.len());
        for arg in &args {
            encode::bulk(&mut out, arg);
        }
    }
    out
}

/// Parses every command in `input`, as the server's read loop does.
fn parse_all(input: &[u8], limits: &Limits, args: &mut Args) -> usize {
    let mut rest = input;
    let mut total = 0;
    while let Ok(Status::Complete(n)) = parse_command(rest, limits, args) {
        total += args.get(rest, args.len() - 1).len();
        rest = &rest[n..];
    }
    total
}

fn parse(c: &mut Criterion) {
    let set = pipeline(|i| {
        vec![
            b"SET".to_vec(),
            format!("key:{i:03}").into_bytes(),
            b"value".to_vec(),
        ]
    });
    let get = pipeline(|i| vec![b"GET".to_vec(), format!("key:{i:03}").into_bytes()]);
    let limits = Limits::default();
    let mut args = Args::new();

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    group.bench_function("set_pipeline_16", |b| {
        b.iter(|| parse_all(black_box(&set), &limits, &mut args))
    });
    group.bench_function("get_pipeline_16", |b| {
        b.iter(|| parse_all(black_box(&get), &limits, &mut args))
    });
    let inline: Vec<u8> = (0..PIPELINE)
        .flat_map(|i| format!("SET key:{i:03} value\r\n").into_bytes())
        .collect();
    group.bench_function("set_inline_16", |b| {
        b.iter(|| parse_all(black_box(&inline), &limits, &mut args))
    });
    group.finish();

    // One RPUSH of 100k small elements arriving 64 KB at a time: re-parsed from
    // its start after every read, or resumed where the last read stopped.
    let mut big = Vec::new();
    let count = 100_000;
    encode::array_len(&mut big, count + 2);
    encode::bulk(&mut big, b"RPUSH");
    encode::bulk(&mut big, b"list");
    for i in 0..count {
        encode::bulk(&mut big, format!("{i:08}").as_bytes());
    }
    let streamed = |parse: fn(&[u8], &Limits, &mut Args) -> Result<Status, resp::ProtocolError>,
                    args: &mut Args| {
        let mut len = 0;
        loop {
            len = (len + 64 * 1024).min(big.len());
            match parse(&big[..len], &limits, args) {
                Ok(Status::Incomplete(_)) => {}
                other => break other,
            }
        }
    };
    let mut group = c.benchmark_group("big_command");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("rpush_100k_from_scratch", |b| {
        b.iter(|| streamed(parse_command, &mut args))
    });
    group.bench_function("rpush_100k_resumed", |b| {
        b.iter(|| streamed(resume_command, &mut args))
    });
    group.finish();
}

fn encode_replies(c: &mut Criterion) {
    let small = b"value".to_vec();
    let large = vec![b'x'; 4096];
    let mut out = Vec::with_capacity(128 * 1024);

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    group.bench_function("bulk_5b_x16", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..PIPELINE {
                encode::bulk(&mut out, black_box(&small));
            }
            out.len()
        })
    });
    group.bench_function("bulk_4k_x16", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..PIPELINE {
                encode::bulk(&mut out, black_box(&large));
            }
            out.len()
        })
    });
    group.bench_function("ok_x16", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..PIPELINE {
                encode::ok(&mut out);
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, parse, encode_replies);
criterion_main!(benches);
