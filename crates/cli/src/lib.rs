//! `sotong-cli`: the command-line tools of sotong beyond `serve`, as a library the `sotong`
//! binary dispatches to (the binary stays thin; everything here can be tested).
//!
//! # Layout
//!
//! * [`bench`]: `sotong bench`, a lean load generator for sotong or any
//!   STOMP-over-WebSocket broker (RabbitMQ Web-STOMP, …), with latency percentiles, server
//!   CPU and memory, a ramp to the highest sustained rate, a JSON report and a plot.
//! * [`presence`]: `sotong bench-presence`, many users coming online together, each watching
//!   the users it shares rooms with: the presence frames, bytes and server CPU that costs.
//! * [`uploads`]: `sotong bench-uploads`, concurrent attachment uploads (MB/s and the server's
//!   peak memory) and image processing time.

pub mod bench;
pub mod presence;
pub mod uploads;
