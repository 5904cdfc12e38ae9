//! `sotong-cli`: the command-line tools of sotong beyond `serve`, as a library the `sotong`
//! binary dispatches to (the binary stays thin; everything here can be tested).
//!
//! # Layout
//!
//! * [`bench`]: `sotong bench`, a lean load generator for sotong or any
//!   STOMP-over-WebSocket broker (RabbitMQ Web-STOMP, …), with latency percentiles, server
//!   CPU and memory, a ramp to the highest sustained rate, a JSON report and a plot.
//! * [`uploads`]: `sotong bench-uploads`, concurrent attachment uploads (MB/s and the server's
//!   peak memory) and image processing time.

pub mod bench;
pub mod uploads;
