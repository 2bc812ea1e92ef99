//! Typed access to a key's value for the aggregate families: the one place
//! that answers WRONGTYPE, creates a missing aggregate, and deletes one that
//! a command emptied (Redis never keeps an empty list, set, hash or zset).

use storage::{Db, Hash, List, Millis, Set, Stream, Value, ZSet};

use crate::Error;

/// A value type stored behind one `Value` variant.
pub trait Typed: Default {
    fn peek(v: &Value) -> Option<&Self>;
    fn peek_mut(v: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty_value(&self) -> bool;
}

macro_rules! typed {
    ($t:ty, $variant:ident, $wrap:expr) => {
        impl Typed for $t {
            #[inline]
            fn peek(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            #[inline]
            fn peek_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn wrap(self) -> Value {
                Value::$variant($wrap(self))
            }
            fn is_empty_value(&self) -> bool {
                self.is_empty()
            }
        }
    };
}

typed!(Hash, Hash, std::convert::identity);
typed!(List, List, Box::new);
typed!(Set, Set, std::convert::identity);
typed!(ZSet, ZSet, std::convert::identity);

/// A stream is kept when it is empty (Redis deletes an emptied list, set,
/// hash or sorted set, never a stream), so it never counts as empty here.
impl Typed for Stream {
    #[inline]
    fn peek(v: &Value) -> Option<&Self> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }
    #[inline]
    fn peek_mut(v: &mut Value) -> Option<&mut Self> {
        match v {
            Value::Stream(x) => Some(x),
            _ => None,
        }
    }
    fn wrap(self) -> Value {
        Value::Stream(Box::new(self))
    }
    fn is_empty_value(&self) -> bool {
        false
    }
}

/// The live value of `key` as a `T`: `Ok(None)` when there is no such key,
/// WRONGTYPE when it holds another type.
/// Counts a keyspace hit or miss, as Redis's read lookups do.
pub fn read<'a, T: Typed>(db: &'a mut Db, key: &[u8], now: Millis) -> Result<Option<&'a T>, Error> {
    match db.get_counted(key, now) {
        None => Ok(None),
        Some(v) => T::peek(v).map(Some).ok_or(Error::WrongType),
    }
}

/// Like [`read`], to change in place. A caller that may empty the value
/// calls [`remove_if_empty`] afterwards.
pub fn write<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'a mut T>, Error> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(v) => T::peek_mut(v).map(Some).ok_or(Error::WrongType),
    }
}

/// The `T` at `key`, created empty (with no TTL) when the key does not
/// exist; WRONGTYPE when it holds another type. The caller must leave it
/// non-empty or call [`remove_if_empty`].
pub fn write_or_create<'a, T: Typed>(
    db: &'a mut Db,
    key: &[u8],
    now: Millis,
) -> Result<&'a mut T, Error> {
    match db.get(key, now) {
        Some(v) if T::peek(v).is_none() => return Err(Error::WrongType),
        Some(_) => {}
        None => db.insert(key, T::default().wrap(), None),
    }
    db.get_mut(key, now)
        .and_then(T::peek_mut)
        .ok_or(Error::WrongType)
}

/// Deletes `key` when it holds an empty `T`; true when it did.
pub fn remove_if_empty<T: Typed>(db: &mut Db, key: &[u8], now: Millis) -> bool {
    let empty = db
        .get(key, now)
        .and_then(T::peek)
        .is_some_and(T::is_empty_value);
    if empty {
        db.remove(key, now);
        storage::notify::emit(storage::notify::class::GENERIC, "del", db.id, key);
    }
    empty
}
