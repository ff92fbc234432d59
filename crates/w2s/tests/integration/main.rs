//! The library's integration tests, one module per subject, in one binary so that libtorch is
//! linked once.

mod common;
mod datasets;
mod families;
mod identity;
mod methods;
mod pairs;
mod pipeline;
mod pretrained;
