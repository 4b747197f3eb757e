//! Skip programs: for every node of a writer schema, how to step over a value of that type
//! without decoding it.

use serde_avro_fast::schema::{RegularType, SchemaMut};

/// How to skip a value of one schema node. Node references are indexes into the same table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SkipOp {
    /// `null`: no bytes.
    Nothing,
    /// `boolean`: one byte, checked to be 0 or 1.
    Bool,
    /// `int`/`long`: a varint.
    Varint,
    /// `float`, `double` and `fixed`: a known number of bytes.
    Fixed(usize),
    /// `bytes`/`string`: length-prefixed (strings are not checked for UTF-8).
    Bytes,
    /// An enum with this many symbols: a checked index.
    Enum(usize),
    /// An array of items.
    Array(u32),
    /// A map of values (keys are strings).
    Map(u32),
    /// A union of these branches.
    Union(Box<[u32]>),
    /// A record of these fields.
    Record(Box<[u32]>),
}

fn key(k: serde_avro_fast::schema::SchemaKey) -> u32 {
    u32::try_from(k.idx()).unwrap_or(u32::MAX)
}

/// One skip op per node of `graph`, in node order.
pub(crate) fn skip_ops(graph: &SchemaMut) -> Box<[SkipOp]> {
    graph
        .nodes()
        .iter()
        .map(|node| match &node.type_ {
            RegularType::Null => SkipOp::Nothing,
            RegularType::Boolean => SkipOp::Bool,
            RegularType::Int | RegularType::Long => SkipOp::Varint,
            RegularType::Float => SkipOp::Fixed(4),
            RegularType::Double => SkipOp::Fixed(8),
            RegularType::Bytes | RegularType::String => SkipOp::Bytes,
            RegularType::Fixed(f) => SkipOp::Fixed(f.size),
            RegularType::Enum(e) => SkipOp::Enum(e.symbols.len()),
            RegularType::Array(a) => SkipOp::Array(key(a.items)),
            RegularType::Map(m) => SkipOp::Map(key(m.values)),
            RegularType::Union(u) => SkipOp::Union(u.variants.iter().map(|k| key(*k)).collect()),
            RegularType::Record(r) => {
                SkipOp::Record(r.fields.iter().map(|f| key(f.type_)).collect())
            }
        })
        .collect()
}
