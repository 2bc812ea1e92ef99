//! Streams: an append-only log of entries, each a set of field/value pairs
//! under an ID `ms-seq` that only ever grows, with consumer groups that
//! hand entries out to consumers and track what they have not
//! acknowledged.
//!
//! # Layout
//!
//! - this file: [`StreamId`], [`Stream`] (entries, the metadata Redis 7.0
//!   keeps: length, last-generated ID, first ID, max deleted ID, entries
//!   added), appending, deleting, trimming and range walks.
//! - `node`: one node of entries, a listpack in Redis's stream layout.
//! - `group`: consumer groups, consumers and pending entries
//!   ([`Group`], [`Consumer`], [`Pending`]).
//!
//! # The structure, and why
//!
//! Entries live in *nodes* of up to `stream-node-max-entries` entries and
//! `stream-node-max-bytes` bytes, each node one packed byte buffer in
//! exactly the listpack layout Redis uses for its stream nodes, kept in an
//! ordered map (`BTreeMap`) keyed by the node's master ID (the ID of its
//! first entry). This is Redis's radix tree of listpacks with the tree
//! swapped for a B-tree:
//!
//! - compact: a typical entry costs its field values plus 4 to 6 bytes
//!   (field names are stored once per node and shared by entries that
//!   repeat them), and the map costs one slot per ~100 entries;
//! - appends touch only the last node; a range walk finds its first node
//!   in O(log nodes) and decodes entries in order; XDEL marks an entry
//!   deleted in place and frees a node once all its entries are gone;
//!   MAXLEN/MINID trimming drops whole nodes from the front, which is what
//!   `~` (approximate) trimming is defined by, so nodes must fill up at
//!   the same entry as Redis's for `XADD ... MAXLEN ~ n` to leave the same
//!   length (they do: the same sizes and the same rule);
//! - an RDB file holds these very nodes (types 15, 19, 21), so saving is a
//!   copy and loading a check.
//!
//! Consumer groups keep their pending entries in ordered maps (B-trees)
//! keyed by ID, as XPENDING and XAUTOCLAIM walk them in order.

mod group;
mod node;

use std::collections::BTreeMap;
use std::fmt;

pub use group::{Consumer, Group, Pending};
use node::{Node, RawEntry};

use crate::StrRef;

/// A stream entry's ID: milliseconds and a sequence number, ordered as a
/// pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID up; None after [`StreamId::MAX`].
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The next ID down; None before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    /// 16 bytes, big-endian ms then seq (an RDB node key, a PEL entry).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// The inverse of [`StreamId::to_be_bytes`]; None unless 16 bytes.
    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        let b: &[u8; 16] = b.try_into().ok()?;
        let (ms, seq) = b.split_at(8);
        Some(StreamId {
            ms: u64::from_be_bytes(ms.try_into().ok()?),
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }

    /// `ms-seq` as bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(24);
        self.write_to(&mut v);
        v
    }

    /// Appends `ms-seq`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b.format(self.ms).as_bytes());
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
    }

    /// Parses `ms-seq`, or `ms` alone (the sequence is then
    /// `missing_seq`), each part as Redis's `string2ull` reads a number.
    /// Returns the ID and whether the sequence was given. `ms-*` is not
    /// an ID here (XADD reads it itself).
    pub fn parse(b: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
        if b.len() > 127 {
            return None;
        }
        match b.iter().position(|&c| c == b'-') {
            None => Some((StreamId::new(parse_u64(b)?, missing_seq), false)),
            Some(i) => Some((
                StreamId::new(parse_u64(&b[..i])?, parse_u64(&b[i + 1..])?),
                true,
            )),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// An unsigned decimal as Redis's `string2ull` reads it: the canonical
/// form of a non-negative integer, or what `strtoull` accepts whole
/// (leading blanks, a `+`, leading zeros) up to `u64::MAX`.
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if let Some(n) = crate::parse_canonical_i64(b) {
        return u64::try_from(n).ok();
    }
    let s = b.iter().position(|c| !c.is_ascii_whitespace())?;
    let digits = match &b[s..] {
        [b'+', rest @ ..] => rest,
        rest => rest,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

/// One entry read from a stream: its ID and its field/value pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub id: StreamId,
    pub fields: Vec<(StrRef<'a>, StrRef<'a>)>,
}

/// What XADD and XTRIM trim a stream to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries with IDs below this one.
    MinId(StreamId),
}

/// How nodes are sized: `stream-node-max-bytes` and
/// `stream-node-max-entries` (0: no limit).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// The largest node a stream makes, whatever the limits say (Redis's).
const NODE_MAX_SIZE: usize = 1 << 30;

/// A stream value.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted: StreamId,
    entries_added: u64,
    groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The last ID the stream generated or was set to (XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's ID (0-0 when empty), as recorded.
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    /// The greatest ID XDEL removed.
    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted
    }

    /// Entries ever added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes a radix tree of the node keys would have, as Redis's
    /// XINFO reports its `radix-tree-nodes`: the root, every key, every
    /// branching point, every child of one, and every node ending a run
    /// of single-child nodes.
    pub fn radix_tree_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        rax_nodes(&keys, 0, false)
    }

    /// XSETID: the last ID, and optionally entries-added and max deleted
    /// ID. The caller has checked them against the stream.
    pub fn set_ids(&mut self, last: StreamId, added: Option<u64>, max_deleted: Option<StreamId>) {
        self.last_id = last;
        if let Some(a) = added {
            self.entries_added = a;
        }
        if let Some(m) = max_deleted {
            self.max_deleted = m;
        }
    }

    /// Restores the metadata of a stream read from a file.
    pub(crate) fn set_meta(
        &mut self,
        length: u64,
        last: StreamId,
        first: StreamId,
        max_deleted: StreamId,
        added: u64,
    ) {
        self.length = length;
        self.last_id = last;
        self.first_id = first;
        self.max_deleted = max_deleted;
        self.entries_added = added;
    }

    /// Heap bytes held (MEMORY USAGE, eviction's accounting).
    pub fn heap_size(&self) -> usize {
        // A B-tree slot per node (key, value, and the tree's share).
        let nodes: usize = self.nodes.values().map(|n| n.heap_size() + 64).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| name.len() + 64 + g.heap_size())
            .sum();
        std::mem::size_of::<Stream>() + nodes + groups
    }

    /// How much freeing this value costs, in Redis's units: nodes, and
    /// each group with its pending entries.
    pub fn free_effort(&self) -> usize {
        self.nodes.len()
            + self
                .groups
                .values()
                .map(|g| 1 + g.pending_count())
                .sum::<usize>()
    }

    /// The ID XADD `*` gives at unix time `now_ms`: now, or the last ID's
    /// next when the clock is behind it. None when the stream's last ID is
    /// the greatest there is.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// The ID XADD `ms-*` gives: `ms-0`, or the next sequence after the
    /// last ID at the same `ms`. None when that is not above the last ID.
    pub fn next_id_at(&self, ms: u64) -> Option<StreamId> {
        if ms > self.last_id.ms {
            Some(StreamId::new(ms, 0))
        } else if ms == self.last_id.ms {
            self.last_id
                .seq
                .checked_add(1)
                .map(|s| StreamId::new(ms, s))
        } else {
            None
        }
    }

    /// Appends an entry with `id` (greater than the last ID; the caller
    /// checked) and its field/value pairs (at least one).
    pub fn add(&mut self, id: StreamId, pairs: &[(&[u8], &[u8])], limits: NodeLimits) {
        let max_bytes = match limits.max_bytes {
            0 => NODE_MAX_SIZE,
            n => n.min(NODE_MAX_SIZE),
        };
        let elements: usize = pairs.iter().map(|(f, v)| f.len() + v.len()).sum();
        let room = self.nodes.iter_mut().next_back().filter(|(_, node)| {
            node.bytes().len() + elements < max_bytes
                && (limits.max_entries == 0 || node.total_entries() < limits.max_entries as i64)
        });
        match room {
            Some((&master, node)) => node.append(master, id, pairs),
            None => {
                self.nodes.insert(id, Node::new(id, pairs));
            }
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// The node holding `id`, if any could: the last with a master ID at
    /// or below it.
    fn node_of(&self, id: StreamId) -> Option<(StreamId, &Node)> {
        self.nodes.range(..=id).next_back().map(|(k, n)| (*k, n))
    }

    /// Whether a live entry has this ID.
    pub fn contains(&self, id: StreamId) -> bool {
        self.find_raw(id).is_some()
    }

    fn find_raw(&self, id: StreamId) -> Option<(StreamId, RawEntry)> {
        let (master, node) = self.node_of(id)?;
        node.entries(master)
            .into_iter()
            .find(|e| e.id == id && !e.deleted())
            .map(|e| (master, e))
    }

    /// XDEL of one ID: marks the entry deleted, frees its node when it was
    /// the node's last live entry, and keeps the max deleted ID and the
    /// first ID. False when there is no such live entry.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((master, e)) = self.find_raw(id) else {
            return false;
        };
        let Some(node) = self.nodes.get_mut(&master) else {
            return false;
        };
        if node.mark_deleted(&e) == 0 {
            self.nodes.remove(&master);
        }
        self.length -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.first_live_id().unwrap_or_default();
        }
        true
    }

    /// The first live entry's ID.
    fn first_live_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, false)
            .next()
            .map(|e| e.id)
    }

    /// Trims as XADD/XTRIM do: whole nodes from the front while they can
    /// go entirely; then, unless `approx`, entries of the next node one by
    /// one (marked deleted). `limit` (0: none) caps the entries removed,
    /// counted a whole node at a time. Returns the entries removed.
    pub fn trim(&mut self, to: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        loop {
            if let Trim::MaxLen(max) = to {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, node)) = self.nodes.iter().next() else {
                break;
            };
            let live = node.live().max(0) as u64;
            if limit != 0 && removed + live > limit {
                break;
            }
            let whole = match to {
                Trim::MaxLen(max) => self.length - live >= max,
                Trim::MinId(min) => node.entries(master).last().is_some_and(|e| e.id < min),
            };
            if whole {
                self.nodes.remove(&master);
                self.length -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            let Some(node) = self.nodes.get_mut(&master) else {
                break;
            };
            let mut gone = 0i64;
            // Offsets stay valid: a flag of 0..=3 keeps its one-byte form.
            for e in node.entries(master) {
                let stop = match to {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if !e.deleted() {
                    node.set_deleted_flag(&e);
                    gone += 1;
                    self.length -= 1;
                }
            }
            if gone > 0 {
                node.adjust_counts(gone);
            }
            removed += gone as u64;
            break;
        }
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_live_id().unwrap_or_default()
        };
        removed
    }

    /// Live entries with IDs in `start..=end`, in ID order (or reversed).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'_> {
        self.view().range(start, end, rev)
    }

    /// The live entry with this ID.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        self.range(id, id, false).next()
    }

    /// The first (or last) live entry.
    pub fn edge(&self, last: bool) -> Option<Entry<'_>> {
        self.range(StreamId::MIN, StreamId::MAX, last).next()
    }

    /// The nodes, in order: master ID and listpack bytes (what an RDB
    /// file holds).
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, &[u8])> {
        self.nodes.iter().map(|(k, n)| (*k, n.bytes()))
    }

    /// Adds a node read from a file after checking it: its entries must
    /// follow every entry of the nodes before it. Returns its live
    /// entries; None (nothing added) when it does not check out.
    pub(crate) fn push_node(&mut self, master: StreamId, bytes: Vec<u8>) -> Option<u64> {
        let last = self
            .nodes
            .iter()
            .next_back()
            .and_then(|(k, n)| n.entries(*k).last().map(|e| e.id));
        if last.is_some_and(|l| master <= l) {
            return None;
        }
        let node = Node::from_bytes(bytes);
        let (live, _) = node.check(master, last)?;
        self.nodes.insert(master, node);
        u64::try_from(live).ok()
    }

    /// The last entry's ID over every node, deleted entries included
    /// (what a file's metadata must not be below).
    pub(crate) fn last_stored_id(&self) -> Option<StreamId> {
        self.nodes
            .iter()
            .next_back()
            .and_then(|(k, n)| n.entries(*k).last().map(|e| e.id))
    }

    // ---- consumer groups ----

    /// The groups, by name.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> {
        self.groups.iter().map(|(k, g)| (&**k, g))
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// The stream's entries and one of its groups, to change the group
    /// while reading entries.
    pub fn split_group(&mut self, name: &[u8]) -> Option<(StreamView<'_>, &mut Group)> {
        let g = self.groups.get_mut(name)?;
        let view = StreamView {
            nodes: &self.nodes,
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted: self.max_deleted,
            entries_added: self.entries_added,
        };
        Some((view, g))
    }

    /// Creates group `name` at `last_id`; false when it exists.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.into(), Group::new(last_id, entries_read));
        true
    }

    /// Adds a group read from a file.
    pub(crate) fn insert_group(&mut self, name: &[u8], g: Group) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups.insert(name.into(), g);
        true
    }

    /// Destroys group `name`; false when there is none.
    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// The stream's metadata and entries without its groups.
    pub fn view(&self) -> StreamView<'_> {
        StreamView {
            nodes: &self.nodes,
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id,
            max_deleted: self.max_deleted,
            entries_added: self.entries_added,
        }
    }
}

/// Radix-tree nodes under the trie node at `depth` of the sorted `keys`
/// sharing its prefix (see [`Stream::radix_tree_nodes`]).
fn rax_nodes(keys: &[[u8; 16]], depth: usize, parent_branches: bool) -> usize {
    let is_key = depth == 16;
    let mut groups: Vec<&[[u8; 16]]> = Vec::new();
    if !is_key {
        let mut rest = keys;
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|k| k[depth] == first[depth]).count();
            groups.push(&rest[..n]);
            rest = &rest[n..];
        }
    }
    let me = depth == 0 || parent_branches || is_key || groups.len() != 1;
    let branches = groups.len() >= 2;
    usize::from(me)
        + groups
            .into_iter()
            .map(|g| rax_nodes(g, depth + 1, branches))
            .sum::<usize>()
}

/// Read access to a stream's entries and metadata (borrowed apart from
/// its groups, see [`Stream::split_group`]).
#[derive(Clone, Copy)]
pub struct StreamView<'a> {
    nodes: &'a BTreeMap<StreamId, Node>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
}

/// The entries-read counter a group cannot know (Redis's
/// `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

impl<'a> StreamView<'a> {
    /// See [`Stream::range`].
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Range<'a> {
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = (start <= end).then(|| self.nodes.range(from..=end));
        Range {
            nodes,
            start,
            end,
            rev,
            node: None,
            pending: Vec::new(),
        }
    }

    /// See [`Stream::get`].
    pub fn get(&self, id: StreamId) -> Option<Entry<'a>> {
        self.range(id, id, false).next()
    }

    /// Whether a live entry has this ID.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// Whether a deleted entry may lie in `start..=end` (end: the top):
    /// Redis's test on the max deleted ID, which decides whether a
    /// group's entries-read counter can simply count on.
    pub fn has_tombstones(&self, start: StreamId, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted {
            return false;
        }
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// The logical position of `id` among every entry ever added (how many
    /// entries up to and including it), when it can be known; else
    /// [`ENTRIES_READ_UNKNOWN`].
    pub fn entries_before(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return ENTRIES_READ_UNKNOWN;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            }
            if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// A group's lag (entries added it has not read), when known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN && !self.has_tombstones(g.last_id, None) {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        match self.entries_before(g.last_id) {
            ENTRIES_READ_UNKNOWN => None,
            n => Some(self.entries_added as i64 - n),
        }
    }
}

/// A walk over a stream's live entries in an ID range (see
/// [`Stream::range`]). Each node is decoded once, as the walk reaches it.
pub struct Range<'a> {
    nodes: Option<std::collections::btree_map::Range<'a, StreamId, Node>>,
    start: StreamId,
    end: StreamId,
    rev: bool,
    /// The node being walked, and its master ID.
    node: Option<(StreamId, &'a Node)>,
    /// Its entries still to yield, last to yield first.
    pending: Vec<RawEntry>,
}

impl<'a> Iterator for Range<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        loop {
            if let (Some(e), Some((_, node))) = (self.pending.pop(), self.node) {
                let m = node.master()?;
                let fields = node.fields(&m, &e);
                return Some(Entry { id: e.id, fields });
            }
            let nodes = self.nodes.as_mut()?;
            let (master, node) = if self.rev {
                nodes.next_back()?
            } else {
                nodes.next()?
            };
            let (start, end) = (self.start, self.end);
            let mut es: Vec<RawEntry> = node
                .entries(*master)
                .into_iter()
                .filter(|e| !e.deleted() && e.id >= start && e.id <= end)
                .collect();
            if !self.rev {
                es.reverse();
            }
            self.pending = es;
            self.node = Some((*master, node));
        }
    }
}

#[cfg(test)]
mod tests;
