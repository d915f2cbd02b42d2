//! Deserialises the `[base]` table into the type its `kind` names, while
//! keeping toml's spans. serde's internally tagged enums buffer the table into
//! an untyped value first, which loses every span; here the table is read
//! straight from toml's own map access, with the `kind` key skipped, so an
//! unknown or mistyped key is reported at its own line and column.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

/// `T` read from a table that also carries a `kind` key (ignored here: the
/// caller has already read it to choose `T`).
#[derive(Debug)]
pub(super) struct Tagged<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tagged<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TaggedVisitor(PhantomData))
    }
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for TaggedVisitor<T> {
    type Value = Tagged<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(SkipKind(map))).map(Tagged)
    }
}

struct SkipKind<A>(A);

enum KeyOrKind<K> {
    Kind,
    Key(K),
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipKind<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let mut seed = Some(seed);
        loop {
            match self.0.next_key_seed(FilterSeed(&mut seed))? {
                None => return Ok(None),
                Some(KeyOrKind::Key(k)) => return Ok(Some(k)),
                Some(KeyOrKind::Kind) => {
                    self.0.next_value::<de::IgnoredAny>()?;
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// Runs the inner key seed inside toml's own key deserialisation, so toml
/// attaches the key's span to an "unknown field" error.
struct FilterSeed<'a, S>(&'a mut Option<S>);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for FilterSeed<'_, S> {
    type Value = KeyOrKind<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(FilterVisitor(self.0))
    }
}

struct FilterVisitor<'a, S>(&'a mut Option<S>);

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for FilterVisitor<'_, S> {
    type Value = KeyOrKind<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v == "kind" {
            return Ok(KeyOrKind::Kind);
        }
        let seed = self
            .0
            .take()
            .ok_or_else(|| E::custom("key seed used twice"))?;
        let d: de::value::StrDeserializer<'_, E> = v.into_deserializer();
        seed.deserialize(d).map(KeyOrKind::Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize)]
    struct Outer {
        base: Tagged<Inner>,
    }

    #[test]
    fn skips_kind_and_reads_the_rest() {
        let o: Outer = toml::from_str("[base]\nkind = \"x\"\na = 3\n").unwrap();
        assert_eq!(o.base.0.a, 3);
    }

    #[test]
    fn unknown_key_keeps_its_span() {
        let src = "[base]\nkind = \"x\"\na = 3\nbogus = 1\n";
        let e = toml::from_str::<Outer>(src).unwrap_err();
        let span = e.span().unwrap();
        assert_eq!(&src[span], "bogus", "{e}");
        assert!(e.message().contains("bogus"), "{e}");
    }

    #[test]
    fn wrong_type_keeps_its_span() {
        let src = "[base]\nkind = \"x\"\na = \"three\"\n";
        let e = toml::from_str::<Outer>(src).unwrap_err();
        assert_eq!(&src[e.span().unwrap()], "\"three\"", "{e}");
    }
}
