//! Keyspace throughput: building a million-key database, point reads that
//! hit and miss, batches of reads with and without prefetching, and a full
//! SCAN.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use storage::{Db, Value};

const N: usize = 1_000_000;

fn keys(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

fn filled(keys: &[Vec<u8>]) -> Db {
    let mut db = Db::new();
    for (i, k) in keys.iter().enumerate() {
        db.insert(k, Value::from_bytes(format!("v{i:015}").as_bytes()), None);
    }
    while db.rehash(10_000) {}
    db
}

fn insert(c: &mut Criterion) {
    let keys = keys("key:", N);
    let value = Value::from_bytes(b"0123456789abcdef");
    let mut g = c.benchmark_group("insert");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(N as u64));
    g.bench_function("1M keys, 16-byte values", |b| {
        b.iter_batched(
            Db::new,
            |mut db| {
                for k in &keys {
                    db.insert(k, value.clone(), None);
                }
                db
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn get(c: &mut Criterion) {
    let hits = keys("key:", N);
    let misses = keys("nokey:", N);
    let mut db = filled(&hits);
    let mut g = c.benchmark_group("get (1M keys)");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(db.get(&hits[i], 0).is_some())
        })
    });
    g.bench_function("miss", |b| {
        b.iter(|| {
            i = (i + 7919) % N;
            black_box(db.get(&misses[i], 0).is_some())
        })
    });
    g.finish();

    // A pipelined batch: 16 lookups, each a cache miss, one after another or
    // with their entries prefetched first (what a connection does with a
    // batch, see `Db::prefetch`).
    let mut g = c.benchmark_group("get a batch of 16 (1M keys)");
    g.throughput(Throughput::Elements(16));
    for prefetch in [false, true] {
        let name = if prefetch { "prefetched" } else { "one by one" };
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut batch: [&[u8]; 16] = [&[]; 16];
                for k in batch.iter_mut() {
                    i = (i + 7919) % N;
                    *k = &hits[i];
                }
                if prefetch {
                    db.prefetch(&batch);
                }
                let found: usize = batch
                    .iter()
                    .map(|k| usize::from(db.get(k, 0).is_some()))
                    .sum();
                black_box(found)
            })
        });
    }
    g.finish();
}

fn scan(c: &mut Criterion) {
    let db = filled(&keys("key:", N));
    let mut g = c.benchmark_group("scan");
    g.sample_size(10).throughput(Throughput::Elements(N as u64));
    g.bench_function("full pass, COUNT 100, 1M keys", |b| {
        b.iter(|| {
            let mut cursor = 0;
            let mut n = 0usize;
            loop {
                cursor = db.scan(cursor, 100, |k, _, _| n += k.len());
                if cursor == 0 {
                    break;
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, insert, get, scan);
criterion_main!(benches);
