//! Helpers for the AWS tests (the `aws_*` modules of the `e2e` test binary): the seed's topology
//! built in moto with the real SDK clients, the `bluegreen` binary driven against it, and a
//! fault-injecting loopback proxy.

pub mod awslogs;
pub mod cli;
pub mod ec2;
pub mod proxy;
pub mod smoke_task;
pub mod stack;
pub mod topology;

pub use awslogs::AwsLogs;
pub use cli::{Run, run_cli};
pub use proxy::{AwsLike, CallCounts, Fault, FaultProxy};
pub use smoke_task::{SmokeTaskSeen, play_smoke_task};
pub use stack::Stack;
pub use topology::{Topology, TopologyOptions};
