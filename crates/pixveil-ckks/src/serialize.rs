//! serialize
