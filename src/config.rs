//! Configuration shared by every command. Built by later steps.
