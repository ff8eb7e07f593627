//! The msgpack payloads (`/v0.3` and `/v0.4`, `/v0.5`) read by a walk over the body's bytes, `rmp` reading
//! the markers: no serde visitor between a byte and the builder, strings borrowed from the body and found in the
//! payload's cache by their bytes (so a repeated string is neither checked as UTF-8 again nor copied).
//!
//! The walk takes and refuses exactly what rmp-serde did with the visitors this replaced (kept in tests as
//! `reference`, and proven equal to it on golden, random and mutated payloads), down to its quirks: an
//! integer of any width that fits the field, a float for a metric only, a `bin` read as a sequence of integers
//! where an array is expected (so an empty one is an empty array), values of unknown fields skipped whatever they
//! hold (strings that are not UTF-8 too), arrays, maps and extensions nested at most 1,023 deep, and bytes
//! after the payload ignored. Refusals are rmp-serde's errors; their wording may differ from its own.

use std::io;

use rmp::Marker;
use rmp_serde::decode::Error;
use serde::de::{Error as _, Unexpected};

use super::{
    Builder, Ctx, DecodeError, Field, MAX_INTERNED, MAX_NAME, Slot, Special, Stop, non_empty,
};
use crate::model::Str;

/// `/v0.3` and `/v0.4`: an array of traces, each an array of span maps.
pub(super) fn v04<'de>(body: &'de [u8], builder: &mut Builder<'_, 'de>) -> Result<(), DecodeError> {
    let spans = traces(&mut Reader::new(body), builder, "a span: a map", v04_span);
    outcome(spans)
}

/// `/v0.5`: `[string table, traces]`, each span an array of twelve fields.
pub(super) fn v05<'de>(body: &'de [u8], builder: &mut Builder<'_, 'de>) -> Result<(), DecodeError> {
    outcome(v05_payload(&mut Reader::new(body), builder))
}

/// Why the walk ended early: the builder stopped (its cause is kept in the builder), or the bytes are not a
/// payload.
enum Fail {
    Stop,
    Format(Error),
}

impl From<Stop> for Fail {
    fn from(_: Stop) -> Fail {
        Fail::Stop
    }
}

impl From<Error> for Fail {
    fn from(err: Error) -> Fail {
        Fail::Format(err)
    }
}

type Walk = Result<(), Fail>;

fn outcome(walked: Walk) -> Result<(), DecodeError> {
    match walked {
        Ok(()) => Ok(()),
        Err(Fail::Format(err)) => Err(DecodeError::Msgpack(err)),
        // `Builder::finish` reports the builder's own cause instead.
        Err(Fail::Stop) => Err(DecodeError::Msgpack(Error::custom("decoding stopped"))),
    }
}

/// rmp-serde's depth: entering the 1,024th array, map or extension nested in one another is refused.
const DEPTH: u16 = 1024;

/// An integer as msgpack holds it.
enum Int {
    Unsigned(u64),
    Signed(i64),
}

/// What stands where an array is expected: its length, or nothing for an empty `bin` (rmp-serde reads a
/// `bin` as a sequence of integers, and no element of these arrays can be an integer).
struct Array {
    len: u32,
    nested: bool,
}

/// A string read: already in the payload's cache (so already checked), or new, checked as UTF-8.
enum Found<'de> {
    Cached(Str, Special),
    New(&'de str),
}

impl Found<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Found::Cached(text, _) => text.is_empty(),
            Found::New(text) => text.is_empty(),
        }
    }

    /// What [`Ctx::key`] answers for it (read by [`Reader::key`]).
    fn key(self, ctx: &mut Ctx) -> Result<(Str, Special), Stop> {
        match self {
            Found::Cached(text, special) => Ok((text, special)),
            Found::New(text) => ctx.key(text),
        }
    }

    /// What [`Ctx::text`] answers for it (read by [`Reader::text`]: cached only when short enough to intern).
    fn text(self, ctx: &mut Ctx) -> Result<Str, Stop> {
        match self {
            Found::Cached(text, _) => Ok(text),
            Found::New(text) => ctx.text(text),
        }
    }

    /// What [`Ctx::name`] answers for it (read by [`Reader::name`]: cached only when too short to cut).
    fn name(self, ctx: &mut Ctx) -> Result<Str, Stop> {
        match self {
            Found::Cached(text, _) => Ok(text),
            Found::New(text) => ctx.name(text),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(Error::Utf8Error)
}

/// The kind of value a marker starts, as serde's errors name it.
fn unexpected(marker: Marker, expected: &str) -> Error {
    let kind = match marker {
        Marker::Null => Unexpected::Unit,
        Marker::True => Unexpected::Bool(true),
        Marker::False => Unexpected::Bool(false),
        Marker::FixPos(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::FixNeg(_)
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64 => Unexpected::Other("integer"),
        Marker::F32 | Marker::F64 => Unexpected::Other("floating point"),
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
            Unexpected::Other("string")
        }
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => Unexpected::Other("byte array"),
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => Unexpected::Seq,
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => Unexpected::Map,
        Marker::Reserved => return Error::TypeMismatch(Marker::Reserved),
        _ => Unexpected::NewtypeStruct,
    };
    Error::invalid_type(kind, &expected)
}

/// The walk over the body.
struct Reader<'de> {
    rest: &'de [u8],
    depth: u16,
}

impl<'de> Reader<'de> {
    fn new(body: &'de [u8]) -> Reader<'de> {
        Reader {
            rest: body,
            depth: DEPTH,
        }
    }

    fn marker(&mut self) -> Result<Marker, Error> {
        Ok(rmp::decode::read_marker(&mut self.rest)?)
    }

    fn take(&mut self, len: usize) -> Result<&'de [u8], Error> {
        if len > self.rest.len() {
            return Err(Error::InvalidDataRead(io::ErrorKind::UnexpectedEof.into()));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<u32, Error> {
        Ok(self.bytes::<1>()?[0].into())
    }

    fn len16(&mut self) -> Result<u32, Error> {
        Ok(u16::from_be_bytes(self.bytes()?).into())
    }

    fn len32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.bytes()?))
    }

    /// One level deeper: an array, a map or an extension.
    fn enter(&mut self) -> Result<(), Error> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err(Error::DepthLimitExceeded);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth += 1;
    }

    /// The length of an array (entered), or none for a `bin`'s bytes, which the caller reads.
    fn array_or_bin(&mut self, expected: &str) -> Result<Result<u32, &'de [u8]>, Error> {
        let len = match self.marker()? {
            Marker::FixArray(len) => len.into(),
            Marker::Array16 => self.len16()?,
            Marker::Array32 => self.len32()?,
            Marker::Bin8 => return self.len8().and_then(|len| self.take(len as usize)).map(Err),
            Marker::Bin16 => {
                return self
                    .len16()
                    .and_then(|len| self.take(len as usize))
                    .map(Err);
            }
            Marker::Bin32 => {
                return self
                    .len32()
                    .and_then(|len| self.take(len as usize))
                    .map(Err);
            }
            other => return Err(unexpected(other, expected)),
        };
        self.enter()?;
        Ok(Ok(len))
    }

    /// An array whose elements are arrays, maps or strings (see [`Array`]).
    fn array(&mut self, expected: &str, element: &str) -> Result<Array, Error> {
        match self.array_or_bin(expected)? {
            Ok(len) => Ok(Array { len, nested: true }),
            Err([]) => Ok(Array {
                len: 0,
                nested: false,
            }),
            Err(_) => Err(Error::invalid_type(Unexpected::Other("integer"), &element)),
        }
    }

    fn end(&mut self, array: Array) {
        if array.nested {
            self.leave();
        }
    }

    /// An array that must be one: its length (entered).
    fn array_only(&mut self, expected: &str) -> Result<u32, Error> {
        match self.array_or_bin(expected)? {
            Ok(len) => Ok(len),
            Err(_) => Err(Error::invalid_type(
                Unexpected::Other("byte array"),
                &expected,
            )),
        }
    }

    /// A map's length (entered).
    fn map(&mut self, expected: &str) -> Result<u32, Error> {
        let len = match self.marker()? {
            Marker::FixMap(len) => len.into(),
            Marker::Map16 => self.len16()?,
            Marker::Map32 => self.len32()?,
            other => return Err(unexpected(other, expected)),
        };
        self.enter()?;
        Ok(len)
    }

    /// A string's bytes, not yet checked as UTF-8.
    fn str(&mut self) -> Result<&'de [u8], Error> {
        let len = match self.marker()? {
            Marker::FixStr(len) => len.into(),
            Marker::Str8 => self.len8()?,
            Marker::Str16 => self.len16()?,
            Marker::Str32 => self.len32()?,
            other => return Err(unexpected(other, "a string")),
        };
        self.take(len as usize)
    }

    /// A string, looked up in the payload's cache when at most `cached` bytes long.
    fn found(&mut self, ctx: &Ctx, cached: usize) -> Result<Found<'de>, Error> {
        let bytes = self.str()?;
        if bytes.len() <= cached
            && let Some((text, special)) = ctx.cached(bytes)
        {
            return Ok(Found::Cached(text, special));
        }
        utf8(bytes).map(Found::New)
    }

    /// A string to intern whatever its length (a meta key).
    fn key(&mut self, ctx: &Ctx) -> Result<Found<'de>, Error> {
        self.found(ctx, usize::MAX)
    }

    /// A string interned only when short (a value).
    fn text(&mut self, ctx: &Ctx) -> Result<Found<'de>, Error> {
        self.found(ctx, MAX_INTERNED)
    }

    /// A string cut to a name's length, then interned.
    fn name(&mut self, ctx: &Ctx) -> Result<Found<'de>, Error> {
        self.found(ctx, MAX_NAME)
    }

    fn int(&mut self, expected: &str) -> Result<Int, Error> {
        let marker = self.marker()?;
        self.int_after(marker, expected)
    }

    /// The integer `marker` starts.
    fn int_after(&mut self, marker: Marker, expected: &str) -> Result<Int, Error> {
        Ok(match marker {
            Marker::FixPos(v) => Int::Unsigned(v.into()),
            Marker::U8 => Int::Unsigned(u8::from_be_bytes(self.bytes()?).into()),
            Marker::U16 => Int::Unsigned(u16::from_be_bytes(self.bytes()?).into()),
            Marker::U32 => Int::Unsigned(u32::from_be_bytes(self.bytes()?).into()),
            Marker::U64 => Int::Unsigned(u64::from_be_bytes(self.bytes()?)),
            Marker::FixNeg(v) => Int::Signed(v.into()),
            Marker::I8 => Int::Signed(i8::from_be_bytes(self.bytes()?).into()),
            Marker::I16 => Int::Signed(i16::from_be_bytes(self.bytes()?).into()),
            Marker::I32 => Int::Signed(i32::from_be_bytes(self.bytes()?).into()),
            Marker::I64 => Int::Signed(i64::from_be_bytes(self.bytes()?)),
            other => return Err(unexpected(other, expected)),
        })
    }

    /// An integer that fits `T`, as serde's visitor for `T` takes it from any width.
    fn fitting<T: TryFrom<u64> + TryFrom<i64>>(&mut self, expected: &str) -> Result<T, Error> {
        match self.int(expected)? {
            Int::Unsigned(v) => {
                T::try_from(v).map_err(|_| Error::invalid_value(Unexpected::Unsigned(v), &expected))
            }
            Int::Signed(v) => {
                T::try_from(v).map_err(|_| Error::invalid_value(Unexpected::Signed(v), &expected))
            }
        }
    }

    fn u64(&mut self) -> Result<u64, Error> {
        self.fitting("u64")
    }

    fn i64(&mut self) -> Result<i64, Error> {
        self.fitting("i64")
    }

    fn i32(&mut self) -> Result<i32, Error> {
        self.fitting("i32")
    }

    fn u32(&mut self) -> Result<u32, Error> {
        self.fitting("u32")
    }

    /// A number as serde's `f64` takes it: any integer, or a float (an `f32`'s sign kept, NaN's too).
    fn f64(&mut self) -> Result<f64, Error> {
        Ok(match self.marker()? {
            Marker::F32 => {
                let v = f32::from_be_bytes(self.bytes()?);
                let sign = if v.is_sign_positive() { 1.0 } else { -1.0 };
                f64::from(v).copysign(sign)
            }
            Marker::F64 => f64::from_be_bytes(self.bytes()?),
            marker => match self.int_after(marker, "f64")? {
                Int::Unsigned(v) => v as f64,
                Int::Signed(v) => v as f64,
            },
        })
    }

    /// Skips a value of any kind, as serde's `IgnoredAny` reads it.
    fn skip(&mut self) -> Result<(), Error> {
        let len = match self.marker()? {
            Marker::Null | Marker::True | Marker::False | Marker::FixPos(_) | Marker::FixNeg(_) => {
                0
            }
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::FixStr(len) => len.into(),
            Marker::Str8 | Marker::Bin8 => self.len8()?,
            Marker::Str16 | Marker::Bin16 => self.len16()?,
            Marker::Str32 | Marker::Bin32 => self.len32()?,
            Marker::FixArray(len) => return self.skip_many(len.into()),
            Marker::Array16 => return self.len16().and_then(|len| self.skip_many(len.into())),
            Marker::Array32 => return self.len32().and_then(|len| self.skip_many(len.into())),
            Marker::FixMap(len) => return self.skip_many(2 * u64::from(len)),
            Marker::Map16 => {
                return self
                    .len16()
                    .and_then(|len| self.skip_many(2 * u64::from(len)));
            }
            Marker::Map32 => {
                return self
                    .len32()
                    .and_then(|len| self.skip_many(2 * u64::from(len)));
            }
            Marker::FixExt1 => return self.skip_ext(1),
            Marker::FixExt2 => return self.skip_ext(2),
            Marker::FixExt4 => return self.skip_ext(4),
            Marker::FixExt8 => return self.skip_ext(8),
            Marker::FixExt16 => return self.skip_ext(16),
            Marker::Ext8 => return self.len8().and_then(|len| self.skip_ext(len)),
            Marker::Ext16 => return self.len16().and_then(|len| self.skip_ext(len)),
            Marker::Ext32 => return self.len32().and_then(|len| self.skip_ext(len)),
            Marker::Reserved => return Err(Error::TypeMismatch(Marker::Reserved)),
        };
        self.take(len as usize).map(drop)
    }

    /// The values of an array (`len` of them) or a map (twice its length), one level deeper.
    fn skip_many(&mut self, values: u64) -> Result<(), Error> {
        self.enter()?;
        for _ in 0..values {
            self.skip()?;
        }
        self.leave();
        Ok(())
    }

    /// An extension: its type byte and `len` bytes, one level deeper.
    fn skip_ext(&mut self, len: u32) -> Result<(), Error> {
        self.enter()?;
        self.take(1 + len as usize)?;
        self.leave();
        Ok(())
    }
}

/// The traces, an array of arrays of spans (`span`, named `expected`, reads one).
fn traces<'de, 'i>(
    rd: &mut Reader<'de>,
    b: &mut Builder<'i, 'de>,
    expected: &str,
    span: fn(&mut Reader<'de>, &mut Builder<'i, 'de>) -> Walk,
) -> Walk {
    let traces = rd.array("an array of traces", "a trace: an array of spans")?;
    for _ in 0..traces.len {
        let chunk = rd.array("a trace: an array of spans", expected)?;
        b.start_chunk();
        for _ in 0..chunk.len {
            span(rd, b)?;
        }
        b.finish_chunk();
        rd.end(chunk);
    }
    rd.end(traces);
    Ok(())
}

fn v04_span(rd: &mut Reader<'_>, b: &mut Builder<'_, '_>) -> Walk {
    let len = rd.map("a span: a map")?;
    b.fields.clear();
    let mut seen = 0u16;
    for _ in 0..len {
        let key = rd.str()?;
        let field = Field::of(key);
        if field == Field::Other {
            // A key is a string, known or not.
            utf8(key)?;
        } else if field.repeated(&mut seen) {
            let key = utf8(key)?;
            return Err(Error::custom(format_args!("duplicate field `{key}`")).into());
        }
        match field {
            Field::Service | Field::Name | Field::Type => {
                let name = non_empty(rd.name(&b.ctx)?.name(&mut b.ctx)?);
                match field {
                    Field::Service => b.fields.service = name,
                    Field::Name => b.fields.name = name,
                    _ => b.fields.kind = name,
                }
            }
            Field::Resource => {
                let text = rd.text(&b.ctx)?;
                if !text.is_empty() {
                    b.fields.resource = Some(text.text(&mut b.ctx)?);
                }
            }
            Field::TraceId => b.fields.trace_id = rd.u64()?,
            Field::SpanId => b.fields.span_id = rd.u64()?,
            Field::ParentId => b.fields.parent_id = rd.u64()?,
            Field::Start => b.fields.start = rd.i64()?,
            Field::Duration => b.fields.duration = rd.i64()?,
            Field::Error => b.fields.error = rd.i32()?,
            Field::Meta => {
                for _ in 0..rd.map("a map of strings")? {
                    let key = rd.key(&b.ctx)?;
                    let value = rd.text(&b.ctx)?;
                    let (key, special) = key.key(&mut b.ctx)?;
                    let value = value.text(&mut b.ctx)?;
                    b.push_meta(key, special, value)?;
                }
                rd.leave();
            }
            Field::Metrics => {
                for _ in 0..rd.map("a map of numbers")? {
                    let key = rd.key(&b.ctx)?;
                    let value = rd.f64()?;
                    let (key, _) = key.key(&mut b.ctx)?;
                    b.push_metric(key, value)?;
                }
                rd.leave();
            }
            Field::Other => rd.skip()?,
        }
    }
    rd.leave();
    b.finish_span()?;
    Ok(())
}

const V05_PAYLOAD: &str = "a v0.5 payload: [strings, traces]";
const V05_SPAN: &str = "a v0.5 span: an array of 12 fields";

fn v05_payload<'de>(rd: &mut Reader<'de>, b: &mut Builder<'_, 'de>) -> Walk {
    let len = rd.array_only(V05_PAYLOAD)?;
    if len < 1 {
        return Err(Error::invalid_length(0, &V05_PAYLOAD).into());
    }
    let table = rd.array("an array of strings", "a string")?;
    for _ in 0..table.len {
        let text = utf8(rd.str()?)?;
        b.ctx.push(&mut b.table, Slot::Raw(text))?;
    }
    rd.end(table);
    if len < 2 {
        return Err(Error::invalid_length(1, &V05_PAYLOAD).into());
    }
    traces(rd, b, V05_SPAN, v05_span)?;
    if len > 2 {
        return Err(Error::LengthMismatch(2).into());
    }
    rd.leave();
    Ok(())
}

fn v05_span<'de>(rd: &mut Reader<'de>, b: &mut Builder<'_, 'de>) -> Walk {
    let len = match rd.array_or_bin(V05_SPAN)? {
        Ok(len) => len,
        Err(bytes) => return v05_span_bytes(bytes, b),
    };
    b.fields.clear();
    let mut left = len;
    let mut field = |at: usize| {
        if left == 0 {
            return Err(Error::invalid_length(at, &V05_SPAN));
        }
        left -= 1;
        Ok(())
    };
    field(0)?;
    let service = rd.u32()?;
    field(1)?;
    let name = rd.u32()?;
    field(2)?;
    let resource = rd.u32()?;
    b.fields.service = non_empty(b.string_name(service)?);
    b.fields.name = non_empty(b.string_name(name)?);
    b.fields.resource = non_empty(b.string(resource)?);
    field(3)?;
    b.fields.trace_id = rd.u64()?;
    field(4)?;
    b.fields.span_id = rd.u64()?;
    field(5)?;
    b.fields.parent_id = rd.u64()?;
    field(6)?;
    b.fields.start = rd.i64()?;
    field(7)?;
    b.fields.duration = rd.i64()?;
    field(8)?;
    b.fields.error = rd.i32()?;
    field(9)?;
    for _ in 0..rd.map("a map of string indexes")? {
        let key = rd.u32()?;
        let value = rd.u32()?;
        let (key, special) = b.string_key(key)?;
        let value = b.string(value)?;
        b.push_meta(key, special, value)?;
    }
    rd.leave();
    field(10)?;
    for _ in 0..rd.map("a map of string indexes to numbers")? {
        let key = rd.u32()?;
        let value = rd.f64()?;
        let key = b.string(key)?;
        b.push_metric(key, value)?;
    }
    rd.leave();
    field(11)?;
    let kind = rd.u32()?;
    b.fields.kind = non_empty(b.string_name(kind)?);
    b.finish_span()?;
    if left > 0 {
        return Err(Error::LengthMismatch(12).into());
    }
    rd.leave();
    Ok(())
}

/// A v0.5 span sent as a `bin`, which rmp-serde read as a sequence of integers: its first three bytes are
/// string indexes and resolved as such (a missing string is that error), but the meta map cannot be an integer.
fn v05_span_bytes(bytes: &[u8], b: &mut Builder<'_, '_>) -> Walk {
    b.fields.clear();
    let &[service, name, resource, ..] = bytes else {
        return Err(Error::invalid_length(bytes.len(), &V05_SPAN).into());
    };
    b.fields.service = non_empty(b.string_name(service.into())?);
    b.fields.name = non_empty(b.string_name(name.into())?);
    b.fields.resource = non_empty(b.string(resource.into())?);
    Err(if bytes.len() < 10 {
        Error::invalid_length(bytes.len(), &V05_SPAN)
    } else {
        Error::invalid_type(
            Unexpected::Unsigned(bytes[9].into()),
            &"a map of string indexes",
        )
    }
    .into())
}
