//! Harnesses shared by the suite's modules and by the benches (which include single files by
//! path); each user takes part of them, so unused helpers are expected here.
#![allow(dead_code)]

pub mod amqp_cut;
pub mod demo_cli;
pub mod rabbitmq;
pub mod rabbitmq_cli;
pub mod receiver;
pub mod sqs;
pub mod sqs_mover;
pub mod sqs_proxy;
pub mod tmux;
