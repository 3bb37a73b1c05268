//! Reading a cached shape with its holes filled, without building the filled document:
//! a serde `Deserializer` over the shape's JSON that, at each hole, reads the value kept
//! for it instead. Typing a filled document this way costs no copy of the shape.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Error, Value};

use super::shape::hole_index;

#[derive(Clone, Copy)]
pub(super) struct Filled<'a> {
    pub node: &'a Value,
    pub values: &'a [Value],
    /// Counts the fields the target type ignored: k8s-openapi's types skip unknown fields
    /// by reading them as `IgnoredAny`, which lands in `deserialize_ignored_any`.
    pub ignored: &'a std::cell::Cell<u32>,
}

impl<'a> Filled<'a> {
    /// The value kept for this node, when it is a hole.
    fn hole(&self) -> Option<&'a Value> {
        match self.node {
            Value::String(s) => hole_index(s).and_then(|i| self.values.get(i)),
            _ => None,
        }
    }

    /// This node, or at a hole the value kept for it, read on through `Filled` (with no
    /// values: a value holds no holes) so that its ignored fields are counted too.
    fn resolved(self) -> Self {
        match self.hole() {
            Some(node) => Filled {
                node,
                values: &[],
                ignored: self.ignored,
            },
            None => self,
        }
    }

    /// The node with every hole filled, as an owned document (for the rare reads that need one).
    fn materialize(&self) -> Value {
        if let Some(v) = self.hole() {
            return v.clone();
        }
        match self.node {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|node| {
                        Filled {
                            node,
                            values: self.values,
                            ignored: self.ignored,
                        }
                        .materialize()
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, node)| {
                        (
                            k.clone(),
                            Filled {
                                node,
                                values: self.values,
                                ignored: self.ignored,
                            }
                            .materialize(),
                        )
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

impl<'a> Deserializer<'a> for Filled<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let this = self.resolved();
        match this.node {
            Value::Array(items) => {
                let len = items.len();
                let mut seq = Seq {
                    items: items.iter(),
                    values: this.values,
                    ignored: this.ignored,
                };
                let out = visitor.visit_seq(&mut seq)?;
                if seq.items.len() == 0 {
                    Ok(out)
                } else {
                    Err(de::Error::invalid_length(
                        len,
                        &"fewer elements in sequence",
                    ))
                }
            }
            Value::Object(map) => visitor.visit_map(Map {
                entries: map.iter(),
                pending: None,
                values: this.values,
                ignored: this.ignored,
            }),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        let this = self.resolved();
        match this.node {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(this),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let this = self.resolved();
        match this.node {
            node @ (Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_)) => {
                node.deserialize_enum(name, variants, visitor)
            }
            _ => this.materialize().deserialize_enum(name, variants, visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.ignored.set(self.ignored.get().saturating_add(1));
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

impl<'a> IntoDeserializer<'a, Error> for Filled<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Value>,
    values: &'a [Value],
    ignored: &'a std::cell::Cell<u32>,
}

impl<'a> SeqAccess<'a> for Seq<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(Filled {
                    node,
                    values: self.values,
                    ignored: self.ignored,
                })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<&'a Value>,
    values: &'a [Value],
    ignored: &'a std::cell::Cell<u32>,
}

impl<'a> MapAccess<'a> for Map<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, node)) => {
                self.pending = Some(node);
                seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self.pending.take().ok_or_else(|| {
            <Error as de::Error>::custom("a map value was asked for before its key")
        })?;
        seed.deserialize(Filled {
            node,
            values: self.values,
            ignored: self.ignored,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
