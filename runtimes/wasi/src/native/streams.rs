//! The guest's stdio as wasmtime-wasi streams over an [`IoSlot`].

use crate::IoSlot;
use bytes::Bytes;
use polyrun_engine::Stream;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdinStream, StdoutStream};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// The wasmtime-wasi streams of a slot.
pub(crate) trait Streams {
    fn stdout(&self) -> Out;
    fn stderr(&self) -> Out;
    fn stdin(&self) -> In;
}

impl Streams for IoSlot {
    fn stdout(&self) -> Out {
        Out {
            slot: self.clone(),
            stream: Stream::Stdout,
        }
    }

    fn stderr(&self) -> Out {
        Out {
            slot: self.clone(),
            stream: Stream::Stderr,
        }
    }

    fn stdin(&self) -> In {
        In { slot: self.clone() }
    }
}

/// A guest output stream.
pub(crate) struct Out {
    slot: IoSlot,
    stream: Stream,
}

impl IsTerminal for Out {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Out {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(Out {
            slot: self.slot.clone(),
            stream: self.stream,
        })
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Out {
            slot: self.slot.clone(),
            stream: self.stream,
        })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Out {
    async fn ready(&mut self) {}
}

impl OutputStream for Out {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.slot
            .write(self.stream, &bytes)
            // A trap, so the guest cannot catch it as an I/O error and carry on.
            .map_err(|m| StreamError::trap(&m))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Out {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.slot
                .write(self.stream, buf)
                .map(|()| buf.len())
                .map_err(io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The guest's stdin.
pub(crate) struct In {
    slot: IoSlot,
}

impl IsTerminal for In {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for In {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncRead + Send + Sync> {
        Box::new(In {
            slot: self.slot.clone(),
        })
    }

    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(In {
            slot: self.slot.clone(),
        })
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for In {
    async fn ready(&mut self) {}
}

impl InputStream for In {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let data = self.slot.read(size);
        if data.is_empty() && size > 0 {
            return Err(StreamError::Closed);
        }
        Ok(Bytes::from(data))
    }
}

impl tokio::io::AsyncRead for In {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let data = self.slot.read(buf.remaining());
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}
