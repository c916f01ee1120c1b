//! gRPC message <-> engine conversions.
