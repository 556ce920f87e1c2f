//! This server instance's name, shared with the cgroups crate.

pub use bytesbox_cgroups::current_instance_name;
