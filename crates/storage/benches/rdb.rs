//! DUMP encoding throughput on the values MIGRATE moves: million-element
//! lists (short strings, integers, 100-byte strings that LZF compresses),
//! sets, sorted sets and hashes.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use storage::{rdb, Hash, List, Set, Value, ZSet};

const N: usize = 1_000_000;

fn list(f: impl Fn(usize) -> Vec<u8>) -> Value {
    let mut l = List::new();
    for i in 0..N {
        l.push_back(&f(i));
    }
    Value::List(Box::new(l))
}

fn dump(c: &mut Criterion) {
    let values = [
        (
            "list of 1M short strings",
            list(|i| format!("item:{i}").into_bytes()),
        ),
        ("list of 1M integers", list(|i| i.to_string().into_bytes())),
        (
            "list of 1M 100-byte strings",
            list(|i| format!("{i:0>100}").into_bytes()),
        ),
        ("set of 1M strings", {
            let mut s = Set::new();
            for i in 0..N {
                s.insert(format!("member:{i}").as_bytes());
            }
            Value::Set(s)
        }),
        ("zset of 1M members", {
            let mut z = ZSet::new();
            for i in 0..N {
                z.insert(format!("member:{i}").as_bytes(), i as f64 * 0.5);
            }
            Value::ZSet(z)
        }),
        ("hash of 1M fields", {
            let mut h = Hash::new();
            for i in 0..N {
                h.insert(format!("field:{i}").as_bytes(), format!("{i}").as_bytes());
            }
            Value::Hash(h)
        }),
    ];
    let mut g = c.benchmark_group("dump");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(N as u64));
    for (name, v) in &values {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut out = Vec::new();
                rdb::dump_into(black_box(v), &mut out);
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dump);
criterion_main!(benches);
