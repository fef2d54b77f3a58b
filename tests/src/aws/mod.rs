//! Helpers for the AWS tests (`tests/tests/aws_*.rs`): the seed's topology built in moto with
//! the real SDK clients, the `bluegreen` binary driven against it, and a fault-injecting
//! loopback proxy.

pub mod cli;
pub mod ec2;
pub mod proxy;
pub mod stack;
pub mod topology;

pub use cli::{Run, run_cli};
pub use proxy::{Fault, FaultProxy};
pub use stack::Stack;
pub use topology::{Topology, TopologyOptions};
