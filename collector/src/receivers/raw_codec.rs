//! A gRPC client codec for tests that sends raw bytes (to put garbage on the wire) and reads the answer, an `M`,
//! with prost.

use std::marker::PhantomData;

use tonic::Status;

pub(crate) struct SendRaw<M>(PhantomData<M>);

impl<M> Default for SendRaw<M> {
    fn default() -> Self {
        SendRaw(PhantomData)
    }
}

impl<M: prost::Message + Default + Send + 'static> tonic::codec::Codec for SendRaw<M> {
    type Encode = bytes::Bytes;
    type Decode = M;
    type Encoder = SendRaw<M>;
    type Decoder = SendRaw<M>;
    fn encoder(&mut self) -> SendRaw<M> {
        SendRaw::default()
    }
    fn decoder(&mut self) -> SendRaw<M> {
        SendRaw::default()
    }
}

impl<M: Send + 'static> tonic::codec::Encoder for SendRaw<M> {
    type Item = bytes::Bytes;
    type Error = Status;
    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl<M: prost::Message + Default + Send + 'static> tonic::codec::Decoder for SendRaw<M> {
    type Item = M;
    type Error = Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<M>, Status> {
        prost::Message::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}
